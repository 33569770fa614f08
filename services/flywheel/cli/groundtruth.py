"""`flywheel groundtruth`: export-rate ground truth as a versioned run (its check against the simulator's hidden
truth, `flywheel truthcheck`, comes with the referee: flywheel_lab.cli.checks)."""

from __future__ import annotations

from datetime import datetime

import typer

from flywheel.cli.common import console, fail
from flywheel.datasets.tables import TOOL_LABELS
from flywheel.settings import get_settings

app = typer.Typer()


@app.command("groundtruth")
def groundtruth(
    watermark: datetime = typer.Option(None, help="Use events ingested up to this time (default: all)."),
    teacher_arm: str = typer.Option("teacher", help="Arm whose responses are the teacher's."),
    validate: bool = typer.Option(True, help="Run the great-expectations gate on the run."),
    full: bool = typer.Option(False, "--full", help="Recompute from every event instead of folding in the new ones."),
    ingest_timeout: float = typer.Option(120.0, help="Seconds to wait for ingest batches begun by the watermark."),
) -> None:
    """Compute export-rate ground truth in Postgres as a versioned run (same watermark -> same run); a night stores
    only the intents its events changed."""
    from flywheel.datasets.groundtruth import NoEvents, run_groundtruth
    from flywheel.datasets.validate import ValidationFailed, validate_groundtruth

    s = get_settings()
    try:
        with console.status("computing ground truth in Postgres ..."):
            run = run_groundtruth(s, watermark=watermark, teacher_arm=teacher_arm,
                                  mode="full" if full else "incremental", ingest_timeout_s=ingest_timeout)
    except NoEvents as exc:
        fail(exc)
    verb = "computed" if run.created else "already stored"
    console.print(f"[green]✓[/] ground-truth run [bold]{run.run_id}[/] {verb} (watermark "
                  f"{run.watermark.isoformat()}): {run.n_intents:,} intents kept, {run.n_dropped:,} dropped "
                  "(no export), "
                  f"{run.n_responses:,} teacher responses, {run.duration_s:.1f}s ({run.params.get('mode', 'full')})")
    console.print("  used: " + ", ".join(f"{TOOL_LABELS[t]} {n:,}" for t, n in run.used.items()))
    if validate:
        try:
            with console.status("great-expectations gate ..."):
                out = validate_groundtruth(s, run.run_id)
            console.print(f"[green]✓[/] GX: {out.n_expectations} expectations passed")
        except ValidationFailed as exc:
            fail(exc, 3)
