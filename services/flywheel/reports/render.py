"""Markdown text and the matplotlib figure of an A/B report (no database)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
    lines += ["", "## Daily trend (by project start day, UTC)", "",
              "| day | arm | started | exported | rate | 95 % CI |", "|---|---|---:|---:|---:|---|"]
    for d in report.daily:
        lines.append(f"| {d.day} | {d.arm} | {d.started} | {d.exported} | {_pct(d.rate)} "
                     f"| [{_pct(d.ci_low)}, {_pct(d.ci_high)}] |")
    if report.paths.get("plot"):
        lines += ["", f"![daily completion rate per arm]({Path(report.paths['plot']).name})"]
    return "\n".join(lines) + "\n"


def render_plot(report: ABReport, path: Path) -> Path:
    """Left: daily rate per arm with its 95 % band; right: overall rate per arm with its interval."""
    from matplotlib.dates import DateFormatter, DayLocator
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(12, 4.4), layout="constrained")
    ax_day, ax_all = fig.subplots(1, 2, width_ratios=[2, 1])
    for i, arm in enumerate(a.arm for a in report.arms):
        rows = [d for d in report.daily if d.arm == arm and d.rate is not None]
        if not rows:
            continue
        color = f"C{i}"
        days = [d.day for d in rows]
        ax_day.plot(days, [d.rate for d in rows], marker="o", ms=3, color=color, label=arm)
        ax_day.fill_between(days, [d.ci_low for d in rows], [d.ci_high for d in rows], color=color, alpha=0.18)
    ax_day.set_title("project_completion_rate per day (95 % Wilson band)")
    ax_day.set_ylabel("projects exported / started")
    ax_day.legend(loc="best")
    ax_day.grid(alpha=0.3)
    days_all = sorted({d.day for d in report.daily})
    span = (days_all[-1] - days_all[0]).days if days_all else 0
    ax_day.xaxis.set_major_locator(DayLocator(interval=max(1, span // 8 + 1)))
    ax_day.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    ax_day.tick_params(axis="x", labelrotation=30)
    xs, names = [], []
    for i, a in enumerate(report.arms):
        if a.rate is None or a.ci_low is None or a.ci_high is None:
            continue
        yerr = [[max(0.0, a.rate - a.ci_low)], [max(0.0, a.ci_high - a.rate)]]
        ax_all.errorbar([i], [a.rate], yerr=yerr, fmt="o", color=f"C{i}", capsize=6)
        xs.append(i)
        names.append(f"{a.arm}\n(n={a.started})")
    ax_all.set_xticks(xs, names)
    ax_all.set_xlim(-0.7, max(xs, default=0) + 0.7)
    title = "overall (95 % CI)"
    if report.ratios and report.ratios[0].ratio is not None:
        r = report.ratios[0]
        title += f"\n{r.numerator}/{r.denominator}: {r.ratio:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
    ax_all.set_title(title)
    ax_all.grid(alpha=0.3, axis="y")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
