"""Reality-check tables (revision 0012): annotation batches and tasks, annotators, and their answers.

A batch is one model's sample of test intents (default 15, as in the paper); each task shows the intent, a photo and
the teacher's and the student's edits of it, and is answered by `per_task` different annotators (default 3; the
unique key on (task, annotator) keeps anyone from answering one task twice). The automatic mimicry scores of the
two renders are stored with the task. `analytics.reality_check` summarises each batch (docs/reality.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Double, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db.base import Base


class AnnotationBatch(Base):
    __tablename__ = "annotation_batches"

    batch_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(64), ForeignKey("models.id", ondelete="CASCADE"), index=True)
    split_id: Mapped[str] = mapped_column(String(64))
    n_tasks: Mapped[int] = mapped_column(Integer)
    per_task: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    seed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AnnotationTask(Base):
    __tablename__ = "annotation_tasks"
    __table_args__ = (UniqueConstraint("batch_id", "position", name="uq_annotation_tasks_position"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("annotation_batches.batch_id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    intent: Mapped[str] = mapped_column(Text)
    photo: Mapped[str] = mapped_column(String(64))
    teacher: Mapped[dict[str, Any]] = mapped_column(JSONB)   # {adjust, selective_adjust, filter}, null = not used
    student: Mapped[dict[str, Any]] = mapped_column(JSONB)
    delta_e: Mapped[float] = mapped_column(Double)            # mean CIEDE2000, teacher's vs student's render
    ssim: Mapped[float] = mapped_column(Double)


class Annotator(Base):
    __tablename__ = "annotators"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64))     # the sign-in token is shown once, only its hash kept
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AnnotationAnswer(Base):
    __tablename__ = "annotation_answers"
    __table_args__ = (UniqueConstraint("task_id", "annotator_id", name="uq_annotation_answers_task_annotator"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("annotation_tasks.id", ondelete="CASCADE"), index=True)
    annotator_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("annotators.id", ondelete="CASCADE"), index=True)
    relevant: Mapped[bool] = mapped_column(Boolean)   # the paper's relevancy: the edit fits the intent
    mimics: Mapped[bool] = mapped_column(Boolean)     # the paper's mimicry: the student's edit looks like the teacher's
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
