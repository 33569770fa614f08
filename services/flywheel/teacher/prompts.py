"""The teacher's prompts: one request per tool, a one-shot example with a rationale (CoT) and the JSON output, as in
the paper. The last user message is machine-readable on purpose (``Tool:`` and a JSON-quoted ``Intent:`` line), so
the local teacher-server can parse it and a real LLM reads it as plain instructions.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flywheel.contracts import ADJUST_KEYS, COLORS, TOOLS, Slot, adjust_slots, selective_channels, slot_bounds


def _span(lo: int, hi: int) -> str:
    return f"{lo}..{hi}"


def _words(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _ranges(slots: tuple[Slot, ...]) -> str:
    """'-100..100, except bloom, sharpen and structure (0..100)': the range most slots share, then the others by
    range, so the prompt states each slot's bounds exactly as the schema has them."""
    groups: dict[tuple[int, int], list[str]] = {}
    for s in slots:
        groups.setdefault((s.lo, s.hi), []).append(s.key)
    common = max(groups, key=lambda r: len(groups[r]))
    others = "; ".join(f"{_words(keys)} ({_span(*r)})" for r, keys in groups.items() if r != common)
    return _span(*common) + (f", except {others}" if others else "")


def _tool_docs() -> dict[str, str]:
    """Each tool's contract in a sentence or two, from the slots (flywheel.contracts.slots)."""
    channels = selective_channels()
    channel_obj = "{" + ", ".join(f'"{c.key}": int' for c in channels) + "}"
    intensity = slot_bounds("filter", "intensity")
    return {
        "adjust": (
            "Global tonal sliders. Output an object with exactly these integer keys: " + ", ".join(ADJUST_KEYS)
            + f". Range {_ranges(adjust_slots())}. 0 means unchanged."
        ),
        "selective_adjust": (
            "Per-colour changes. Output an object keyed by " + ", ".join(COLORS)
            + f"; each value is {channel_obj} in {_ranges(channels)}."
        ),
        "filter": (
            "A preset look. Output {\"name\": <one name from the catalogue>, \"intensity\": "
            + _span(*intensity) + "}. Catalogue: {filters}."
        ),
    }


TOOL_DOCS = _tool_docs()

# The paper's example ("Golden hour").
EXAMPLE_INTENT = "golden hour"
EXAMPLE = {
    "adjust": {
        "rationale": "Golden hour is warm, slightly bright light with soft highlights and gentle saturation.",
        "output": {"exposure": 0, "contrast": 10, "brightness": 10, "highlights": 20, "shadows": -10, "saturation": 15,
                   "vibrance": 15, "temperature": 30, "tint": 10, "hue": 0, "bloom": 0, "sharpen": 0, "structure": 0,
                   "linearOffset": 0},
    },
    "selective_adjust": {
        "rationale": "Warm colours (red, orange, yellow) glow at golden hour; greens and cyans recede.",
        "output": {"red": {"saturation": 20, "luminance": 10}, "orange": {"saturation": 30, "luminance": 20},
                   "yellow": {"saturation": 40, "luminance": 30}, "green": {"saturation": -20, "luminance": 0},
                   "cyan": {"saturation": -20, "luminance": 0}, "blue": {"saturation": 0, "luminance": 0}},
    },
    "filter": {
        "rationale": "A bright, slightly faded preset supports the warm light without overpowering it.",
        "output": {"name": "faded_HighNoon", "intensity": 40},
    },
}

_TOOL_LINE = re.compile(r"^Tool:\s*(\S+)\s*$", re.M)
_INTENT_LINE = re.compile(r"^Intent:\s*(.+?)\s*$", re.M)


def system_prompt(tool: str, filter_names: list[str] | None = None) -> str:
    doc = TOOL_DOCS[tool].replace("{filters}", ", ".join(filter_names or []))
    return (
        "You are the assistant of a photo and video editing app. The user describes a look in a few words; you decide "
        f"whether the {tool} tool should be used and with which parameters.\n{doc}\n"
        "First give a one-sentence rationale, then the output. If the tool is not needed for this look, the output is "
        "null. Answer with one JSON object only: {\"rationale\": \"...\", \"output\": ... }."
    )


def user_message(tool: str, intent: str) -> str:
    return (f"Tool: {tool}\nIntent: {json.dumps(intent, ensure_ascii=False)}\n"
            "Reply with the JSON object {\"rationale\": ..., \"output\": ...}.")


def build_messages(tool: str, intent: str, filter_names: list[str] | None = None) -> list[dict[str, str]]:
    """System prompt, the one-shot example (user -> assistant) and the request."""
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
    return [
        {"role": "system", "content": system_prompt(tool, filter_names)},
        {"role": "user", "content": user_message(tool, EXAMPLE_INTENT)},
        {"role": "assistant", "content": json.dumps(EXAMPLE[tool])},
        {"role": "user", "content": user_message(tool, intent)},
    ]


def parse_request(text: str) -> tuple[str, str]:
    """(tool, intent) from a teacher request's last user message; ValueError says what is missing."""
    m_tool, m_intent = _TOOL_LINE.search(text), _INTENT_LINE.search(text)
    if not m_tool or not m_intent:
        raise ValueError("the last user message must contain a 'Tool: <tool>' line and an 'Intent: \"<json string>\"' "
                         "line (see flywheel.teacher.prompts)")
    tool = m_tool.group(1)
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; expected one of {list(TOOLS)}")
    try:
        intent = json.loads(m_intent.group(1))
    except ValueError as exc:
        raise ValueError(f"Intent must be a JSON string, got {m_intent.group(1)[:80]!r}") from exc
    if not isinstance(intent, str) or not intent.strip():
        raise ValueError("Intent must be a non-empty JSON string")
    return tool, intent


def _strip_fences(text: str) -> str:
    """Drop a leading ```/```json and a trailing ``` fence. String operations, linear in the reply: the former regex
    (`\\s*```$` tried at every offset) was quadratic on long whitespace runs."""
    text = text.strip()
    if text.startswith("```"):
        text = text[3:]
        if text.startswith("json"):
            text = text[4:]
        text = text.lstrip()
    if text.endswith("```"):
        text = text[:-3].rstrip()
    return text


def parse_reply(content: str | None) -> tuple[Any, str | None]:
    """(output, rationale) from a reply; tolerates code fences. ValueError for anything else."""
    if not content:
        raise ValueError("empty reply")
    text = _strip_fences(content)
    obj = json.loads(text)
    if not isinstance(obj, dict) or "output" not in obj:
        raise ValueError(f"reply is not an object with an 'output' key: {text[:200]!r}")
    why = obj.get("rationale")
    return obj["output"], why if isinstance(why, str) else None
