"""Tables shared by every stage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from flywheel.db.base import EMPTY_JSON_OBJECT, Base


class PipelineRun(Base):
    """One execution of a pipeline stage (ground truth, split, train, evaluate, ...), for lineage."""

    __tablename__ = "pipeline_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    params: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON_OBJECT)
    message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def record_run(settings: Any, run_id: str, stage: str, params: dict[str, Any], status: str,
               message: str | None = None) -> None:
    """Create or update one stage's lineage row; a non-running status also stamps `finished_at`."""
    from flywheel.db.engine import make_engine

    eng = make_engine(settings)
    try:
        with Session(eng) as s, s.begin():
            run = s.get(PipelineRun, run_id) or PipelineRun(run_id=run_id, stage=stage)
            # JSONB wants plain JSON: dates, paths and similar become strings.
            run.params, run.status, run.message = json.loads(json.dumps(params, default=str)), status, message
            if status != "running":
                run.finished_at = datetime.now(UTC)
            s.add(run)
    finally:
        eng.dispose()
