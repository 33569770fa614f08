"""The platform's contracts: tool-output schemas, the filter catalogue, intent normalization, tool vectors.

The JSON Schema files under ``flywheel/schemas/`` (package data) are the source of truth; this package loads and
compiles them once.
"""

from flywheel.contracts.intents import normalize_intent
from flywheel.contracts.tools import (
    ADJUST_KEYS,
    COLORS,
    TOOLS,
    ToolContracts,
    canonical_json,
    cosine,
    load_tool_contracts,
    tool_vector,
)

__all__ = [
    "ADJUST_KEYS",
    "COLORS",
    "TOOLS",
    "ToolContracts",
    "canonical_json",
    "cosine",
    "load_tool_contracts",
    "normalize_intent",
    "tool_vector",
]
