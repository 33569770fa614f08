"""Compact target encoding: a tool output as a short sequence of whole-value tokens.

The tool contracts fix the key order (``schemas/tools/*.json``), so the values alone say everything:

- ``adjust``: the 14 slider values in ``ADJUST_KEYS`` order, e.g. ``0 20 0 -10 0 20 20 0 15 0 0 0 0 5``;
- ``selective_adjust``: per colour in ``COLORS`` order either ``saturation luminance`` or ``_`` (colour absent);
- ``filter``: ``name intensity``, e.g. ``vivid_Film 60``;
- a tool that is not used: the single token ``null``.

Every legal value is one token (integers -100..100 — the contracts' step is 1 — and one token per catalogue filter),
so an adjust output is 14 decoder steps instead of ~30 BPE pieces of JSON, and the legal tokens at each step follow
from the position alone (``Grammar``), which lets the decoder mask with precomputed index sets.

The vocabulary is stored with each checkpoint (``target_vocab.json``), so a later catalogue change cannot shift the
ids of an old model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from flywheel.contracts import ADJUST_KEYS, COLORS, TOOLS

NULL = "null"
ABSENT = "_"
VALUE_MIN, VALUE_MAX = -100, 100
NONNEG_KEYS = frozenset({"bloom", "sharpen", "structure"})
VOCAB_FILE = "target_vocab.json"
#: Names of the target encodings a checkpoint may use (TrainConfig.target_encoding, the model card).
JSON_ENCODING = "json"
COMPACT_ENCODING = "compact"


class EncodingError(ValueError):
    """A token sequence that is not a complete, legal output of its tool."""


def value_tokens(lo: int = VALUE_MIN, hi: int = VALUE_MAX) -> list[str]:
    return [str(v) for v in range(lo, hi + 1)]


@dataclass(frozen=True)
class TargetVocab:
    """Target tokens (``null``, ``_``, every value, every filter name) and their ids after ``offset``."""

    tokens: tuple[str, ...]
    offset: int = 0

    @classmethod
    def build(cls, filter_names: list[str], offset: int = 0) -> TargetVocab:
        return cls(tuple([NULL, ABSENT, *value_tokens(), *filter_names]), offset)

    @classmethod
    def load(cls, model_dir: str | Path) -> TargetVocab:
        data = json.loads((Path(model_dir) / VOCAB_FILE).read_text())
        return cls(tuple(data["tokens"]), int(data["offset"]))

    def save(self, model_dir: str | Path) -> Path:
        p = Path(model_dir) / VOCAB_FILE
        p.write_text(json.dumps({"encoding": COMPACT_ENCODING, "offset": self.offset, "tokens": list(self.tokens)}))
        return p

    @cached_property
    def index(self) -> dict[str, int]:
        return {t: self.offset + i for i, t in enumerate(self.tokens)}

    @cached_property
    def filter_names(self) -> tuple[str, ...]:
        return self.tokens[2 + VALUE_MAX - VALUE_MIN + 1:]

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, tokens: list[str]) -> list[int]:
        try:
            return [self.index[t] for t in tokens]
        except KeyError as e:
            raise EncodingError(f"token {e.args[0]!r} is not in the target vocabulary") from None

    def texts(self, ids: list[int]) -> list[str]:
        out = []
        for i in ids:
            j = i - self.offset
            if not 0 <= j < len(self.tokens):
                raise EncodingError(f"id {i} is not a target token (offset {self.offset}, size {len(self.tokens)})")
            out.append(self.tokens[j])
        return out


def _value(v: Any, where: str, lo: int = VALUE_MIN) -> str:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= VALUE_MAX:
        raise EncodingError(f"{where}: {v!r} is not an integer in {lo}..{VALUE_MAX}")
    return str(v)


def encode(tool: str, value: dict[str, Any] | None) -> list[str]:
    """Output -> target tokens. Raises EncodingError for anything the contract forbids (so nothing is lost)."""
    if value is None:
        return [NULL]
    if not isinstance(value, dict):
        raise EncodingError(f"{tool}: expected an object or null, got {type(value).__name__}")
    if tool == "adjust":
        if set(value) != set(ADJUST_KEYS):
            raise EncodingError(f"adjust: keys must be exactly {list(ADJUST_KEYS)}, got {sorted(value)}")
        return [_value(value[k], f"adjust.{k}", 0 if k in NONNEG_KEYS else VALUE_MIN) for k in ADJUST_KEYS]
    if tool == "selective_adjust":
        unknown = set(value) - set(COLORS)
        if unknown or not value:
            raise EncodingError(f"selective_adjust: colours must be a non-empty subset of {list(COLORS)}")
        out: list[str] = []
        for c in COLORS:
            ch = value.get(c)
            if ch is None:
                out.append(ABSENT)
                continue
            if not isinstance(ch, dict) or set(ch) != {"saturation", "luminance"}:
                raise EncodingError(f"selective_adjust.{c}: needs exactly saturation and luminance")
            out += [_value(ch["saturation"], f"selective_adjust.{c}.saturation"),
                    _value(ch["luminance"], f"selective_adjust.{c}.luminance")]
        return out
    if tool == "filter":
        if set(value) != {"name", "intensity"} or not isinstance(value["name"], str):
            raise EncodingError("filter: needs exactly a string name and an intensity")
        return [value["name"], _value(value["intensity"], "filter.intensity", 0)]
    raise EncodingError(f"unknown tool {tool!r}; expected one of {TOOLS}")


def _int(tok: str, where: str, lo: int = VALUE_MIN) -> int:
    try:
        v = int(tok)
    except ValueError:
        raise EncodingError(f"{where}: expected a value, got {tok!r}") from None
    if not lo <= v <= VALUE_MAX:
        raise EncodingError(f"{where}: {v} is outside {lo}..{VALUE_MAX}")
    return v


def decode(tool: str, tokens: list[str], filter_names: tuple[str, ...] | frozenset[str] | None = None
           ) -> dict[str, Any] | None:
    """Target tokens -> output (keys in contract order). An incomplete or illegal sequence raises EncodingError."""
    if tokens == [NULL]:
        return None
    if not tokens:
        raise EncodingError(f"{tool}: empty sequence")
    if tool == "adjust":
        if len(tokens) != len(ADJUST_KEYS):
            raise EncodingError(f"adjust: expected {len(ADJUST_KEYS)} values, got {len(tokens)}")
        return {k: _int(t, f"adjust.{k}", 0 if k in NONNEG_KEYS else VALUE_MIN)
                for k, t in zip(ADJUST_KEYS, tokens, strict=True)}
    if tool == "selective_adjust":
        out: dict[str, Any] = {}
        rest = list(tokens)
        for c in COLORS:
            if not rest:
                raise EncodingError(f"selective_adjust: sequence ends before colour {c}")
            if rest[0] == ABSENT:
                rest.pop(0)
                continue
            if len(rest) < 2:
                raise EncodingError(f"selective_adjust.{c}: needs saturation and luminance")
            out[c] = {"saturation": _int(rest[0], f"selective_adjust.{c}.saturation"),
                      "luminance": _int(rest[1], f"selective_adjust.{c}.luminance")}
            rest = rest[2:]
        if rest:
            raise EncodingError(f"selective_adjust: {len(rest)} trailing tokens")
        if not out:
            raise EncodingError("selective_adjust: every colour absent (write null instead)")
        return out
    if tool == "filter":
        if len(tokens) != 2:
            raise EncodingError(f"filter: expected name and intensity, got {len(tokens)} tokens")
        if filter_names is not None and tokens[0] not in filter_names:
            raise EncodingError(f"filter: unknown filter {tokens[0]!r}")
        return {"name": tokens[0], "intensity": _int(tokens[1], "filter.intensity", 0)}
    raise EncodingError(f"unknown tool {tool!r}; expected one of {TOOLS}")


def to_text(tokens: list[str]) -> str:
    return " ".join(tokens)


# -- grammar: which target tokens are legal next ------------------------------------------------------------------

# A decoding state is (tool, position, colours present so far); ``None`` means complete.
State = tuple[str, int, int]


class Grammar:
    """The legal next tokens of each tool's encoding, as index lists into the model's vocabulary.

    States are tiny tuples; the allowed-id list of each state is computed once and cached, so a decoder pays one
    dictionary look-up per row and step.
    """

    def __init__(self, vocab: TargetVocab) -> None:
        self.vocab = vocab
        ix = vocab.index
        self.values = [ix[t] for t in value_tokens()]
        self.nonneg = [ix[t] for t in value_tokens(0)]
        self.filters = [ix[t] for t in vocab.filter_names]
        self.null, self.absent = ix[NULL], ix[ABSENT]
        self._allowed: dict[State, list[int]] = {}

    def start(self, tool: str) -> State:
        if tool not in TOOLS:
            raise EncodingError(f"unknown tool {tool!r}; expected one of {TOOLS}")
        return (tool, 0, 0)

    def allowed(self, state: State) -> list[int]:
        got = self._allowed.get(state)
        if got is None:
            got = self._allowed[state] = self._compute(state)
        return got

    def _compute(self, state: State) -> list[int]:
        tool, pos, present = state
        first = [self.null] if pos == 0 else []
        if tool == "adjust":
            return first + (self.nonneg if ADJUST_KEYS[pos] in NONNEG_KEYS else self.values)
        if tool == "filter":
            return first + self.filters if pos == 0 else self.nonneg
        # selective_adjust: pos counts tokens; present encodes (colour index, in-pair flag, any colour present)
        colour, in_pair, any_present = present >> 2, (present >> 1) & 1, present & 1
        if in_pair:
            return self.values
        last_colour_needs_value = colour == len(COLORS) - 1 and not any_present
        return first + ([] if last_colour_needs_value else [self.absent]) + self.values

    def advance(self, state: State, token: int) -> State | None:
        """The state after ``token``; ``None`` once the output is complete."""
        tool, pos, present = state
        if pos == 0 and token == self.null:
            return None
        if tool == "adjust":
            return None if pos + 1 == len(ADJUST_KEYS) else (tool, pos + 1, 0)
        if tool == "filter":
            return None if pos == 1 else (tool, 1, 0)
        colour, in_pair, any_present = present >> 2, (present >> 1) & 1, present & 1
        if in_pair or token == self.absent:
            colour += 1
            in_pair = 0
            any_present |= int(token != self.absent)
        else:
            in_pair = 1
        if colour == len(COLORS):
            return None
        return (tool, pos + 1, (colour << 2) | (in_pair << 1) | any_present)
