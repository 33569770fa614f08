"""Held-out-wording test sets for the offline check: the canonical and the held-out wording of the same looks, with
the hidden ideal as reference, and their scoring by the product's evaluation.

The sets are built beside the world, in :mod:`flywheel_lab.simulator.wordings`, so that benches (which the referee's
layer contract keeps apart from the checks) read the same sets; this module is the checks' name for them.
"""

from __future__ import annotations

from flywheel_lab.simulator.wordings import SETS, WordingSets, heldout_ratio, score_wordings, wording_sets

__all__ = ["SETS", "WordingSets", "heldout_ratio", "score_wordings", "wording_sets"]
