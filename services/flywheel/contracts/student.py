"""The student's text format, shared by training (what it learns) and inference (what it is asked).

One example per (intent, tool): source ``tool: adjust | intent: golden hour``, then ``SEPARATOR``, then the target:
the compact JSON of the tool's output in contract key order, or ``null`` for "tool not used".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flywheel.contracts.intents import normalize_intent
from flywheel.contracts.slots import ordered

NULL = "null"
SEPARATOR = "\n"
PROMPT_TEMPLATE = "tool: {tool} | intent: {intent}"
# A checkpoint folder's card: how to serve it (backend, prompt, decoding), written by training.
MODEL_CARD = "flywheel_model.json"
# The student's longest source in tokens of its tokenizer: the whole `prompt(tool, intent)` (what training calls
# `max_source_tokens`), not the intent alone. Training and serving must cut at the same length, or a long intent is
# read one way when learnt and another when served. 48 is what the students were trained with; intents are a few
# words (docs/domain.md#the-simulator), so only pasted paragraphs are cut.
MAX_SOURCE_TOKENS = 48

__all__ = ["MAX_SOURCE_TOKENS", "MODEL_CARD", "NULL", "PROMPT_TEMPLATE", "SEPARATOR", "ordered", "prompt",
           "target_text", "write_card"]


def prompt(tool: str, intent: str) -> str:
    return PROMPT_TEMPLATE.format(tool=tool, intent=normalize_intent(intent))


def target_text(tool: str, value: dict[str, Any] | None) -> str:
    return json.dumps(ordered(tool, value), separators=(",", ":"), ensure_ascii=False)


def write_card(model_dir: Path, **card: Any) -> None:
    (model_dir / MODEL_CARD).write_text(json.dumps(card, indent=2))
