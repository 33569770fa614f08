"""`flywheel erase --user ID`: forget one user (docs/domain.md#erasure, flywheel.privacy.erase)."""

from __future__ import annotations

import typer

from flywheel.cli.common import console
from flywheel.settings import get_settings

app = typer.Typer()


@app.command("erase")
def erase(user: str = typer.Option(..., "--user", help="The user id to erase (projects.user_id).")) -> None:
    """Delete a user's events and private intent text from every table in one transaction, mark the ground truth
    their evidence fed stale, and record what was trained on it (the record holds no personal data)."""
    from flywheel.db.engine import owned_engine
    from flywheel.privacy.erase import erase_user

    s = get_settings()
    with owned_engine(s) as eng:
        done = erase_user(engine=eng, user_id=user, artifacts_dir=s.artifacts_dir)
    deleted = ", ".join(f"{k} {v:,}" for k, v in done.counts.items() if v)
    console.print(f"[green]✓[/] erasure {done.erasure_id} ({done.duration_s:.2f}s): {deleted or 'nothing found'}")
    console.print(f"  stale ground-truth runs: {', '.join(done.groundtruth_runs) or '-'}")
    console.print(f"  splits holding their intents: {', '.join(done.splits) or '-'}"
                  f" (unusable: {', '.join(done.unusable_splits) or '-'})")
    console.print(f"  models trained on them (retrain?): {', '.join(done.models) or '-'}")
    if done.annotation_batches:
        console.print(f"  reality-check batches that lost tasks: {', '.join(done.annotation_batches)}")
