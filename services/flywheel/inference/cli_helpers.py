"""Small input helpers shared by the predict / bench commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flywheel.errors import NotFound, UsageError


def resolve_model_dir(model: str | None, settings: Any = None) -> Path:
    """A checkpoint folder from a folder path, a registered model id, or (None) the production model."""
    if model and Path(model).is_dir():
        return Path(model)
    from flywheel.registry.store import get_model, production_model
    from flywheel.settings import get_settings

    s = settings or get_settings()
    if model is None:
        prod = production_model(s)
        if prod is None:
            raise NotFound("no production model yet: pass --model")
        return Path(prod.path)
    return Path(get_model(s, model).path)


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
