"""Markdown text and the matplotlib figure of an A/B report (no database)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flywheel.reports import render_segments

if TYPE_CHECKING:
    from flywheel.reports.ab import ABReport


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def render_markdown(report: ABReport) -> str:
    scope = f"experiment `{report.experiment_id}`" if report.experiment_id else "all traffic (no experiment row)"
    window = f"{report.since or '-inf'} .. {report.until or 'now'}"
    lines = [
        f"# A/B report {report.report_id}",
        "",
        f"- scope: {scope}; window: {window}",
        f"- generated: {report.generated_at:%Y-%m-%d %H:%M:%S} UTC; control arm: `{report.control_arm}`",
        "- metric: `project_completion_rate` = projects exported / projects started (95 % Wilson intervals)",
        "",
        "| arm | weight | started | exported | rate | 95 % CI |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for a in report.arms:
        lines.append(f"| {a.arm} | {_num(a.weight, '.2f')} | {a.started} | {a.exported} | {_pct(a.rate)} "
                     f"| [{_pct(a.ci_low)}, {_pct(a.ci_high)}] |")
    lines += ["", "| ratio | estimate | 95 % CI (delta method, log scale) |", "|---|---:|---|"]
    for r in report.ratios:
        lines.append(f"| {r.numerator} / {r.denominator} | {_num(r.ratio)} | [{_num(r.ci_low)}, {_num(r.ci_high)}] |")
    lines.append("")
    if report.srm is None:
        lines.append("- sample-ratio mismatch: not tested (no configured weights)")
    else:
        s = report.srm
        verdict = "**SRM FLAGGED** — assignment looks broken, do not trust the rates" if s.flagged else "ok"
        lines.append(f"- sample-ratio mismatch: chi2 = {s.chi2:.3f} (dof {s.dof}), p = {s.p_value:.4g} "
                     f"(flag below {s.alpha}): {verdict}")
    lines.append(f"- projects that saw more than one arm: {report.n_projects_multi_arm}")
    if report.assignment_mismatches is not None:
        lines.append(f"- users served a different arm than the hash assignment: {report.assignment_mismatches}")
    models = {(m.day, m.arm): m.model_version for m in report.daily_models}
    lines += ["", "## Daily trend (by project start day, UTC)", "",
              "| day | arm | model version | started | exported | rate | 95 % CI |", "|---|---|---|---:|---:|---:|---|"]
    for d in report.daily:
        lines.append(f"| {d.day} | {d.arm} | {models.get((d.day, d.arm), '-')} | {d.started} | {d.exported} "
                     f"| {_pct(d.rate)} | [{_pct(d.ci_low)}, {_pct(d.ci_high)}] |")
    if report.daily_ratios:
        lines += ["", "| day | ratio | estimate | 95 % CI |", "|---|---|---:|---|"]
        for dr in report.daily_ratios:
            lines.append(f"| {dr.day} | {dr.numerator} / {dr.denominator} | {_num(dr.ratio)} "
                         f"| [{_num(dr.ci_low)}, {_num(dr.ci_high)}] |")
    lines += render_segments.markdown_lines(report)
    if report.paths.get("plot"):
        lines += ["", f"![daily completion rate per arm]({Path(report.paths['plot']).name})"]
    return "\n".join(lines) + "\n"


def _short(version: str) -> str:
    """A model version short enough to print under a point (m-20261130-010203-abcdef -> abcdef)."""
    return version.rsplit("-", 1)[-1][:10]


def render_plot(report: ABReport, path: Path, reference: Mapping[date, float] | None = None, *,
                segment_reference: Mapping[str, Mapping[date, float]] | None = None) -> Path:
    """Left: daily rate per arm with its 95 % band, each point labelled with the model version that served it;
    middle: the daily ratio with its interval (and ``reference``, e.g. a simulation's known true ratio per day);
    right: overall rate per arm with its interval. A second row shows the same for seen and new intents
    (``segment_reference``: a known true ratio per day for "seen" and/or "new")."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    split = bool(report.daily_by_segment)
    fig = Figure(figsize=(15, 9.6 if split else 4.8), layout="constrained")
    axes = fig.subplots(2 if split else 1, 3, width_ratios=[2, 1.4, 1], squeeze=False)
    ax_day, ax_ratio, ax_all = axes[0]
    _daily_panel(ax_day, report)
    _ratio_panel(ax_ratio, report, reference)
    _overall_panel(ax_all, report)
    if split:
        seg_day, seg_ratio, seg_all = axes[1]
        render_segments.daily_panel(seg_day, report)
        _day_axis(seg_day, report.days())
        render_segments.ratio_panel(seg_ratio, report, segment_reference)
        _day_axis(seg_ratio, report.days())
        render_segments.overall_panel(seg_all, report)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _day_axis(ax: Any, days: list[date]) -> None:
    from matplotlib.dates import DateFormatter, DayLocator

    span = (days[-1] - days[0]).days if days else 0
    ax.xaxis.set_major_locator(DayLocator(interval=max(1, span // 8 + 1)))
    ax.xaxis.set_major_formatter(DateFormatter("%m-%d"))
    ax.tick_params(axis="x", labelrotation=30)


def _daily_panel(ax: Any, report: ABReport) -> None:
    models = {(m.day, m.arm): m.model_version for m in report.daily_models}
    for i, arm in enumerate(a.arm for a in report.arms):
        rows = [d for d in report.daily if d.arm == arm and d.rate is not None]
        if not rows:
            continue
        color = f"C{i}"
        days = [d.day for d in rows]
        ax.plot(days, [d.rate for d in rows], marker="o", ms=4, color=color, label=arm)
        ax.fill_between(days, [d.ci_low for d in rows], [d.ci_high for d in rows], color=color, alpha=0.18)
        if arm != report.control_arm:
            for d in rows:
                if (d.day, arm) in models:
                    ax.annotate(_short(models[(d.day, arm)]), (d.day, d.rate), textcoords="offset points",
                                xytext=(0, -14), ha="center", fontsize=7, color=color)
    ax.set_title("project_completion_rate per day (95 % band; label: model version)")
    ax.set_ylabel("projects exported / started")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    _day_axis(ax, report.days())


def _ratio_panel(ax: Any, report: ABReport, reference: Mapping[date, float] | None) -> None:
    rows = [(r.day, r.ratio, r.ci_low or r.ratio, r.ci_high or r.ratio, f"{r.numerator}/{r.denominator}")
            for r in report.daily_ratios if r.ratio is not None]
    if rows:
        ax.errorbar([d for d, *_ in rows], [x for _, x, *_ in rows],
                    yerr=[[x - lo for _, x, lo, _, _ in rows], [hi - x for _, x, _, hi, _ in rows]],
                    fmt="o-", capsize=5, color="C1", label=f"{rows[0][4]} (95 % CI)")
    if reference:
        ref = sorted(reference.items())
        ax.plot([d for d, _ in ref], [v for _, v in ref], "k*", ms=9, label="true ratio (simulator)")
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    ax.set_title("ratio per day")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    _day_axis(ax, report.days())


def _overall_panel(ax: Any, report: ABReport) -> None:
    xs, names = [], []
    for i, a in enumerate(report.arms):
        if a.rate is None or a.ci_low is None or a.ci_high is None:
            continue
        yerr = [[max(0.0, a.rate - a.ci_low)], [max(0.0, a.ci_high - a.rate)]]
        ax.errorbar([i], [a.rate], yerr=yerr, fmt="o", color=f"C{i}", capsize=6)
        xs.append(i)
        names.append(f"{a.arm}\n(n={a.started})")
    ax.set_xticks(xs, names)
    ax.set_xlim(-0.7, max(xs, default=0) + 0.7)
    title = "overall (95 % CI)"
    if report.ratios and report.ratios[0].ratio is not None:
        r = report.ratios[0]
        title += f"\n{r.numerator}/{r.denominator}: {r.ratio:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
