"""Garbage-collector settings for the ingest loop.

Every record becomes a few dicts and lists (the Kafka record, the parsed event, its row). They are acyclic and freed
by reference counting as soon as a batch is written, but with CPython's default threshold (a young-generation pass
every 700 container allocations) the collector traverses each of them a few times while the batch is in flight, and
the full passes traverse every long-lived object of the process. Measured on the benchmark stream that was ~40% of
the validation CPU (docs/events.md#throughput-flywheel-bench-ingest). Freezing what start-up allocated and a far
larger young generation keep the collector for what it is for (reference cycles) at a small fraction of the cost.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Young-generation allocations between passes: a few batches' worth of objects. Cyclic garbage waits at most this
# long; acyclic objects never wait for the collector at all.
YOUNG_THRESHOLD = 200_000


@contextmanager
def batch_friendly_gc(young: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Freeze the objects allocated so far and collect the young generation rarely; restored on exit."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(young, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
