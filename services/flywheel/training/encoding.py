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

import torch

from flywheel.contracts import ADJUST_KEYS, COLORS, TOOLS

NULL = "null"
ABSENT = "_"
VALUE_MIN, VALUE_MAX = -100, 100
NONNEG_KEYS = frozenset({"bloom", "sharpen", "structure"})
VOCAB_FILE = "target_vocab.json"
#: Names of the target encodings a checkpoint may use (TrainConfig.target_encoding, the model card).
JSON_ENCODING = "json"
COMPACT_ENCODING = "compact"
#: Selective-adjust channel fields and their one-letter slot tags.
CHANNEL = (("saturation", "s"), ("luminance", "l"))


class EncodingError(ValueError):
    """A token sequence that is not a complete, legal output of its tool."""


def slots(tool: str) -> list[tuple[str, int]]:
    """The value slots of a tool in encoding order, with each slot's lowest legal value (the highest is 100)."""
    if tool == "adjust":
        return [(k, 0 if k in NONNEG_KEYS else VALUE_MIN) for k in ADJUST_KEYS]
    if tool == "selective_adjust":
        return [(f"{c}.{tag}", VALUE_MIN) for c in COLORS for _, tag in CHANNEL]
    if tool == "filter":
        return [("intensity", 0)]
    raise EncodingError(f"unknown tool {tool!r}; expected one of {TOOLS}")


def slot_tokens(slot: str, lo: int) -> list[str]:
    return [f"{slot}={v}" for v in range(lo, VALUE_MAX + 1)]


def absent_token(colour: str) -> str:
    return f"{colour}={ABSENT}"


@dataclass(frozen=True)
class TargetVocab:
    """Target tokens and their model ids after ``offset``: ``null``; per value slot one token per legal value
    (``exposure=-100`` .. ``exposure=100``, ``red.s=5``, ``intensity=60``); per colour ``red=_`` (absent); one token
    per catalogue filter name. A value token names its slot, so the decoder's input says which slot comes next
    (T5 has no absolute positions; with bare shared value tokens a tiny model could not tell the sliders apart)."""

    tokens: tuple[str, ...]
    offset: int = 0

    @classmethod
    def build(cls, filter_names: list[str], offset: int = 0) -> TargetVocab:
        toks = [NULL, *(absent_token(c) for c in COLORS)]
        for tool in TOOLS:
            for slot, lo in slots(tool):
                toks += slot_tokens(slot, lo)
        return cls(tuple(toks + list(filter_names)), offset)

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
        return tuple(t for t in self.tokens if "=" not in t and t != NULL)

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


def _value(v: Any, slot: str, lo: int) -> str:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= VALUE_MAX:
        raise EncodingError(f"{slot}: {v!r} is not an integer in {lo}..{VALUE_MAX}")
    return f"{slot}={v}"


def encode(tool: str, value: dict[str, Any] | None) -> list[str]:
    """Output -> target tokens. Raises EncodingError for anything the contract forbids (so nothing is lost)."""
    if value is None:
        return [NULL]
    if not isinstance(value, dict):
        raise EncodingError(f"{tool}: expected an object or null, got {type(value).__name__}")
    if tool == "adjust":
        if set(value) != set(ADJUST_KEYS):
            raise EncodingError(f"adjust: keys must be exactly {list(ADJUST_KEYS)}, got {sorted(value)}")
        return [_value(value[k], k, lo) for k, lo in slots(tool)]
    if tool == "selective_adjust":
        if set(value) - set(COLORS) or not value:
            raise EncodingError(f"selective_adjust: colours must be a non-empty subset of {list(COLORS)}")
        out: list[str] = []
        for c in COLORS:
            ch = value.get(c)
            if ch is None:
                out.append(absent_token(c))
                continue
            if not isinstance(ch, dict) or set(ch) != {f for f, _ in CHANNEL}:
                raise EncodingError(f"selective_adjust.{c}: needs exactly saturation and luminance")
            out += [_value(ch[f], f"{c}.{tag}", VALUE_MIN) for f, tag in CHANNEL]
        return out
    if tool == "filter":
        if set(value) != {"name", "intensity"} or not isinstance(value["name"], str):
            raise EncodingError("filter: needs exactly a string name and an intensity")
        return [value["name"], _value(value["intensity"], "intensity", 0)]
    raise EncodingError(f"unknown tool {tool!r}; expected one of {TOOLS}")


def _int(tok: str, slot: str, lo: int) -> int:
    name, _, raw = tok.partition("=")
    if name != slot:
        raise EncodingError(f"expected a {slot} value, got {tok!r}")
    try:
        v = int(raw)
    except ValueError:
        raise EncodingError(f"{slot}: expected a value, got {tok!r}") from None
    if not lo <= v <= VALUE_MAX:
        raise EncodingError(f"{slot}: {v} is outside {lo}..{VALUE_MAX}")
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
        return {k: _int(t, k, lo) for (k, lo), t in zip(slots(tool), tokens, strict=True)}
    if tool == "selective_adjust":
        out: dict[str, Any] = {}
        rest = list(tokens)
        for c in COLORS:
            if not rest:
                raise EncodingError(f"selective_adjust: sequence ends before colour {c}")
            if rest[0] == absent_token(c):
                rest.pop(0)
                continue
            if len(rest) < 2:
                raise EncodingError(f"selective_adjust.{c}: needs saturation and luminance")
            out[c] = {f: _int(t, f"{c}.{tag}", VALUE_MIN) for (f, tag), t in zip(CHANNEL, rest, strict=False)}
            rest = rest[2:]
        if rest:
            raise EncodingError(f"selective_adjust: {len(rest)} trailing tokens")
        if not out:
            raise EncodingError("selective_adjust: every colour absent (write null instead)")
        return out
    if tool == "filter":
        if len(tokens) != 2:
            raise EncodingError(f"filter: expected name and intensity, got {len(tokens)} tokens")
        if "=" in tokens[0] or tokens[0] == NULL or (filter_names is not None and tokens[0] not in filter_names):
            raise EncodingError(f"filter: unknown filter {tokens[0]!r}")
        return {"name": tokens[0], "intensity": _int(tokens[1], "intensity", 0)}
    raise EncodingError(f"unknown tool {tool!r}; expected one of {TOOLS}")


