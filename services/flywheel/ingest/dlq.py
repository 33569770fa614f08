"""Dead letters: every rejected record goes to the dead-letter topic with its reason and origin in headers.

The message value is the original bytes (unchanged), so after a contract or producer fix the record can be replayed
into the events topic as it was; ``replay_dead_letters`` does that for the records that now pass validation.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from flywheel.ingest.failures import MARK_PENDING_SQL
from flywheel.ingest.sink import Failure, Record, coords, libpq_url

log = logging.getLogger("flywheel.ingest")


class DeadLetterError(RuntimeError):
    pass


def headers_for(f: Failure) -> list[tuple[str, bytes]]:
    r = f.record
    out = [("reason", f.rejection.reason.encode("utf-8", "replace")[:4000]),
           ("kind", f.rejection.kind.encode()),
           ("source_topic", r.topic.encode()),
           ("source_partition", str(r.partition).encode()),
           ("source_offset", str(r.offset).encode())]
    if r.key is None and r.value is None:
        out.append(("null_value", b"1"))  # Kafka needs a key or a value: the copy carries b"" and says so
    return out


class DeadLetterProducer:
    """Sends failures and waits for the broker's acks: a bounded number of attempts, then it gives up on a record.

    `send` returns what the broker did not acknowledge (a record grown past the size limit by its headers, a missing
    topic, a broker down for longer than the attempts last); the writer marks those pending in `failed_events`
    (`flywheel ingest-resend-dlq` sends them later), so the stream never waits on the dead-letter topic.
    """

    def __init__(self, bootstrap: str, topic: str, max_backoff_s: float = 10.0, attempts: int = 3,
                 max_block_s: float = 10.0) -> None:
        self.bootstrap, self.topic, self.max_backoff_s = bootstrap, topic, max_backoff_s
        self.attempts, self.max_block_s = attempts, max_block_s
        self._producer: KafkaProducer | None = None

    def _get(self) -> KafkaProducer:
        if self._producer is None:
            ms = int(self.max_block_s * 1000)
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, client_id="flywheel-ingest-dlq",
                                           acks="all", retries=2, linger_ms=5, max_block_ms=ms,
                                           bootstrap_timeout_ms=ms, request_timeout_ms=ms,
                                           max_in_flight_requests_per_connection=1)
        return self._producer

    def send(self, failures: list[Failure]) -> list[Failure]:
        """Dead-letter `failures`; returns those the broker did not acknowledge after the bounded attempts."""
        todo, given_up = list(failures), []
        delay = 0.5
        for attempt in range(1, self.attempts + 1):
            if not todo:
                break
            retry, dead = self._attempt(todo)
            given_up += dead
            todo = retry
            if todo and attempt < self.attempts:
                log.warning("dead-letter topic %s: %d records not acknowledged (first %s); retry in %.1fs",
                            self.topic, len(todo), coords(todo[0].record), delay)
                self.close()
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
        return given_up + todo

    def _attempt(self, failures: list[Failure]) -> tuple[list[Failure], list[Failure]]:
        """One try: (retriable failures, failures that no retry can fix)."""
        try:
            p = self._get()
        except (KafkaError, OSError) as exc:
            log.warning("dead-letter producer cannot reach %s: %s", self.bootstrap, exc)
            return failures, []
        retry: list[Failure] = []
        dead: list[Failure] = []
        sent = []
        for f in failures:
            r = f.record
            value = r.value if (r.key is not None or r.value is not None) else b""
            try:
                sent.append((f, p.send(self.topic, key=r.key, value=value, headers=headers_for(f))))
            except (KafkaError, OSError, AssertionError, ValueError) as exc:
                (retry if getattr(exc, "retriable", False) else dead).append(f)
                log.warning("dead letter of %s not sent: %s", coords(r), exc)
        with contextlib.suppress(KafkaError, OSError):
            p.flush(timeout=self.max_block_s * 2)
        for f, fut in sent:
            try:
                fut.get(timeout=0)
            except KafkaError as exc:
                (retry if exc.retriable else dead).append(f)
                log.warning("dead letter of %s not acknowledged: %s", coords(f.record), exc)
        return retry, dead

    def close(self) -> None:
        if self._producer is not None:
            # Closing a broken producer must not mask the original error.
            with contextlib.suppress(Exception):
                self._producer.close(timeout=5)
            self._producer = None


@dataclass
class ReplaySummary:
    scanned: int = 0
    replayed: int = 0
    already_replayed: int = 0
    unacknowledged: int = 0  # published but the broker did not acknowledge: not marked, replayed next time
    other_topic: int = 0
    still_failing: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)


def _header(headers: Any, name: str) -> str | None:
    for k, v in headers or []:
        if k == name:
            return v.decode("utf-8", "replace")
    return None


def _from_topic(bootstrap: str, topic: str, timeout_s: float) -> list[tuple[Record, tuple[str, int, int] | None]]:
    """Everything in the dead-letter topic up to its current end (no consumer group: replay is stateless)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             client_id="flywheel-dlq-replay")
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            raise DeadLetterError(f"dead-letter topic {topic} not found at {bootstrap}")
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[tuple[Record, tuple[str, int, int] | None]] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise DeadLetterError(f"reading {topic} timed out after {timeout_s:.0f}s")
            for recs in consumer.poll(timeout_ms=500).values():
                for m in recs:
                    src = None
                    st, sp, so = (_header(m.headers, k) for k in ("source_topic", "source_partition", "source_offset"))
                    if st is not None and sp is not None and so is not None:
                        src = (st, int(sp), int(so))
                    out.append((Record(m.topic, m.partition, m.offset, m.key, m.value), src))
        return out
    finally:
        consumer.close(autocommit=False)


