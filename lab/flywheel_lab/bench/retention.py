"""`flywheel bench retention`: with N events of history in monthly partitions, time retention dropping one month
(every event table's partition of it), without and then with the Parquet export (goal: seconds at 10M events).

The history is the groundtruth bench's (``flywheel_lab.bench.groundtruth``: 5 events per request, spread over 120
days from 2026-10-01, so October and November are whole months). Its kept scratch database
(`flywheel bench groundtruth --keep`) is cloned when it exists with the right size, else one is loaded; the clone is
what loses its months, and it is dropped at the end.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from flywheel.db.scratch import admin, drop, recreate, scratch_settings
from flywheel.settings import Settings
from flywheel_lab.bench.groundtruth import EVENTS_PER_REQUEST, _db_events, _load


@dataclass
class RetentionBench:
    events: int
    source: str  # "clone of <db>" or "loaded"
    prepare_s: float
    plan_s: float = 0.0
    drops: list[dict[str, Any]] = field(default_factory=list)  # one per month dropped


def bench_retention(settings: Settings, n_events: int, *, seed: int = 0, keep: bool = False,
                    progress: Any = None) -> RetentionBench:
    """Drop October 2026 without an export, then November 2026 with one; each drop in its own transaction."""
    from flywheel.db.engine import make_engine
    from flywheel.db.migrate import upgrade
    from flywheel.db.retention import apply_retention, plan_retention

    n_requests = n_events // EVENTS_PER_REQUEST
    source_db, name = f"flywheel_bench_{n_events}", f"flywheel_bench_retention_{n_events}"
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    drop(settings, name)
    if _db_events(settings, source_db) == n_requests * EVENTS_PER_REQUEST:
        say(f"cloning {source_db} ...")
        admin(settings, f'CREATE DATABASE "{name}" TEMPLATE "{source_db}"')
        source = f"clone of {source_db}"
    else:
        recreate(settings, name)
        source = "loaded"
    tmp = tempfile.TemporaryDirectory(prefix="flywheel-bench-retention-")
    s = scratch_settings(settings, name, artifacts_dir=Path(tmp.name))
    upgrade(s)
    eng = make_engine(s)
    try:
        if source == "loaded":
            say(f"loading {n_events:,} events ...")
            _load(eng, n_requests, seed, say)
        out = RetentionBench(events=n_requests * EVENTS_PER_REQUEST, source=source,
                             prepare_s=time.perf_counter() - t0)
        # `now` one month after the month that goes, with a 30-day window: exactly that month is past it.
        months = [(datetime(2026, 12, 1, tzinfo=UTC), None), (datetime(2027, 1, 1, tzinfo=UTC),
                                                                Path(tmp.name) / "export")]
        with eng.connect() as conn:
            t1 = time.perf_counter()
            plan_retention(conn, now=months[0][0], days=30)
            out.plan_s = time.perf_counter() - t1
        for now, export_dir in months:
            say(f"dropping the month before {now:%Y-%m} ({'with' if export_dir else 'without'} export) ...")
            t2 = time.perf_counter()
            with eng.begin() as conn:
                dropped = apply_retention(conn, now=now, days=30, export_dir=export_dir)
            total = time.perf_counter() - t2
            files = sum(p.stat().st_size for p in export_dir.rglob("*.parquet")) if export_dir else 0
            out.drops.append({
                "month": f"{dropped[0].partition.lower:%Y-%m}" if dropped else "-", "export": export_dir is not None,
                "partitions": len(dropped), "rows": sum(d.rows for d in dropped),
                "bytes": sum(d.partition.bytes for d in dropped), "parquet_bytes": files,
                "export_s": round(sum(d.export_s for d in dropped), 2), "total_s": round(total, 2)})
        with eng.connect() as conn:  # what is left reads as before
            conn.execute(text("SELECT count(*) FROM intents WHERE occurred_at >= '2026-12-01'")).scalar_one()
        return out
    finally:
        eng.dispose()
        tmp.cleanup()
        if not keep:
            drop(settings, name)
