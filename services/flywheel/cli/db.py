"""`flywheel db upgrade / downgrade / current / dictionary / partitions`: the schema (Alembic is the only way it
changes), the analysts' data dictionary generated from it, and the event tables' partitions."""

from __future__ import annotations

import typer

from flywheel.cli.common import console
from flywheel.settings import get_settings

app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("heads")) -> None:
    """Apply migrations up to REVISION (default: heads)."""
    from flywheel.db.migrate import current
    from flywheel.db.migrate import upgrade as _upgrade

    s = get_settings()
    login = _upgrade(s, revision)
    console.print(f"[green]✓[/] database at revision {current(s)}")
    if login.skipped:
        console.print(f"[yellow]![/] analyst login {login.user} not made: {login.skipped}")
    else:
        console.print(f"[green]✓[/] analyst login {login.user} (read-only, schema analytics): `flywheel sql`")


@app.command("downgrade")
def downgrade(revision: str) -> None:
    """Roll the schema back to REVISION."""
    from flywheel.db.migrate import current
    from flywheel.db.migrate import downgrade as _downgrade

    s = get_settings()
    _downgrade(s, revision)
    console.print(f"[yellow]✓[/] database at revision {current(s)}")


@app.command("current")
def current() -> None:
    from flywheel.db.migrate import current as _current

    console.print(_current(get_settings()) or "(empty)")


@app.command("dictionary")
def dictionary() -> None:
    """Print the analytics data dictionary (Markdown) from the views' COMMENT ON: `> docs/analytics.md`."""
    import sys

    from flywheel.db.dictionary import data_dictionary
    from flywheel.db.engine import owned_engine

    with owned_engine(get_settings()) as eng, eng.connect() as conn:
        sys.stdout.write(data_dictionary(conn=conn))


@app.command("partitions")
def partitions(
    ensure: bool = typer.Option(False, "--ensure", help="First create the coming months' partitions (and move rows "
                                "that landed in a default partition), as `db upgrade` and the nightly DAG do."),
) -> None:
    """List the event tables' partitions: table, range, rows (the planner's estimate), size."""
    from datetime import UTC, datetime

    from rich.table import Table

    from flywheel.db.engine import owned_engine
    from flywheel.db.partitions import ensure_partitions, list_partitions
    from flywheel.textable import print_table

    with owned_engine(get_settings()) as eng, eng.begin() as conn:
        if ensure:
            done = ensure_partitions(conn, now=datetime.now(UTC))
            console.print(f"[green]✓[/] created {len(done.created)} partition(s)"
                          + (f"; rows moved from default: {done.moved}" if done.moved else ""))
        parts = list_partitions(conn)
    t = Table(title="event partitions")
    for c in ("table", "partition", "range", "rows (est.)", "size"):
        t.add_column(c, justify="right" if c in ("rows (est.)", "size") else "left")
    for p in parts:
        t.add_row(p.table, p.name, p.range_text(), f"{p.rows:,}", _size(p.bytes))
    print_table(console, t)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB"):
        if size < 1024:
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GB"
