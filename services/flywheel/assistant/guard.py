"""Who may call the assistant and how much: API keys, per-key rate limits, a body limit, a teacher budget.

* Every /v1 request needs `Authorization: Bearer <key>` (or `X-API-Key`); unknown or revoked keys get 401.
  Keys are looked up by hash and cached for `cache_s` (a revocation takes effect within that time).
* Per key: a token bucket of `rate_per_minute` (429 with Retry-After when empty), and a daily budget of paid
  teacher calls (each teacher request reserves its worst case, `TEACHER_CALLS_PER_REQUEST`; 429 when spent).
* Bodies over `max_body_bytes` get 413 before they are read into memory.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from flywheel.assistant.keys import KeyInfo, lookup, reserve_teacher_calls

# The assistant's teacher client makes at most 1 + TEACHER_RETRIES calls per tool, 3 tools per request.
TEACHER_RETRIES = 1
TEACHER_CALLS_PER_REQUEST = 3 * (1 + TEACHER_RETRIES)
MAX_BODY_BYTES = 16 * 1024


class Refused(Exception):
    def __init__(self, status: int, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.retry_after = status, detail, retry_after

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(max(int(self.retry_after + 0.999), 1))} if self.retry_after else None
        if self.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(status_code=self.status, content={"detail": self.detail}, headers=headers)


class KeyGuard:
    def __init__(self, engine: Any, cache_s: float = 5.0) -> None:
        self.engine, self.cache_s = engine, cache_s
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, KeyInfo | None]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)

    def authenticate(self, request: Request) -> KeyInfo:
        auth = request.headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        if not key:
            raise Refused(401, "an API key is required (Authorization: Bearer <key>)")
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is None or now - hit[0] > self.cache_s:
            from sqlalchemy.orm import Session

            with Session(self.engine) as session:
                info = lookup(session, key=key[:200])
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()  # bounded: unknown keys must not grow memory without limit
                self._cache[key] = (now, info)
        else:
            info = hit[1]
        if info is None:
            raise Refused(401, "unknown or revoked API key")
        self._take(info, now)
        return info

    def _take(self, info: KeyInfo, now: float) -> None:
        rate = info.rate_per_minute / 60.0
        with self._lock:
            tokens, at = self._buckets.get(info.id, (float(info.rate_per_minute), now))
            tokens = min(float(info.rate_per_minute), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[info.id] = (tokens, now)
                raise Refused(429, f"rate limit: {info.rate_per_minute} requests per minute for this key",
                              retry_after=(1.0 - tokens) / rate)
            self._buckets[info.id] = (tokens - 1.0, now)

    def charge_teacher(self, info: KeyInfo) -> None:
        from sqlalchemy.orm import Session

        with Session(self.engine) as session, session.begin():
            ok = reserve_teacher_calls(session, key_id=info.id, calls=TEACHER_CALLS_PER_REQUEST,
                                       limit=info.teacher_calls_per_day)
        if not ok:
            raise Refused(429, f"daily teacher budget of this key spent ({info.teacher_calls_per_day} calls)",
                          retry_after=3600)


class BodyLimit:
    """ASGI middleware: 413 for a declared or streamed body over `max_bytes` (nothing larger is buffered)."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._too_large(scope, receive, send)
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        resp = JSONResponse(status_code=413, content={"detail": f"request body over {self.max_bytes} bytes"})
        await resp(scope, receive, send)


class _TooLarge(Exception):
    pass
