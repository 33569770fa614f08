"""Seeded, contract-valid event streams for the ingest benchmark and tests (not the simulator: no hidden truth).

Each project: project_started, 1-3 requests (intent_submitted, assistant_responded, 3 x tool_exported), and
usually project_exported. The mix and sizes resemble the real stream, so rates measured on it mean something.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flywheel.contracts import COLORS, TOOLS, adjust_slots, load_tool_contracts, selective_channels, slot_bounds
from flywheel.events.envelope import make_event

_INTENTS = ("golden hour", "cool morning", "moody forest", "vintage film", "punchy colors", "soft skin",
            "dramatic sky", "faded summer", "night city neon", "warm sunset", "crisp winter", "pastel dream")


@dataclass(frozen=True, slots=True)
class SyntheticEvent:
    key: bytes
    value: bytes
    event_id: str
    event_type: str


def _outputs(rng: random.Random, filters: list[str]) -> dict[str, object]:
    """Every slot drawn uniformly within its contract bounds."""
    adjust = {s.key: rng.randint(s.lo, s.hi) for s in adjust_slots()} if rng.random() < 0.8 else None
    sel = ({c: {s.key: rng.randint(s.lo, s.hi) for s in selective_channels()}
            for c in rng.sample(COLORS, rng.randint(1, len(COLORS)))} if rng.random() < 0.5 else None)
    lo, hi = slot_bounds("filter", "intensity")
    flt = {"name": rng.choice(filters), "intensity": rng.randint(lo, hi)} if rng.random() < 0.6 else None
    return {"adjust": adjust, "selective_adjust": sel, "filter": flt}


def synthetic_events(n: int, seed: int = 0, producer: str = "bench") -> Iterator[SyntheticEvent]:
    """Exactly `n` valid events (the last project may be cut short), in per-project order."""
    rng = random.Random(seed)
    filters = sorted(load_tool_contracts().filters)
    t = datetime(2026, 11, 1, tzinfo=UTC)
    made = 0

    def emit(etype: str, **payload: Any) -> SyntheticEvent:
        nonlocal t
        t += timedelta(milliseconds=rng.randint(1, 500))
        ev = make_event(etype, producer, occurred_at=t, event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        **payload)
        return SyntheticEvent(str(payload["project_id"]).encode(), json.dumps(ev, separators=(",", ":")).encode(),
                              ev["event_id"], etype)

    p = 0
    while made < n:
        p += 1
        pid = f"p{seed}-{p}"
        stream = [emit("project_started", project_id=pid, user_id=f"u{rng.randint(1, 10**6)}",
                       platform=rng.choice(("ios", "android", "web")), app_version="5.2.1")]
        for r in range(rng.randint(1, 3)):
            rid = f"{pid}-r{r}"
            outputs = _outputs(rng, filters)
            stream.append(emit("intent_submitted", project_id=pid, request_id=rid, intent=rng.choice(_INTENTS)))
            stream.append(emit("assistant_responded", project_id=pid, request_id=rid, arm="teacher",
                               model_name="gpt-3.5-turbo", model_version="0125", outputs=outputs,
                               rationale={k: "because" for k in TOOLS if outputs[k] is not None},
                               latency_ms=round(rng.uniform(200, 2000), 1)))
            stream += [emit("tool_exported", project_id=pid, request_id=rid, tool=tool, exported=rng.random() < 0.4)
                       for tool in TOOLS if outputs[tool] is not None]
        if rng.random() < 0.6:
            stream.append(emit("project_exported", project_id=pid))
        for ev in stream:
            if made >= n:
                return
            made += 1
            yield ev
