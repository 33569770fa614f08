"""The seen/new-intent part of an A/B report: its markdown section and the plot's second row (no database)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flywheel.reports.ab_segments import SEGMENTS

if TYPE_CHECKING:
    from flywheel.reports.ab import ABReport

RULE = ("a project is **new** on its day (UTC) when at least one of its intents (`intent_norm`) had never been "
        "submitted before that day began, by anyone, over all history; otherwise **seen**")
# Seen solid, new dashed: the arm keeps its colour across both rows of the figure.
_STYLE = {"seen": {"ls": "-", "marker": "o"}, "new": {"ls": "--", "marker": "s"}}
_SEGMENT_COLOR = {"seen": "C1", "new": "C3"}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def markdown_lines(report: ABReport) -> list[str]:
    """The section "Seen and new intents"; empty for a report without the split."""
    if not report.daily_by_segment:
        return []
    lines = ["", "## Seen and new intents", "", f"Split by the intents each project asked: {RULE}. Same intervals "
             "as above; seen + new = the unsplit row.", "",
             "| day | arm | seen started | seen exported | seen rate | seen 95 % CI "
             "| new started | new exported | new rate | new 95 % CI |",
             "|---|---|---:|---:|---:|---|---:|---:|---:|---|"]
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for d in report.daily_by_segment:
        cells.setdefault((str(d.day), d.arm), {})[d.segment] = d
    for a in report.arms_by_segment:
        cells.setdefault(("all days", a.arm), {})[a.segment] = a
    for (day, arm), segs in cells.items():
        row = [day, arm]
        for seg in SEGMENTS:
            c = segs.get(seg)
            row += ["-"] * 4 if c is None else [str(c.started), str(c.exported), _pct(c.rate),
                                                f"[{_pct(c.ci_low)}, {_pct(c.ci_high)}]"]
        lines.append("| " + " | ".join(row) + " |")
    ratios: dict[tuple[str, str], dict[str, Any]] = {}
    for dr in report.daily_ratios_by_segment:
        ratios.setdefault((str(dr.day), f"{dr.numerator} / {dr.denominator}"), {})[dr.segment] = dr
    for sr in report.ratios_by_segment:
        ratios.setdefault(("all days", f"{sr.numerator} / {sr.denominator}"), {})[sr.segment] = sr
    if ratios:
        lines += ["", "| day | ratio | seen | seen 95 % CI | new | new 95 % CI |", "|---|---|---:|---|---:|---|"]
        for (day, name), segs in ratios.items():
            row = [day, name]
            for seg in SEGMENTS:
                q = segs.get(seg)
                row += ["-", "-"] if q is None else [_num(q.ratio), f"[{_num(q.ci_low)}, {_num(q.ci_high)}]"]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def _shift(day: date, hours: float) -> datetime:
    """Seen and new points of one day side by side, so their intervals do not hide each other."""
    return datetime(day.year, day.month, day.day) + timedelta(hours=hours)


def daily_panel(ax: Any, report: ABReport) -> None:
    for i, arm in enumerate(a.arm for a in report.arms):
        for seg in SEGMENTS:
            rows = [d for d in report.daily_by_segment if d.arm == arm and d.segment == seg and d.rate is not None]
            if not rows:
                continue
            days = [d.day for d in rows]
            ax.plot(days, [d.rate for d in rows], color=f"C{i}", ms=4, label=f"{arm}, {seg}", **_STYLE[seg])
            ax.fill_between(days, [d.ci_low for d in rows], [d.ci_high for d in rows], color=f"C{i}",
                            alpha=0.16 if seg == "seen" else 0.08)
    ax.set_title("completion per day: seen intents (solid) vs new (dashed), 95 % band")
    ax.set_ylabel("projects exported / started")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


def ratio_panel(ax: Any, report: ABReport, reference: Mapping[str, Mapping[date, float]] | None) -> None:
    for k, seg in enumerate(SEGMENTS):
        rows = [(r.day, r.ratio, r.ci_low if r.ci_low is not None else r.ratio,
                 r.ci_high if r.ci_high is not None else r.ratio, f"{r.numerator}/{r.denominator}")
                for r in report.daily_ratios_by_segment if r.segment == seg and r.ratio is not None]
        if not rows:
            continue
        ax.errorbar([_shift(d, -3 + 6 * k) for d, *_ in rows], [x for _, x, *_ in rows],
                    yerr=[[x - lo for _, x, lo, _, _ in rows], [hi - x for _, x, _, hi, _ in rows]], capsize=4,
                    color=_SEGMENT_COLOR[seg], ls=_STYLE[seg]["ls"], marker=_STYLE[seg]["marker"],
                    label=f"{rows[0][4]}, {seg}")
        ref = sorted((reference or {}).get(seg, {}).items())
        if ref:
            ax.plot([_shift(d, -3 + 6 * k) for d, _ in ref], [v for _, v in ref], "*", color=_SEGMENT_COLOR[seg],
                    mec="k", ms=10, label=f"true ratio, {seg} (simulator)")
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    ax.set_title("ratio per day, seen vs new intents (95 % CI)")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)


def overall_panel(ax: Any, report: ABReport) -> None:
    xs, names = [], []
    for i, a in enumerate(report.arms):
        for k, seg in enumerate(SEGMENTS):
            s = next((x for x in report.arms_by_segment if x.arm == a.arm and x.segment == seg), None)
            if s is None or s.rate is None or s.ci_low is None or s.ci_high is None:
                continue
            x = i + (-0.18 if k == 0 else 0.18)
            ax.errorbar([x], [s.rate], yerr=[[max(0.0, s.rate - s.ci_low)], [max(0.0, s.ci_high - s.rate)]],
                        color=f"C{i}", marker=_STYLE[seg]["marker"], capsize=5)
            xs.append(x)
            names.append(f"{a.arm}\n{seg}\nn={s.started}")
    ax.set_xticks(xs, names, fontsize=8)
    ax.set_xlim(-0.7, len(report.arms) - 0.3)
    title = "overall by intent (95 % CI)"
    for r in report.ratios_by_segment:
        if r.ratio is not None and r.ci_low is not None and r.ci_high is not None:
            title += f"\n{r.segment}: {r.numerator}/{r.denominator} {r.ratio:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
