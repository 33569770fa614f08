"""The paper's offline metrics against hand-computed numbers (docs/domain.md#offline-metrics)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from flywheel.contracts import ADJUST_KEYS
from flywheel.evaluation.metrics import evaluate, harmonic, score_tool
from flywheel.evaluation.table import print_report


def A(**kw: int) -> dict:
    return {k: kw.get(k, 0) for k in ADJUST_KEYS}


def F(name: str, intensity: int = 40) -> dict:
    return {"name": name, "intensity": intensity}


def row(intent: str, adjust=None, sel=None, flt=None, support: int | None = None) -> dict:
    r = {"intent": intent, "adjust": adjust, "selective_adjust": sel, "filter": flt}
    if support is not None:
        r["support"] = support
    return r


REFS = [
    row("a", A(exposure=3), {"red": {"saturation": 0, "luminance": 0}}, F("faded_HighNoon"), 5),
    row("b", A(contrast=10), {"red": {"saturation": 10, "luminance": 0}}, F("faded_HighNoon"), 3),
    row("c", None, None, F("faded_Dawn"), 1),
    row("d", A(exposure=1), {"green": {"saturation": 20, "luminance": 0}}, None, 5),
    row("e", None, None, None, 2),
]
PREDS = [
    # TP cos 0.6 | TP both all-zero -> 1.0 | TP same name (intensity ignored)
    row("a", A(exposure=3, contrast=4), {"blue": {"saturation": 0, "luminance": 0}}, F("faded_HighNoon", 10)),
    # TP cos 0 (orthogonal) | TP exactly one all-zero -> 0.0 | TP wrong name
    row("b", A(exposure=10), {"red": {"saturation": 0, "luminance": 0}}, F("faded_Dusk")),
    # FP | TN | unknown filter name -> invalid -> null -> FN
    row("c", A(exposure=5), None, F("NoSuchFilter", 50)),
    # FN | invalid JSON text -> null -> FN | TN
    row("d", None, '{"green": {"saturation": 20, "luminance": 0}', None),
    # TN | FP | FP
    row("E  ", None, {"red": {"saturation": 10, "luminance": 10}}, F("faded_Dusk", 30)),
]


def test_all_subset_hand_computed() -> None:
    rep = evaluate(PREDS, REFS)
    al = rep.subsets["All"]
    ad, se, fi = al.tools["adjust"], al.tools["selective_adjust"], al.tools["filter"]
    assert (ad.tp, ad.fp, ad.fn, ad.tn) == (2, 1, 1, 1)
    assert (se.tp, se.fp, se.fn, se.tn) == (2, 1, 1, 1)
    assert (fi.tp, fi.fp, fi.fn, fi.tn) == (2, 1, 1, 1)
    for t in (ad, se, fi):
        assert t.precision == pytest.approx(2 / 3)
        assert t.recall == pytest.approx(2 / 3)
        assert t.f1 == pytest.approx(2 / 3)
    assert ad.quality == pytest.approx(0.3)
    assert ad.final == pytest.approx(12 / 29)
    assert se.quality == pytest.approx(0.5)
    assert se.final == pytest.approx(4 / 7)
    assert fi.quality == pytest.approx(0.5)
    assert fi.final == pytest.approx(4 / 7)
    assert al.overall == pytest.approx((12 / 29 + 4 / 7 + 4 / 7) / 3)
    assert rep.overall == al.overall
    assert al.invalid_rate == pytest.approx(2 / 15)
    assert (fi.invalid, se.invalid, ad.invalid) == (1, 1, 0)
    assert rep.missing == 0 and rep.extra == 0


def test_support_subsets_hand_computed() -> None:
    rep = evaluate(PREDS, REFS)
    r3, r5 = rep.subsets["r_3"], rep.subsets["r_5"]
    assert (r3.n, r5.n) == (3, 2)
    assert r3.tools["adjust"].f1 == pytest.approx(0.8)
    assert r3.tools["adjust"].final == pytest.approx(24 / 55)
    assert r3.tools["selective_adjust"].final == pytest.approx(8 / 13)
    assert r3.tools["filter"].f1 == pytest.approx(1.0)
    assert r3.tools["filter"].final == pytest.approx(2 / 3)
    assert r5.tools["adjust"].final == pytest.approx(12 / 19)
    assert r5.tools["selective_adjust"].final == pytest.approx(0.8)
    assert r5.tools["filter"].final == pytest.approx(1.0)
    assert r5.overall == pytest.approx((12 / 19 + 0.8 + 1.0) / 3)
    assert r5.invalid_rate == pytest.approx(1 / 6)


def test_no_tp_rows_gives_zero_quality_and_final() -> None:
    s = score_tool("adjust", [None, None], [A(exposure=1), A(contrast=2)])
    assert (s.tp, s.fn, s.precision, s.recall, s.f1, s.quality, s.final) == (0, 2, 0.0, 0.0, 0.0, 0.0, 0.0)
    s = score_tool("filter", [F("faded_Dusk")], [None])
    assert (s.fp, s.precision, s.quality, s.final) == (1, 0.0, 0.0, 0.0)


def test_nobody_uses_the_tool_zero_denominators_give_zero() -> None:
    s = score_tool("filter", [None, None], [None, None])
    assert (s.tn, s.precision, s.recall, s.f1, s.final) == (2, 0.0, 0.0, 0.0, 0.0)


def test_zero_vectors() -> None:
    s = score_tool("adjust", [A(), A(exposure=5)], [A(), A()])
    assert s.tp == 2
    assert s.quality == pytest.approx(0.5)  # both zero -> 1.0, one zero -> 0.0


def test_harmonic_is_zero_when_either_side_is_zero() -> None:
    assert harmonic(1.0, 0.0) == 0.0
    assert harmonic(0.0, 0.7) == 0.0
    assert harmonic(0.5, 0.5) == pytest.approx(0.5)


def test_invalid_outputs_count_as_null() -> None:
    refs = [row("x", A(exposure=1), None, F("faded_Dusk"), 1)]
    bad = [row("x", "not json at all", 42, {"name": "faded_Dusk", "intensity": 500})]
    rep = evaluate(bad, refs)
    al = rep.subsets["All"]
    assert al.tools["adjust"].fn == 1 and al.tools["filter"].fn == 1
    assert al.tools["selective_adjust"].tn == 1
    assert al.invalid_rate == pytest.approx(1.0)
    # A valid JSON string is parsed like an object.
    good = [row("x", json.dumps(A(exposure=1)), "null", json.dumps(F("faded_Dusk")))]
    rep = evaluate(good, refs)
    assert rep.subsets["All"].tools["adjust"].final == pytest.approx(1.0)
    assert rep.invalid_rate == 0.0


def test_missing_and_extra_predictions() -> None:
    rep = evaluate([row("zzz", A(exposure=1))], REFS)
    assert rep.missing == 5 and rep.extra == 1
    assert rep.overall == 0.0


def test_references_without_support_skip_r_subsets() -> None:
    refs = [{k: v for k, v in r.items() if k != "support"} for r in REFS]
    rep = evaluate(PREDS, refs)
    assert list(rep.subsets) == ["All"]
    assert rep.notes and "support" in rep.notes[0]


def test_bad_references_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="breaks the filter contract"):
        evaluate([], [row("a", None, None, F("NoSuchFilter"), 1)])
    with pytest.raises(ValueError, match="duplicate intent"):
        evaluate([], [row("a", support=1), row(" A ", support=1)])
    with pytest.raises(ValueError, match="missing tool"):
        evaluate([], [{"intent": "a", "adjust": None}])
    with pytest.raises(ValueError, match="no reference rows"):
        evaluate([], [])


def test_rq1_table_prints_paper_style_cells() -> None:
    console = Console(record=True, width=160)
    print_report(evaluate(PREDS, REFS), model="m1", console=console)
    text = console.export_text()
    assert "(.67, .30, .41)" in text  # adjust, All
    assert "(1.0, .50, .67)" in text  # filter, r_3
    assert "r_5" in text and "Overall" in text


def test_cli_evaluate_json(tmp_path) -> None:
    from flywheel.cli.main import app

    p, r = tmp_path / "p.jsonl", tmp_path / "r.jsonl"
    p.write_text("".join(json.dumps(x) + "\n" for x in PREDS))
    r.write_text("".join(json.dumps(x) + "\n" for x in REFS))
    res = CliRunner().invoke(app, ["evaluate", "--predictions", str(p), "--references", str(r), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["overall"] == pytest.approx((12 / 29 + 4 / 7 + 4 / 7) / 3)
    assert out["subsets"]["r_5"]["tools"]["filter"]["final"] == pytest.approx(1.0)
    res = CliRunner().invoke(app, ["evaluate", "--predictions", str(p), "--references", str(r)])
    assert res.exit_code == 0 and "RQ1" in res.output


def test_report_round_trips_through_a_dict() -> None:
    from flywheel.evaluation.metrics import EvalReport

    rep = evaluate(PREDS, REFS)
    back = EvalReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert back == rep
    console = Console(record=True, width=160)
    print_report({"overall": rep.overall, "report": rep.to_dict()}, console=console)
    assert "(.67, .30, .41)" in console.export_text()
