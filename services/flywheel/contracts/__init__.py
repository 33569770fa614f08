"""The platform's contracts: tool-output schemas, the filter catalogue, intent normalization, tool vectors.

The JSON Schema files under ``flywheel/schemas/`` (package data) are the source of truth; this package loads and
compiles them once. Slot facts (keys, bounds, key order, tools) are read from them too (:mod:`.slots`), never copied.
"""

from flywheel.contracts.intents import intent_words, normalize_intent
from flywheel.contracts.slots import (
    ADJUST_KEYS,
    CHANNELS,
    COLORS,
    FILTER_KEYS,
    TOOLS,
    UNIPOLAR_ADJUST_KEYS,
    ContractSlots,
    SchemaShapeError,
    Slot,
    UnknownTool,
    adjust_slots,
    contract_slots,
    find_slot,
    get_slot,
    key_order,
    ordered,
    selective_channels,
    slot_bounds,
)
from flywheel.contracts.tools import (
    ToolContracts,
    canonical_json,
    cosine,
    load_tool_contracts,
    tool_vector,
)

__all__ = [
    "ADJUST_KEYS",
    "CHANNELS",
    "COLORS",
    "FILTER_KEYS",
    "TOOLS",
    "UNIPOLAR_ADJUST_KEYS",
    "ContractSlots",
    "SchemaShapeError",
    "Slot",
    "ToolContracts",
    "UnknownTool",
    "adjust_slots",
    "canonical_json",
    "contract_slots",
    "cosine",
    "find_slot",
    "get_slot",
    "intent_words",
    "key_order",
    "load_tool_contracts",
    "normalize_intent",
    "ordered",
    "selective_channels",
    "slot_bounds",
    "tool_vector",
]
