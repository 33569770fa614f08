"""Tool-output contracts, the filter catalogue, intent normalization and the vector/cosine rules
(docs/domain.md#vectors-and-cosine-similarity)."""

from __future__ import annotations

import json

import pytest

from flywheel.contracts import (
    ADJUST_KEYS,
    canonical_json,
    cosine,
    load_tool_contracts,
    normalize_intent,
    tool_vector,
)
from flywheel.settings import DEFAULT_SCHEMAS_DIR

GOLDEN_ADJUST = {"exposure": 0, "contrast": 10, "brightness": 10, "highlights": 20, "shadows": -10, "saturation": 15,
                 "vibrance": 15, "temperature": 30, "tint": 10, "hue": 0, "bloom": 0, "sharpen": 0, "structure": 0,
                 "linearOffset": 0}


@pytest.mark.parametrize(("raw", "norm"), [
    ("Golden Hour", "golden hour"),
    ("  golden\t\nhour  ", "golden hour"),
    ("“Golden-hour glow!”", "golden-hour glow"),
    ("ＧＯＬＤＥＮ　ＨＯＵＲ", "golden hour"),  # full-width letters and ideographic space (NFKC)
    ("...sunset warmth?!", "sunset warmth"),
    ("  ! golden hour ? ", "golden hour"),
    ("50% brighter", "50% brighter"),  # inner punctuation stays
])
def test_normalize_intent(raw: str, norm: str) -> None:
    assert normalize_intent(raw) == norm


def test_normalize_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        normalize_intent(None)  # type: ignore[arg-type]


def test_catalogue_has_at_least_40_paper_style_names() -> None:
    c = load_tool_contracts()
    assert len(c.filters) >= 40
    assert "faded_HighNoon" in c.filters
    raw = json.loads((DEFAULT_SCHEMAS_DIR / "tools" / "filters.json").read_text())
    names = [f["name"] for f in raw["filters"]]
    assert len(names) == len(set(names))


def test_paper_example_is_valid() -> None:
    c = load_tool_contracts()
    assert c.errors("adjust", GOLDEN_ADJUST) == []
    assert c.errors("filter", {"name": "faded_HighNoon", "intensity": 40}) == []
    sel = {"red": {"saturation": 20, "luminance": 10}, "green": {"saturation": -20, "luminance": 0}}
    assert c.errors("selective_adjust", sel) == []
    assert all(c.valid(t, None) for t in ("adjust", "selective_adjust", "filter"))


@pytest.mark.parametrize(("tool", "value", "needle"), [
    ("adjust", {**GOLDEN_ADJUST, "exposure": 101}, "exposure"),
    ("adjust", {**GOLDEN_ADJUST, "bloom": -1}, "bloom"),
    ("adjust", {k: v for k, v in GOLDEN_ADJUST.items() if k != "tint"}, "tint"),
    ("adjust", {**GOLDEN_ADJUST, "extra": 1}, "extra"),
    ("adjust", {**GOLDEN_ADJUST, "hue": 1.5}, "hue"),
    ("adjust", {**GOLDEN_ADJUST, "hue": True}, "hue"),
    ("selective_adjust", {"purple": {"saturation": 1, "luminance": 1}}, "purple"),
    ("selective_adjust", {"red": {"saturation": 1}}, "luminance"),
    ("filter", {"name": "not_AFilter", "intensity": 10}, "unknown filter"),
    ("filter", {"name": "faded_HighNoon", "intensity": 101}, "intensity"),
    ("filter", [1, 2], "<root>"),
])
def test_contract_violations_are_named(tool: str, value: object, needle: str) -> None:
    errs = load_tool_contracts().errors(tool, value)
    assert errs and any(needle in e for e in errs), errs


def test_parse_counts_invalid_json_as_null() -> None:
    c = load_tool_contracts()
    assert c.parse("filter", '{"name": "faded_HighNoon", "intensity": 40}') == (
        {"name": "faded_HighNoon", "intensity": 40}, True)
    assert c.parse("filter", "{not json") == (None, False)
    assert c.parse("filter", '{"name": "nope", "intensity": 1}') == (None, False)
    assert c.parse("adjust", "null") == (None, True)


def test_vectors_follow_spec_order() -> None:
    v = tool_vector("adjust", GOLDEN_ADJUST)
    assert len(v) == 14 and v[ADJUST_KEYS.index("temperature")] == 30
    sel = tool_vector("selective_adjust", {"orange": {"saturation": 30, "luminance": 20}})
    assert sel == [0, 0, 30, 20] + [0] * 8  # colour-major, saturation before luminance, missing colour = zeros


def test_cosine_edge_cases() -> None:
    assert cosine([0, 0], [0, 0]) == 1.0
    assert cosine([0, 0], [1, 0]) == 0.0
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([1, 2], [2, 4]) == pytest.approx(1.0)
    assert cosine([1, 0], [-1, 0]) == pytest.approx(-1.0)


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1}) == '{"a":2,"b":1}'
    assert canonical_json(None) == "null"
