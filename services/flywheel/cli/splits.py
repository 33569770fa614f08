"""`flywheel splits`: a train/test split of a ground-truth run, with the paper's Set table."""

from __future__ import annotations

import typer

from flywheel.cli.common import console, fail
from flywheel.datasets.tables import set_table
from flywheel.settings import get_settings
from flywheel.textable import print_table

app = typer.Typer()



@app.command("splits")
def splits(
    test_size: int = typer.Option(1000, help="Unique test intents (the paper: 1,000)."),
    seed: int = typer.Option(0, help="Seed of the draw (same run + seed + size -> same split)."),
    run: str = typer.Option(None, "--run", help="Ground-truth run id (default: the latest)."),
    validate: bool = typer.Option(True, help="Gate the ground truth and the split with great-expectations."),
) -> None:
    """Split a ground-truth run by unique intent, export JSONL, print the paper's Set table and r_3 / r_5."""
    from flywheel.datasets.groundtruth import UnknownRun, get_run
    from flywheel.datasets.splits import SplitError, make_split
    from flywheel.datasets.validate import ValidationFailed

    s = get_settings()
    try:
        gt = get_run(s, run)
        with console.status("splitting ..."):
            res = make_split(s, gt.run_id, test_size=test_size, seed=seed, validate=validate)
    except (UnknownRun, SplitError) as exc:
        fail(exc)
    except ValidationFailed as exc:
        fail(exc, 3)
    console.print(f"[green]✓[/] split [bold]{res.split_id}[/] {'created' if res.created else 'already stored'} "
                  f"from {gt.run_id} (seed {seed}); files in {res.path}")
    print_table(console, set_table(res))
    console.print("  " + ", ".join(f"{k}: {v:,} test intents" for k, v in res.r_sizes.items()))
