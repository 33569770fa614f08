"""flywheel_nightly end to end through Airflow (`airflow dags test`) against the real embedded Postgres."""

from __future__ import annotations

import pytest
from sqlalchemy import text

SEED = 5


@pytest.mark.slow
def test_nightly_dag_run(settings, engine, tmp_path):
    from flywheel.datasets.testing import insert_event_dicts
    from flywheel.runtime.airflow import run_dag
    from flywheel.simulator.run import generate_events

    counts = insert_event_dicts(engine, generate_events(SEED, 500, 2.0, base_intents=60))
    assert counts["responses"] > 500
    conf = {
        "test_size": 30, "seed": 1, "skip_augmentation": True, "max_steps": 8,
        "train_overrides": {"batch_size": 16, "warmup_steps": 2, "max_target_tokens": 64, "evaluate_test": False,
                            "tiny": {"d_model": 64, "d_ff": 128, "num_heads": 2, "vocab_size": 400}},
    }
    lines: list[str] = []
    res = run_dag(settings, "flywheel_nightly", conf, home=tmp_path / "airflow", timeout=900, echo=lines.append)
    log = "\n".join(lines)
    print(f"flywheel_nightly: rc={res.returncode} in {res.seconds:.1f}s; states {res.task_states}")
    assert res.returncode == 0, log[-5000:]
    for t in ("run_groundtruth", "validate_groundtruth", "make_split", "validate_split", "augment", "train",
              "evaluate"):
        assert res.task_states.get(t) == "success", (t, res.task_states, log[-5000:])
    assert res.task_states.get("promote") in ("success", "skipped"), res.task_states
    with engine.connect() as conn:
        run_id = conn.execute(text("SELECT run_id FROM groundtruth_runs")).scalar_one()
        split_id, gt = conn.execute(text("SELECT split_id, groundtruth_run_id FROM splits")).one()
        assert gt == run_id
        model_id, model_split = conn.execute(text("SELECT id, split_id FROM models")).one()
        assert model_split == split_id
        assert conn.execute(text("SELECT count(*) FROM evaluations WHERE model_id = :m"), {"m": model_id}).scalar() > 0
        promoted, reason = conn.execute(text("SELECT promoted, reason FROM promotion_decisions WHERE model_id = :m"),
                                        {"m": model_id}).one()
        assert promoted == (res.task_states["promote"] == "success"), reason
        gates = dict(conn.execute(text("SELECT target_kind, bool_and(success) FROM validation_results "
                                       "GROUP BY target_kind")).all())
        assert gates == {"groundtruth": True, "split": True}
