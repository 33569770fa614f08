"""Postgres sink: one batch of Kafka records -> one transaction.

Accepted events are COPY'd as jsonb into a temporary staging table and fanned out to the normalized tables with
``INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING`` (redelivery after a crash is harmless). Rejected records
go to ``failed_events`` (``ON CONFLICT`` on their Kafka coordinates). The JSON -> column mapping is SQL, so Python
touches each event only to validate it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from flywheel.events.validation import Accepted, EventValidator, Rejection

log = logging.getLogger("flywheel.ingest")

DB_REJECTED = "db_rejected"

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS stage_events (
    kafka_topic text, kafka_partition int, kafka_offset bigint, event_type text, intent_norm text, doc jsonb
) ON COMMIT DELETE ROWS
"""

_COMMON = ("event_id, schema_version, occurred_at, producer, kafka_topic, kafka_partition, kafka_offset, project_id",
           "(doc->>'event_id')::uuid, (doc->>'schema_version')::int, (doc->>'occurred_at')::timestamptz, "
           "doc->>'producer', kafka_topic, kafka_partition, kafka_offset, doc->>'project_id'")

# event_type -> (table, extra columns, extra select expressions)
_FANOUT: dict[str, tuple[str, str, str]] = {
    "project_started": ("projects", "user_id, platform, app_version",
                        "doc->>'user_id', doc->>'platform', doc->>'app_version'"),
    "intent_submitted": ("intents", "request_id, intent, intent_norm",
                         "doc->>'request_id', doc->>'intent', intent_norm"),
    # JSON null (tool not used) becomes SQL NULL: analysts test `adjust IS NULL`.
    "assistant_responded": ("responses",
                            "request_id, arm, model_name, model_version, adjust, selective_adjust, filter, "
                            "rationale, latency_ms",
                            "doc->>'request_id', doc->>'arm', doc->>'model_name', doc->>'model_version', "
                            "NULLIF(doc->'outputs'->'adjust', 'null'::jsonb), "
                            "NULLIF(doc->'outputs'->'selective_adjust', 'null'::jsonb), "
                            "NULLIF(doc->'outputs'->'filter', 'null'::jsonb), "
                            "NULLIF(doc->'rationale', 'null'::jsonb), (doc->>'latency_ms')::float8"),
    "tool_exported": ("tool_exports", "request_id, tool, exported",
                      "doc->>'request_id', doc->>'tool', (doc->>'exported')::boolean"),
    "project_exported": ("project_exports", "", ""),
}


def _fanout_sql(etype: str) -> str:
    table, cols, exprs = _FANOUT[etype]
    cols = f"{_COMMON[0]}, {cols}" if cols else _COMMON[0]
    exprs = f"{_COMMON[1]}, {exprs}" if exprs else _COMMON[1]
    return (f"INSERT INTO {table} ({cols}) SELECT {exprs} FROM stage_events "
            f"WHERE event_type = '{etype}' ON CONFLICT (event_id) DO NOTHING")


_COPY_SQL = ("COPY stage_events (kafka_topic, kafka_partition, kafka_offset, event_type, intent_norm, doc) "
             "FROM STDIN")
_FANOUT_SQL = {t: _fanout_sql(t) for t in _FANOUT}

_FAILED_SQL = """
INSERT INTO failed_events (kafka_topic, kafka_partition, kafka_offset, kafka_key, raw, raw_text, reason,
                           event_type, event_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING
"""


