"""`flywheel report ab / views`: the A/B report and the analysts' views."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markdown import Markdown

from flywheel.cli.common import console, fail
from flywheel.settings import get_settings

app = typer.Typer(help="Reports for analysts (stored in ab_reports / analytics.* views).", no_args_is_help=True)


@app.command("ab")
def ab(
    experiment: str | None = typer.Option(None, "--experiment", help="experiment id (default: active, else last)"),
    out: Path | None = typer.Option(None, "--out", help="folder for .md/.json/.png (default artifacts/reports)"),
) -> None:
    """Per-arm project_completion_rate with 95 % intervals, ratio vs teacher, SRM check, daily trend."""
    from flywheel.reports.ab import ABReportError, ab_report

    try:
        rep = ab_report(get_settings(), experiment_id=experiment, out_dir=out)
    except ABReportError as e:
        fail(e, 1)
    console.print(Markdown(rep.to_markdown()))
    console.print(f"[green]✓[/] report {rep.report_id}: {rep.paths['markdown']}\n  plot: {rep.paths['plot']}")


@app.command("views")
def views() -> None:
    """(Re)create the analyst views in schema `analytics`."""
    from flywheel.db.engine import make_engine
    from flywheel.reports.views import VIEWS, create_views

    eng = make_engine(get_settings())
    try:
        with eng.begin() as conn:
            create_views(conn)
    finally:
        eng.dispose()
    console.print(f"[green]✓[/] analytics views: {', '.join(VIEWS)}")
