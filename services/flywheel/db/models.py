"""Imports every table module so `Base.metadata` is complete (Alembic's target_metadata)."""

from flywheel.db import (  # noqa: F401
    annotations,
    core,
    datasets,
    erasures,
    events,
    experiments,
    keys,
    registry,
    reports,
    request_spans,
    retention,
)
from flywheel.db.base import Base

metadata = Base.metadata
