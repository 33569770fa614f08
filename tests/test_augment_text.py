"""Training-text augmentation: label-preserving, deterministic, and support weighting repeats examples."""

from __future__ import annotations

import random

from flywheel.contracts import TOOLS
from flywheel.training.augment_text import expand_rows, perturb
from flywheel.training.data import examples


def _row(intent: str, support: int) -> dict:
    return {"intent": intent, "support": support, "adjust": None, "selective_adjust": None,
            "filter": {"name": "vivid_Film", "intensity": 60}}


ROWS = [_row("golden hour but moody look", 1), _row("add soft black and white", 8), _row("teal, warm", 2)]


def test_copies_keep_the_ground_truth_and_change_the_text() -> None:
    out = expand_rows(ROWS, copies=3, support_repeat_max=1, seed=1)
    originals = {r["intent"] for r in ROWS}
    copies = [r for r in out if r["intent"] not in originals]
    assert copies, "no perturbed copy was made"
    by_source = {}
    for r in out:  # copies follow their source row
        if r["intent"] in originals:
            src = r
        by_source.setdefault(src["intent"], []).append(r)
    for src, group in by_source.items():
        truth = next(r for r in ROWS if r["intent"] == src)
        assert all({t: r[t] for t in TOOLS} == {t: truth[t] for t in TOOLS} for r in group)
        assert len({r["intent"] for r in group}) == len(group)  # no duplicate copies


def test_augmentation_is_deterministic_per_seed() -> None:
    a = expand_rows(ROWS * 5, copies=2, support_repeat_max=3, seed=7)
    assert a == expand_rows(ROWS * 5, copies=2, support_repeat_max=3, seed=7)
    assert a != expand_rows(ROWS * 5, copies=2, support_repeat_max=3, seed=8)


def test_support_weighting_repeats_by_support_with_a_cap() -> None:
    out = expand_rows(ROWS, copies=0, support_repeat_max=3, seed=0)
    counts = {r["intent"]: sum(o["intent"] == r["intent"] for o in out) for r in ROWS}
    assert counts == {"golden hour but moody look": 1, "add soft black and white": 3, "teal, warm": 2}
    assert len(examples(expand_rows(ROWS, copies=0, support_repeat_max=1, seed=0))) == 3 * len(ROWS)
    assert len(examples(expand_rows(ROWS, copies=0, support_repeat_max=3, seed=0))) == 3 * 6


def test_perturb_makes_small_edits() -> None:
    rng = random.Random(3)
    texts = {perturb("golden hour but moody look", rng, {"add"}, {"look"}) for _ in range(40)}
    assert len(texts) > 5
    assert all(set(t.replace(",", "").split()) <= {"golden", "hour", "but", "moody", "look"} or
               sum(w not in {"golden", "hour", "but", "moody", "look"} for w in t.replace(",", "").split()) <= 2
               for t in texts)
