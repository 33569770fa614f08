"""The simulator's hidden truth for the online metric: per-arm expected completion matches what users did."""

from __future__ import annotations

import math

from flywheel.settings import Settings
from flywheel_lab.simulator.run import simulate


def test_truth_by_arm_matches_observed_completion(settings: Settings) -> None:
    s = simulate(settings, intents=400, days=5, seed=11, progress=False)
    truth = s.truth_by_arm["teacher"]
    assert truth["projects"] == s.projects
    observed = s.projects_exported / s.projects
    p = truth["true_rate"]
    assert 0.05 < p < 0.99
    assert abs(observed - p) < 4 * math.sqrt(p * (1 - p) / s.projects), (observed, p)
