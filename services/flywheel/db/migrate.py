"""Alembic, driven from code: the only way the schema changes.

The migrations and their alembic.ini ship inside the package (``flywheel/migrations``), so an installed wheel
migrates without a checkout; the repository's own alembic.ini points the `alembic` CLI at the same folder.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from flywheel.settings import MIGRATIONS_DIR, Settings


def alembic_config(db_url: str) -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
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
