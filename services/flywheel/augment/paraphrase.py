"""Paraphrase generation through an OpenAI-compatible chat endpoint (paper: "another LLM generates similar intents").

One request per intent. The LAST user message is exactly ``PARAPHRASE: {"intent": ..., "n": ...}`` — the machine
form the embedded ``teacher-server`` recognises and answers from the simulator's paraphrase families — while the
system message tells a real LLM (GPT-class) what that line means and to answer with JSON
``{"paraphrases": [...]}``. So the same client works against both without a mode switch.

Endpoint: ``settings.augment_base_url`` / ``augment_model`` / ``augment_api_key``, each falling back to the teacher's
(``openai_base_url`` / ``teacher_model`` / ``openai_api_key``). The teacher's key is a credential for the teacher's
host only: it is sent only when the paraphrase endpoint has the same origin (scheme, host, port) as the teacher's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flywheel.settings import Settings

PREFIX = "PARAPHRASE:"

SYSTEM_PROMPT = (
    "You write paraphrases of short user intents for a photo and video editing assistant (e.g. 'cool morning', "
    "'golden hour', 'moody forest'). The user message is the word PARAPHRASE: followed by JSON with the fields "
    "\"intent\" (the text to paraphrase) and \"n\" (how many paraphrases). Write n different short intents a user "
    "could type that ask for the SAME visual edit (same mood, colours, light), e.g. 'cool tone' for 'cool morning'. "
    "Keep them as short as the original, no numbering, no quotes, no explanations, never the original text itself. "
    "Answer with JSON only, exactly of the form {\"paraphrases\": [\"...\", \"...\"]}."
)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a malformed port can never match the teacher's origin
        return scheme, "", -1
    return scheme, (parts.hostname or "").lower(), port


def api_key_for(settings: Settings, base_url: str) -> str:
    """The key to send to `base_url`: the augment key, else the teacher's key only on the teacher's own origin."""
    if settings.augment_api_key:
        return settings.augment_api_key
    if settings.openai_api_key and _origin(base_url) == _origin(settings.openai_base_url):
        return settings.openai_api_key
    return "not-needed"  # the openai package insists on a key; a keyless endpoint ignores it


class ParaphraseError(RuntimeError):
    """The endpoint's answer could not be read as a list of paraphrases."""


def build_messages(intent: str, n: int) -> list[dict[str, str]]:
    if not isinstance(intent, str) or not intent.strip():
        raise ValueError("intent to paraphrase must be a non-empty string")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    payload = json.dumps({"intent": intent, "n": int(n)}, ensure_ascii=False)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": f"{PREFIX} {payload}"}]


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_paraphrases(content: str | None) -> list[str]:
    """Read ``{"paraphrases": [...]}`` (or a bare JSON list) out of a reply, tolerating code fences and chatter
    around the JSON that real LLMs add. Non-string items are dropped; an unreadable reply raises ParaphraseError."""
    if not content or not content.strip():
        raise ParaphraseError("empty reply")
    text = _FENCE.sub("", content.strip())
    obj: Any = None
    try:
        obj = json.loads(text)
    except ValueError:
        for open_, close in (("{", "}"), ("[", "]")):
            i, j = text.find(open_), text.rfind(close)
            if 0 <= i < j:
                try:
                    obj = json.loads(text[i:j + 1])
                    break
                except ValueError:
                    continue
    if isinstance(obj, dict):
        obj = obj.get("paraphrases")
    if not isinstance(obj, list):
        raise ParaphraseError(f"reply has no 'paraphrases' list: {content[:200]!r}")
    return [s.strip() for s in obj if isinstance(s, str) and s.strip()]


@dataclass
class ParaphraseBatch:
    results: dict[str, list[str]] = field(default_factory=dict)  # intent -> paraphrases (raw)
    failures: dict[str, str] = field(default_factory=dict)  # intent -> reason


class Paraphraser:
    """``paraphrase(intent, n) -> list[str]`` over the OpenAI client; ``paraphrase_many`` runs a small thread pool."""

    def __init__(self, settings: Settings, model: str | None = None, base_url: str | None = None,
                 client: Any = None) -> None:
        self.model = model or settings.augment_model or settings.teacher_model
        self.base_url = base_url or settings.augment_base_url or settings.openai_base_url
        self.workers = max(1, settings.augment_workers)
        if client is None:
            from openai import OpenAI

            client = OpenAI(base_url=self.base_url, api_key=api_key_for(settings, self.base_url),
                            timeout=settings.teacher_timeout_s,
                            max_retries=settings.teacher_max_retries)
        self.client = client

    def paraphrase(self, intent: str, n: int) -> list[str]:
        resp = self.client.chat.completions.create(model=self.model, messages=build_messages(intent, n),
                                                   temperature=0.9)
        if not resp.choices:
            raise ParaphraseError("reply has no choices")
        return parse_paraphrases(resp.choices[0].message.content)[:n]

    def paraphrase_many(self, intents: Sequence[str], n: int,
                        progress: Callable[[int], None] | None = None) -> ParaphraseBatch:
        """Failures (network, unreadable reply) are recorded per intent, never silently lost."""
        out = ParaphraseBatch()

        def one(intent: str) -> tuple[str, list[str] | None, str | None]:
            try:
                return intent, self.paraphrase(intent, n), None
            except Exception as e:  # noqa: BLE001 — one bad reply must not sink the batch; it is reported
                return intent, None, f"{type(e).__name__}: {e}"

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for intent, res, err in pool.map(one, intents):
                if err is not None:
                    out.failures[intent] = err
                else:
                    out.results[intent] = res or []
                if progress:
                    progress(1)
        return out
