"""Held-out-wording test sets: does a student understand a look it knows when it is said in words it never saw?

For a world and some of its bases, two reference sets with the hidden ideal as the answer, one row per base in each:

- ``canonical``: the base's canonical wording ("soft golden hour");
- ``heldout``: the same base in held-out words (flywheel_lab.simulator.vocab.HELD_OUT_HEADS and HELD_OUT_MODIFIERS:
  the look, and the modifier when the base has one), inside a collected or a new wrapper ("mellow sunkissed in
  tokyo"). Collection never emits these words, so no student trained on the collected traffic has seen them.

Rows have the shape the product's evaluation reads as references (``flywheel.evaluation.metrics.evaluate``):
``intent`` plus one value per tool (null = not used), and ``base_id`` for reading the results. They carry no
``support``, so the r_k subsets are skipped. Only the referee builds them from the hidden truth; the ratio of the two
sets' RQ1 overall (held-out over canonical) is the language-understanding figure of issue 28.

It lives beside the world (not in flywheel_lab.checks) so that the benches, which may not import the checks (the
referee's layer contract), can use it too; :mod:`flywheel_lab.checks.wordings` offers the same names to the checks.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from flywheel.contracts import TOOLS
from flywheel.contracts.intents import intent_words
from flywheel.evaluation.metrics import EvalReport, evaluate
from flywheel_lab.simulator import heldout
from flywheel_lab.simulator.world import BaseIntent, World

SETS = ("canonical", "heldout")
_TRIES = 50  # built texts per base before it is left out (a text must read back to its own base)


class WordingSets(NamedTuple):
    """The two reference sets (also unpacks as ``canonical, heldout``)."""

    canonical: list[dict[str, Any]]
    heldout: list[dict[str, Any]]

    def by_name(self) -> dict[str, list[dict[str, Any]]]:
        return {"canonical": self.canonical, "heldout": self.heldout}

    @property
    def intents(self) -> list[str]:
        """Every intent of both sets (what a student must predict)."""
        return [r["intent"] for r in self.canonical + self.heldout]


def _row(intent: str, b: BaseIntent) -> dict[str, Any]:
    return {"intent": intent, "base_id": b.base_id, **{t: b.ideal[t] for t in TOOLS}}


def _heldout_text(world: World, b: BaseIntent, rng: random.Random) -> str | None:
    key = heldout.base_key(b.concepts)
    for _ in range(_TRIES):
        text = heldout.wrap(heldout.heldout_core(key, rng, mod_heldout=1.0), rng)
        if world.base_of(text) is b and text not in world.lookup:
            return text
    return None


def wording_sets(*, world: World, base_ids: Iterable[str] | None = None, seed: int = 0) -> WordingSets:
    """The canonical and held-out rows of ``base_ids`` (default: every base of the world), in base order; a base
    whose held-out text cannot be built (none has been seen) is left out of both, so both sets cover the same bases."""
    wanted = None if base_ids is None else set(base_ids)
    unknown = set() if wanted is None else wanted - set(world.by_id)
    if unknown:
        raise ValueError(f"base ids not in the world (seed {world.seed}): {sorted(unknown)[:5]}")
    canonical, held = [], []
    for b in world.bases:
        if wanted is not None and b.base_id not in wanted:
            continue
        text = _heldout_text(world, b, random.Random(f"{seed}:wordings:{b.base_id}"))
        if text is None:
            continue
        canonical.append(_row(b.canonical, b))
        held.append(_row(text, b))
    return WordingSets(canonical=canonical, heldout=held)


def score_wordings(*, sets: WordingSets, predictions: list[dict[str, Any]]) -> dict[str, EvalReport]:
    """One ``EvalReport`` per set, from prediction rows (``intent`` + one value per tool, as a predictor's
    ``record()``); one list may answer both sets (rows of the other set count as ``extra``)."""
    return {name: evaluate(predictions, rows, subsets=(("All", None),)) for name, rows in sets.by_name().items()}


def heldout_ratio(reports: dict[str, EvalReport]) -> float | None:
    """RQ1 overall on held-out wordings over that on canonical wordings (the goal is >= 0.8)."""
    c = reports["canonical"].overall
    return reports["heldout"].overall / c if c else None


@dataclass(frozen=True)
class WordingFigures:
    """A student's RQ1 overall on both sets, and the held-out / canonical ratio on all looks and split by whether
    the flywheel has met the held-out words: ``seen`` looks are those whose held-out text has only words that some
    training intent had (new-intent traffic brought them: a teacher's answer to such an intent became ground
    truth), ``unseen`` looks have a word no training intent had (the language-understanding figure proper)."""

    canonical: float
    heldout: float
    ratio: float | None
    n_seen: int
    seen_ratio: float | None
    n_unseen: int
    unseen_ratio: float | None


def wording_figures(*, sets: WordingSets, predictions: list[dict[str, Any]],
                    train_intents: Iterable[str]) -> WordingFigures:
    """The figures of one student from its prediction rows (both sets' intents) and its training intents."""
    vocab = {w for t in train_intents for w in intent_words(t)}
    seen = {r["base_id"] for r in sets.heldout if not set(intent_words(r["intent"])) - vocab}

    def ratio(keep: bool | None) -> tuple[int, float | None]:
        part = WordingSets(*([r for r in rows if keep is None or (r["base_id"] in seen) == keep]
                             for rows in (sets.canonical, sets.heldout)))
        if not part.heldout:
            return 0, None
        return len(part.heldout), heldout_ratio(score_wordings(sets=part, predictions=predictions))

    reports = score_wordings(sets=sets, predictions=predictions)
    (n_seen, seen_ratio), (n_unseen, unseen_ratio) = ratio(True), ratio(False)
    return WordingFigures(canonical=reports["canonical"].overall, heldout=reports["heldout"].overall,
                          ratio=heldout_ratio(reports), n_seen=n_seen, seen_ratio=seen_ratio, n_unseen=n_unseen,
                          unseen_ratio=unseen_ratio)
