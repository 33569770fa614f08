"""`flywheel assistant`: the A/B assistant service."""

from __future__ import annotations

import typer

from flywheel.settings import get_settings

app = typer.Typer()


@app.command()
def assistant(
    port: int | None = typer.Option(None, "--port", help="Default: settings.assistant_port (8602)."),
    host: str = typer.Option("127.0.0.1", "--host"),
) -> None:
    """The assistant HTTP service: POST /v1/edits with A/B routing between teacher and student."""
    from flywheel.assistant.app import serve

    serve(get_settings(), port, host)
