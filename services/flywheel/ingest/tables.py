"""Which table each event type lands in, and its columns, stated once for both write paths of the sink.

Direct path (the common case): the sink builds each row from the event it already parsed and COPYs it straight into
the event's table. Staged path (a batch that may hold known event_ids): the raw events are COPY'd as jsonb into a
temporary table and fanned out with ``INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING``, then compared by
content hash. Each column below carries its SQL expression over the staged ``doc`` and the same value taken from the
parsed event, so the two paths cannot drift apart (tests/test_ingest_paths.py compares the rows they store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

_json = msgspec.json.Encoder()


def _jsonb(value: Any) -> str | None:
    # JSON null (tool not used) becomes SQL NULL: analysts test `adjust IS NULL`.
    return None if value is None else _json.encode(value).decode()


def _outputs(e: dict[str, Any], key: str) -> str | None:
    out = e.get("outputs")
    return _jsonb(out.get(key)) if isinstance(out, dict) else None


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql: str  # the value from the staged row (`doc` is the event as jsonb)
    value: Callable[[dict[str, Any], str | None], Any]  # the same value from the parsed event and its intent_norm


def _field(name: str, cast: str = "") -> Column:
    return Column(name, f"(doc->>'{name}'){cast}" if cast else f"doc->>'{name}'", lambda e, _n: e.get(name))


# Kafka coordinates and the content hash come from the record, not the event: the sink adds them (see COMMON_COLUMNS).
COMMON = (_field("event_id", "::uuid"), _field("schema_version", "::int"), _field("occurred_at", "::timestamptz"),
          _field("producer"), _field("project_id"))
RECORD_COLUMNS = ("kafka_topic", "kafka_partition", "kafka_offset", "content_hash")

# event_type -> (table, its own columns)
FANOUT: dict[str, tuple[str, tuple[Column, ...]]] = {
    "project_started": ("projects", (_field("user_id"), _field("platform"), _field("app_version"))),
    "intent_submitted": ("intents", (_field("request_id"), _field("intent"),
                                     Column("intent_norm", "intent_norm", lambda _e, n: n))),
    "assistant_responded": ("responses", (
        _field("request_id"), _field("arm"), _field("model_name"), _field("model_version"),
        *(Column(k, f"NULLIF(doc->'outputs'->'{k}', 'null'::jsonb)", lambda e, _n, k=k: _outputs(e, k))
          for k in ("adjust", "selective_adjust", "filter")),
        Column("rationale", "NULLIF(doc->'rationale', 'null'::jsonb)", lambda e, _n: _jsonb(e.get("rationale"))),
        _field("latency_ms", "::float8"))),
    "tool_exported": ("tool_exports", (_field("request_id"), _field("tool"), _field("exported", "::boolean"))),
    "project_exported": ("project_exports", ()),
}

STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS stage_events (
    kafka_topic text, kafka_partition int, kafka_offset bigint, event_type text, intent_norm text, content_hash text,
    doc jsonb
) ON COMMIT DELETE ROWS
"""
STAGE_COPY_SQL = ("COPY stage_events (kafka_topic, kafka_partition, kafka_offset, event_type, intent_norm, "
                  "content_hash, doc) FROM STDIN")


def _columns(etype: str) -> tuple[Column, ...]:
    return COMMON + FANOUT[etype][1]


def _fanout_sql(etype: str) -> str:
    cols = _columns(etype)
    names = ", ".join([c.name for c in cols] + list(RECORD_COLUMNS))
    exprs = ", ".join([c.sql for c in cols] + list(RECORD_COLUMNS))
    return (f"INSERT INTO {FANOUT[etype][0]} ({names}) SELECT {exprs} FROM stage_events "
            f"WHERE event_type = '{etype}' ON CONFLICT (event_id) DO NOTHING")


def _conflict_sql(etype: str) -> str:
    # Rows stored before 0011 have no hash: their redelivery stays a no-op.
    return (f"SELECT s.kafka_topic, s.kafka_partition, s.kafka_offset, t.content_hash, s.content_hash "
            f"FROM stage_events s JOIN {FANOUT[etype][0]} t ON t.event_id = (s.doc->>'event_id')::uuid "
            f"WHERE s.event_type = '{etype}' AND t.content_hash <> s.content_hash")


def _direct_copy_sql(etype: str) -> str:
    names = ", ".join([c.name for c in _columns(etype)] + list(RECORD_COLUMNS))
    return f"COPY {FANOUT[etype][0]} ({names}) FROM STDIN"


FANOUT_SQL = {t: _fanout_sql(t) for t in FANOUT}
CONFLICT_SQL = {t: _conflict_sql(t) for t in FANOUT}
DIRECT_COPY_SQL = {t: _direct_copy_sql(t) for t in FANOUT}
_VALUES = {t: tuple(c.value for c in _columns(t)) for t in FANOUT}


def row_values(etype: str, event: dict[str, Any], intent_norm: str | None) -> tuple[Any, ...]:
    """The event's own columns, in DIRECT_COPY_SQL order (the record columns follow)."""
    return tuple(v(event, intent_norm) for v in _VALUES[etype])
