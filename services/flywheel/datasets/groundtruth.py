"""Export-rate ground truth (docs/domain.md#ground-truth), computed inside Postgres and stored as a versioned run.

The whole computation is one set-based statement (`sql/groundtruth.sql`); Python only names the run and records it.

Decisions the original rules left open (docs/domain.md#decisions) (written down here, pinned by
tests/test_groundtruth*.py):

* Watermark = the latest ``ingested_at`` over ``intents``, ``responses`` and ``tool_exports`` (arrival time, not
  ``occurred_at``: a late event that arrives after a run must not silently change that run). Only events ingested up
  to the watermark are read, so a run is reproducible, and the run id is a hash of (teacher arm, watermark): running
  again for the same watermark returns the stored run instead of computing a second one.
* Candidates are compared as JSONB values (key order and whitespace do not matter:
docs/domain.md#d3-candidate-identity-and-null);
  ``null`` — SQL NULL or a JSON null — is a candidate meaning "tool not used".
* Ties of the export rate → more exports → more shown → most recently shown (latest ``occurred_at`` of a response
  that carried it) → the candidate's JSON text, so the result never depends on the query plan.
* Fallback when no used candidate of a tool was ever exported: the most frequent teacher output (null included);
  ties → most recently shown → JSON text.
* The zero-export filter counts exports of used candidates only.
* Every teacher response event is one showing (docs/domain.md#d4-showings-and-duplicate-events); a request whose intent
  event was re-sent under a new event id still has one intent (detected by counting, then recomputed with a
  per-request dedupe; the fast path skips that hash table because it cost 20-30 % per event at 10M events).
* ``support`` = the intent's number of (deduplicated) teacher responses.
* Which arms feed it (``arms``, setting ``groundtruth_arms``): "teacher" keeps only the teacher arm's responses;
  "all" makes every arm's response a candidate (a student output that users export is as good a candidate as a
  teacher output; docs/domain.md#groundtruth-arms). The run id of an all-arms run differs from a teacher-only one.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, text

from flywheel.contracts import TOOLS
from flywheel.db.engine import owned_engine
from flywheel.db.runs import track_run
from flywheel.settings import Settings

SQL_DIR = Path(__file__).with_name("sql")
_LOCK_NS = 5_000_001  # advisory-lock namespace of ground-truth runs


class NoEvents(RuntimeError):
    """There is nothing to compute ground truth from."""


class UnknownRun(LookupError):
    pass


@cache
def sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


_REQ_FAST = "SELECT request_id, intent_norm FROM intents WHERE ingested_at <= :watermark"
_REQ_DEDUPE = ("SELECT request_id, min(intent_norm) AS intent_norm FROM intents WHERE ingested_at <= :watermark"
               " GROUP BY request_id")


def groundtruth_sql(dedupe_intents: bool = False) -> str:
    return sql("groundtruth.sql").replace("/*REQ*/", _REQ_DEDUPE if dedupe_intents else _REQ_FAST)


@dataclass
class GroundTruthRun:
    run_id: str
    watermark: datetime
    teacher_arm: str
    n_intents: int
    n_intents_seen: int
    n_dropped: int
    n_responses: int
    duration_s: float
    created: bool  # False = an existing run for this watermark was returned
    used: dict[str, int] = field(default_factory=dict)  # tool -> intents whose ground truth uses it
    params: dict[str, Any] = field(default_factory=dict)


Arms = Literal["teacher", "all"]


def run_id_for(teacher_arm: str, watermark: datetime, arms: Arms = "teacher") -> str:
    key = f"{teacher_arm}|{_utc(watermark).isoformat()}" + ("|arms=all" if arms == "all" else "")
    return "gt-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def current_watermark(conn: Any) -> datetime | None:
    return conn.execute(text(
        "SELECT greatest((SELECT max(ingested_at) FROM intents), (SELECT max(ingested_at) FROM responses),"
        " (SELECT max(ingested_at) FROM tool_exports))")).scalar()


def run_groundtruth(settings: Settings, watermark: datetime | None = None, teacher_arm: str = "teacher",
                    *, engine: Engine | None = None, work_mem: str = "512MB",
                    airflow_run_id: str | None = None, arms: Arms | None = None) -> GroundTruthRun:
    """The groundtruth stage: compute (or return the stored) ground truth for the events ingested up to
    ``watermark`` (default: all) from the responses of ``arms`` (default: ``settings.groundtruth_arms``),
    recorded in ``pipeline_runs``."""
    arms = arms or settings.groundtruth_arms
    if arms not in ("teacher", "all"):
        raise ValueError(f"arms must be 'teacher' or 'all', got {arms!r}")
    inputs = {"watermark": watermark, "teacher_arm": teacher_arm, "arms": arms}
    with owned_engine(settings, engine) as eng, \
            track_run(eng, stage="groundtruth", inputs=inputs, airflow_run_id=airflow_run_id) as out:
        run = _compute(eng, watermark, teacher_arm, work_mem, arms)
        out.update(groundtruth_run_id=run.run_id, created=run.created, watermark=run.watermark,
                   n_intents=run.n_intents, n_responses=run.n_responses, used=run.used)
    return run


def _compute(eng: Engine, watermark: datetime | None, teacher_arm: str, work_mem: str,
             arms: Arms = "teacher") -> GroundTruthRun:
    with eng.begin() as conn:
        wm = watermark if watermark is not None else current_watermark(conn)
        if wm is None:
            raise NoEvents("no events ingested yet: run `flywheel ingest` (or a simulation) first")
        wm = _utc(wm)
        run_id = run_id_for(teacher_arm, wm, arms)
        # Two concurrent runs for the same watermark: the second waits, then finds the first one's result.
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:rid))"), {"ns": _LOCK_NS, "rid": run_id})
        existing = conn.execute(text("SELECT 1 FROM groundtruth_runs WHERE run_id = :r AND status = 'succeeded'"),
                                {"r": run_id}).first()
        if existing:
            return _load_run(conn, run_id, created=False)
        n_teacher = conn.execute(text(
            "SELECT count(*) FROM responses WHERE arm = :arm AND ingested_at <= :wm"),
            {"arm": teacher_arm, "wm": wm}).scalar_one()
        if not n_teacher:
            raise NoEvents(f"no responses of arm {teacher_arm!r} ingested up to {wm.isoformat()}: nothing to "
                           "compute ground truth from (is the teacher arm name right?)")
        n_candidates = n_teacher if arms == "teacher" else conn.execute(text(
            "SELECT count(*) FROM responses WHERE ingested_at <= :wm"), {"wm": wm}).scalar_one()
        params: dict[str, Any] = {"teacher_arm": teacher_arm, "watermark": wm.isoformat(), "rules": "spec-v1",
                                  "arms": arms}
        conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": run_id})
        conn.execute(text(
            "INSERT INTO groundtruth_runs (run_id, watermark, teacher_arm, arms, params, status)"
            " VALUES (:r, :wm, :arm, :arms, CAST(:p AS jsonb), 'running')"),
            {"r": run_id, "wm": wm, "arm": teacher_arm, "arms": arms, "p": _json(params)})
        # Hash joins/aggregates that fit in memory keep the cost linear in the events; memoize only adds a
        # cache keyed by three JSONB values per response.
        conn.execute(text(f"SET LOCAL work_mem = '{_safe_mem(work_mem)}'"))
        conn.execute(text("SET LOCAL enable_memoize = off"))
        t0 = time.perf_counter()
        args = {"run_id": run_id, "arm": teacher_arm, "watermark": wm, "all_arms": arms == "all"}
        attempt = conn.begin_nested()
        stats = conn.execute(text(groundtruth_sql()), args).mappings().one()
        if stats["n_responses"] > n_candidates:
            # More joined responses than responses: some request has several intent events. Redo it with one
            # intent per request (slower, rare: only a producer that re-sends under new event ids causes it).
            attempt.rollback()
            attempt = conn.begin_nested()
            stats = conn.execute(text(groundtruth_sql(dedupe_intents=True)), args).mappings().one()
            params["deduped_intents"] = True
            conn.execute(text("UPDATE groundtruth_runs SET params = CAST(:p AS jsonb) WHERE run_id = :r"),
                         {"p": _json(params), "r": run_id})
        attempt.commit()
        duration = time.perf_counter() - t0
        conn.execute(text(
            "UPDATE groundtruth_runs SET status = 'succeeded', n_intents = :ni, n_intents_seen = :ns,"
            " n_dropped = :nd, n_responses = :nr, duration_s = :d, finished_at = now() WHERE run_id = :r"),
            {"ni": stats["n_intents"], "ns": stats["n_intents_seen"],
             "nd": stats["n_intents_seen"] - stats["n_intents"], "nr": stats["n_responses"], "d": duration,
             "r": run_id})
        return _load_run(conn, run_id, created=True)


def _safe_mem(value: str) -> str:
    if not value.replace("MB", "").replace("GB", "").replace("kB", "").isdigit():
        raise ValueError(f"work_mem must look like '256MB', got {value!r}")
    return value


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, sort_keys=True, default=str)


def _load_run(conn: Any, run_id: str, created: bool) -> GroundTruthRun:
    row = conn.execute(text("SELECT * FROM groundtruth_runs WHERE run_id = :r"), {"r": run_id}).mappings().first()
    if row is None:
        raise UnknownRun(f"no ground-truth run {run_id!r}")
    if row["status"] != "succeeded":
        raise UnknownRun(f"ground-truth run {run_id!r} did not succeed (status {row['status']!r})")
    used = dict.fromkeys(TOOLS, 0)
    for tool, n in conn.execute(text(
            "SELECT tool, count(*) FROM groundtruth_rows WHERE run_id = :r AND used GROUP BY tool"), {"r": run_id}):
        used[tool] = n
    return GroundTruthRun(run_id=run_id, watermark=row["watermark"], teacher_arm=row["teacher_arm"],
                          n_intents=row["n_intents"], n_intents_seen=row["n_intents_seen"],
                          n_dropped=row["n_dropped"], n_responses=row["n_responses"],
                          duration_s=row["duration_s"] or 0.0, created=created, used=used,
                          params=dict(row["params"] or {}))


def get_run(settings: Settings, run_id: str | None = None, *, engine: Engine | None = None) -> GroundTruthRun:
    """A stored run by id, or the latest successful one when ``run_id`` is None."""
    with owned_engine(settings, engine) as eng, eng.connect() as conn:
        if run_id is None:
            run_id = conn.execute(text(
                "SELECT run_id FROM groundtruth_runs WHERE status = 'succeeded'"
                " ORDER BY watermark DESC, finished_at DESC LIMIT 1")).scalar()
            if run_id is None:
                raise UnknownRun("no ground-truth run yet: run `flywheel groundtruth` first")
        return _load_run(conn, run_id, created=False)


def groundtruth_rows(settings: Settings, run_id: str, *, engine: Engine | None = None) -> list[dict[str, Any]]:
    """The run's rows per (intent_norm, tool), with their evidence (small runs: tests, reports)."""
    with owned_engine(settings, engine) as eng, eng.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT intent_norm, tool, output, used, shown, exports, export_rate, support, n_candidates, rule"
            " FROM groundtruth_rows WHERE run_id = :r ORDER BY intent_norm, tool"), {"r": run_id}).mappings()]
