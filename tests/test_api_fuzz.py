"""API fuzzing from the OpenAPI documents (schemathesis, positive and negative cases) of the assistant (with and
without a key, real Postgres and broker) and of the teacher-server: no 5xx except the assistant's documented 503
(backend or broker unavailable), and the servers keep answering."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from sqlalchemy.orm import Session

from flywheel.assistant.app import create_app
from flywheel.assistant.keys import create_key
from flywheel.teacher.threaded import ThreadedServer, start_in_thread
from flywheel_lab.simulator.teacher_server import create_app as teacher_app
from flywheel_lab.simulator.world import build_world
from tests.support.figures import report

pytestmark = pytest.mark.slow

EXAMPLES = 100


@pytest.fixture(scope="module")
def teacher() -> Iterator[ThreadedServer]:
    with start_in_thread(teacher_app(build_world(7, 40))) as srv:
        yield srv


def _fuzz(url: str, headers: dict[str, str], allowed_5xx: set[int]) -> Counter[str]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    seen: Counter[str] = Counter()
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])
            @given(case=op.as_strategy(generation_mode=mode))
            def one(case: schemathesis.Case) -> None:
                r = case.call(base_url=url, headers=headers, timeout=30)
                seen[f"{case.method.upper()} {case.path} {r.status_code}"] += 1
                assert r.status_code < 500 or r.status_code in allowed_5xx, (case.body, r.status_code, r.text[:300])

            try:
                one()
            except Unsatisfiable:  # no negative case exists for an operation without inputs
                assert mode == schemathesis.GenerationMode.NEGATIVE, op.label
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200  # still up
    return seen


def test_teacher_server_openapi_fuzz(teacher: ThreadedServer) -> None:
    seen = _fuzz(teacher.url, {}, allowed_5xx=set())
    assert any(k.startswith("POST /v1/chat/completions 400") for k in seen)
    report("schemathesis teacher-server", requests=sum(seen.values()), by_status=dict(sorted(seen.items())))


def test_assistant_openapi_fuzz(settings, engine, teacher: ThreadedServer) -> None:
    s = settings.model_copy(update={"openai_base_url": f"{teacher.url}/v1", "openai_api_key": None,
                                    "teacher_max_retries": 0})
    with Session(engine) as session, session.begin():
        _, key = create_key(session, app="fuzz", rate_per_minute=100_000, teacher_calls_per_day=1_000_000)
    with start_in_thread(create_app(s, experiment_ttl_s=0)) as srv:
        keyed = _fuzz(srv.url, {"Authorization": f"Bearer {key}"}, allowed_5xx={503})
        keyless = _fuzz(srv.url, {}, allowed_5xx=set())
    assert any(k.startswith("POST /v1/edits 200") for k in keyed), keyed
    assert not any(k.startswith("POST /v1/edits 200") for k in keyless), keyless  # 401 without a key
    report("schemathesis assistant", keyed=sum(keyed.values()), keyless=sum(keyless.values()),
           by_status=dict(sorted((keyed + keyless).items())))
