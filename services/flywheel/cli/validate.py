"""`flywheel validate`: the great-expectations gate on a ground-truth run and/or a split."""

from __future__ import annotations

import typer

from flywheel.cli.common import console, fail
from flywheel.settings import get_settings

app = typer.Typer()


@app.command("validate")
def validate(
    run: str = typer.Option(None, "--run", help="Ground-truth run id to validate."),
    split: str = typer.Option(None, "--split", help="Split id to validate."),
) -> None:
    """Run the great-expectations gate on a ground-truth run and/or a split (default: the latest run)."""
    from flywheel.datasets.groundtruth import UnknownRun, get_run
    from flywheel.datasets.validate import ValidationFailed, validate_groundtruth, validate_split

    s = get_settings()
    try:
        targets = [("split", split)] if split else []
        if run or not split:
            targets.insert(0, ("groundtruth", get_run(s, run).run_id))
        for kind, tid in targets:
            out = (validate_groundtruth if kind == "groundtruth" else validate_split)(s, tid)
            console.print(f"[green]✓[/] {out.report}")
    except (UnknownRun, LookupError) as exc:
        fail(exc)
    except ValidationFailed as exc:
        fail(exc, 3)
