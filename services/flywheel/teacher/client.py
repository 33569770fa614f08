"""The teacher client: any OpenAI-compatible Chat Completions endpoint (`openai` package), one request per tool.

The three tool requests run concurrently, so the response latency is the slowest of the three. Every output is parsed
and validated against the tool schemas (``flywheel.contracts``); an answer that stays invalid after the retries is
recorded as ``None`` for that tool and named in ``invalid_tools`` (it counts as "not used", as in the metrics,
docs/domain.md#d12-invalid-outputs).
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.teacher.prompts import build_messages, parse_reply

log = logging.getLogger(__name__)

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class TeacherError(RuntimeError):
    """The teacher could not answer."""


class TeacherConfigError(TeacherError):
    """Missing or rejected API key, or an unusable configuration."""


class TeacherUnavailable(TeacherError):
    """The endpoint could not be reached (or kept failing) within the retries."""


@dataclass
class TeacherResponse:
    outputs: dict[str, Any]  # tool -> output | None
    rationale: dict[str, str | None]
    model_name: str
    latency_ms: float
    model_version: str = "unversioned"
    invalid_tools: list[str] = field(default_factory=list)


def _needs_key(base_url: str) -> bool:
    host = urlparse(base_url).hostname or ""
    return host not in _LOCAL_HOSTS


class TeacherClient:
    """``TeacherClient(settings).respond(intent) -> TeacherResponse``."""

    def __init__(self, settings: Any, *, base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None, max_retries: int | None = None, timeout_s: float | None = None,
                 backoff_s: float = 0.5, client: Any = None) -> None:
        self.base_url = base_url or settings.openai_base_url
        self.model = model or settings.teacher_model
        self.max_retries = settings.teacher_max_retries if max_retries is None else max_retries
        self.backoff_s = backoff_s
        self.contracts = load_tool_contracts(settings.schemas_dir)
        key = api_key or settings.openai_api_key
        if not key:
            if _needs_key(self.base_url):
                raise TeacherConfigError(
                    f"FLYWHEEL_OPENAI_API_KEY is not set, and the teacher endpoint {self.base_url} is not local. "
                    "Set the key, or point FLYWHEEL_OPENAI_BASE_URL at a local `flywheel teacher-server`.")
            key = "not-needed"  # the local teacher-server ignores keys; the openai package insists on one
        if client is None:
            from openai import OpenAI

            # Retries are ours (backoff + validation retries), so the package's own are off.
            client = OpenAI(base_url=self.base_url, api_key=key, max_retries=0,
                            timeout=timeout_s or settings.teacher_timeout_s)
        self.client = client
        self._pool = ThreadPoolExecutor(max_workers=len(TOOLS), thread_name_prefix="teacher")

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        close = getattr(self.client, "close", None)
        if close:
            close()

    def respond(self, intent: str) -> TeacherResponse:
        if not isinstance(intent, str) or not intent.strip():
            raise ValueError("intent must be a non-empty string")
        t0 = time.perf_counter()
        futures = {tool: self._pool.submit(self.respond_tool, tool, intent) for tool in TOOLS}
        outputs: dict[str, Any] = {}
        why: dict[str, str | None] = {}
        invalid: list[str] = []
        model_name, version = self.model, "unversioned"
        for tool, fut in futures.items():
            value, rationale, ok, model_name, fp = fut.result()
            outputs[tool], why[tool] = value, rationale
            version = fp or version
            if not ok:
                invalid.append(tool)
        return TeacherResponse(outputs=outputs, rationale=why, model_name=model_name or self.model,
                               latency_ms=round((time.perf_counter() - t0) * 1000, 2), model_version=version,
                               invalid_tools=invalid)

    def respond_tool(self, tool: str, intent: str) -> tuple[Any, str | None, bool, str, str | None]:
        """(output, rationale, valid, model, system_fingerprint) for one tool, with retries."""
        import openai

        messages = build_messages(tool, intent, self.contracts.filter_names if tool == "filter" else None)
        last: Exception | None = None
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1) * (1 + random.random() * .25))
            try:
                resp = self.client.chat.completions.create(model=self.model, messages=messages, temperature=0.7)
            except openai.AuthenticationError as exc:
                raise TeacherConfigError(f"the teacher endpoint {self.base_url} rejected the API key: {exc}") from exc
            except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                    openai.InternalServerError) as exc:
                last = exc
                log.warning("teacher %s attempt %d/%d failed: %s", self.base_url, attempt + 1, self.max_retries + 1,
                            exc)
                continue
            except openai.APIStatusError as exc:  # 4xx other than auth: the request itself is wrong; retrying is futile
                raise TeacherError(f"the teacher endpoint {self.base_url} refused the request "
                                   f"(HTTP {exc.status_code}): {exc}") from exc
            content = resp.choices[0].message.content if resp.choices else None
            try:
                raw, rationale = parse_reply(content)
            except ValueError as exc:
                problem = f"unreadable reply: {exc}"
                continue
            value, ok = self.contracts.parse(tool, raw)
            if ok:
                return value, rationale, True, resp.model, getattr(resp, "system_fingerprint", None)
            problem = "; ".join(self.contracts.errors(tool, raw))[:300]
            log.info("teacher %s output for %r invalid (attempt %d): %s", tool, intent, attempt + 1, problem)
        if last is not None and not problem:
            raise TeacherUnavailable(f"the teacher endpoint {self.base_url} is unreachable or failing after "
                                     f"{self.max_retries + 1} attempts: {type(last).__name__}: {last}") from last
        log.warning("teacher %s output for %r stayed invalid after retries (%s): recorded as not used",
                    tool, intent, problem)
        return None, None, False, self.model, None
