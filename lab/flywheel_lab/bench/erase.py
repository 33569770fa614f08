"""`flywheel bench erase`: erasing one user at N events of history, ground truth included (goal <= 10 s at 10M):
``erase_user`` (their events, private text, the aggregates unfolded) + the next incremental ground-truth run (it
re-picks the intents the erasure touched), on the groundtruth bench's synthetic events in a scratch database.

The synthetic loader writes one project per request and no ``projects`` rows; the bench adds the erased user:
``user_requests`` of the history's requests become theirs (a ``projects`` row each, spread over the history, their
intents typed by others too) plus ``private`` requests with intents only they typed, ingested after the history
(the costliest place for them: right at the folded watermark). The rows of the run after the erasure are checked
against a full recompute at its watermark (``check``).
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from flywheel.db.scratch import drop, recreate, scratch_settings
from flywheel.settings import Settings
from flywheel_lab.bench.groundtruth import EVENTS_PER_REQUEST, T0, _load

USER = "bench-erased-user"


@dataclass
class EraseBench:
    events: int
    user_requests: int  # requests of the erased user (history + private)
    load_s: float
    first_fold_s: float  # the first incremental run over the history (the state a night leaves)
    erase_s: float  # erase_user: find, unfold, delete, record
    groundtruth_s: float  # the next incremental run
    repicked: int  # intents that run re-picked
    deleted: dict[str, int]
    equals_full: bool | None  # None: not checked

    @property
    def total_s(self) -> float:
        return self.erase_s + self.groundtruth_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_s": self.total_s}


def _give_user(eng: Any, *, n_requests: int, user_requests: int, private: int, seed: int) -> None:
    """Make ``user_requests`` history requests the user's (their projects, ``p{i}``) and add ``private`` requests of
    their own with intents nobody else typed."""
    rng = random.Random(seed + 99)
    picked = rng.sample(range(n_requests), min(user_requests, n_requests))
    with eng.begin() as conn:
        conn.execute(text(
            "INSERT INTO projects (event_id, schema_version, occurred_at, producer, project_id, user_id, platform,"
            " app_version) SELECT gen_random_uuid(), 1, :t, 'bench', 'p' || i, :u, 'ios', '1.0'"
            " FROM unnest(CAST(:ids AS int[])) AS i"), {"t": T0, "u": USER, "ids": picked})
        for k in range(private):
            rid, pid = f"erased-{k}", f"erased-p{k}"
            common = {"t": T0, "p": pid, "r": rid}
            conn.execute(text(
                "INSERT INTO projects (event_id, schema_version, occurred_at, producer, project_id, user_id,"
                " platform, app_version) VALUES (:e, 1, :t, 'bench', :p, :u, 'ios', '1.0')"),
                {**common, "e": str(uuid.uuid4()), "u": USER})
            conn.execute(text(
                "INSERT INTO intents (event_id, schema_version, occurred_at, producer, project_id, request_id, intent,"
                " intent_norm) VALUES (:e, 1, :t, 'bench', :p, :r, :i, lower(:i))"),
                {**common, "e": str(uuid.uuid4()), "i": f"My private look number {k} for {USER}"})
            conn.execute(text(
                "INSERT INTO responses (event_id, schema_version, occurred_at, producer, project_id, request_id, arm,"
                " model_name, model_version, adjust, selective_adjust, filter, latency_ms) VALUES (:e, 1, :t,"
                " 'bench', :p, :r, 'teacher', 'bench-teacher', 'v1', NULL, NULL, NULL, 120)"),
                {**common, "e": str(uuid.uuid4())})


def bench_erase(settings: Settings, n_events: int, *, seed: int = 0, user_requests: int = 50, private: int = 5,
                check: bool = True, keep: bool = False, progress: Any = None) -> EraseBench:
    """Load N events into a scratch database, fold them (first incremental run), erase the user and time the erasure
    and the next incremental run; ``check``: compare that run with a full recompute (not timed)."""
    from flywheel.datasets.groundtruth import groundtruth_rows, run_groundtruth
    from flywheel.db.engine import make_engine
    from flywheel.db.migrate import upgrade
    from flywheel.privacy.erase import erase_user

    n_requests = n_events // EVENTS_PER_REQUEST
    name = f"flywheel_bench_erase_{n_events}"
    recreate(settings, name)
    tmp = tempfile.TemporaryDirectory(prefix="flywheel-bench-erase-")
    s = scratch_settings(settings, name, artifacts_dir=Path(tmp.name))
    upgrade(s)
    eng = make_engine(s)
    say = progress or (lambda _msg: None)
    try:
        t0 = time.perf_counter()
        _load(eng, n_requests, seed, say)
        _give_user(eng, n_requests=n_requests, user_requests=user_requests, private=private, seed=seed)
        load_s = time.perf_counter() - t0
        say("first incremental run (folds the whole history) ...")
        t1 = time.perf_counter()
        run_groundtruth(s, engine=eng)
        first_s = time.perf_counter() - t1
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # what a day of autovacuum does
            conn.execute(text("VACUUM (ANALYZE) groundtruth_candidates, groundtruth_picks"))
        say(f"erasing {USER} ...")
        t2 = time.perf_counter()
        erased = erase_user(engine=eng, user_id=USER, artifacts_dir=Path(tmp.name))
        erase_s = time.perf_counter() - t2
        say("the next incremental ground-truth run ...")
        t3 = time.perf_counter()
        after = run_groundtruth(s, engine=eng)
        gt_s = time.perf_counter() - t3
        same = None
        if check:
            say("full recompute at the same watermark (check) ...")
            rows = groundtruth_rows(s, after.run_id, engine=eng)
            with eng.begin() as conn:
                conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": after.run_id})
            full = run_groundtruth(s, watermark=after.watermark, mode="full", engine=eng)
            same = groundtruth_rows(s, full.run_id, engine=eng) == rows
        return EraseBench(events=n_requests * EVENTS_PER_REQUEST, user_requests=erased.counts.get("intents", 0),
                          load_s=load_s, first_fold_s=first_s, erase_s=erase_s, groundtruth_s=gt_s,
                          repicked=int((after.params.get("repick") or {}).get("n_touched") or 0),
                          deleted={k: v for k, v in erased.counts.items() if v}, equals_full=same)
    finally:
        eng.dispose()
        tmp.cleanup()
        if not keep:
            drop(settings, name)
