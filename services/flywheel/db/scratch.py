"""Scratch databases for benchmarks: on the same server as the real one, created fresh and dropped after, so a
benchmark never writes into the tables analysts and the nightly run read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from flywheel.settings import Settings


def admin(settings: Settings, sql: str, params: dict[str, Any] | None = None) -> Any:
    """Run one statement outside a transaction in the server's `postgres` database (CREATE/DROP DATABASE, catalog
    lookups); returns its first row, if it has rows."""
    eng = create_engine(make_url(settings.db_url()).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            result = conn.execute(text(sql), params or {})
            return result.first() if result.returns_rows else None
    finally:
        eng.dispose()


def exists(settings: Settings, name: str) -> bool:
    return admin(settings, "SELECT 1 FROM pg_database WHERE datname = :n", {"n": name}) is not None


def scratch_settings(settings: Settings, name: str, **update: Any) -> Settings:
    """The same settings pointed at database `name` on the same server."""
    url = make_url(settings.db_url()).set(database=name)
    return settings.model_copy(update={"database_url": url.render_as_string(hide_password=False),
                                       "pg_database": name, **update})


def recreate(settings: Settings, name: str) -> None:
    """Drop database `name` if it exists (closing its sessions) and create it empty."""
    drop(settings, name)
    admin(settings, f'CREATE DATABASE "{name}"')


def drop(settings: Settings, name: str) -> None:
    admin(settings, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
