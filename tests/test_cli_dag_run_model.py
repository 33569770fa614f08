"""The demo learns which model its DAG run trained from that run's records, not from the newest registry row."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from flywheel.pipeline.runs import model_from_dag_run


def _has_run_columns(engine) -> bool:
    cols = {c["name"] for c in inspect(engine).get_columns("pipeline_runs")}
    return {"outputs", "airflow_run_id"} <= cols


def test_model_of_a_dag_run_is_its_own_train_record(engine) -> None:
    if not _has_run_columns(engine):
        pytest.skip("pipeline_runs has no outputs/airflow_run_id yet (the run-writer migration)")
    rows = [  # run A trained m-a; run B trained m-b later (the newest model), and a failed retry of A
        ("tr-a", "train", "succeeded", "manual__a", '{"model_id": "m-a"}', "2026-11-02 02:10+00"),
        ("tr-b", "train", "succeeded", "manual__b", '{"model_id": "m-b"}', "2026-11-02 03:10+00"),
        ("tr-a2", "train", "failed", "manual__a", '{}', "2026-11-02 02:20+00"),
        ("pr-a", "promote", "succeeded", "manual__a", '{"model_id": "m-x", "promoted": true}', "2026-11-02 02:30+00"),
        ("sp-c", "split", "succeeded", "manual__c", '{"split_id": "sp-1"}', "2026-11-02 04:00+00"),
    ]
    with engine.begin() as conn:
        for run_id, stage, status, airflow_run_id, outputs, finished in rows:
            conn.execute(text("INSERT INTO pipeline_runs (run_id, stage, status, airflow_run_id, outputs, "
                              "finished_at) VALUES (:r, :s, :st, :a, CAST(:o AS jsonb), :f)"),
                         {"r": run_id, "s": stage, "st": status, "a": airflow_run_id, "o": outputs, "f": finished})
    try:
        assert model_from_dag_run(engine, "manual__a") == "m-a"
        assert model_from_dag_run(engine, "manual__b") == "m-b"
        assert model_from_dag_run(engine, "manual__c") is None  # that run trained nothing
        assert model_from_dag_run(engine, "manual__nope") is None
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM pipeline_runs WHERE run_id = ANY(:ids)"), {"ids": [r[0] for r in rows]})
