"""Writing a failure must never fail because of the record's content (docs/events.md#failure-model).

Every text field of a `failed_events` row is made safe for Postgres `text` (no NUL, valid UTF-8, bounded length);
the raw key and value bytes are kept as they came (`bytea` holds anything). If Postgres still refuses a row, it is
written again with only the coordinates, the raw bytes and the refusal as the reason.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from flywheel.events.validation import Rejection

log = logging.getLogger("flywheel.ingest")

FAILED_SQL = """
INSERT INTO failed_events (kafka_topic, kafka_partition, kafka_offset, kafka_key, raw, raw_text, reason,
                           event_type, event_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING
"""

MARK_PENDING_SQL = ("UPDATE failed_events SET dead_letter_pending = %s WHERE kafka_topic = %s AND kafka_partition = %s "
                    "AND kafka_offset = %s")

# SQLSTATE classes that mean "the database, not this row": the batch is retried, never isolated.
# 08 connection exception, 53 insufficient resources, 57P admin/crash shutdown, 40 serialization/deadlock.
OUTAGE_STATES = ("08", "53", "57P", "40")


def is_outage(exc: BaseException, conn: psycopg.Connection[Any] | None) -> bool:
    """A lost connection (or a database that cannot take any write) as opposed to a refusal of this row."""
    if conn is None or conn.closed or conn.broken:
        return True
    state = getattr(exc, "sqlstate", None)
    if state is None:
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
    return state.startswith(OUTAGE_STATES)


def safe_text(value: object, limit: int | None = None) -> str | None:
    """Any value as text Postgres accepts: NUL shown as `\\0`, lone surrogates and bad bytes replaced."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\\0")
    return text[:limit] if limit is not None else text


def raw_text(value: bytes | None) -> str | None:
    """The value as text when it is clean UTF-8 without NUL (analysts read it); `raw` keeps every byte anyway."""
    if value is None:
        return None
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def row(record: Any, rejection: Rejection) -> tuple[Any, ...]:
    return (safe_text(record.topic, 255), record.partition, record.offset, record.key, record.value,
            raw_text(record.value), safe_text(rejection.reason) or "unknown", safe_text(rejection.event_type, 64),
            safe_text(rejection.event_id, 64))


def write_failures(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
    """Insert failure rows inside the caller's transaction. A row Postgres refuses is kept in its minimal form."""
    if not rows:
        return
    with conn.cursor() as cur:
        try:
            with conn.transaction():  # a savepoint: a refused row must not abort the batch's transaction
                cur.executemany(FAILED_SQL, rows)
            return
        except psycopg.Error as exc:
            if is_outage(exc, conn):
                raise
            log.warning("failed_events refused a batch of %d rows (%s); writing them one by one", len(rows),
                        safe_text(str(exc).splitlines()[0] if str(exc) else exc, 300))
        for r in rows:
            try:
                with conn.transaction():
                    cur.execute(FAILED_SQL, r)
            except psycopg.Error as exc:
                if is_outage(exc, conn):
                    raise
                why = safe_text(f"unwritable_failure: {str(exc).splitlines()[0] if str(exc) else exc}; was: {r[6]}")
                with conn.transaction():
                    cur.execute(FAILED_SQL, (r[0], r[1], r[2], r[3], r[4], None, why, None, None))
