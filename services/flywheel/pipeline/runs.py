"""What a pipeline run produced, read from its run records (`pipeline_runs`, written by `flywheel.db.runs`).

Every stage records its run with the Airflow run id that started it; the `train` stage's outputs carry `model_id`,
`promote`'s carry `model_id` and `promoted`. So a caller that started a DAG run learns what that run made from the
records of that run, never from "the newest model" (which another run may have registered meanwhile).
"""

from __future__ import annotations

from sqlalchemy import Engine, text

_MODEL_OF_RUN = text(
    "SELECT outputs->>'model_id' FROM pipeline_runs "
    "WHERE airflow_run_id = :run AND stage = 'train' AND status = 'succeeded' AND outputs ? 'model_id' "
    "ORDER BY finished_at DESC NULLS LAST LIMIT 1"
)


def model_from_dag_run(engine: Engine, airflow_run_id: str) -> str | None:
    """The model id the `train` step of Airflow run `airflow_run_id` registered (None: that run trained none)."""
    with engine.connect() as conn:
        return conn.execute(_MODEL_OF_RUN, {"run": airflow_run_id}).scalar()


_OUTPUT_OF_TASK = text(
    "SELECT outputs->>:key FROM pipeline_runs "
    "WHERE airflow_run_id = :run AND stage = :stage AND status = 'succeeded' AND inputs->>'split_id' = :split "
    "AND outputs ? :key ORDER BY finished_at DESC NULLS LAST LIMIT 1"
)


def output_of_earlier_try(engine: Engine, *, airflow_run_id: str, stage: str, split_id: str, key: str) -> str | None:
    """`outputs[key]` of a succeeded `stage` run of this Airflow run on `split_id`: what an earlier try of a retried
    task already made (None: no try got that far)."""
    with engine.connect() as conn:
        return conn.execute(_OUTPUT_OF_TASK, {"run": airflow_run_id, "stage": stage, "split": split_id,
                                              "key": key}).scalar()
