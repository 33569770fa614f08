"""Split files -> training examples.

One split row (an intent and its three ground-truth outputs) becomes three examples, one per tool (multi-task, as in
the paper): source ``tool: adjust | intent: golden hour``, target the compact JSON of the output or ``null``. Keys are
written in the contract's order so the student always sees one spelling of each output.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.contracts import ADJUST_KEYS, COLORS, TOOLS, normalize_intent

NULL = "null"


@dataclass(frozen=True)
class Example:
    intent: str
    tool: str
    source: str
    target: str


def prompt(tool: str, intent: str) -> str:
    return f"tool: {tool} | intent: {normalize_intent(intent)}"


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


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSON Lines file; a bad line is an error naming the file and line (never skipped silently)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist")
    rows = []
    with p.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise ValueError(f"{p}:{i}: not valid JSON: {e}") from e
            if not isinstance(row, dict) or not isinstance(row.get("intent"), str):
                raise ValueError(f"{p}:{i}: each line must be an object with a string 'intent'")
            rows.append(row)
    return rows


def write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return p


def examples(rows: list[dict[str, Any]]) -> list[Example]:
    out = []
    for r in rows:
        for tool in TOOLS:
            if tool not in r:
                raise ValueError(f"split row for intent {r['intent']!r} lacks tool {tool!r} (use null for 'not used')")
            out.append(Example(r["intent"], tool, prompt(tool, r["intent"]), target_text(tool, r[tool])))
    return out


@dataclass
class SplitFiles:
    path: Path
    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    meta: dict[str, Any]

    @property
    def split_id(self) -> str | None:
        return self.meta.get("split_id")

    @property
    def groundtruth_run_id(self) -> str | None:
        return self.meta.get("groundtruth_run_id")


def load_split(path: str | Path) -> SplitFiles:
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"split folder {p} does not exist")
    meta_path = p / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return SplitFiles(p, read_jsonl(p / "train.jsonl"), read_jsonl(p / "test.jsonl"), meta)


def subsample(rows: list[dict[str, Any]], n: int | None, seed: int) -> list[dict[str, Any]]:
    if n is None or n >= len(rows):
        return rows
    idx = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in idx]


def resolve_split_dir(settings: Any, split_id: str) -> Path:
    """Engineer C's split folder when that module is installed; otherwise the agreed default location."""
    try:
        from flywheel.datasets.splits import split_dir
    except ImportError:
        return Path(settings.artifacts_dir) / "splits" / split_id
    return Path(split_dir(settings, split_id))
