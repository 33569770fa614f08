"""Postgres sink: one batch of Kafka records -> one transaction.

A batch whose event_ids are all new is COPY'd straight into the event tables from the events validation already
parsed (one COPY per event type; Postgres parses no JSON but the four jsonb columns). A batch that repeats an event_id
within itself, or whose direct COPY Postgres refuses (an event_id already stored: a redelivery after a crash, a
producer's retry), is written again through the staged path: COPY as jsonb into a temporary table, fan out with
``INSERT ... SELECT ... ON CONFLICT (event_id, occurred_at) DO NOTHING`` and compare content hashes, so a redelivery
stays a no-op and a different body under a known event_id a failure, in whatever partition it is stored. The direct
COPY cannot see an event_id reused with another occurred_at (another partition): the nightly check
``flywheel.db.partitions.event_ids_stored_twice`` finds those (docs/domain.md#partitions-and-retention). Both
paths map columns from one table (flywheel/ingest/tables.py). Rejected records go to ``failed_events`` (``ON
CONFLICT`` on their Kafka coordinates).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import msgspec
import psycopg

from flywheel.events.validation import Accepted, ContractError, EventValidator, Rejection
from flywheel.ingest.failures import MARK_PENDING_SQL, is_outage, row, safe_text, write_failures
from flywheel.ingest.tables import (
    CONFLICT_SQL,
    DIRECT_COPY_SQL,
    FANOUT,
    FANOUT_SQL,
    ROW_MAKERS,
    STAGE_COPY_SQL,
    STAGE_SQL,
)

log = logging.getLogger("flywheel.ingest")

# Ground truth waits for open transactions of this name before it folds (docs/domain.md#d20-incremental-ground-truth).
APPLICATION_NAME = "flywheel-ingest"
DB_REJECTED = "db_rejected"
CONFLICTING_ID = "conflicting_event_id"

def check_table_map(validator: EventValidator) -> None:
    """Every event type with a schema needs a table here: found at start-up, not by a crash loop later."""
    missing = sorted(set(validator.versions) - set(FANOUT))
    if missing:
        raise ContractError(f"event schemas without a table in the ingest map (flywheel/ingest/tables.py FANOUT): "
                            f"{', '.join(missing)}; add a table (a migration) and its FANOUT entry, or remove the "
                            f"schema file(s) from {validator.schemas_dir / 'events'}")


_canonical = msgspec.json.Encoder(order="sorted")


def content_hash(event: dict[str, Any]) -> str:
    """sha256 of the event in canonical form (sorted keys, compact): identical redeliveries hash alike."""
    return hashlib.sha256(_canonical.encode(event)).hexdigest()


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
    direct: bool = False  # written by the direct COPY (False: the staged path, or nothing to write)


def libpq_url(sqlalchemy_url: str) -> str:
    """psycopg wants a libpq URL; settings hold a SQLAlchemy one (postgresql+psycopg2://...). Only the scheme
    differs, so the rest is kept byte for byte (its percent-encoding included). Not parsed by SQLAlchemy: importing
    it would cost every writer process ~0.15 s of CPU at start-up."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {scheme or sqlalchemy_url[:20]!r}://...")
    return f"postgresql://{rest}"


def record_bytes(r: Any) -> int:
    return len(r.value or b"") + len(r.key or b"")


_values = attrgetter("value")
_keys = attrgetter("key")


