"""Augmented splits against real Postgres: lineage to the parent, source answers copied, no leakage into test,
baseline carried across rounds, pipeline run recorded."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from flywheel.augment.paraphrase import PREFIX, Paraphraser
from flywheel.augment.pipeline import LINEAGE_FILE, augment_once
from flywheel.contracts import ADJUST_KEYS, TOOLS


def adj(**kw: int) -> dict:
    return {k: kw.get(k, 0) for k in ADJUST_KEYS}


def row(intent: str, adjust=None, filter=None, support: int = 3) -> dict:  # noqa: A002
    return {"intent": intent, "adjust": adjust, "selective_adjust": None, "filter": filter, "support": support}


TRAIN = [
    row("cool morning", adjust=adj(temperature=-30), filter={"name": "faded_HighNoon", "intensity": 40}),
    row("golden hour", adjust=adj(temperature=40, exposure=10)),
    row("moody forest", adjust=adj(contrast=20)),
]
TEST = [row("cool tone", adjust=adj(temperature=-25)), row("warm glow", adjust=adj(temperature=35))]


class _Families:
    """A paraphrase endpoint stand-in with fixed families; 'cool morning' also yields a TEST intent."""

    FAMILIES = {
        "cool morning": ["Cool Tone", "chilly dawn", "cool morning", "icy sunrise"],
        "golden hour": ["warm glow", "sunset gold", "Golden Hour!"],
        "moody forest": ["dark woods"],
        "chilly dawn": ["frosty daybreak", "icy sunrise"],
    }

    def __init__(self) -> None:
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))
        self.asked: list[str] = []

    def _create(self, model: str, messages: list[dict], **_: object):
        req = json.loads(messages[-1]["content"][len(PREFIX):])
        self.asked.append(req["intent"])
        out = json.dumps({"paraphrases": self.FAMILIES.get(req["intent"], [])[: req["n"]]})
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=out))])


@pytest.fixture(scope="module")
def parent(settings):
    from flywheel.datasets.splits import register_split

    return register_split(settings, TRAIN, TEST, parent_split_id=None, groundtruth_run_id=None,
                          params={"method": "fixture"})


def _files(settings, split_id):
    from flywheel.datasets.splits import split_dir

    d = split_dir(settings, split_id)
    read = lambda p: [json.loads(x) for x in (d / p).read_text().splitlines() if x.strip()]  # noqa: E731
    return read("train.jsonl"), read("test.jsonl"), read(LINEAGE_FILE) if (d / LINEAGE_FILE).exists() else []


def test_augmented_split_lineage_and_no_test_leakage(settings, engine, parent) -> None:
    # cool morning: filter name wrong -> mistake; golden hour: adjust orthogonal -> low cosine; moody forest: exact.
    preds = [
        {"intent": "cool morning", "adjust": adj(temperature=-30), "selective_adjust": None,
         "filter": {"name": "vivid_Dusk", "intensity": 40}},
        {"intent": "golden hour", "adjust": adj(contrast=10), "selective_adjust": None, "filter": None},
        {"intent": "moody forest", "adjust": adj(contrast=20), "selective_adjust": None, "filter": None},
    ]
    s = settings.model_copy(update={"augment_paraphrases_requested": 4, "augment_paraphrases_kept": 2})
    fam = _Families()
    new_id, rr = augment_once(s, "model-x", parent, predictions=preds, progress=False,
                              paraphraser=Paraphraser(s, client=fam))
    assert sorted(fam.asked) == ["cool morning", "golden hour"]
    assert rr.mining["n_mistaken_intents"] == 2 and rr.n_added == 3
    assert rr.dedupe["dropped_in_test"] == 2  # "Cool Tone", "warm glow" are test intents
    train, test, lineage = _files(s, new_id)
    assert test == _files(s, parent)[1]
    by = {r["intent"]: r for r in train}
    assert set(by) == {"cool morning", "golden hour", "moody forest", "chilly dawn", "icy sunrise", "sunset gold"}
    assert not set(by) & {r["intent"] for r in TEST}
    for new, src in (("chilly dawn", "cool morning"), ("icy sunrise", "cool morning"), ("sunset gold", "golden hour")):
        assert {t: by[new][t] for t in TOOLS} == {t: by[src][t] for t in TOOLS}
        assert by[new]["support"] == 0
    assert {(r["intent"], r["source"], r["root"], r["iteration"]) for r in lineage} == {
        ("chilly dawn", "cool morning", "cool morning", 1), ("icy sunrise", "cool morning", "cool morning", 1),
        ("sunset gold", "golden hour", "golden hour", 1)}
    with engine.connect() as conn:
        sp = conn.execute(text("SELECT parent_split_id, params, counts FROM splits WHERE split_id = :s"),
                          {"s": new_id}).mappings().one()
    assert sp["parent_split_id"] == parent
    assert sp["params"]["augment"]["root_split_id"] == parent
    assert sp["params"]["augment"]["baseline"]["adjust"] == pytest.approx(2 / 3)  # mean of cos 1, 0, 1
    assert sp["counts"]["train"] == 6 and sp["counts"]["test"] == 2

    # Round 2 on the augmented split: baseline comes from the parent's params; roots follow the lineage.
    preds2 = [{"intent": r["intent"], "adjust": by[r["intent"]]["adjust"], "selective_adjust": None,
               "filter": by[r["intent"]]["filter"]} for r in train]
    preds2[[r["intent"] for r in train].index("chilly dawn")]["filter"] = None  # a miss on an augmented row
    new2, rr2 = augment_once(s, "model-y", new_id, iteration=2, predictions=preds2, progress=False,
                             paraphraser=Paraphraser(s, client=_Families()))
    assert rr2.mining["baseline"] == pytest.approx(sp["params"]["augment"]["baseline"], abs=1e-6)
    train2, _, lineage2 = _files(s, new2)
    assert {r["intent"] for r in train2} - {r["intent"] for r in train} == {"frosty daybreak"}
    last = lineage2[-1]
    assert (last["intent"], last["source"], last["root"], last["iteration"]) == (
        "frosty daybreak", "chilly dawn", "cool morning", 2)
    assert len(lineage2) == 4
    with engine.connect() as conn:
        assert conn.execute(text("SELECT params->'augment'->>'root_split_id' FROM splits WHERE split_id = :s"),
                            {"s": new2}).scalar() == parent


def test_augment_rejects_unknown_split(settings) -> None:
    from flywheel.datasets.splits import SplitError

    with pytest.raises(SplitError, match="no split"):
        augment_once(settings, "m", "sp-doesnotexist", predictions=[], progress=False)


def test_paraphrases_come_from_the_teacher_server_families(settings) -> None:
    """Over real HTTP through the OpenAI client to the simulator's teacher-server (in-process, simulator world)."""
    from flywheel_lab.simulator.local_teacher import local_teacher
    from flywheel_lab.simulator.world import build_world

    world = build_world(3, 40)
    intent = world.bases[5].variants[0]
    with local_teacher(settings, 3, base_intents=40) as s:
        assert s.augment_base_url.startswith("http://127.0.0.1:")
        batch = Paraphraser(s).paraphrase_many([intent, world.bases[7].variants[1]], n=3)
    assert not batch.failures
    got = batch.results[intent]
    assert 1 <= len(got) <= 3 and intent not in got
    assert set(got) <= set(world.family(intent))


