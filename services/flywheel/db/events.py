"""Normalized event tables (one per event type), written idempotently on event_id by `flywheel ingest`.

Every row keeps its Kafka coordinates (topic/partition/offset) so any row can be traced back to the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, LargeBinary, String, Text, false, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db.base import Base

# Partitioned by month of event time (0024, flywheel.db.partitions): the primary key must hold the partition key.
PARTITIONED = {"postgresql_partition_by": "RANGE (occurred_at)"}


class _EventCols:
    event_id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    producer: Mapped[str] = mapped_column(String(128))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kafka_topic: Mapped[str | None] = mapped_column(String(255))
    kafka_partition: Mapped[int | None] = mapped_column(Integer)
    kafka_offset: Mapped[int | None] = mapped_column(BigInteger)
    # sha256 of the canonical event: a different body under a known event_id is refused, not dropped (0011).
    content_hash: Mapped[str | None] = mapped_column(String(64))


class ProjectStarted(_EventCols, Base):
    __tablename__ = "projects"
    __table_args__ = PARTITIONED
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    app_version: Mapped[str] = mapped_column(String(32))


class IntentSubmitted(_EventCols, Base):
    __tablename__ = "intents"
    # A hash index: a btree refuses keys over ~2.7 kB, and one long intent must not stop ingest (0011).
    __table_args__ = (Index("ix_intents_intent_norm", "intent_norm", postgresql_using="hash"),
                      Index("ix_intents_ingested_at", "ingested_at", postgresql_using="brin"), PARTITIONED)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    intent: Mapped[str] = mapped_column(Text)
    intent_norm: Mapped[str] = mapped_column(Text)
    # Placeholders per kind the assistant's redactor made ({} = none); NULL on events older than it (0022).
    redacted_kinds: Mapped[dict[str, int] | None] = mapped_column(JSONB)


class AssistantResponded(_EventCols, Base):
    __tablename__ = "responses"
    # Incremental ground truth reads what arrived since its last fold (0013); rows arrive in ingested_at order.
    __table_args__ = (Index("ix_responses_ingested_at", "ingested_at", postgresql_using="brin"), PARTITIONED)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    arm: Mapped[str] = mapped_column(String(64), index=True)
    model_name: Mapped[str] = mapped_column(String(255))
    model_version: Mapped[str] = mapped_column(String(128))
    # JSON null (SQL NULL here) = the tool is not used.
    adjust: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    selective_adjust: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    filter: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    rationale: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    latency_ms: Mapped[float] = mapped_column()
    # The backend that served ('teacher' in a student arm: a fallback) and why; NULL on rows stored before 0018.
    served_by: Mapped[str | None] = mapped_column(String(16))
    fallback_reason: Mapped[str | None] = mapped_column(String(200))


class ToolExported(_EventCols, Base):
    __tablename__ = "tool_exports"
    __table_args__ = (Index("ix_tool_exports_request_tool", "request_id", "tool"),
                      Index("ix_tool_exports_ingested_at", "ingested_at", postgresql_using="brin"), PARTITIONED)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(32))
    exported: Mapped[bool] = mapped_column(Boolean)


class ProjectExported(_EventCols, Base):
    __tablename__ = "project_exports"
    __table_args__ = PARTITIONED
    project_id: Mapped[str] = mapped_column(String(64), index=True)


class FailedEvent(Base):
    """An event that could not be accepted. Never dropped: raw bytes, the reason and where it came from."""

    __tablename__ = "failed_events"
    __table_args__ = (
        Index("uq_failed_events_coords", "kafka_topic", "kafka_partition", "kafka_offset", unique=True),
        Index("ix_failed_events_dead_letter_pending", "dead_letter_pending",
              postgresql_where=text("dead_letter_pending")),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kafka_topic: Mapped[str] = mapped_column(String(255))
    kafka_partition: Mapped[int] = mapped_column(Integer)
    kafka_offset: Mapped[int] = mapped_column(BigInteger)
    kafka_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    raw_text: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # True while the broker has not acknowledged the dead-letter copy (`flywheel ingest-resend-dlq` sends it).
    dead_letter_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
