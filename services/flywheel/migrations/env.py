from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from flywheel.db.migrate import COMPARE_OPTIONS
from flywheel.db.models import metadata
from flywheel.settings import get_settings

config = context.config
# The checkout's alembic.ini (for the `alembic` CLI) has no logging sections; the packaged one does.
if (config.config_file_name is not None and config.attributes.get("configure_logger", True)
        and config.file_config.has_section("loggers")):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


# flywheel.db.migrate.check can compare against another metadata (the drift test proves the check can fail).
target_metadata = config.attributes.get("target_metadata", metadata)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().db_url()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, **COMPARE_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **COMPARE_OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
