"""Nightly retraining: ground truth -> GX gate -> split -> GX gate -> (augment) -> fine-tune -> evaluate -> promote.

Every task is a thin call into the `flywheel` package, imported inside the task so parsing this file touches no
database, broker or heavy library (only the parameters' model, `flywheel.pipeline.params`, which imports pydantic).
Three DAGs share one chain of tasks:

- `flywheel_nightly` (daily): the whole chain.
- `flywheel_groundtruth` (manual): only ground truth and its gate; it updates the `flywheel://groundtruth` asset.
- `flywheel_retrain` (on `flywheel://groundtruth`): the rest of the chain for a ground-truth run made outside the
  nightly DAG (the nightly DAG continues its own run itself, so events it produced are skipped here).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from flywheel.notify import FailureAlert
from flywheel.pipeline.params import airflow_params

GROUNDTRUTH = Asset(name="flywheel_groundtruth", uri="flywheel://groundtruth")
SPLITS = Asset(name="flywheel_splits", uri="flywheel://splits")
MODELS = Asset(name="flywheel_models", uri="flywheel://models")
PRODUCTION = Asset(name="flywheel_production_model", uri="flywheel://models/production")

NIGHTLY_ID = "flywheel_nightly"
# Created by `flywheel airflow` / the demo's DAG runs (flywheel.runtime.airflow.TRAINING_POOL, 1 slot): the nightly
# and retrain DAGs never train at the same time. Deployments create it once: `airflow pools set flywheel_training 1 ..`
TRAINING_POOL = "flywheel_training"
# One-off runs (`flywheel.runtime.airflow.run_dag`, the demo, tests) set FLYWHEEL_DAG_RETRIES=0 so a failure surfaces
# at once instead of after minutes of retry delays. An environment read, not a connection: fine at parse time.
RETRIES_ON = os.environ.get("FLYWHEEL_DAG_RETRIES", "1") != "0"
# The Airflow connection to the cluster (in-cluster or a kubeconfig); the Job itself comes from flywheel settings.
K8S_CONN_ID = os.environ.get("FLYWHEEL_K8S_CONN_ID", "kubernetes_default")


def _retries(n: int) -> int:
    return n if RETRIES_ON else 0


START = datetime(2026, 11, 1, tzinfo=UTC)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "flywheel-ml",
    # Data stages read and write Postgres: a restart or a brief outage should not fail the night.
    "retries": _retries(2),
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    # A task that fails for good reaches the FLYWHEEL_NOTIFY_* channels (webhook, Slack, e-mail), else the log.
    "on_failure_callback": [FailureAlert(smtp_notifier=SmtpNotifier)],
}
GATE_ARGS: dict[str, Any] = {"retries": 0}  # a failed gate is a finding, not a transient error: never retry it

# The parameters, their defaults, types and descriptions come from flywheel.pipeline.params.NightlyParams (the only
# defaults; every step validates its mapping through that model). That module imports pydantic only: cheap to parse.
PARAM_SPECS = airflow_params()
PARAMS = {name: Param(**spec) for name, spec in PARAM_SPECS.items()}


def _step(step: Any, **kwargs: Any) -> Any:
    """Run one `flywheel.pipeline` step for this task: the settings and this Airflow run's id go in; a failed gate or
    a bad parameter fails the task at once (retrying cannot help), a step with nothing to do is skipped."""
    from flywheel.errors import GateFailed, Skipped, UsageError
    from flywheel.settings import get_settings

    try:
        return step(get_settings(), airflow_run_id=get_current_context()["run_id"], **kwargs)
    except Skipped as e:
        raise AirflowSkipException(str(e)) from e
    except (GateFailed, UsageError) as e:
        raise AirflowFailException(str(e)) from e


def _emit(asset: Asset, **extra: Any) -> None:
    get_current_context()["outlet_events"][asset].extra = {k: v for k, v in extra.items() if v is not None}


# ---------------------------------------------------------------- tasks (each a thin call into flywheel.pipeline)

@task(retries=_retries(2))
def run_groundtruth(params: dict[str, Any] | None = None) -> str:
    """Export-rate ground truth over all ingested events (a new run per events watermark)."""
    from flywheel.pipeline import nightly

    return _step(nightly.groundtruth, params=params)


@task(outlets=[GROUNDTRUTH], **GATE_ARGS)
def validate_groundtruth(gt_run_id: str) -> str:
    """GX gate on the ground-truth run."""
    from flywheel.pipeline import nightly

    _emit(GROUNDTRUTH, run_id=_step(nightly.validate_groundtruth, groundtruth_run_id=gt_run_id))
    return gt_run_id


@task
def make_split(gt_run_id: str, params: dict[str, Any] | None = None) -> str:
    """Deterministic train/test split by unique intent (the gate runs as its own task)."""
    from flywheel.pipeline import nightly

    return _step(nightly.split, groundtruth_run_id=gt_run_id, params=params)


@task(outlets=[SPLITS], **GATE_ARGS)
def validate_split(split_id: str) -> str:
    """GX gate on the split (schemas, no intent in both parts, sizes)."""
    from flywheel.pipeline import nightly

    _emit(SPLITS, split_id=_step(nightly.validate_split, split_id=split_id))
    return split_id


@task(retries=_retries(1), execution_timeout=timedelta(hours=2))
def augment(split_id: str, params: dict[str, Any] | None = None) -> str:
    """Paraphrase what the production model gets wrong into a derived split; passes the split through if skipped."""
    from flywheel.pipeline import nightly

    return _step(nightly.augment, split_id=split_id, params=params)


@task
def plan_training(split_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Model id + TrainConfig for this run; for launcher=kubernetes also the Job file the next task submits."""
    from flywheel.pipeline import nightly

    return _step(nightly.plan_training, split_id=split_id, params=params)


