"""Imports every table module so `Base.metadata` is complete (Alembic's target_metadata)."""

from flywheel.db import annotations, core, datasets, events, experiments, keys, registry, reports  # noqa: F401
from flywheel.db.base import Base

metadata = Base.metadata
