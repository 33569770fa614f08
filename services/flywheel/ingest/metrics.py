"""Prometheus counters of the ingest service (own registry, so several services can live in one test process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


@dataclass
class IngestMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter("flywheel_ingest_consumed", "Records read from Kafka", registry=r)
        self.accepted = Counter("flywheel_ingest_accepted", "Valid events written (incl. redelivered)", registry=r)
        self.inserted = Counter("flywheel_ingest_inserted", "New rows in the event tables", registry=r)
        self.failed = Counter("flywheel_ingest_failed", "Rejected records (failed_events + DLQ)", ["kind"],
                              registry=r)
        self.batches = Counter("flywheel_ingest_batches", "Batches committed", registry=r)
        self.db_retries = Counter("flywheel_ingest_db_retries", "Postgres retries while it was unreachable",
                                  registry=r)
        self.dead_letter_pending = Counter("flywheel_ingest_dead_letter_pending",
                                           "Failures the dead-letter topic did not acknowledge (resend later)",
                                           registry=r)
        self.commit_errors = Counter("flywheel_ingest_offset_commit_errors", "Kafka offset commits that failed",
                                     registry=r)
        self.lag = Gauge("flywheel_ingest_lag", "Records behind the high watermark (assigned partitions)",
                         registry=r)
        self.batch_seconds = Histogram("flywheel_ingest_batch_seconds", "Validate + write time per batch",
                                       buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r)

    def serve(self, port: int) -> None:
        start_http_server(port, addr="127.0.0.1", registry=self.registry)
