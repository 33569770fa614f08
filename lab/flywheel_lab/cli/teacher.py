"""`flywheel teacher-server`: a local OpenAI-compatible teacher for the simulator's world."""

from __future__ import annotations

import typer

from flywheel.settings import get_settings

app = typer.Typer()


@app.command("teacher-server")
def teacher_server(
    port: int | None = typer.Option(None, "--port", help="Default: settings.teacher_port (8601)."),
    host: str = typer.Option("127.0.0.1", "--host"),
    seed: int = typer.Option(0, "--seed", help="The simulator world to answer from (use the simulate seed)."),
    base_intents: int = typer.Option(600, "--base-intents"),
    delay_ms: float = typer.Option(0.0, "--delay-ms", help="Added think time per completion."),
) -> None:
    """Local OpenAI-compatible /v1/chat/completions backed by the simulator's teacher."""
    from flywheel_lab.simulator.teacher_server import serve

    serve(seed, port or get_settings().teacher_port, host=host, base_intents=base_intents, delay_ms=delay_ms)