def replay_dead_letters(settings: Any, *, source: str = "topic", dry_run: bool = False,
                        timeout_s: float = 120.0) -> ReplaySummary:
    """Re-publish dead letters that pass today's contracts into the events topic (original key and bytes).

    `source="topic"` reads the dead-letter topic; `source="table"` reads `failed_events` (also covers a broker that
    lost its topics). Only dead letters that came from `settings.events_topic` are replayed, into that topic.
    Records already replayed (failed_events.replayed_at) are skipped, so running it twice is safe; records that still
    fail stay where they are, for the next fix. Ingest dedups on event_id, so a replay that is
    interrupted between publishing and marking only causes redelivery, never a duplicate row.
    """
    import psycopg

    from flywheel.events.validation import Accepted, load_validator

    validator = load_validator(settings)
    summary = ReplaySummary()
    with psycopg.connect(libpq_url(settings.db_url())) as conn:
        done = {(t, p, o) for t, p, o in conn.execute(
            "SELECT kafka_topic, kafka_partition, kafka_offset FROM failed_events WHERE replayed_at IS NOT NULL")}
        if source == "table":
            rows = conn.execute("SELECT kafka_topic, kafka_partition, kafka_offset, kafka_key, raw FROM failed_events "
                                "WHERE replayed_at IS NULL AND kafka_topic = %s ORDER BY id",
                                (settings.events_topic,)).fetchall()
            items: list[tuple[Record, tuple[str, int, int] | None]] = [
                (Record(t, p, o, k, bytes(v) if v is not None else None), (t, p, o)) for t, p, o, k, v in rows]
        elif source == "topic":
            items = _from_topic(settings.bootstrap(), settings.dead_letter_topic, timeout_s)
        else:
            raise ValueError(f"source must be 'topic' or 'table', not {source!r}")
        todo: list[tuple[Record, tuple[str, int, int] | None]] = []
        for rec, src in items:
            summary.scanned += 1
            if src is not None and src in done:
                summary.already_replayed += 1
                continue
            if src is not None and src[0] != settings.events_topic:
                summary.other_topic += 1  # a dead letter of another stream: replay it with that stream's settings
                continue
            res = validator.validate(rec.value)
            if isinstance(res, Accepted):
                todo.append((rec, src))
            else:
                summary.still_failing[res.kind] = summary.still_failing.get(res.kind, 0) + 1
                if len(summary.examples) < 5:
                    summary.examples.append(f"{coords(rec)}: {res.reason}")
        summary.replayed = len(todo)  # with dry_run: how many would be replayed
        if dry_run or not todo:
            return summary
        acked = _publish_acked(settings, todo)
        summary.replayed = len(acked)
        summary.unacknowledged = len(todo) - len(acked)
        marks = [src for _, src in acked if src is not None]
        with conn.cursor() as cur:
            cur.executemany("UPDATE failed_events SET replayed_at = now() WHERE kafka_topic = %s AND "
                            "kafka_partition = %s AND kafka_offset = %s AND replayed_at IS NULL", marks)
        conn.commit()
    return summary


def _publish_acked(settings: Any, todo: list[tuple[Record, Any]]) -> list[tuple[Record, Any]]:
    """Publish and return only what the broker acknowledged (acks=all): only those may be marked replayed."""
    from flywheel.events.publisher import EventPublisher, PublishError

    acked: list[tuple[Record, Any]] = []
    with EventPublisher(settings.bootstrap(), settings.events_topic, client_id="flywheel-dlq-replay") as pub:
        futures = []
        for item in todo:
            try:
                futures.append((item, pub.publish_raw(item[0].key, item[0].value)))
            except PublishError as exc:
                log.warning("replay of %s not sent: %s", coords(item[0]), exc)
        with contextlib.suppress(PublishError):
            pub.flush()
        for item, fut in futures:
            try:
                fut.get(timeout=0)
                acked.append(item)
            except KafkaError as exc:
                log.warning("replay of %s not acknowledged: %s", coords(item[0]), exc)
    return acked


def resend_pending(settings: Any) -> tuple[int, int]:
    """Dead-letter the failures whose copy the broker never acknowledged. Returns (sent, still pending)."""
    import psycopg

    from flywheel.events.validation import Rejection

    with psycopg.connect(libpq_url(settings.db_url())) as conn:
        rows = conn.execute("SELECT kafka_topic, kafka_partition, kafka_offset, kafka_key, raw, reason FROM "
                            "failed_events WHERE dead_letter_pending ORDER BY id").fetchall()
        failures = [Failure(Record(t, p, o, bytes(k) if k is not None else None, bytes(v) if v is not None else None),
                            Rejection(reason.split(":", 1)[0], reason.split(":", 1)[-1].strip()))
                    for t, p, o, k, v, reason in rows]
        dlq = DeadLetterProducer(settings.bootstrap(), settings.dead_letter_topic)
        try:
            left = dlq.send(failures)
        finally:
            dlq.close()
        lost = {(f.record.topic, f.record.partition, f.record.offset) for f in left}
        done = [(False, *c) for c in ((f.record.topic, f.record.partition, f.record.offset) for f in failures)
                if c not in lost]
        with conn.cursor() as cur:
            cur.executemany(MARK_PENDING_SQL, done)
        conn.commit()
    return len(done), len(left)
