"""The demo's closing table: the student's paired true ratio (all / seen / new) beside the A/B report, the unpaired
ratio for reference, and whether each interval covers its paired truth (no services: a report stand-in)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from rich.console import Console

from flywheel_lab.demo.steps import DayResult, DemoResult
from flywheel_lab.demo.summary import day_rows, print_days, truth_lines


def _sub(true_rate: float, teacher_rate: float, n: int = 100) -> dict[str, float]:
    return {"n": n, "true_rate": true_rate, "teacher_rate": teacher_rate, "paired_ratio": true_rate / teacher_rate}


def _day(k: int, student: dict[str, tuple[float, float]], teacher_true: float) -> DayResult:
    d = DayResult(day=k, date=f"2026-07-0{k + 1}", model_id=f"m-{k}", rq1_overall=.8, requests=1000,
                  new_requests=300)
    d.paired = {"student": {s: _sub(*v) for s, v in student.items()},
                "teacher": {"all": _sub(teacher_true, teacher_true * 1.01)}}
    # The unpaired truth: the teacher arm drew a lucky crowd, so the old ratio reads lower than the paired one.
    d.truth = {"student": {"projects": 100, "true_rate": student["all"][0]},
               "teacher": {"projects": 100, "true_rate": teacher_true}}
    return d


def _ratio(day: str, lo: float, hi: float, segment: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(day=date.fromisoformat(day), ratio=(lo + hi) / 2, ci_low=lo, ci_high=hi, segment=segment)


def test_the_table_judges_the_interval_against_the_paired_truth():
    days = [_day(1, {"all": (.72, .70), "seen": (.74, .70), "new": (.66, .70)}, .75),
            _day(2, {"all": (.73, .70), "seen": (.75, .70)}, .70)]
    report = SimpleNamespace(
        daily=[SimpleNamespace(day=date(2026, 7, 2), arm="student", rate=.7, ci_low=.68, ci_high=.72)],
        daily_ratios=[_ratio("2026-07-02", 1.0, 1.05), _ratio("2026-07-03", .95, 1.0)],
        daily_ratios_by_segment=[_ratio("2026-07-02", 1.0, 1.1, "seen"), _ratio("2026-07-02", .8, .9, "new")])
    result = DemoResult(days=days, report=report)
    assert days[0].true_ratio == days[0].paired_ratio("all") == .72 / .70
    assert days[0].unpaired_ratio == .72 / .75 and days[1].paired_ratio("new") is None
    assert result.coverage() == {1: True, 2: False}  # 1.029 in [1.0, 1.05]; 1.043 outside [.95, 1.0]
    assert result.coverage("seen") == {1: True, 2: None} and result.coverage("new") == {1: False, 2: None}
    assert result.covers_truth is False
    rows = day_rows(result)
    assert rows[0]["true ratio (paired)"] == "1.029" and rows[0]["unpaired"] == "0.960"
    assert rows[0]["seen"] == "1.057" and rows[0]["new"] == "0.943" and rows[1]["new"] == "n/a"
    assert rows[0]["covers all/seen/new"] == "yes/yes/NO" and rows[1]["covers all/seen/new"] == "NO/n/a/n/a"
    assert rows[0]["student"].startswith("0.700 [0.680, 0.720]") and rows[0]["teacher"] == "n/a"
    lines = truth_lines(result)
    assert "0.990, 0.990" in lines[2]  # the teacher arm's paired ratio: the sanity line
    assert lines[1].endswith("0.720/0.740/0.660, 0.730/0.750/n/a") and lines[3].endswith("300/1000, 300/1000")
    out = Console(record=True, width=220)
    print_days(out, result)
    text = out.export_text()
    assert "paired true ratio" in text and "teacher arm's paired ratio" in text


def test_a_day_after_the_ramp_is_reported_within_its_own_phase():
    """Day 2 ran in phase 2 (a new experiment row after the ramp): its numbers come from that phase's report."""
    days = [_day(1, {"all": (.72, .70)}, .75), _day(2, {"all": (.73, .70)}, .70)]
    phase1 = SimpleNamespace(
        daily=[SimpleNamespace(day=date(2026, 7, 2), arm="student", rate=.7, ci_low=.68, ci_high=.72)],
        daily_ratios=[_ratio("2026-07-02", 1.0, 1.05)], daily_ratios_by_segment=[])
    phase2 = SimpleNamespace(
        daily=[SimpleNamespace(day=date(2026, 7, 3), arm="teacher", rate=.69, ci_low=.6, ci_high=.78)],
        daily_ratios=[_ratio("2026-07-03", 1.0, 1.1)], daily_ratios_by_segment=[])
    alone = DemoResult(days=days, report=phase1)
    assert alone.coverage() == {1: True, 2: None} and day_rows(alone)[1]["ratio"] == "n/a"
    both = DemoResult(days=days, report=phase1, later_reports=[phase2])
    assert both.coverage() == {1: True, 2: True}  # 1.043 in [1.0, 1.1]
    rows = day_rows(both)
    assert rows[1]["ratio"] == "1.050 [1.000, 1.100]" and rows[1]["teacher"].startswith("0.690 [0.600, 0.780]")


def test_the_plot_gets_the_later_phases_days_and_keeps_the_first_phases_totals():
    from datetime import datetime

    from flywheel.reports.ab import ABReport, DailyResult
    from flywheel_lab.demo.summary import with_later_days

    def report(day: date) -> ABReport:
        return ABReport(report_id=str(day), experiment_id=str(day), generated_at=datetime(2026, 7, 7), since=None,
                        until=None, control_arm="teacher", arms=[], ratios=[], srm=None,
                        daily=[DailyResult(day, "student", 10, 7, .7, .6, .8)],
                        daily_ratios=[_ratio(day.isoformat(), .9, 1.1)])  # type: ignore[list-item]

    first, second = report(date(2026, 7, 5)), report(date(2026, 7, 6))
    merged = with_later_days(first, [second])
    assert merged.days() == [date(2026, 7, 5), date(2026, 7, 6)] and merged.report_id == first.report_id
    assert [str(r.day) for r in merged.daily_ratios] == ["2026-07-05", "2026-07-06"]
    assert first.days() == [date(2026, 7, 5)] and with_later_days(first, []) is first  # the stored report untouched


def test_the_serving_students_wordings_are_a_column_a_line_and_a_plot(tmp_path):
    days = [_day(1, {"all": (.72, .70)}, .75), _day(2, {"all": (.73, .70)}, .70), _day(3, {"all": (.73, .70)}, .70)]
    days[0].wordings = {"ratio": .52, "seen_ratio": None, "unseen_ratio": .52, "n_seen": 0, "n_unseen": 600}
    days[1].wordings = {"ratio": .61, "seen_ratio": .71, "unseen_ratio": .55, "n_seen": 200, "n_unseen": 400}
    result = DemoResult(days=days, report=SimpleNamespace(daily=[], daily_ratios=[], daily_ratios_by_segment=[]))
    rows = day_rows(result)
    assert [r["held-out/canonical all/met/unmet"] for r in rows] == ["0.520/n/a/0.520", "0.610/0.710/0.550",
                                                                     "n/a/n/a/n/a"]
    assert truth_lines(result)[-1].endswith("0/600, 200/400, 0/0")
    from flywheel_lab.demo.summary import plot_wordings

    path = plot_wordings(days, tmp_path / "w.png")
    assert path is not None and path.stat().st_size > 5_000
    assert plot_wordings([DayResult(day=1, date="x")], tmp_path / "none.png") is None