@task.branch
def choose_launcher(plan: dict[str, Any]) -> str:
    """Follow the planned launcher: the worker itself, or a Kubernetes Job."""
    return "train_kubernetes" if plan["launcher"] == "kubernetes" else "train_local"


@task(retries=_retries(1), execution_timeout=timedelta(hours=6), pool=TRAINING_POOL)
def train_local(plan: dict[str, Any]) -> str:
    """Fine-tune on this worker (its GPUs through accelerate, else its CPU); trains, registers, evaluates."""
    from flywheel.pipeline import nightly

    return _step(nightly.train_planned, plan=plan)


def train_kubernetes() -> KubernetesJobOperator:
    """Submit the planned Job (flywheel.training.launcher.job_spec), stream its logs, wait for it without holding a
    worker slot (deferrable). A retried pod resumes from the checkpoint on the artifacts volume, so the task itself
    does not retry (a second Job would start over under the same model id)."""
    return KubernetesJobOperator(
        task_id="train_kubernetes", doc_md=train_kubernetes.__doc__,
        job_template_file="{{ ti.xcom_pull(task_ids='plan_training')['job_file'] }}",
        kubernetes_conn_id=K8S_CONN_ID,
        wait_until_job_complete=True, deferrable=True, get_logs=True, job_poll_interval=30,
        do_xcom_push=False, random_name_suffix=False, retries=0, execution_timeout=timedelta(hours=8),
        pool=TRAINING_POOL,
    )


@task(outlets=[MODELS], trigger_rule="none_failed_min_one_success", retries=_retries(1))
def trained_model(plan: dict[str, Any]) -> str:
    """The model the launcher trained and registered (whichever branch ran)."""
    from flywheel.pipeline import nightly

    model_id = _step(nightly.trained_model, plan=plan)
    _emit(MODELS, model_id=model_id, split_id=plan["split_id"], launcher=plan["launcher"], job=plan.get("job_file"))
    return model_id


@task(retries=_retries(1))
def evaluate(model_id: str, split_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Offline evaluation on the split's test part (the paper's metrics), stored with the model."""
    from flywheel.pipeline import nightly

    return _step(nightly.evaluate, model_id=model_id, split_id=split_id, params=params)


@task(outlets=[PRODUCTION], retries=_retries(1))
def promote(evaluated: dict[str, Any]) -> str:
    """Promotion gate: the registry decides; not promoted = skipped (visible in the grid), with the reason."""
    from flywheel.pipeline import nightly

    _emit(PRODUCTION, model_id=_step(nightly.promote, model_id=evaluated["model_id"]))
    return evaluated["model_id"]


@task(retries=_retries(1))
def reality_check(model_id: str) -> str:
    """The promoted model's reality-check batch for the annotation app (skipped when nothing was promoted)."""
    from flywheel.pipeline import reality

    return _step(reality.prepare, model_id=model_id)


