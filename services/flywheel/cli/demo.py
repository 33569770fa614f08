"""`flywheel demo`: the operator's one-command tour of the whole platform on embedded defaults."""

from __future__ import annotations

import time

import typer

from flywheel.cli.common import console
from flywheel.settings import get_settings

app = typer.Typer()


@app.command()
def demo(
    intents: int = typer.Option(3000, min=50, help="Unique intents in the simulated collection period."),
    days: float = typer.Option(60.0, min=1, help="Length of the collection period (simulated days)."),
    seed: int = typer.Option(7, help="World, traffic, split and training seed."),
    test_size: int = typer.Option(300, min=10, help="Unique test intents (the paper uses 1,000)."),
    ab_intents: int = typer.Option(800, min=50, help="Unique intents in the A/B period."),
    max_steps: int = typer.Option(0, min=0, help="Cap on student optimizer steps (0: the config default)."),
    keep: bool = typer.Option(False, help="Leave the embedded services running afterwards."),
) -> None:
    """The main job on embedded defaults, end to end (traffic -> ingest -> nightly DAG -> A/B -> report)."""
    from flywheel.demo import DemoOptions, run_demo

    t0 = time.monotonic()
    opts = DemoOptions(intents=intents, days=days, seed=seed, test_size=test_size, ab_intents=ab_intents,
                       max_steps=max_steps or None, keep=keep)
    res = run_demo(get_settings(), opts, console)
    console.rule("[bold]summary")
    for title, secs in res.steps.items():
        console.print(f"  {secs:7.1f}s  {title}")
    if res.covers_truth is not None:
        console.print(f"  A/B ratio interval covers the simulator's true ratio: {res.covers_truth}")
    if res.plot_path:
        console.print(f"  A/B plot: {res.plot_path}")
    console.print(f"[bold green]demo finished in {time.monotonic() - t0:.0f}s")
