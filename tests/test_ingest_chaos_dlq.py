"""Ingest SIGKILLed while it dead-letters (real processes, broker and Postgres): nothing lost, nothing duplicated in the
event tables or failed_events, and every failure is in the dead-letter topic or marked pending for a re-send."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import psycopg
import pytest

from flywheel.ingest.dlq import _from_topic
from flywheel.ingest.sink import libpq_url
from flywheel.ingest.synthetic import synthetic_events
from flywheel.settings import Settings
from tests.support.figures import report
from tests.support.ingest import fresh_topics, produce_in_background, start_ingest
from tests.test_ingest_chaos import assert_exactly_once, stop, wait_for

pytestmark = pytest.mark.slow


def _failed(s: Settings) -> list[tuple[int, int, bool]]:
    with psycopg.connect(libpq_url(s.db_url())) as conn:
        return conn.execute("SELECT kafka_partition, kafka_offset, dead_letter_pending FROM failed_events "
                            "WHERE kafka_topic = %s", (s.events_topic,)).fetchall()


def test_sigkill_while_dead_lettering_loses_and_duplicates_nothing(settings: Settings, tmp_path: Path) -> None:
    s = fresh_topics(settings, "killdlq")
    rng = random.Random(20261130)
    good = list(synthetic_events(1200, seed=41))
    bad = [b'{"not": "an event", "n": %d}' % i for i in range(400)]  # one record in four is dead-lettered
    items: list[tuple[bytes | None, bytes | None]] = [(g.key, g.value) for g in good]
    for b in bad:
        items.insert(rng.randrange(len(items)), (b"pjunk", b))
    producer = produce_in_background(s, items, rate=40)  # lasts through the kills and restarts
    log = tmp_path / "ingest.log"
    kills = 0
    try:
        for _ in range(5):
            before = len(_failed(s))
            proc = start_ingest(s, ["--batch-size", "40"], log)
            try:
                # Kill right after it stored new failures: the moment it is sending them to the dead-letter topic.
                if wait_for(lambda b=before, p=proc: len(_failed(s)) > b or p.poll() is not None, timeout=40):
                    time.sleep(rng.uniform(0.0, 0.3))
                    assert proc.poll() is None, log.read_text()[-3000:]
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=30)
                    kills += 1
            finally:
                stop(proc)
    finally:
        producer.join(timeout=120)
    assert kills >= 3
    final = start_ingest(s, ["--idle-exit-s", "5"], log)
    try:
        assert final.wait(timeout=180) == 0, log.read_text()[-3000:]
    finally:
        stop(final)
    assert_exactly_once(s, good, bad)
    failed = _failed(s)
    in_dlq = [src for _, src in _from_topic(s.bootstrap(), s.dead_letter_topic, timeout_s=60)]
    pending = {(p, o) for p, o, is_pending in failed if is_pending}
    missing = {(p, o) for p, o, _ in failed} - {(sp, so) for st, sp, so in filter(None, in_dlq)} - pending
    assert missing == set(), f"{len(missing)} failures neither dead-lettered nor pending"
    report("ingest SIGKILL while dead-lettering", records=len(items), kills=kills, failed_events=len(failed),
           dead_letters=len(in_dlq), dead_letter_copies_beyond_one=len(in_dlq) - len(set(in_dlq)),
           pending=len(pending), lost=0, duplicated_rows=0)
