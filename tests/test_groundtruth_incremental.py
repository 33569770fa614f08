"""Incremental ground truth (docs/domain.md#d20-incremental-ground-truth) gives the same runs as a full recompute on
the same events, whatever arrives late or twice; the counting rule of docs/domain.md#d4 on its edge cases."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from flywheel.contracts import ADJUST_KEYS, TOOLS
from flywheel.datasets.groundtruth import groundtruth_rows, run_groundtruth
from tests.support.events import EventWriter, clear_events, insert_rows

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture()
def w(engine):
    clear_events(engine)
    return EventWriter(engine)


def _insert(engine, table: str, rows: list[dict[str, Any]]) -> None:
    insert_rows(engine, table, rows, occurred_at=T0)


def intent(engine, rid: str, norm: str) -> None:
    _insert(engine, "intents", [{"request_id": rid, "intent": norm, "intent_norm": norm}])


def response(engine, rid: str, outputs: dict[str, Any], arm: str = "teacher",
             at: datetime = T0) -> None:
    _insert(engine, "responses", [{"request_id": rid, "arm": arm, "occurred_at": at,
                                   **{t: None if outputs.get(t) is None else json.dumps(outputs[t]) for t in TOOLS}}])


def export(engine, rid: str, tool: str, flag: bool) -> None:
    _insert(engine, "tool_exports", [{"request_id": rid, "tool": tool, "exported": flag}])


def adj(v: int) -> dict[str, int]:
    return {k: v if k == "exposure" else 0 for k in ADJUST_KEYS}


def rows_of(settings, engine, run) -> list[dict[str, Any]]:
    return groundtruth_rows(settings, run.run_id, engine=engine)


def counts(run) -> tuple[int, int, int, int]:
    return run.n_intents, run.n_intents_seen, run.n_dropped, run.n_responses


def full_again(settings, engine, run, **kw):
    """The same watermark computed from scratch (the incremental run's record is removed first)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": run.run_id})
    return run_groundtruth(settings, watermark=run.watermark, mode="full", engine=engine, **kw)


def _messy_day(engine, rng: random.Random, day: int, pending: list[Any]) -> None:
    """One day of requests with everything that goes wrong: late intents, late and duplicate exports, re-sent
    intents (another text) and responses, orphan exports, other arms."""
    for _ in pending:  # what yesterday left half-done arrives now
        pending.pop(0)()
    for i in range(25):
        rid = f"d{day}-r{i}"
        norm = f"intent {rng.randrange(6)}"
        arm = "teacher" if rng.random() < 0.75 else "student-a"
        outs = {t: (adj(rng.randrange(3) * 10) if t == "adjust" else {"v": rng.randrange(3)})
                if rng.random() < 0.7 else None for t in TOOLS}
        at = T0 + timedelta(days=day, minutes=rng.randrange(1000))
        late_intent = rng.random() < 0.15
        if not late_intent:
            intent(engine, rid, norm)
        response(engine, rid, outs, arm=arm, at=at)
        if late_intent:
            pending.append(lambda rid=rid, norm=norm: intent(engine, rid, norm))
        if rng.random() < 0.1:  # a buggy producer re-sends the intent, even with another text
            pending.append(lambda rid=rid: intent(engine, rid, "intent resent"))
        if rng.random() < 0.1:  # and the response, under a new event id
            pending.append(lambda rid=rid, outs=outs, arm=arm, at=at: response(engine, rid, outs, arm=arm, at=at))
        for t in TOOLS:
            if outs[t] is None and rng.random() > 0.05:
                continue
            flag = rng.random() < 0.4
            if rng.random() < 0.3:  # the export comes a day later, sometimes after a "not exported"
                if rng.random() < 0.5:
                    export(engine, rid, t, False)
                pending.append(lambda rid=rid, t=t, flag=flag: export(engine, rid, t, flag))
            else:
                export(engine, rid, t, flag)
    export(engine, f"d{day}-nobody", "adjust", True)  # an export without request


@pytest.mark.parametrize("arms", ["teacher", "all"])
def test_incremental_equals_full_on_messy_days(settings, engine, w, arms):
    rng = random.Random(15)
    pending: list[Any] = []
    runs = []
    for day in range(4):
        _messy_day(engine, rng, day, pending)
        run = run_groundtruth(settings, engine=engine, arms=arms)
        runs.append(run)
        if day:  # every night, not only the last, equals a full recompute
            rows = rows_of(settings, engine, run)
            full = full_again(settings, engine, run, arms=arms)
            assert rows_of(settings, engine, full) == rows and counts(full) == counts(run) and full.used == run.used
    assert all(r.params["mode"] == "incremental" for r in runs)
    # a nightly teacher run compares only what its fold changed with the current picks (groundtruth_pick_changed.sql)
    assert [r.params["repick"].get("changed_only") for r in runs] == [None] + [arms == "teacher"] * 3
    assert [r.params["fold"]["since"] is None for r in runs] == [True, False, False, False]
    for run in runs[1:]:  # every day folds only that day's requests (plus the ones yesterday's leftovers touch)
        assert run.params["fold"]["n_requests"] <= 25 + 25 + 1
    last = runs[-1]
    inc_rows = rows_of(settings, engine, last)
    assert len(inc_rows) > 6
    full = full_again(settings, engine, last, arms=arms)
    assert full.params["mode"] == "full" and full.run_id == last.run_id
    assert rows_of(settings, engine, full) == inc_rows
    assert counts(full) == counts(last)
    # and one fold over everything at once agrees with the four daily ones
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE groundtruth_candidates, groundtruth_folds"))
        conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": full.run_id})
    once = run_groundtruth(settings, watermark=last.watermark, engine=engine, arms=arms)
    assert once.params["fold"]["since"] is None
    assert rows_of(settings, engine, once) == inc_rows and counts(once) == counts(last)


def _tie_day(engine, rng: random.Random, day: int, pending: list[Any]) -> None:
    """A day built for ties: three intents, two outputs per tool, showings at a few moments only, exports that
    often come a day late; the night's pick must then rank again where only last_shown or the JSON text decides."""
    for _ in list(pending):
        pending.pop(0)()
    for i in range(12):
        rid = f"t{day}-r{i}"
        outs = {t: rng.choice([None, {"v": 1}, {"v": 2}]) for t in TOOLS}
        intent(engine, rid, f"tie {rng.randrange(3)}")
        response(engine, rid, outs, at=T0 + timedelta(hours=rng.randrange(3)))
        for t in TOOLS:
            if rng.random() < 0.4:
                flag = rng.random() < 0.6
                if rng.random() < 0.5:
                    pending.append(lambda rid=rid, t=t, flag=flag: export(engine, rid, t, flag))
                else:
                    export(engine, rid, t, flag)


@pytest.mark.parametrize("seed", range(6))
def test_every_night_equals_a_full_run_when_ties_abound(settings, engine, w, seed):
    rng = random.Random(seed)
    pending: list[Any] = []
    for day in range(5):
        _tie_day(engine, rng, day, pending)
        run = run_groundtruth(settings, engine=engine)
        assert run.params["repick"].get("changed_only") is (None if day == 0 else True)
        rows = rows_of(settings, engine, run)
        full = full_again(settings, engine, run)
        assert rows_of(settings, engine, full) == rows, f"seed {seed}, night {day}"
        assert counts(full) == counts(run) and full.used == run.used


def test_two_lineages_share_the_folds_and_one_may_skip_nights(settings, engine, w):
    """The teacher lineage compares only each night's changes; the all-arms lineage skips a night, so it re-picks
    from the list of changed intents the folds keep for it (docs/domain.md#d21)."""
    rng = random.Random(16)
    pending: list[Any] = []
    for day in range(4):
        _messy_day(engine, rng, day, pending)
        teacher = run_groundtruth(settings, engine=engine, arms="teacher")
        if day in (0, 3):
            everyone = run_groundtruth(settings, engine=engine, arms="all")
    assert teacher.params["repick"]["changed_only"] and not everyone.params["repick"]["changed_only"]
    assert everyone.params["fold"] is None  # the teacher run at the same watermark folded already
    for run, arms in ((teacher, "teacher"), (everyone, "all")):
        rows = rows_of(settings, engine, run)
        full = full_again(settings, engine, run, arms=arms)
        assert rows_of(settings, engine, full) == rows and counts(full) == counts(run)


def test_late_export_lands_on_the_candidate_it_was_shown_with(settings, engine, w):
    intent(engine, "r1", "warm")
    response(engine, "r1", {"adjust": adj(10)})
    intent(engine, "r2", "warm")
    response(engine, "r2", {"adjust": adj(20)})
    export(engine, "r2", "adjust", True)
    first = run_groundtruth(settings, engine=engine)
    assert {r["tool"]: r["output"] for r in rows_of(settings, engine, first)}["adjust"] == adj(20)
    export(engine, "r1", "adjust", False)
    export(engine, "r1", "adjust", True)  # the user changed their mind: exported (OR over duplicates)
    export(engine, "r1", "adjust", True)
    intent(engine, "r3", "warm")
    response(engine, "r3", {"adjust": adj(20)})  # 1/2 now for adj(20), 1/1 for adj(10)
    second = run_groundtruth(settings, engine=engine)
    assert second.params["fold"]["n_requests"] == 2
    row = {r["tool"]: r for r in rows_of(settings, engine, second)}["adjust"]
    assert row["output"] == adj(10) and row["exports"] == 1 and row["shown"] == 1 and row["support"] == 3
    assert rows_of(settings, engine, full_again(settings, engine, second)) == rows_of(settings, engine, second)


def test_several_intents_and_an_orphan_response_do_not_cancel_out(settings, engine, w):
    """The issue-15 edge case: a request with two intent rows and another response with none. The first ingested
    intent counts, the orphan response waits for its intent, each response is counted once."""
    intent(engine, "r1", "alpha")
    intent(engine, "r1", "beta")  # re-sent under a new event id with another text: ignored
    response(engine, "r1", {"filter": {"v": 1}})
    export(engine, "r1", "filter", True)
    response(engine, "r2", {"filter": {"v": 2}}, at=T0 + timedelta(minutes=1))  # its intent has not arrived
    export(engine, "r2", "filter", True)
    for mode in ("full", "incremental"):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM groundtruth_runs"))
        run = run_groundtruth(settings, engine=engine, mode=mode)
        rows = {(r["intent_norm"], r["tool"]): r for r in rows_of(settings, engine, run)}
        assert {k[0] for k in rows} == {"alpha"}, mode
        assert rows[("alpha", "filter")]["support"] == 1 and run.n_responses == 1, mode
        assert run.n_intents_seen == 1
    assert run.params["mode"] == "incremental"
    intent(engine, "r2", "alpha")  # the late intent: r2 is counted now, under alpha
    run = run_groundtruth(settings, engine=engine)
    row = {(r["intent_norm"], r["tool"]): r for r in rows_of(settings, engine, run)}[("alpha", "filter")]
    assert row["support"] == 2 and row["n_candidates"] == 2 and row["output"] == {"v": 2}  # more recent
    assert rows_of(settings, engine, full_again(settings, engine, run)) == rows_of(settings, engine, run)


def test_older_watermark_than_the_aggregates_is_computed_in_full(settings, engine, w):
    w.request("noir", {"filter": {"v": 1}}, {"filter": True})
    w.flush()
    first = run_groundtruth(settings, engine=engine)
    w.request("noir", {"filter": {"v": 2}}, {"filter": True})
    w.flush()
    run_groundtruth(settings, engine=engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": first.run_id})
    again = run_groundtruth(settings, watermark=first.watermark, engine=engine)
    assert again.run_id == first.run_id and again.params["mode"] == "full" and "why_full" in again.params
    assert again.n_responses == 1
