"""Export-rate ground truth (docs/domain.md#ground-truth), computed inside Postgres and stored as a versioned run.

Two ways to the same run (a test holds them equal on duplicates, orphans and late exports):

* ``mode="incremental"`` (the default, the nightly DAG's): fold the events ingested since the last fold into the
  per-candidate aggregates (``groundtruth_fold.py``, docs/domain.md#d20-incremental-ground-truth), then pick over
  them: ``sql/groundtruth_aggregates.sql`` + ``sql/groundtruth_pick.sql``.
* ``mode="full"``: one set-based statement over every event up to the watermark: ``sql/groundtruth_full.sql`` +
  ``sql/groundtruth_pick.sql``. Also used for a watermark older than the aggregates (they cannot go back).

Decisions the original rules left open (docs/domain.md#decisions, pinned by tests/test_groundtruth*.py):

* Watermark = the latest ``ingested_at`` over ``intents``, ``responses`` and ``tool_exports`` (arrival time: a late
  event must not silently change a stored run). Run id = hash of (arms, watermark); the same watermark returns the
  stored run.
* Candidates are compared as JSONB values; ``null`` (SQL NULL or JSON null) is the candidate "tool not used".
* Ties of the export rate → more exports → more shown → most recently shown → the candidate's JSON text.
* Fallback when no used candidate of a tool was ever exported: the most frequent output (null included).
* The zero-export filter counts exports of used candidates only.
* Counting (docs/domain.md#d4-showings-and-duplicate-events): every response event of the included arms is one
  showing; a request has one intent, its first ingested ``intent_submitted`` (ingested_at, then event_id); the
  request's exports (OR over duplicates) apply to each of its responses. ``support`` = the intent's showings.
* Arms (docs/domain.md#d2-which-arm-feeds-ground-truth): ``arms="teacher"`` reads the teacher arm only, ``"all"``
  every arm.
* Expired evidence (docs/domain.md#partitions-and-retention): once retention dropped event partitions, every run's
  params carry ``evidence_expired_before`` (the latest dropped upper bound). Incremental runs keep counting what was
  folded before the drop; a ``mode="full"`` run recomputes from the events left and says so (``evidence_partial``), as
  does an incremental run whose aggregates were folded anew after a drop (a reset, an erasure).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from flywheel.contracts import TOOLS
from flywheel.datasets.groundtruth_fold import Fold, await_ingest, fold, folded_watermark, index_probes
from flywheel.datasets.groundtruth_sql import (
    ARM,
    COUNTED,
    COUNTS,
    Arms,
    Mode,
    changed_pick_sql,
    groundtruth_sql,
    versions_sql,
)
from flywheel.db.datasets import OPEN_VERSION
from flywheel.db.engine import owned_engine
from flywheel.db.locks import LockNamespace, xact_lock
from flywheel.db.retention import evidence_expired_before, evidence_lost
from flywheel.db.runs import track_run
from flywheel.settings import Settings


class NoEvents(RuntimeError):
    """There is nothing to compute ground truth from."""


class UnknownRun(LookupError):
    pass


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


def run_id_for(teacher_arm: str, watermark: datetime, arms: Arms = "teacher") -> str:
    arm_key = teacher_arm if arms == "teacher" else "*"
    key = f"{arm_key}|{_utc(watermark).isoformat()}"
    return "gt-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


_MAX_INGESTED = ("SELECT greatest((SELECT max(ingested_at) FROM intents{w}),"
                 " (SELECT max(ingested_at) FROM responses{w}), (SELECT max(ingested_at) FROM tool_exports{w}))")


def current_watermark(conn: Any) -> datetime | None:
    """The latest ``ingested_at`` over the event tables. The BRIN indexes cannot give a max, but they can find what
    arrived after the last fold: when anything did, its max is the answer (at 10M events 0.01 s instead of 1.5 s)."""
    since = folded_watermark(conn)
    if since is not None:
        newer = conn.execute(text(_MAX_INGESTED.format(w=" WHERE ingested_at > :s")), {"s": since}).scalar()
        if newer is not None:
            return cast(datetime, newer)
    return cast("datetime | None", conn.execute(text(_MAX_INGESTED.format(w=""))).scalar())


def run_groundtruth(settings: Settings, watermark: datetime | None = None, teacher_arm: str = "teacher",
                    *, arms: Arms | None = None, mode: Mode = "incremental", engine: Engine | None = None,
                    work_mem: str = "512MB", temp_buffers: str = "128MB", airflow_run_id: str | None = None,
                    ingest_timeout_s: float = 120.0) -> GroundTruthRun:
    """The groundtruth stage: compute (or return the stored) ground truth for the events ingested up to
    ``watermark`` (default: all) from the responses of ``arms`` (default: ``settings.groundtruth_arms``), recorded
    in ``pipeline_runs``. ``mode="full"`` recomputes from the events."""
    arms = arms or settings.groundtruth_arms
    if arms not in ("teacher", "all"):
        raise ValueError(f"arms must be 'teacher' or 'all', got {arms!r}")
    inputs = {"watermark": watermark, "teacher_arm": teacher_arm, "arms": arms, "mode": mode}
    with owned_engine(settings, engine) as eng, \
            track_run(eng, stage="groundtruth", inputs=inputs, airflow_run_id=airflow_run_id) as out:
        run = _compute(eng, watermark, teacher_arm, work_mem, arms=arms, mode=mode, ingest_timeout_s=ingest_timeout_s,
                       temp_buffers=temp_buffers)
        out.update(groundtruth_run_id=run.run_id, created=run.created, watermark=run.watermark,
                   n_intents=run.n_intents, n_responses=run.n_responses, used=run.used,
                   mode=run.params.get("mode"), fold=run.params.get("fold"))
    return run


def _compute(eng: Engine, watermark: datetime | None, teacher_arm: str, work_mem: str, *, arms: Arms,
             mode: Mode, ingest_timeout_s: float, temp_buffers: str) -> GroundTruthRun:
    with eng.begin() as conn:
        wm = watermark if watermark is not None else current_watermark(conn)
        if wm is None:
            raise NoEvents("no events ingested yet: run `flywheel ingest` (or a simulation) first")
        wm = _utc(wm)
        run_id = run_id_for(teacher_arm, wm, arms)
        # Two concurrent runs for the same watermark: the second waits, then finds the first one's result.
        xact_lock(conn, LockNamespace.GROUNDTRUTH_RUN, run_id)
        existing = conn.execute(text("SELECT 1 FROM groundtruth_runs WHERE run_id = :r AND status = 'succeeded'"),
                                {"r": run_id}).first()
        if existing:
            return _load_run(conn, run_id, created=False)
        await_ingest(conn, watermark=wm, timeout_s=ingest_timeout_s)
        arm_sql = ARM if arms == "teacher" else ""
        # EXISTS, not count(*): an incremental run must not read all history to learn there is some.
        if not conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM responses WHERE ingested_at <= :wm{arm_sql})"),
                            {"arm": teacher_arm, "wm": wm}).scalar_one():
            raise NoEvents(f"no responses of arm {teacher_arm!r} ingested up to {wm.isoformat()}: nothing to "
                           "compute ground truth from (is the teacher arm name right?)")
        params: dict[str, Any] = {"teacher_arm": teacher_arm, "arms": arms, "watermark": wm.isoformat(),
                                  "rules": "spec-v2"}
        # Retention dropped the events before this (docs/domain.md#partitions-and-retention): an incremental run
        # still counts them (folded before they went), a full one cannot (see _pick).
        expired = evidence_expired_before(conn)
        if expired is not None:
            params["evidence_expired_before"] = _utc(expired).isoformat()
        _forget(conn, run_id)
        seq = conn.execute(text(
            "INSERT INTO groundtruth_runs (run_id, watermark, teacher_arm, arms, params, status)"
            " VALUES (:r, :wm, :arm, :arms, CAST(:p AS jsonb), 'running')"
            # A run an erasure made stale is recomputed in place: splits still name it (flywheel.privacy.erase).
            " ON CONFLICT (run_id) DO UPDATE SET status = 'running', params = excluded.params, lineage = NULL,"
            " seq = nextval(pg_get_serial_sequence('groundtruth_runs', 'seq')) RETURNING seq"),
            {"r": run_id, "wm": wm, "arm": teacher_arm if arms == "teacher" else "*", "arms": arms,
             "p": _json(params)}).scalar_one()
        # Hash joins/aggregates that fit in memory keep the cost linear in the events; memoize only adds a
        # cache keyed by three JSONB values per response.
        conn.execute(text(f"SET LOCAL work_mem = '{_safe_mem(work_mem)}'"))
        conn.execute(text("SET LOCAL enable_memoize = off"))
        _temp_buffers(conn, temp_buffers)
        t0 = time.perf_counter()
        args = {"run_id": run_id, "arm": teacher_arm, "watermark": wm, "seq": seq, "lineage": f"full:{seq}"}
        stats = _pick(conn, args, params, mode=mode, arms=arms)
        if expired is not None and evidence_lost(conn, full=params["mode"] == "full"):
            params["evidence_partial"] = True  # it counts only events newer than evidence_expired_before
        params["used"] = {t: stats["used_" + t] for t in TOOLS}
        duration = time.perf_counter() - t0
        conn.execute(text(
            "UPDATE groundtruth_runs SET status = 'succeeded', n_intents = :ni, n_intents_seen = :ns,"
            " n_dropped = :nd, n_responses = :nr, duration_s = :d, finished_at = now(), params = CAST(:p AS jsonb),"
            " seq = :seq, lineage = :lineage WHERE run_id = :r"),
            {"seq": args["seq"], "lineage": args["lineage"], "ni": stats["n_intents"], "ns": stats["n_intents_seen"],
             "nd": stats["n_intents_seen"] - stats["n_intents"], "nr": stats["n_responses"], "d": duration,
             "r": run_id, "p": _json(params)})
        return _load_run(conn, run_id, created=True)


def _pick(conn: Any, args: dict[str, Any], params: dict[str, Any], *, mode: Mode, arms: Arms) -> dict[str, int]:
    """Fold (incremental) and write the run's versions; returns the run's counts (``COUNTED``). Fills ``params``,
    and ``args``' ``seq`` and ``lineage`` (docs/domain.md#d21-versioned-ground-truth-rows)."""
    if mode == "incremental":
        try:
            folded = fold(conn, watermark=args["watermark"],
                          lineage=_lineage(args["arm"], arms) if arms == "teacher" else None)
        except ValueError as e:  # an older watermark than the aggregates: only a full run can read it
            params.update(mode="full", why_full=str(e))
        else:
            params.update(mode="incremental", fold=None if folded is None else {
                "since": folded.since, "n_requests": folded.n_requests, "n_responses": folded.n_responses,
                "n_candidates": folded.n_candidates, "duration_s": round(folded.duration_s, 3)})
            return _pick_lineage(conn, args, params, arms=arms, folded=folded)
    params.setdefault("mode", "full")
    n_resp = conn.execute(text("SELECT count(*) FROM responses WHERE ingested_at <= :watermark"
                               + (ARM if arms == "teacher" else "")), args).scalar_one()
    attempt = conn.begin_nested()
    stats = conn.execute(text(groundtruth_sql(arms=arms)), args).mappings().one()
    if stats["n_joined"] > n_resp:
        # More joined rows than responses (each response yields at least one, orphans included): some request has
        # several intent events. Redo it with the first intent per request (slower, rare: only a producer that
        # re-sends under new event ids causes it).
        attempt.rollback()
        attempt = conn.begin_nested()
        stats = conn.execute(text(groundtruth_sql(arms=arms, dedupe_intents=True)), args).mappings().one()
        params["deduped_intents"] = True
    attempt.commit()
    return dict(conn.execute(text(COUNTS), args).mappings().one())


