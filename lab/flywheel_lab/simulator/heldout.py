"""Reading the open vocabulary: texts made of held-out wordings or new wrappers, mapped to the base they mean.

A real teacher LLM knows that "sunkissed" is golden hour and that "in tokyo" changes nothing; the simulator's world
must know it too, or it could not score a new wording. :func:`readings` parses a normalized text as
``template(core)`` where the template is one of :data:`~flywheel_lab.simulator.vocab.TEMPLATES` or
:data:`~flywheel_lab.simulator.vocab.NEW_TEMPLATES` and the core a look, or a modifier and a look in one of
:data:`~flywheel_lab.simulator.vocab.CORE_FORMS`, each in a known or a held-out wording. Only readings that use at
least one held-out wording or a new wrapper count: a text made only of the collected lexicon keeps its old meaning
(its family, or the keyword reading of unknown text), so every existing stream stays byte-identical.

:func:`heldout_core` and :func:`known_core` build such texts (the never-seen intents of A/B days and the held-out
wording test sets); the world checks every built text by reading it back.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from flywheel.contracts import normalize_intent
from flywheel_lab.simulator.vocab import (
    CORE_FORMS,
    HEADS,
    HELD_OUT_HEADS,
    HELD_OUT_MODIFIERS,
    MODIFIERS,
    NEW_TEMPLATES,
    TEMPLATES,
)

Key = tuple[str | None, str]  # (modifier key or None, head key): a base's concepts


@dataclass(frozen=True)
class _Lexicon:
    heads: dict[str, tuple[str, bool]]  # normalized wording -> (head key, held out)
    mods: dict[str, tuple[str, bool]]
    templates: tuple[tuple[str, str, bool], ...]  # (prefix, suffix, new wrapper)
    # A form's fixed text around the modifier slot, split so a core can be cut without trying every wording.
    forms: tuple[tuple[str, str, str, bool], ...]  # (before, between, after, modifier first)


@cache
def _lexicon() -> _Lexicon:
    heads = {normalize_intent(s): (c.key, False) for c in HEADS for s in c.synonyms}
    heads |= {normalize_intent(s): (k, True) for k, ws in HELD_OUT_HEADS.items() for s in ws}
    mods = {normalize_intent(s): (c.key, False) for c in MODIFIERS for s in c.synonyms}
    mods |= {normalize_intent(s): (k, True) for k, ws in HELD_OUT_MODIFIERS.items() for s in ws}
    templates = tuple((*t.split("{x}"), new) for new, group in ((False, TEMPLATES), (True, NEW_TEMPLATES))
                      for t in group)
    forms = []
    for f in CORE_FORMS:
        first = f.index("{m}") < f.index("{h}")
        a, b = ("{m}", "{h}") if first else ("{h}", "{m}")
        before, rest = f.split(a)
        between, after = rest.split(b)
        forms.append((before, between, after, first))
    return _Lexicon(heads, mods, templates, tuple(forms))  # type: ignore[arg-type]


def _core_readings(core: str) -> list[tuple[Key, bool]]:
    """(key, uses a held-out wording) for every way the core reads: a look alone first, then the forms in order."""
    lex = _lexicon()
    out: list[tuple[Key, bool]] = []
    if core in lex.heads:
        head, held = lex.heads[core]
        out.append(((None, head), held))
    for before, between, after, mod_first in lex.forms:
        if not (core.startswith(before) and core.endswith(after)) or len(core) <= len(before) + len(after):
            continue
        inner = core[len(before):len(core) - len(after)]
        # Every place the fixed text between the slots occurs is a possible cut ("dark and dramatic and ...").
        i = inner.find(between, 1)
        while i != -1:
            left, right = inner[:i], inner[i + len(between):]
            m_text, h_text = (left, right) if mod_first else (right, left)
            if m_text in lex.mods and h_text in lex.heads:
                (mod, m_held), (head, h_held) = lex.mods[m_text], lex.heads[h_text]
                out.append(((mod, head), m_held or h_held))
            i = inner.find(between, i + 1)
    return out


@lru_cache(maxsize=65536)
def readings(norm: str) -> tuple[Key, ...]:
    """The (modifier, look) keys a normalized text can mean through a held-out wording or a new wrapper, most
    literal first (the whole text as the core before shorter cores inside wrappers). Empty for anything else."""
    out: list[Key] = []
    for prefix, suffix, new in _lexicon().templates:
        if not (norm.startswith(prefix) and norm.endswith(suffix)) or len(norm) <= len(prefix) + len(suffix):
            continue
        for key, held in _core_readings(norm[len(prefix):len(norm) - len(suffix)]):
            if (held or new) and key not in out:
                out.append(key)
    return tuple(out)


def resolve(norm: str, index_by_key: dict[Key, int]) -> int | None:
    """The index of the base the text means (the first reading the world has), or None."""
    for key in readings(norm):
        i = index_by_key.get(key)
        if i is not None:
            return i
    return None


def heldout_core(key: Key, rng: random.Random, *, mod_heldout: float = .5) -> str:
    """A core in a held-out look wording; a modifier is held out with probability ``mod_heldout``."""
    mod, head = key
    h = rng.choice(HELD_OUT_HEADS[head])
    if mod is None:
        return h
    pool: Sequence[str] = (HELD_OUT_MODIFIERS[mod] if rng.random() < mod_heldout
                           else next(c for c in MODIFIERS if c.key == mod).synonyms)
    return rng.choice(CORE_FORMS).format(m=rng.choice(pool), h=h)


def known_core(key: Key, rng: random.Random) -> str:
    """A core in the collected lexicon's wording (for a new wrapper around it)."""
    mod, head = key
    h = rng.choice(next(c for c in HEADS if c.key == head).synonyms)
    if mod is None:
        return h
    m = rng.choice(next(c for c in MODIFIERS if c.key == mod).synonyms)
    return rng.choice(CORE_FORMS).format(m=m, h=h)


def wrap(core: str, rng: random.Random, *, new_only: bool = False) -> str:
    """The core inside a wrapper (any template, or only a new one), normalized."""
    tpl = rng.choice(NEW_TEMPLATES if new_only else TEMPLATES + NEW_TEMPLATES)
    return normalize_intent(tpl.format(x=core))


def base_key(concepts: tuple[str, ...]) -> Key:
    """A base's (modifier, look) from its concept key ("soft+golden_hour" or "golden_hour")."""
    mod, _, head = concepts[0].rpartition("+")
    return (mod or None, head)
