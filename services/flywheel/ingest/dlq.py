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

from flywheel.ingest.sink import Failure, Record, coords, libpq_url

log = logging.getLogger("flywheel.ingest")


class DeadLetterError(RuntimeError):
    pass


def headers_for(f: Failure) -> list[tuple[str, bytes]]:
    r = f.record
    return [("reason", f.rejection.reason.encode("utf-8", "replace")[:4000]),
            ("kind", f.rejection.kind.encode()),
            ("source_topic", r.topic.encode()),
            ("source_partition", str(r.partition).encode()),
            ("source_offset", str(r.offset).encode())]


class DeadLetterProducer:
    """Sends failures and waits for the broker's acks (retrying while it is unreachable)."""

    def __init__(self, bootstrap: str, topic: str, max_backoff_s: float = 10.0) -> None:
        self.bootstrap, self.topic, self.max_backoff_s = bootstrap, topic, max_backoff_s
        self._producer: KafkaProducer | None = None

    def _get(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, client_id="flywheel-ingest-dlq",
                                           acks="all", retries=5, linger_ms=5, max_block_ms=10000,
                                           bootstrap_timeout_ms=10000,
                                           max_in_flight_requests_per_connection=1)
        return self._producer

    def send(self, failures: list[Failure]) -> None:
        if not failures:
            return
        delay = 0.5
        while True:
            try:
                p = self._get()
                futures = [p.send(self.topic, key=f.record.key, value=f.record.value, headers=headers_for(f))
                           for f in failures]
                p.flush(timeout=30)
                for fut in futures:
                    fut.get(timeout=0)  # raises if that send failed
                return
            except (KafkaError, OSError) as exc:
                first = coords(failures[0].record)
                log.warning("dead-letter topic %s unreachable for %d records (first %s): %s; retry in %.1fs",
                            self.topic, len(failures), first, exc, delay)
                self.close()
                time.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)

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

    from flywheel.events.publisher import EventPublisher
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
        with EventPublisher(settings.bootstrap(), settings.events_topic, client_id="flywheel-dlq-replay") as pub:
            for rec, _ in todo:
                pub.publish_raw(rec.key, rec.value)
        marks = [src for _, src in todo if src is not None]
        with conn.cursor() as cur:
            cur.executemany("UPDATE failed_events SET replayed_at = now() WHERE kafka_topic = %s AND "
                            "kafka_partition = %s AND kafka_offset = %s AND replayed_at IS NULL", marks)
        conn.commit()
    return summary
