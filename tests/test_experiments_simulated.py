"""The decision rule on the simulator's own users (in process, no services): a small run of
`flywheel experiment sequential`. A 10 % worse student is rolled back, a 3 % better one ships, and A/A runs keep the
confidence sequence's error within alpha while the daily fixed interval, read every day, does not."""

from __future__ import annotations

import pytest

from flywheel_lab.experiments.sequential import run_study

pytestmark = pytest.mark.slow


def test_rule_on_simulated_days() -> None:
    rows = {r["truth"]: r for r in run_study(seed=7, intents=3000, fraction=0.3, pool_days=6, max_days=6,
                                             replicates=60, truths=(1.0, 1.03, 0.90))}
    assert rows[0.90]["roll_back_rate"] >= 0.85 and rows[0.90]["ship_rate"] == 0
    assert rows[1.03]["ship_rate"] >= 0.8 and rows[1.03]["roll_back_rate"] <= 0.05
    aa = rows[1.0]
    assert aa["roll_back_rate"] <= 0.05 and aa["sequential_excludes_1_rate"] <= 0.05
    assert aa["daily_fixed_excludes_1_rate"] > 2 * max(aa["sequential_excludes_1_rate"], 0.05)
