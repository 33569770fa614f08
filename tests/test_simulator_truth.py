"""The simulator's hidden truth for the online metric: per-arm expected completion matches what users did, and a
period with never-seen intents writes their truth and splits the referee's numbers into seen and new."""

from __future__ import annotations

import math

from flywheel.settings import Settings
from flywheel_lab.simulator.run import simulate
from flywheel_lab.simulator.truth import load_truth
from flywheel_lab.simulator.world import build_world


def test_truth_by_arm_matches_observed_completion(settings: Settings) -> None:
    s = simulate(settings, intents=400, days=5, seed=11, progress=False)
    truth = s.truth_by_arm["teacher"]
    assert truth["projects"] == s.projects
    observed = s.projects_exported / s.projects
    p = truth["true_rate"]
    assert 0.05 < p < 0.99
    assert abs(observed - p) < 4 * math.sqrt(p * (1 - p) / s.projects), (observed, p)
    # The teacher against its own counterfactual: the same projects, so only the users' draws differ.
    assert abs(truth["paired_ratio"] - 1) < 0.03 and s.new_requests == 0
    assert set(s.paired_by_arm["teacher"]) == {"all", "seen"}


def test_a_period_with_new_intents_writes_their_truth(settings: Settings) -> None:
    s = simulate(settings, intents=200, days=1, seed=1011, world_seed=11, progress=False, base_intents=120,
                 new_share=0.3, period=1)
    assert s.new_share == 0.3 and 0.2 < s.new_requests / s.requests < 0.4 and s.new_intents > 20
    truth = load_truth(s.truth_path)
    assert len(truth) == 200 + s.new_intents  # the catalogue, then the never-seen intents asked
    world = build_world(11, 120)
    novel = list(truth)[200:]
    for n in novel:
        b = world.base_of(n)
        assert b is not None and truth[n].base_id == b.base_id and truth[n].ideal == b.ideal
    paired = s.paired_by_arm["teacher"]
    assert paired["seen"]["n"] + paired["new"]["n"] == paired["all"]["n"] == s.projects
