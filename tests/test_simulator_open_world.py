"""The open-vocabulary world: held-out wordings and new wrappers mean their base, collection never emits them, A/B
days draw never-seen intents (new ones each day), and the default streams stay byte-identical."""

from __future__ import annotations

import hashlib
import json
import random
import re

import pytest

from flywheel.contracts import normalize_intent
from flywheel_lab.simulator import heldout
from flywheel_lab.simulator.novel import PER_BASE_PER_PERIOD, period_pool
from flywheel_lab.simulator.plan import make_plan
from flywheel_lab.simulator.run import generate_events, plan_period
from flywheel_lab.simulator.vocab import (
    CORE_FORMS,
    HEADS,
    HELD_OUT_HEADS,
    HELD_OUT_MODIFIERS,
    MODIFIERS,
    NEW_TEMPLATES,
    TEMPLATES,
)
from flywheel_lab.simulator.world import build_world

SEED, BASES, INTENTS = 11, 200, 600
# Words as the n-gram student reads them (runs of letters or digits, and "&"), so "never seen" means unseen by it.
WORD = re.compile(r"[^\W_]+|&")


def _words(text: str) -> set[str]:
    return set(WORD.findall(normalize_intent(text.replace("{x}", " ").replace("{m}", " ").replace("{h}", " "))))


def _lexicon() -> set[str]:
    out: set[str] = set()
    for c in (*HEADS, *MODIFIERS):
        for s in c.synonyms:
            out |= _words(s)
    for t in (*TEMPLATES, *CORE_FORMS):
        out |= _words(t)
    return out


def _typo_words() -> set[str]:
    """Every word a one-letter typo of the world's (simulator/world.py `_typo`: two neighbours swapped, a letter
    dropped or doubled, never the first or last) can make of a collected token, "blacks," included."""
    tokens: set[str] = set()
    for c in (*HEADS, *MODIFIERS):
        for s in c.synonyms:
            tokens |= set(s.split())
    for t in (*TEMPLATES, *CORE_FORMS):
        tokens |= set(t.replace("{x}", " ").replace("{m}", " ").replace("{h}", " ").split())
    out: set[str] = set()
    for t in tokens | {f"{t}," for t in tokens}:
        for i in range(1, len(t) - 1) if len(t) >= 4 else ():
            for e in (t[:i] + t[i + 1] + t[i] + t[i + 2:], t[:i] + t[i + 1:], t[:i] + t[i] + t[i:]):
                out |= _words(e)
    return out


def _heldout_words() -> set[str]:
    return {w for d in (HELD_OUT_HEADS, HELD_OUT_MODIFIERS) for ws in d.values() for s in ws for w in _words(s)}


def test_heldout_wordings_are_unseen_words_and_unambiguous():
    assert set(HELD_OUT_HEADS) == {c.key for c in HEADS} and len(HELD_OUT_HEADS) == 45
    assert set(HELD_OUT_MODIFIERS) == {c.key for c in MODIFIERS} and len(HELD_OUT_MODIFIERS) == 20
    lexicon = _lexicon() | _typo_words()
    owner: dict[str, str] = {}
    for kind, table in (("head", HELD_OUT_HEADS), ("modifier", HELD_OUT_MODIFIERS)):
        for key, wordings in table.items():
            assert 2 <= len(wordings) <= 4, key
            for s in wordings:
                assert s == normalize_intent(s), s
                for w in _words(s):
                    assert w not in lexicon, (key, s, w)  # the collected traffic never has this word
                    assert owner.setdefault(w, f"{kind}:{key}") == f"{kind}:{key}", (key, s, w, owner[w])
    assert 10 <= len(NEW_TEMPLATES) <= 20 and not set(NEW_TEMPLATES) & set(TEMPLATES)
    for t in NEW_TEMPLATES:
        assert t.count("{x}") == 1
        assert not _words(t) & (lexicon | set(owner)), t  # a new wrapper's words carry no meaning


