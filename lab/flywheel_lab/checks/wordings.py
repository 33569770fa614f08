"""Held-out-wording test sets for the offline check: the canonical and the held-out wording of the same looks, with
the hidden ideal as reference, and their scoring by the product's evaluation.

The sets are built beside the world, in :mod:`flywheel_lab.simulator.wordings`, so that benches (which the referee's
layer contract keeps apart from the checks) read the same sets; this module is the checks' name for them, and scores
a registered student on them (the demo does, for the student that serves each day).
"""

from __future__ import annotations

from pathlib import Path

from flywheel_lab.simulator.wordings import (
    SETS,
    WordingFigures,
    WordingSets,
    heldout_ratio,
    score_wordings,
    wording_figures,
    wording_sets,
)

__all__ = ["SETS", "WordingFigures", "WordingSets", "heldout_ratio", "score_wordings", "served_wordings",
           "wording_figures", "wording_sets"]


def served_wordings(*, model_dir: str | Path, split_dir: str | Path, sets: WordingSets) -> WordingFigures:
    """The wording figures of the checkpoint at ``model_dir``, whose training intents are those of the split at
    ``split_dir`` (its training rows: what the model saw, so which held-out words the flywheel has met)."""
    from flywheel.datasets.files import load_split
    from flywheel.inference.predictor import load_predictor

    split = load_split(split_dir)
    predictor = load_predictor(model_dir)
    predictions = [p.record() for p in predictor.predict_detailed(sets.intents)]
    return wording_figures(sets=sets, predictions=predictions, train_intents=(r["intent"] for r in split.train))
