"""What every command module shares: the console, failure output, logging set-up, and the one place where domain
errors (`flywheel.errors`) become `Error: <message>` on stderr and the error's exit code."""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from flywheel.errors import FlywheelError

console = Console()


class FlywheelGroup(TyperGroup):
    """The root command group: any `FlywheelError` a command lets through ends the command here."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except FlywheelError as e:
            typer.echo(f"Error: {e}", err=True)
            raise typer.Exit(e.exit_code) from e


def fail(exc: Exception | str, code: int = 2, mark: str = "[red]✗[/]") -> NoReturn:
    """A command's own failure line on stdout (kept for the stage errors that are not `FlywheelError`s yet)."""
    console.print(f"{mark} {exc}")
    raise typer.Exit(code) from (exc if isinstance(exc, Exception) else None)


def setup_logging(verbose: bool) -> None:
    """Rich log lines on a terminal; one plain, greppable line per record under a supervisor."""
    level = logging.DEBUG if verbose else logging.INFO
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        logging.basicConfig(level=level, format="%(message)s", force=True,
                            handlers=[RichHandler(show_path=False, rich_tracebacks=False)])
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("kafka").setLevel(logging.WARNING if not verbose else logging.INFO)
    # kafka-python 3 warns whenever a poll-loop task runs > 100 ms, which a busy 2-core box does all the time.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR if not verbose else logging.WARNING)
