"""`flywheel retention`: drop the event partitions past the retention window (docs/domain.md#partitions-and-retention,
flywheel.db.retention)."""

from __future__ import annotations

from pathlib import Path

import typer

from flywheel.cli.common import console
from flywheel.settings import get_settings

app = typer.Typer()


@app.command("retention")
def retention(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would go."),
    export_dir: Path | None = typer.Option(None, "--export-dir", help="Export each partition to Parquet (and a "
                                           "manifest) under DIR first [default: FLYWHEEL_RETENTION_EXPORT_DIR]."),
    days: int | None = typer.Option(None, "--days", min=1, help="The window [default: FLYWHEEL_RETENTION_DAYS]."),
) -> None:
    """Detach and drop the event tables' monthly partitions that ended more than DAYS ago (never a default partition
    nor the current month), each recorded in retention_drops."""
    from flywheel.db.retention import run_retention
    from flywheel.textable import print_table

    r = run_retention(get_settings(), dry_run=dry_run, days=days, export_dir=export_dir)
    if r.days is None:
        console.print("retention is off (FLYWHEEL_RETENTION_DAYS unset, no --days): every event is kept")
        return
    from rich.table import Table

    verb = "would drop" if r.dry_run else "dropped"
    t = Table(title=f"retention {r.days} days: {verb} {len(r.planned)} partition(s) in {r.duration_s:.2f}s")
    for c in ("table", "partition", "range", "rows", "bytes", "export"):
        t.add_column(c, justify="right" if c in ("rows", "bytes") else "left")
    for p in r.as_dict()["partitions"]:
        t.add_row(p["table"], p["partition"], p["range"], f"{p['rows']:,}", f"{p['bytes']:,}", p["export"] or "-")
    print_table(console, t)
    console.print(f"dead letters (failed_events) first seen over {r.days} days ago: {r.dead_letters:,} "
                  f"{'would go' if r.dry_run else 'deleted'}")
