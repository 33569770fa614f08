"""`flywheel assistant`: POST /v1/edits {project_id, user_id, intent} -> the three tool outputs.

Per request: read the active experiment (cached a few seconds), assign the user's arm by hash(salt:user_id) and the
arm weights (no active experiment -> everyone gets the teacher, arm 'teacher'), call that arm's backend, validate the
outputs against the tool schemas (an invalid one becomes null and is logged), publish ``intent_submitted`` and
``assistant_responded`` (arm + model version), answer. /healthz (alive), /readyz (database and Kafka reachable),
/metrics (Prometheus: requests and p50/p95 latency per arm).

Guarded (`flywheel.assistant.guard`): API keys, per-key rate limits, a body limit, a daily teacher budget; /metrics
and /v1/latency live on the internal app (`create_internal_app`, loopback port) unless `public_metrics`. A 200 means
both events were acknowledged by the broker (`flywheel.assistant.delivery`); otherwise 503.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, field_validator

from flywheel.assistant.backends import BackendUnavailable, StudentBackend, TeacherBackend, validate_outputs
from flywheel.assistant.delivery import NotDelivered, deliver, fit_to_contract
from flywheel.assistant.guard import TEACHER_RETRIES, BodyLimit, KeyGuard, Refused
from flywheel.assistant.metrics import LatencyTracker
from flywheel.assistant.routing import assign_arm
from flywheel.contracts import normalize_intent
from flywheel.events.envelope import make_event

log = logging.getLogger("flywheel.assistant")
PRODUCER = "assistant"


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
        if engine is None:
            from flywheel.db.engine import make_engine

            engine = make_engine(settings)
            owned.append(engine)
        if publisher is None:
            from flywheel.events.publisher import EventPublisher

            publisher = EventPublisher(settings.bootstrap(), settings.events_topic, client_id="flywheel-assistant",
                                       linger_ms=5)
            owned.append(publisher)
        app.state.experiments = ExperimentCache(engine, experiment_ttl_s)
        app.state.guard = KeyGuard(engine) if require_key else None
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

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(reasons), "errors": reasons})

    @app.post("/v1/edits")
    def edits(req: EditRequest, request: Request) -> JSONResponse:  # sync: FastAPI runs it in its threadpool
        received = now()
        t0 = time.perf_counter()
        guard = app.state.guard
        try:
            key = guard.authenticate(request) if guard is not None else None
        except Refused as exc:
            metrics.requests.labels(arm="-", status=f"refused_{exc.status}").inc()
            return exc.response()
        exp = app.state.experiments.get()
        if exp is None:
            arm, backend_name, model_ref, exp_id = "teacher", "teacher", None, None
        else:
            arm = assign_arm(req.user_id, exp.salt, exp.weights())
            spec = exp.arm(arm)
            backend_name, model_ref, exp_id = spec.backend, spec.model_ref, exp.experiment_id
        try:
            if key is not None and backend_name == "teacher":
                guard.charge_teacher(key)
            result = backends[backend_name].respond(req.intent, model_ref)
        except Refused as exc:
            metrics.requests.labels(arm=arm, status=f"refused_{exc.status}").inc()
            return exc.response()
        except BackendUnavailable as exc:
            metrics.requests.labels(arm=arm, status="unavailable").inc()
            log.warning("arm %s unavailable: %s", arm, exc)
            return JSONResponse(status_code=503, content={"detail": str(exc), "arm": arm})
        outputs, invalid = validate_outputs(result.outputs, settings.schemas_dir)
        invalid = sorted(set(invalid) | set(result.invalid_tools))
        if invalid:
            log.warning("arm %s model %s: invalid output for %s (recorded as not used)", arm, result.model_version,
                        invalid)
        latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        request_id = str(uuid.uuid4())
        rationale = ({k: v for k, v in result.rationale.items() if k in outputs}
                     if result.rationale else None)
        intent_ev = make_event("intent_submitted", PRODUCER, occurred_at=received, project_id=req.project_id,
                               request_id=request_id, intent=req.intent)
        response_ev = make_event(
            "assistant_responded", PRODUCER, occurred_at=now(), project_id=req.project_id, request_id=request_id,
            arm=arm,
            model_name=result.model_name[:255], model_version=result.model_version[:128], outputs=outputs,
            rationale=rationale, latency_ms=latency_ms)
        try:
            response_ev, fixes = fit_to_contract(settings, response_ev)
            deliver(publisher, [intent_ev, response_ev], ack_timeout_s)
        except NotDelivered as exc:
            metrics.requests.labels(arm=arm, status="event_log_unavailable").inc()
            log.error("events of %s not acknowledged: %s", request_id, exc)
            return JSONResponse(status_code=503, content={"detail": str(exc), "arm": arm})
        if fixes:
            log.warning("request %s: %s to fit the event contract", request_id, fixes)
        rationale = response_ev["rationale"]
        metrics.requests.labels(arm=arm, status="ok").inc()
        metrics.observe(arm, latency_ms)
        return JSONResponse({
            "request_id": request_id, "project_id": req.project_id, "arm": arm, "experiment_id": exp_id,
            "model_name": result.model_name, "model_version": result.model_version, "outputs": outputs,
            "rationale": rationale, "invalid_tools": invalid, "latency_ms": latency_ms, "contract_fixes": fixes})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        from sqlalchemy import text

        problems = []
        try:
            with engine.connect() as c:
                c.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 — reported, not raised
            problems.append(f"database: {exc}")
        bootstrap = getattr(publisher, "bootstrap", None)
        if bootstrap is not None:
            from flywheel.kafka_admin import admin_client

            try:
                admin = admin_client(bootstrap, timeout_s=3.0)
                try:
                    if settings.events_topic not in admin.list_topics():
                        problems.append(f"kafka: topic {settings.events_topic} does not exist")
                finally:
                    admin.close()
            except Exception as exc:  # noqa: BLE001 — reported, not raised
                problems.append(f"kafka: {exc}")
        if problems:
            return JSONResponse(status_code=503, content={"status": "not ready", "problems": problems})
        return JSONResponse({"status": "ready"})

    if public_metrics:
        _metrics_routes(app, metrics)
    return app


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