@dataclass(slots=True)
class Record:
    """The part of a Kafka record the sink needs (plain data: it crosses threads and processes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def coords(r: Any) -> str:
    """Where a record lives in Kafka (every error message names it). Works for Record and ConsumerRecord."""
    return f"{r.topic}[{r.partition}]@{r.offset}"


@dataclass(slots=True)
class Failure:
    record: Any  # Record or kafka ConsumerRecord (topic, partition, offset, key, value)
    rejection: Rejection

    def describe(self) -> str:
        return f"{coords(self.record)}: {self.rejection.reason}"


@dataclass
class BatchResult:
    offsets: dict[tuple[str, int], int]  # (topic, partition) -> next offset to read
    accepted: int = 0
    inserted: int = 0  # new rows (accepted minus redelivered duplicates)
    failures: list[Failure] = field(default_factory=list)
    db_retries: int = 0
    seconds: float = 0.0


def libpq_url(sqlalchemy_url: str) -> str:
    """psycopg wants a libpq URL; settings hold a SQLAlchemy one (postgresql+psycopg2://...)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def next_offsets(records: list[Any]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for r in records:
        k = (r.topic, r.partition)
        if r.offset + 1 > out.get(k, -1):
            out[k] = r.offset + 1
    return out


def _raw_text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text  # Postgres text cannot hold NUL; `raw` (bytea) keeps every byte


class PostgresSink:
    """Writes batches; reconnects and retries with backoff while Postgres is unreachable (never drops a batch)."""

    def __init__(self, db_url: str, validator: EventValidator, *, max_backoff_s: float = 10.0,
                 should_abort: Callable[[], bool] | None = None) -> None:
        self.url = libpq_url(db_url)
        self.validator = validator
        self.max_backoff_s = max_backoff_s
        self.should_abort = should_abort or (lambda: False)
        self._conn: psycopg.Connection[Any] | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=False, connect_timeout=5,
                                         application_name="flywheel-ingest")
            with self._conn.cursor() as cur:
                cur.execute(_STAGE)
            self._conn.commit()
        return self._conn

    def validate(self, records: list[Any]) -> tuple[list[tuple[Any, Accepted]], list[Failure]]:
        good: list[tuple[Any, Accepted]] = []
        bad: list[Failure] = []
        check = self.validator.validate
        for r in records:
            res = check(r.value)
            if isinstance(res, Accepted):
                good.append((r, res))
            else:
                bad.append(Failure(r, res))
        return good, bad

    def write(self, records: list[Any]) -> BatchResult:
        """Validate and write one batch in one transaction. Returns only after the commit succeeded."""
        t0 = time.perf_counter()
        good, bad = self.validate(records)
        result = BatchResult(offsets=next_offsets(records), accepted=len(good), failures=bad)
        delay = 0.5
        first = coords(records[0]) if records else "-"
        while True:
            try:
                conn = self._connect()
                try:
                    result.inserted = self._transaction(conn, good, bad)
                except (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.InvalidTextRepresentation) as exc:
                    conn.rollback()
                    log.warning("batch from %s: Postgres rejected it (%s); retrying event by event", first,
                                str(exc).strip().splitlines()[0])
                    good, bad, inserted = self._isolate(conn, good, bad)
                    result.accepted, result.failures = len(good), bad
                    result.inserted = inserted + self._transaction(conn, [], bad)
                break
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.close()
                result.db_retries += 1
                if self.should_abort():
                    raise
                log.warning("Postgres unavailable writing batch from %s (%d records): %s; retry in %.1fs "
                            "(offsets not committed)", first, len(records), str(exc).strip().splitlines()[0], delay)
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
        result.seconds = time.perf_counter() - t0
        return result

    def _transaction(self, conn: psycopg.Connection[Any], good: list[tuple[Any, Accepted]],
                     bad: list[Failure]) -> int:
        inserted = 0
        with conn.cursor() as cur:
            if good:
                with cur.copy(_COPY_SQL) as copy:
                    for r, a in good:
                        copy.write_row((r.topic, r.partition, r.offset, a.event["event_type"], a.intent_norm, a.text))
                present = {a.event_type for _, a in good}
                for etype in present:
                    cur.execute(_FANOUT_SQL[etype])
                    inserted += max(cur.rowcount, 0)
            if bad:
                cur.executemany(_FAILED_SQL, [
                    (f.record.topic, f.record.partition, f.record.offset, f.record.key, f.record.value,
                     _raw_text(f.record.value), f.rejection.reason, f.rejection.event_type, f.rejection.event_id)
                    for f in bad])
        conn.commit()
        return inserted

    def _isolate(self, conn: psycopg.Connection[Any], good: list[tuple[Any, Accepted]],
                 bad: list[Failure]) -> tuple[list[tuple[Any, Accepted]], list[Failure], int]:
        """Find the events Postgres refuses (a gap between schema and columns) so one cannot stall the stream."""
        keep: list[tuple[Any, Accepted]] = []
        bad = list(bad)
        inserted = 0
        for r, a in good:
            try:
                inserted += self._transaction(conn, [(r, a)], [])
                keep.append((r, a))
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                conn.rollback()
                msg = str(exc).strip().splitlines()[0]
                bad.append(Failure(r, Rejection(DB_REJECTED, msg, a.event_type, a.event_id)))
        # Slow (a transaction per event) but rare: only a gap between the contract and the columns gets here.
        return keep, bad, inserted
