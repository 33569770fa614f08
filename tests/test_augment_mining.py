"""Mistake mining, de-duplication (leakage prevention) and paraphrase parsing: pure parts, hand-computed cases."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from flywheel.augment.dedupe import Candidate, dedupe_paraphrases
from flywheel.augment.mining import MiningError, baseline_means, mine_mistakes
from flywheel.augment.paraphrase import (
    PREFIX,
    ParaphraseError,
    Paraphraser,
    build_messages,
    parse_paraphrases,
)
from flywheel.contracts import ADJUST_KEYS, COLORS
from flywheel.settings import get_settings


def adj(**kw: int) -> dict:
    return {k: kw.get(k, 0) for k in ADJUST_KEYS}


def sel(**kw: tuple[int, int]) -> dict:
    return {c: {"saturation": kw.get(c, (0, 0))[0], "luminance": kw.get(c, (0, 0))[1]} for c in COLORS}


def flt(name: str, intensity: int = 50) -> dict:
    return {"name": name, "intensity": intensity}


def row(intent: str, adjust=None, selective_adjust=None, filter=None) -> dict:  # noqa: A002
    return {"intent": intent, "adjust": adjust, "selective_adjust": selective_adjust, "filter": filter}


REFS = [
    row("a", adjust=adj(exposure=10), filter=flt("faded_HighNoon", 40)),
    row("b", adjust=adj(exposure=10), filter=flt("faded_HighNoon")),
    row("c", adjust=adj(exposure=10), selective_adjust=sel(red=(10, 0))),
    row("d", selective_adjust=sel(blue=(0, 20))),
    row("e", adjust=adj(contrast=30)),
    row("f"),
]
PREDS = [
    # a: identical adjust (cos 1.0); same filter name, other intensity -> not a filter mistake.
    row("a", adjust=adj(exposure=10), filter=flt("faded_HighNoon", 90)),
    # b: orthogonal adjust (cos 0.0) and a wrong filter name.
    row("b", adjust=adj(contrast=10), filter=flt("vivid_Dusk")),
    # c: cos = 100 / (10 * sqrt(200)) = 0.7071; selective identical direction (cos 1.0).
    row("c", adjust=adj(exposure=10, contrast=10), selective_adjust=sel(red=(20, 0))),
    # d: selective cos = 20*10 / (20 * sqrt(200)) = 0.7071; false alarm on filter.
    row("d", selective_adjust=sel(blue=(10, 10)), filter=flt("vivid_Dusk")),
    # e: adjust used by the reference, predicted null -> miss; false alarm on selective_adjust.
    row("e", selective_adjust=sel(red=(5, 5))),
    # f: nothing on either side -> never a mistake.
    row("f"),
]


def test_baseline_is_mean_cosine_over_rows_where_both_use_the_tool() -> None:
    base = baseline_means(PREDS, REFS)
    assert base["adjust"] == pytest.approx((1.0 + 0.0 + 1 / math.sqrt(2)) / 3)
    assert base["selective_adjust"] == pytest.approx((1.0 + 1 / math.sqrt(2)) / 2)


def test_mining_rules_hand_computed() -> None:
    res = mine_mistakes(PREDS, REFS)
    by = {m.intent: m for m in res.mistakes}
    assert set(by) == {"b", "d", "e"}  # a, c: every tool at/above the mean; f: nothing used
    assert by["b"].reasons == {"adjust": "low_cosine", "filter": "wrong_name"}
    # d: selective 0.7071 < mean 0.8536 -> low cosine; a filter it should not use -> false alarm.
    assert by["d"].reasons == {"selective_adjust": "low_cosine", "filter": "false_alarm"}
    assert by["e"].reasons == {"adjust": "miss", "selective_adjust": "false_alarm"}
    assert by["e"].tools == ("adjust", "selective_adjust")
    assert res.per_tool == {"adjust": 2, "selective_adjust": 2, "filter": 2}
    assert res.n_rows == 6 and res.rate == pytest.approx(3 / 6)


def test_fixed_baseline_from_the_unaugmented_model_moves_the_bar() -> None:
    # c's adjust cosine 0.7071 is above the own mean (0.569) but below a stricter earlier baseline.
    res = mine_mistakes(PREDS, REFS, baseline={"adjust": 0.8, "selective_adjust": 0.5})
    by = {m.intent: m for m in res.mistakes}
    assert by["c"].reasons == {"adjust": "low_cosine"}
    assert "selective_adjust" not in by["d"].reasons  # 0.7071 >= 0.5
    assert res.baseline == {"adjust": 0.8, "selective_adjust": 0.5}


def test_cosine_equal_to_the_mean_is_not_a_mistake_and_invalid_prediction_counts_as_null() -> None:
    refs = [row("x", adjust=adj(exposure=5)), row("y", adjust=adj(exposure=7))]
    preds = [row("x", adjust=adj(exposure=50)), {"intent": "y", "adjust": "not json"}]
    res = mine_mistakes(preds, refs)
    assert res.baseline["adjust"] == pytest.approx(1.0)
    assert [(m.intent, m.reasons) for m in res.mistakes] == [("y", {"adjust": "miss"})]


def test_mining_rejects_bad_input() -> None:
    with pytest.raises(MiningError, match="pair up"):
        mine_mistakes(PREDS[:2], REFS)
    with pytest.raises(MiningError, match="prediction is for"):
        mine_mistakes([row("zzz")], [row("a")])
    with pytest.raises(MiningError, match="baseline lacks"):
        mine_mistakes(PREDS, REFS, baseline={"adjust": 0.5})
    with pytest.raises(MiningError, match="no intent"):
        mine_mistakes([row("a")], [{"adjust": None}])


def test_dedupe_prevents_test_leakage_and_duplicates() -> None:
    train = ["cool morning", "golden hour"]
    test = ["warm sunset", "cool tone"]
    cands = [
        Candidate("cool morning", "Cool Tone!"),  # a test intent after normalization -> must never enter train
        Candidate("cool morning", "  chilly   dawn "),  # new -> kept (normalized)
        Candidate("cool morning", "cool morning"),  # its own source
        Candidate("golden hour", "COOL MORNING."),  # another train intent
        Candidate("golden hour", "Chilly dawn"),  # duplicate of a kept paraphrase
        Candidate("golden hour", "...  "),  # empty after normalization
        Candidate("golden hour", "sunlit evening"),
        Candidate("golden hour", "late sun glow"),  # over the per-source cap of 1
    ]
    res = dedupe_paraphrases(cands, train, test, per_source=1)
    assert res.kept == [("cool morning", "chilly dawn"), ("golden hour", "sunlit evening")]
    assert dict(res.dropped) == {"in_test": 1, "in_train": 2, "duplicate": 1, "empty": 1, "over_cap": 1}
    kept = {k for _, k in res.kept}
    assert not kept & {"warm sunset", "cool tone"}
    assert len(dedupe_paraphrases(cands, train, test).kept) == 3  # no cap


def test_parse_paraphrases_variants() -> None:
    assert parse_paraphrases('{"paraphrases": ["a", " b ", 3, ""]}') == ["a", "b"]
    assert parse_paraphrases('```json\n{"paraphrases": ["x"]}\n```') == ["x"]
    assert parse_paraphrases('Sure! Here you go: {"paraphrases": ["y", "z"]} Enjoy.') == ["y", "z"]
    assert parse_paraphrases('["p", "q"]') == ["p", "q"]
    for bad in ("", "no json here", '{"other": 1}'):
        with pytest.raises(ParaphraseError):
            parse_paraphrases(bad)


def test_request_shape_is_machine_readable_for_the_teacher_server() -> None:
    msgs = build_messages("cool morning", 3)
    assert msgs[0]["role"] == "system" and "JSON" in msgs[0]["content"]
    last = msgs[-1]
    assert last["role"] == "user" and last["content"].startswith(PREFIX)
    assert json.loads(last["content"][len(PREFIX):]) == {"intent": "cool morning", "n": 3}
    with pytest.raises(ValueError):
        build_messages("  ", 3)


class _FakeLLM:
    """Stands in for an OpenAI-compatible endpoint (not a platform service): echoes n variants, fails on 'boom'."""

    def __init__(self) -> None:
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))
        self.models: list[str] = []

    def _create(self, model: str, messages: list[dict], **_: object):
        self.models.append(model)
        req = json.loads(messages[-1]["content"][len(PREFIX):])
        if req["intent"] == "boom":
            content = "I cannot help with that"
        else:
            content = json.dumps({"paraphrases": [f"{req['intent']} v{i}" for i in range(req["n"] + 2)]})
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=content))])


def test_paraphraser_batch_records_failures_and_caps_n() -> None:
    fake = _FakeLLM()
    p = Paraphraser(get_settings(augment_model="para-1", augment_workers=2), client=fake)
    batch = p.paraphrase_many(["cool morning", "boom", "golden hour"], n=2)
    assert batch.results == {"cool morning": ["cool morning v0", "cool morning v1"],
                             "golden hour": ["golden hour v0", "golden hour v1"]}
    assert list(batch.failures) == ["boom"] and "ParaphraseError" in batch.failures["boom"]
    assert set(fake.models) == {"para-1"}
    assert Paraphraser(get_settings(teacher_model="t-9"), client=fake).model == "t-9"
