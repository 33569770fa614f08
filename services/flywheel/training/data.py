"""Split files -> training examples.

One split row (an intent and its three ground-truth outputs) becomes three examples, one per tool (multi-task, as in
the paper), in the text format of :mod:`flywheel.contracts.student`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from flywheel.contracts import TOOLS
from flywheel.contracts.student import NULL, ordered, prompt, target_text
from flywheel.datasets.files import SplitFiles, load_split, read_jsonl, resolve_split_dir, write_jsonl

__all__ = ["NULL", "Example", "SplitFiles", "examples", "load_split", "ordered", "prompt", "read_jsonl",
           "resolve_split_dir", "subsample", "target_text", "training_examples", "write_jsonl"]


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


def training_examples(rows: list[dict[str, Any]], *, copies: int = 0, support_repeat_max: int = 1,
                      seed: int = 0) -> list[Example]:
    """The examples of the training rows after support weighting and text augmentation (augment_text)."""
    if copies or support_repeat_max > 1:
        from flywheel.training.augment_text import expand_rows

        rows = expand_rows(rows, copies=copies, support_repeat_max=support_repeat_max, seed=seed)
    return examples(rows)


def subsample(rows: list[dict[str, Any]], n: int | None, seed: int) -> list[dict[str, Any]]:
    if n is None or n >= len(rows):
        return rows
    idx = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in idx]
