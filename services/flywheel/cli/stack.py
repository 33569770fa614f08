"""`flywheel up / down / status`: the embedded stack (or the configured real services)."""

from __future__ import annotations

import json

import typer

from flywheel.cli.common import console
from flywheel.settings import get_settings

app = typer.Typer()


@app.command()
def up() -> None:
    """Start embedded Postgres and the Kafka-protocol broker (unless real ones are configured); create topics."""
    from flywheel.runtime.stack import up as _up

    for line in _up(get_settings()).lines:
        console.print(f"[green]✓[/] {line}")


@app.command()
def down() -> None:
    """Stop exactly what `up` started (by PID)."""
    from flywheel.runtime.stack import down as _down

    for line in _down(get_settings()).lines:
        console.print(f"[yellow]■[/] {line}")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show what is running and where."""
    from flywheel.runtime.stack import status as _status

    st = _status(get_settings())
    if as_json:
        typer.echo(json.dumps(st, indent=2, default=str))
        return
    for k, v in st.items():
        console.print(f"[bold]{k}[/]: {v}")
