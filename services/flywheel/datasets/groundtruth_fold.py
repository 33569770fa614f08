"""Incremental ground truth (docs/domain.md#d20-incremental-ground-truth): fold the events ingested since the last
fold into per (intent_norm, tool, output, arm) aggregates, so a nightly run costs what arrived that day.

The fold shares the caller's transaction: the pick that follows reads the aggregates as folded, and a failed run
leaves the previous fold untouched. Folds are serialized by an advisory lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from flywheel.datasets.groundtruth_sql import sql
from flywheel.db.locks import LockNamespace, xact_lock
from flywheel.errors import ServiceUnavailable
from flywheel.ingest.sink import APPLICATION_NAME

SMALL_FOLD = 20  # a fold touching under 1/20 of all requests probes indexes (see index_probes)

# The touched requests, each with the span of occurred_at of its new events. The event tables are partitioned by
# occurred_at (0024): a night widens each span by the stored span of the request's events folded before
# (groundtruth_request_spans, which every fold keeps up to date), so the fold's probes by request_id read only the
# partitions where the request's events can be, not every month (at 10M events + 100k over 120 days: a fold of
# 1.0 s instead of 1.4-1.6 s; 0.8-1.0 s before the tables were partitioned).
_TOUCHED = """
CREATE TEMPORARY TABLE gt_touched ON COMMIT DROP AS
SELECT request_id, min(occurred_at) AS lo, max(occurred_at) AS hi FROM (
    SELECT request_id, occurred_at FROM intents WHERE ingested_at > :since AND ingested_at <= :watermark
    UNION ALL SELECT request_id, occurred_at FROM responses WHERE ingested_at > :since AND ingested_at <= :watermark
    UNION ALL SELECT request_id, occurred_at FROM tool_exports WHERE ingested_at > :since AND ingested_at <= :watermark
) e GROUP BY request_id
"""
# A night's first intent of each touched request, probed request by request (the planner, not knowing that run-time
# pruning leaves one partition per probe, otherwise reads every intent of every partition: 1.4 s at 10M events).
_REQ_ALL = """    SELECT DISTINCT ON (i.request_id) i.request_id, i.intent_norm, i.ingested_at
    FROM intents i JOIN gt_touched t ON t.request_id = i.request_id /*SPAN:i*/
    WHERE i.ingested_at <= :watermark
    ORDER BY i.request_id, i.ingested_at, i.event_id"""
_REQ_NIGHT = """    SELECT t.request_id, f.intent_norm, f.ingested_at FROM gt_touched t
    CROSS JOIN LATERAL (SELECT i.intent_norm, i.ingested_at FROM intents i
                        WHERE i.request_id = t.request_id AND i.ingested_at <= :watermark /*SPAN:i*/
                        ORDER BY i.ingested_at, i.event_id LIMIT 1) f"""
_WIDEN = ("UPDATE gt_touched t SET lo = least(t.lo, s.lo), hi = greatest(t.hi, s.hi)"
          " FROM groundtruth_request_spans s WHERE s.request_id = t.request_id")
_KEEP_SPANS = ("INSERT INTO groundtruth_request_spans (request_id, lo, hi) SELECT request_id, lo, hi FROM gt_touched"
               " ON CONFLICT (request_id) DO UPDATE SET lo = excluded.lo, hi = excluded.hi"
               " WHERE (groundtruth_request_spans.lo, groundtruth_request_spans.hi) <> (excluded.lo, excluded.hi)")

# Whether a lineage other than the one about to run exists, or that one missed a fold (it then re-picks from the
# list of changed intents instead of this fold's gt_changed).
_OTHER_LINEAGES = ("SELECT EXISTS (SELECT 1 FROM groundtruth_lineages WHERE lineage <> :l"
                   " OR fold_id <> (SELECT coalesce(max(id), 0) FROM groundtruth_folds))")

# What a day's fold changed, for the pick that follows in the same transaction (sql/groundtruth_pick_changed.sql):
# each candidate's new counters, and what the fold added (d_shown; inserted = the candidate is new). A candidate is
# only ever created by a showing, so it is new exactly when all its showings are this fold's.
_CHANGED = """
CREATE TEMPORARY TABLE gt_changed (arm text, intent_norm text, tool text, output jsonb, shown bigint, exports bigint,
                                   last_shown timestamptz, d_shown bigint, inserted boolean) ON COMMIT DROP
