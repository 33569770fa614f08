from __future__ import annotations

from sqlalchemy import Engine, create_engine

from flywheel.settings import Settings


def make_engine(settings: Settings, **kw: object) -> Engine:
    return create_engine(settings.db_url(), pool_pre_ping=True, future=True, **kw)  # type: ignore[arg-type]