def test_subsample_split_keeps_test_and_a_seeded_fraction(settings, engine, parent) -> None:
    from flywheel_lab.experiments.low_data import ExperimentError, subsample_split

    a = subsample_split(settings, parent, 0.5, seed=1)
    b = subsample_split(settings, parent, 0.5, seed=1)
    ta, testa, _ = _files(settings, a)
    tb, _, _ = _files(settings, b)
    assert len(ta) == 2 and ta == tb  # round(0.5 * 3) = 2; same seed, same rows
    assert {r["intent"] for r in ta} <= {r["intent"] for r in TRAIN}
    assert testa == _files(settings, parent)[1]
    with engine.connect() as conn:
        p = conn.execute(text("SELECT parent_split_id, params FROM splits WHERE split_id = :s"), {"s": a}).one()
    assert p.parent_split_id == parent and p.params["fraction"] == 0.5
    with pytest.raises(ExperimentError, match="fraction"):
        subsample_split(settings, parent, 0.0, seed=1)


def test_step_floor_for_small_splits() -> None:
    from flywheel.training.config import NgramConfig
    from flywheel_lab.experiments.low_data import steps_for

    cfg = NgramConfig(epochs=3, batch_size=64)
    assert steps_for(cfg, 2000, 250) == 3 * 94  # ceil(6000 / 64) = 94 steps per epoch
    assert steps_for(cfg, 200, 250) == 250  # 3 * 10 = 30 < floor
    assert steps_for(cfg, 200, None) is None
    assert steps_for(cfg.model_copy(update={"max_steps": 7}), 200, 250) is None  # fixed steps win


def test_cli_joins_the_existing_experiment_group() -> None:
    from typer.testing import CliRunner

    from flywheel.cli.main import app

    out = CliRunner().invoke(app, ["experiment", "--help"]).output
    assert "low-data" in out
    names = [g.name for g in app.registered_groups]
    assert names.count("experiment") == 1
