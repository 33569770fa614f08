"""A split's files on disk (``train.jsonl``, ``test.jsonl``, ``meta.json`` under ``{artifacts_dir}/splits/{id}``),
as written by :func:`flywheel.datasets.splits.export_split` and read by training, evaluation and augmentation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.settings import Settings


def split_dir(settings: Settings, split_id: str) -> Path:
    return Path(settings.artifacts_dir) / "splits" / split_id


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


def resolve_split_dir(settings: Settings, split_id: str) -> Path:
    return split_dir(settings, split_id)