def _pick_lineage(conn: Any, args: dict[str, Any], params: dict[str, Any], *, arms: Arms,
                  folded: Fold | None) -> dict[str, int]:
    """An incremental run's versions: the lineage of its arm setting re-picks the intents changed since its last run
    (every intent on its first run). Runs under the fold's lock, so a lineage's runs take their ``seq`` in the order
    they write. When the lineage's last run came right before this run's fold (the nightly case), only the
    candidates that fold changed are compared with the current picks (``changed_pick_sql``). The lineage keeps the
    counts of its open versions: a first run counts them, a later one adds what it changed."""
    lineage = _lineage(args["arm"], arms)
    seq = conn.execute(text("SELECT nextval(pg_get_serial_sequence('groundtruth_runs', 'seq'))")).scalar_one()
    args.update(lineage=lineage, seq=seq)
    known = conn.execute(text(f"SELECT fold_id, {', '.join(COUNTED)} FROM groundtruth_lineages WHERE lineage = :l"
                              " FOR UPDATE"), {"l": lineage}).mappings().first()
    last = None if known is None else known["fold_id"]
    t0 = time.perf_counter()
    if known is None:  # close whatever a lineage forgotten by a reset left open, then pick every intent
        conn.execute(text(f"UPDATE groundtruth_picks SET valid_to = :seq WHERE lineage = :lineage"
                          f" AND valid_to = {OPEN_VERSION}"), args)
        conn.execute(text(groundtruth_sql(mode="incremental", arms=arms)), args)
        conn.execute(text("ANALYZE groundtruth_picks"))  # every intent just written: plan the next night on it
        params["repick"] = {"first": True}
        counts = dict(conn.execute(text(COUNTS), args).mappings().one())
    else:
        # Only this run's fold since the lineage's last run: gt_changed holds all that moved.
        changed = (arms == "teacher" and folded is not None and folded.since is not None
                   and not conn.execute(text("SELECT EXISTS (SELECT 1 FROM groundtruth_folds"
                                             " WHERE id > :last AND id <> :this)"),
                                        {"last": last, "this": folded.fold_id}).scalar_one())
        if changed:  # one statement: the picks and their writes
            with index_probes(conn, few=True):
                n = conn.execute(text(changed_pick_sql()), args).mappings().one()
            t1 = time.perf_counter()
        else:
            conn.execute(text("DROP TABLE IF EXISTS gt_picked"))
            # A table, not a CTE: the planner then knows how few intents a day touches and probes by intent.
            conn.execute(text("DROP TABLE IF EXISTS gt_repick"))
            conn.execute(text("CREATE TEMPORARY TABLE gt_repick ON COMMIT DROP AS SELECT DISTINCT intent_norm FROM"
                              " groundtruth_fold_intents WHERE fold_id > :since"
                              + (ARM if arms == "teacher" else "")), {"since": last, "arm": args["arm"]})
            conn.execute(text("ANALYZE gt_repick"))
            # The picks first, in a statement of their own (timed apart from the writes: params.repick.pick_s).
            conn.execute(text("CREATE TEMPORARY TABLE gt_picked ON COMMIT DROP AS "
                              + groundtruth_sql(mode="incremental", arms=arms, repick=True)), args)
            t1 = time.perf_counter()
            n = conn.execute(text(versions_sql("groundtruth_repick.sql")), args).mappings().one()
            conn.execute(text("DROP TABLE gt_repick, gt_picked"))
        written = dict(n)
        counts = {k: known[k] + written.pop("d_" + k) for k in COUNTED}
        params["repick"] = {"since_fold": last, "changed_only": changed, **written, "pick_s": round(t1 - t0, 3)}
    params["repick"]["duration_s"] = round(time.perf_counter() - t0, 3)
    conn.execute(text(_SAVE_LINEAGE), {"l": lineage, "seq": seq, **counts})
    # What every lineage has re-picked is needed by none (a new lineage starts by picking every intent).
    conn.execute(text("DELETE FROM groundtruth_fold_intents WHERE fold_id <= (SELECT min(fold_id) FROM"
                      " groundtruth_lineages)"))
    return counts


