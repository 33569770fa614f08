"""demo / airflow: operator entry points that string the stages together."""

from __future__ import annotations

import time

import typer
from rich.console import Console

from flywheel.settings import get_settings

console = Console()


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command()
    def demo(keep: bool = typer.Option(False, help="Leave the embedded services running afterwards.")) -> None:
        """The main job on embedded defaults, end to end; cleans up after itself."""
        from flywheel.db.migrate import current, upgrade
        from flywheel.runtime.stack import down, status, up

        s = get_settings()
        t0 = time.monotonic()
        try:
            console.rule("[bold]1. services up")
            for line in up(s).lines:
                console.print(f"  {line}")
            console.rule("[bold]2. migrate")
            upgrade(s)
            console.print(f"  schema at revision {current(s)}")
            console.rule("[bold]3. status")
            for k, v in status(s).items():
                console.print(f"  {k}: {v}")
        finally:
            if not keep:
                console.rule("[bold]cleanup")
                for line in down(s).lines:
                    console.print(f"  {line}")
        console.print(f"[bold green]demo finished in {time.monotonic() - t0:.1f}s")
