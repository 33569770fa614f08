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
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from flywheel.events.validation import load_validator
from flywheel.ingest.dlq import DeadLetterProducer
from flywheel.ingest.heap import batch_friendly_gc
from flywheel.ingest.sink import PostgresSink, Record, coords

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
