"""The teacher client against the local OpenAI-compatible teacher-server (real HTTP, uvicorn in a thread)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from openai import OpenAI

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.runtime.proc import free_port
from flywheel.settings import get_settings
from flywheel.teacher.client import TeacherClient, TeacherConfigError, TeacherUnavailable
from flywheel.teacher.prompts import build_messages, parse_request
from flywheel.teacher.threaded import ThreadedServer, start_in_thread
from flywheel_lab.simulator.teacher_server import create_app
from flywheel_lab.simulator.world import build_world

SEED, BASES = 7, 60


@pytest.fixture(scope="module")
def world():
    return build_world(SEED, BASES)


@pytest.fixture(scope="module")
def server(world) -> Iterator[ThreadedServer]:
    srv = start_in_thread(create_app(world))
    try:
        yield srv
    finally:
        srv.stop()


def _settings(server: ThreadedServer, **kw):
    return get_settings(openai_base_url=f"{server.url}/v1", openai_api_key=None, **kw)


def test_client_round_trips_through_teacher_server(server, world):
    client = TeacherClient(_settings(server))
    app_teacher = server.server.config.app.state.teacher
    contracts = load_tool_contracts()
    answers = set()
    try:
        for b in world.bases[:15]:
            r = client.respond(b.canonical)
            assert r.model_name == "gpt-3.5-turbo" and r.model_version == f"sim-seed{SEED}"
            assert r.invalid_tools == [] and r.latency_ms > 0
            for t in TOOLS:
                assert contracts.valid(t, r.outputs[t])
                # the answer is one of the simulator teacher's modes for this intent and tool
                assert r.outputs[t] in [v for _, v in app_teacher.modes(b.canonical)[t]]
                assert isinstance(r.rationale[t], str) and r.rationale[t]
        # repeated calls differ (temperature > 0), as in the paper's data
        b = next(b for b in world.bases if max(len(app_teacher.modes(b.canonical)[t]) for t in TOOLS) >= 3)
        for _ in range(12):
            answers.add(json.dumps(client.respond(b.canonical).outputs, sort_keys=True))
    finally:
        client.close()
    assert len(answers) > 1


def test_prompt_is_one_shot_per_tool_with_rationale():
    for tool in TOOLS:
        msgs = build_messages(tool, "cool morning", ["faded_HighNoon"])
        assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
        example = json.loads(msgs[2]["content"])
        assert set(example) == {"rationale", "output"} and load_tool_contracts().valid(tool, example["output"])
        assert parse_request(msgs[-1]["content"]) == (tool, "cool morning")


def test_teacher_server_refuses_what_it_does_not_understand(server):
    url = f"{server.url}/v1/chat/completions"
    cases = [
        ({"model": "m", "messages": [{"role": "user", "content": "make it golden"}]}, "Tool:"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "user", "content": 'Tool: blur\nIntent: "x"'}]}, "unknown tool"),
        ({"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}, "stream"),
        ({"model": "m", "messages": [{"role": "user", "content": "PARAPHRASE: {nope"}]}, "PARAPHRASE"),
    ]
    for body, reason in cases:
        r = httpx.post(url, json=body)
        assert r.status_code == 400, body
        assert reason in r.json()["error"]["message"], r.text
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_paraphrase_requests_return_family_members(server, world):
    client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    b = world.bases[3]
    resp = client.chat.completions.create(model="gpt-3.5-turbo", messages=[
        {"role": "system", "content": "paraphrase"},
        {"role": "user", "content": "PARAPHRASE: " + json.dumps({"intent": b.canonical, "n": 5})}])
    got = json.loads(resp.choices[0].message.content)["paraphrases"]
    assert len(got) == 5 and b.canonical not in got
    assert all(world.base_of(p) is b for p in got)


def test_missing_key_for_a_remote_endpoint_is_a_clear_error():
    with pytest.raises(TeacherConfigError, match="FLYWHEEL_OPENAI_API_KEY"):
        TeacherClient(get_settings(openai_base_url="https://api.openai.com/v1", openai_api_key=None))


def test_unreachable_endpoint_is_retried_then_reported():
    port = free_port()  # nothing listens there
    client = TeacherClient(get_settings(openai_base_url=f"http://127.0.0.1:{port}/v1", openai_api_key=None),
                           max_retries=2, backoff_s=0.05, timeout_s=2)
    t0 = time.monotonic()
    with pytest.raises(TeacherUnavailable, match=f"127.0.0.1:{port}.*3 attempts"):
        client.respond("golden hour")
    assert time.monotonic() - t0 < 10


class _Flaky:
    """An OpenAI-shaped stub: replies from a script (invalid JSON, a schema break, then a valid answer)."""

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.calls = list(replies), 0
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    def _create(self, **kw):
        self.calls += 1
        content = self.replies.pop(0) if self.replies else self.last
        self.last = content
        return SimpleNamespace(model=kw["model"], system_fingerprint=None,
                               choices=[SimpleNamespace(message=SimpleNamespace(content=content))])


def test_invalid_outputs_are_retried_and_then_recorded_as_not_used():
    s = get_settings(openai_base_url="http://127.0.0.1:1/v1")
    good = json.dumps({"rationale": "warm", "output": {"name": "warm_Film", "intensity": 40}})
    flaky = _Flaky(["not json", json.dumps({"output": {"name": "no_such_filter", "intensity": 40}}), good])
    client = TeacherClient(s, client=flaky, max_retries=3, backoff_s=0.001)
    value, why, ok, _, _ = client.respond_tool("filter", "warm film")
    assert ok and value == {"name": "warm_Film", "intensity": 40} and why == "warm" and flaky.calls == 3
    bad = _Flaky([json.dumps({"output": {"exposure": 500}})])
    client = TeacherClient(s, client=bad, max_retries=1, backoff_s=0.001)
    value, _, ok, _, _ = client.respond_tool("adjust", "x")
    assert value is None and not ok and bad.calls == 2


def test_fence_stripping_is_linear_on_long_whitespace_runs() -> None:
    import time as _time

    from flywheel.teacher.prompts import parse_reply

    assert parse_reply('```json\n{"output": 1, "rationale": "r"}\n```') == (1, "r")
    assert parse_reply('{"output": null}') == (None, None)
    hostile = '{"output": 1' + " " * 200_000 + "x"
    t0 = _time.perf_counter()
    with pytest.raises(ValueError):
        parse_reply(hostile)
    assert _time.perf_counter() - t0 < 0.5
