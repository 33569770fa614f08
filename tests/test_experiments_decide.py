"""A decision against the real database: read as the A/B report counts (D16, users as units), recorded as an
auditable row, and acted on as a new phase that the assistant's router reads at once (ramp on ship, the teacher
alone on roll back), with the analyst views showing the phases, the decisions and the savings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from flywheel.assistant.app import ExperimentCache
from flywheel.assistant.routing import assign_arm
from flywheel.db.experiments import create_experiment, parse_arms
from flywheel.experiments.decide import decide_phase, register_experiment, sequence_by_day, series_phases
from flywheel.experiments.rule import DecisionRule

pytestmark = pytest.mark.services

START = datetime(2026, 12, 1, tzinfo=UTC)


def _ev(ts: datetime) -> dict:
    return {"event_id": str(uuid.uuid4()), "schema_version": 1, "occurred_at": ts, "producer": "test"}


def _traffic(engine, *, experiment_id: str, salt: str, arms: list[tuple[str, float]], users: int, day: datetime,
             rates: dict[str, float], served_by_teacher_every: int = 0, tag: str = "") -> None:
    """``users`` users, each with two projects on ``day``; a user's projects export with the arm's rate (the first
    ``rate * users`` users of each arm export both, the rest none: perfectly clustered)."""
    seen: dict[str, int] = {}
    with engine.begin() as conn:
        for i in range(users):
            user = f"{tag}u{i:05d}"
            arm = assign_arm(user, salt, arms)
            k = seen[arm] = seen.get(arm, 0) + 1
            exported = (k % 100) < rates[arm] * 100
            for j in range(2):
                pid = f"{tag}p{i:05d}-{j}"
                ts = day + timedelta(hours=1, seconds=i * 2 + j)
                conn.execute(text(
                    "INSERT INTO projects (event_id, schema_version, occurred_at, producer, project_id, user_id, "
                    "platform, app_version) VALUES (:event_id, 1, :occurred_at, 'test', :p, :u, 'ios', '1.0')"),
                    _ev(ts) | {"p": pid, "u": user})
                fb = arm == "student" and served_by_teacher_every and (i + j) % served_by_teacher_every == 0
                conn.execute(text(
                    "INSERT INTO responses (event_id, schema_version, occurred_at, producer, project_id, request_id, "
                    "arm, model_name, model_version, latency_ms, served_by, fallback_reason) VALUES (:event_id, 1, "
                    ":occurred_at, 'test', :p, :r, :arm, 'm', '1', :lat, :sb, :fr)"),
                    _ev(ts + timedelta(seconds=1)) | {"p": pid, "r": f"{pid}-r", "arm": arm,
                                                      "lat": 30.0 if arm == "student" else 1500.0,
                                                      "sb": "teacher" if fb else arm,
                                                      "fr": "student_error: X" if fb else None})
                if exported:
                    conn.execute(text(
                        "INSERT INTO project_exports (event_id, schema_version, occurred_at, producer, project_id) "
                        "VALUES (:event_id, 1, :occurred_at, 'test', :p)"), _ev(ts + timedelta(minutes=5))
                        | {"p": pid})


@pytest.fixture
def dsettings(settings):
    return settings.model_copy(update={"experiment_min_users_per_arm": 100, "experiment_design_users": 2000,
                                       "experiment_guardrail_min_responses": 50})


def test_ship_ramps_then_a_guardrail_rolls_back(dsettings, engine):
    s = dsettings
    exp = create_experiment(engine, "decide", parse_arms("teacher:0.5:teacher,student:0.5:student"), salt="s1",
                            now=START)
    phase1 = register_experiment(engine, experiment_id=exp.experiment_id, settings=s)
    assert (phase1.phase, phase1.student_weight, phase1.rule["margin"]) == (1, 0.5, 0.96)
    cache = ExperimentCache(engine, ttl_s=0.0)  # the assistant's own reader of the active experiment

    # Day 1: too few users for anything.
    _traffic(engine, experiment_id=exp.experiment_id, salt="s1", arms=exp.weights(), users=60, day=START,
             rates={"teacher": .5, "student": .5}, tag="a")
    rec = decide_phase(engine, settings=s, as_of=START + timedelta(days=1))
    assert rec is not None and (rec.decision.outcome, rec.action) == ("keep_testing", "none")

    # Day 2: a clearly better student -> ship -> phase 2 at 90 % student with its own salt.
    _traffic(engine, experiment_id=exp.experiment_id, salt="s1", arms=exp.weights(), users=1400,
             day=START + timedelta(days=1), rates={"teacher": .5, "student": .7}, tag="b")
    rec = decide_phase(engine, settings=s, as_of=START + timedelta(days=2))
    assert rec is not None and (rec.decision.outcome, rec.action) == ("ship", "ramp"), rec.line()
    assert rec.decision.sequential.ci_low > 0.96
    active = cache.get()
    assert active.experiment_id == rec.next_experiment_id == f"{exp.experiment_id}-p2"
    assert active.salt != exp.salt and active.arm("student").weight == pytest.approx(0.9)
    share = sum(assign_arm(f"x{i}", active.salt, active.weights()) == "student" for i in range(2000)) / 2000
    assert 0.87 < share < 0.93

    # Phase 2: the student falls back to the teacher on 1 request in 5 -> guardrail -> roll back to the teacher.
    _traffic(engine, experiment_id=active.experiment_id, salt=active.salt, arms=active.weights(), users=400,
             day=START + timedelta(days=2, hours=1), rates={"teacher": .5, "student": .7},
             served_by_teacher_every=5, tag="c")
    rec2 = decide_phase(engine, settings=s, as_of=START + timedelta(days=3))
    assert rec2 is not None and (rec2.decision.outcome, rec2.decision.check, rec2.action) == \
        ("roll_back", "guardrail_fallback", "roll_back"), rec2.line()
    rolled = cache.get()  # the very next request cycle routes everyone to the teacher
    assert rolled.experiment_id == f"{exp.experiment_id}-p3"
    assert {assign_arm(f"x{i}", rolled.salt, rolled.weights()) for i in range(500)} == {"teacher"}
    assert decide_phase(engine, settings=s, as_of=START + timedelta(days=4)) is None  # nothing left to decide

    phases = series_phases(engine, series_id=exp.experiment_id)
    assert [(p.phase, p.student_weight, p.reason) for p in phases] == [(1, .5, "start"), (2, .9, "ship"),
                                                                        (3, 0.0, "roll_back")]
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT phase, outcome, check_name, action, next_experiment_id, users_student, student_fallback_rate "
            "FROM analytics.experiment_decisions WHERE series_id = :s ORDER BY decided_at"),
            {"s": exp.experiment_id}).all()
        assert [(r[0], r[1], r[3]) for r in rows] == [(1, "keep_testing", "none"), (1, "ship", "ramp"),
                                                      (2, "roll_back", "roll_back")]
        assert rows[2][6] == pytest.approx(0.2, abs=0.02)
        saved = conn.execute(text(
            "SELECT sum(teacher_calls_avoided), sum(teacher_usd_avoided), max(p95_latency_ms) FILTER "
            "(WHERE arm = 'student') FROM analytics.arm_savings_daily WHERE experiment_id LIKE :e"),
            {"e": f"{exp.experiment_id}%"}).one()
    assert saved[0] > 0 and float(saved[1]) == pytest.approx(int(saved[0]) * 700 * 0.002 / 1000, abs=1e-3)
    assert saved[2] == pytest.approx(30.0)

    # The daily reading of phase 1: day 2's sequence is the intersection, inside the decision's figures.
    looks = sequence_by_day(engine, experiment_id=exp.experiment_id, rule=DecisionRule(design_users=2000))
    assert [lk.day.isoformat() for lk in looks] == ["2026-12-01", "2026-12-02"]
    assert looks[-1].sequential.ci_low == pytest.approx(rec.decision.sequential.ci_low)


def test_a_significantly_worse_student_is_rolled_back_and_decisions_can_be_recorded_only(dsettings, engine):
    s = dsettings.model_copy(update={"experiment_apply_decisions": False})
    exp = create_experiment(engine, "worse", parse_arms("teacher:0.5:teacher,student:0.5:student"), salt="s2",
                            now=START + timedelta(days=10))
    _traffic(engine, experiment_id=exp.experiment_id, salt="s2", arms=exp.weights(), users=1500,
             day=START + timedelta(days=10), rates={"teacher": .7, "student": .5}, tag="w")
    rec = decide_phase(engine, settings=s, experiment_id=exp.experiment_id, as_of=START + timedelta(days=11))
    assert rec is not None and (rec.decision.outcome, rec.decision.check, rec.action) == \
        ("roll_back", "inferior", "none")
    assert rec.decision.sequential.ci_high < 0.96
    assert ExperimentCache(engine, ttl_s=0.0).get().experiment_id == exp.experiment_id  # nothing changed
