"""Prepare a model's reality-check batch: sample test intents of its split, predict the student's edits, render the
teacher's and the student's edit on a photo, store the tasks with their automatic mimicry scores."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from flywheel.annotate import store
from flywheel.contracts import TOOLS
from flywheel.db.annotations import AnnotationBatch
from flywheel.db.engine import owned_engine
from flywheel.db.runs import track_run
from flywheel.errors import NotFound
from flywheel.render import photos
from flywheel.render.scores import mimicry
from flywheel.settings import Settings

log = logging.getLogger(__name__)

# Photos an edit reads well on (the night sky of hubble_deep_field shows colour edits poorly).
TASK_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
TASK_PHOTO_SIDE = 512          # renders are scored and shown at this size
Predict = Callable[[list[str]], list[dict[str, Any]]]


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    model_id: str
    n_tasks: int
    per_task: int
    created: bool   # False: the batch existed already (a retried task does not make a second one)


def batch_id_for(model_id: str, seed: int) -> str:
    return f"rc-{model_id}-s{seed}"


def photo_for(intent: str, seed: int) -> str:
    digest = hashlib.sha256(f"{seed}:{intent}".encode()).digest()
    return TASK_PHOTOS[digest[0] % len(TASK_PHOTOS)]


def sample_test_rows(engine: Engine, *, split_id: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` test intents of the split with the teacher's (ground-truth) outputs, in a seeded hash order."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT intent, adjust, selective_adjust, filter FROM split_members"
            " WHERE split_id = :s AND part = 'test' ORDER BY md5(:seed || intent), intent LIMIT :n"),
            {"s": split_id, "seed": str(seed), "n": n}).mappings().all()
    return [{"intent": r["intent"], "teacher": {t: r[t] for t in TOOLS}} for r in rows]


def _model_predict(model_path: str) -> Predict:
    from flywheel.inference.predictor import load_predictor

    return load_predictor(model_path, batch_size=32).predict


def _tasks(rows: list[dict[str, Any]], student: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    tasks = []
    for row, pred in zip(rows, student, strict=True):
        photo = photo_for(row["intent"], seed)
        pred = {t: pred.get(t) for t in TOOLS}
        scores = mimicry(photos.load(photo, max_side=TASK_PHOTO_SIDE), teacher=row["teacher"], student=pred)
        tasks.append({"intent": row["intent"], "photo": photo, "teacher": row["teacher"], "student": pred,
                      "delta_e": scores.delta_e, "ssim": scores.ssim})
    return tasks


def prepare_batch(settings: Settings, *, model_id: str, n_tasks: int = 15, per_task: int = 3, seed: int = 0,
                  predict: Predict | None = None, engine: Engine | None = None,
                  airflow_run_id: str | None = None) -> BatchResult:
    """The model's batch (made once per model and seed). `predict` replaces the model's own predictor (tests)."""
    batch_id = batch_id_for(model_id, seed)
    with owned_engine(settings, engine) as eng:
        with Session(eng) as s:
            existing = s.get(AnnotationBatch, batch_id)
            model = s.execute(text("SELECT split_id, path FROM models WHERE id = :m"), {"m": model_id}).first()
        if existing is not None:
            return BatchResult(batch_id, model_id, existing.n_tasks, existing.per_task, created=False)
        if model is None:
            raise NotFound(f"no model {model_id!r} in the registry")
        inputs = {"model_id": model_id, "split_id": model.split_id, "n_tasks": n_tasks, "per_task": per_task,
                  "seed": seed}
        with track_run(eng, stage="reality_check", inputs=inputs, airflow_run_id=airflow_run_id) as out:
            rows = sample_test_rows(eng, split_id=model.split_id, n=n_tasks, seed=seed)
            if not rows:
                raise NotFound(f"split {model.split_id!r} has no test intents to sample")
            student = (predict or _model_predict(model.path))([r["intent"] for r in rows])
            tasks = _tasks(rows, student, seed)
            with Session(eng) as s, s.begin():
                store.insert_batch(s, batch_id=batch_id, model_id=model_id, split_id=model.split_id,
                                   per_task=per_task, seed=seed, tasks=tasks)
            out.update(batch_id=batch_id, n_tasks=len(tasks))
    log.info("reality-check batch %s: %d tasks x %d annotators", batch_id, len(tasks), per_task)
    return BatchResult(batch_id, model_id, len(tasks), per_task, created=True)
