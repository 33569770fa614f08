"""The assistant's two events: checked against the contract before publishing, answered only once acknowledged.

`publish()` only queues; a 200 is owed only when the broker acknowledged both events with acks=all. A field the
contract would refuse (a teacher rationale over its limit or with NUL) is trimmed, or dropped, and the answer says so.
"""

from __future__ import annotations

import json
from typing import Any

from flywheel.events.validation import Accepted, load_validator

RATIONALE_MAX_CHARS = 4000  # assistant_responded.v1.json rationale/<tool> maxLength


class NotDelivered(RuntimeError):
    pass


def fit_to_contract(settings: Any, event: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The event as the contract accepts it, and what was changed to get there (empty if nothing)."""
    validator = load_validator(settings)
    text = json.dumps(event, ensure_ascii=False)
    if isinstance(validator.check(json.loads(text), text), Accepted):
        return event, []
    fixes: list[str] = []
    rationale = event.get("rationale")
    if isinstance(rationale, dict):
        trimmed = {k: (v.replace("\x00", "")[:RATIONALE_MAX_CHARS] if isinstance(v, str) else v)
                   for k, v in rationale.items()}
        fixes.append("rationale_trimmed")
        event = {**event, "rationale": trimmed}
        text = json.dumps(event, ensure_ascii=False)
        if isinstance(validator.check(json.loads(text), text), Accepted):
            return event, fixes
        event = {**event, "rationale": None}
        fixes = ["rationale_dropped"]
        text = json.dumps(event, ensure_ascii=False)
    res = validator.check(json.loads(text), text)
    if not isinstance(res, Accepted):
        raise NotDelivered(f"{event.get('event_type')} does not pass its own contract: {res.reason}")
    return event, fixes


def deliver(publisher: Any, events: list[dict[str, Any]], timeout_s: float) -> None:
    """Publish and wait until the broker acknowledged every event (acks=all); NotDelivered otherwise."""
    try:
        futures = [publisher.publish(e) for e in events]
        for fut in futures:
            if fut is not None:  # test publishers may deliver synchronously
                fut.get(timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 — any failure means the answer would leave no trace
        raise NotDelivered(f"event log unavailable: {type(exc).__name__}: {exc}") from exc
