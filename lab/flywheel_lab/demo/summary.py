"""The demo's closing report: the A/B report per day beside the simulator's hidden truth (only the demo reads it)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from rich.console import Console

from flywheel.settings import Settings
from flywheel_lab.demo.steps import DemoResult


def _ci(lo: float | None, hi: float | None) -> str:
    return "n/a" if lo is None or hi is None else f"[{lo:.3f}, {hi:.3f}]"


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def final_report(s: Settings, console: Console, result: DemoResult, experiment_id: str | None) -> None:
    from flywheel.reports.ab import ab_report
    from flywheel.reports.render import render_markdown, render_plot

    rep = ab_report(s, experiment_id)
    result.report = rep
    console.print(render_markdown(rep), markup=False)
    truth = {date.fromisoformat(d.date): d.true_ratio for d in result.days if d.true_ratio is not None}
    plot = Path(rep.paths["plot"]).with_name(f"{rep.report_id}-vs-truth.png")
    render_plot(rep, plot, reference=truth)
    result.report_path, result.plot_path = rep.paths.get("markdown"), str(plot)
    print_days(console, result)
    console.print(f"  report: {result.report_path}\n  plot:   {result.plot_path}")


def day_rows(result: DemoResult) -> list[dict[str, str]]:
    """One row per A/B day: each arm's completion with its interval, the ratio with its interval, the true ratio,
    whether the interval covers it, and the serving model's offline RQ1 overall."""
    rep = result.report
    daily = {(str(d.day), d.arm): d for d in getattr(rep, "daily", [])}
    ratios = {str(r.day): r for r in getattr(rep, "daily_ratios", [])}
    cover = result.coverage()
    rows = []
    for d in result.days:
        t, st, r = daily.get((d.date, "teacher")), daily.get((d.date, "student")), ratios.get(d.date)
        rows.append({
            "day": str(d.day), "date": d.date, "student model": (d.model_id or "-").rsplit("-", 1)[-1],
            "RQ1 overall": _f(d.rq1_overall),
            "teacher": "n/a" if t is None else f"{_f(t.rate)} {_ci(t.ci_low, t.ci_high)}",
            "student": "n/a" if st is None else f"{_f(st.rate)} {_ci(st.ci_low, st.ci_high)}",
            "ratio": "n/a" if r is None else f"{_f(r.ratio)} {_ci(r.ci_low, r.ci_high)}",
            "true ratio": _f(d.true_ratio),
            "covers": {True: "yes", False: "NO", None: "n/a"}[cover.get(d.day)],
        })
    return rows


def print_days(console: Console, result: DemoResult) -> None:
    from rich.table import Table

    from flywheel.textable import print_table

    rows = day_rows(result)
    if not rows:
        return
    table = Table(title="the flywheel, day by day (A/B report vs the simulator's true ratio)")
    for col in rows[0]:
        table.add_column(col)
    for row in rows:
        table.add_row(*row.values())
    print_table(console, table)
    # The referee's side: the teacher arm's own true rate must stay where the simulator puts it (about .72 for the
    # default seed); a ratio above 1 must come from the student, not from a weaker teacher.
    true_rates = {arm: [d.truth.get(arm, {}).get("true_rate") for d in result.days] for arm in ("teacher", "student")}
    for arm, rates in true_rates.items():
        console.print(f"  {arm} arm's true completion per day: " + ", ".join(_f(x) for x in rates))
