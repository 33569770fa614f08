"""`flywheel docs screenshots`: re-make the PNGs under docs/ from the running code (flywheel_lab.docs_screens)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from flywheel.cli.common import console

app = typer.Typer(help="Files of the docs made from the code.", no_args_is_help=True)


@app.command("screenshots")
def screenshots(
    out: Path = typer.Option(None, "--out", help="Folder for the PNGs (default: the checkout's docs/)."),
    only: list[str] = typer.Option(None, "--only",
                                   help="annotation (annotation-app.png), airflow (airflow-ui.png, "
                                        "airflow-nightly.png) or runs (airflow-failed-run.png, "
                                        "airflow-promotion.png: a failed night and a promotion, signed in); "
                                        "repeatable (default: all)."),
    timeout: float = typer.Option(420.0, min=30.0, help="Seconds to wait for Airflow to start and parse the DAGs."),
) -> None:
    """Bring up what each screenshot needs on loopback (an embedded Postgres and the annotation app; airflow
    standalone with the DAGs paused; for runs, a failing and a promoting nightly first), photograph it with headless
    chromium (Selenium, the chromedriver on PATH) and stop everything it started."""
    from flywheel_lab.docs_screens import SHOTS, take_screenshots

    t0 = time.monotonic()
    paths = take_screenshots(out, tuple(only or SHOTS), echo=console.print, timeout=timeout)
    console.print(f"[bold green]{len(paths)} screenshot(s) in {time.monotonic() - t0:.0f}s: "
                  + ", ".join(p.name for p in paths))
