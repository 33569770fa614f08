"""The one writer of ``pipeline_runs``: every stage records its run here (inputs, outputs, status, timing, and, when
an Airflow task started it, the DAG, the DAG run, the task and its try); ``analytics.pipeline_runs`` and
``analytics.dag_run_tasks`` are the operator's views of it.

Stage names: groundtruth, validate (a GX gate), split, augment, plan, train, evaluate, promote, reality_check, report
(plus experiment.* for experiments).

Which Airflow task a record belongs to comes from the environment Airflow gives the process that runs a task
(``AIRFLOW_CTX_DAG_ID``, ``AIRFLOW_CTX_DAG_RUN_ID``, ``AIRFLOW_CTX_TASK_ID``, ``AIRFLOW_CTX_TRY_NUMBER``; Airflow sets
them before the task runs, and processes the task starts inherit them). So a stage that another stage runs inside an
Airflow task (the production model's evaluation inside ``promote``, a training in an ``accelerate`` child process) is
recorded with that task too, without every stage library passing the ids down; nothing here imports Airflow.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from flywheel.db.core import PipelineRun

STAGES = ("groundtruth", "validate", "split", "augment", "plan", "train", "evaluate", "promote", "reality_check",
          "report")
STATUSES = ("running", "succeeded", "failed", "skipped")


@dataclass(frozen=True)
class AirflowTask:
    """The Airflow task instance a process runs for (as Airflow exports it into the task's environment)."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int | None


def airflow_task(environ: Mapping[str, str] | None = None) -> AirflowTask | None:
    """The Airflow task this process runs for, or None outside Airflow."""
    env = os.environ if environ is None else environ
    dag_id, run_id, task_id = (env.get(f"AIRFLOW_CTX_{k}") for k in ("DAG_ID", "DAG_RUN_ID", "TASK_ID"))
    if not (dag_id and run_id and task_id):
        return None
    try_number = env.get("AIRFLOW_CTX_TRY_NUMBER", "")
    return AirflowTask(dag_id, run_id, task_id, int(try_number) if try_number.isdigit() else None)


def _plain(obj: dict[str, Any] | None) -> dict[str, Any]:
    # JSONB wants plain JSON: dates, paths and similar become strings.
    return json.loads(json.dumps(obj or {}, default=str))


def new_run_id(stage: str) -> str:
    return f"{stage}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


def _task_of(airflow_run_id: str | None) -> tuple[str | None, AirflowTask | None]:
    """The Airflow run id to record and the task it belongs to: the caller's run id wins; the environment's task is
    taken when it is of that run (or the caller named none: a stage run inside an Airflow task)."""
    task = airflow_task()
    if task is None or (airflow_run_id is not None and airflow_run_id != task.run_id):
        return airflow_run_id, None
    return task.run_id, task


def record_run(session: Session, *, run_id: str, stage: str, status: str, inputs: dict[str, Any] | None = None,
               outputs: dict[str, Any] | None = None, message: str | None = None,
               airflow_run_id: str | None = None, task: AirflowTask | None = None) -> None:
    """Create or update one run's row (the caller commits); a non-running status also stamps ``finished_at``.

    On update, ``inputs``/``outputs``/``airflow_run_id``/``task`` given as None keep their stored values."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    values: dict[str, Any] = {"run_id": run_id, "stage": stage, "status": status, "message": message,
                              "inputs": _plain(inputs), "outputs": _plain(outputs), "airflow_run_id": airflow_run_id,
                              "dag_id": task.dag_id if task else None, "task_id": task.task_id if task else None,
                              "try_number": task.try_number if task else None,
                              "finished_at": None if status == "running" else datetime.now(UTC)}
    stmt = insert(PipelineRun).values(values)
    update: dict[str, Any] = {"stage": stage, "status": status, "message": message,
                              "finished_at": stmt.excluded.finished_at}
    for keys, given in ((("inputs",), inputs), (("outputs",), outputs), (("airflow_run_id",), airflow_run_id),
                        (("dag_id", "task_id", "try_number"), task)):
        if given is not None:
            update.update({k: stmt.excluded[k] for k in keys})
    session.execute(stmt.on_conflict_do_update(index_elements=[PipelineRun.run_id], set_=update))


@contextmanager
def track_run(engine: Engine, *, stage: str, run_id: str | None = None, inputs: dict[str, Any] | None = None,
              airflow_run_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Record a stage run around a block: 'running' first, then 'succeeded' with the outputs the block put in the
    yielded dict, or 'failed' with the error's message (the error propagates). Each write is its own transaction,
    so the row survives a failing block. Inside an Airflow task the row names the DAG, the run, the task and its
    try (see the module's docstring)."""
    run_id = run_id or new_run_id(stage)
    airflow_run_id, task = _task_of(airflow_run_id)
    with Session(engine) as s, s.begin():
        record_run(s, run_id=run_id, stage=stage, status="running", inputs=inputs, airflow_run_id=airflow_run_id,
                   task=task)
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


def record_outcome(engine: Engine, *, stage: str, status: str, message: str, inputs: dict[str, Any] | None = None,
                   outputs: dict[str, Any] | None = None, airflow_run_id: str | None = None) -> str:
    """Record a stage that ended before its stage function ran: 'skipped' (nothing to do) or 'failed' (refused, e.g.
    a parameter this data cannot take), with the reason as its message. A DAG run's records then show every task,
    the ones that did nothing included. Returns the record's run id."""
    if status not in ("skipped", "failed"):
        raise ValueError(f"an outcome is skipped or failed, got {status!r}")
    run_id = new_run_id(stage)
    airflow_run_id, task = _task_of(airflow_run_id)
    with Session(engine) as s, s.begin():
        record_run(s, run_id=run_id, stage=stage, status=status, inputs=inputs, outputs=outputs, message=message,
                   airflow_run_id=airflow_run_id, task=task)
    return run_id
