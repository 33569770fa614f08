"""`flywheel assistant`: POST /v1/edits {project_id, user_id, intent} -> the three tool outputs.

Per request: read the active experiment (cached a few seconds), assign the user's arm by hash(salt:user_id) and the
arm weights (no active experiment -> everyone gets the teacher, arm 'teacher'), call that arm's backend, validate the
outputs against the tool schemas (an invalid one becomes null and is logged), publish ``intent_submitted`` and
``assistant_responded`` (arm, model version, which backend served), answer. A student that cannot answer a request is
replaced by the teacher for it (`flywheel.assistant.handler`); no intent text gives a 500. /healthz (alive), /readyz
(database and Kafka reachable), /metrics (Prometheus: requests, fallbacks and p50/p95 latency per arm, redactions per
kind). The intent is redacted (`flywheel.privacy`) before any backend or event sees it. POST /admin/erasures erases a
user (admin-scope keys only, `flywheel.assistant.admin`).

Guarded (`flywheel.assistant.guard`): API keys, per-key rate limits, a body limit, a daily teacher budget; /metrics
and /v1/latency live on the internal app (`create_internal_app`, loopback port) unless `public_metrics`. A 200 means
both events were acknowledged by the broker (`flywheel.assistant.delivery`); otherwise 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, field_validator

from flywheel.assistant.admin import admin_routes
from flywheel.assistant.backends import StudentBackend, TeacherBackend
from flywheel.assistant.guard import TEACHER_RETRIES, BodyLimit, KeyGuard
from flywheel.assistant.handler import EditHandler, readiness_problems
from flywheel.assistant.metrics import LatencyTracker
from flywheel.contracts import normalize_intent
from flywheel.privacy import Redactor

log = logging.getLogger("flywheel.assistant")


class EditRequest(BaseModel):
    model_config = {"extra": "forbid"}
    project_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=128)
    intent: str = Field(min_length=1, max_length=2000)

    @field_validator("intent")
    @classmethod
    def _meaningful(cls, v: str) -> str:
        if len(v.encode("utf-8", "replace")) > 4096:
            raise ValueError("intent is over 4096 UTF-8 bytes")
        if not normalize_intent(v):
            raise ValueError("intent is empty once normalized (only spaces or punctuation)")
        return v

    @field_validator("project_id", "user_id", "intent")
    @classmethod
    def _no_nul(cls, v: str) -> str:
        if "\x00" in v:
            raise ValueError("must not contain NUL characters")
        return v


class ExperimentCache:
    """The active experiment, re-read at most every ``ttl_s``; a database hiccup keeps the last known config."""

    def __init__(self, engine: Any, ttl_s: float) -> None:
        self.engine, self.ttl_s = engine, ttl_s
        self._lock = threading.Lock()
        self._at = -1e9
        self._value: Any = None

    def get(self) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        from flywheel.db.experiments import active_experiment

        with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                try:
                    self._value = active_experiment(self.engine)
                except SQLAlchemyError as exc:
                    log.warning("cannot read the active experiment (keeping the last known): %s", exc)
                self._at = time.monotonic()
            return self._value


def create_app(settings: Any, *, publisher: Any = None, teacher: Any = None, student: Any = None,
               engine: Any = None, experiment_ttl_s: float = 5.0, require_key: bool = True,
               public_metrics: bool = False, ack_timeout_s: float = 10.0,
               clock: Callable[[], datetime] | None = None) -> FastAPI:
    """The assistant. Anything not given is built from settings at startup (and closed at shutdown).

    `require_key=False` only for in-process tests on loopback; `public_metrics` serves /metrics here too.
    ``clock`` stamps the events it publishes: the wall clock in production; a simulation of several days passes its
    simulated clock, so every event of a simulated day lands on that day.
    """
    now = clock or (lambda: datetime.now(UTC))
    owned: list[Any] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal publisher, engine
        engine, publisher = _open(settings, engine, publisher, owned)
        app.state.engine = engine
        app.state.experiments = ExperimentCache(engine, experiment_ttl_s)
        app.state.guard = KeyGuard(engine) if require_key else None
        redactor.warm()
        try:
            yield
        finally:
            publisher.flush()
            for res in owned:
                (res.dispose if hasattr(res, "dispose") else res.close)()
            for b in backends.values():
                b.close()

    app = FastAPI(title="flywheel assistant", lifespan=lifespan)
    # Bounded teacher cost per request: at most 1 + TEACHER_RETRIES calls per tool.
    capped = settings.model_copy(update={"teacher_max_retries": min(settings.teacher_max_retries, TEACHER_RETRIES)})
    app.add_middleware(BodyLimit)
    backends = {"teacher": teacher or TeacherBackend(capped), "student": student or StudentBackend(settings)}
    metrics = LatencyTracker()
    app.state.metrics = metrics
    redactor = Redactor()

    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]

    @app.post("/v1/edits")
    def edits(req: EditRequest, request: Request) -> JSONResponse:  # sync: FastAPI runs it in its threadpool
        handler = EditHandler(settings=settings, backends=backends, metrics=metrics, guard=app.state.guard,
                              experiments=app.state.experiments, publisher=publisher, now=now,
                              ack_timeout_s=ack_timeout_s, redactor=redactor)
        return handler.handle(req, request)

    app.add_api_route("/healthz", _healthz, methods=["GET"])
    admin_routes(app, artifacts_dir=Path(settings.artifacts_dir))  # POST /admin/erasures: admin keys only

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        problems = readiness_problems(settings, engine, publisher)
        if problems:
            return JSONResponse(status_code=503, content={"status": "not ready", "problems": problems})
        return JSONResponse({"status": "ready"})

    if public_metrics:
        _metrics_routes(app, metrics)
    return app


def _open(settings: Any, engine: Any, publisher: Any, owned: list[Any]) -> tuple[Any, Any]:
    """The database engine and the event publisher: the caller's, or new ones this app owns (closed at shutdown)."""
    if engine is None:
        from flywheel.db.engine import make_engine

        engine = make_engine(settings)
        owned.append(engine)
    if publisher is None:
        from flywheel.events.publisher import EventPublisher

        publisher = EventPublisher(settings.bootstrap(), settings.events_topic, client_id="flywheel-assistant",
                                   linger_ms=5)
        owned.append(publisher)
    return engine, publisher


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with every reason on one line: the app's developers read this, not a stack of pydantic objects."""
    reasons = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": "; ".join(reasons), "errors": reasons})


def _healthz() -> dict[str, str]:
    return {"status": "ok"}


def _metrics_routes(app: FastAPI, metrics: LatencyTracker) -> None:
    @app.get("/metrics")
    def prom() -> Response:
        return Response(metrics.prometheus_text(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/latency")
    def latency() -> dict[str, Any]:
        return metrics.summary()


def create_internal_app(public: FastAPI) -> FastAPI:
    """/metrics and /v1/latency of `public`, for a loopback port that only operators and Prometheus reach."""
    internal = FastAPI(title="flywheel assistant (internal)")
    _metrics_routes(internal, public.state.metrics)
    return internal


def serve(settings: Any, port: int | None = None, host: str = "127.0.0.1", metrics_port: int | None = None) -> None:
    import uvicorn

    from flywheel.teacher.threaded import start_in_thread

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    internal = start_in_thread(create_internal_app(app), port=metrics_port or (port or settings.assistant_port) + 1)
    log.info("assistant metrics on %s/metrics (loopback only)", internal.url)
    try:
        uvicorn.run(app, host=host, port=port or settings.assistant_port, log_level="info")
    finally:
        internal.stop()
