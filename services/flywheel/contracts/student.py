"""The student's text format, shared by training (what it learns) and inference (what it is asked).

One example per (intent, tool): source ``tool: adjust | intent: golden hour``, then ``SEPARATOR``, then the target:
the compact JSON of the tool's output in contract key order, or ``null`` for "tool not used".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flywheel.contracts.intents import normalize_intent
from flywheel.contracts.tools import ADJUST_KEYS, COLORS

NULL = "null"
SEPARATOR = "\n"
PROMPT_TEMPLATE = "tool: {tool} | intent: {intent}"
# A checkpoint folder's card: how to serve it (backend, prompt, decoding), written by training.
MODEL_CARD = "flywheel_model.json"


def prompt(tool: str, intent: str) -> str:
    return PROMPT_TEMPLATE.format(tool=tool, intent=normalize_intent(intent))


def ordered(tool: str, value: dict[str, Any] | None) -> dict[str, Any] | None:
    """The output with keys in contract order (unknown keys kept at the end, so nothing is silently dropped)."""
    if value is None:
        return None
    if tool == "adjust":
        keys = [k for k in ADJUST_KEYS if k in value] + [k for k in value if k not in ADJUST_KEYS]
        return {k: value[k] for k in keys}
    if tool == "selective_adjust":
        keys = [c for c in COLORS if c in value] + [c for c in value if c not in COLORS]
        out: dict[str, Any] = {}
        for c in keys:
            ch = value[c]
            if isinstance(ch, dict):
                inner = [k for k in ("saturation", "luminance") if k in ch] + \
                    [k for k in ch if k not in ("saturation", "luminance")]
                ch = {k: ch[k] for k in inner}
            out[c] = ch
        return out
    if tool == "filter":
        keys = [k for k in ("name", "intensity") if k in value] + [k for k in value if k not in ("name", "intensity")]
        return {k: value[k] for k in keys}
    raise ValueError(f"unknown tool {tool!r}")


def target_text(tool: str, value: dict[str, Any] | None) -> str:
    return json.dumps(ordered(tool, value), separators=(",", ":"), ensure_ascii=False)


def write_card(model_dir: Path, **card: Any) -> None:
    (model_dir / MODEL_CARD).write_text(json.dumps(card, indent=2))
