"""The known-answer world: base intents in paraphrase families, Zipf popularity, and a latent ideal per base.

Everything is a pure function of the seed (and the number of base intents), so a teacher-server rebuilt with
``build_world(seed)`` knows exactly the same intents and answers as the simulator that produced the traffic.

* A **base intent** is a look ("golden hour") or a modifier + look ("soft golden hour") from
  :mod:`flywheel_lab.simulator.vocab`; its attributes are the sum of its parts plus a small seeded jitter, and its
  latent ideal per tool comes from :func:`flywheel_lab.simulator.latent.ideal_outputs`.
* Its **paraphrase family** is built from synonyms, word order, wrapper templates ("make it {x}") and typos. The app
  also varies case and punctuation, which do not change ``intent_norm``.
* **Held-out wordings** and new wrappers (:mod:`flywheel_lab.simulator.heldout`) mean their base too, although no
  family variant (so no collected intent) uses them.
* The **catalogue** of ``n_intents`` distinct ``intent_norm`` takes variants level by level (every family's first
  variant, then every family's second...), so a smaller catalogue is a prefix of a larger one.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from flywheel.contracts import TOOLS, load_tool_contracts, normalize_intent
from flywheel_lab.simulator import heldout, latent
from flywheel_lab.simulator.vocab import CORE_FORMS, HEADS, MODIFIERS, TEMPLATES, Concept

DEFAULT_BASE_INTENTS = 600
MAX_VARIANTS = 48  # per family; enough for ~9k+ unique intents over 600 families after collisions
FAMILY_ZIPF = 1.05
VARIANT_ZIPF = 1.2


@dataclass(frozen=True)
class BaseIntent:
    base_id: str
    canonical: str
    attrs: dict[str, float]
    colors: dict[str, tuple[float, float]]
    ideal: dict[str, Any]
    variants: tuple[str, ...]  # normalized, distinct, canonical first (only those this family owns)
    concepts: tuple[str, ...]


@dataclass
class World:
    seed: int
    bases: list[BaseIntent]
    lookup: dict[str, int]  # intent_norm -> index in bases
    filters: dict[str, list[str]] = field(repr=False)

    def base_of(self, intent: str) -> BaseIntent | None:
        """The base intent a text belongs to: its family, else what its held-out wordings or new wrapper mean
        (:mod:`flywheel_lab.simulator.heldout`); None for any other text."""
        norm = normalize_intent(intent)
        i = self.lookup.get(norm)
        if i is None:
            i = heldout.resolve(norm, self.index_by_key)
        return None if i is None else self.bases[i]

    @cached_property
    def index_by_key(self) -> dict[tuple[str | None, str], int]:
        """(modifier key or None, look key) -> index in bases."""
        return {heldout.base_key(b.concepts): i for i, b in enumerate(self.bases)}

    def latent(self, intent: str) -> tuple[str, dict[str, float], dict[str, tuple[float, float]], dict[str, Any]]:
        """(base_id, attrs, colors, ideal) for any text. Unknown text is read by its words (keyword attributes), so
        the teacher can still answer augmentation paraphrases sensibly; its base_id starts with 'unknown:'."""
        b = self.base_of(intent)
        if b is not None:
            return b.base_id, b.attrs, b.colors, b.ideal
        norm = normalize_intent(intent)
        attrs, colors, found = _keyword_attrs(norm)
        rng = random.Random(f"{self.seed}:unknown:{norm}")
        if not found:  # no known word: an arbitrary but stable look
            b = self.bases[rng.randrange(len(self.bases))]
            return f"unknown:{b.base_id}", b.attrs, b.colors, b.ideal
        return f"unknown:{norm}", attrs, colors, latent.ideal_outputs(attrs, colors, self.filters, rng)

    def catalogue(self, n_intents: int) -> list[tuple[str, int, int]]:
        """`n_intents` distinct intent_norm as (intent_norm, base index, variant level), level by level."""
        out: list[tuple[str, int, int]] = []
        capacity = sum(len(b.variants) for b in self.bases)
        if n_intents > capacity:
            raise ValueError(f"the world (seed {self.seed}, {len(self.bases)} base intents) has {capacity} distinct "
                             f"intents; asked for {n_intents}. Use more base intents.")
        level = 0
        while len(out) < n_intents:
            for i, b in enumerate(self.bases):
                if level < len(b.variants):
                    out.append((b.variants[level], i, level))
                    if len(out) == n_intents:
                        break
            level += 1
        return out

    @staticmethod
    def popularity(base_index: int, level: int) -> float:
        """Zipf over families (base order = popularity rank) times Zipf over a family's variants."""
        return (base_index + 1) ** -FAMILY_ZIPF * (level + 1) ** -VARIANT_ZIPF

    def family(self, intent: str) -> list[str]:
        b = self.base_of(intent)
        return list(b.variants) if b else []

    def paraphrases(self, intent: str, n: int, rng: random.Random) -> list[str]:
        """Up to n other members of the intent's family (for unknown text: members of the closest family)."""
        norm = normalize_intent(intent)
        b = self.base_of(norm)
        if b is None:
            attrs, _, _ = _keyword_attrs(norm)
            b = min(self.bases, key=lambda x: _attr_distance(attrs, x.attrs))
        pool = [v for v in b.variants if v != norm]
        return rng.sample(pool, min(n, len(pool)))

    @cached_property
    def by_id(self) -> dict[str, BaseIntent]:
        return {b.base_id: b for b in self.bases}


