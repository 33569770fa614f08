"""`flywheel teacher-server`: a local OpenAI-compatible ``POST /v1/chat/completions`` backed by the simulator's teacher.

It understands two kinds of request (anything else gets a 400 with the reason, in OpenAI's error shape):
* a teacher request built by :func:`flywheel.teacher.prompts.build_messages` (``Tool:`` / ``Intent:`` lines) -> the
  assistant content ``{"rationale": ..., "output": ...}`` sampled from the simulator's noisy teacher;
* a paraphrase request whose last user message starts with ``PARAPHRASE:`` followed by ``{"intent": ..., "n": ...}``
  -> ``{"paraphrases": [...]}`` drawn from the intent's paraphrase family.

Bodies over ``max_body_bytes`` get 413 before they are buffered; the sampling (CPU work under one lock) runs in a
worker thread, so one slow completion never stalls the event loop that serves /healthz and the other requests.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from flywheel.assistant.guard import BodyLimit
from flywheel.teacher.prompts import parse_request
from flywheel_lab.simulator.teacher import SimTeacher
from flywheel_lab.simulator.world import World

PARAPHRASE_PREFIX = "PARAPHRASE:"
MAX_PARAPHRASES = 50
# A teacher or paraphrase request is a system prompt (the filter catalogue) plus one short intent: a few KiB.
MAX_BODY_BYTES = 256 * 1024


class BadRequest(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _error(status: int, message: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {
        "message": message, "type": "invalid_request_error", "param": param, "code": None}})


# The subset of OpenAI's Chat Completions request this server reads (what API fuzzers generate bodies from).
_CHAT_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string"},
        "messages": {"type": "array", "items": {
            "type": "object", "required": ["role"],
            "properties": {"role": {"type": "string", "enum": ["system", "user", "assistant"]},
                           "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {
                               "type": "object", "properties": {"type": {"type": "string"},
                                                                "text": {"type": "string"}}}}]}}}},
        "n": {"type": "integer"}, "stream": {"type": "boolean"}, "temperature": {"type": "number"},
    },
}
_CHAT_OPENAPI: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": _CHAT_REQUEST_SCHEMA}}},
    "responses": {"400": {"description": "not understood (OpenAI error shape)"},
                  "413": {"description": "body over the limit"}},
}


class _OpenAIBodyLimit(BodyLimit):
    """The assistant's body limit, answering in OpenAI's error shape."""

    async def _too_large(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await _error(413, f"request body over {self.max_bytes} bytes")(scope, receive, send)


def _last_user_message(body: dict[str, Any]) -> str:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise BadRequest("'messages' must be a non-empty list", "messages")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise BadRequest(f"messages[{i}] must be an object with a 'role'", f"messages[{i}]")
    users = [m for m in msgs if m["role"] == "user"]
    if not users:
        raise BadRequest("no user message", "messages")
    content = users[-1].get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    if not isinstance(content, str) or not content.strip():
        raise BadRequest("the last user message has no text content", "messages")
    return content


def _paraphrase(world: World, text: str, rng: random.Random) -> str:
    try:
        req = json.loads(text[len(PARAPHRASE_PREFIX):])
    except ValueError as exc:
        raise BadRequest(f"PARAPHRASE: must be followed by JSON {{\"intent\": ..., \"n\": ...}}: {exc}") from exc
    if not isinstance(req, dict) or not isinstance(req.get("intent"), str) or not req["intent"].strip():
        raise BadRequest("PARAPHRASE JSON needs a non-empty string 'intent'")
    n = req.get("n", 5)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_PARAPHRASES:
        raise BadRequest(f"PARAPHRASE 'n' must be an integer in 1..{MAX_PARAPHRASES}")
    return json.dumps({"paraphrases": world.paraphrases(req["intent"], n, rng)}, ensure_ascii=False)


def create_app(world: World, *, delay_ms: float = 0.0, model_version: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The server for one world. ``delay_ms`` adds a fixed think time per completion (demo realism)."""
    teacher = SimTeacher(world, model_version=model_version)
    rng = random.Random(f"{world.seed}:teacher-server")
    lock = threading.Lock()  # one RNG for the server: calls differ, and a fresh server replays the same sequence
    app = FastAPI(title="flywheel teacher-server (simulated OpenAI Chat Completions)")
    app.state.world = world
    app.state.teacher = teacher
    app.add_middleware(_OpenAIBodyLimit, max_bytes=max_body_bytes)

    def complete(body: dict[str, Any]) -> list[str]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("'model' is required", "model")
        if body.get("stream"):
            raise BadRequest("streaming is not supported by the teacher-server", "stream")
        n = body.get("n", 1) or 1
        if not isinstance(n, int) or not 1 <= n <= 8:
            raise BadRequest("'n' must be an integer in 1..8", "n")
        text = _last_user_message(body)
        out = []
        with lock:
            for _ in range(n):
                if text.lstrip().startswith(PARAPHRASE_PREFIX):
                    out.append(_paraphrase(world, text.lstrip(), rng))
                    continue
                try:
                    tool, intent = parse_request(text)
                except ValueError as exc:
                    raise BadRequest(f"request not understood: {exc}", "messages") from exc
                value, why = teacher.respond_tool(tool, intent, rng)
                out.append(json.dumps({"rationale": why, "output": value}, ensure_ascii=False))
        return out

    @app.post("/v1/chat/completions", openapi_extra=_CHAT_OPENAPI)
    async def chat_completions(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            return _error(400, "the request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "the request body must be a JSON object")
        try:
            contents = await run_in_threadpool(complete, body)
        except BadRequest as exc:
            return _error(400, str(exc), exc.param)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        return JSONResponse(_completion(body, contents, teacher.model_version))

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "gpt-3.5-turbo", "object": "model", "owned_by": "flywheel-sim"}]}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "seed": world.seed, "base_intents": len(world.bases)}

    return app


def _completion(body: dict[str, Any], contents: list[str], fingerprint: str) -> dict[str, Any]:
    """An OpenAI Chat Completions response carrying `contents` as its choices (token counts are word counts)."""
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
    completion_tokens = sum(len(c.split()) for c in contents)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": fingerprint,
        "choices": [{"index": i, "message": {"role": "assistant", "content": c}, "logprobs": None,
                     "finish_reason": "stop"} for i, c in enumerate(contents)],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def serve(seed: int, port: int, host: str = "127.0.0.1", base_intents: int | None = None,
          delay_ms: float = 0.0) -> None:
    import uvicorn

    from flywheel_lab.simulator.world import DEFAULT_BASE_INTENTS, build_world

    world = build_world(seed, base_intents or DEFAULT_BASE_INTENTS)
    uvicorn.run(create_app(world, delay_ms=delay_ms), host=host, port=port, log_level="info")
