"""`flywheel groundtruth` (export-rate ground truth as a versioned run) and `flywheel truthcheck` (its check against
the simulator's hidden truth)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from flywheel.cli.common import console, fail
from flywheel.datasets.tables import TOOL_LABELS
from flywheel.settings import get_settings
from flywheel.textable import print_table

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


@app.command("truthcheck")
def truthcheck(
    truth: Path = typer.Option(..., "--truth", help="The simulator's truth-seed{S}.jsonl."),
    run: str = typer.Option(None, "--run", help="Ground-truth run id (default: the latest)."),
    min_exposures: int = typer.Option(5, help="Only intents with at least this many teacher responses."),
) -> None:
    """How often the ground truth is the teacher candidate closest to the simulator's latent ideal."""
    from flywheel.checks.truthcheck import truthcheck as _truthcheck

    try:
        res = _truthcheck(get_settings(), truth, run, min_exposures=min_exposures)
    except (FileNotFoundError, ValueError, LookupError) as exc:
        fail(exc)
    t = Table(title=f"Ground truth vs hidden truth — run {res.run_id}, intents with >= {min_exposures} exposures")
    for c in ("tool", "rows", "closest", "rate"):
        t.add_column(c, justify="right" if c != "tool" else "left")
    for tool, v in res.per_tool.items():
        t.add_row(TOOL_LABELS[tool], f"{v['n']:,}", f"{v['hits']:,}", f"{v['rate']:.1%}")
    t.add_row("[bold]all[/]", f"{res.n:,}", f"{res.hits:,}", f"[bold]{res.rate:.1%}[/]")
    t.add_row("contested (>= 2 candidates)", f"{res.contested['n']:,}", f"{res.contested['hits']:,}",
              f"{res.contested['rate']:.1%}")
    print_table(console, t)
    console.print(f"  within {res.tolerance} of the closest: {res.near_rate:.1%}; misses where the ideal is null "
                  f"but an exported used candidate won: {res.null_ideal_misses}; intents missing from the truth "
                  f"file: {res.missing_truth}")
    mark = "[green]✓[/]" if res.rate >= 0.95 else "[yellow]![/]"
    console.print(f"{mark} goal >= 95%: {res.rate:.1%}")