def _attr_distance(a: dict[str, float], b: dict[str, float]) -> float:
    return sum((a.get(k, 0) - b.get(k, 0)) ** 2 for k in set(a) | set(b))


def _combine(parts: Iterable[Concept]) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    attrs: dict[str, float] = {}
    colors: dict[str, tuple[float, float]] = {}
    for c in parts:
        for k, v in c.attrs.items():
            attrs[k] = attrs.get(k, 0.0) + v
        for col, (s, lum) in c.colors.items():
            s0, l0 = colors.get(col, (0.0, 0.0))
            colors[col] = (s0 + s, l0 + lum)
    lo = {"vintage": 0.0, "fade": 0.0, "mono": 0.0, "glow": 0.0, "crisp": 0.0}
    attrs = {k: max(lo.get(k, -1.0), min(1.0, v)) for k, v in attrs.items()}
    colors = {k: (max(-1.0, min(1.0, s)), max(-1.0, min(1.0, lum))) for k, (s, lum) in colors.items()}
    return attrs, colors


_KEYWORDS: list[tuple[str, Concept]] | None = None


def _keyword_attrs(norm: str) -> tuple[dict[str, float], dict[str, tuple[float, float]], bool]:
    global _KEYWORDS
    if _KEYWORDS is None:  # longest phrases first so "golden hour" wins over "golden"
        pairs = [(s.lower(), c) for c in (*HEADS, *MODIFIERS) for s in c.synonyms]
        _KEYWORDS = sorted(pairs, key=lambda p: -len(p[0]))
    text = f" {norm} "
    hit: list[Concept] = []
    for phrase, c in _KEYWORDS:
        if f" {phrase} " in text and c not in hit:
            hit.append(c)
            text = text.replace(f" {phrase} ", "  ")
    attrs, colors = _combine(hit)
    return attrs, colors, bool(hit)


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swap neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:  # drop a letter
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]  # double a letter


def _cores(mod: Concept | None, head: Concept) -> list[str]:
    if mod is None:
        return list(head.synonyms)
    return [form.format(m=m, h=h) for m in mod.synonyms for h in head.synonyms for form in CORE_FORMS]


def _variants(seed: int, key: str, mod: Concept | None, head: Concept) -> list[str]:
    rng = random.Random(f"{seed}:variants:{key}")
    cores = _cores(mod, head)
    canonical = cores[0]
    combos = [(c, t) for c in cores for t in TEMPLATES]
    picks = rng.sample(combos, min(len(combos), MAX_VARIANTS * 2))
    out = [canonical]
    for core, tpl in picks:
        text = tpl.format(x=core)
        if rng.random() < .15:  # typo in one word
            words = text.split(" ")
            j = rng.randrange(len(words))
            words[j] = _typo(words[j], rng)
            text = " ".join(words)
        out.append(text)
    seen: set[str] = set()
    norm = []
    for t in out:
        n = normalize_intent(t)
        if n and n not in seen:
            seen.add(n)
            norm.append(n)
    return norm[:MAX_VARIANTS]


def _all_keys() -> list[tuple[Concept | None, Concept]]:
    keys: list[tuple[Concept | None, Concept]] = [(None, h) for h in HEADS]
    keys += [(m, h) for h in HEADS for m in MODIFIERS]
    return keys


def build_world(seed: int, n_base_intents: int = DEFAULT_BASE_INTENTS, schemas_dir: Any = None) -> World:
    """The world for a seed. Heads alone come first in the popularity order more often (simple looks are asked for
    most), then modifier combinations; the order is a seeded shuffle biased that way."""
    keys = _all_keys()
    if not 1 <= n_base_intents <= len(keys):
        raise ValueError(f"n_base_intents must be in 1..{len(keys)}, got {n_base_intents}")
    rng = random.Random(f"{seed}:world")
    # Biased shuffle: heads get a head start in the popularity ranking.
    ranked = sorted(keys, key=lambda k: rng.random() + (.3 if k[0] else 0.0))
    chosen = ranked[:n_base_intents]
    filters = load_tool_contracts(schemas_dir).filters
    bases: list[BaseIntent] = []
    lookup: dict[str, int] = {}
    for mod, head in chosen:
        key = f"{mod.key}+{head.key}" if mod else head.key
        attrs, colors = _combine([head] + ([mod] if mod else []))
        brng = random.Random(f"{seed}:base:{key}")
        attrs = {k: max(-1.0, min(1.0, v + brng.gauss(0, .05))) if v else v for k, v in attrs.items()}
        ideal = latent.ideal_outputs(attrs, colors, filters, brng)
        idx = len(bases)
        owned = []
        for v in _variants(seed, key, mod, head):
            if v not in lookup:  # a collision stays with the more popular family
                lookup[v] = idx
                owned.append(v)
        canonical = owned[0] if owned else key
        bases.append(BaseIntent(base_id=f"b{idx:04d}-{key}", canonical=canonical, attrs=attrs, colors=colors,
                                ideal=ideal, variants=tuple(owned), concepts=(key,)))
    return World(seed=seed, bases=bases, lookup=lookup, filters=filters)


def tool_usage(world: World) -> dict[str, float]:
    """Share of base intents whose ideal uses each tool (for docs and sanity tests)."""
    n = len(world.bases)
    return {t: sum(b.ideal[t] is not None for b in world.bases) / n for t in TOOLS}
