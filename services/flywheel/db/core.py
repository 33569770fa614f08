"""Tables shared by every stage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db.base import EMPTY_JSON_OBJECT, Base


class PipelineRun(Base):
    """One execution of a pipeline stage (ground truth, split, train, evaluate, ...), for lineage.

    Written only through :mod:`flywheel.db.runs`."""

    __tablename__ = "pipeline_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON_OBJECT)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON_OBJECT)
    message: Mapped[str | None] = mapped_column(Text)
    airflow_run_id: Mapped[str | None] = mapped_column(String(250), index=True)
    # The Airflow task that ran it (0020): the DAG, the task and its try, from the task's environment.
    dag_id: Mapped[str | None] = mapped_column(String(250))
    task_id: Mapped[str | None] = mapped_column(String(250))
    try_number: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
