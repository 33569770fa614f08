"""Evidence going away (docs/domain.md#erasure): an erasure takes its requests' showings and exports out of the
incremental aggregates instead of resetting them, so the next ground-truth run stays incremental (it re-picks the
intents the erasure touched) and equals a full recompute over the remaining events.

Three steps inside the erasure's transaction, under the fold's lock:

1. :func:`unfold`, before the events are deleted: ``sql/groundtruth_unfold.sql`` subtracts what the requests of the
   temporary table ``er_requests`` contributed up to the folded watermark, drops the candidates left with no showing,
   and records the change as a fold of its own (``groundtruth_folds`` at the same watermark, the touched intents in
   ``groundtruth_fold_intents``): every lineage's next run then re-picks exactly those intents (docs/domain.md#d21).
2. :func:`forget_picks`: the versions of intents nobody else typed go, and each lineage's counts lose what their
   open versions counted (the re-pick finds neither a version nor a candidate for them, so would not).
3. :func:`settle`, after the events are deleted: ``last_shown`` cannot be subtracted, so the candidates whose last
   showing may have been erased get it from the remaining events; and when the erased events were the newest the
   folds had read, the folded watermark goes back to the newest remaining one (else the next run, at that watermark,
   would find the aggregates "past" it and recompute everything).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from flywheel.datasets.groundtruth_fold import folded_watermark, reset
from flywheel.datasets.groundtruth_sql import _counted, sql
from flywheel.db.datasets import OPEN_VERSION
from flywheel.db.locks import LockNamespace, xact_lock

_UNFOLDED = """
CREATE TEMPORARY TABLE gt_unfolded (key uuid, arm text, intent_norm text, tool text, output jsonb, shown bigint,
                                    exports bigint, refresh boolean) ON COMMIT DROP
"""

# The last showing of each kept candidate whose last showing may have been erased, by the fold's rules (first
# ingested intent of the request, every response a showing) over the remaining events up to the folded watermark.
_LAST_SHOWN = """
UPDATE groundtruth_candidates g SET last_shown = coalesce(m.last_shown, '-infinity')
FROM (SELECT u.key, (
          SELECT max(p.occurred_at)
          FROM intents i JOIN responses p ON p.request_id = i.request_id
          WHERE i.intent_norm = u.intent_norm AND i.ingested_at <= :watermark AND p.ingested_at <= :watermark
            AND p.arm = u.arm
            AND coalesce(CASE u.tool WHEN 'adjust' THEN p.adjust WHEN 'selective_adjust' THEN p.selective_adjust
                                     ELSE p.filter END, 'null'::jsonb) = u.output
            AND NOT EXISTS (SELECT 1 FROM intents f WHERE f.request_id = i.request_id AND f.ingested_at <= :watermark
                            AND (f.ingested_at, f.event_id) < (i.ingested_at, i.event_id))) AS last_shown
      FROM gt_unfolded u WHERE u.refresh) m
WHERE g.key = m.key
"""

_EVENT_TABLES = ("intents", "responses", "tool_exports")


@dataclass(frozen=True)
class Unfold:
    watermark: datetime  # the folded watermark: what the folds had counted
    fold_id: int  # the groundtruth_folds row that lists the touched intents
    n_requests: int  # erased requests the folds had counted
    n_responses: int  # their counted responses
    n_candidates: int  # candidates changed or dropped
    duration_s: float


def unfold(conn: Any) -> Unfold | None:
    """Subtract the requests of ``er_requests`` from the aggregates (module docstring, step 1); call before their
    events are deleted. None when nothing was ever folded (the next run folds what remains from the start)."""
    xact_lock(conn, LockNamespace.GROUNDTRUTH_FOLD)
    since = folded_watermark(conn)
    if since is None:
        return None
    t0 = time.perf_counter()
    fold_id = conn.execute(text("SELECT nextval(pg_get_serial_sequence('groundtruth_folds', 'id'))")).scalar_one()
    conn.execute(text("DROP TABLE IF EXISTS gt_unfolded"))
    conn.execute(text(_UNFOLDED))
    stats = conn.execute(text(sql("groundtruth_unfold.sql")), {"watermark": since, "fold_id": fold_id}
                         ).mappings().one()
    done = Unfold(watermark=since, fold_id=fold_id, n_requests=stats["n_requests"],
                  n_responses=stats["n_responses"], n_candidates=stats["n_candidates"],
                  duration_s=time.perf_counter() - t0)
    # Negative counts tell this fold from the ones that add events.
    conn.execute(text(
        "INSERT INTO groundtruth_folds (id, watermark, n_requests, n_responses, n_candidates, duration_s)"
        " VALUES (:id, :wm, :nq, :nr, :nc, :d)"),
        {"id": fold_id, "wm": since, "nq": -done.n_requests, "nr": -done.n_responses, "nc": done.n_candidates,
         "d": done.duration_s})
    return done


def forget_picks(conn: Any) -> int:
    """Delete every version of the intents of ``er_private`` and take their open versions out of their lineage's
    counts (module docstring, step 2); returns the versions deleted. Their text leaves the lists of intents to
    re-pick too: with neither a version nor a candidate left, a re-pick of them would change nothing."""
    conn.execute(text("DELETE FROM groundtruth_fold_intents WHERE intent_norm IN (SELECT intent_norm FROM er_private)"))
    counted = _counted("v")
    sums = ", ".join(f"coalesce(sum({e}), 0) AS {k}" for k, e in counted.items())
    sets = ", ".join(f"{k} = l.{k} - o.{k}" for k in counted)
    return int(conn.execute(text(
        f"WITH gone AS (DELETE FROM groundtruth_picks WHERE intent_norm IN (SELECT intent_norm FROM er_private)"
        f" RETURNING *),"
        f" o AS (SELECT v.lineage, {sums} FROM gone v WHERE v.valid_to = {OPEN_VERSION} GROUP BY v.lineage),"
        f" fix AS (UPDATE groundtruth_lineages l SET {sets} FROM o WHERE l.lineage = o.lineage RETURNING 1)"
        f" SELECT (SELECT count(*) FROM gone) + 0 * (SELECT count(*) FROM fix)")).scalar_one())


def settle(conn: Any, done: Unfold, *, newest_erased: datetime | None) -> None:
    """After the events are deleted (module docstring, step 3). ``newest_erased``: the latest ``ingested_at`` of the
    erased events."""
    conn.execute(text(_LAST_SHOWN), {"watermark": done.watermark})
    conn.execute(text("DROP TABLE gt_unfolded"))
    if newest_erased is None or newest_erased < done.watermark:
        return  # an event at or past the folded watermark remains: the next run's default watermark is not below it
    remains = " OR ".join(f"EXISTS (SELECT 1 FROM {t} WHERE ingested_at >= :wm)" for t in _EVENT_TABLES)
    if conn.execute(text(f"SELECT {remains}"), {"wm": done.watermark}).scalar_one():
        return
    # Rare (the erased user sent the last events the folds read): the newest remaining event, over all history.
    newest = conn.execute(text("SELECT greatest(" + ", ".join(f"(SELECT max(ingested_at) FROM {t})"
                                                              for t in _EVENT_TABLES) + ")")).scalar()
    if newest is None:  # no event is left: nothing to keep
        reset(conn)
        return
    # No remaining event lies in (newest, watermark]: the aggregates count exactly the same events at both.
    conn.execute(text("UPDATE groundtruth_folds SET watermark = :n WHERE watermark > :n"), {"n": newest})
