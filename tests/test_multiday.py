"""Several simulated days through the assistant: a simulated clock dates every event (the assistant's and the
simulator's) on its day, so the A/B report and the analytics views have one point per day per arm."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.assistant.app import create_app
from flywheel.assistant.keys import create_key
from flywheel.db.experiments import create_experiment, parse_arms
from flywheel.ingest.service import IngestOptions, run_ingest
from flywheel.reports.ab import ab_report
from flywheel.teacher.threaded import start_in_thread
from flywheel_lab.demo.days import SimulatedClock, day_start
from flywheel_lab.simulator.run import simulate
from flywheel_lab.simulator.teacher_server import create_app as teacher_app
from flywheel_lab.simulator.world import build_world
from tests.test_assistant import BASES, SEED, StubStudent

DAYS = (1, 2, 3)


def test_events_of_day_k_land_on_day_k(settings, engine, tmp_path):
    exp = create_experiment(engine, "days", parse_arms("teacher:0.5:teacher,student:0.5:student"), salt="s",
                            now=day_start(DAYS[0]))
    with Session(engine) as session, session.begin():
        _, key = create_key(session, app="multiday", rate_per_minute=100_000, teacher_calls_per_day=100_000)
    teacher = start_in_thread(teacher_app(build_world(SEED, BASES)))
    s = settings.model_copy(update={"openai_base_url": f"{teacher.url}/v1"})
    expected = 0
    try:
        for k in DAYS:
            clock = SimulatedClock(day_start(k))
            srv = start_in_thread(create_app(s, student=StubStudent(), experiment_ttl_s=0, clock=clock))
            try:
                sim = simulate(s, 15, 1.0, SEED + k, world_seed=SEED, via_assistant_url=srv.url, progress=False,
                               base_intents=BASES, workers=3, start=day_start(k), clock=clock, api_key=key)
            finally:
                srv.stop()
            assert sim.failed_requests == 0 and set(sim.truth_by_arm) == {"teacher", "student"}
            expected += sim.events + 2 * sim.requests
    finally:
        teacher.stop()
    stats = run_ingest(s, IngestOptions(max_events=expected, idle_exit_s=20.0))
    assert stats.failed == 0 and stats.consumed == expected
    want = {day_start(k).date() for k in DAYS}
    with engine.connect() as conn:
        for table in ("projects", "intents", "responses", "tool_exports"):
            days = {d for (d,) in conn.execute(text(
                f"SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM {table}"))}
            assert days == want, table
        views = conn.execute(text("SELECT day, arm FROM analytics.arm_daily_completion WHERE experiment_id = :e"),
                             {"e": exp.experiment_id}).all()
    assert sorted(views) == sorted((d, a) for d in want for a in ("student", "teacher"))
    rep = ab_report(s, exp.experiment_id, out_dir=tmp_path)
    points = sorted((d.day, d.arm) for d in rep.daily)
    assert points == sorted((d, a) for d in want for a in ("student", "teacher"))  # one point per day per arm
    assert sorted(r.day for r in rep.daily_ratios) == sorted(want)
    assert {(m.day, m.arm): m.model_version for m in rep.daily_models if m.arm == "student"} == {
        (d, "student"): "stub-1" for d in want}
    assert sum(d.started for d in rep.daily) == sum(a.started for a in rep.arms)
    assert (tmp_path / f"{rep.report_id}.png").stat().st_size > 0
