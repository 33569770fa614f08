"""The n-gram slot student's model (``backend="ngram"``): a bag of words and character trigrams -> one
hidden layer -> a head per output slot, all slots in one forward pass. Its ``Student`` (build, save, load, warm start,
predict) is :mod:`flywheel.training.students.ngram`.

Why this shape (measured in training/README.md "Student design: the n-gram slot student"): the paraphrase families
of an intent swap synonyms, reorder words, wrap them in templates and add typos, and a look's answer is close to the
sum of what its words mean (a modifier shifts a head look). A bag of words is invariant to order and wrappers,
character trigrams survive typos, and the shared hidden layer learns from every training intent which words move
which sliders, so "sundown" is learnt from all the sunset-family intents it occurs in. The tiny seq2seq transformer
memorised the 2,169 training intents instead (RQ1 .52 against .76 here, at a tenth of the training CPU), and the
contracts fix every slot's position, so nothing has to be generated token by token: the outputs are

- per tool, a "used" logit (``null`` below 0);
- adjust: the 14 slider values (regression, in hundredths); selective adjust: per colour a "present" logit and its
  saturation / luminance (regression); filter: a logit per catalogue name and the intensity (regression).

Values are rounded to integers and clamped into the contract's ranges, so every output is legal by construction.
The feature list and the filter names are stored with the checkpoint (``ngram_student.json``): a later catalogue
change cannot shift an old model's heads, and a warm start appends the new split's unseen features as zero rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from flywheel.contracts import (
    ADJUST_KEYS,
    CHANNELS,
    COLORS,
    TOOLS,
    Slot,
    adjust_slots,
    get_slot,
    normalize_intent,
    selective_channels,
)

_WORD = re.compile(r"[^\W_]+|&", re.UNICODE)
SCALE = 100.0  # slider units per regression unit


def features(text: str, *, char_ngrams: int = 3, word_bigrams: bool = False) -> list[str]:
    """The feature strings of an intent: its words, optionally word bigrams, and the character n-grams of each word
    with boundary marks (``<sundown>`` -> ``<su``, ``sun``, ...), which a typo changes only partly."""
    words = _WORD.findall(normalize_intent(text))
    out = [f"w:{w}" for w in words]
    if word_bigrams:
        out += [f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    if char_ngrams:
        for w in words:
            p = f"<{w}>"
            out += [f"c:{p[i:i + char_ngrams]}" for i in range(max(1, len(p) - char_ngrams + 1))]
    return out


@dataclass
class Featurizer:
    """Feature string -> row of the embedding table; unknown features are skipped (they carry no learnt meaning)."""

    names: list[str]
    char_ngrams: int = 3
    word_bigrams: bool = False

    def __post_init__(self) -> None:
        self.index = {f: i for i, f in enumerate(self.names)}

    @classmethod
    def fit(cls, texts: Iterable[str], *, char_ngrams: int, word_bigrams: bool) -> Featurizer:
        seen: dict[str, None] = {}
        for t in texts:
            for f in features(t, char_ngrams=char_ngrams, word_bigrams=word_bigrams):
                seen.setdefault(f)
        return cls(list(seen), char_ngrams, word_bigrams)

    def extend(self, texts: Iterable[str]) -> int:
        """Append the features of ``texts`` not seen before (a warm start's new words); returns how many."""
        n0 = len(self.names)
        for t in texts:
            for f in features(t, char_ngrams=self.char_ngrams, word_bigrams=self.word_bigrams):
                if f not in self.index:
                    self.index[f] = len(self.names)
                    self.names.append(f)
        return len(self.names) - n0

    def ids(self, text: str) -> list[int]:
        feats = features(text, char_ngrams=self.char_ngrams, word_bigrams=self.word_bigrams)
        return list(dict.fromkeys(self.index[f] for f in feats if f in self.index))

    def bags(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return bag_batch([self.ids(t) for t in texts])


def bag_batch(rows: Sequence[list[int]]) -> dict[str, torch.Tensor]:
    """EmbeddingBag inputs for a batch of feature-id rows: flat ids, offsets, and 1/sqrt(n) weights (an
    L2-normalised bag)."""
    ids: list[int] = []
    offsets: list[int] = []
    weights: list[float] = []
    for row in rows:
        offsets.append(len(ids))
        ids += row
        if row:  # an intent with no known feature is an empty bag: the model answers from its biases alone
            weights += [1.0 / math.sqrt(len(row))] * len(row)
    return {"ids": torch.tensor(ids, dtype=torch.long), "offsets": torch.tensor(offsets, dtype=torch.long),
            "weights": torch.tensor(weights, dtype=torch.float32)}


class Heads:
    """Column layout of the output vector."""

    def __init__(self, filter_names: Sequence[str]) -> None:
        self.filters = list(filter_names)
        sizes = [("use", len(TOOLS)), ("adjust", len(ADJUST_KEYS)), ("sel", len(CHANNELS) * len(COLORS)),
                 ("present", len(COLORS)), ("filter", len(self.filters)), ("intensity", 1)]
        self.slices: dict[str, slice] = {}
        i = 0
        for name, n in sizes:
            self.slices[name] = slice(i, i + n)
            i += n
        self.size = i

    def split(self, out: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: out[:, s] for k, s in self.slices.items()}


class SlotNet(nn.Module):
    def __init__(self, n_features: int, hidden: int, n_out: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(max(1, n_features), hidden, mode="sum")
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_out)
        nn.init.normal_(self.embed.weight, std=0.1)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids, offsets, per_sample_weights=weights) + self.bias
        return self.out(self.drop(torch.relu(h)))

    def grow(self, n_features: int) -> None:
        """More feature rows, the new ones zero: an unseen word starts with no effect and is learnt from here."""
        old = self.embed.weight.data
        if n_features <= old.shape[0]:
            return
        emb = nn.EmbeddingBag(n_features, old.shape[1], mode="sum")
        emb.weight.data.zero_()
        emb.weight.data[:old.shape[0]] = old
        self.embed = emb


# -- targets and loss -------------------------------------------------------------------------------------------------
def encode_row(row: dict[str, Any], *, featurizer: Featurizer, heads: Heads) -> dict[str, Any]:
    """One split row as training targets (regression targets in hundredths)."""
    a, s, f = row.get("adjust"), row.get("selective_adjust"), row.get("filter")
    sel, present = [], []
    for c in COLORS:
        ch = (s or {}).get(c)
        present.append(1.0 if ch else 0.0)
        sel += [(ch or {}).get(k, 0) / SCALE for k in CHANNELS]
    fname = f["name"] if f else None
    if fname is not None and fname not in heads.filters:
        raise ValueError(f"filter {fname!r} of intent {row['intent']!r} is not in the model's catalogue")
    return {"input_ids": featurizer.ids(row["intent"]),
            "use": [float(row.get(t) is not None) for t in TOOLS],
            "adjust": [(a or {}).get(k, 0) / SCALE for k in ADJUST_KEYS], "sel": sel, "present": present,
            "filter": heads.filters.index(fname) if fname else -100,
            "intensity": (f or {}).get("intensity", 0) / SCALE}


def collate(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Encoded rows -> the feature bags and the targets of one batch."""
    out = bag_batch([b["input_ids"] for b in batch])
    for key in ("use", "adjust", "sel", "present", "intensity"):
        out[key] = torch.tensor([b[key] for b in batch], dtype=torch.float32)
    out["filter"] = torch.tensor([b["filter"] for b in batch], dtype=torch.long)
    return out


class SlotLoss:
    """Binary cross-entropy on "used" and "colour present", squared error on values (only where the reference uses
    the tool), cross-entropy on the filter name."""

    def __init__(self, heads: Heads) -> None:
        self.heads = heads

    def __call__(self, model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.of(model(batch["ids"], batch["offsets"], batch["weights"]), batch)

    def of(self, out: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss of a network's output vectors (another network with these heads: students.encoder_net)."""
        o = self.heads.split(out)
        f = nn.functional
        use = batch["use"]
        loss = f.binary_cross_entropy_with_logits(o["use"], use)
        loss = loss + (((o["adjust"] - batch["adjust"]) ** 2).sum(1) * use[:, 0]).mean()
        loss = loss + (((o["sel"] - batch["sel"]) ** 2).sum(1) * use[:, 1]).mean()
        pres = f.binary_cross_entropy_with_logits(o["present"], batch["present"], reduction="none").sum(1)
        loss = loss + 0.3 * (pres * use[:, 1]).mean()
        if bool((batch["filter"] >= 0).any()):
            loss = loss + f.cross_entropy(o["filter"], batch["filter"], ignore_index=-100)
        loss = loss + (((o["intensity"][:, 0] - batch["intensity"]) ** 2) * use[:, 2]).mean()
        return loss


# -- decoding ---------------------------------------------------------------------------------------------------------
def _value(x: float, slot: Slot) -> int:
    """A regression output as the slot's integer, clamped into the contract's range (docs/domain.md, tool contracts)."""
    return int(max(slot.lo, min(slot.hi, round(x * SCALE))))


def decode(heads: Heads, out: torch.Tensor) -> list[dict[str, Any]]:
    """Model outputs (one row per intent) -> tool values (None = not used); legal by construction."""
    o = {k: v.tolist() for k, v in heads.split(out).items()}
    adjust, channels, intensity = adjust_slots(), selective_channels(), get_slot("filter", "intensity")
    per_colour = len(channels)
    rows = []
    for i in range(out.shape[0]):
        use = o["use"][i]
        row: dict[str, Any] = {t: None for t in TOOLS}
        if use[0] > 0:
            row["adjust"] = {slot.key: _value(v, slot) for slot, v in zip(adjust, o["adjust"][i], strict=True)}
        if use[1] > 0:
            pres = o["present"][i]
            chosen = [j for j, p in enumerate(pres) if p > 0] or [max(range(len(pres)), key=pres.__getitem__)]
            sel = o["sel"][i]
            row["selective_adjust"] = {COLORS[j]: {ch.key: _value(sel[per_colour * j + n], ch)
                                                   for n, ch in enumerate(channels)} for j in chosen}
        if use[2] > 0 and heads.filters:
            scores = o["filter"][i]
            row["filter"] = {"name": heads.filters[max(range(len(scores)), key=scores.__getitem__)],
                             "intensity": _value(o["intensity"][i][0], intensity)}
        rows.append(row)
    return rows
