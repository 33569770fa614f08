"""Held-out-wording test sets: the same bases in canonical and in never-collected words, scored by the product's
offline evaluation."""

from __future__ import annotations

import re

import pytest

from flywheel.contracts import TOOLS, normalize_intent
from flywheel_lab.checks.wordings import heldout_ratio, score_wordings, wording_sets
from flywheel_lab.simulator.vocab import HELD_OUT_HEADS, HELD_OUT_MODIFIERS
from flywheel_lab.simulator.world import build_world

SEED, BASES = 11, 150


def _has_heldout(text: str, key: str) -> bool:
    mod, _, head = key.rpartition("+")
    words = " " + re.sub(r"[^\w&'-]+", " ", normalize_intent(text)) + " "  # "heatwave, murky" -> words
    ok = any(f" {w} " in words for w in HELD_OUT_HEADS[head])
    return ok and (not mod or any(f" {w} " in words for w in HELD_OUT_MODIFIERS[mod]))


def test_the_two_sets_cover_the_same_bases_with_the_hidden_ideal():
    world = build_world(SEED, BASES)
    sets = wording_sets(world=world, seed=1)
    assert len(sets.canonical) == len(sets.heldout) == BASES
    assert sets == wording_sets(world=world, seed=1) and sets != wording_sets(world=world, seed=2)
    for c, h in zip(sets.canonical, sets.heldout, strict=True):
        b = world.by_id[c["base_id"]]
        assert h["base_id"] == b.base_id and c["intent"] == b.canonical
        assert {t: c[t] for t in TOOLS} == {t: h[t] for t in TOOLS} == b.ideal
        assert h["intent"] not in world.lookup and world.base_of(h["intent"]) is b
        assert _has_heldout(h["intent"], b.concepts[0]), h["intent"]
    some = [b.base_id for b in world.bases[:10:3]]
    assert [r["base_id"] for r in wording_sets(world=world, base_ids=some).heldout] == some
    with pytest.raises(ValueError, match="not in the world"):
        wording_sets(world=world, base_ids=["b9999-nothing"])


def test_scoring_tells_a_reader_of_words_from_one_that_knows_the_looks():
    world = build_world(SEED, BASES)
    sets = wording_sets(world=world)
    perfect = [{"intent": r["intent"], **{t: r[t] for t in TOOLS}} for r in sets.canonical + sets.heldout]
    reports = score_wordings(sets=sets, predictions=perfect)
    assert reports["canonical"].overall == pytest.approx(1.0) and reports["heldout"].overall == pytest.approx(1.0)
    assert heldout_ratio(reports) == pytest.approx(1.0)
    # A "student" that knows every canonical wording but answers nothing for words it never saw.
    canon_only = [{"intent": r["intent"], **{t: r[t] for t in TOOLS}} for r in sets.canonical]
    reports = score_wordings(sets=sets, predictions=canon_only)
    assert reports["canonical"].overall == pytest.approx(1.0) and reports["heldout"].overall == 0.0
    assert reports["heldout"].missing == BASES and reports["canonical"].extra == 0
    assert heldout_ratio(reports) == 0.0
