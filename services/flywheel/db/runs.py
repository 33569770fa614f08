"""The one writer of ``pipeline_runs``: every stage records its run here (inputs, outputs, status, timing, and the
Airflow run id when an Airflow task started it); ``analytics.pipeline_runs`` is the operator's view of it.

Stage names: groundtruth, split, augment, train, evaluate, promote, report (plus experiment.* for experiments).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from flywheel.db.core import PipelineRun

STAGES = ("groundtruth", "split", "augment", "train", "evaluate", "promote", "report")


def _plain(obj: dict[str, Any] | None) -> dict[str, Any]:
    # JSONB wants plain JSON: dates, paths and similar become strings.
    return json.loads(json.dumps(obj or {}, default=str))


def new_run_id(stage: str) -> str:
    return f"{stage}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


def record_run(session: Session, *, run_id: str, stage: str, status: str, inputs: dict[str, Any] | None = None,
               outputs: dict[str, Any] | None = None, message: str | None = None,
               airflow_run_id: str | None = None) -> None:
    """Create or update one run's row (the caller commits); a non-running status also stamps ``finished_at``.

    On update, ``inputs``/``outputs``/``airflow_run_id`` given as None keep their stored values."""
    values: dict[str, Any] = {"run_id": run_id, "stage": stage, "status": status, "message": message,
                              "inputs": _plain(inputs), "outputs": _plain(outputs), "airflow_run_id": airflow_run_id,
                              "finished_at": None if status == "running" else datetime.now(UTC)}
    stmt = insert(PipelineRun).values(values)
    update: dict[str, Any] = {"stage": stage, "status": status, "message": message,
                              "finished_at": stmt.excluded.finished_at}
    for key, given in (("inputs", inputs), ("outputs", outputs), ("airflow_run_id", airflow_run_id)):
        if given is not None:
            update[key] = stmt.excluded[key]
    session.execute(stmt.on_conflict_do_update(index_elements=[PipelineRun.run_id], set_=update))


@contextmanager
def track_run(engine: Engine, *, stage: str, run_id: str | None = None, inputs: dict[str, Any] | None = None,
              airflow_run_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Record a stage run around a block: 'running' first, then 'succeeded' with the outputs the block put in the
    yielded dict, or 'failed' with the error's message (the error propagates). Each write is its own transaction,
    so the row survives a failing block."""
    run_id = run_id or new_run_id(stage)
    with Session(engine) as s, s.begin():
        record_run(s, run_id=run_id, stage=stage, status="running", inputs=inputs, airflow_run_id=airflow_run_id)
    outputs: dict[str, Any] = {}
    try:
        yield outputs
    except BaseException as e:
        with Session(engine) as s, s.begin():
            record_run(s, run_id=run_id, stage=stage, status="failed", outputs=outputs,
                       message=f"{type(e).__name__}: {e}"[:4000])
        raise
    with Session(engine) as s, s.begin():
        record_run(s, run_id=run_id, stage=stage, status="succeeded", outputs=outputs)
