"""Small input helpers shared by the predict / bench commands."""

from __future__ import annotations

import json
from pathlib import Path

from flywheel.errors import NotFound, UsageError


def read_intents(path: Path) -> list[str]:
    """Intents from JSONL rows with an 'intent' key, or one plain intent per line."""
    if not path.is_file():
        raise NotFound(f"input file {path} does not exist")
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except ValueError as e:
                raise UsageError(f"{path}:{i}: not valid JSON: {e}") from e
            if not isinstance(row.get("intent"), str):
                raise UsageError(f"{path}:{i}: row has no string 'intent'")
            out.append(row["intent"])
        else:
            out.append(line.strip())
    return out
