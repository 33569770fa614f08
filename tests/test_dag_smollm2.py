"""The nightly DAG with launcher=local fine-tunes a pretrained student (SmolLM2-135M, LoRA, a few steps), evaluates
and promotes it in one DAG run; MLflow holds the training run and the registered model's `production` alias points
at it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SEED = 7


@pytest.mark.slow
@pytest.mark.timeout(1500)  # a pretrained model trained and scored on CPU, plus the whole DAG: ~6-10 min on 2 cores
def test_nightly_dag_trains_smollm2_lora_evaluates_and_promotes(settings, engine, tmp_path):
    from flywheel import tracking
    from flywheel.runtime.airflow import run_dag
    from flywheel.training.students.hf import SmolLM2Missing, smollm2_gguf
    from flywheel_lab.simulator.run import generate_events
    from tests.support.events import insert_event_dicts

    try:
        smollm2_gguf()
    except SmolLM2Missing as e:
        pytest.skip(f"SmolLM2 weights not installed (optional extra `smollm2`): {e}")
    s = settings.model_copy(update={"promotion_floor": 0.0, "mlflow_enabled": True,
                                    "mlflow_database": f"mlflow_{settings.pg_database}"[:60]})
    insert_event_dicts(engine, generate_events(SEED, 300, 2.0, base_intents=40))
    conf = {
        "test_size": 6, "seed": 1, "skip_augmentation": True, "backend": "causal", "base_model": "smollm2",
        "max_steps": 3, "launcher": "local",
        "train_overrides": {"lora": {"r": 4, "alpha": 8}, "batch_size": 4, "warmup_steps": 1, "lr": 1e-4,
                            "max_target_tokens": 48, "evaluate_test": False},
    }
    lines: list[str] = []
    try:
        res = run_dag(s, "flywheel_nightly", conf, home=tmp_path / "airflow", timeout=1500, echo=lines.append)
        log = "\n".join(lines)
        print(f"flywheel_nightly (smollm2 lora): rc={res.returncode} in {res.seconds:.1f}s; {res.task_states}")
        assert res.returncode == 0, log[-5000:]
        for t in ("plan_training", "choose_launcher", "train_local", "trained_model", "evaluate", "promote"):
            assert res.task_states.get(t) == "success", (t, res.task_states, log[-5000:])
        assert res.task_states.get("train_kubernetes") == "skipped"

        with engine.connect() as conn:
            model_id, status, cfg, path = conn.execute(text(
                "SELECT id, status, config, path FROM models")).one()
            assert conn.execute(text("SELECT count(*) FROM evaluations WHERE model_id = :m"),
                                {"m": model_id}).scalar() > 0
        assert status == "production"
        lineage = json.loads((Path(path) / "lineage.json").read_text())
        assert cfg["base_model"] == "smollm2" and cfg["lora"]["r"] == 4 and lineage["steps"] == 3

        run = tracking.find_run(s, model_id)
        assert run is not None and run.data.params["base_model"] == "smollm2"
        c = tracking.client(s)
        assert len(c.get_metric_history(run.info.run_id, "loss")) == 3
        assert "All.overall" in run.data.metrics  # logged by the evaluate step
        alias = c.get_model_version_by_alias(s.mlflow_registered_model, tracking.PRODUCTION_ALIAS)
        assert alias.tags[tracking.MODEL_ID_TAG] == model_id and alias.run_id == run.info.run_id
    finally:
        admin = create_engine(make_url(s.db_url()).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{s.mlflow_database}" WITH (FORCE)'))
        admin.dispose()
