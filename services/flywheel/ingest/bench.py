"""`flywheel bench ingest`: consume-only rate of kafka-python vs the full ingest rate, on the same topic, same run.

Both read the same freshly produced topic from the beginning with a new consumer group each, and are timed from the
first poll until the last record is consumed (consume-only) or committed in Postgres (ingest).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer
from rich.progress import Progress

from flywheel.events.publisher import EventPublisher
from flywheel.ingest.cpu import CpuMeter
from flywheel.ingest.service import IngestOptions, IngestService
from flywheel.ingest.synthetic import synthetic_events
from flywheel.kafka_admin import delete_topics, ensure_topics

log = logging.getLogger("flywheel.ingest")


@dataclass
class BenchResult:
    events: int
    produce_s: float
    consume_only_rate: float
    ingest_rate: float
    rows: int
    cpu_consume_us: dict[str, float] = field(default_factory=dict)  # CPU microseconds per event, by process
    cpu_ingest_us: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ingest_rate / self.consume_only_rate if self.consume_only_rate else 0.0


def _consume_only(settings: Any, topic: str, n: int, batch: int) -> float:
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.bootstrap(), group_id=f"bench-co-{uuid.uuid4().hex[:8]}",
                             enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=batch,
                             session_timeout_ms=settings.kafka_session_timeout_ms,
                             heartbeat_interval_ms=max(settings.kafka_session_timeout_ms // 4, 500),
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024)
    try:
        seen, t0 = 0, None
        deadline = time.monotonic() + 600
        while seen < n and time.monotonic() < deadline:
            got = consumer.poll(timeout_ms=200, max_records=batch)
            if got and t0 is None:
                t0 = time.monotonic()
            seen += sum(len(v) for v in got.values())
        if seen < n or t0 is None:
            raise RuntimeError(f"consume-only read {seen} of {n} records from {topic}")
        return n / (time.monotonic() - t0)
    finally:
        consumer.close(autocommit=False)


def run_bench(settings: Any, events: int, seed: int | None = None, keep_topic: bool = False,
              writers: int = 2, processes: bool = False) -> BenchResult:
    import psycopg

    from flywheel.ingest.sink import libpq_url

    tag = uuid.uuid4().hex[:8]
    seed = int(tag, 16) if seed is None else seed  # fresh event ids: every event must become a new row
    topic, dlq = f"bench.events.{tag}", f"bench.dlq.{tag}"
    ensure_topics(settings.bootstrap(), {topic: settings.topic_partitions, dlq: settings.topic_partitions})
    s = settings.model_copy(update={"events_topic": topic, "dead_letter_topic": dlq, "ingest_group": f"bench-{tag}"})
    try:
        t0 = time.monotonic()
        with Progress(transient=True) as progress, EventPublisher(s.bootstrap(), topic, client_id="bench") as pub:
            task = progress.add_task(f"producing {events} events", total=events)
            for i, ev in enumerate(synthetic_events(events, seed=seed), 1):
                pub.publish_raw(ev.key, ev.value)
                if i % 5000 == 0:
                    progress.update(task, completed=i)
        produce_s = time.monotonic() - t0
        roots = _process_roots(s)
        with CpuMeter(roots) as cpu_co:
            consume_rate = _consume_only(s, topic, events, s.ingest_batch_size)
        with psycopg.connect(libpq_url(s.db_url())) as conn:
            before = _rows(conn)
        svc = IngestService(s, IngestOptions(max_events=events, progress_every_s=5, writers=writers,
                                           writer_processes=processes))
        with CpuMeter(roots) as cpu_in:
            stats = svc.run()
        with psycopg.connect(libpq_url(s.db_url())) as conn:
            rows = _rows(conn) - before
        # Timed like consume-only: from the first record, not from the group join.
        ingest_rate = stats.consumed / max(stats.active_seconds, 1e-9)
        per = lambda m: {k: v / events * 1e6 for k, v in m.seconds().items()}  # noqa: E731
        return BenchResult(events, produce_s, consume_rate, ingest_rate, rows, per(cpu_co), per(cpu_in))
    finally:
        if not keep_topic:
            delete_topics(settings.bootstrap(), [topic, dlq])


def _process_roots(s: Any) -> dict[str, int]:
    from flywheel.runtime.stack import embedded_broker, embedded_postgres

    roots = {"client": os.getpid()}
    if s.embedded_database and (pid := embedded_postgres(s).pid()):
        roots["postgres"] = pid
    if s.embedded_kafka and (pid := embedded_broker(s).pid()):
        roots["broker"] = pid
    return roots


def _rows(conn: Any) -> int:
    tables = ("projects", "intents", "responses", "tool_exports", "project_exports")
    return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)
