"""`flywheel db upgrade / downgrade / current / dictionary`: the schema (Alembic is the only way it changes) and the
analysts' data dictionary generated from it."""

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
