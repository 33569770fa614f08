"""Event envelope (docs/domain.md#events): event_id, event_type, schema_version, occurred_at, producer + the payload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

EVENT_TYPES: tuple[str, ...] = (
    "project_started", "intent_submitted", "assistant_responded", "tool_exported", "project_exported",
)


def rfc3339(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware (UTC)")
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_event(event_type: str, producer: str, *, occurred_at: datetime | None = None,
               event_id: str | None = None, schema_version: int = 1, **payload: Any) -> dict[str, Any]:
    """Build one event. `project_id` is required in the payload: it is the Kafka key."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event_type {event_type!r}; expected one of {EVENT_TYPES}")
    if "project_id" not in payload:
        raise ValueError("every event carries project_id (the Kafka key)")
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": schema_version,
        "occurred_at": rfc3339(occurred_at or datetime.now(UTC)),
        "producer": producer,
        **payload,
    }
