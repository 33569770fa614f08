"""`flywheel bench ingest`: the full ingest vs a minimal peer loop, on the same topic, in the same run.

The peer loop is what a bare Kafka -> Postgres sink does: consume a batch, COPY the raw values into one jsonb table
keyed by the Kafka coordinates, commit the transaction, commit the offsets. No validation, normalization, dead
letters or event-id deduplication. (A consume-only rate measures the box, not the ingest: on two cores Postgres
shares the CPU with the client.) Both read the freshly produced topic from the beginning with a new consumer group
each, and are timed from the first record until the last one is committed in Postgres.
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

from flywheel.db.scratch import drop, recreate, scratch_settings
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
    peer_rate: float
    ingest_rate: float
    rows: int
    cpu_peer_us: dict[str, float] = field(default_factory=dict)  # CPU microseconds per event, by process
    cpu_ingest_us: dict[str, float] = field(default_factory=dict)
    writers: str = ""  # e.g. "2 processes"

    @property
    def ratio(self) -> float:
        """Ingest rate over the peer loop's (goal >= 0.8)."""
        return self.ingest_rate / self.peer_rate if self.peer_rate else 0.0


def _peer_loop(settings: Any, topic: str, n: int, batch: int) -> float:
    import psycopg

    from flywheel.ingest.sink import libpq_url

    table = f"bench_peer_{uuid.uuid4().hex[:8]}"
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.bootstrap(), group_id=f"bench-peer-{table[-8:]}",
                             enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=batch,
                             session_timeout_ms=settings.kafka_session_timeout_ms,
                             heartbeat_interval_ms=max(settings.kafka_session_timeout_ms // 4, 500),
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024)
    conn = psycopg.connect(libpq_url(settings.db_url()))
    try:
        conn.execute(f"CREATE TABLE {table} (part int, off bigint, body jsonb, PRIMARY KEY (part, off))")
        conn.commit()
        seen, t0 = 0, None
        deadline = time.monotonic() + 600
        while seen < n and time.monotonic() < deadline:
            got = consumer.poll(timeout_ms=200, max_records=batch)
            if not got:
                continue
            t0 = t0 or time.monotonic()
            with conn.cursor() as cur, cur.copy(f"COPY {table} (part, off, body) FROM STDIN") as copy:
                for tp, records in got.items():
                    for r in records:
                        copy.write_row((tp.partition, r.offset, r.value.decode()))
                        seen += 1
            conn.commit()
            consumer.commit()
        if seen < n or t0 is None:
            raise RuntimeError(f"the peer loop read {seen} of {n} records from {topic}")
        return n / (time.monotonic() - t0)
    finally:
        consumer.close(autocommit=False)
        conn.rollback()
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.commit()
        conn.close()


def run_bench(settings: Any, events: int, seed: int | None = None, keep_topic: bool = False,
              writers: int = 2, processes: bool | None = None) -> BenchResult:
    import psycopg

    from flywheel.db.migrate import upgrade
    from flywheel.ingest.sink import libpq_url

    tag = uuid.uuid4().hex[:8]
    seed = int(tag, 16) if seed is None else seed  # fresh event ids: every event must become a new row
    topic, dlq, db = f"bench.events.{tag}", f"bench.dlq.{tag}", f"flywheel_bench_ingest_{tag}"
    ensure_topics(settings.bootstrap(), {topic: settings.topic_partitions, dlq: settings.topic_partitions})
    s = scratch_settings(settings, db, events_topic=topic, dead_letter_topic=dlq, ingest_group=f"bench-{tag}")
    try:
        # Its own database: the synthetic events never reach the tables analysts and the nightly run read, and every
        # run starts from empty tables, as the peer loop's does.
        recreate(settings, db)
        upgrade(s)
        t0 = time.monotonic()
        with Progress(transient=True) as progress, EventPublisher(s.bootstrap(), topic, client_id="bench") as pub:
            task = progress.add_task(f"producing {events} events", total=events)
            for i, ev in enumerate(synthetic_events(events, seed=seed), 1):
                pub.publish_raw(ev.key, ev.value)
                if i % 5000 == 0:
                    progress.update(task, completed=i)
        produce_s = time.monotonic() - t0
        roots = _process_roots(settings)  # the scratch settings name a database URL, not the embedded server
        with CpuMeter(roots) as cpu_peer:
            peer_rate = _peer_loop(s, topic, events, s.ingest_batch_size)
        svc = IngestService(s, IngestOptions(max_events=events, progress_every_s=5, writers=writers,
                                           writer_processes=processes))
        # Sampling starts once the writers exist: a thread of the benchmark's own would make ingest spawn its
        # writer processes rather than fork them, which `flywheel ingest` does not (ingest/workers.py WriterPool).
        with CpuMeter(roots, defer=True) as cpu_in:
            svc.on_writers_started = cpu_in.start
            stats = svc.run()
        with psycopg.connect(libpq_url(s.db_url())) as conn:
            rows = _rows(conn)  # the scratch database's event tables started empty
        # Timed like the peer loop: from the first record, not from the group join.
        ingest_rate = stats.consumed / max(stats.active_seconds, 1e-9)
        per = lambda m: {k: v / events * 1e6 for k, v in m.seconds().items()}  # noqa: E731
        mode = f"{max(writers, 1)} {'processes' if svc.pool.processes else 'threads'}"
        return BenchResult(events, produce_s, peer_rate, ingest_rate, rows, per(cpu_peer), per(cpu_in), mode)
    finally:
        if not keep_topic:
            delete_topics(settings.bootstrap(), [topic, dlq])
        drop(settings, db)


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
