"""Slot facts of the tool contracts, read from the JSON Schemas (docs/domain.md#where-slot-facts-come-from).

A *slot* is one bounded integer of a tool output: an `adjust` slider, a `selective_adjust` channel (the same two for
every colour) or the filter's `intensity`. Keys, bounds and key order come from ``schemas/tools/*.json`` only; the
tool list and its order come from the event envelope (``schemas/events/envelope.v1.json``, ``$defs.tool.enum``), the
one schema that names every tool. Key order is the order of ``properties``; where a schema also spells the order out
(``x-vector-order``) the two must agree, so the file cannot contradict itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

# The folder flywheel.settings.DEFAULT_SCHEMAS_DIR names (tests/test_contracts.py holds them equal). Not imported
# from there: settings pulls in pydantic (~0.3 s), which every importer of the contracts would then pay for.
PACKAGED_SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"

Polarity = Literal["unipolar", "bipolar"]


class UnknownTool(ValueError):
    pass


class SchemaShapeError(ValueError):
    """A tool schema lacks the shape the slot facts are read from, or disagrees with itself."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One bounded integer of a tool output; `key` is the JSON key (for a selective channel: `saturation`)."""

    tool: str
    key: str
    lo: int
    hi: int

    @property
    def polarity(self) -> Polarity:
        """docs/domain.md#adjust: a unipolar slot (0..100) can only add its effect, a bipolar one pushes either way."""
        return "unipolar" if self.lo >= 0 else "bipolar"


@dataclass(frozen=True, slots=True)
class ContractSlots:
    """The slot facts of one schemas folder: tools, key orders, bounds."""

    schemas_dir: Path
    tools: tuple[str, ...]
    adjust: tuple[Slot, ...]  # properties order = the adjust vector's order
    colors: tuple[str, ...]
    channels: tuple[Slot, ...]  # per colour, in order: saturation, luminance
    filter_keys: tuple[str, ...]  # name, intensity
    filter: tuple[Slot, ...]  # the filter's integer keys: intensity

    def key_order(self, tool: str) -> tuple[str, ...]:
        """Top-level keys of a tool's output in contract order."""
        if tool == "adjust":
            return tuple(s.key for s in self.adjust)
        if tool == "selective_adjust":
            return self.colors
        if tool == "filter":
            return self.filter_keys
        raise UnknownTool(f"unknown tool {tool!r}")

    def find(self, tool: str, key: str) -> Slot | None:
        """The slot `key` of `tool` (a channel name for selective_adjust), or None: unknown tool or key, or not an
        integer (the filter's name)."""
        pool = {"adjust": self.adjust, "selective_adjust": self.channels, "filter": self.filter}.get(tool, ())
        return next((s for s in pool if s.key == key), None)

    @property
    def span(self) -> tuple[int, int]:
        """The widest bounds of any slot: every slot value lies within them."""
        every = (*self.adjust, *self.channels, *self.filter)
        return min(s.lo for s in every), max(s.hi for s in every)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _properties(schema: dict[str, Any], where: str) -> dict[str, Any]:
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        raise SchemaShapeError(f"{where}: no properties")
    declared = schema.get("x-vector-order")
    if declared is not None and list(declared) != list(props):
        raise SchemaShapeError(f"{where}: x-vector-order {declared} differs from the properties order {list(props)}")
    return props


def _local_ref(root: dict[str, Any], spec: dict[str, Any], where: str) -> dict[str, Any]:
    ref = spec.get("$ref")
    if ref is None:
        return spec
    prefix = "#/$defs/"
    if not isinstance(ref, str) or not ref.startswith(prefix) or ref[len(prefix):] not in root.get("$defs", {}):
        raise SchemaShapeError(f"{where}: $ref {ref!r} is not one of this file's $defs")
    out: dict[str, Any] = root["$defs"][ref[len(prefix):]]
    return out


def _integer_slots(tool: str, props: dict[str, Any], where: str, *, only_integers: bool) -> tuple[Slot, ...]:
    out = []
    for key, spec in props.items():
        if spec.get("type") != "integer":
            if only_integers:
                raise SchemaShapeError(f"{where}: {key} is not an integer")
            continue
        if not isinstance(spec.get("minimum"), int) or not isinstance(spec.get("maximum"), int):
            raise SchemaShapeError(f"{where}: {key} has no integer minimum and maximum")
        out.append(Slot(tool=tool, key=key, lo=spec["minimum"], hi=spec["maximum"]))
    return tuple(out)


