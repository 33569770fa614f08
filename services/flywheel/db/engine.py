from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine

from flywheel.settings import Settings


def make_engine(settings: Settings, **kw: object) -> Engine:
    return create_engine(settings.db_url(), pool_pre_ping=True, future=True, **kw)  # type: ignore[arg-type]


@contextmanager
def owned_engine(settings: Settings, engine: Engine | None = None) -> Iterator[Engine]:
    """The caller's engine if it passed one (left open), else one engine for this unit of work (disposed after).

    Entry points that callers reach with settings only (CLI, DAG tasks) use this once per call; everything below
    them takes the engine or session as an argument."""
    if engine is not None:
        yield engine
        return
    eng = make_engine(settings)
    try:
        yield eng
    finally:
        eng.dispose()
