"""The hidden truth file: one JSON line per distinct intent_norm the simulation used.

It lives under ``{artifacts_dir}/simulator/`` and is never read by the pipeline; only tests and reports compare the
pipeline's ground truth and models against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.contracts import TOOLS


@dataclass(frozen=True)
class TruthRow:
    intent_norm: str
    base_id: str
    ideal: dict[str, Any]  # tool -> output | None


def truth_path(artifacts_dir: Path | str, seed: int) -> Path:
    return Path(artifacts_dir) / "simulator" / f"truth-seed{seed}.jsonl"


def write_truth(path: Path, rows: list[TruthRow]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"intent_norm": r.intent_norm, "base_id": r.base_id,
                                "ideal": {t: r.ideal.get(t) for t in TOOLS}}, ensure_ascii=False) + "\n")
    tmp.replace(path)  # readers never see a half-written file
    return path


def load_truth(path: Path | str) -> dict[str, TruthRow]:
    """intent_norm -> TruthRow. Raises ValueError naming the line for a malformed row."""
    out: dict[str, TruthRow] = {}
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no truth file at {p} (run `flywheel simulate` first)")
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                row = TruthRow(d["intent_norm"], d["base_id"], {t: d["ideal"][t] for t in TOOLS})
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{p}:{n}: malformed truth row: {exc}") from exc
            out[row.intent_norm] = row
    return out
