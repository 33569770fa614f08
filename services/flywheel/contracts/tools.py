from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

# Read from the schema files (flywheel.contracts.slots), re-exported here where they always were.
from flywheel.contracts.slots import (
    ADJUST_KEYS,
    CHANNELS,
    COLORS,
    TOOLS,
    ContractSlots,
    UnknownTool,
    contract_slots,
)

__all__ = ["ADJUST_KEYS", "COLORS", "TOOLS", "ToolContracts", "UnknownTool", "canonical_json", "cosine",
           "load_tool_contracts", "tool_vector"]


@dataclass
class ToolContracts:
    """Compiled validators for the three tool outputs plus the filter catalogue."""

    schemas_dir: Path
    validators: dict[str, Draft202012Validator] = field(default_factory=dict)
    filters: dict[str, list[str]] = field(default_factory=dict)

    def errors(self, tool: str, value: Any) -> list[str]:
        """Reasons `value` breaks the tool's contract (empty = valid). `None` (tool not used) is always valid."""
        if tool not in self.validators:
            raise UnknownTool(f"unknown tool {tool!r}; expected one of {TOOLS}")
        if value is None:
            return []
        out = [f"{tool}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
               for e in self.validators[tool].iter_errors(value)]
        name = value.get("name") if tool == "filter" and isinstance(value, dict) else None
        if isinstance(name, str) and name not in self.filters:
            out.append(f"filter: name: unknown filter {value['name']!r} (not in the catalogue filters.json)")
        return out

    def valid(self, tool: str, value: Any) -> bool:
        return not self.errors(tool, value)

    def parse(self, tool: str, raw: Any) -> tuple[Any, bool]:
        """Text or object -> (value, ok). Invalid JSON or a contract break gives (None, False): it counts as null."""
        value = raw
        if isinstance(raw, (str, bytes)):
            try:
                value = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return None, False
        if self.errors(tool, value):
            return None, False
        return value, True

    @property
    def filter_names(self) -> list[str]:
        return list(self.filters)

    @property
    def slots(self) -> ContractSlots:
        """Keys, bounds and key order of this folder's tool outputs."""
        return contract_slots(self.schemas_dir)


def _load(schemas_dir: Path) -> ToolContracts:
    tools_dir = schemas_dir / "tools"
    catalogue = json.loads((tools_dir / "filters.json").read_text())
    filters = {f["name"]: list(f.get("tags", [])) for f in catalogue["filters"]}
    validators = {}
    for tool in TOOLS:
        schema = json.loads((tools_dir / f"{tool}.json").read_text())
        Draft202012Validator.check_schema(schema)
        validators[tool] = Draft202012Validator(schema)
    return ToolContracts(schemas_dir=schemas_dir, validators=validators, filters=filters)


@lru_cache(maxsize=8)
def _cached(schemas_dir: str) -> ToolContracts:
    return _load(Path(schemas_dir))


def load_tool_contracts(schemas_dir: Path | None = None) -> ToolContracts:
    """Compiled once per schemas folder."""
    if schemas_dir is None:
        from flywheel.settings import DEFAULT_SCHEMAS_DIR

        schemas_dir = DEFAULT_SCHEMAS_DIR
    return _cached(str(Path(schemas_dir).resolve()))


def canonical_json(value: Any) -> str:
    """Identity of a candidate output: key-sorted compact JSON; `None` -> 'null'."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tool_vector(tool: str, value: dict[str, Any] | None) -> list[float]:
    """docs/domain.md#vectors-and-cosine-similarity: adjust = 14 values in ADJUST_KEYS order; selective_adjust = 12,
    colour-major, channels in CHANNELS order (saturation, luminance)."""
    if tool == "adjust":
        v = value or {}
        return [float(v.get(k, 0)) for k in ADJUST_KEYS]
    if tool == "selective_adjust":
        v = value or {}
        out: list[float] = []
        for c in COLORS:
            ch = v.get(c) or {}
            out += [float(ch.get(k, 0)) for k in CHANNELS]
        return out
    raise UnknownTool(f"tool {tool!r} has no vector")


def cosine(a: list[float], b: list[float]) -> float:
    """docs/domain.md#vectors-and-cosine-similarity: both all-zero -> 1.0; exactly one all-zero -> 0.0; else the
    cosine similarity."""
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)
