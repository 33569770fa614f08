"""flywheel_nightly end to end through Airflow (`airflow dags test`) against the real embedded Postgres."""

from __future__ import annotations

import pytest
from sqlalchemy import text

SEED = 5


@pytest.fixture(scope="module")
def nightly_run(settings, engine, tmp_path_factory):
    """One flywheel_nightly run through `airflow dags test` on simulated events: (result, Airflow home, its log)."""
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
    home = tmp_path_factory.mktemp("nightly") / "airflow"
    res = run_dag(settings, "flywheel_nightly", conf, home=home, timeout=900, echo=lines.append)
    return res, home, "\n".join(lines)


@pytest.mark.slow
def test_nightly_dag_run(engine, nightly_run):
    res, _, log = nightly_run
    print(f"flywheel_nightly: rc={res.returncode} in {res.seconds:.1f}s; states {res.task_states}")
    assert res.returncode == 0, log[-5000:]
    for t in ("wait_for_ingest", "run_groundtruth", "validate_groundtruth", "make_split", "validate_split", "augment",
              "plan_training", "train_local", "trained_model", "evaluate"):
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
def test_every_task_of_the_run_left_its_record(engine, nightly_run):
    """analytics.dag_run_tasks: the DAG, run and task of every record, gates and the skipped augmentation included,
    the production model's evaluation inside promote too; the n-gram model's train record has no transformer
    settings."""
    from flywheel.training.config import EncoderConfig

    res, _, log = nightly_run
    assert res.returncode == 0, log[-3000:]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT task_id, stage, status, try_number, inputs FROM analytics.dag_run_tasks"
                                 " WHERE dag_id = 'flywheel_nightly' AND dag_run_id = :r"), {"r": res.run_id}).all()
    got = {(r.task_id, r.stage, r.status) for r in rows}
    promoted = res.task_states["promote"] == "success"
    expected = {("run_groundtruth", "groundtruth", "succeeded"), ("validate_groundtruth", "validate", "succeeded"),
                ("make_split", "split", "succeeded"), ("validate_split", "validate", "succeeded"),
                ("augment", "augment", "skipped"), ("plan_training", "plan", "succeeded"),
                ("train_local", "train", "succeeded"), ("evaluate", "evaluate", "succeeded"),
                ("promote", "promote", "succeeded")} | ({("reality_check", "reality_check", "succeeded")}
                                                        if promoted else set())
    assert expected <= got, got
    assert all(r.try_number == 1 for r in rows)
    (train,) = [r for r in rows if r.stage == "train"]
    assert train.inputs["config"]["backend"] == "encoder"
    assert set(train.inputs["config"]) <= set(EncoderConfig.model_fields), set(train.inputs["config"])


@pytest.mark.slow
def test_the_run_is_inspectable_in_the_ui_afterwards(settings, engine, nightly_run):
    """The demo's kind of run (`airflow dags test`), opened later in `flywheel airflow` on the same home: every task's
    log is served (no "Could not read served logs"), and promote's log and XCom hold its decision."""
    import json
    import urllib.parse
    import urllib.request

    from flywheel.runtime.airflow import Standalone, read_login
    from flywheel.runtime.proc import free_port

    res, home, log = nightly_run
    assert res.returncode == 0, log[-3000:]
    assert "promotion decision:" in log
    sa = Standalone(settings, port=free_port(), home=home)
    sa.start()
    try:
        assert sa.wait_ready(timeout=420), sa.log_file.read_text()[-3000:]
        user, password = read_login(home)
        req = urllib.request.Request(f"{sa.url}/auth/token", method="POST",
                                     data=json.dumps({"username": user, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(req, timeout=30))["access_token"]

        def get(path: str) -> dict:
            run = urllib.parse.quote(res.run_id, safe="")
            url = f"{sa.url}/api/v2/dags/flywheel_nightly/dagRuns/{run}/taskInstances/{path}"
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",
                                                       "Accept": "application/json"})
            return json.load(urllib.request.urlopen(req, timeout=60))

        for task, state in res.task_states.items():
            if state not in ("success", "failed"):
                continue
            text_ = json.dumps(get(f"{task}/logs/1"))
            assert "Could not read served logs" not in text_ and f"starting task_id={task}" in text_, task
        promote_log = json.dumps(get("promote/logs/1"))
        assert "promotion decision:" in promote_log and "margin" in promote_log
        decision = get("promote/xcomEntries/return_value")["value"]
        decision = json.loads(decision) if isinstance(decision, str) else decision
        with engine.connect() as conn:
            promoted, reason = conn.execute(text("SELECT promoted, reason FROM promotion_decisions")).one()
        assert decision["promoted"] == promoted and decision["reason"] == reason
        assert {"candidate_overall", "production_model_id", "production_overall", "margin", "floor"} <= set(decision)
    finally:
        sa.stop()


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
    # No experiment has a rule to look at here: decide branches to keep_testing and skips the other outcomes.
    assert res.returncode == 0 and res.task_states == {
        "ab_report": "success", "decide": "success", "keep_testing": "success", "ship": "skipped",
        "roll_back": "skipped"}, log[-4000:]
    with engine.connect() as conn:
        rid, summary = conn.execute(text("SELECT report_id, summary FROM ab_reports")).one()
        started = conn.execute(text("SELECT started FROM ab_report_arms WHERE report_id = :r AND arm = 'teacher'"),
                               {"r": rid}).scalar()
        projects = conn.execute(text("SELECT count(DISTINCT project_id) FROM responses")).scalar()
    assert started == projects > 0
    assert Path(summary["paths"]["plot"]).exists()
    assert f"A/B report {rid}" in log