def test_heldout_texts_and_new_wrappers_mean_their_base():
    world = build_world(SEED, BASES)
    rng = random.Random(3)
    for b in world.bases:
        key = heldout.base_key(b.concepts)
        for p in (0.0, 1.0):  # the modifier (if any) in collected or in held-out words
            text = heldout.wrap(heldout.heldout_core(key, rng, mod_heldout=p), rng)
            assert text not in world.lookup and world.base_of(text) is b, text
            typed = rng.choice((text.upper() + "!", f"  {text.title()}?", text.capitalize()))
            assert world.latent(typed) == (b.base_id, b.attrs, b.colors, b.ideal), typed
        # A collected core in a new wrapper: the base is one of its readings (a core the lexicon itself reads two
        # ways, "dark and dramatic", keeps the look-alone reading first).
        text = heldout.wrap(heldout.known_core(key, rng), rng, new_only=True)
        assert text not in world.lookup and key in heldout.readings(text), text
        assert world.base_of(text) is not None
    # The same look in every held-out wording and wrapper, exactly as its base.
    plain = next(b for b in world.bases if "+" not in b.concepts[0])
    head = heldout.base_key(plain.concepts)[1]
    for s in HELD_OUT_HEADS[head]:
        for tpl in (*TEMPLATES, *NEW_TEMPLATES):
            assert world.base_of(tpl.format(x=s)) is plain, tpl.format(x=s)
    # Text in the collected lexicon keeps its old meaning (the keyword reading), held-out words or not elsewhere.
    assert world.base_of("golden hour sunset dramatic") is None
    assert world.latent("zzz qqq")[0].startswith("unknown:")


def test_collection_never_emits_heldout_words_or_new_wrappers():
    held = _heldout_words()
    new_wrapper_words = {w for t in NEW_TEMPLATES for w in _words(t)}
    world = build_world(SEED)
    for b in world.bases:
        for v in b.variants:
            assert not _words(v) & (held | new_wrapper_words), (b.base_id, v)
    intents = {e["intent"] for e in generate_events(SEED, 300, 2, base_intents=BASES)
               if e["event_type"] == "intent_submitted"}
    assert not any(_words(i) & (held | new_wrapper_words) for i in intents)


def _fingerprint(seed: int, intents: int, days: float) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    for ev in generate_events(seed, intents, days):
        h.update(json.dumps(ev, sort_keys=True, default=str).encode())
        n += 1
    return n, h.hexdigest()


def test_default_streams_are_byte_identical_to_before_the_open_world():
    # Recorded before held-out wordings, never-seen intents and the paired referee existed.
    assert _fingerprint(7, 3000, 1) == (46583, "9f47ab192ad8e91feab6d4a92c555d42949bf120de4c67aa499c2efee22429e9")
    assert _fingerprint(0, 500, 30) == (7744, "f50f11084a8b7b82a36277313c4516ebb5757824d5e5285f858bd7eb1702a4b6")


def test_ab_days_draw_never_seen_intents_new_every_day():
    world = build_world(SEED, BASES)
    base_plan = make_plan(world, INTENTS, 1, 5)
    seen = {norm for norm, _, _ in base_plan.catalogue}
    assert plan_period(world, INTENTS, 1, 5, new_share=0.0).projects == base_plan.projects
    used: dict[int, set[str]] = {}
    for period in (1, 2, 3):
        plan = plan_period(world, INTENTS, 1, 5 + 1000 * period, new_share=0.3, period=period)
        again = plan_period(world, INTENTS, 1, 5 + 1000 * period, new_share=0.3, period=period)
        assert plan.projects == again.projects and plan.novel == again.novel  # deterministic per seed and day
        novel = [pp for pp in plan.projects if pp.novel]
        share = sum(len(pp.intents) for pp in novel) / plan.requests
        assert 0.25 < share < 0.35, share
        norms = {normalize_intent(i) for pp in novel for i in pp.intents}
        assert norms == {n for n, _ in plan.novel}
        assert not norms & seen  # never collected
        for n, i in plan.novel:
            assert world.base_of(n) is world.bases[i]  # a base of the world: a hidden ideal exists
        for pp in plan.projects:
            if not pp.novel:
                assert {normalize_intent(i) for i in pp.intents} <= seen
        kinds = {"variant": sum(n in world.lookup for n in norms),
                 "new words": sum(bool(_words(n) & _heldout_words()) for n in norms),
                 "new wrapper only": sum(n not in world.lookup and not _words(n) & _heldout_words() for n in norms)}
        assert all(k > 0.1 * len(norms) for k in kinds.values()), kinds
        used[period] = norms
    assert not used[1] & used[2] and not used[1] & used[3] and not used[2] & used[3]  # new ones each day
    pools = [period_pool(world, 0, frozenset(seen), p) for p in (1, 2)]
    assert len(pools[0]) == PER_BASE_PER_PERIOD and not set(pools[0]) & set(pools[1])
    with pytest.raises(ValueError, match="0..1"):
        plan_period(world, INTENTS, 1, 5, new_share=1.5)
    with pytest.raises(ValueError, match="period"):
        period_pool(world, 0, frozenset(seen), 0)