def retrain_chain(gt_run_id: Any) -> Any:
    """split -> gate -> augment -> train -> evaluate -> promote -> reality check for a validated ground-truth run id
    (XComArg)."""
    split = validate_split(make_split(gt_run_id))
    train_split = augment(split)
    plan = plan_training(train_split)
    branch = choose_launcher(plan)
    model = trained_model(plan)
    branch >> [train_local(plan), train_kubernetes()] >> model
    return reality_check(promote(evaluate(model, train_split)))


# ---------------------------------------------------------------- DAGs

@dag(
    dag_id=NIGHTLY_ID, schedule="0 2 * * *", start_date=START, catchup=False, max_active_runs=1,
    default_args=DEFAULT_ARGS, params=PARAMS, tags=["flywheel", "training", "nightly"],
    dagrun_timeout=timedelta(hours=10),
    doc_md="""
### flywheel_nightly — retrain the student from yesterday's feedback

`run_groundtruth` → **`validate_groundtruth`** (GX gate) → `make_split` → **`validate_split`** (GX gate) →
`augment` (optional) → `plan_training` → `train_local` | `train_kubernetes` (a Kubernetes Job, deferrable, logs
streamed) → `trained_model` → `evaluate` → **`promote`** (registry gate) → `reality_check` (the new model's batch
for the annotation app, docs/reality.md), all in the same run.

* Ground truth = per intent and tool, the teacher output with the best export rate (docs/domain.md#ground-truth).
* A failed GX gate fails its task at once (no retries); the full report is in the task log and in
  `validation_results`.
* `promote` is *skipped* (not failed) when the registry keeps the current model; the reason is in the log.
* Assets: `flywheel://groundtruth`, `flywheel://splits`, `flywheel://models`, `flywheel://models/production`
  (extras carry the run, split and model ids).
* Manual runs: trigger with params (test size, backend, base model, epochs/max steps, launcher, skip augmentation,
  seed, or an existing `groundtruth_run_id`).
""",
)
def flywheel_nightly():
    retrain_chain(validate_groundtruth(run_groundtruth()))


@dag(
    dag_id="flywheel_groundtruth", schedule=None, start_date=START, catchup=False, max_active_runs=1,
    default_args=DEFAULT_ARGS, tags=["flywheel", "groundtruth", "manual"],
    params={"groundtruth_run_id": Param(**{**PARAM_SPECS["groundtruth_run_id"],
                                           "description": "re-validate this run"})},
    doc_md="""
### flywheel_groundtruth — ground truth on demand

`run_groundtruth` → **`validate_groundtruth`**. A successful run updates the `flywheel://groundtruth` asset, which
starts `flywheel_retrain` (split → gate → augment → train → evaluate → promote) on that run.
""",
)
def flywheel_groundtruth():
    validate_groundtruth(run_groundtruth())


@task(retries=0)
def groundtruth_from_asset() -> str:
    """The ground-truth run id carried by the asset event that started this run (events from the nightly DAG skip:
    that DAG continues its own run)."""
    events = get_current_context()["triggering_asset_events"].get(GROUNDTRUTH, [])
    for ev in reversed(list(events)):
        if ev.source_dag_id != NIGHTLY_ID and (ev.extra or {}).get("run_id"):
            return ev.extra["run_id"]
    raise AirflowSkipException("no ground-truth run from outside the nightly DAG in the triggering events")


@dag(
    dag_id="flywheel_retrain", schedule=[GROUNDTRUTH], start_date=START, catchup=False, max_active_runs=1,
    default_args=DEFAULT_ARGS, tags=["flywheel", "training", "asset"],
    params={k: v for k, v in PARAMS.items() if k != "groundtruth_run_id"},
    doc_md="""
### flywheel_retrain — the rest of the chain for a manual ground-truth run

Scheduled on the `flywheel://groundtruth` asset: when `flywheel_groundtruth` (or anything outside the nightly DAG)
publishes a validated run, this DAG splits, gates, augments, trains, evaluates and promotes on it.
""",
)
def flywheel_retrain():
    retrain_chain(groundtruth_from_asset())


flywheel_nightly()
flywheel_groundtruth()
flywheel_retrain()
