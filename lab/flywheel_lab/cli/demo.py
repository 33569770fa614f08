"""`flywheel demo`: the operator's one-command tour of the whole platform on embedded defaults, over several days."""

from __future__ import annotations

import time

import typer

from flywheel.cli.common import console
from flywheel.settings import get_settings

app = typer.Typer()


@app.command()
def demo(
    days: int = typer.Option(5, min=1, help="A/B days after day 0 (the collection), each after one nightly run."),
    intents: int = typer.Option(3000, min=50, help="Unique intents of day 0; every day draws from the same world."),
    seed: int = typer.Option(7, help="World, traffic, split and training seed."),
    test_size: int = typer.Option(300, min=10, help="Unique test intents (the paper uses 1,000)."),
    ab_fraction: float = typer.Option(0.3, min=0.01, max=1.0,
                                      help="Share of a collection-sized day's projects one A/B day serves."),
    new_share: float = typer.Option(0.3, min=0.0, max=1.0,
                                    help="Share of an A/B day's projects asking intents never seen before "
                                         "(unseen variants, held-out wordings, new wrappers; new ones every day)."),
    init_from: str = typer.Option("production", help='Nights after the first: "production" (warm start) or '
                                                      '"scratch".'),
    warm_epochs: float = typer.Option(20.0, min=0.0, help="Epochs of a warm-started night (0: the config default)."),
    groundtruth_arms: str = typer.Option("", help='"teacher" or "all" (empty: FLYWHEEL_GROUNDTRUTH_ARMS).'),
    max_steps: int = typer.Option(0, min=0, help="Cap on student optimizer steps (0: the config default)."),
    backend: str = typer.Option("", help="Student family: ngram, encoder, seq2seq, causal (empty: the nightly DAG's "
                                         "default)."),
    keep: bool = typer.Option(False, help="Leave the embedded services running afterwards."),
) -> None:
    """The main job on embedded defaults: day 0 with the teacher, then per day: nightly DAG -> A/B day -> ingest;
    finally the per-day A/B report against the simulator's paired true ratio (student vs the teacher on the same
    projects), for all, seen and new intents."""
    from flywheel.errors import UsageError
    from flywheel_lab.demo import DemoOptions, run_demo
    from flywheel_lab.demo.summary import print_days

    if init_from not in ("production", "scratch") or groundtruth_arms not in ("", "teacher", "all"):
        raise UsageError("--init-from is production|scratch, --groundtruth-arms teacher|all")
    t0 = time.monotonic()
    opts = DemoOptions(intents=intents, days=days, seed=seed, test_size=test_size, ab_fraction=ab_fraction,
                       new_share=new_share, init_from=init_from, warm_epochs=warm_epochs or None,
                       groundtruth_arms=groundtruth_arms or None, max_steps=max_steps or None, backend=backend or None,
                       keep=keep)
    res = run_demo(get_settings(), opts, console)
    console.rule("[bold]summary")
    for title, secs in res.steps.items():
        console.print(f"  {secs:7.1f}s  {title}")
    print_days(console, res)
    if res.covers_truth is not None:
        console.print(f"  the daily ratio interval covers the simulator's paired true ratio every day: "
                      f"{res.covers_truth}")
    if res.plot_path:
        console.print(f"  A/B plot: {res.plot_path}")
    console.print(f"[bold green]demo finished in {time.monotonic() - t0:.0f}s")
