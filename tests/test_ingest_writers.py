"""Writer mode: processes by default where two CPUs are usable; forked when the service is the process's only
thread, spawned otherwise; and the benchmark that measures them never writes into the real tables."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from flywheel.ingest.service import IngestOptions, IngestService
from flywheel.ingest.sink import libpq_url
from flywheel.ingest.synthetic import synthetic_events
from flywheel.ingest.workers import writer_processes
from flywheel.runtime.cpus import usable_cpus
from flywheel.settings import Settings
from flywheel_lab.bench.ingest import run_bench
from tests.support.ingest import EVENT_TABLES, fresh_topics, landed, produce


def test_writer_mode_defaults_to_processes_where_two_cpus_are_usable() -> None:
    assert writer_processes(None, cpus=1) is False
    assert writer_processes(None, cpus=2) is True
    assert writer_processes(False, cpus=16) is False  # an explicit choice stands
    assert writer_processes(True, cpus=1) is True


def test_usable_cpus_follow_a_container_cpu_quota(tmp_path: Path) -> None:
    f = tmp_path / "cpu.max"
    mask = usable_cpus(str(tmp_path / "absent"))  # no cgroup file: the affinity mask alone
    f.write_text("max 100000\n")
    assert usable_cpus(str(f)) == mask
    f.write_text("50000 100000\n")  # half a CPU: still one, and threads by default
    assert usable_cpus(str(f)) == 1 and writer_processes(None, cpus=usable_cpus(str(f))) is False
    f.write_text(f"{(mask + 8) * 100000} 100000\n")  # a quota above the mask does not add CPUs
    assert usable_cpus(str(f)) == mask


def test_libpq_url_keeps_everything_but_the_driver() -> None:
    assert libpq_url("postgresql+psycopg2://u:p%40ss@127.0.0.1:5432/db?sslmode=require") == \
        "postgresql://u:p%40ss@127.0.0.1:5432/db?sslmode=require"
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        libpq_url("mysql://u@h/db")


def test_writer_processes_spawn_when_another_thread_runs(settings: Settings) -> None:
    s = fresh_topics(settings, "spawn")
    good = list(synthetic_events(1500, seed=41))
    produce(s, [(g.key, g.value) for g in good])
    other = threading.Event()
    t = threading.Thread(target=other.wait, daemon=True)
    t.start()  # forking now could copy a lock this thread holds: the service must spawn
    try:
        svc = IngestService(s, IngestOptions(max_events=len(good), writer_processes=True, batch_size=300))
        stats = svc.run()
    finally:
        other.set()
        t.join()
    assert svc.pool.start_method == "spawn"
    assert stats.consumed == len(good)
    assert sum(landed(s, [g.event_id for g in good]).values()) == len(good)


def _event_rows(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        return sum((conn.execute(f"SELECT count(*) FROM {t}").fetchone() or (0,))[0] for t in EVENT_TABLES.values())


def test_ingest_bench_uses_a_scratch_database_and_drops_it(settings: Settings) -> None:
    before = _event_rows(settings.db_url())
    r = run_bench(settings, 3000, seed=7)
    assert r.rows == 3000  # every synthetic event became a row, in the scratch database
    assert r.peer_rate > 0 and r.ingest_rate > 0
    assert "client" in r.cpu_ingest_us and r.writers.endswith("processes" if writer_processes(None) else "threads")
    assert _event_rows(settings.db_url()) == before  # nothing reached the real tables
    with psycopg.connect(libpq_url(settings.db_url())) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'flywheel_bench_ingest_%'").fetchall()
    assert left == []