def batch_bytes(records: list[Any]) -> int:
    """sum(record_bytes) without a Python call per record (the consumer thread's share of CPU per event)."""
    return sum(map(len, filter(None, map(_values, records)))) + sum(map(len, filter(None, map(_keys, records))))


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
                 should_abort: Callable[[], bool] | None = None, direct: bool = True) -> None:
        self.url = libpq_url(db_url)
        self.direct = direct  # False: every batch takes the staged path (tests compare the two)
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
                                         application_name=APPLICATION_NAME)
            with self._conn.cursor() as cur:
                cur.execute(STAGE_SQL)
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
                result.inserted, conflicts, result.direct = self._transaction(conn, good, bad, direct=self.direct)
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

    def _transaction(self, conn: psycopg.Connection[Any], good: list[tuple[Any, Accepted]], bad: list[Failure],
                     *, direct: bool) -> tuple[int, list[Failure], bool]:
        """One transaction: the accepted events (direct COPY, else the staged path) and the failures."""
        inserted = 0
        conflicts: list[Failure] = []
        went_direct = False
        if good:
            rows = direct_rows(good) if direct else None
            went_direct = rows is not None and self._copy_direct(conn, rows)
            if went_direct:
                inserted = len(good)
            else:
                inserted, conflicts = self._staged(conn, good)
        write_failures(conn, [row(f.record, f.rejection) for f in bad + conflicts])
        conn.commit()
        return inserted, conflicts, went_direct

    def _copy_direct(self, conn: psycopg.Connection[Any], rows: dict[str, list[tuple[Any, ...]]]) -> bool:
        """COPY into the event tables; False (rolled back, nothing written) if Postgres refuses any row."""
        try:
            with conn.cursor() as cur:
                for etype, batch in rows.items():
                    with cur.copy(DIRECT_COPY_SQL[etype]) as copy:
                        for r in batch:
                            copy.write_row(r)
            return True
        except psycopg.Error as exc:
            # Nothing else is in this transaction yet, so a rollback undoes exactly the COPYs.
            self._rollback(conn)
            if is_outage(exc, conn):
                raise
            # Expected after a crash (redelivered event_ids, SQLSTATE 23505); anything else the staged path isolates.
            log.debug("direct COPY refused (%s: %s); writing the batch through the staged path", exc.sqlstate,
                      safe_text(_first_line(exc), 300))
            return False

    @staticmethod
    def _staged(conn: psycopg.Connection[Any], good: list[tuple[Any, Accepted]]) -> tuple[int, list[Failure]]:
        inserted = 0
        conflicts: list[Failure] = []
        by_coords = {(r.topic, r.partition, r.offset): (r, a) for r, a in good}
        with conn.cursor() as cur:
            with cur.copy(STAGE_COPY_SQL) as copy:
                for r, a in good:
                    copy.write_row((r.topic, r.partition, r.offset, a.event_type, a.intent_norm,
                                    content_hash(a.event), a.text))
            for etype in {a.event_type for _, a in good}:
                cur.execute(FANOUT_SQL[etype])
                inserted += max(cur.rowcount, 0)
                cur.execute(CONFLICT_SQL[etype])
                for t, p, o, stored, new in cur.fetchall():
                    r, a = by_coords[(t, p, o)]
                    conflicts.append(Failure(r, Rejection(
                        CONFLICTING_ID, f"event_id {a.event_id} is already stored with content sha256 {stored}; "
                        f"this record's content sha256 is {new}", a.event_type, a.event_id)))
        return inserted, conflicts

    def _isolate(self, conn: psycopg.Connection[Any], good: list[tuple[Any, Accepted]],
                 bad: list[Failure]) -> tuple[list[tuple[Any, Accepted]], list[Failure], int]:
        """Find the events Postgres refuses (any SQLSTATE but an outage), so one record cannot stall the stream."""
        keep: list[tuple[Any, Accepted]] = []
        failures = list(bad)
        inserted = 0
        for r, a in good:
            try:
                n, conflicts, _ = self._transaction(conn, [(r, a)], [], direct=False)
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
        self._transaction(conn, [], failures, direct=False)
        return keep, failures, inserted


def direct_rows(good: list[tuple[Any, Accepted]]) -> dict[str, list[tuple[Any, ...]]] | None:
    """Rows for the direct COPY, by event type; None when the batch needs the staged path (an event_id repeats
    within it, or an event lacks a column's field)."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    ids: set[str] = set()
    try:
        for r, a in good:
            event = a.event
            etype = event["event_type"]
            ids.add(event["event_id"])
            batch = rows.get(etype)
            if batch is None:
                batch = rows[etype] = []
            batch.append(ROW_MAKERS[etype](event, a.intent_norm) + (r.topic, r.partition, r.offset,
                                                                    content_hash(event)))
    except KeyError:
        return None
    return rows if len(ids) == len(good) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
