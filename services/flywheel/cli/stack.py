"""up / down / status / db: the embedded stack and the schema."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from flywheel.settings import get_settings

console = Console()


def register(app: typer.Typer, bench: typer.Typer) -> None:
    db = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
    app.add_typer(db, name="db")

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

    @db.command("upgrade")
    def db_upgrade(revision: str = typer.Argument("heads")) -> None:
        """Apply migrations up to REVISION (default: heads)."""
        from flywheel.db.migrate import current, upgrade

        s = get_settings()
        upgrade(s, revision)
        console.print(f"[green]✓[/] database at revision {current(s)}")

    @db.command("downgrade")
    def db_downgrade(revision: str) -> None:
        """Roll the schema back to REVISION."""
        from flywheel.db.migrate import current, downgrade

        s = get_settings()
        downgrade(s, revision)
        console.print(f"[yellow]✓[/] database at revision {current(s)}")

    @db.command("current")
    def db_current() -> None:
        from flywheel.db.migrate import current

        console.print(current(get_settings()) or "(empty)")
