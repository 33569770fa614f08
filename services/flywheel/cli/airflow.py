"""`flywheel airflow`: the Airflow UI on loopback with the platform's DAGs."""

from __future__ import annotations

import typer

from flywheel.cli.common import console, fail
from flywheel.settings import get_settings

app = typer.Typer()


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
        fail(e, 1)
