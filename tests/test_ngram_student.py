"""The n-gram slot student (the default family): every contract value survives its slot encoding, it learns and
serves legal outputs, training is deterministic, a checkpoint reloads to the same predictions, and a warm start
continues the parent with the new split's words added."""

from __future__ import annotations

import json

import pytest
import torch

from flywheel.contracts import ADJUST_KEYS, COLORS, TOOLS, UNIPOLAR_ADJUST_KEYS, load_tool_contracts
from flywheel.evaluation.offline import evaluate_trained
from flywheel.inference.predictor import MODEL_CARD, load_predictor
from flywheel.training.config import NgramConfig, Seq2SeqConfig
from flywheel.training.data import load_split
from flywheel.training.students import ngram_net as ngram
from flywheel.training.students.ngram import NgramStudent
from flywheel.training.train import train
from flywheel.training.warm import WarmStartError, warm_student
from tests.support.splits import make_split_dir

FILTERS = load_tool_contracts().filter_names


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return load_split(make_split_dir(tmp_path_factory.mktemp("splits"), "s-ngram", n_base=40, test_size=40))


@pytest.fixture(scope="module")
def student(split, tmp_path_factory):
    cfg = NgramConfig(epochs=40, seed=3)
    return train(cfg, split, tmp_path_factory.mktemp("models") / "m-ngram", model_id="m-ngram", progress=False,
                 evaluate_test=evaluate_trained)


def _perfect_output(heads: ngram.Heads, target: dict) -> torch.Tensor:
    """The output vector a perfect model would give for an encoded row."""
    out = torch.zeros(1, heads.size)
    s = heads.slices
    out[0, s["use"]] = torch.tensor([10.0 if u else -10.0 for u in target["use"]])
    out[0, s["adjust"]] = torch.tensor(target["adjust"])
    out[0, s["sel"]] = torch.tensor(target["sel"])
    out[0, s["present"]] = torch.tensor([10.0 if p else -10.0 for p in target["present"]])
    if target["filter"] >= 0:
        out[0, s["filter"].start + target["filter"]] = 10.0
    out[0, s["intensity"]] = target["intensity"]
    return out


def _round_trip(heads: ngram.Heads, row: dict) -> dict:
    feat = ngram.Featurizer.fit(["golden hour"], char_ngrams=3, word_bigrams=False)
    return ngram.decode(heads, _perfect_output(heads, ngram.encode_row(row, featurizer=feat, heads=heads)))[0]


def test_every_contract_value_round_trips_through_the_slot_encoding() -> None:
    heads = ngram.Heads(FILTERS)
    contracts = load_tool_contracts()
    for v in range(-100, 101):
        adjust = {k: (max(0, v) if k in UNIPOLAR_ADJUST_KEYS else v) for k in ADJUST_KEYS}
        sel = {c: {"saturation": v, "luminance": -v} for c in COLORS}
        row = {"intent": "x", "adjust": adjust, "selective_adjust": sel,
               "filter": {"name": FILTERS[(v + 100) % len(FILTERS)], "intensity": abs(v)}}
        back = _round_trip(heads, row)
        assert back == {t: row[t] for t in TOOLS}, v
        assert all(contracts.valid(t, back[t]) for t in TOOLS)
    for name in FILTERS:  # every catalogue filter, and a colour subset
        row = {"intent": "x", "adjust": None, "selective_adjust": {"blue": {"saturation": 30, "luminance": -5}},
               "filter": {"name": name, "intensity": 60}}
        assert _round_trip(heads, row) == {t: row[t] for t in TOOLS}
    nothing = {"intent": "x", "adjust": None, "selective_adjust": None, "filter": None}
    assert _round_trip(heads, nothing) == {t: None for t in TOOLS}


def test_out_of_range_outputs_are_clamped_into_the_contract() -> None:
    heads = ngram.Heads(FILTERS)
    out = torch.full((1, heads.size), 7.0)  # every value 700: far beyond +100
    out[0, heads.slices["adjust"]] = -7.0
    row = ngram.decode(heads, out)[0]
    contracts = load_tool_contracts()
    assert all(contracts.valid(t, row[t]) for t in TOOLS)
    assert row["adjust"]["bloom"] == 0 and row["adjust"]["exposure"] == -100


def test_features_survive_word_order_wrappers_and_typos() -> None:
    a = set(ngram.features("Golden hour, please!"))
    assert set(ngram.features("hour golden")) <= a | {"w:please"}
    plain, typo = set(ngram.features("golden hour")), set(ngram.features("goldne hour"))
    assert "w:golden" not in typo and len(typo & plain) >= len(plain) // 2  # the trigrams outside the swap survive
    assert ngram.features("") == []


def test_unknown_catalogue_filter_is_refused_at_training() -> None:
    feat = ngram.Featurizer.fit(["x"], char_ngrams=3, word_bigrams=False)
    with pytest.raises(ValueError, match="not in the model's catalogue"):
        ngram.encode_row({"intent": "x", "adjust": None, "selective_adjust": None,
                          "filter": {"name": "vivid_Film", "intensity": 5}}, featurizer=feat,
                         heads=ngram.Heads(["warm_Film"]))


