"""Chaos drills on real processes: SIGKILL at random points, a Postgres outage mid-stream, two members in one group.
The invariant each time: every produced event is in its table exactly once, every bad record in failed_events once."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from flywheel.db.migrate import upgrade_url
from flywheel.ingest.synthetic import synthetic_events
from flywheel.runtime.postgres import EmbeddedPostgres
from flywheel.runtime.proc import free_port
from flywheel.settings import Settings
from tests.support.ingest import (
    EVENT_TABLES,
    failed_rows,
    fresh_topics,
    landed,
    produce,
    produce_in_background,
    start_ingest,
)

pytestmark = pytest.mark.slow


def total(s: Settings, ids: list[str]) -> int:
    return sum(landed(s, ids).values())


def wait_for(pred, timeout: float, every: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)


def assert_exactly_once(s: Settings, good: list, bad_values: list[bytes]) -> None:
    by_type: dict[str, int] = {}
    for g in good:
        by_type[EVENT_TABLES[g.event_type]] = by_type.get(EVENT_TABLES[g.event_type], 0) + 1
    assert landed(s, [g.event_id for g in good]) == by_type  # 0 lost (and PK: 0 duplicated)
    rows = failed_rows(s, s.events_topic)
    assert sorted(r[3] for r in rows) == sorted(bad_values)  # each bad record once, by its coordinates


def test_sigkill_at_random_points_loses_and_duplicates_nothing(settings: Settings, tmp_path: Path) -> None:
    s = fresh_topics(settings, "kill")
    rng = random.Random(20261123)
    good = list(synthetic_events(3000, seed=21))
    bad = [b"junk-%d" % i for i in range(25)]
    items: list[tuple[bytes | None, bytes | None]] = [(g.key, g.value) for g in good]
    for b in bad:
        items.insert(rng.randrange(len(items)), (b"pjunk", b))
    ids = [g.event_id for g in good]
    # A trickle that lasts through all the kills: each restart waits out the dead member's session (~14 s with the
    # embedded broker), so six cycles take ~90 s; at 50/s the stream ended before the fifth on a quiet machine.
    producer = produce_in_background(s, items, rate=30)
    log = tmp_path / "ingest.log"
    progress = []
    killed_while_writing = 0
    try:
        for cycle in range(6):
            before = total(s, ids)
            # Alternate writer threads and writer processes: both must survive SIGKILL without loss.
            mode = "--processes" if cycle % 2 else "--threads"
            proc = start_ingest(s, ["--batch-size", "150", mode], log)
            try:
                # Kill while it is writing: after it has committed something new, at a random moment.
                p = proc
                wrote = wait_for(lambda b=before, p=p: total(s, ids) > b or p.poll() is not None, timeout=40)
                killed_while_writing += wrote and producer.is_alive()
                time.sleep(rng.uniform(0.0, 1.2))
                assert proc.poll() is None, log.read_text()[-3000:]
                children = psutil.Process(proc.pid).children(recursive=True)
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                # Writer processes die with their parent (PR_SET_PDEATHSIG): nothing keeps writing behind our back.
                _, alive = psutil.wait_procs(children, timeout=10)
                assert not alive, alive
            finally:
                stop(proc)
            progress.append(total(s, ids))
    finally:
        producer.join(timeout=120)
    assert killed_while_writing >= 5 and len(set(progress)) >= 5, progress  # the killed runs did real work
    final = start_ingest(s, ["--idle-exit-s", "5"], log)
    try:
        assert final.wait(timeout=180) == 0, log.read_text()[-3000:]
    finally:
        stop(final)
    assert_exactly_once(s, good, bad)


@pytest.mark.parametrize("mode", ["--threads", "--processes"])
def test_postgres_outage_mid_stream_loses_nothing(settings: Settings, tmp_path: Path, mode: str) -> None:
    # Processes: a batch left in the pipe to writers that gave up must not keep the service from exiting.
    pg = EmbeddedPostgres(root=tmp_path / "pg", port=free_port())
    pg.start()
    try:
        with psycopg.connect(host="127.0.0.1", port=pg.port, user=pg.user, password=pg.password(), dbname="postgres",
                             autocommit=True) as c:
            c.execute("CREATE DATABASE flywheel")
        url = f"postgresql+psycopg2://{pg.user}:{pg.password()}@127.0.0.1:{pg.port}/flywheel"
        upgrade_url(url)
        s = fresh_topics(settings, "pgdown", database_url=url)
        good = list(synthetic_events(3000, seed=22))
        ids = [g.event_id for g in good]
        log = tmp_path / "ingest.log"
        proc = start_ingest(s, ["--batch-size", "200", "--shutdown-grace-s", "3", mode], log)
        try:
            # The stream starts once ingest holds the partitions: on a busy machine joining the group can outlast
            # the whole stream, and then nothing would be left to write when Postgres goes down.
            assert wait_for(lambda: "assigned partitions" in log.read_text(), timeout=60), log.read_text()[-3000:]
            producer = produce_in_background(s, [(g.key, g.value) for g in good], rate=250)
            assert wait_for(lambda: total(s, ids) > 0, timeout=60), log.read_text()[-3000:]
            pg.stop()
            time.sleep(5)
            assert proc.poll() is None, "ingest must keep retrying while Postgres is down"
            # SIGTERM while Postgres is still down: it cannot finish the batch, so it exits 3 without committing.
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 3, log.read_text()[-3000:]
            proc = start_ingest(s, ["--batch-size", "200", mode], log)
            time.sleep(3)
            pg.start()
            producer.join(timeout=120)
            assert wait_for(lambda: total(s, ids) == len(ids), timeout=120, every=1), total(s, ids)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            stop(proc)
        text = log.read_text()
        assert re.search(r"Postgres unavailable writing batch from ev\.pgdown\.\w+\[\d\]@\d+", text), text[-3000:]
        assert_exactly_once(s, good, [])
    finally:
        pg.stop()


def test_two_processes_in_one_group_share_the_partitions(settings: Settings, tmp_path: Path) -> None:
    s = fresh_topics(settings, "pair")
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start_ingest(s, ["--idle-exit-s", "10", "--batch-size", "200"], log) for log in logs]
    try:
        # Both members must hold partitions before events flow, or one could drain the topic alone.
        def balanced() -> bool:
            last = [re.findall(r"assigned partitions: (\[.*\])", log.read_text()) for log in logs]
            return all(last) and all(len(eval(x[-1])) == 2 for x in last)  # noqa: S307 - our own log line

        assert wait_for(balanced, timeout=60), [log.read_text()[-2000:] for log in logs]
        good = list(synthetic_events(4000, seed=23))
        produce(s, [(g.key, g.value) for g in good], rate=2000)
        for p in procs:
            assert p.wait(timeout=120) == 0
    finally:
        for p in procs:
            stop(p)
    texts = [log.read_text() for log in logs]
    consumed = [int(re.findall(r"consumed=(\d+)", t)[-1]) for t in texts]
    assert all(c > 0 for c in consumed) and sum(consumed) == len(good), consumed
    parts = [set(eval(re.findall(r"assigned partitions: (\[.*\])", t)[-1])) for t in texts]  # noqa: S307
    assert not (parts[0] & parts[1]) and len(parts[0] | parts[1]) == 4
    assert_exactly_once(s, good, [])
