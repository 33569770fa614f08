"""`analytics.groundtruth_evidence` explains every pick of every ground-truth run, after later runs moved on: its
rank-1 candidate of each (run, intent, tool) is the run's stored pick, with the same counts, on messy days (late
intents and exports, re-sent events, other arms) and on days built for ties, for both arm settings and for a run
computed in full at an older watermark. The view counts each run's own events again (ingested up to its watermark),
so nothing about the night changes (`groundtruth_candidates` keeps only today's totals)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import text

from flywheel.datasets.groundtruth import GroundTruthRun, run_groundtruth
from tests.test_groundtruth_incremental import _messy_day, _tie_day, full_again, w  # noqa: F401 (fixture)

pytestmark = pytest.mark.services

_STORED = ("SELECT intent_norm, tool, output, shown, exports, support, n_candidates, rule FROM groundtruth_rows"
           " WHERE run_id = :r")
_PICKED = ("SELECT intent_norm, tool, output, shown, exports, support, n_candidates, rule"
           " FROM analytics.groundtruth_evidence WHERE run_id = :r AND picked")


def _explained(engine, run: GroundTruthRun) -> None:
    with engine.connect() as c:
        stored = {(r.intent_norm, r.tool): tuple(r)[2:] for r in c.execute(text(_STORED), {"r": run.run_id})}
        picked = {(r.intent_norm, r.tool): tuple(r)[2:] for r in c.execute(text(_PICKED), {"r": run.run_id})}
    assert stored, run.run_id
    assert {k: picked.get(k) for k in stored} == stored, run.run_id
    # the evidence also has the intents the zero-export filter dropped (picked, not kept)
    assert len({i for i, _ in picked} - {i for i, _ in stored}) == run.n_dropped


@pytest.mark.parametrize("arms", ["teacher", "all"])
def test_every_pick_of_every_run_is_explained(settings, engine, w, arms) -> None:  # noqa: F811
    rng = random.Random(30)
    pending: list[Any] = []
    runs = []
    for day in range(4):
        _messy_day(engine, rng, day, pending)
        runs.append(run_groundtruth(settings, engine=engine, arms=arms))
    runs.append(full_again(settings, engine, runs[1], arms=arms))  # an older watermark, in a lineage of its own
    assert runs[-1].params["mode"] == "full"
    for run in runs:  # after the last night: each run's evidence is still its own
        _explained(engine, run)


@pytest.mark.parametrize("seed", range(3))
def test_ties_are_broken_as_the_runs_broke_them(settings, engine, w, seed) -> None:  # noqa: F811
    rng = random.Random(seed)
    pending: list[Any] = []
    runs = []
    for day in range(4):
        _tie_day(engine, rng, day, pending)
        runs.append(run_groundtruth(settings, engine=engine))
    for run in runs:
        _explained(engine, run)


def test_an_intent_across_runs(settings, engine, w) -> None:  # noqa: F811
    """The question analysts ask: one intent, every run; later events change the counts of later runs only."""
    rng = random.Random(31)
    pending: list[Any] = []
    runs = []
    for day in range(3):
        _messy_day(engine, rng, day, pending)
        runs.append(run_groundtruth(settings, engine=engine))
    with engine.connect() as c:
        rows = c.execute(text("SELECT run_id, sum(shown) AS shown, sum(exports) AS exports"
                              " FROM analytics.groundtruth_evidence WHERE intent_norm = 'intent 1' AND tool = 'adjust'"
                              " GROUP BY run_id, run_seq ORDER BY run_seq")).all()
    assert [r.run_id for r in rows] == [r.run_id for r in runs]
    shown = [r.shown for r in rows]
    assert shown == sorted(shown) and shown[0] < shown[-1]  # showings only ever add up
