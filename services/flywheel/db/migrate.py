"""Alembic, driven from code: the only way the schema changes."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from flywheel.settings import REPO_ROOT, Settings


def alembic_config(db_url: str) -> Config:
    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings, revision: str = "heads") -> None:
    command.upgrade(alembic_config(settings.db_url()), revision)


def upgrade_url(db_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(db_url), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings.db_url()), revision)


def current(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    eng = create_engine(settings.db_url())
    try:
        with eng.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        eng.dispose()
