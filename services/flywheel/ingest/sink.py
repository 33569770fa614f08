"""Postgres sink: one batch of Kafka records -> one transaction.

Accepted events are COPY'd as jsonb into a temporary staging table and fanned out to the normalized tables with
``INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING`` (redelivery after a crash is harmless). Rejected records
go to ``failed_events`` (``ON CONFLICT`` on their Kafka coordinates). The JSON -> column mapping is SQL, so Python
touches each event only to validate it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import psycopg
from sqlalchemy.engine import make_url

from flywheel.events.validation import Accepted, ContractError, EventValidator, Rejection
from flywheel.ingest.failures import MARK_PENDING_SQL, is_outage, row, safe_text, write_failures

log = logging.getLogger("flywheel.ingest")

DB_REJECTED = "db_rejected"
CONFLICTING_ID = "conflicting_event_id"

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS stage_events (
    kafka_topic text, kafka_partition int, kafka_offset bigint, event_type text, intent_norm text, content_hash text,
    doc jsonb
) ON COMMIT DELETE ROWS
"""

_COMMON = ("event_id, schema_version, occurred_at, producer, kafka_topic, kafka_partition, kafka_offset, project_id, "
           "content_hash",
           "(doc->>'event_id')::uuid, (doc->>'schema_version')::int, (doc->>'occurred_at')::timestamptz, "
           "doc->>'producer', kafka_topic, kafka_partition, kafka_offset, doc->>'project_id', content_hash")

