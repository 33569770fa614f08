"""`flywheel ingest`: Kafka consumer group -> validate -> Postgres, at-least-once with idempotent writes.

The consumer thread is the only one that touches the KafkaConsumer (it is not thread-safe): it polls, hands numbered
batches to a bounded queue, and commits offsets only for batches that writers report as committed in Postgres (and
whose dead letters the broker acknowledged), strictly in batch order, so a committed offset never passes an unwritten
record. Writer threads (each with its own connection) validate, write one transaction per batch and send dead letters.
DB time thus overlaps with consumption and with the other writer's validation; the bounded queue is backpressure.

Crash anywhere -> the uncommitted batches are read again and ON CONFLICT makes the rewrite a no-op: 0 lost, 0 dup.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from flywheel.events.validation import load_validator
from flywheel.ingest.heap import batch_friendly_gc
from flywheel.ingest.metrics import IngestMetrics
from flywheel.ingest.sink import BatchResult, batch_bytes, check_table_map, coords, split_by_bytes
from flywheel.ingest.workers import WriterPool, pack, writer_processes

log = logging.getLogger("flywheel.ingest")


class IngestAborted(RuntimeError):
    """Stopped before every consumed batch reached Postgres (offsets of those batches were not committed)."""


@dataclass
class IngestOptions:
    max_events: int | None = None  # stop after this many records (tests, demo)
    idle_exit_s: float | None = None  # stop once nothing arrived for this long and everything is written
    metrics_port: int | None = None
    batch_size: int | None = None  # default: settings.ingest_batch_size
    batch_max_bytes: int = 16 * 1024 * 1024  # a batch is bounded by bytes as well as by count
    linger_s: float = 0.2  # how long a partial batch waits for more records
    queue_depth: int = 3
    writers: int = 2  # writers (Postgres connections)
    # Writers as child processes (own GIL) instead of threads; None: processes when this process may run on two or
    # more CPUs (docs/events.md#throughput-flywheel-bench-ingest: about 1.8x the thread rate on two cores).
    writer_processes: bool | None = False
    progress_every_s: float = 5.0
    shutdown_grace_s: float = 30.0  # on SIGTERM, how long to wait for an unreachable Postgres
    group: str | None = None  # default: settings.ingest_group


@dataclass
class IngestStats:
    consumed: int = 0
    accepted: int = 0
    inserted: int = 0
    failed: int = 0
    batches: int = 0
    db_retries: int = 0
    dead_letter_pending: int = 0
    lag: int | None = None
    seconds: float = 0.0
    active_seconds: float = 0.0  # first record consumed -> last batch committed (what the benchmark times)
    failed_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.consumed / self.seconds if self.seconds > 0 else 0.0


class _Listener(ConsumerRebalanceListener):
    def __init__(self, service: IngestService) -> None:
        self.service = service

    def on_partitions_revoked(self, revoked: Any) -> None:
        # Write and commit what we hold for these partitions, so the next owner does not redo it.
        if revoked:
            self.service._drain(timeout_s=self.service.settings.kafka_session_timeout_ms / 2000)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.service._assigned_at = time.monotonic()  # idle time counts from when there is something to read
        log.info("assigned partitions: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


class IngestService:
    def __init__(self, settings: Any, options: IngestOptions | None = None,
                 metrics: IngestMetrics | None = None) -> None:
        self.settings = settings
        self.opts = options or IngestOptions()
        self.metrics = metrics or IngestMetrics()
        self.stats = IngestStats()
        self.batch_size = self.opts.batch_size or settings.ingest_batch_size
        self._stop = threading.Event()
        self.pool = WriterPool(settings, self.opts.writers, processes=writer_processes(self.opts.writer_processes),
                               queue_depth=self.opts.queue_depth)
        self._inflight = 0
        self._seq = 0  # number of the next batch handed out
        self._commit_seq = 0  # number of the next batch whose offsets may be committed
        self._done: dict[int, BatchResult] = {}  # finished out of order, waiting for earlier batches
        self._next: dict[tuple[str, int], int] = {}  # next offset to read, per partition (for lag)
        self._consumer: KafkaConsumer | None = None
        self._assigned_at: float | None = None
        self._fatal: BaseException | None = None
        self.on_writers_started: Callable[[], None] | None = None  # e.g. the benchmark's CPU meter starts here

    # ---- control -------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish the batches in hand, commit, return (safe from any thread and from a signal handler)."""
        self._stop.set()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("%s: finishing the current batch, then exiting", signal.Signals(signum).name)
        self.stop()

    # ---- consumer thread -----------------------------------------------------------------------------------
    def _collect(self, block: bool, timeout_s: float = 0.2) -> bool:
        """Take finished batches from the writer and commit their offsets. Returns True if one was taken."""
        try:
            item = self.pool.outq.get(block=block, timeout=timeout_s if block else None)
        except queue.Empty:
            return False
        if isinstance(item, BaseException):
            # Kept as well as raised: kafka-python swallows exceptions raised inside rebalance callbacks.
            self._fatal = item
            raise IngestAborted(f"writer stopped: {item}") from item
        seq, result = item
        self._inflight -= 1
        self._account(result)
        self._done[seq] = result
        offsets: dict[tuple[str, int], int] = {}
        while self._commit_seq in self._done:
            offsets.update(self._done.pop(self._commit_seq).offsets)  # later batches win: offsets only grow
            self._commit_seq += 1
        if offsets:
            self._commit(offsets)
        return True

    def _account(self, r: BatchResult) -> None:
        s, m = self.stats, self.metrics
        s.batches += 1
        s.accepted += r.accepted
        s.inserted += r.inserted
        s.failed += len(r.failures)
        s.db_retries += r.db_retries
        for f in r.failures:
            s.failed_kinds[f.rejection.kind] = s.failed_kinds.get(f.rejection.kind, 0) + 1
            m.failed.labels(kind=f.rejection.kind).inc()
        m.accepted.inc(r.accepted)
        m.inserted.inc(r.inserted)
        m.batches.inc()
        m.db_retries.inc(r.db_retries)
        m.dead_letter_pending.inc(r.dead_letter_pending)
        s.dead_letter_pending += r.dead_letter_pending
        m.batch_seconds.observe(r.seconds)

    def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        assert self._consumer is not None
        owned = self._consumer.assignment()
        todo = {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()
                if TopicPartition(t, p) in owned}
        if not todo:
            return  # partitions moved to another member: it re-reads them, and the rewrite is a no-op
        try:
            self._consumer.commit(todo)
        except KafkaError as exc:
            self.metrics.commit_errors.inc()
            where = ", ".join(f"{tp.topic}[{tp.partition}]@{om.offset}" for tp, om in todo.items())
            log.warning("offset commit failed (%s): %s; these records will be read again (idempotent)", where, exc)

    def _drain(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self._inflight > 0 and time.monotonic() < deadline:
            self._collect(block=True, timeout_s=min(0.5, max(deadline - time.monotonic(), 0.01)))

    def _check_writers(self) -> None:
        if self._fatal is None and not self.pool.alive():
            self._fatal = RuntimeError("a writer died unexpectedly")
        if self._fatal is not None:
            raise IngestAborted(f"writer stopped: {self._fatal}") from self._fatal

    def _submit(self, batch: list[Any]) -> None:
        item = pack(batch) if self.pool.processes else batch
        while True:
            try:
                self.pool.inq.put((self._seq, item), timeout=0.2)
                self._seq += 1
                self._inflight += 1
                return
            except queue.Full:
                self._collect(block=False)
                self._check_writers()
                if self._stop.is_set():
                    # Writers are stuck (Postgres down): this batch was never handed over, so its offsets cannot
                    # be committed; it is simply read again by the next run.
                    log.warning("stopping with an unqueued batch from %s (%d records); it will be read again",
                                coords(batch[0]), len(batch))
                    return

    def _poll_batch(self, consumer: KafkaConsumer) -> tuple[list[Any], int]:
        """Up to batch_size records (or batch_max_bytes, or what arrives within linger_s), and their bytes."""
        batch: list[Any] = []
        first_at = 0.0
        size = 0
        while len(batch) < self.batch_size and size < self.opts.batch_max_bytes and not self._stop.is_set():
            want = self.batch_size - len(batch)
            got = consumer.poll(timeout_ms=100, max_records=want)
            for tp, recs in got.items():
                batch.extend(recs)
                size += batch_bytes(recs)
                self._next[(tp.topic, tp.partition)] = recs[-1].offset + 1  # records come in offset order
            if not batch:
                return batch, 0
            first_at = first_at or time.monotonic()
            if not got or time.monotonic() - first_at > self.opts.linger_s:
                break
            while self._collect(block=False):
                pass
        return batch, size

    def _lag(self, consumer: KafkaConsumer) -> int | None:
        total, known = 0, False
        for tp in consumer.assignment():
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            known = True
            total += max(hw - self._next.get((tp.topic, tp.partition), 0), 0)
        return total if known else None

    def run(self) -> IngestStats:
        with batch_friendly_gc():
            return self._run()

    def _run(self) -> IngestStats:
        s = self.settings
        check_table_map(load_validator(s))  # a schema without a table: refuse to start, say which
        group = self.opts.group or s.ingest_group
        restore = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                restore[sig] = signal.signal(sig, self._on_signal)
        self.pool.start()  # first: before this process starts a thread of its own (see WriterPool.start)
        try:
            if self.on_writers_started is not None:
                self.on_writers_started()
            if self.opts.metrics_port:
                self.metrics.serve(self.opts.metrics_port)
            consumer = self._consumer = self._make_consumer(group)
            consumer.subscribe([s.events_topic], listener=_Listener(self))
        except BaseException:
            self.pool.stop()
            for sig, h in restore.items():
                signal.signal(sig, h)
            raise
        log.info("ingest: %s -> Postgres, group %s, batch %d, %d writer %s, dead letters -> %s", s.events_topic,
                 group, self.batch_size, self.pool.n,
                 f"processes ({self.pool.start_method})" if self.pool.processes else "threads",
                 s.dead_letter_topic)
        t0 = time.monotonic()
        try:
            t_first = self._consume(consumer, t0)
            # Stopping: let the writer finish what it holds, then commit those offsets.
            self._drain(timeout_s=self.opts.shutdown_grace_s)
            if t_first is not None:
                self.stats.active_seconds = time.monotonic() - t_first
            if self._inflight > 0:
                self.pool.abort.set()
                self._drain(timeout_s=15)
                raise IngestAborted(f"{self._inflight} batch(es) not written (Postgres unreachable); their offsets "
                                    "are not committed, so they will be read again")
        except IngestAborted:
            self.pool.abort.set()
            raise
        finally:
            self._close(consumer, t0, restore)
        log.info("ingest stopped: %d consumed, %d written (%d new rows), %d failed in %.1fs (%.0f/s)",
                 self.stats.consumed, self.stats.accepted, self.stats.inserted, self.stats.failed,
                 self.stats.seconds, self.stats.rate)
        return self.stats

    def _make_consumer(self, group: str) -> KafkaConsumer:
        s = self.settings
        return KafkaConsumer(
            bootstrap_servers=s.bootstrap(), group_id=group, client_id="flywheel-ingest",
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=self.batch_size,
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(s.kafka_session_timeout_ms // 4, 500),
            max_poll_interval_ms=600_000, fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
        )

    def _consume(self, consumer: KafkaConsumer, t0: float) -> float | None:
        """Poll and hand batches to the writers until told to stop; returns when the first data arrived."""
        last_log = last_data = t0
        logged = 0
        t_first: float | None = None
        while not self._stop.is_set():
            self._check_writers()
            while self._collect(block=False):
                pass
            batch, size = self._poll_batch(consumer)
            now = time.monotonic()
            if batch:
                t_first = now if t_first is None else t_first
                last_data = now
                self.stats.consumed += len(batch)
                self.metrics.consumed.inc(len(batch))
                if size <= self.opts.batch_max_bytes:
                    self._submit(batch)
                else:
                    for chunk in split_by_bytes(batch, self.opts.batch_max_bytes):
                        self._submit(chunk)
            if self.opts.max_events is not None and self.stats.consumed >= self.opts.max_events:
                self._stop.set()
            self._exit_when_idle(now, last_data, t0)
            if now - last_log >= self.opts.progress_every_s:
                self._log_progress(consumer, (self.stats.consumed - logged) / (now - last_log))
                last_log, logged = now, self.stats.consumed
        return t_first

    def _exit_when_idle(self, now: float, last_data: float, t0: float) -> None:
        if self.opts.idle_exit_s is None or self._inflight != 0:
            return
        # Before the group has given us partitions only a long wait counts (joining takes seconds).
        since = max(last_data, self._assigned_at) if self._assigned_at else last_data + 60
        if now - since >= self.opts.idle_exit_s:
            log.info("idle for %.1fs: exiting", now - max(since, t0))
            self._stop.set()

    def _log_progress(self, consumer: KafkaConsumer, rate: float) -> None:
        lag = self._lag(consumer)
        self.stats.lag = lag
        if lag is not None:
            self.metrics.lag.set(lag)
        log.info("ingest: %d consumed (%.0f/s), %d written, %d failed, lag %s, %d batches in flight",
                 self.stats.consumed, rate, self.stats.accepted, self.stats.failed,
                 "?" if lag is None else lag, self._inflight)

    def _close(self, consumer: KafkaConsumer, t0: float, restore: dict[Any, Any]) -> None:
        self.pool.stop()
        self.stats.seconds = time.monotonic() - t0
        self.stats.lag = self._lag(consumer) if self.stats.lag is None else self.stats.lag
        try:
            consumer.close(autocommit=False)
        except Exception as exc:  # closing must not hide the reason we stopped
            log.warning("consumer close: %s", exc)
        for sig, h in restore.items():
            signal.signal(sig, h)


def run_ingest(settings: Any, options: IngestOptions | None = None) -> IngestStats:
    """Run the ingest service until stopped (SIGTERM/SIGINT, max_events or idle_exit_s)."""
    return IngestService(settings, options).run()
