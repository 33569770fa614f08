"""Which table each event type lands in, and its columns, stated once for both write paths of the sink.

Direct path (the common case): the sink builds each row from the event it already parsed and COPYs it straight into
the event's table. Staged path (a batch that may hold known event_ids): the raw events are COPY'd as jsonb into a
temporary table and fanned out with ``INSERT ... SELECT ... ON CONFLICT (event_id, occurred_at) DO NOTHING`` (the
primary key holds the partition key, 0024), one row per event_id and none whose event_id is stored in any partition,
then compared by content hash. Each column below carries its SQL expression over the staged ``doc`` and the same
value taken from the parsed event, so the two paths cannot drift apart (tests/test_ingest_paths.py compares the rows
they store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
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
    """A column computed from the event (and its normalized intent), as SQL over the staged `doc` and in Python."""

    name: str
    sql: str
    value: Callable[[dict[str, Any], str | None], Any]


@dataclass(frozen=True, slots=True)
class Target:
    table: str
    fields: tuple[str, ...]  # top-level event fields stored as they are (every schema version requires them)
    computed: tuple[Column, ...] = ()


# Kafka coordinates and the content hash come from the record, not the event: the sink appends them.
COMMON_FIELDS = ("event_id", "schema_version", "occurred_at", "producer", "project_id")
RECORD_COLUMNS = ("kafka_topic", "kafka_partition", "kafka_offset", "content_hash")
_CASTS = {"event_id": "uuid", "schema_version": "int", "occurred_at": "timestamptz", "latency_ms": "float8",
          "exported": "boolean"}


def _tool(key: str) -> Column:
    return Column(key, f"NULLIF(doc->'outputs'->'{key}', 'null'::jsonb)", lambda e, _n: _outputs(e, key))


def _optional_text(key: str) -> Column:
    # A field later events carry and earlier ones lack: absent and JSON null are both SQL NULL.
    return Column(key, f"doc->>'{key}'", lambda e, _n: e.get(key))


FANOUT: dict[str, Target] = {
    "project_started": Target("projects", ("user_id", "platform", "app_version")),
    "intent_submitted": Target("intents", ("request_id", "intent"),
                               (Column("intent_norm", "intent_norm", lambda _e, n: n),
                                # Optional (0022): absent on events written before the redactor -> SQL NULL.
                                Column("redacted_kinds", "doc->'redacted_kinds'",
                                       lambda e, _n: _jsonb(e.get("redacted_kinds"))))),
    "assistant_responded": Target(
        "responses", ("request_id", "arm", "model_name", "model_version", "latency_ms"),
        (_tool("adjust"), _tool("selective_adjust"), _tool("filter"),
         Column("rationale", "NULLIF(doc->'rationale', 'null'::jsonb)", lambda e, _n: _jsonb(e.get("rationale"))),
         _optional_text("served_by"), _optional_text("fallback_reason"))),
    "tool_exported": Target("tool_exports", ("request_id", "tool", "exported")),
    "project_exported": Target("project_exports", ()),
}

STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS stage_events (
    kafka_topic text, kafka_partition int, kafka_offset bigint, event_type text, intent_norm text, content_hash text,
    doc jsonb
) ON COMMIT DELETE ROWS
"""
STAGE_COPY_SQL = ("COPY stage_events (kafka_topic, kafka_partition, kafka_offset, event_type, intent_norm, "
                  "content_hash, doc) FROM STDIN")


def _names(etype: str) -> str:
    t = FANOUT[etype]
    return ", ".join([*COMMON_FIELDS, *t.fields, *(c.name for c in t.computed), *RECORD_COLUMNS])


def _fanout_sql(etype: str) -> str:
    t = FANOUT[etype]
    fields = [f"(doc->>'{f}')::{_CASTS[f]}" if f in _CASTS else f"doc->>'{f}'" for f in (*COMMON_FIELDS, *t.fields)]
    exprs = ", ".join([*fields, *(c.sql for c in t.computed), *RECORD_COLUMNS])
    # The first record of an event_id only, and none whose event_id is stored already, under any occurred_at: the
    # key (event_id, occurred_at) alone would store an event_id reused with another date in another partition.
    # The probe reads every partition's primary key (event_id first): the staged path is the rare one.
    eid = "(doc->>'event_id')::uuid"
    return (f"INSERT INTO {t.table} ({_names(etype)}) SELECT {exprs} FROM (SELECT DISTINCT ON ({eid}) * "
            f"FROM stage_events WHERE event_type = '{etype}' ORDER BY {eid}, kafka_topic, kafka_partition, "
            f"kafka_offset) s WHERE NOT EXISTS (SELECT 1 FROM {t.table} e WHERE e.event_id = {eid}) "
            f"ON CONFLICT (event_id, occurred_at) DO NOTHING")


def _conflict_sql(etype: str) -> str:
    # Rows stored before 0011 have no hash: their redelivery stays a no-op.
    return (f"SELECT s.kafka_topic, s.kafka_partition, s.kafka_offset, t.content_hash, s.content_hash "
            f"FROM stage_events s JOIN {FANOUT[etype].table} t ON t.event_id = (s.doc->>'event_id')::uuid "
            f"WHERE s.event_type = '{etype}' AND t.content_hash <> s.content_hash")


RowMaker = Callable[[dict[str, Any], "str | None"], tuple[Any, ...]]


def _row_maker(t: Target) -> RowMaker:
    # One C call for the plain fields: row building is a measurable part of the per-event CPU.
    get = itemgetter(*COMMON_FIELDS, *t.fields)
    computed = tuple(c.value for c in t.computed)
    if not computed:
        return lambda e, _n: get(e)  # type: ignore[no-any-return]
    return lambda e, n: get(e) + tuple(f(e, n) for f in computed)  # type: ignore[no-any-return]


FANOUT_SQL = {t: _fanout_sql(t) for t in FANOUT}
CONFLICT_SQL = {t: _conflict_sql(t) for t in FANOUT}
DIRECT_COPY_SQL = {t: f"COPY {FANOUT[t].table} ({_names(t)}) FROM STDIN" for t in FANOUT}
# The event's own columns in DIRECT_COPY_SQL order (the record columns follow). KeyError: a required field is
# missing, which the schemas rule out; the sink then takes the staged path rather than trusting this.
ROW_MAKERS: dict[str, RowMaker] = {t: _row_maker(v) for t, v in FANOUT.items()}
