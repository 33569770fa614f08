"""Orchestration: one function per pipeline step, the layer right below the DAGs, the CLI and the demo.

A step takes the settings and keyword arguments (the DAG's parameters as a mapping, ids from upstream steps, the
Airflow run id when Airflow runs it), calls the stage libraries and returns plain ids. Decisions the DAG files used
to hold live here: skipping augmentation, building the training config from parameters, what a failed gate or a
refused promotion means. Steps raise `flywheel.errors` (a failed gate, a bad parameter, a skipped step); the DAG
file maps those to Airflow's fail/skip in one place. Modules here import the stage libraries at the top, so a DAG
file imports them inside its tasks only (parsing a DAG must stay light).

- `nightly`: the wait for ingest (a sensor's poke) -> ground truth -> gate -> split -> gate -> augment -> train ->
  evaluate -> promote (returns its decision); whether a ground-truth run is news for the retrain DAG. Each step
  leaves a record of what it did (`analytics.dag_run_tasks`).
- `params`: the nightly DAGs' parameters (one typed model, its defaults the only defaults; the DAG file imports it
  at parse time, so it imports pydantic only).
- `report`: the daily A/B report.
- `runs`: what a DAG run produced, read back from its run records (`pipeline_runs`).
"""
