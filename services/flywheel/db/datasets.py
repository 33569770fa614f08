"""Ground-truth runs, their rows, training splits and validation results (revision 0005).

A ground-truth run is keyed by the events watermark it was computed at; splits name the run they came from and,
for derived (augmented) splits, their parent split. Membership rows carry the outputs so a split is self-contained
in the database (derived splits add intents that are not in any ground-truth run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db.base import EMPTY_JSON_ARRAY, EMPTY_JSON_OBJECT, Base


class GroundTruthRun(Base):
    __tablename__ = "groundtruth_runs"
    __table_args__ = (UniqueConstraint("teacher_arm", "arms", "watermark", name="uq_groundtruth_runs_arm_watermark"),)

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    teacher_arm: Mapped[str] = mapped_column(String(64))
    # Whose responses fed it: "teacher" (the teacher arm's only) or "all" (every arm's).
    arms: Mapped[str] = mapped_column(String(16), default="teacher", server_default="teacher")
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON_OBJECT)
    status: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    n_responses: Mapped[int | None] = mapped_column(BigInteger)
    n_intents_seen: Mapped[int | None] = mapped_column(Integer)
    n_intents: Mapped[int | None] = mapped_column(Integer)
    n_dropped: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The run's place in time (0015): its rows are the versions of ``lineage`` valid at ``seq``.
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    lineage: Mapped[str | None] = mapped_column(String(80))


# valid_to of the current version of a pick (bigint max): see GroundTruthPick.
OPEN_VERSION = 9223372036854775807


class GroundTruthPick(Base):
    """One version of an intent's picks in a lineage (0015, docs/domain.md#d21-versioned-ground-truth-rows): per tool
    the chosen output and the evidence behind it, valid for the runs of the lineage whose ``seq`` is in
    [valid_from, valid_to). The view ``groundtruth_rows`` resolves a run's rows, one per intent and tool."""

    __tablename__ = "groundtruth_picks"
    # One open version per intent and lineage, kept by the writers: no index covers valid_to, so closing a version
    # rewrites it in place (0017, fillfactor 75); a night finds an intent's current version as its latest in the
    # primary key.

    lineage: Mapped[str] = mapped_column(String(80), primary_key=True)
    intent_norm: Mapped[str] = mapped_column(Text, primary_key=True)
    valid_from: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    valid_to: Mapped[int] = mapped_column(BigInteger, server_default=str(OPEN_VERSION))
    # False: the intent has no export yet (the zero-export filter drops it from the run's rows).
    kept: Mapped[bool] = mapped_column(Boolean)
    support: Mapped[int] = mapped_column(Integer)  # the intent's showings
    # Per tool: the pick (SQL NULL = not used), its showings and exports, how many candidates, and the rule that
    # decided ("export_rate": an exported used candidate won, or "most_frequent").
    adjust: Mapped[Any] = mapped_column(JSONB, nullable=True)
    adjust_shown: Mapped[int] = mapped_column(Integer)
    adjust_exports: Mapped[int] = mapped_column(Integer)
    adjust_candidates: Mapped[int] = mapped_column(Integer)
    adjust_rule: Mapped[str] = mapped_column(String(16))
    selective_adjust: Mapped[Any] = mapped_column(JSONB, nullable=True)
    selective_adjust_shown: Mapped[int] = mapped_column(Integer)
    selective_adjust_exports: Mapped[int] = mapped_column(Integer)
    selective_adjust_candidates: Mapped[int] = mapped_column(Integer)
    selective_adjust_rule: Mapped[str] = mapped_column(String(16))
    filter: Mapped[Any] = mapped_column(JSONB, nullable=True)
    filter_shown: Mapped[int] = mapped_column(Integer)
    filter_exports: Mapped[int] = mapped_column(Integer)
    filter_candidates: Mapped[int] = mapped_column(Integer)
    filter_rule: Mapped[str] = mapped_column(String(16))