def read_slots(schemas_dir: Path) -> ContractSlots:
    """Read the slot facts of a schemas folder (uncached; :func:`contract_slots` caches)."""
    tools_dir = schemas_dir / "tools"
    envelope = _json(schemas_dir / "events" / "envelope.v1.json")
    tools = tuple(envelope.get("$defs", {}).get("tool", {}).get("enum", ()))
    if not tools:
        raise SchemaShapeError("events/envelope.v1.json: no $defs.tool.enum (the tool list)")
    adjust = _json(tools_dir / "adjust.json")
    adjust_slots = _integer_slots("adjust", _properties(adjust, "adjust.json"), "adjust.json", only_integers=True)
    selective = _json(tools_dir / "selective_adjust.json")
    colour_props = _properties(selective, "selective_adjust.json")
    shapes = [_local_ref(selective, spec, f"selective_adjust.json: {c}") for c, spec in colour_props.items()]
    if any(s != shapes[0] for s in shapes):  # the vector layout assumes one channel shape for every colour
        raise SchemaShapeError("selective_adjust.json: colours differ in their channels")
    where = "selective_adjust.json: channel"
    channels = _integer_slots("selective_adjust", _properties(shapes[0], where), where, only_integers=True)
    flt = _json(tools_dir / "filter.json")
    filter_props = _properties(flt, "filter.json")
    return ContractSlots(
        schemas_dir=schemas_dir, tools=tools, adjust=adjust_slots, colors=tuple(colour_props), channels=channels,
        filter_keys=tuple(filter_props),
        filter=_integer_slots("filter", filter_props, "filter.json", only_integers=False),
    )


@lru_cache(maxsize=8)
def _cached(schemas_dir: str) -> ContractSlots:
    return read_slots(Path(schemas_dir))


def contract_slots(schemas_dir: Path | str | None = None) -> ContractSlots:
    """The slot facts of a schemas folder (default: the packaged one), read once per folder."""
    return _cached(str(Path(schemas_dir if schemas_dir is not None else PACKAGED_SCHEMAS_DIR).resolve()))


def adjust_slots(*, schemas_dir: Path | None = None) -> tuple[Slot, ...]:
    return contract_slots(schemas_dir).adjust


def selective_channels(*, schemas_dir: Path | None = None) -> tuple[Slot, ...]:
    return contract_slots(schemas_dir).channels


def find_slot(tool: str, key: str, *, schemas_dir: Path | None = None) -> Slot | None:
    return contract_slots(schemas_dir).find(tool, key)


def get_slot(tool: str, key: str, *, schemas_dir: Path | None = None) -> Slot:
    """One slot; KeyError for a key that is not a bounded integer of that tool."""
    slot = find_slot(tool, key, schemas_dir=schemas_dir)
    if slot is None:
        raise KeyError(f"{tool}.{key} is not a slot of the tool contracts")
    return slot


def slot_bounds(tool: str, key: str, *, schemas_dir: Path | None = None) -> tuple[int, int]:
    """(lo, hi) of one slot; KeyError as :func:`get_slot`."""
    slot = get_slot(tool, key, schemas_dir=schemas_dir)
    return slot.lo, slot.hi


def key_order(tool: str, *, schemas_dir: Path | None = None) -> tuple[str, ...]:
    return contract_slots(schemas_dir).key_order(tool)


def _keys_first(value: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    return {k: value[k] for k in [*(k for k in order if k in value), *(k for k in value if k not in order)]}


def ordered(tool: str, value: dict[str, Any] | None, *, schemas_dir: Path | None = None) -> dict[str, Any] | None:
    """The output with keys in contract order, a selective colour's channels too; unknown keys are kept at the end in
    their order, so nothing is silently dropped. Outputs written as text use this order
    (docs/domain.md#canonical-form-and-validity)."""
    if value is None:
        return None
    slots = contract_slots(schemas_dir)
    out = _keys_first(value, slots.key_order(tool))
    if tool == "selective_adjust":
        inner = tuple(s.key for s in slots.channels)
        out = {c: _keys_first(ch, inner) if isinstance(ch, dict) else ch for c, ch in out.items()}
    return out


# The packaged contract's facts, read once at import (three small files plus the envelope).
_PACKAGED = contract_slots()
TOOLS: tuple[str, ...] = _PACKAGED.tools
ADJUST_KEYS: tuple[str, ...] = _PACKAGED.key_order("adjust")
COLORS: tuple[str, ...] = _PACKAGED.colors
CHANNELS: tuple[str, ...] = tuple(s.key for s in _PACKAGED.channels)
FILTER_KEYS: tuple[str, ...] = _PACKAGED.filter_keys
UNIPOLAR_ADJUST_KEYS: tuple[str, ...] = tuple(s.key for s in _PACKAGED.adjust if s.polarity == "unipolar")
