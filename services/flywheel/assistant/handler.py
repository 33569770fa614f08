"""One POST /v1/edits: authenticate, route to an arm, answer, publish both events (acknowledged), respond.

Kept apart from the FastAPI wiring in `app.py` so each step is a small method a reader can follow in order.

When the student arm's model cannot answer a request (``StudentFailed``), the teacher answers it; the response event
and the answer say which arm the user is in (``arm``), which backend served (``served_by``) and why
(``fallback_reason``), and ``flywheel_assistant_fallbacks_total`` counts it. When no backend can answer, or one fails
in a way nobody foresaw, the answer is a 503 with a JSON body (``detail``, ``arm``), never a 500.

Private text stays private: once the caller is authenticated, the intent passes ``flywheel.privacy`` and only the
redacted text goes on (to either backend, into ``intent_submitted``); the event carries the kinds found
(``redacted_kinds``) and ``flywheel_assistant_redactions_total`` counts them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from flywheel.assistant.backends import BackendResult, BackendUnavailable, StudentFailed, validate_outputs
from flywheel.assistant.delivery import NotDelivered, deliver, fit_to_contract
from flywheel.assistant.guard import Refused
from flywheel.assistant.metrics import LatencyTracker
from flywheel.assistant.routing import assign_arm
from flywheel.events.envelope import make_event
from flywheel.privacy import Redaction, Redactor

log = logging.getLogger("flywheel.assistant")
PRODUCER = "assistant"


@dataclass(frozen=True)
class Route:
    arm: str
    backend: str
    model_ref: str | None
    experiment_id: str | None


@dataclass(frozen=True)
class Served:
    """What answered: the backend's result, and (on a fallback) why the arm's own backend did not."""

    result: BackendResult
    served_by: str
    fallback: StudentFailed | None = None


@dataclass
class EditHandler:
    settings: Any
    backends: dict[str, Any]
    metrics: LatencyTracker
    guard: Any
    experiments: Any
    publisher: Any
    now: Callable[[], datetime]
    ack_timeout_s: float
    redactor: Redactor = field(default_factory=Redactor)

    def handle(self, req: Any, request: Request) -> JSONResponse:
        received, t0 = self.now(), time.perf_counter()
        try:
            key = self.guard.authenticate(request) if self.guard is not None else None
        except Refused as exc:
            return self._refused("-", exc)
        # Before routing, the backends and the event: the raw text goes nowhere (it is not logged either).
        redaction = self.redactor.redact(req.intent)
        self.metrics.count_redactions(redaction.counts)
        route = self.route(req.user_id)
        try:
            served = self.answer(route, redaction.text, key)
        except Refused as exc:
            return self._refused(route.arm, exc)
        except BackendUnavailable as exc:
            self.metrics.requests.labels(arm=route.arm, status="unavailable").inc()
            log.warning("arm %s unavailable: %s", route.arm, exc)
            return JSONResponse(status_code=503, content={"detail": str(exc), "arm": route.arm})
        result = served.result
        outputs, invalid = validate_outputs(result.outputs, self.settings.schemas_dir)
        invalid = sorted(set(invalid) | set(result.invalid_tools))
        if invalid:
            log.warning("arm %s model %s: invalid output for %s (recorded as not used)", route.arm,
                        result.model_version, invalid)
        latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        return self.publish_and_answer(req, route, served, outputs, invalid, received, latency_ms, redaction)

    def answer(self, route: Route, intent: str, key: Any) -> Served:
        """The arm's backend answers; a student that cannot is replaced by the teacher for this request. Refused
        (teacher budget) and BackendUnavailable (no backend can answer) propagate."""
        if route.backend == "teacher":
            return Served(self._teacher(route.arm, intent, route.model_ref, key), "teacher")
        try:
            return Served(self._call(route.arm, route.backend, intent, route.model_ref), route.backend)
        except StudentFailed as failed:
            self.metrics.fallbacks.labels(arm=route.arm, reason=failed.kind).inc()
            log.warning("arm %s: the student cannot answer (%s); the teacher serves this request", route.arm,
                        failed.reason)
            try:
                return Served(self._teacher(route.arm, intent, None, key), "teacher", failed)
            except (Refused, BackendUnavailable) as exc:
                detail = exc.detail if isinstance(exc, Refused) else str(exc)
                raise BackendUnavailable(f"the student cannot answer ({failed.reason}) and the teacher cannot "
                                         f"stand in: {detail}") from exc

    def _teacher(self, arm: str, intent: str, model_ref: str | None, key: Any) -> BackendResult:
        if key is not None:
            self.guard.charge_teacher(key)
        return self._call(arm, "teacher", intent, model_ref)

    def _call(self, arm: str, backend: str, intent: str, model_ref: str | None) -> BackendResult:
        """One backend call; a failure nobody foresaw is a student's failure (the teacher stands in) or the teacher's
        503, with its type (logged with its traceback), so no intent text can turn into a 500."""
        try:
            return self.backends[backend].respond(intent, model_ref)  # type: ignore[no-any-return]
        except (Refused, BackendUnavailable, StudentFailed):
            raise
        except Exception as exc:  # noqa: BLE001 — the documented fallback or 503 rather than a 500
            log.exception("arm %s: the %s backend raised", arm, backend)
            if backend == "student":
                raise StudentFailed("student_error", type(exc).__name__) from exc
            raise BackendUnavailable(f"{backend} failed: {type(exc).__name__}") from exc

    def route(self, user_id: str) -> Route:
        """The user's arm in the active experiment; everyone gets the teacher when none is active."""
        exp = self.experiments.get()
        if exp is None:
            return Route("teacher", "teacher", None, None)
        arm = assign_arm(user_id, exp.salt, exp.weights())
        spec = exp.arm(arm)
        return Route(arm, spec.backend, spec.model_ref, exp.experiment_id)

    def publish_and_answer(self, req: Any, route: Route, served: Served, outputs: dict[str, Any],
                           invalid: list[str], received: datetime, latency_ms: float,
                           redaction: Redaction) -> JSONResponse:
        """A 200 only once the broker acknowledged both events: an answer must never leave no trace. The intent event
        holds the redacted text (``redaction``; never the raw one) and the placeholders per kind (``{}``: none)."""
        request_id = str(uuid.uuid4())
        result = served.result
        fallback_reason = served.fallback.reason if served.fallback else None
        rationale = ({k: v for k, v in result.rationale.items() if k in outputs} if result.rationale else None)
        intent_ev = make_event("intent_submitted", PRODUCER, occurred_at=received, project_id=req.project_id,
                               request_id=request_id, intent=redaction.text, redacted_kinds=redaction.counts)
        response_ev = make_event(
            "assistant_responded", PRODUCER, occurred_at=self.now(), project_id=req.project_id,
            request_id=request_id, arm=route.arm, model_name=result.model_name[:255],
            model_version=result.model_version[:128], outputs=outputs, rationale=rationale, latency_ms=latency_ms,
            served_by=served.served_by, fallback_reason=fallback_reason)
        try:
            response_ev, fixes = fit_to_contract(self.settings, response_ev)
            deliver(self.publisher, [intent_ev, response_ev], self.ack_timeout_s)
        except NotDelivered as exc:
            self.metrics.requests.labels(arm=route.arm, status="event_log_unavailable").inc()
            log.error("events of %s not acknowledged: %s", request_id, exc)
            return JSONResponse(status_code=503, content={"detail": str(exc), "arm": route.arm})
        if fixes:
            log.warning("request %s: %s to fit the event contract", request_id, fixes)
        # A fallback's latency is the teacher's: kept out of the arm's own p50/p95 so the student is timed alone.
        self.metrics.requests.labels(arm=route.arm, status="teacher_fallback" if fallback_reason else "ok").inc()
        self.metrics.observe(f"{route.arm}/fallback" if fallback_reason else route.arm, latency_ms)
        return JSONResponse({
            "request_id": request_id, "project_id": req.project_id, "arm": route.arm,
            "experiment_id": route.experiment_id, "model_name": result.model_name,
            "model_version": result.model_version, "served_by": served.served_by,
            "fallback_reason": fallback_reason, "outputs": outputs, "rationale": response_ev["rationale"],
            "invalid_tools": invalid, "latency_ms": latency_ms, "contract_fixes": fixes})

    def _refused(self, arm: str, exc: Refused) -> JSONResponse:
        self.metrics.requests.labels(arm=arm, status=f"refused_{exc.status}").inc()
        return exc.response()


def readiness_problems(settings: Any, engine: Any, publisher: Any) -> list[str]:
    """What keeps the assistant from answering: the database and the events topic must be reachable."""
    from sqlalchemy import text

    problems = []
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 — reported, not raised
        problems.append(f"database: {exc}")
    bootstrap = getattr(publisher, "bootstrap", None)
    if bootstrap is None:
        return problems
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
    return problems
