"""Erasure takes evidence out of the incremental aggregates (flywheel.datasets.groundtruth_unfold,
docs/domain.md#erasure): the next run stays incremental, re-picks only the touched intents, and equals a full
recompute over the remaining events, whatever was late, duplicated or orphaned; so do the nights after it."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from flywheel.contracts import ADJUST_KEYS, TOOLS
from flywheel.datasets.groundtruth import groundtruth_rows, run_groundtruth
from flywheel.datasets.groundtruth_sql import Arms
from flywheel.privacy.erase import erase_user
from tests.support.events import clear_events, insert_rows

T0 = datetime(2026, 12, 1, tzinfo=UTC)
USERS = [f"u-{i}" for i in range(5)]


def _insert(engine, table: str, user: str, rows: list[dict[str, Any]]) -> None:
    """Events of one user's project, in one transaction of the moment (ingested_at = its now())."""
    insert_rows(engine, table, rows, occurred_at=T0, project_id=f"p-{user}")


def _projects(engine) -> None:
    with engine.begin() as conn:
        for u in USERS:
            conn.execute(text(
                "INSERT INTO projects (event_id, schema_version, occurred_at, producer, project_id, user_id, platform,"
                " app_version) VALUES (:e, 1, :t, 'test', :p, :u, 'ios', '1.0')"),
                {"e": str(uuid.uuid4()), "t": T0, "p": f"p-{u}", "u": u})


def _day(engine, rng: random.Random, day: int, pending: list[Any]) -> None:
    """A day of every user's requests with what goes wrong: late intents and exports, re-sent intents (another
    text) and responses, orphans, other arms; showings at few moments, so last_shown often decides a tie."""
    while pending:
        pending.pop(0)()
    for i in range(30):
        user = rng.choice(USERS)
        rid = f"d{day}-r{i}"
        norm = f"intent {rng.randrange(5)}" if rng.random() < 0.85 else f"secret of {user} {rng.randrange(2)}"
        arm = "teacher" if rng.random() < 0.75 else "student-a"
        outs = {t: ({k: rng.randrange(3) * 10 if k == "exposure" else 0 for k in ADJUST_KEYS} if t == "adjust"
                    else {"v": rng.randrange(3)}) if rng.random() < 0.7 else None for t in TOOLS}
        at = T0 + timedelta(days=day, minutes=rng.randrange(3) * 100)

        def intent(rid: str = rid, norm: str = norm, user: str = user) -> None:
            _insert(engine, "intents", user, [{"request_id": rid, "intent": norm.title(), "intent_norm": norm}])

        def response(rid: str = rid, outs: dict[str, Any] = outs, arm: str = arm, at: datetime = at,
                     user: str = user) -> None:
            _insert(engine, "responses", user, [{"request_id": rid, "arm": arm, "occurred_at": at,
                                                 **{t: None if outs[t] is None else json.dumps(outs[t])
                                                    for t in TOOLS}}])

        def export(t: str, flag: bool, rid: str = rid, user: str = user) -> None:
            _insert(engine, "tool_exports", user, [{"request_id": rid, "tool": t, "exported": flag}])

        late_intent = rng.random() < 0.15
        if not late_intent:
            intent()
        response()
        if late_intent:
            pending.append(intent)
        if rng.random() < 0.1:
            pending.append(lambda rid=rid, user=user: intent(rid=rid, norm="intent resent", user=user))
        if rng.random() < 0.1:
            pending.append(response)
        for t in TOOLS:
            if outs[t] is None and rng.random() > 0.05:
                continue
            flag = rng.random() < 0.4
            if rng.random() < 0.3:
                pending.append(lambda t=t, flag=flag: export(t, flag))
            else:
                export(t, flag)


def _rows(settings, engine, run) -> list[dict[str, Any]]:
    return groundtruth_rows(settings, run.run_id, engine=engine)


def _counts(run) -> tuple[int, int, int, int, dict[str, int]]:
    return run.n_intents, run.n_intents_seen, run.n_dropped, run.n_responses, run.used


def _equals_full(settings, engine, run, arms: Arms) -> None:
    rows = _rows(settings, engine, run)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": run.run_id})
    full = run_groundtruth(settings, watermark=run.watermark, mode="full", engine=engine, arms=arms)
    assert full.params["mode"] == "full"
    assert _rows(settings, engine, full) == rows, arms
    assert _counts(full) == _counts(run), arms
    with engine.begin() as conn:  # the nights after go on from the incremental lineage, not from this run
        conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": full.run_id})


def _erase(settings, engine, user: str):
    return erase_user(engine=engine, user_id=user, artifacts_dir=Path(settings.artifacts_dir))


