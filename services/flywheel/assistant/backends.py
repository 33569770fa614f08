"""Backends behind the assistant's arms: the teacher (OpenAI-compatible endpoint) and the student (promoted model).

The student seam: ``flywheel.inference.predictor.load_predictor(model_dir)`` and
``flywheel.registry.store.production_model(settings)`` / ``get_model(settings, model_id)``, imported on first use so
a teacher-only assistant never loads torch; without a promoted model the student arm answers 503 "no production
student model".

A student model that is there but cannot answer a request (it does not load, its predictor raises, or its outputs
break the contract) raises :class:`StudentFailed`; the handler then serves the teacher for that request
(docs/domain.md#the-student-arms-fallback).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flywheel.contracts import TOOLS, load_tool_contracts

log = logging.getLogger(__name__)


class BackendUnavailable(RuntimeError):
    """The arm cannot answer now (503); the message says why."""


class StudentFailed(RuntimeError):
    """The student model could not answer this request. ``reason`` is what the response event records: a kind
    (``student_load_error``, ``student_error``, ``student_contract``), a colon, then the exception type or the tools
    whose output broke the contract; bounded and free of the user's text."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.reason = kind, f"{kind}: {detail}"[:200]


@dataclass
class BackendResult:
    outputs: dict[str, Any]
    model_name: str
    model_version: str
    latency_ms: float
    rationale: dict[str, str | None] | None = None
    invalid_tools: list[str] = field(default_factory=list)


def validate_outputs(outputs: dict[str, Any], schemas_dir: Any = None) -> tuple[dict[str, Any], list[str]]:
    """Every tool checked against its schema; an invalid output becomes None (not used) and is named."""
    contracts = load_tool_contracts(schemas_dir)
    clean: dict[str, Any] = {}
    invalid: list[str] = []
    for tool in TOOLS:
        value, ok = contracts.parse(tool, outputs.get(tool))
        clean[tool] = value
        if not ok:
            invalid.append(tool)
    return clean, invalid


def contract_breaks(outputs: Any, schemas_dir: Any = None) -> str:
    """What keeps ``outputs`` from being a contract-valid answer ('' when nothing): not an object, or the tools whose
    value is missing or breaks its schema. A student's ``null`` is an answer ("not used"), not a break."""
    if not isinstance(outputs, dict):
        return f"outputs are a {type(outputs).__name__}"
    missing = [t for t in TOOLS if t not in outputs]
    _, invalid = validate_outputs(outputs, schemas_dir)
    bad = [t for t in TOOLS if t in missing or t in invalid]
    return ", ".join(bad)


class TeacherBackend:
    def __init__(self, settings: Any, client: Any = None) -> None:
        self.settings = settings
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from flywheel.teacher.client import TeacherClient

                self._client = TeacherClient(self.settings)
            return self._client

    def respond(self, intent: str, model_ref: str | None = None) -> BackendResult:
        from flywheel.teacher.client import TeacherError

        try:
            r = self.client.respond(intent)
        except TeacherError as exc:
            raise BackendUnavailable(f"teacher unavailable: {exc}") from exc
        return BackendResult(outputs=r.outputs, model_name=r.model_name, model_version=r.model_version,
                             latency_ms=r.latency_ms, rationale=r.rationale, invalid_tools=list(r.invalid_tools))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class StudentBackend:
    """Loads the production model (or an arm's pinned ``model_ref``) and re-checks the registry every ``refresh_s``,
    so a promotion reaches the student arm without a restart."""

    def __init__(self, settings: Any, refresh_s: float = 30.0) -> None:
        self.settings = settings
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._predictors: dict[str, Any] = {}  # model_id -> Predictor
        self._production: tuple[float, Any] | None = None  # (checked_at, record | None)
        # model_id -> (failed_at, the load error): a checkpoint that does not load is retried every refresh_s, not
        # read from disk again for every request the teacher now answers.
        self._unloadable: dict[str, tuple[float, StudentFailed]] = {}

    def _record(self, model_ref: str | None) -> Any:
        # Imported here: the registry and inference load torch, which a teacher-only assistant never needs.
        from flywheel.registry import store

        if model_ref:
            try:
                return store.get_model(self.settings, model_ref)
            except LookupError as exc:
                raise BackendUnavailable(f"student model {model_ref!r} (pinned by the experiment arm) is not in the "
                                         f"registry: {exc}") from exc
        now = time.monotonic()
        if self._production is None or now - self._production[0] > self.refresh_s:
            try:
                self._production = (now, store.production_model(self.settings))
            except Exception as exc:  # noqa: BLE001 — registry unreachable or not migrated: the arm cannot serve
                raise BackendUnavailable(f"no production student model (registry lookup failed: {exc})") from exc
        record = self._production[1]
        if record is None:
            raise BackendUnavailable("no production student model (promote one with `flywheel promote`)")
        return record

    def predictor(self, model_ref: str | None = None) -> Any:
        """The loaded model: BackendUnavailable when the registry names none, StudentFailed when it does not load."""
        with self._lock:
            record = self._record(model_ref)
            pred = self._predictors.get(record.model_id)
            if pred is None:
                failed = self._unloadable.get(record.model_id)
                if failed is not None and time.monotonic() - failed[0] <= self.refresh_s:
                    raise failed[1]
                pred = self._load(record)
                self._unloadable.pop(record.model_id, None)
                self._predictors = {record.model_id: pred} if not model_ref else {**self._predictors,
                                                                                   record.model_id: pred}
            return pred

    def _load(self, record: Any) -> Any:
        from flywheel.inference.predictor import load_predictor

        log.info("loading student %s from %s", record.model_id, record.path)
        try:
            return load_predictor(record.path)
        except Exception as exc:  # noqa: BLE001 — any broken checkpoint: the teacher answers instead
            log.exception("student model %s at %s cannot be loaded", record.model_id, record.path)
            failed = StudentFailed("student_load_error", type(exc).__name__)
            self._unloadable[record.model_id] = (time.monotonic(), failed)
            raise failed from exc

    def respond(self, intent: str, model_ref: str | None = None) -> BackendResult:
        pred = self.predictor(model_ref)
        t0 = time.perf_counter()
        try:
            out = pred.predict([intent])[0]
        except Exception as exc:  # noqa: BLE001 — whatever the model does with this text, the request is answered
            log.exception("student %s raised on a request", pred.model_version)
            raise StudentFailed("student_error", type(exc).__name__) from exc
        latency = (time.perf_counter() - t0) * 1000
        broken = contract_breaks(out, self.settings.schemas_dir)
        if broken:
            raise StudentFailed("student_contract", broken)
        return BackendResult(outputs=out, model_name=str(pred.model_name), model_version=str(pred.model_version),
                             latency_ms=round(latency, 2), rationale=None)

    def close(self) -> None:
        self._predictors.clear()
