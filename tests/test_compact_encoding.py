"""The compact target encoding: every contract value round trips, illegal sequences are clear errors, and the
grammar accepts exactly the encodings."""

from __future__ import annotations

import itertools

import pytest

from flywheel.contracts import ADJUST_KEYS, COLORS, TOOLS, load_tool_contracts
from flywheel.training.encoding import (
    ABSENT,
    NONNEG_KEYS,
    NULL,
    EncodingError,
    Grammar,
    TargetVocab,
    decode,
    encode,
)

CONTRACTS = load_tool_contracts()
FILTERS = tuple(CONTRACTS.filter_names)
VOCAB = TargetVocab.build(list(FILTERS), offset=37)


def roundtrip(tool: str, value):
    tokens = encode(tool, value)
    ids = VOCAB.ids(tokens)
    assert CONTRACTS.valid(tool, value)
    back = decode(tool, VOCAB.texts(ids), FILTERS)
    assert back == value and list((back or {}).keys()) == list((value or {}).keys())
    assert accepted(tool, ids), (tool, tokens)
    return tokens


def accepted(tool: str, ids: list[int]) -> bool:
    """The grammar allows every token of the sequence and is complete exactly at its end."""
    g = Grammar(VOCAB)
    state = g.start(tool)
    for i in ids:
        if state is None or i not in g.allowed(state):
            return False
        state = g.advance(state, i)
    return state is None


@pytest.mark.parametrize("tool", TOOLS)
def test_null_is_one_token(tool) -> None:
    assert roundtrip(tool, None) == [NULL]


@pytest.mark.parametrize("key", ADJUST_KEYS)
def test_every_legal_value_of_every_adjust_slider(key) -> None:
    lo = 0 if key in NONNEG_KEYS else -100
    for v in range(lo, 101):
        value = {k: (v if k == key else 0) for k in ADJUST_KEYS}
        tokens = roundtrip("adjust", value)
        assert len(tokens) == len(ADJUST_KEYS)
    bad = {k: (lo - 1 if k == key else 0) for k in ADJUST_KEYS}
    with pytest.raises(EncodingError):
        encode("adjust", bad)


@pytest.mark.parametrize("colour", COLORS)
def test_every_legal_value_of_every_selective_band(colour) -> None:
    for v in range(-100, 101):
        roundtrip("selective_adjust", {colour: {"saturation": v, "luminance": -v}})
        roundtrip("selective_adjust", {c: {"saturation": v if c == colour else 0, "luminance": 0} for c in COLORS})


def test_every_subset_of_selective_colours() -> None:
    for n in range(1, len(COLORS) + 1):
        for subset in itertools.combinations(COLORS, n):
            value = {c: {"saturation": 5 * i, "luminance": -5 * i} for i, c in enumerate(subset)}
            tokens = roundtrip("selective_adjust", value)
            assert sum(t.endswith("=" + ABSENT) for t in tokens) == len(COLORS) - n


def test_every_filter_at_every_intensity() -> None:
    for name in FILTERS:
        for v in range(0, 101):
            assert roundtrip("filter", {"name": name, "intensity": v}) == [name, f"intensity={v}"]


def test_key_order_of_the_input_does_not_matter() -> None:
    value = {"intensity": 40, "name": FILTERS[0]}
    assert decode("filter", encode("filter", value)) == {"name": FILTERS[0], "intensity": 40}


@pytest.mark.parametrize(("tool", "value"), [
    ("adjust", {"exposure": 1}),  # missing keys
    ("adjust", {**{k: 0 for k in ADJUST_KEYS}, "exposure": 1.5}),
    ("adjust", {**{k: 0 for k in ADJUST_KEYS}, "exposure": True}),
    ("selective_adjust", {}),
    ("selective_adjust", {"purple": {"saturation": 0, "luminance": 0}}),
    ("selective_adjust", {"red": {"saturation": 0}}),
    ("filter", {"name": "x"}),
    ("filter", {"name": FILTERS[0], "intensity": -1}),
    ("filter", [1, 2]),
    ("crop", {"a": 1}),
])
def test_encode_rejects_what_the_contract_rejects(tool, value) -> None:
    with pytest.raises(EncodingError):
        encode(tool, value)


ADJ = [f"{k}=0" for k in ADJUST_KEYS]
SEL = [f"{c}.{t}=5" for c in COLORS for t in "sl"]


@pytest.mark.parametrize(("tool", "tokens"), [
    ("adjust", []),
    ("adjust", ADJ[:13]),
    ("adjust", ADJ + ["linearOffset=0"]),
    ("adjust", ADJ[:10] + ["bloom=-5"] + ADJ[11:]),  # bloom is 0..100
    ("adjust", ADJ[1:] + ADJ[:1]),  # slots out of order
    ("adjust", ADJ[:13] + [FILTERS[0]]),
    ("selective_adjust", [f"{c}=_" for c in COLORS]),
    ("selective_adjust", SEL[:11]),
    ("selective_adjust", SEL + ["blue.l=5"]),
    ("selective_adjust", ["red.s=101", "red.l=0"] + [f"{c}=_" for c in COLORS[1:]]),
    ("selective_adjust", ["red.l=0", "red.s=0"] + [f"{c}=_" for c in COLORS[1:]]),
    ("filter", [FILTERS[0]]),
    ("filter", ["not_a_filter", "intensity=10"]),
    ("filter", [FILTERS[0], "intensity=-10"]),
    ("filter", ["intensity=10", FILTERS[0]]),
    ("filter", [FILTERS[0], "exposure=10"]),
    ("filter", [NULL, NULL]),
])
def test_invalid_sequences_are_clear_errors(tool, tokens) -> None:
    with pytest.raises(EncodingError):
        decode(tool, tokens, FILTERS)
    if all(t in VOCAB.index for t in tokens):
        assert not accepted(tool, VOCAB.ids(tokens))


def test_unknown_tokens_and_ids_are_errors() -> None:
    with pytest.raises(EncodingError, match="not in the target vocabulary"):
        VOCAB.ids(["golden"])
    with pytest.raises(EncodingError, match="not a target token"):
        VOCAB.texts([0])


def test_vocab_is_saved_with_the_checkpoint(tmp_path) -> None:
    VOCAB.save(tmp_path)
    assert TargetVocab.load(tmp_path) == VOCAB
    assert VOCAB.filter_names == FILTERS
