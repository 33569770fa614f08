from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Commands of this domain are added here."""
