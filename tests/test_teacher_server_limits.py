"""Teacher-server body limit and non-blocking event loop; the paraphrase client keeps the teacher key at home."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from flywheel.augment.paraphrase import Paraphraser, api_key_for
from flywheel.settings import get_settings
from flywheel.teacher.threaded import start_in_thread
from flywheel_lab.simulator.teacher_server import create_app
from flywheel_lab.simulator.world import build_world


@pytest.fixture(scope="module")
def world():
    return build_world(7, 40)


def test_oversized_bodies_get_413_in_openai_shape(world) -> None:
    with start_in_thread(create_app(world, max_body_bytes=4096)) as srv:
        url = f"{srv.url}/v1/chat/completions"
        big = {"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]}
        r = httpx.post(url, json=big)
        assert r.status_code == 413 and "4096 bytes" in r.json()["error"]["message"]

        def chunks():  # no Content-Length: the streamed size is what counts
            for _ in range(10):
                yield b" " * 1000

        r = httpx.post(url, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        deep = b"[" * 100_000 + b"]" * 100_000
        with start_in_thread(create_app(world, max_body_bytes=1_000_000)) as big_srv:
            r = httpx.post(f"{big_srv.url}/v1/chat/completions", content=deep,
                           headers={"content-type": "application/json"})
        assert r.status_code == 400
        ok = httpx.post(url, json={"model": "m", "messages": [
            {"role": "user", "content": f'Tool: adjust\nIntent: "{world.bases[0].canonical}"'}]})
        assert ok.status_code == 200


def test_a_slow_completion_does_not_block_the_event_loop(world) -> None:
    app = create_app(world)
    teacher = app.state.teacher
    original = teacher.respond_tool

    def slow(*a: Any, **kw: Any) -> Any:
        time.sleep(1.5)  # CPU-bound or blocking work inside the sampler
        return original(*a, **kw)

    teacher.respond_tool = slow
    with start_in_thread(app) as srv:
        body = {"model": "m", "messages": [
            {"role": "user", "content": f'Tool: adjust\nIntent: "{world.bases[0].canonical}"'}]}
        t = threading.Thread(target=httpx.post, args=(f"{srv.url}/v1/chat/completions",),
                             kwargs={"json": body, "timeout": 10})
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        assert httpx.get(f"{srv.url}/healthz", timeout=10).status_code == 200
        waited = time.monotonic() - t0
        t.join()
    assert waited < 0.5, f"/healthz waited {waited:.2f}s behind a slow completion"


def _recorder() -> tuple[FastAPI, list[str]]:
    seen: list[str] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> dict[str, Any]:
        seen.append(request.headers.get("authorization", ""))
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [
            {"index": 0, "finish_reason": "stop",
             "message": {"role": "assistant", "content": json.dumps({"paraphrases": ["warm light"]})}}]}

    return app, seen


def test_paraphrase_client_sends_the_teacher_key_only_to_the_teacher_origin() -> None:
    app, seen = _recorder()
    with start_in_thread(app) as other:
        teacher_url = "http://127.0.0.1:1/v1"  # the configured teacher: a different origin than `other`
        s = get_settings(openai_base_url=teacher_url, openai_api_key="sk-teacher-secret",
                         augment_base_url=f"{other.url}/v1", augment_api_key=None, teacher_max_retries=0)
        assert Paraphraser(s).paraphrase("golden hour", 1) == ["warm light"]
        assert seen[-1] == "Bearer not-needed"
        # the same origin (the teacher itself serves paraphrases): its key goes along
        same = get_settings(openai_base_url=f"{other.url}/v1", openai_api_key="sk-teacher-secret",
                            augment_base_url=f"{other.url}/v1/", augment_api_key=None, teacher_max_retries=0)
        Paraphraser(same).paraphrase("golden hour", 1)
        assert seen[-1] == "Bearer sk-teacher-secret"
        own = get_settings(openai_base_url=teacher_url, openai_api_key="sk-teacher-secret",
                           augment_base_url=f"{other.url}/v1", augment_api_key="sk-augment", teacher_max_retries=0)
        Paraphraser(own).paraphrase("golden hour", 1)
        assert seen[-1] == "Bearer sk-augment"
    for url in ("https://api.openai.com.evil.example/v1", "http://api.openai.com/v1", "https://api.openai.com:8443/v1",
                "https://api.openai.com:bad/v1"):
        s = get_settings(openai_base_url="https://api.openai.com/v1", openai_api_key="sk-teacher-secret")
        assert api_key_for(s, url) == "not-needed", url
    s = get_settings(openai_base_url="https://API.openai.com/v1", openai_api_key="sk-teacher-secret")
    assert api_key_for(s, "https://api.openai.com:443/v2") == "sk-teacher-secret"
