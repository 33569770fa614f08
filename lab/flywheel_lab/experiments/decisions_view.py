"""The demo's view of an experiment that decides: each day's sequential interval, the phase and split that served
it, the decision at its end, what the student saved, and a plot with the phases shaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flywheel.settings import Settings

OUTCOME_COLOURS = {"ship": "tab:green", "keep_testing": "tab:gray", "roll_back": "tab:red"}


def decision_cells(decision: dict[str, Any]) -> dict[str, str]:
    """The summary table's cells for one day's decision (empty dict: nothing decided)."""
    if not decision:
        return {"phase (student share)": "-", "sequential ratio": "-", "decision": "-"}
    lo, hi, r = decision.get("seq_low"), decision.get("seq_high"), decision.get("ratio")
    seq = "n/a" if lo is None or hi is None or r is None else f"{r:.3f} [{lo:.3f}, {hi:.3f}]"
    act = decision.get("action", "none")
    return {"phase (student share)": f"{decision['phase']} ({decision['student_weight']:.0%})",
            "sequential ratio": seq,
            "decision": f"{decision['outcome']} ({decision['check']})" + ("" if act == "none" else f" -> {act}")}


def savings_lines(s: Settings, series_id: str) -> list[str]:
    """Per arm over the whole series (every phase): calls, teacher calls and dollars avoided, spend, latency and cost
    per completed project; then the overall line."""
    from flywheel.db.engine import make_engine
    from flywheel.experiments.data import savings_rows
    from flywheel.experiments.decide import series_phases
    from flywheel.experiments.savings import overall, totals

    eng = make_engine(s)
    try:
        ids = [p.experiment_id for p in series_phases(eng, series_id=series_id)] or [series_id]
        with eng.connect() as conn:
            rows = savings_rows(conn, experiment_ids=ids)
    finally:
        eng.dispose()
    if not rows:
        return ["  what the student saved: no traffic"]

    def f(x: Any, fmt: str) -> str:
        return "n/a" if x is None else format(x, fmt)

    lines = ["  what the student saved (all phases; prices: settings teacher_* / student_usd_per_call):"]
    for arm, t in totals(rows).items():
        lines.append(f"    {arm:8s} calls {f(t['responses'], '.0f')} (teacher {f(t['teacher_calls'], '.0f')}, "
                     f"student {f(t['student_calls'], '.0f')}), spend ${f(t['spend_usd'], '.4f')}, "
                     f"exported {f(t['exported'], '.0f')}, $/completed project "
                     f"{f(t['usd_per_completed_project'], '.6f')}, latency p50/p95 (mean of days) "
                     f"{f(t['mean_daily_p50_ms'], '.0f')}/{f(t['mean_daily_p95_ms'], '.0f')} ms")
    student = totals(rows).get("student")
    if student and student["responses"]:
        # Requests the student arm handed to the teacher (issue 28's rule: their own share, never in the ratio).
        handed = float(student["teacher_calls"] or 0)
        lines.append(f"    student arm served by the teacher (fallbacks): {handed:.0f} of {student['responses']:.0f} "
                     f"requests ({handed / float(student['responses']):.2%})")
    o = overall(rows)
    lines.append(f"    overall: {o['teacher_calls_avoided']:.0f} teacher calls avoided "
                 f"({o['student_share_of_calls']:.0%} of calls), {o['teacher_tokens_avoided']:.0f} tokens, "
                 f"${o['teacher_usd_avoided']:.4f} of teacher spend avoided")
    per_day: dict[str, float] = {}
    for r in rows:
        per_day[str(r["day"])] = per_day.get(str(r["day"]), 0.0) + float(r["teacher_usd_avoided"] or 0.0)
    lines.append("    teacher $ avoided per day: " + ", ".join(f"{d} {v:.4f}" for d, v in sorted(per_day.items())))
    return lines


def plot_decisions(days: list[Any], path: Path, *, margin: float) -> Path | None:
    """Each day's sequential interval (error bar) and the day's own ratio, the margin, and the phases shaded by the
    student share that served each day; the decision's outcome colours the marker."""
    from flywheel_lab.plots import figure, save

    pts = [d for d in days if d.decision and d.decision.get("seq_low") is not None]
    if not pts:
        return None
    fig, ax = figure(figsize=(8, 4))
    for d in days:
        w = d.decision.get("student_weight") if d.decision else None
        if w is not None:
            ax.axvspan(d.day - .5, d.day + .5, color="tab:blue", alpha=.08 + .25 * w, lw=0)
            ax.text(d.day, 1.0, f"phase {d.decision['phase']}\n{w:.0%} student", ha="center", va="bottom",
                    fontsize=7, transform=ax.get_xaxis_transform())
    for d in pts:
        dec = d.decision
        ax.errorbar([d.day], [dec["ratio"]], yerr=[[dec["ratio"] - dec["seq_low"]], [dec["seq_high"] - dec["ratio"]]],
                    fmt="o", color=OUTCOME_COLOURS.get(dec["outcome"], "k"), capsize=4)
        if d.true_ratio is not None:
            ax.plot([d.day], [d.true_ratio], "x", color="k")
    ax.axhline(margin, ls="--", color="tab:red", lw=1, label=f"margin {margin:g}")
    ax.axhline(1.0, ls=":", color="k", lw=1)
    ax.set_xlabel("A/B day")
    ax.set_ylabel("student / teacher completion")
    ax.set_title("sequential interval at each day's end (colour: decision; x: paired true ratio)", fontsize=9, pad=26)
    ax.legend(loc="lower right", fontsize=8)
    return save(fig, path)