# Where a lineage stands after a run: the last fold, the run, and the counts of its open versions.
_SAVE_LINEAGE = (f"INSERT INTO groundtruth_lineages (lineage, fold_id, seq, {', '.join(COUNTED)}) VALUES (:l,"
                 " (SELECT coalesce(max(id), 0) FROM groundtruth_folds), :seq, "
                 + ", ".join(":" + k for k in COUNTED) + ") ON CONFLICT (lineage) DO UPDATE SET"
                 " fold_id = excluded.fold_id, seq = excluded.seq, "
                 + ", ".join(f"{k} = excluded.{k}" for k in COUNTED))


def _lineage(teacher_arm: str, arms: Arms) -> str:
    """The lineage of the incremental runs of an arm setting (docs/domain.md#d21-versioned-ground-truth-rows)."""
    return "inc:" + (teacher_arm if arms == "teacher" else "*")


def _forget(conn: Any, run_id: str) -> None:
    """Drop an unfinished run (a failure's leftovers) and the versions only it reads; a stale run keeps its row."""
    lineage = conn.execute(text("SELECT lineage FROM groundtruth_runs WHERE run_id = :r"), {"r": run_id}).scalar()
    conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r AND status <> 'stale'"), {"r": run_id})
    if lineage is not None and lineage.startswith("full:"):  # an incremental lineage's versions are shared
        conn.execute(text("DELETE FROM groundtruth_picks WHERE lineage = :l"), {"l": lineage})


def _temp_buffers(conn: Any, value: str) -> None:
    """Keep a night's temporary tables in memory (gt_changed and gt_touched: ~15 MB at 100k new events; the default
    8MB writes them out and reads them back, ~0.07 s at 10M events). Only a session that has not used a temporary
    table yet can change it: a pooled connection that has keeps the size it has."""
    value = _safe_mem(value)
    if conn.execute(text("SELECT current_setting('temp_buffers')")).scalar_one() == value:
        return
    attempt = conn.begin_nested()
    try:
        conn.execute(text(f"SET temp_buffers = '{value}'"))
    except DBAPIError:
        attempt.rollback()
    else:
        attempt.commit()


def _safe_mem(value: str) -> str:
    if not value.replace("MB", "").replace("GB", "").replace("kB", "").isdigit():
        raise ValueError(f"work_mem and temp_buffers must look like '256MB', got {value!r}")
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
    if "used" in (row["params"] or {}):  # counted when the run was written
        used.update(row["params"]["used"])
    else:
        for tool, n in conn.execute(text(
                "SELECT tool, count(*) FROM groundtruth_rows WHERE run_id = :r AND used GROUP BY tool"),
                {"r": run_id}):
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