def to_text(tokens: list[str]) -> str:
    return " ".join(tokens)


# -- grammar: which target tokens are legal next ------------------------------------------------------------------

# A decoding state is (tool, position, flags); ``None`` means complete.
State = tuple[str, int, int]
#: Token classes: how a token moves the grammar (every value / filter name of a state moves it the same way).
NULL_CLASS, ABSENT_CLASS, VALUE_CLASS = 0, 1, 2


class Grammar:
    """The legal next tokens of each tool's encoding, as model-id lists.

    States are tiny tuples; the allowed-id list of each state is computed once and cached. For selective_adjust the
    flags pack (colour index, in-pair, any colour present) so that an all-absent output cannot be produced.
    """

    def __init__(self, vocab: TargetVocab) -> None:
        self.vocab = vocab
        ix = vocab.index
        self.slot_ids = {slot: [ix[t] for t in slot_tokens(slot, lo)] for tool in TOOLS for slot, lo in slots(tool)}
        self.filters = [ix[t] for t in vocab.filter_names]
        self.null = ix[NULL]
        self.absent = {c: ix[absent_token(c)] for c in COLORS}
        self._absent_ids = frozenset(self.absent.values())
        self._allowed: dict[State, list[int]] = {}

    def token_class(self, token: int) -> int:
        return NULL_CLASS if token == self.null else ABSENT_CLASS if token in self._absent_ids else VALUE_CLASS

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
        tool, pos, flags = state
        first = [self.null] if pos == 0 else []
        if tool == "adjust":
            return first + self.slot_ids[ADJUST_KEYS[pos]]
        if tool == "filter":
            return first + self.filters if pos == 0 else self.slot_ids["intensity"]
        colour, in_pair, any_present = flags >> 2, (flags >> 1) & 1, flags & 1
        c = COLORS[colour]
        if in_pair:
            return self.slot_ids[f"{c}.l"]
        must_be_present = colour == len(COLORS) - 1 and not any_present
        return first + ([] if must_be_present else [self.absent[c]]) + self.slot_ids[f"{c}.s"]

    def advance(self, state: State, token: int) -> State | None:
        """The state after ``token`` (assumed allowed); ``None`` once the output is complete."""
        tool, pos, flags = state
        if token == self.null:
            return None
        if tool == "adjust":
            return None if pos + 1 == len(ADJUST_KEYS) else (tool, pos + 1, 0)
        if tool == "filter":
            return None if pos == 1 else (tool, 1, 0)
        colour, in_pair, any_present = flags >> 2, (flags >> 1) & 1, flags & 1
        if in_pair or token in self._absent_ids:
            colour, in_pair = colour + 1, 0
            any_present |= int(token not in self._absent_ids)
        else:
            in_pair = 1
        if colour == len(COLORS):
            return None
        return (tool, pos + 1, (colour << 2) | (in_pair << 1) | any_present)


class GrammarTables:
    """Every reachable grammar state with its allowed target indices and a transition table
    ``next[state, token class]``; the last row is the absorbing 'complete' state. Shared by the fast decoder
    (flywheel.inference.decoder) and the grammar-restricted training loss (flywheel.training.grammar_loss)."""

    def __init__(self, grammar: Grammar, tools: tuple[str, ...]) -> None:
        v, off = len(grammar.vocab), grammar.vocab.offset
        states: dict[State, int] = {}
        order: list[State] = []
        todo = [grammar.start(t) for t in tools]
        while todo:
            s = todo.pop()
            if s in states:
                continue
            states[s] = len(order)
            order.append(s)
            todo += [n for n in (grammar.advance(s, tok) for tok in self._classes(grammar, s).values()) if n]
        n = len(order)
        self.allowed = [torch.tensor(grammar.allowed(s)) - off for s in order]
        self.next = torch.full((n + 1, 3), n, dtype=torch.long)
        for i, s in enumerate(order):
            for cls, tok in self._classes(grammar, s).items():
                nxt = grammar.advance(s, tok)
                self.next[i, cls] = n if nxt is None else states[nxt]
        self.done = n
        self.start = {t: states[grammar.start(t)] for t in tools}
        self.token_class = torch.tensor([grammar.token_class(off + j) for j in range(v)], dtype=torch.long)

    @staticmethod
    def _classes(grammar: Grammar, s: State) -> dict[int, int]:
        """One representative allowed token per token class."""
        out: dict[int, int] = {}
        for tok in grammar.allowed(s):
            out.setdefault(grammar.token_class(tok), tok)
        return out