class GroundTruthLineage(Base):
    """Where a lineage of incremental runs stands: the last fold its picks reflect and the run that wrote them."""

    __tablename__ = "groundtruth_lineages"

    lineage: Mapped[str] = mapped_column(String(80), primary_key=True)
    fold_id: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
    # The counts of its open versions (a run's counts, groundtruth_sql.COUNTED), kept up by each run (0017).
    n_intents_seen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    n_intents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    n_responses: Mapped[int] = mapped_column(BigInteger, server_default="0")
    used_adjust: Mapped[int] = mapped_column(BigInteger, server_default="0")
    used_selective_adjust: Mapped[int] = mapped_column(BigInteger, server_default="0")
    used_filter: Mapped[int] = mapped_column(BigInteger, server_default="0")


class GroundTruthCandidate(Base):
    """Incremental ground truth (0013): one (intent_norm, tool, output, arm) over every folded response.

    ``output`` is JSON null for "tool not used"; ``key`` = md5 of the four
    (docs/domain.md#d20-incremental-ground-truth).
    """

    __tablename__ = "groundtruth_candidates"
    # The hash index finds a candidate by key with half the page reads of the primary key (a fold's lookups, 0017).
    __table_args__ = (Index("ix_groundtruth_candidates_intent_norm", "intent_norm"),
                      Index("ix_groundtruth_candidates_key_hash", "key", postgresql_using="hash"))

    key: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    intent_norm: Mapped[str] = mapped_column(Text)
    tool: Mapped[str] = mapped_column(String(32))
    arm: Mapped[str] = mapped_column(String(64))
    output: Mapped[Any] = mapped_column(JSONB)
    shown: Mapped[int] = mapped_column(BigInteger)
    exports: Mapped[int] = mapped_column(BigInteger)
    last_shown: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GroundTruthFoldIntent(Base):
    """An intent whose candidates of an arm a fold changed: a lineage re-picks those changed since its last fold."""

    __tablename__ = "groundtruth_fold_intents"

    fold_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    arm: Mapped[str] = mapped_column(String(64), primary_key=True)
    intent_norm: Mapped[str] = mapped_column(Text, primary_key=True)


class GroundTruthFold(Base):
    """One fold of the events ingested since the previous one; the newest watermark is where the next starts."""

    __tablename__ = "groundtruth_folds"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    n_requests: Mapped[int] = mapped_column(BigInteger)
    n_responses: Mapped[int] = mapped_column(BigInteger)
    n_candidates: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[float] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Split(Base):
    __tablename__ = "splits"

    split_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_split_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("splits.split_id"), index=True)
    groundtruth_run_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("groundtruth_runs.run_id"), index=True)
    seed: Mapped[int | None] = mapped_column(Integer)
    test_size: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON_OBJECT)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON_OBJECT)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SplitMember(Base):
    __tablename__ = "split_members"
    __table_args__ = (Index("ix_split_members_split_part", "split_id", "part"),)

    split_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("splits.split_id", ondelete="CASCADE"), primary_key=True)
    intent: Mapped[str] = mapped_column(Text, primary_key=True)
    part: Mapped[str] = mapped_column(String(8), primary_key=True)  # 'train' | 'test'
    adjust: Mapped[Any] = mapped_column(JSONB, nullable=True)
    selective_adjust: Mapped[Any] = mapped_column(JSONB, nullable=True)
    filter: Mapped[Any] = mapped_column(JSONB, nullable=True)
    support: Mapped[int] = mapped_column(Integer, default=0)


class ValidationResult(Base):
    __tablename__ = "validation_results"
    __table_args__ = (Index("ix_validation_results_target", "target_kind", "target_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    target_kind: Mapped[str] = mapped_column(String(16))  # 'groundtruth' | 'split'
    target_id: Mapped[str] = mapped_column(String(64))
    suite: Mapped[str] = mapped_column(String(128))
    success: Mapped[bool] = mapped_column(Boolean)
    n_expectations: Mapped[int] = mapped_column(Integer)
    n_failed: Mapped[int] = mapped_column(Integer)
    report: Mapped[str] = mapped_column(Text)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default=EMPTY_JSON_ARRAY)
    gx_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
