"""Writers: validate + write + dead-letter one batch at a time, in a thread or in a child process.

Threads share the consumer's GIL, so validation competes with consumption; processes do not (on a machine with
spare cores they let ingest run at close to the consume-only rate). Either way a writer only reports results; the
consumer thread alone commits offsets. A writer process dies with its parent (PR_SET_PDEATHSIG), so a SIGKILLed
service leaves nothing behind, and whatever that process had not committed is simply read again.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from flywheel.events.validation import load_validator
from flywheel.ingest.dlq import DeadLetterProducer
from flywheel.ingest.heap import batch_friendly_gc
from flywheel.ingest.sink import PostgresSink, Record, coords
from flywheel.runtime.cpus import usable_cpus

log = logging.getLogger("flywheel.ingest")

PR_SET_PDEATHSIG = 1


def pack(batch: list[Any]) -> list[tuple[str, int, int, bytes | None, bytes | None]]:
    """Plain tuples pickle several times faster than kafka ConsumerRecords."""
    return [(r.topic, r.partition, r.offset, r.key, r.value) for r in batch]


def writer_loop(settings: Any, inq: Any, outq: Any, should_abort: Callable[[], bool], packed: bool) -> None:
    sink = PostgresSink(settings.db_url(), load_validator(settings), should_abort=should_abort)
    dlq = DeadLetterProducer(settings.bootstrap(), settings.dead_letter_topic)
    where = "no batch yet"
    try:
        while True:
            item = inq.get()
            if item is None:
                inq.put(None)  # wake the next writer too
                return
            seq, batch = item
            if packed:
                batch = [Record(*t) for t in batch]
            where = f"batch from {coords(batch[0])}, {len(batch)} records" if batch else "empty batch"
            result = sink.write(batch)
            for f in result.failures:
                log.warning("rejected %s", f.describe())
            pending = dlq.send(result.failures)
            if pending:
                # The stream goes on: the failures are in failed_events, flagged for `flywheel ingest-resend-dlq`.
                log.error("dead-letter topic %s did not acknowledge %d records (first %s); marked pending in "
                          "failed_events", settings.dead_letter_topic, len(pending), coords(pending[0].record))
                sink.mark_dead_letter_pending(pending)
                result.dead_letter_pending = len(pending)
            outq.put((seq, result))
    except BaseException as exc:  # handed to the consumer thread, which stops without committing
        log.error("writer failed (%s): %s: %s", where, type(exc).__name__, exc)
        outq.put(RuntimeError(f"{type(exc).__name__}: {exc} ({where})") if packed else exc)
    finally:
        sink.close()
        dlq.close()


def writer_processes(choice: bool | None, cpus: int | None = None) -> bool:
    """Resolve the writer mode: an explicit choice stands; None picks processes when two or more CPUs are usable."""
    if choice is not None:
        return choice
    return (usable_cpus() if cpus is None else cpus) >= 2


class WriterPool:
    """The writers and the queues between them and the consumer thread: threads, or child processes."""

    def __init__(self, settings: Any, n: int, *, processes: bool, queue_depth: int) -> None:
        self.settings = settings
        self.n = max(n, 1)
        self.processes = processes
        self.queue_depth = queue_depth
        self.start_method = ""  # of the writer processes: chosen when they start
        self.abort: Any = threading.Event()
        self.inq: Any = queue.Queue(maxsize=queue_depth)  # (seq, batch), then None to stop
        self.outq: Any = queue.Queue()  # (seq, BatchResult) or the exception that stopped a writer
        self.writers: list[Any] = []

    def start(self) -> None:
        if self.processes:
            # Forked from a process with no other thread, a writer starts with every module already imported; a
            # spawned one starts a new interpreter (~0.5 s of CPU each). Forking is only safe without other threads
            # (a lock one of them holds would stay locked in the child), so anything else spawns.
            self.start_method = "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"
            mp: Any = multiprocessing.get_context(self.start_method)
            self.abort, self.inq, self.outq = mp.Event(), mp.Queue(maxsize=self.queue_depth), mp.Queue()
            level = logging.getLogger("flywheel.ingest").getEffectiveLevel()
            self.writers = [mp.Process(target=process_main, name=f"ingest-writer-{i}", daemon=True,
                                       args=(self.settings, self.inq, self.outq, self.abort, os.getpid(), level))
                            for i in range(self.n)]
        else:
            self.writers = [threading.Thread(target=writer_loop, name=f"ingest-writer-{i}", daemon=True,
                                             args=(self.settings, self.inq, self.outq, self.abort.is_set, False))
                            for i in range(self.n)]
        for w in self.writers:
            w.start()

    def alive(self) -> bool:
        return all(w.is_alive() for w in self.writers)

    def stop(self) -> None:
        if self.processes:
            # A batch no writer took may still sit in the pipe (writers gone after an outage): it is read again from
            # Kafka, as its offsets are not committed, so exiting must not wait for the pipe to drain (it never would).
            self.inq.cancel_join_thread()
        # If the queue stays full the writers are gone or stuck on an aborted batch; they are daemons.
        with contextlib.suppress(queue.Full):
            self.inq.put(None, timeout=5)
        for w in self.writers:
            w.join(timeout=10)
            if self.processes and w.is_alive():
                w.terminate()
                w.join(timeout=5)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def process_main(settings: Any, inq: Any, outq: Any, abort: Any, parent: int, level: int) -> None:
    """Entry point of a writer process (spawned)."""
    _die_with_parent(parent)
    # The parent coordinates shutdown (finish the batch, commit offsets); Ctrl-C must not kill writers mid-batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(processName)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    with batch_friendly_gc():
        writer_loop(settings, inq, outq, abort.is_set, packed=True)
