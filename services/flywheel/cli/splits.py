"""`flywheel splits`: a train/test split of a ground-truth run, with the paper's Set table."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from flywheel.cli.common import console, fail
from flywheel.cli.groundtruth import TOOL_LABELS
from flywheel.settings import get_settings
from flywheel.textable import print_table

app = typer.Typer()


def set_table(split: Any) -> Table:
    """The paper's "Set" table: Used / All per tool, for train and test, plus the r_k subset sizes."""
    t = Table(title=f"Set — split {split.split_id}")
    t.add_column("Set")
    for label in TOOL_LABELS.values():
        t.add_column(f"{label}\nUsed", justify="right")
        t.add_column("All", justify="right")
    for part in ("train", "test"):
        row = split.set_table.get(part, {})
        cells = [f"{row.get(tool, {}).get(k, 0):,}" for tool in TOOL_LABELS for k in ("used", "all")]
        t.add_row(part.capitalize(), *cells)
    return t


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
