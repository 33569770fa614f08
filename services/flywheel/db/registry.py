"""Model registry tables (revision 0006): trained models, their evaluations and every promotion decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db.base import EMPTY_JSON_OBJECT, Base

MODEL_STATUSES = ("candidate", "production", "retired")


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (
        CheckConstraint("status IN ('candidate', 'production', 'retired')", name="status"),
        # At most one production model, enforced by the database (promotions race-free).
        Index("uq_models_one_production", "status", unique=True, postgresql_where=text("status = 'production'")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    backend: Mapped[str] = mapped_column(String(16))
    base: Mapped[str] = mapped_column(Text)
    split_id: Mapped[str] = mapped_column(String(64), index=True)
    groundtruth_run_id: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON_OBJECT)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON_OBJECT)
    status: Mapped[str] = mapped_column(String(16), default="candidate", server_default="candidate", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    training_seconds: Mapped[float | None] = mapped_column(Double)


class Evaluation(Base):
    """One row per (model, split, subset, tool); `overall` and `invalid_rate` are the subset's (repeated per tool)."""

    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("model_id", "split_id", "subset", "tool", name="uq_evaluations_key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(64), ForeignKey("models.id", ondelete="CASCADE"), index=True)
    split_id: Mapped[str] = mapped_column(String(64))
    subset: Mapped[str] = mapped_column(String(16))
    tool: Mapped[str] = mapped_column(String(32))
    precision: Mapped[float] = mapped_column(Double)
    recall: Mapped[float] = mapped_column(Double)
    f1: Mapped[float] = mapped_column(Double)
    quality: Mapped[float] = mapped_column(Double)
    final: Mapped[float] = mapped_column(Double)
    overall: Mapped[float] = mapped_column(Double)
    invalid_rate: Mapped[float] = mapped_column(Double)
    n: Mapped[int] = mapped_column(Integer)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PromotionDecision(Base):
    __tablename__ = "promotion_decisions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(64), ForeignKey("models.id", ondelete="CASCADE"), index=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    promoted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    split_id: Mapped[str | None] = mapped_column(String(64))
    candidate_overall: Mapped[float | None] = mapped_column(Double)
    production_model_id: Mapped[str | None] = mapped_column(String(64))
    production_overall: Mapped[float | None] = mapped_column(Double)
