"""Champion and challenger against the real database: in promotion mode "challenger" a model that passes the gate
enters the running experiment as a challenger arm (a new phase) while the champion keeps serving; the experiment's
rule then promotes it (registry and next phase) or drops it; "replace" mode swaps production as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.assistant.app import ExperimentCache
from flywheel.db.experiments import create_experiment, end_experiment, parse_arms
from flywheel.experiments.decide import decide_phase, register_experiment, series_phases
from flywheel.registry import records
from flywheel.registry.store import production_model, promote
from tests.test_experiments_decide import _traffic
from tests.test_registry import summary

pytestmark = pytest.mark.services

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def csettings(settings):
    return settings.model_copy(update={"promotion_mode": "challenger", "experiment_min_users_per_arm": 100,
                                       "experiment_design_users": 2000, "experiment_guardrail_min_responses": 50})


def _model(engine, model_id: str) -> str:
    with Session(engine) as s, s.begin():
        records.insert_model(s, model_id=model_id, path=Path("/nonexistent") / model_id, config={}, metrics={},
                             lineage={"backend": "ngram", "base_model": "ngram", "split_id": "s1"},
                             training_seconds=None)
        records.store_evaluation(s, model_id=model_id, split_id="s1", summary=summary(0.6))
    return model_id


def _champion_and_experiment(settings, engine, tag: str, start: datetime):
    """A production model (replace mode) and a registered 50/50 experiment whose student arm follows production."""
    champion = _model(engine, f"{tag}-champion")
    assert promote(settings.model_copy(update={"promotion_mode": "replace"}), champion, engine=engine).promoted
    exp = create_experiment(engine, tag, parse_arms("teacher:0.5:teacher,student:0.5:student"), salt=tag, now=start)
    register_experiment(engine, experiment_id=exp.experiment_id, settings=settings)
    return champion, exp


def _arms(cfg) -> dict[str, tuple[float, str | None]]:
    return {a.arm: (a.weight, a.model_ref) for a in cfg.arms}


def test_a_challenger_enters_without_touching_the_champion_and_wins(csettings, engine):
    s = csettings
    champion, exp = _champion_and_experiment(s, engine, "win", START)
    cache = ExperimentCache(engine, ttl_s=0.0)  # the assistant's own reader of the active experiment

    challenger = _model(engine, "win-challenger")
    d = promote(s, challenger, engine=engine, now=START + timedelta(days=1))
    assert not d.promoted and d.challenger_experiment_id == f"{exp.experiment_id}-p2", d.reason
    assert d.reason.startswith("challenger: passed the gate") and champion in d.reason
    assert production_model(s, engine=engine).model_id == champion  # the serving champion did not change
    phase = cache.get()
    assert phase.experiment_id == d.challenger_experiment_id
    assert _arms(phase) == {"teacher": (0.5, None), "student": (0.25, champion), "challenger": (0.25, challenger)}

    # One challenger at a time: the next candidate waits for the rule.
    late = _model(engine, "win-late")
    d2 = promote(s, late, engine=engine, now=START + timedelta(days=1, hours=2))
    assert not d2.promoted and d2.challenger_experiment_id is None and "under test" in d2.reason
    assert cache.get().experiment_id == phase.experiment_id

    # The challenger completes clearly more than the champion -> ship -> promoted, and the student arm serves it.
    _traffic(engine, experiment_id=phase.experiment_id, salt=phase.salt, arms=phase.weights(), users=1400,
             day=START + timedelta(days=1, hours=1), rates={"teacher": .5, "student": .5, "challenger": .7}, tag="w")
    rec = decide_phase(engine, settings=s, as_of=START + timedelta(days=2))
    assert rec is not None and (rec.decision.outcome, rec.action) == ("ship", "promote"), rec.line()
    assert rec.decision.sequential.ci_low > 0.96
    assert production_model(s, engine=engine).model_id == challenger
    after = cache.get()
    assert after.experiment_id == rec.next_experiment_id == f"{exp.experiment_id}-p3"
    assert _arms(after) == {"teacher": (0.5, None), "student": (0.5, None)}  # follows production: the new champion

    phases = series_phases(engine, series_id=exp.experiment_id)
    assert [(p.phase, p.student_weight, p.reason) for p in phases] == [
        (1, .5, "start"), (2, .5, "challenger"), (3, .5, "challenger_ship")]
    with engine.connect() as conn:
        dec = conn.execute(text("SELECT action, users_student, users_teacher, next_experiment_id "
                                "FROM analytics.experiment_decisions WHERE series_id = :s"),
                           {"s": exp.experiment_id}).one()
        assert dec[0] == "promote" and dec[1] > 300 and dec[2] > 300 and dec[3] == after.experiment_id
        compared = conn.execute(text("SELECT figures -> 'compared' FROM experiment_decisions WHERE series_id = :s"),
                                {"s": exp.experiment_id}).scalar_one()
        assert compared == {"treatment": "challenger", "control": "student", "treatment_model": challenger,
                            "control_model": champion}
        promos = conn.execute(text("SELECT promoted, reason FROM analytics.promotions WHERE model_id = :m "
                                   "ORDER BY decision_id"), {"m": challenger}).all()
    assert [p[0] for p in promos] == [False, True] and rec.decision_id in promos[1][1]
    with Session(engine) as sess:
        assert records.get_model(sess, model_id=champion).status == "retired"


def test_a_worse_challenger_is_dropped_and_the_champion_keeps_the_share(csettings, engine):
    s = csettings
    start = START + timedelta(days=10)
    champion, exp = _champion_and_experiment(s, engine, "drop", start)
    challenger = _model(engine, "drop-challenger")
    d = promote(s, challenger, engine=engine, now=start + timedelta(hours=1))
    assert d.challenger_experiment_id is not None
    phase = ExperimentCache(engine, ttl_s=0.0).get()
    _traffic(engine, experiment_id=phase.experiment_id, salt=phase.salt, arms=phase.weights(), users=1600,
             day=start + timedelta(hours=2), rates={"teacher": .7, "student": .7, "challenger": .45}, tag="d")
    rec = decide_phase(engine, settings=s, as_of=start + timedelta(days=1))
    assert rec is not None and (rec.decision.outcome, rec.decision.check, rec.action) == \
        ("roll_back", "inferior", "drop"), rec.line()
    assert production_model(s, engine=engine).model_id == champion
    after = ExperimentCache(engine, ttl_s=0.0).get()
    assert _arms(after) == {"teacher": (0.5, None), "student": (0.5, None)}
    assert series_phases(engine, series_id=exp.experiment_id)[-1].reason == "challenger_roll_back"
    with Session(engine) as sess:
        assert records.get_model(sess, model_id=challenger).status == "candidate"


def test_replace_mode_swaps_production_inside_the_running_phase(csettings, engine):
    replace = csettings.model_copy(update={"promotion_mode": "replace"})
    start = START + timedelta(days=20)
    _, exp = _champion_and_experiment(replace, engine, "replace", start)
    new = _model(engine, "replace-new")
    d = promote(replace, new, engine=engine, now=start + timedelta(hours=1))
    assert d.promoted and d.challenger_experiment_id is None
    assert production_model(replace, engine=engine).model_id == new
    active = ExperimentCache(engine, ttl_s=0.0).get()
    assert active.experiment_id == exp.experiment_id and _arms(active) == {"teacher": (.5, None), "student": (.5, None)}

    # Challenger mode with nothing serving a student has no champion to challenge: it replaces, and says so.
    end_experiment(engine, exp.experiment_id, now=start + timedelta(hours=2))
    last = _model(engine, "replace-last")
    d = promote(csettings, last, engine=engine)
    assert d.promoted and "no running experiment serves a student" in d.reason
    assert production_model(csettings, engine=engine).model_id == last
