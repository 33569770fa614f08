"""Assistant: A/B routing, table-backed experiments, HTTP contract, events ingested by `flywheel ingest`."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.assistant.app import create_app
from flywheel.assistant.backends import BackendResult
from flywheel.assistant.keys import create_key
from flywheel.assistant.routing import assign_arm
from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.db.experiments import (
    ArmSpec,
    ExperimentError,
    activate_experiment,
    active_experiment,
    create_experiment,
    end_experiment,
    parse_arms,
)
from flywheel.ingest.service import IngestOptions, run_ingest
from flywheel.teacher.threaded import ThreadedServer, start_in_thread
from flywheel_lab.simulator.run import simulate
from flywheel_lab.simulator.teacher import SimTeacher
from flywheel_lab.simulator.teacher_server import create_app as teacher_app
from flywheel_lab.simulator.world import build_world

SEED, BASES = 7, 60
SALT = "salt-test"


def test_arm_assignment_is_stable_and_matches_weights():
    arms = [("teacher", .2), ("student", .3), ("student_b", .5)]
    users = [f"user-{i}" for i in range(20000)]
    got = [assign_arm(u, SALT, arms) for u in users]
    assert got == [assign_arm(u, SALT, arms) for u in users]  # sticky
    counts = Counter(got)
    n = len(users)
    chi2 = sum((counts[a] - n * w) ** 2 / (n * w) for a, w in arms)
    assert chi2 < 13.8, counts  # chi-square, 2 d.o.f., p = 0.001
    for a, w in arms:
        assert abs(counts[a] / n - w) < 4 * math.sqrt(w * (1 - w) / n)
    # another salt reshuffles users independently of the first assignment
    other = [assign_arm(u, "other-salt", arms) for u in users]
    same = sum(x == y for x, y in zip(got, other, strict=True)) / n
    assert abs(same - sum(w * w for _, w in arms)) < .02
    assert {assign_arm(u, SALT, [("teacher", 1.0), ("student", 0.0)]) for u in users[:500]} == {"teacher"}
    with pytest.raises(ValueError):
        assign_arm("u", SALT, [])


def test_experiment_api(engine):
    with pytest.raises(ExperimentError, match="backend"):
        parse_arms("teacher:0.5:teacher,student:0.5:gpu")
    with pytest.raises(ExperimentError, match="named 'teacher'"):
        parse_arms("gpt:1:teacher")
    with pytest.raises(ExperimentError, match="not a number"):
        parse_arms("teacher:half:teacher")
    arms = parse_arms("teacher:0.5:teacher,student:0.5:student:model-123")
    assert arms[1] == ArmSpec("student", .5, "student", "model-123")
    a = create_experiment(engine, "first", arms, salt="s1", activate=False)
    assert a.status == "draft" and active_experiment(engine) is None
    a = activate_experiment(engine, a.experiment_id)
    assert active_experiment(engine).experiment_id == a.experiment_id and a.started_at is not None
    b = create_experiment(engine, "second", arms[:1])
    assert active_experiment(engine).experiment_id == b.experiment_id
    from flywheel.db.experiments import get_experiment

    assert get_experiment(engine, a.experiment_id).status == "ended"  # one active experiment at a time
    with pytest.raises(ExperimentError, match="has ended"):
        activate_experiment(engine, a.experiment_id)
    end_experiment(engine, b.experiment_id)
    assert active_experiment(engine) is None
    with pytest.raises(ExperimentError, match="unknown experiment"):
        end_experiment(engine, "nope")


class StubStudent:
    """A student stand-in with its own known behaviour: the simulator teacher of another seed (a worse model)."""

    def __init__(self) -> None:
        self.teacher = SimTeacher(build_world(SEED + 1, BASES))
        self.rng = random.Random(0)

    def respond(self, intent: str, model_ref: str | None = None) -> BackendResult:
        out, _ = self.teacher.respond(intent, self.rng)
        return BackendResult(outputs=out, model_name="stub-student", model_version="stub-1", latency_ms=1.0)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def teacher_server() -> Iterator[ThreadedServer]:
    srv = start_in_thread(teacher_app(build_world(SEED, BASES)))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def asettings(settings, teacher_server):
    return settings.model_copy(update={"openai_base_url": f"{teacher_server.url}/v1", "openai_api_key": None})


def test_assistant_routes_publishes_and_its_events_are_ingested(asettings, engine):
    world = build_world(SEED, BASES)
    exp = create_experiment(engine, "teacher vs stub", parse_arms("teacher:0.5:teacher,student:0.5:student"),
                            salt=SALT)
    srv = start_in_thread(create_app(asettings, student=StubStudent(), experiment_ttl_s=0, require_key=False,
                                     public_metrics=True))
    served: dict[str, str] = {}  # request_id -> arm
    try:
        c = httpx.Client(base_url=srv.url, timeout=30)
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").status_code == 200
        contracts = load_tool_contracts()
        for i in range(40):
            user = f"user-{i}"
            r = c.post("/v1/edits", json={"project_id": f"p-{i}", "user_id": user,
                                          "intent": world.bases[i % len(world.bases)].canonical})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["arm"] == assign_arm(user, SALT, exp.weights()) and body["experiment_id"] == exp.experiment_id
            assert body["model_version"] == ("sim-seed7" if body["arm"] == "teacher" else "stub-1")
            assert all(contracts.valid(t, body["outputs"][t]) for t in TOOLS)
            served[body["request_id"]] = body["arm"]
        assert set(served.values()) == {"teacher", "student"}
        for bad, reason in [({"project_id": "p", "user_id": "u"}, "intent"),
                            ({"project_id": "p", "user_id": "u", "intent": " !? "}, "empty once normalized"),
                            ({"project_id": "", "user_id": "u", "intent": "warm"}, "project_id"),
                            ({"project_id": "p", "user_id": "u", "intent": "warm", "x": 1}, "x")]:
            r = c.post("/v1/edits", json=bad)
            assert r.status_code == 422 and reason in r.json()["detail"], r.text
        metrics = c.get("/metrics").text
        assert 'flywheel_assistant_latency_ms{arm="teacher",quantile="0.95"}' in metrics
        assert 'flywheel_assistant_requests_total{arm="student",status="ok"}' in metrics
        c.close()
    finally:
        srv.stop()  # flushes the assistant's publisher
    # The simulator drives the assistant over HTTP with an API key: its users get what their arm serves.
    with Session(engine) as session, session.begin():
        _, key = create_key(session, app="simulator", rate_per_minute=10_000, teacher_calls_per_day=10_000)
    keyed = start_in_thread(create_app(asettings, student=StubStudent(), experiment_ttl_s=0))
    try:
        summary = simulate(asettings, 20, 1.0, SEED, via_assistant_url=keyed.url, progress=False, base_intents=BASES,
                           workers=4, api_key=key)
        assert summary.failed_requests == 0 and summary.mode == "assistant"
        keyless = simulate(asettings, 2, 1.0, SEED + 1, via_assistant_url=keyed.url, progress=False,
                           base_intents=BASES, workers=1, requests_per_intent=1.0)
        assert keyless.failed_requests == keyless.projects > 0  # 401: no key, no answer
    finally:
        keyed.stop()
    # the assistant's two events per request (ours and the simulator's) + the simulator's own events
    expected = 2 * (len(served) + summary.requests) + summary.events + keyless.events
    stats = run_ingest(asettings, IngestOptions(max_events=expected, idle_exit_s=20.0))
    assert stats.failed == 0 and stats.consumed == expected, stats
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT request_id, arm, model_version FROM responses")).all()
        got = {r.request_id: r.arm for r in rows}
        assert {k: got.get(k) for k in served} == served
        assert len(rows) == len(served) + summary.requests
        n_intents = conn.execute(text("SELECT count(*) FROM intents i JOIN responses r USING (request_id)")).scalar()
        assert n_intents == len(rows)
        # simulated projects: the arm on the responses is the user's hashed arm
        mismatched = conn.execute(text(
            "SELECT p.user_id, r.arm FROM projects p JOIN responses r USING (project_id)")).all()
        assert mismatched and all(arm == assign_arm(u, SALT, exp.weights()) for u, arm in mismatched)
    end_experiment(engine, exp.experiment_id)


def test_student_arm_without_a_production_model_is_503_and_no_experiment_means_teacher(asettings, engine):
    exp = create_experiment(engine, "student only", parse_arms("student:1:student"), salt="x")
    srv = start_in_thread(create_app(asettings, experiment_ttl_s=0, require_key=False))
    try:
        body = {"project_id": "p-x", "user_id": "u-x", "intent": "golden hour"}
        r = httpx.post(f"{srv.url}/v1/edits", json=body, timeout=30)
        assert r.status_code == 503 and "no production student model" in r.json()["detail"]
        end_experiment(engine, exp.experiment_id)
        r = httpx.post(f"{srv.url}/v1/edits", json=body, timeout=30)
        assert r.status_code == 200 and r.json()["arm"] == "teacher" and r.json()["experiment_id"] is None
    finally:
        srv.stop()


def test_unreachable_teacher_is_a_503_with_the_reason(settings):
    from flywheel.runtime.proc import free_port

    dead = settings.model_copy(update={"openai_base_url": f"http://127.0.0.1:{free_port()}/v1",
                                       "openai_api_key": None, "teacher_max_retries": 0})
    srv = start_in_thread(create_app(dead, experiment_ttl_s=0, require_key=False))
    try:
        r = httpx.post(f"{srv.url}/v1/edits", json={"project_id": "p", "user_id": "u", "intent": "warm"}, timeout=30)
        assert r.status_code == 503 and "teacher unavailable" in r.json()["detail"] and r.json()["arm"] == "teacher"
    finally:
        srv.stop()