@pytest.mark.parametrize("seed", [3, 8])
def test_erasure_keeps_ground_truth_incremental_and_equal_to_a_full_recompute(settings, engine, seed):
    clear_events(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE projects, groundtruth_candidates, groundtruth_folds, groundtruth_fold_intents,"
                          " groundtruth_lineages, groundtruth_picks, groundtruth_runs CASCADE"))
    _projects(engine)
    rng = random.Random(seed)
    pending: list[Any] = []
    for day in range(3):
        _day(engine, rng, day, pending)
        for arms in ("teacher", "all"):  # two lineages share the folds
            run_groundtruth(settings, engine=engine, arms=arms)
    with engine.connect() as conn:
        shown_before = conn.execute(text("SELECT sum(shown) FROM groundtruth_candidates")).scalar_one()
    erased = _erase(settings, engine, "u-1")
    assert erased.counts["intents"] > 0 and erased.counts["private_intents"] >= 1
    assert erased.counts["groundtruth_candidates"] > 0 and erased.groundtruth_runs
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sum(shown) FROM groundtruth_candidates")).scalar_one() < shown_before
        assert not conn.execute(text("SELECT count(*) FROM groundtruth_candidates WHERE shown <= 0")).scalar_one()
    for arms in ("teacher", "all"):
        after = run_groundtruth(settings, engine=engine, arms=arms)
        # no new events: nothing to fold; the lineage re-picks only what the erasure touched
        assert after.params["mode"] == "incremental" and after.params["fold"] is None
        assert after.params["repick"]["changed_only"] is False and not after.params["repick"].get("first")
        assert 0 < after.params["repick"]["n_touched"] <= 5 + 2 * len(USERS) + 1
        assert not any(r["intent_norm"].startswith("secret of u-1 ") for r in _rows(settings, engine, after))
        _equals_full(settings, engine, after, arms)
    for day in range(3, 5):  # the nights after fold new events (and yesterday's leftovers) on the erased aggregates
        _day(engine, rng, day, pending)
        if day == 4:  # a second erasure between nights: this night folds and re-picks both
            _erase(settings, engine, "u-3")
        for arms in ("teacher", "all"):
            night = run_groundtruth(settings, engine=engine, arms=arms)
            assert night.params["mode"] == "incremental" and not night.params["repick"].get("first")
            if arms == "teacher":  # the first run of the night folds (the other lineage's run finds it done)
                assert night.params["fold"]["since"] is not None
            _equals_full(settings, engine, night, arms)


def test_erasing_whoever_sent_the_last_events_moves_the_folded_watermark_back(settings, engine):
    clear_events(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE projects, groundtruth_candidates, groundtruth_folds, groundtruth_fold_intents,"
                          " groundtruth_lineages, groundtruth_picks, groundtruth_runs CASCADE"))
    _projects(engine)
    rng = random.Random(5)
    pending: list[Any] = []
    _day(engine, rng, 0, pending)
    while pending:
        pending.pop(0)()
    last_rid = "late-r"  # u-4 sends the last events before the run
    _insert(engine, "intents", "u-4", [{"request_id": last_rid, "intent": "Intent 1", "intent_norm": "intent 1"}])
    _insert(engine, "responses", "u-4", [{"request_id": last_rid, "arm": "teacher", "occurred_at": T0,
                                          "adjust": None, "selective_adjust": None, "filter": json.dumps({"v": 1})}])
    first = run_groundtruth(settings, engine=engine)
    _erase(settings, engine, "u-4")
    after = run_groundtruth(settings, engine=engine)
    assert after.watermark < first.watermark
    assert after.params["mode"] == "incremental" and after.params["fold"] is None  # not "past the watermark"
    _equals_full(settings, engine, after, "teacher")
    erased_all = [_erase(settings, engine, u) for u in USERS]  # nobody left: the aggregates are empty
    assert sum(e.counts["intents"] for e in erased_all) > 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM groundtruth_candidates")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM groundtruth_folds")).scalar_one() == 0


def test_last_shown_comes_from_the_remaining_showings(settings, engine):
    """A tie on the counters is decided by the last showing (docs/domain.md#ground-truth): when the erased showing
    was a candidate's last, the candidate ranks by its last remaining one."""
    clear_events(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE projects, groundtruth_candidates, groundtruth_folds, groundtruth_fold_intents,"
                          " groundtruth_lineages, groundtruth_picks, groundtruth_runs CASCADE"))
    _projects(engine)
    a, b = ({k: v if k == "exposure" else 0 for k in ADJUST_KEYS} for v in (10, 20))
    for rid, user, output, minute in (("r-a1", "u-0", a, 1), ("r-a2", "u-1", a, 5), ("r-b", "u-2", b, 3)):
        _insert(engine, "intents", user, [{"request_id": rid, "intent": "Tie", "intent_norm": "tie"}])
        _insert(engine, "responses", user, [{"request_id": rid, "arm": "teacher", "adjust": json.dumps(output),
                                             "occurred_at": T0 + timedelta(minutes=minute),
                                             "selective_adjust": None, "filter": None}])
        _insert(engine, "tool_exports", user, [{"request_id": rid, "tool": "adjust", "exported": True}])
    before = run_groundtruth(settings, engine=engine)
    assert [r["output"] for r in _rows(settings, engine, before) if r["tool"] == "adjust"] == [a]  # exported twice
    _erase(settings, engine, "u-1")
    after = run_groundtruth(settings, engine=engine)
    assert [r["output"] for r in _rows(settings, engine, after) if r["tool"] == "adjust"] == [b]  # a tie, shown last
    _equals_full(settings, engine, after, "teacher")
