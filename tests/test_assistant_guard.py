"""The assistant refuses the unauthenticated and the over-limit, and answers 200 only for delivered events:
real Postgres (keys, usage), real brokers (one of them stopped mid-run)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from flywheel.assistant.app import create_app, create_internal_app
from flywheel.assistant.keys import create_key, revoke_key
from flywheel.events.publisher import EventPublisher
from flywheel.ingest.service import IngestOptions, run_ingest
from flywheel.runtime.broker import EmbeddedBroker
from flywheel.runtime.proc import free_port
from flywheel.teacher.threaded import ThreadedServer, start_in_thread
from flywheel_lab.simulator.teacher_server import create_app as teacher_app
from flywheel_lab.simulator.world import build_world
from tests.support.ingest import fresh_topics

BODY = {"project_id": "p-1", "user_id": "u-1", "intent": "golden hour"}


@pytest.fixture(scope="module")
def teacher_server() -> Iterator[ThreadedServer]:
    srv = start_in_thread(teacher_app(build_world(7, 40)))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def asettings(settings, teacher_server):
    return settings.model_copy(update={"openai_base_url": f"{teacher_server.url}/v1", "openai_api_key": None})


def key(engine, **kw) -> tuple[str, str]:
    with Session(engine) as s, s.begin():
        return create_key(s, app="test-app", **kw)


def test_unauthenticated_and_over_limit_requests_are_refused(asettings, engine) -> None:
    app = create_app(asettings, experiment_ttl_s=0)
    srv = start_in_thread(app)
    try:
        c = httpx.Client(base_url=srv.url, timeout=30)
        assert c.post("/v1/edits", json=BODY).status_code == 401
        assert c.post("/v1/edits", json=BODY, headers={"Authorization": "Bearer fwk_nope_nope"}).status_code == 401
        assert c.get("/metrics").status_code == 404 and c.get("/v1/latency").status_code == 404
        _, k = key(engine, rate_per_minute=3)
        h = {"Authorization": f"Bearer {k}"}
        assert c.post("/v1/edits", json=BODY, headers=h).status_code == 200
        assert c.post("/v1/edits", content=b'{"intent": "' + b"a" * 20_000 + b'"}', headers=h).status_code == 413
        codes = [c.post("/v1/edits", json=BODY, headers=h).status_code for _ in range(4)]
        assert codes.count(429) >= 2, codes
        # Daily teacher budget: one request reserves its worst case (6 calls); the second would overspend.
        _, k2 = key(engine, teacher_calls_per_day=6)
        h2 = {"X-API-Key": k2}
        assert c.post("/v1/edits", json=BODY, headers=h2).status_code == 200
        r = c.post("/v1/edits", json=BODY, headers=h2)
        assert r.status_code == 429 and "budget" in r.json()["detail"]
        # Revoked: refused once the key cache expires.
        kid, k3 = key(engine)
        assert c.post("/v1/edits", json=BODY, headers={"X-API-Key": k3}).status_code == 200
        with Session(engine) as s, s.begin():
            revoke_key(s, key_id=kid)
        app.state.guard.cache_s = 0
        assert c.post("/v1/edits", json=BODY, headers={"X-API-Key": k3}).status_code == 401
        internal = start_in_thread(create_internal_app(app))
        try:
            assert "flywheel_assistant_requests_total" in httpx.get(f"{internal.url}/metrics").text
        finally:
            internal.stop()
    finally:
        srv.stop()


def test_broker_stopped_while_serving_gives_503_and_every_200_is_in_postgres(asettings, engine,
                                                                              tmp_path: Path) -> None:
    broker = EmbeddedBroker(root=tmp_path / "tansu", port=free_port())
    broker.start()
    s = fresh_topics(asettings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{broker.port}"}), "bstop")
    pub = EventPublisher(s.bootstrap(), s.events_topic, client_id="assistant-test", linger_ms=5,
                         connect_timeout_s=3)
    srv = start_in_thread(create_app(s, publisher=pub, experiment_ttl_s=0, require_key=False, ack_timeout_s=5))
    ok: list[str] = []
    codes: list[int] = []
    try:
        c = httpx.Client(base_url=srv.url, timeout=60)
        for i in range(10):
            r = c.post("/v1/edits", json={**BODY, "project_id": f"p-{i}"})
            codes.append(r.status_code)
            if r.status_code == 200:
                ok.append(r.json()["request_id"])
        # Every 200 has its two events in Postgres (ingested before the memory-only broker goes away).
        stats = run_ingest(s, IngestOptions(max_events=2 * len(ok), idle_exit_s=10))
        assert stats.inserted == 2 * len(ok) and stats.failed == 0, stats
        with engine.connect() as conn:
            got = {r[0] for r in conn.exec_driver_sql("SELECT request_id FROM responses r JOIN intents i "
                                                      "USING (request_id) WHERE r.kafka_topic = %s",
                                                      (s.events_topic,))}
        assert got == set(ok)
        broker.stop()
        time.sleep(1)
        for i in range(3):
            r = c.post("/v1/edits", json={**BODY, "project_id": f"q-{i}"})
            codes.append(r.status_code)
            assert r.status_code == 503 and "event log unavailable" in r.json()["detail"], r.text
    finally:
        srv.stop()
        broker.stop()
    assert codes[:10] == [200] * 10 and len(ok) == 10
