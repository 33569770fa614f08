"""Tool-output contracts, the filter catalogue, intent normalization, the vector/cosine rules
(docs/domain.md#vectors-and-cosine-similarity) and the slot facts read from the schemas
(docs/domain.md#where-slot-facts-come-from)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from flywheel.contracts import (
    ADJUST_KEYS,
    CHANNELS,
    COLORS,
    FILTER_KEYS,
    TOOLS,
    UNIPOLAR_ADJUST_KEYS,
    SchemaShapeError,
    adjust_slots,
    canonical_json,
    contract_slots,
    cosine,
    find_slot,
    key_order,
    load_tool_contracts,
    normalize_intent,
    ordered,
    selective_channels,
    slot_bounds,
    student,
    tool_vector,
)
from flywheel.contracts import tools as tools_module
from flywheel.contracts.slots import PACKAGED_SCHEMAS_DIR, read_slots
from flywheel.render.renderer import SPATIAL_KEYS
from flywheel.settings import DEFAULT_SCHEMAS_DIR
from flywheel.teacher.prompts import TOOL_DOCS, _ranges

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


# --- slot facts (docs/domain.md#where-slot-facts-come-from) --------------------------------------------------------

def _tool_schema(tool: str, schemas_dir: Path = DEFAULT_SCHEMAS_DIR) -> dict:
    return json.loads((schemas_dir / "tools" / f"{tool}.json").read_text())


@pytest.fixture
def schemas_copy(tmp_path: Path) -> Path:
    out = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMAS_DIR, out)
    return out


def _edit(schemas_dir: Path, tool: str, change: Callable[[dict], None]) -> None:
    path = schemas_dir / "tools" / f"{tool}.json"
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2))


def test_derived_names_equal_the_tuples_they_replaced() -> None:
    assert TOOLS == ("adjust", "selective_adjust", "filter")
    assert ADJUST_KEYS == ("exposure", "contrast", "brightness", "highlights", "shadows", "saturation", "vibrance",
                           "temperature", "tint", "hue", "bloom", "sharpen", "structure", "linearOffset")
    assert COLORS == ("red", "orange", "yellow", "green", "cyan", "blue")
    assert CHANNELS == ("saturation", "luminance")
    assert FILTER_KEYS == ("name", "intensity")
    assert UNIPOLAR_ADJUST_KEYS == ("bloom", "sharpen", "structure")
    assert tools_module.ADJUST_KEYS is ADJUST_KEYS  # still importable where it always was
    assert DEFAULT_SCHEMAS_DIR.resolve() == PACKAGED_SCHEMAS_DIR
    assert set(TOOLS) == {p.stem for p in (DEFAULT_SCHEMAS_DIR / "tools").glob("*.json")} - {"filters"}


def test_slots_carry_the_schema_bounds_and_order() -> None:
    adjust = _tool_schema("adjust")
    assert [(s.key, s.lo, s.hi) for s in adjust_slots()] == [
        (k, p["minimum"], p["maximum"]) for k, p in adjust["properties"].items()]
    assert [s.key for s in adjust_slots()] == adjust["x-vector-order"] == adjust["required"]
    assert {s.key for s in adjust_slots() if s.polarity == "unipolar"} == {
        k for k, p in adjust["properties"].items() if p["minimum"] >= 0}
    assert all(s.polarity == "bipolar" for s in adjust_slots() if s.key not in UNIPOLAR_ADJUST_KEYS)
    channel = _tool_schema("selective_adjust")["$defs"]["channel"]["properties"]
    assert [(s.key, s.lo, s.hi) for s in selective_channels()] == [
        (k, p["minimum"], p["maximum"]) for k, p in channel.items()]
    intensity = _tool_schema("filter")["properties"]["intensity"]
    assert slot_bounds("filter", "intensity") == (intensity["minimum"], intensity["maximum"])
    assert find_slot("filter", "name") is None and find_slot("adjust", "nope") is None
    assert find_slot("nope", "exposure") is None
    with pytest.raises(KeyError):
        slot_bounds("adjust", "nope")


def test_a_changed_schema_bound_changes_the_slot(schemas_copy: Path) -> None:
    def change(schema: dict) -> None:
        schema["properties"]["bloom"]["minimum"] = -100
        schema["properties"]["exposure"]["maximum"] = 50
    _edit(schemas_copy, "adjust", change)
    _edit(schemas_copy, "selective_adjust",
          lambda s: s["$defs"]["channel"]["properties"]["luminance"].update(minimum=-40))
    slots = load_tool_contracts(schemas_copy).slots
    assert slots == contract_slots(schemas_copy)
    assert slot_bounds("adjust", "exposure", schemas_dir=schemas_copy) == (-100, 50)
    assert find_slot("adjust", "bloom", schemas_dir=schemas_copy).polarity == "bipolar"  # type: ignore[union-attr]
    assert [s.key for s in slots.adjust if s.polarity == "unipolar"] == ["sharpen", "structure"]
    assert slot_bounds("selective_adjust", "luminance", schemas_dir=schemas_copy) == (-40, 100)
    assert slot_bounds("adjust", "bloom") == (0, 100)  # the packaged contract is untouched
    # The teacher prompt states whatever the slots say.
    assert _ranges(slots.adjust) == "-100..100, except exposure (-100..50); sharpen and structure (0..100)"


def test_a_reordered_schema_reorders_the_keys_and_a_contradiction_is_refused(schemas_copy: Path) -> None:
    def swap(schema: dict) -> None:
        props = schema["properties"]
        schema["properties"] = {"intensity": props["intensity"], "name": props["name"]}
    _edit(schemas_copy, "filter", swap)
    assert key_order("filter", schemas_dir=schemas_copy) == ("intensity", "name")
    assert list(ordered("filter", {"name": "x", "intensity": 1}, schemas_dir=schemas_copy) or {}) == [
        "intensity", "name"]

    def contradict(schema: dict) -> None:
        schema["x-vector-order"] = list(reversed(schema["x-vector-order"]))
    _edit(schemas_copy, "adjust", contradict)
    with pytest.raises(SchemaShapeError, match="x-vector-order"):
        read_slots(schemas_copy)  # uncached: contract_slots read this folder before the edit


def test_ordered_puts_contract_keys_first_and_keeps_the_rest() -> None:
    assert list(ordered("adjust", {"zz": 1, "bloom": 2, "exposure": 3, "aa": 4}) or {}) == [
        "exposure", "bloom", "zz", "aa"]
    sel = ordered("selective_adjust", {"zz": 1, "blue": {"luminance": 1, "x": 2, "saturation": 3}, "red": 5}) or {}
    assert list(sel) == ["red", "blue", "zz"] and list(sel["blue"]) == ["saturation", "luminance", "x"]
    assert list(ordered("filter", {"intensity": 2, "name": "n"}) or {}) == ["name", "intensity"]
    assert ordered("adjust", None) is None
    assert student.ordered is ordered  # the student's text format uses the one key order
    with pytest.raises(ValueError, match="unknown tool"):
        ordered("nope", {})


def test_the_teacher_prompt_text_is_generated_from_the_slots_unchanged() -> None:
    assert TOOL_DOCS == {
        "adjust": "Global tonal sliders. Output an object with exactly these integer keys: exposure, contrast, "
                  "brightness, highlights, shadows, saturation, vibrance, temperature, tint, hue, bloom, sharpen, "
                  "structure, linearOffset. Range -100..100, except bloom, sharpen and structure (0..100). 0 means "
                  "unchanged.",
        "selective_adjust": "Per-colour changes. Output an object keyed by red, orange, yellow, green, cyan, blue; "
                            "each value is {\"saturation\": int, \"luminance\": int} in -100..100.",
        "filter": "A preset look. Output {\"name\": <one name from the catalogue>, \"intensity\": 0..100}. "
                  "Catalogue: {filters}.",
    }


def test_the_renderers_spatial_sliders_are_unipolar() -> None:
    assert set(SPATIAL_KEYS) <= set(UNIPOLAR_ADJUST_KEYS)  # render() clamps them to 0..1
