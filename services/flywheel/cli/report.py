"""report ab / airflow: the A/B report and the Airflow UI on loopback."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markdown import Markdown

from flywheel.settings import get_settings

console = Console()


def register(app: typer.Typer, bench: typer.Typer) -> None:
    report = typer.Typer(help="Reports for analysts (stored in ab_reports / analytics.* views).", no_args_is_help=True)
    app.add_typer(report, name="report")

    @report.command("ab")
    def report_ab(
        experiment: str | None = typer.Option(None, "--experiment", help="experiment id (default: active, else last)"),
        out: Path | None = typer.Option(None, "--out", help="folder for .md/.json/.png (default artifacts/reports)"),
    ) -> None:
        """Per-arm project_completion_rate with 95 % intervals, ratio vs teacher, SRM check, daily trend."""
        from flywheel.reports.ab import ABReportError, ab_report

        try:
            rep = ab_report(get_settings(), experiment_id=experiment, out_dir=out)
        except ABReportError as e:
            console.print(f"[red]✗[/] {e}")
            raise typer.Exit(1) from e
        console.print(Markdown(rep.to_markdown()))
        console.print(f"[green]✓[/] report {rep.report_id}: {rep.paths['markdown']}\n  plot: {rep.paths['plot']}")

    @report.command("views")
    def report_views() -> None:
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

    @app.command()
    def airflow(
        port: int = typer.Option(8080, help="API/UI port on 127.0.0.1"),
        stop: bool = typer.Option(False, "--stop", help="stop a standalone started earlier (by its PID file)"),
    ) -> None:
        """Airflow UI on loopback (airflow standalone) with the DAGs loaded; prints the login; Ctrl-C stops it all."""
        from flywheel.runtime.airflow import AirflowError, serve
        from flywheel.runtime.airflow import stop as _stop

        s = get_settings()
        if stop:
            for line in _stop(s):
                console.print(f"[yellow]■[/] {line}")
            return
        try:
            serve(s, port=port, echo=console.print)
        except AirflowError as e:
            console.print(f"[red]✗[/] {e}")
            raise typer.Exit(1) from e
