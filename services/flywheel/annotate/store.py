"""Data functions of the reality check: annotators, batches, task assignment and answers.

The caller owns the session and the transaction (flywheel/db/__init__.py). Assignment is the same for people in the
browser and for simulated annotators: the oldest batch first, within it the task closest to done, never a task the
annotator already answered, never more than the batch's `per_task` answers on one task.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flywheel.db.annotations import AnnotationAnswer, AnnotationBatch, AnnotationTask, Annotator
from flywheel.errors import NotFound, UsageError


class AnswerRefused(UsageError):
    """The task already has its answers, or this annotator answered it before."""


@dataclass(frozen=True)
class TaskView:
    task_id: int
    batch_id: str
    model_id: str
    position: int
    intent: str
    photo: str
    teacher: dict[str, Any]
    student: dict[str, Any]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_annotator(session: Session, *, name: str, token: str | None = None) -> str:
    """Register an annotator; returns the sign-in token (only its hash is stored)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise UsageError("an annotator name has 1 to 64 characters")
    token = token or secrets.token_urlsafe(12)
    if session.scalar(select(Annotator.id).where(Annotator.name == name)) is not None:
        raise UsageError(f"annotator {name!r} exists already")
    session.add(Annotator(name=name, token_sha256=_hash(token)))
    session.flush()
    return token


def authenticate(session: Session, *, name: str, token: str) -> int | None:
    """The annotator's id when the name and token match, else None (compared in constant time)."""
    row = session.execute(select(Annotator.id, Annotator.token_sha256).where(Annotator.name == name.strip())).first()
    if row is None:
        hmac.compare_digest(_hash(token), _hash(""))   # same work whether or not the name exists
        return None
    return row.id if hmac.compare_digest(_hash(token), row.token_sha256) else None


def annotator_name(session: Session, *, annotator_id: int) -> str | None:
    return session.scalar(select(Annotator.name).where(Annotator.id == annotator_id))


def insert_batch(session: Session, *, batch_id: str, model_id: str, split_id: str, per_task: int, seed: int,
                 tasks: list[dict[str, Any]]) -> None:
    """One batch and its tasks (`intent`, `photo`, `teacher`, `student`, `delta_e`, `ssim` each)."""
    if per_task < 1:
        raise UsageError("per_task must be at least 1")
    session.add(AnnotationBatch(batch_id=batch_id, model_id=model_id, split_id=split_id, n_tasks=len(tasks),
                                per_task=per_task, seed=seed))
    session.flush()
    session.add_all([AnnotationTask(batch_id=batch_id, position=i, **t) for i, t in enumerate(tasks)])


_NEXT = text("""
SELECT t.id FROM annotation_tasks t
JOIN annotation_batches b ON b.batch_id = t.batch_id
LEFT JOIN annotation_answers a ON a.task_id = t.id
WHERE (CAST(:batch AS text) IS NULL OR t.batch_id = :batch)
  AND NOT EXISTS (SELECT 1 FROM annotation_answers x WHERE x.task_id = t.id AND x.annotator_id = :annotator)
GROUP BY t.id, b.per_task, b.created_at, b.batch_id, t.position
HAVING count(a.id) < b.per_task
ORDER BY b.created_at, b.batch_id, count(a.id) DESC, t.position
LIMIT 1
""")


def next_task(session: Session, *, annotator_id: int, batch_id: str | None = None) -> TaskView | None:
    """The task this annotator should answer next, or None when nothing is left for them."""
    task_id = session.scalar(_NEXT, {"annotator": annotator_id, "batch": batch_id})
    return None if task_id is None else get_task(session, task_id=task_id)


def get_task(session: Session, *, task_id: int) -> TaskView:
    row = session.execute(select(AnnotationTask, AnnotationBatch.model_id)
                          .join(AnnotationBatch, AnnotationBatch.batch_id == AnnotationTask.batch_id)
                          .where(AnnotationTask.id == task_id)).first()
    if row is None:
        raise NotFound(f"no annotation task {task_id}")
    t = row[0]
    return TaskView(task_id=t.id, batch_id=t.batch_id, model_id=row[1], position=t.position, intent=t.intent,
                    photo=t.photo, teacher=t.teacher, student=t.student)


def submit_answer(session: Session, *, task_id: int, annotator_id: int, relevant: bool, mimics: bool) -> None:
    """Store one answer. The task row is locked so two annotators cannot both take its last place."""
    per_task = session.scalar(select(AnnotationBatch.per_task).join(
        AnnotationTask, AnnotationTask.batch_id == AnnotationBatch.batch_id)
        .where(AnnotationTask.id == task_id).with_for_update(of=AnnotationTask))
    if per_task is None:
        raise NotFound(f"no annotation task {task_id}")
    answered = session.scalar(select(func.count()).where(AnnotationAnswer.task_id == task_id)) or 0
    if answered >= per_task:
        raise AnswerRefused(f"task {task_id} already has its {per_task} answers")
    try:
        with session.begin_nested():
            session.add(AnnotationAnswer(task_id=task_id, annotator_id=annotator_id, relevant=relevant,
                                         mimics=mimics))
    except IntegrityError as e:
        raise AnswerRefused(f"task {task_id} was answered by this annotator already") from e


def answered_by(session: Session, *, annotator_id: int) -> int:
    return session.scalar(select(func.count()).where(AnnotationAnswer.annotator_id == annotator_id)) or 0


def batch_answers(session: Session, *, batch_id: str) -> list[dict[str, Any]]:
    """Every task of the batch with its scores and its answers (a list of (relevant, mimics) pairs)."""
    tasks = session.scalars(select(AnnotationTask).where(AnnotationTask.batch_id == batch_id)
                            .order_by(AnnotationTask.position)).all()
    votes: dict[int, list[tuple[bool, bool]]] = {t.id: [] for t in tasks}
    for task_id, rel, mim in session.execute(
            select(AnnotationAnswer.task_id, AnnotationAnswer.relevant, AnnotationAnswer.mimics)
            .join(AnnotationTask, AnnotationTask.id == AnnotationAnswer.task_id)
            .where(AnnotationTask.batch_id == batch_id).order_by(AnnotationAnswer.id)):
        votes[task_id].append((rel, mim))
    return [{"task_id": t.id, "intent": t.intent, "delta_e": t.delta_e, "ssim": t.ssim, "votes": votes[t.id]}
            for t in tasks]


def latest_batch(session: Session, *, model_id: str) -> AnnotationBatch | None:
    return session.scalars(select(AnnotationBatch).where(AnnotationBatch.model_id == model_id)
                           .order_by(AnnotationBatch.created_at.desc()).limit(1)).first()


def get_batch(session: Session, *, batch_id: str) -> AnnotationBatch:
    b = session.get(AnnotationBatch, batch_id)
    if b is None:
        raise NotFound(f"no annotation batch {batch_id!r}")
    return b