"""
_SAVE = """saved AS (
    INSERT INTO gt_changed (arm, intent_norm, tool, output, shown, exports, last_shown, d_shown, inserted)
    SELECT arm, intent_norm, tool, output, shown, exports, last_shown, d_shown, inserted FROM up
    RETURNING 1
),
"""


@dataclass(frozen=True)
class Fold:
    since: datetime | None  # None = the first fold (everything up to the watermark)
    watermark: datetime
    n_requests: int  # requests touched by the new events
    n_responses: int  # responses counted or given a late export
    n_candidates: int  # aggregate rows created or updated
    duration_s: float
    fold_id: int = 0  # groundtruth_folds.id; groundtruth_fold_intents lists the intents it changed (docs/domain.md#d21)


def folded_watermark(conn: Any) -> datetime | None:
    """Where the aggregates stand: every event ingested up to this time is in them (None = never folded)."""
    return conn.execute(text("SELECT max(watermark) FROM groundtruth_folds")).scalar()


def fold(conn: Any, *, watermark: datetime, lineage: str | None = None) -> Fold | None:
    """Bring the aggregates up to ``watermark`` inside the caller's transaction; None when they already are there.
    The caller has waited for ingest (``await_ingest``). ``lineage``: the lineage whose run follows in this
    transaction and compares only what this fold changed (docs/domain.md#d21); when no other lineage exists, nobody
    needs this fold's list of changed intents.

    Raises ValueError when the aggregates are already past ``watermark`` (they cannot go back: compute that run in
    full instead)."""
    xact_lock(conn, LockNamespace.GROUNDTRUTH_FOLD)
    since = folded_watermark(conn)
    if since is not None and since > watermark:
        raise ValueError(f"the aggregates are folded up to {since.isoformat()}, past {watermark.isoformat()}")
    if since is not None and since == watermark:
        return None
    t0 = time.perf_counter()
    fold_id = conn.execute(text("SELECT nextval(pg_get_serial_sequence('groundtruth_folds', 'id'))")).scalar_one()
    listed = since is None or lineage is None or conn.execute(text(_OTHER_LINEAGES), {"l": lineage}).scalar_one()
    args = {"since": since if since is not None else datetime.min, "watermark": watermark, "fold_id": fold_id,
            "list": listed}
    conn.execute(text("DROP TABLE IF EXISTS gt_touched"))
    conn.execute(text(_TOUCHED if since is not None else _TOUCHED.replace("ingested_at > :since AND ", "")), args)
    few = _is_small(conn)
    if since is not None:
        with index_probes(conn, few=few):
            conn.execute(text(_WIDEN))
    conn.execute(text("ANALYZE gt_touched"))
    statement = sql("groundtruth_fold.sql").replace("/*SAVE*/", _SAVE if since is not None else "")
    if since is not None:
        if _REQ_ALL not in statement:
            raise RuntimeError("sql/groundtruth_fold.sql: its `req` no longer reads as groundtruth_fold._REQ_ALL")
        statement = statement.replace(_REQ_ALL, _REQ_NIGHT)
    for alias in "ixp":  # the first fold reads everything: no span to bound
        statement = statement.replace(f"/*SPAN:{alias}*/", "" if since is None else
                                      f"AND {alias}.occurred_at BETWEEN t.lo AND t.hi")
    if since is not None:
        conn.execute(text("DROP TABLE IF EXISTS gt_changed"))
        conn.execute(text(_CHANGED))
    with index_probes(conn, few=few, partitions=True):
        stats = conn.execute(text(statement), args).mappings().one()
        if since is None:
            conn.execute(text("TRUNCATE groundtruth_request_spans"))
        conn.execute(text(_KEEP_SPANS))
    conn.execute(text("DROP TABLE gt_touched"))
    if since is None:  # the table was just filled: without statistics the next fold's merge reads all of it
        conn.execute(text("ANALYZE groundtruth_candidates"))
    done = Fold(since=since, watermark=watermark, n_requests=stats["n_requests"], n_responses=stats["n_responses"],
                n_candidates=stats["n_candidates"], duration_s=time.perf_counter() - t0, fold_id=fold_id)
    conn.execute(text(
        "INSERT INTO groundtruth_folds (id, watermark, n_requests, n_responses, n_candidates, duration_s)"
        " VALUES (:id, :wm, :nq, :nr, :nc, :d)"),
        {"id": fold_id, "wm": watermark, "nq": done.n_requests, "nr": done.n_responses, "nc": done.n_candidates,
         "d": done.duration_s})
    return done


class IngestInFlight(ServiceUnavailable):
    """An ingest transaction that may still add events at or before the watermark did not end in time."""


def await_ingest(conn: Any, *, watermark: datetime, timeout_s: float) -> None:
    """Wait until no ingest transaction that began at or before ``watermark`` is open.

    An event's ``ingested_at`` is its transaction's start, so a batch that began before the watermark can commit after
    the fold read the tables: the fold would miss it, and no later fold would read it (they start after the
    watermark). Ingest transactions are one batch (well under a second), so the wait is short."""
    deadline = time.monotonic() + timeout_s
    while True:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))  # pg_stat_activity is cached per transaction
        open_ = conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = :app"
            " AND xact_start <= :wm AND pid <> pg_backend_pid()"), {"app": APPLICATION_NAME, "wm": watermark}
        ).scalar_one()
        if not open_:
            return
        if time.monotonic() > deadline:
            raise IngestInFlight(f"{open_} ingest transaction(s) begun by {watermark.isoformat()} still open after "
                                 f"{timeout_s:.0f} s: ground truth at that watermark would miss their events")
        time.sleep(0.05)


def _is_small(conn: Any) -> bool:
    """A day's fold: the touched requests are a small part of all of them (the planner's row counts)."""
    # A partitioned table's own reltuples is never kept current (autovacuum analyzes its partitions only): their sum.
    touched, requests = conn.execute(text(
        "SELECT (SELECT count(*) FROM gt_touched), coalesce((SELECT sum(greatest(c.reltuples, 0)) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'intents'::regclass),"
        " (SELECT reltuples FROM pg_class WHERE oid = 'intents'::regclass))")).one()
    return bool(touched * SMALL_FOLD < max(requests, 0))


@contextmanager
def index_probes(conn: Any, *, few: bool, partitions: bool = False) -> Iterator[None]:
    """Probe the event tables by request_id for a day's fold. The planner misjudges how many export rows a
    temporary table of request ids meets (x2-7) and then reads all of tool_exports and intents (at 10M events + 100k:
    2.4 s, where the probes take 0.13 s); the first fold over all history must hash-join, so it keeps the planner's
    choice. ``partitions``: the statement probes partitioned tables, where the planner, which cannot know that
    run-time pruning leaves one partition per probe, also likes a merge join over every partition's index in
    request_id order (2.3 s of a night at 10M events)."""
    if not few:
        yield
        return
    names: tuple[str, ...] = ("enable_seqscan", "enable_bitmapscan")  # or the BRIN on ingested_at reads every page
    names += ("enable_mergejoin",) if partitions else ()
    before = {n: conn.execute(text("SELECT current_setting(:n)"), {"n": n}).scalar_one() for n in names}
    for n in names:
        conn.execute(text("SELECT set_config(:n, 'off', true)"), {"n": n})
    try:
        yield
    finally:
        for n, v in before.items():
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": n, "v": v})


def reset(conn: Any) -> None:
    """Forget the aggregates (the next fold starts from the first event again, and the next run of each lineage picks
    every intent again)."""
    xact_lock(conn, LockNamespace.GROUNDTRUTH_FOLD)
    conn.execute(text("TRUNCATE groundtruth_candidates, groundtruth_folds, groundtruth_fold_intents,"
                      " groundtruth_lineages"))
