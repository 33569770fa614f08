"""flywheel_nightly end to end through Airflow (`airflow dags test`) against the real embedded Postgres."""

from __future__ import annotations

import pytest
from sqlalchemy import text

SEED = 5


@pytest.mark.slow
def test_nightly_dag_run(settings, engine, tmp_path):
    from flywheel.runtime.airflow import run_dag
    from flywheel_lab.simulator.run import generate_events
    from tests.support.events import insert_event_dicts

    counts = insert_event_dicts(engine, generate_events(SEED, 500, 2.0, base_intents=60))
    assert counts["responses"] > 500
    conf = {
        "test_size": 30, "seed": 1, "skip_augmentation": True, "max_steps": 8,
        "train_overrides": {"batch_size": 16, "warmup_steps": 2, "evaluate_test": False},
    }
    lines: list[str] = []
    res = run_dag(settings, "flywheel_nightly", conf, home=tmp_path / "airflow", timeout=900, echo=lines.append)
    log = "\n".join(lines)
    print(f"flywheel_nightly: rc={res.returncode} in {res.seconds:.1f}s; states {res.task_states}")
    assert res.returncode == 0, log[-5000:]
    for t in ("run_groundtruth", "validate_groundtruth", "make_split", "validate_split", "augment", "plan_training",
              "train_local", "trained_model", "evaluate"):
        assert res.task_states.get(t) == "success", (t, res.task_states, log[-5000:])
    assert res.task_states.get("train_kubernetes") == "skipped", res.task_states  # launcher=local
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
        # After a promotion the model's reality-check batch is ready for the annotation app; otherwise none is made.
        assert res.task_states.get("reality_check") == ("success" if promoted else "skipped"), res.task_states
        tasks = conn.execute(text("SELECT count(*) FROM annotation_tasks t JOIN annotation_batches b USING (batch_id)"
                                  " WHERE b.model_id = :m"), {"m": model_id}).scalar()
        assert tasks == (min(15, 30) if promoted else 0)
        gates = dict(conn.execute(text("SELECT target_kind, bool_and(success) FROM validation_results "
                                       "GROUP BY target_kind")).all())
        assert gates == {"groundtruth": True, "split": True}


@pytest.mark.slow
def test_failed_gate_fails_the_run_with_its_report(settings, engine, tmp_path):
    """A ground-truth run that breaks its contract stops the night at the gate, with the GX report in the log."""
    from flywheel.runtime.airflow import run_dag

    with engine.begin() as conn:
        run_id = conn.execute(text("SELECT run_id FROM groundtruth_runs ORDER BY created_at DESC LIMIT 1")).scalar()
        if run_id is None:
            pytest.skip("needs the ground-truth run of test_nightly_dag_run")
        n = conn.execute(text(
            "UPDATE groundtruth_picks p SET filter = jsonb_set(filter, '{name}', '\"no_such_filter\"') "
            "FROM groundtruth_runs r WHERE r.run_id = :r AND p.lineage = r.lineage AND p.valid_from <= r.seq"
            " AND p.valid_to > r.seq AND p.kept AND p.filter IS NOT NULL"), {"r": run_id}).rowcount
        assert n > 0
    lines: list[str] = []
    res = run_dag(settings, "flywheel_nightly", {"groundtruth_run_id": run_id, "skip_augmentation": True},
                  home=tmp_path / "airflow", timeout=600, echo=lines.append)
    log = "\n".join(lines)
    assert res.returncode != 0
    assert res.task_states["run_groundtruth"] == "success"
    assert res.task_states["validate_groundtruth"] == "failed"
    assert all(res.task_states[t] == "upstream_failed" for t in ("make_split", "train_local", "promote")), \
        res.task_states
    assert f"GX validation of groundtruth {run_id}: FAILED" in log
    assert "no_such_filter" in log


@pytest.mark.slow
def test_ab_report_dag_run(settings, engine, tmp_path):
    """The daily A/B DAG over the simulated traffic (teacher only here: one arm, no ratio, no SRM)."""
    from pathlib import Path

    from flywheel.runtime.airflow import run_dag

    lines: list[str] = []
    res = run_dag(settings, "ab_report", home=tmp_path / "airflow", timeout=600, echo=lines.append)
    log = "\n".join(lines)
    assert res.returncode == 0 and res.task_states == {"ab_report": "success"}, log[-4000:]
    with engine.connect() as conn:
        rid, summary = conn.execute(text("SELECT report_id, summary FROM ab_reports")).one()
        started = conn.execute(text("SELECT started FROM ab_report_arms WHERE report_id = :r AND arm = 'teacher'"),
                               {"r": rid}).scalar()
        projects = conn.execute(text("SELECT count(DISTINCT project_id) FROM responses")).scalar()
    assert started == projects > 0
    assert Path(summary["paths"]["plot"]).exists()
    assert f"A/B report {rid}" in log
