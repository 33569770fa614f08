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


def test_figures_split_the_looks_by_whether_training_has_met_their_held_out_words():
    from flywheel_lab.checks.wordings import wording_figures

    world = build_world(SEED, BASES)
    sets = wording_sets(world=world)
    answer = {r["intent"]: {t: r[t] for t in TOOLS} for r in sets.canonical}
    # Training met the held-out words of the first 30 looks; the "student" answers those right, the others not at all.
    met = sets.heldout[:30]
    answer |= {r["intent"]: {t: r[t] for t in TOOLS} for r in met}
    preds = [{"intent": i, **a} for i, a in answer.items()]
    train = [r["intent"] for r in sets.canonical] + [r["intent"] for r in met]
    f = wording_figures(sets=sets, predictions=preds, train_intents=train)
    whole = score_wordings(sets=sets, predictions=preds)
    assert f.canonical == pytest.approx(1.0) and 0 < f.heldout == whole["heldout"].overall < 1
    assert f.ratio == pytest.approx(heldout_ratio(whole))
    # A look counts as met when every word of its held-out text is a training word, so some others may join it.
    assert f.n_seen >= 30 and f.n_seen + f.n_unseen == BASES
    assert f.seen_ratio is not None and f.seen_ratio > f.ratio and f.unseen_ratio == 0.0
    if f.n_seen == 30:
        assert f.seen_ratio == pytest.approx(1.0)
    nothing = wording_figures(sets=sets, predictions=preds, train_intents=[])
    assert nothing.n_seen == 0 and nothing.seen_ratio is None and nothing.n_unseen == BASES
