"""The novel subset and the control baselines of the RQ1 table: which test rows are novel, what each control answers,
that they are scored on the same rows and subsets as the student, and that they travel in the report, the summary and
the printed table without changing the student's numbers or the registry's rows."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from flywheel.contracts import TOOLS, intent_words
from flywheel.evaluation.controls import TfidfIndex, control_predictions, most_common_answer
from flywheel.evaluation.metrics import EvalReport, evaluate, novel_keys
from flywheel.evaluation.offline import evaluate_trained, evaluate_with_controls
from flywheel.evaluation.table import print_report, report_summary
from flywheel.registry.records import evaluation_rows

WARM = {"exposure": 0, "contrast": 0, "brightness": 0, "highlights": 0, "shadows": 0, "saturation": 10,
        "vibrance": 0, "temperature": 30, "tint": 0, "hue": 0, "bloom": 0, "sharpen": 0, "structure": 0,
        "linearOffset": 0}
COOL = {**WARM, "temperature": -30}
SEL = {"blue": {"saturation": 20, "luminance": 0}}
F_WARM = {"name": "warm_Film", "intensity": 60}
F_MONO = {"name": "vivid_Neon", "intensity": 40}


def row(intent: str, adjust=None, sel=None, flt=None, support: int = 1) -> dict:
    return {"intent": intent, "adjust": adjust, "selective_adjust": sel, "filter": flt, "support": support}


TRAIN = [
    row("golden hour", WARM, None, F_WARM),
    row("golden hour glow", WARM, None, F_WARM),
    row("warm sunset", WARM, None, F_WARM),
    row("cold winter morning", COOL, SEL, None),
    row("icy blue", COOL, SEL, F_MONO),
]
TEST = [
    row("warm golden hour", WARM, None, F_WARM, support=5),     # every word seen in training
    row("cold blue winter", COOL, SEL, None, support=3),         # seen words, new combination
    row("golden crépuscule", WARM, None, F_WARM),                # "crépuscule": a word no training intent has
    row("夕焼け", WARM, SEL, F_WARM),                             # a new script: a new word
    row("🌅🔥", WARM, None, F_WARM),                              # no word at all: not novel
]


def test_words_and_the_novel_subset() -> None:
    assert intent_words("  Black & White, please!! ") == ["black", "&", "white", "please"]
    assert intent_words("🌅🔥") == [] and intent_words("!!!") == [] and intent_words("42") == ["42"]
    # Python's word class leaves out combining marks: a Thai or Devanagari word with one is cut there, for the
    # student's features and the novel subset alike.
    assert intent_words("ภาพ ยามเย็น") == ["ภาพ", "ยามเย", "น"]
    keys = [t["intent"] for t in TEST]
    assert novel_keys(keys, train_intents=[r["intent"] for r in TRAIN]) == ["golden crépuscule", "夕焼け"]
    rep = evaluate(TEST, TEST, train_intents=[r["intent"] for r in TRAIN])
    assert list(rep.subsets) == ["All", "r_3", "r_5", "novel"] and rep.subsets["novel"].n == 2
    assert rep.subsets["novel"].overall == pytest.approx(1.0)
    # Without training intents nothing changes; with no novel row the subset is skipped and says so.
    assert list(evaluate(TEST, TEST).subsets) == ["All", "r_3", "r_5"]
    seen = evaluate(TEST[:2], TEST[:2], train_intents=[r["intent"] for r in TRAIN])
    assert "novel" not in seen.subsets and any("novel skipped" in n for n in seen.notes)


def test_most_common_answer_uses_a_tool_only_when_most_rows_do() -> None:
    answer = most_common_answer(train=TRAIN)
    assert answer["adjust"] == WARM  # 5/5 rows use adjust; WARM is the most frequent value (3 of 5)
    assert answer["selective_adjust"] is None  # used by 2 of 5 rows
    assert answer["filter"] == F_WARM  # used by 4 of 5; F_WARM 3 times
    assert most_common_answer(train=[]) == {t: None for t in TOOLS}


def test_each_control_answers_from_the_training_rows() -> None:
    intents = ["golden hour", "icy blue sky", "cold morning", "夕焼け"]
    got = control_predictions(train=TRAIN, intents=intents)
    assert list(got) == ["most_common", "exact_match", "nearest_intent"]
    common = most_common_answer(train=TRAIN)
    assert all({t: p[t] for t in TOOLS} == common for p in got["most_common"])
    exact = got["exact_match"]
    assert exact[0]["filter"] == F_WARM and exact[1]["selective_adjust"] is None  # no exact row: the common answer
    near = got["nearest_intent"]
    assert [p["intent"] for p in near] == intents
    assert near[1]["filter"] == F_MONO  # "icy blue sky" is nearest "icy blue"
    assert near[2]["adjust"] == COOL and near[2]["selective_adjust"] == SEL  # "cold winter morning"
    assert {t: near[3][t] for t in TOOLS} == common  # shares no word or trigram with any training intent
    # Ties go to the earlier training row, so the answer does not depend on anything but the rows.
    assert TfidfIndex(["a b", "a b", "c"]).nearest(["a b", "zz"]) == [0, None]


def test_controls_ride_in_the_report_summary_and_table_without_touching_the_student() -> None:
    preds = [{"intent": r["intent"], **{t: r[t] for t in TOOLS}} for r in TEST]  # a perfect student
    plain = evaluate(preds, TEST)
    rep = evaluate_with_controls(predictions=preds, test=TEST, train=TRAIN)
    assert rep.subsets["All"] == plain.subsets["All"] and rep.overall == pytest.approx(1.0)
    assert list(rep.controls) == ["most_common", "exact_match", "nearest_intent"]
    for c in rep.controls.values():
        assert list(c.subsets) == list(rep.subsets)  # the same subsets, the same rows
        assert [s.n for s in c.subsets.values()] == [s.n for s in rep.subsets.values()]
        assert c.overall < rep.overall
    back = EvalReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back.to_dict() == rep.to_dict() and back.controls["nearest_intent"].overall == \
        rep.controls["nearest_intent"].overall
    assert "controls" not in plain.to_dict()  # reports without controls keep their old shape
    summary = report_summary(rep)
    assert set(summary["controls"]) == set(rep.controls)
    assert summary["controls"]["most_common"]["novel"]["n"] == 2
    rows = evaluation_rows(model_id="m", split_id="s", summary=summary)
    assert {r["subset"] for r in rows} == {"All", "r_3", "r_5", "novel"} and len(rows) == 4 * len(TOOLS)
    buf = io.StringIO()
    print_report({"overall": rep.overall, "report": rep.to_dict()}, model="student",
                 console=Console(file=buf, width=200, force_terminal=False))
    text = buf.getvalue()
    for label in ("control: most common", "control: exact match", "control: nearest intent"):
        assert label in text
    assert text.count("novel") == 4  # the student's and each control's novel row


def test_training_reports_the_novel_subset_and_the_controls(tmp_path) -> None:
    """A real (tiny) n-gram student trained on a split: its lineage's test metrics carry both, and its test
    predictions re-scored with the split's training rows give the same numbers."""
    from flywheel.datasets.files import load_split
    from flywheel.training.config import NgramConfig
    from flywheel.training.train import train

    split_dir = tmp_path / "s-novel"
    split_dir.mkdir()
    for name, rows in (("train", TRAIN), ("test", TEST)):
        (split_dir / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (split_dir / "meta.json").write_text(json.dumps({"split_id": "s-novel"}))
    result = train(NgramConfig(epochs=2, batch_size=4), load_split(split_dir), tmp_path / "m", model_id="m-novel",
                   progress=False, evaluate_test=evaluate_trained)
    metrics = json.loads((tmp_path / "m" / "lineage.json").read_text())["metrics"]
    assert metrics == json.loads(json.dumps(result.metrics))
    assert metrics["novel"]["n"] == 2 and set(metrics["controls"]) == {"most_common", "exact_match", "nearest_intent"}
    preds = [json.loads(line) for line in (tmp_path / "m" / "test_predictions.jsonl").read_text().splitlines()]
    again = report_summary(evaluate_with_controls(predictions=preds, test=TEST, train=TRAIN))
    assert again["novel"]["overall"] == pytest.approx(metrics["novel"]["overall"])
    assert again["controls"] == metrics["controls"]  # the controls are exact functions of the rows
