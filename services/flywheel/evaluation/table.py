"""RQ1-style table: one row per (model, subset), each tool as (selection F1, quality, final), then Overall."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from flywheel.contracts import TOOLS
from flywheel.evaluation.metrics import EvalReport
from flywheel.textable import print_table

TOOL_TITLES = {"adjust": "Adjust", "selective_adjust": "Selective Adjust", "filter": "Filter"}


def _f(x: float) -> str:
    # The paper's style: ".76" (and "1.0" for a perfect score).
    return "1.0" if x >= 0.995 else f"{x:.2f}".lstrip("0")


def control_label(name: str) -> str:
    """How a control is named in the Model column (``control: nearest intent``)."""
    return f"control: {name.replace('_', ' ')}"


def rq1_table(report: EvalReport, model: str = "student", title: str | None = None) -> Table:
    """The student's rows, then each control's (its own model name) on the same subsets."""
    table = Table(title=title or "RQ1 — (tool-selection F1, quality, final) per tool", show_lines=False)
    table.add_column("Model")
    table.add_column("Test")
    table.add_column("n", justify="right")
    for t in TOOLS:
        table.add_column(TOOL_TITLES[t], justify="center")
    table.add_column("Overall", justify="right")
    table.add_column("Invalid", justify="right")
    for label, rep in [(model, report), *((control_label(k), c) for k, c in report.controls.items())]:
        for i, (name, sub) in enumerate(rep.subsets.items()):
            cells = [f"({_f(s.f1)}, {_f(s.quality)}, {_f(s.final)})" for s in (sub.tools[t] for t in TOOLS)]
            table.add_row(label if i == 0 else "", name, str(sub.n), *cells, _f(sub.overall),
                          f"{sub.invalid_rate:.1%}")
    return table


def print_report(report: EvalReport | dict[str, Any], model: str = "student", console: Console | None = None
                 ) -> None:
    """Print the RQ1 table and the selection detail; accepts a report or `evaluate_model`'s dict."""
    if isinstance(report, dict):
        report = EvalReport.from_dict(report.get("report", report))
    console = console or Console()
    print_table(console, rq1_table(report, model))
    detail = Table(title="Tool selection detail (All)")
    for col in ("tool", "TP", "FP", "FN", "TN", "precision", "recall", "invalid"):
        detail.add_column(col, justify="right")
    for t in TOOLS:
        s = report.subsets["All"].tools[t]
        detail.add_row(t, str(s.tp), str(s.fp), str(s.fn), str(s.tn), f"{s.precision:.3f}", f"{s.recall:.3f}",
                       str(s.invalid))
    print_table(console, detail)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    if report.missing or report.extra:
        console.print(f"[yellow]{report.missing} reference intents had no prediction (scored as null); "
                      f"{report.extra} predictions matched no reference (ignored)[/]")


def report_summary(report: EvalReport) -> dict[str, Any]:
    """Compact numbers for lineage.json / models.metrics; the controls' own summaries under ``controls`` (not a
    subset, so the registry's per-subset rows stay the student's)."""
    out: dict[str, Any] = {"overall": report.overall, "invalid_rate": report.invalid_rate}
    for name, sub in report.subsets.items():
        out[name] = {"n": sub.n, "overall": sub.overall, "invalid_rate": sub.invalid_rate,
                     **{t: {"precision": s.precision, "recall": s.recall, "f1": s.f1, "quality": s.quality,
                            "final": s.final} for t, s in sub.tools.items()}}
    if report.controls:
        out["controls"] = {k: report_summary(c) for k, c in report.controls.items()}
    return out
