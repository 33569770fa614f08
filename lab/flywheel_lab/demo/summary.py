"""The demo's closing report: the A/B report per day beside the simulator's hidden truth (only the demo reads it).

The truth is paired (flywheel_lab.simulator.paired): the student arm's expected completion over the teacher stand-in's
expected completion on the same projects, for all, seen and new-intent projects. The old unpaired ratio (student
arm's rate over the teacher arm's, two different crowds) is printed beside it for reference.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console

from flywheel.settings import Settings
from flywheel_lab.demo.steps import DayResult, DemoResult
from flywheel_lab.experiments.decisions_view import decision_cells

SUBSETS = ("all", "seen", "new")
# The serving student's held-out / canonical RQ1 on every look, on looks whose held-out words training has met, and on
# looks with a word it never saw (flywheel_lab.checks.wordings.WordingFigures).
WORDING_KEYS = ("ratio", "seen_ratio", "unseen_ratio")


def _ci(lo: float | None, hi: float | None) -> str:
    return "n/a" if lo is None or hi is None else f"[{lo:.3f}, {hi:.3f}]"


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _paired_by_date(days: list[DayResult], subset: str) -> dict[date, float]:
    out = {}
    for d in days:
        r = d.paired_ratio(subset)
        if r is not None:
            out[date.fromisoformat(d.date)] = r
    return out


def final_report(s: Settings, console: Console, result: DemoResult, experiment_id: str | None) -> None:
    from flywheel.reports.ab import ab_report
    from flywheel.reports.render import render_markdown, render_plot

    rep = ab_report(s, experiment_id)
    result.report = rep
    result.later_reports = later_phase_reports(s, experiment_id)
    console.print(render_markdown(rep), markup=False)
    plot = Path(rep.paths["plot"]).with_name(f"{rep.report_id}-vs-truth.png")
    render_plot(with_later_days(rep, result.later_reports), plot, reference=_paired_by_date(result.days, "all"),
                segment_reference={seg: _paired_by_date(result.days, seg) for seg in ("seen", "new")})
    result.report_path, result.plot_path = rep.paths.get("markdown"), str(plot)
    print_days(console, result)
    _decisions(s, console, result, experiment_id, plot.with_name(f"{rep.report_id}-decisions.png"))
    wordings = plot_wordings(result.days, plot.with_name(f"{rep.report_id}-wordings.png"))
    if wordings is not None:
        console.print(f"  wordings plot: {wordings}")
    console.print(f"  report: {result.report_path}\n  plot:   {result.plot_path}")


_COVER = {True: "yes", False: "NO", None: "n/a"}


_DAILY = ("daily", "daily_ratios", "daily_models", "daily_by_segment", "daily_ratios_by_segment")


def with_later_days(rep: Any, later: list[Any]) -> Any:
    """The first phase's report with the later phases' days appended (for the per-day plot; the overall numbers
    stay the first phase's)."""
    if not later:
        return rep
    return replace(rep, **{f: [*getattr(rep, f), *(x for r in later for x in getattr(r, f))] for f in _DAILY})


def later_phase_reports(s: Settings, series_id: str | None) -> list[object]:
    """The A/B numbers of the experiment's later phases (each its own experiment, after a ramp), computed without
    storing: a day after the ramp is reported within its own phase, not n/a."""
    from sqlalchemy import text

    from flywheel.db.engine import owned_engine
    from flywheel.reports.ab import ABReportError, compute_ab

    if series_id is None:
        return []
    out: list[object] = []
    with owned_engine(s, None) as eng, eng.connect() as conn:
        ids = conn.execute(text("SELECT experiment_id FROM experiment_phases WHERE series_id = :s AND phase > 1"
                                " ORDER BY phase"), {"s": series_id}).scalars().all()
        for eid in ids:
            try:
                out.append(compute_ab(conn, eid))
            except ABReportError:  # a phase with no answered project yet
                continue
    return out


def day_rows(result: DemoResult) -> list[dict[str, str]]:
    """One row per A/B day: each arm's completion with its interval, the ratio with its interval, the student's
    paired true ratio (all / seen / new), the unpaired one for reference, whether the report's interval covers the
    paired ratio (all; seen and new against the report's segment intervals), and the serving model's RQ1 overall."""
    rep = result.report
    daily = {(str(d.day), d.arm): d for r_ in (rep, *result.later_reports) for d in getattr(r_, "daily", [])}
    ratios = {str(r.day): r for r in result.ratios_of("daily_ratios")}
    cover = {sub: result.coverage(sub) for sub in SUBSETS}
    rows = []
    for d in result.days:
        t, st, r = daily.get((d.date, "teacher")), daily.get((d.date, "student")), ratios.get(d.date)
        rows.append({
            "day": str(d.day), "date": d.date, "student model": (d.model_id or "-").rsplit("-", 1)[-1],
            "RQ1 overall": _f(d.rq1_overall),
            "teacher": "n/a" if t is None else f"{_f(t.rate)} {_ci(t.ci_low, t.ci_high)}",
            "student": "n/a" if st is None else f"{_f(st.rate)} {_ci(st.ci_low, st.ci_high)}",
            "ratio": "n/a" if r is None else f"{_f(r.ratio)} {_ci(r.ci_low, r.ci_high)}",
            "true ratio (paired)": _f(d.true_ratio),
            "seen": _f(d.paired_ratio("seen")),
            "new": _f(d.paired_ratio("new")),
            "unpaired": _f(d.unpaired_ratio),
            "covers all/seen/new": "/".join(_COVER[cover[sub].get(d.day)] for sub in SUBSETS),
            "held-out/canonical all/met/unmet": "/".join(_f(d.wordings.get(k)) for k in WORDING_KEYS),
        } | decision_cells(d.decision))
    return rows


def truth_lines(result: DemoResult) -> list[str]:
    """The referee's own side, per day: every arm's true completion (all / seen / new) and the teacher arm's paired
    ratio, which must stay near 1.000 (the counterfactual is exact; only the users' draws remain)."""
    lines = []
    for arm in ("teacher", "student"):
        per_day = []
        for d in result.days:
            subs = d.paired.get(arm, {})
            per_day.append("/".join(_f(subs[s]["true_rate"]) if s in subs else "n/a" for s in SUBSETS))
        lines.append(f"  {arm} arm's true completion per day (all/seen/new): " + ", ".join(per_day))
    lines.append("  teacher arm's paired ratio per day (sanity, ~1.000): "
                 + ", ".join(_f(d.paired_ratio("all", "teacher")) for d in result.days))
    lines.append("  requests of never-seen intents per day: "
                 + ", ".join(f"{d.new_requests}/{d.requests}" for d in result.days))
    lines.append("  serving student on the held-out wordings, looks whose words training has met / never saw: "
                 + ", ".join(f"{d.wordings.get('n_seen', 0)}/{d.wordings.get('n_unseen', 0)}" for d in result.days))
    return lines


def print_days(console: Console, result: DemoResult) -> None:
    from rich.table import Table

    from flywheel.textable import print_table

    rows = day_rows(result)
    if not rows:
        return
    table = Table(title="the flywheel, day by day (A/B report vs the simulator's paired true ratio)")
    for col in rows[0]:
        table.add_column(col)
    for row in rows:
        table.add_row(*row.values())
    print_table(console, table)
    for line in truth_lines(result):
        console.print(line, markup=False)


def _decisions(s: Settings, console: Console, result: DemoResult, series_id: str | None, plot: Path) -> None:
    """What the experiment decided and what the student saved (flywheel.experiments), with the phases plotted."""
    from flywheel_lab.experiments.decisions_view import plot_decisions, savings_lines

    if series_id is None:
        return
    for line in savings_lines(s, series_id):
        console.print(line, markup=False)
    path = plot_decisions(result.days, plot, margin=s.experiment_margin)
    if path is not None:
        console.print(f"  decisions plot: {path}")


def plot_wordings(days: list[DayResult], path: Path, *, goal: float = 0.8) -> Path | None:
    """The serving student's held-out / canonical RQ1 per day: on every look, on looks whose held-out words the
    nightly training has met in earlier days' new-intent traffic, and on looks with a word it never saw."""
    from flywheel_lab.plots import figure, save

    pts = [d for d in days if d.wordings]
    if not pts:
        return None
    fig, ax = figure(figsize=(7, 3.6))
    for key, label, style in (("ratio", "every look", "o-"), ("seen_ratio", "words met in training", "s--"),
                              ("unseen_ratio", "a word never seen", "^:")):
        xs = [d.day for d in pts if d.wordings.get(key) is not None]
        ax.plot(xs, [d.wordings[key] for d in pts if d.wordings.get(key) is not None], style, label=label)
    ax.axhline(goal, ls="--", color="tab:red", lw=1, label=f"goal {goal:g}")
    ax.set_xticks([d.day for d in pts])
    ax.set_xlabel("A/B day (the student that served it)")
    ax.set_ylabel("RQ1 held-out / canonical")
    ax.set_ylim(0, 1.05)
    ax.set_title("the serving student on looks said in words collection never emitted", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    return save(fig, path)
