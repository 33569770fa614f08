"""Against the known-answer simulator: the export-rate ground truth picks the teacher candidate closest to the latent
ideal (docs/domain.md#the-simulator; issue goal >= 95 % for intents with >= 5 exposures)."""

from __future__ import annotations

import pytest

from flywheel.datasets.groundtruth import run_groundtruth
from flywheel_lab.checks.truthcheck import truthcheck
from tests.support.events import clear_events, insert_event_dicts

SEED = 11


@pytest.mark.slow
def test_groundtruth_matches_the_hidden_truth(settings, engine, tmp_path):
    from flywheel_lab.simulator.plan import make_plan
    from flywheel_lab.simulator.run import generate_events, write_world_truth
    from flywheel_lab.simulator.world import build_world

    clear_events(engine)
    n_intents, days = 4000, 3.0
    counts = insert_event_dicts(engine, generate_events(SEED, n_intents, days))
    assert counts["responses"] > 10_000
    world = build_world(SEED)
    truth = write_world_truth(world, make_plan(world, n_intents, days, SEED).catalogue, tmp_path / "truth.jsonl")
    run = run_groundtruth(settings, engine=engine)
    res = truthcheck(settings, truth, run.run_id, min_exposures=5, engine=engine)
    print(f"truthcheck: {res.hits}/{res.n} = {res.rate:.3f} (near {res.near_rate:.3f}, null-ideal misses "
          f"{res.null_ideal_misses}); per tool {res.per_tool}; contested {res.contested}")
    assert res.missing_truth == 0
    assert res.n >= 500 and res.contested["n"] >= 100
    # Measured 0.895 strict / see README note: the ground-truth rule
    # (docs/domain.md#d7-fallback-when-nothing-was-exported) never picks null once a used candidate was exported, and
    # near-identical candidates swap on noise. The regression floor sits below the measurement, the goal above it.
    assert res.rate >= 0.85, res.misses
    assert res.near_rate >= 0.90, res.misses
