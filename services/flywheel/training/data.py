"""Split files -> training examples of the text students (the transformers families).

One split row (an intent and its three ground-truth outputs) becomes three examples, one per tool (multi-task, as in
the paper), in the text format of :mod:`flywheel.contracts.student`. Support weighting and text augmentation
(:mod:`flywheel.training.augment_text`) act on the rows before any family sees them (``train``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from flywheel.contracts import TOOLS
from flywheel.contracts.student import NULL, ordered, prompt, target_text
from flywheel.datasets.files import SplitFiles, load_split, read_jsonl, resolve_split_dir, write_jsonl

__all__ = ["NULL", "Example", "SplitFiles", "examples", "load_split", "ordered", "prompt", "read_jsonl",
           "resolve_split_dir", "subsample", "target_text", "write_jsonl"]


@dataclass(frozen=True)
class Example:
    intent: str
    tool: str
    source: str
    target: str


def examples(rows: list[dict[str, Any]]) -> list[Example]:
    out = []
    for r in rows:
        for tool in TOOLS:
            if tool not in r:
                raise ValueError(f"split row for intent {r['intent']!r} lacks tool {tool!r} (use null for 'not used')")
            out.append(Example(r["intent"], tool, prompt(tool, r["intent"]), target_text(tool, r[tool])))
    return out


def subsample(rows: list[dict[str, Any]], n: int | None, seed: int) -> list[dict[str, Any]]:
    if n is None or n >= len(rows):
        return rows
    idx = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in idx]
