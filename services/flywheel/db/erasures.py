"""The erasure record (revision 0023, docs/domain.md#erasure): one row per user erased by `flywheel erase`.

It holds no personal data: the user id only as a salted SHA-256 (so an operator can answer "was this user erased?"
given the id, and nobody can read the id back from the table without guessing it), what was deleted (counts), and what
was derived from the user's evidence: the ground-truth runs made stale, the splits that held their intents (and
those now unusable), the models trained on those splits and the reality-check batches that showed their intents, so
an operator can decide to retrain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Double, Identity, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db.base import EMPTY_JSON_ARRAY, EMPTY_JSON_OBJECT, Base


class Erasure(Base):
    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_sha256: Mapped[str] = mapped_column(String(64), index=True)  # sha256(salt || user id), hex
    salt: Mapped[str] = mapped_column(String(32))  # random per erasure (hex); not a secret
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    duration_s: Mapped[float] = mapped_column(Double)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_JSON_OBJECT)  # rows deleted per table
    groundtruth_runs: Mapped[list[str]] = mapped_column(JSONB, server_default=EMPTY_JSON_ARRAY)  # made stale
    splits: Mapped[list[str]] = mapped_column(JSONB, server_default=EMPTY_JSON_ARRAY)  # held the user's intents
    unusable_splits: Mapped[list[str]] = mapped_column(JSONB, server_default=EMPTY_JSON_ARRAY)  # lost an intent
    models: Mapped[list[str]] = mapped_column(JSONB, server_default=EMPTY_JSON_ARRAY)  # trained on those splits
    annotation_batches: Mapped[list[str]] = mapped_column(JSONB, server_default=EMPTY_JSON_ARRAY)  # lost a task