def test_ngram_student_learns_and_serves_legal_outputs(student, split) -> None:
    card = json.loads((student.path / MODEL_CARD).read_text())
    assert card["backend"] == "ngram" and card["target_encoding"] == "slots"
    assert student.metrics["invalid_rate"] == 0.0
    assert student.metrics["overall"] > 0.5, student.metrics  # an untrained model scores ~0
    assert student.lineage["final_loss"] < student.lineage["initial_loss"] / 2
    p = load_predictor(student.path)
    assert isinstance(p.student, NgramStudent) and p.model_name == "student-ngram-tiny"
    intents = [r["intent"] for r in split.test]
    batched = p.predict(intents)
    assert [p.predict_one(i) for i in intents[:5]] == batched[:5]
    contracts = load_tool_contracts()
    assert all(contracts.valid(t, out[t]) for out in batched for t in TOOLS)
    assert p.predict([]) == []
    # The reloaded checkpoint predicts exactly what the in-memory model was scored with.
    stored = [json.loads(line) for line in (student.path / "test_predictions.jsonl").read_text().splitlines()]
    assert [{t: r[t] for t in TOOLS} for r in stored] == batched
    assert p.counts["outputs"] == 3 * (len(intents) + 5) and p.invalid_rate == 0.0


def test_an_intent_without_known_features_is_answered(student) -> None:
    """An empty bag (no word or trigram seen in training) answers from the biases instead of failing."""
    p = load_predictor(student.path)
    out = p.predict(["", "!!!", "qqqq zzzz"])
    assert out[0] == out[1] == out[2] and set(out[0]) == set(TOOLS)


def test_a_filter_that_left_the_catalogue_is_invalid_and_counted(student) -> None:
    """Outputs are legal by construction, and still checked: a name the catalogue no longer has is invalid -> null,
    counted, and kept as raw text for the predictions file."""
    p = load_predictor(student.path)
    s = p.student
    s.heads.filters = [f"gone_{f}" for f in s.heads.filters]
    with torch.no_grad():
        s.model.out.bias[s.heads.slices["use"].start + TOOLS.index("filter")] = 100.0  # always names a filter
    (pred,) = p.predict_detailed(["golden hour"])
    assert pred.invalid == ["filter"] and pred.outputs["filter"] is None
    assert json.loads(pred.record()["filter"])["name"].startswith("gone_")
    assert p.counts["invalid.filter"] == 1 and p.invalid_rate == pytest.approx(1 / 3)


def test_training_is_deterministic(split, tmp_path) -> None:
    cfg = NgramConfig(epochs=3, seed=5, evaluate_test=False)
    a = train(cfg, split, tmp_path / "a", model_id="m-a", progress=False)
    b = train(cfg, split, tmp_path / "b", model_id="m-b", progress=False)
    pa, pb = load_predictor(a.path), load_predictor(b.path)
    for (name, x), (_, y) in zip(pa.model.state_dict().items(), pb.model.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_warm_start_continues_the_parent_and_learns_new_words(student, split, tmp_path) -> None:
    cfg = NgramConfig(epochs=2, seed=4, evaluate_test=False, init_checkpoint=str(student.path),
                      parent_model_id=student.model_id)
    new_rows = [{**r, "intent": f"zyxqv {r['intent']}"} for r in split.train]
    warm = warm_student(config=cfg, rows=new_rows)
    assert isinstance(warm, NgramStudent)
    parent = NgramStudent.load(model_dir=student.path, card={})
    n_old = len(parent.featurizer.names)
    assert warm.featurizer.names[:n_old] == parent.featurizer.names and "w:zyxqv" in warm.featurizer.index
    grown = warm.model.embed.weight
    assert torch.equal(grown[:n_old], parent.model.embed.weight) and not grown[n_old:].any()
    child = train(cfg, split, tmp_path / "m-child", model_id="m-child", progress=False)
    scratch = train(cfg.model_copy(update={"init_checkpoint": None, "parent_model_id": None}), split,
                    tmp_path / "m-scratch", model_id="m-scratch", progress=False)
    assert child.lineage["initial_loss"] < scratch.lineage["initial_loss"] / 2
    assert child.lineage["init_from"] == "production" and child.lineage["parent_model_id"] == student.model_id
    card = json.loads((child.path / MODEL_CARD).read_text())
    assert card["init_from"] == "production" and card["parent_model_id"] == student.model_id
    with pytest.raises(WarmStartError, match="backend"):
        warm_student(config=Seq2SeqConfig(init_checkpoint=str(student.path)), rows=[])


def test_one_predictor_serves_many_threads(student, split) -> None:
    """The assistant calls one predictor from its request threads: same answers as one at a time, every call counted."""
    from concurrent.futures import ThreadPoolExecutor

    p = load_predictor(student.path)
    intents = [r["intent"] for r in split.test[:16]]
    alone = [p.predict_one(i) for i in intents]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(p.predict_one, intents * 4))
    assert together == alone * 4 and p.counts["outputs"] == 3 * len(intents) * 5