# event_type -> (table, extra columns, extra select expressions)
FANOUT: dict[str, tuple[str, str, str]] = {
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
    table, cols, exprs = FANOUT[etype]
    cols = f"{_COMMON[0]}, {cols}" if cols else _COMMON[0]
    exprs = f"{_COMMON[1]}, {exprs}" if exprs else _COMMON[1]
    return (f"INSERT INTO {table} ({cols}) SELECT {exprs} FROM stage_events "
            f"WHERE event_type = '{etype}' ON CONFLICT (event_id) DO NOTHING")


def _conflict_sql(etype: str) -> str:
    # Rows stored before 0011 have no hash: their redelivery stays a no-op.
    return (f"SELECT s.kafka_topic, s.kafka_partition, s.kafka_offset, t.content_hash, s.content_hash "
            f"FROM stage_events s JOIN {FANOUT[etype][0]} t ON t.event_id = (s.doc->>'event_id')::uuid "
            f"WHERE s.event_type = '{etype}' AND t.content_hash <> s.content_hash")


_COPY_SQL = ("COPY stage_events (kafka_topic, kafka_partition, kafka_offset, event_type, intent_norm, content_hash, "
             "doc) FROM STDIN")
_FANOUT_SQL = {t: _fanout_sql(t) for t in FANOUT}
_CONFLICT_SQL = {t: _conflict_sql(t) for t in FANOUT}


def check_table_map(validator: EventValidator) -> None:
    """Every event type with a schema needs a table here: found at start-up, not by a crash loop later."""
    missing = sorted(set(validator.versions) - set(FANOUT))
    if missing:
        raise ContractError(f"event schemas without a table in the ingest map (flywheel/ingest/sink.py FANOUT): "
                            f"{', '.join(missing)}; add a table (a migration) and its FANOUT entry, or remove the "
                            f"schema file(s) from {validator.schemas_dir / 'events'}")


def content_hash(event: dict[str, Any]) -> str:
    """sha256 of the event in canonical form (sorted keys, compact): identical redeliveries hash alike."""
    return hashlib.sha256(msgspec.json.encode(event, order="sorted")).hexdigest()


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
    dead_letter_pending: int = 0  # failures whose dead-letter copy the broker did not acknowledge
    seconds: float = 0.0


def libpq_url(sqlalchemy_url: str) -> str:
    """psycopg wants a libpq URL; settings hold a SQLAlchemy one (postgresql+psycopg2://...)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def record_bytes(r: Any) -> int:
    return len(r.value or b"") + len(r.key or b"")


def split_by_bytes(records: list[Any], max_bytes: int) -> list[list[Any]]:
    """Consecutive chunks of at most `max_bytes` (a single larger record is a chunk of its own)."""
    out: list[list[Any]] = []
    size = 0
    for r in records:
        n = record_bytes(r)
        if not out or (size + n > max_bytes and out[-1]):
            out.append([])
            size = 0
        out[-1].append(r)
        size += n
    return out


def next_offsets(records: list[Any]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for r in records:
        k = (r.topic, r.partition)
        if r.offset + 1 > out.get(k, -1):
            out[k] = r.offset + 1
    return out


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
        first = coords(records[0]) if records else "-"

        def attempt(conn: psycopg.Connection[Any]) -> None:
            nonlocal good
            try:
                result.inserted, conflicts = self._transaction(conn, good, bad)
            except psycopg.Error as exc:
                self._rollback(conn)
                if is_outage(exc, conn):
                    raise
                log.warning("batch from %s: Postgres refused it (%s: %s); retrying event by event", first,
                            exc.sqlstate, safe_text(_first_line(exc), 300))
                good, result.failures, result.inserted = self._isolate(conn, good, bad)
                return
            result.failures = bad + conflicts

        self._retrying(attempt, f"writing batch from {first} ({len(records)} records)", result)
        result.accepted = len(records) - len(result.failures)
        result.seconds = time.perf_counter() - t0
        return result

    def mark_dead_letter_pending(self, failures: list[Failure]) -> None:
        """Flag failures whose dead-letter copy the broker never acknowledged (`flywheel ingest-resend-dlq`)."""
        if not failures:
            return
        marks = [(True, f.record.topic, f.record.partition, f.record.offset) for f in failures]

        def attempt(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                cur.executemany(MARK_PENDING_SQL, marks)
            conn.commit()

        self._retrying(attempt, f"marking {len(marks)} dead letters pending", BatchResult(offsets={}))

    def _retrying(self, attempt: Callable[[psycopg.Connection[Any]], None], what: str, result: BatchResult) -> None:
        """Run `attempt` until it succeeds; only an outage (lost connection) is retried, with backoff."""
        delay = 0.5
        while True:
            conn = None
            try:
                conn = self._connect()
                attempt(conn)
                return
            except psycopg.Error as exc:
                if not is_outage(exc, conn):
                    raise
                self.close()
                result.db_retries += 1
                if self.should_abort():
                    raise
                log.warning("Postgres unavailable %s: %s; retry in %.1fs (offsets not committed)", what,
                            safe_text(_first_line(exc), 300), delay)
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)

    @staticmethod
    def _rollback(conn: psycopg.Connection[Any]) -> None:
        with contextlib.suppress(psycopg.Error):  # the connection is gone; is_outage() sees it
            conn.rollback()

    def _transaction(self, conn: psycopg.Connection[Any], good: list[tuple[Any, Accepted]],
                     bad: list[Failure]) -> tuple[int, list[Failure]]:
        inserted = 0
        conflicts: list[Failure] = []
        with conn.cursor() as cur:
            if good:
                by_coords = {(r.topic, r.partition, r.offset): (r, a) for r, a in good}
                with cur.copy(_COPY_SQL) as copy:
                    for r, a in good:
                        copy.write_row((r.topic, r.partition, r.offset, a.event_type, a.intent_norm,
                                        content_hash(a.event), a.text))
                for etype in {a.event_type for _, a in good}:
                    cur.execute(_FANOUT_SQL[etype])
                    inserted += max(cur.rowcount, 0)
                    cur.execute(_CONFLICT_SQL[etype])
                    for t, p, o, stored, new in cur.fetchall():
                        r, a = by_coords[(t, p, o)]
                        conflicts.append(Failure(r, Rejection(
                            CONFLICTING_ID, f"event_id {a.event_id} is already stored with content sha256 {stored}; "
                            f"this record's content sha256 is {new}", a.event_type, a.event_id)))
        write_failures(conn, [row(f.record, f.rejection) for f in bad + conflicts])
        conn.commit()
        return inserted, conflicts

    def _isolate(self, conn: psycopg.Connection[Any], good: list[tuple[Any, Accepted]],
                 bad: list[Failure]) -> tuple[list[tuple[Any, Accepted]], list[Failure], int]:
        """Find the events Postgres refuses (any SQLSTATE but an outage), so one record cannot stall the stream."""
        keep: list[tuple[Any, Accepted]] = []
        failures = list(bad)
        inserted = 0
        for r, a in good:
            try:
                n, conflicts = self._transaction(conn, [(r, a)], [])
                inserted += n
                failures += conflicts
                if not conflicts:
                    keep.append((r, a))
            except psycopg.Error as exc:
                self._rollback(conn)
                if is_outage(exc, conn):
                    raise
                msg = f"{exc.sqlstate}: {_first_line(exc)}"
                failures.append(Failure(r, Rejection(DB_REJECTED, msg, a.event_type, a.event_id)))
        # Slow (a transaction per event) but rare: only a gap between the contract and the columns gets here.
        self._transaction(conn, [], failures)
        return keep, failures, inserted


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
