"""Nightly retraining: event partitions -> wait for ingest -> ground truth -> GX gate -> split -> GX gate -> (augment)
-> fine-tune -> evaluate -> promote.

Every task is a thin call into the `flywheel` package, imported inside the task so parsing this file touches no
database, broker or heavy library (only the parameters' model, `flywheel.pipeline.params`, which imports pydantic).
Three DAGs share one chain of tasks:

- `flywheel_nightly` (daily): the whole chain, on its own ground-truth run.
- `flywheel_groundtruth` (manual): only ground truth and its gate; when nothing was trained on that run yet it
  updates the `flywheel://groundtruth` asset (else `publish_groundtruth` is skipped, saying which model was).
- `flywheel_retrain` (on `flywheel://groundtruth`): the rest of the chain for that run. The nightly DAG does not
  emit the asset (it trains on its own run), so a retrain run means new ground truth.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import Asset, Param, PokeReturnValue, dag, get_current_context, task
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
    a bad parameter fails the task at once (retrying cannot help), a step with nothing to do is skipped (keeping
    its answer, if it has one, as the task's XCom: a refused promotion's decision)."""
    from flywheel.errors import GateFailed, Skipped, UsageError
    from flywheel.settings import get_settings

    ctx = get_current_context()
    try:
        return step(get_settings(), airflow_run_id=ctx["run_id"], **kwargs)
    except Skipped as e:
        if (answer := getattr(e, "result", None)) is not None:
            ctx["ti"].xcom_push(key="return_value", value=answer)
        raise AirflowSkipException(str(e)) from e
    except (GateFailed, UsageError) as e:
        raise AirflowFailException(str(e)) from e


def _emit(asset: Asset, **extra: Any) -> None:
    get_current_context()["outlet_events"][asset].extra = {k: v for k, v in extra.items() if v is not None}


# ---------------------------------------------------------------- tasks (each a thin call into flywheel.pipeline)

@task(retries=_retries(2))
def ensure_partitions() -> dict[str, Any]:
    """The event tables' partitions of the coming months, and of any month whose events landed in a default partition
    (their rows move there); then the count of event_ids stored twice under different dates
    (docs/domain.md#partitions-and-retention). Returns what it created and moved."""
    from flywheel.db.partitions import nightly_partitions

    return _step(nightly_partitions)


@task.sensor(mode="reschedule", poke_interval=30, timeout=3600, retries=_retries(1))
def wait_for_ingest(params: dict[str, Any] | None = None) -> PokeReturnValue:
    """Until every ingest batch begun by the events' watermark has committed (their events carry its start as
    ingested_at); reschedule mode: no worker slot is held between pokes. Returns that watermark."""
    from flywheel.pipeline import nightly

    poke = _step(nightly.ingest_settled, params=params)
    return PokeReturnValue(is_done=poke["settled"], xcom_value=poke["watermark"])


@task(retries=_retries(2))
def run_groundtruth(watermark: str | None, params: dict[str, Any] | None = None) -> str:
    """Export-rate ground truth over the events ingested up to the watermark (a new run per watermark)."""
    from flywheel.pipeline import nightly

    return _step(nightly.groundtruth, watermark=watermark, params=params)


@task(**GATE_ARGS)
def validate_groundtruth(gt_run_id: str) -> str:
    """GX gate on the ground-truth run."""
    from flywheel.pipeline import nightly

    return _step(nightly.validate_groundtruth, groundtruth_run_id=gt_run_id)


@task(outlets=[GROUNDTRUTH], retries=_retries(1))
def publish_groundtruth(gt_run_id: str) -> str:
    """Update the `flywheel://groundtruth` asset (which starts `flywheel_retrain`) when nothing was trained on this
    run yet; skipped otherwise, naming the model that was."""
    from flywheel.pipeline import nightly

    _emit(GROUNDTRUTH, run_id=_step(nightly.publish_groundtruth, groundtruth_run_id=gt_run_id))
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
def promote(evaluated: dict[str, Any]) -> dict[str, Any]:
    """Promotion gate: the registry decides. The decision (candidate, production, both Overall figures on the
    candidate's test split, the difference, the margin and floor, the reason) is the task's XCom and a line of its
    log; not promoted = skipped (visible in the grid), with the same decision."""
    from flywheel.pipeline import nightly

    decision = _step(nightly.promote, model_id=evaluated["model_id"])
    _emit(PRODUCTION, model_id=decision["model_id"], overall=decision["candidate_overall"],
          replaced=decision["production_model_id"])
    return decision


@task(retries=_retries(1))
def reality_check(decision: dict[str, Any]) -> str:
    """The promoted model's reality-check batch for the annotation app (skipped when nothing was promoted)."""
    from flywheel.pipeline import reality

    return _step(reality.prepare, model_id=decision["model_id"])


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

`ensure_partitions` (the event tables' coming months; rows that landed in a default partition move to their
month's) → `wait_for_ingest` (a reschedule-mode sensor: no worker slot held while it waits) → `run_groundtruth` →
**`validate_groundtruth`** (GX gate) → `make_split` → **`validate_split`** (GX gate) → `augment` (optional) →
`plan_training` → `train_local` | `train_kubernetes` (a Kubernetes Job, deferrable, logs streamed) →
`trained_model` → `evaluate` → **`promote`** (registry gate) → `reality_check` (the new model's batch for the
annotation app, docs/reality.md), all in the same run.

* Ground truth = per intent and tool, the teacher output with the best export rate (docs/domain.md#ground-truth).
* A failed GX gate fails its task at once (no retries); the full report is in the task log and in
  `validation_results`.
* `promote` logs and returns its decision (XCom `return_value`: candidate, production, both Overall figures,
  the difference, the margin, the reason); it is *skipped* (not failed) when the registry keeps the current model.
* What each task did, from the platform's side: `analytics.dag_run_tasks` (docs/cookbook.md).
* Assets: `flywheel://splits`, `flywheel://models`, `flywheel://models/production` (extras carry the split and model
  ids). This DAG trains on its own ground truth and does not emit `flywheel://groundtruth`.
* Manual runs: trigger with params (test size, backend, base model, epochs/max steps, launcher, skip augmentation,
  seed, or an existing `groundtruth_run_id`).
""",
)
def flywheel_nightly():
    waited = wait_for_ingest()
    ensure_partitions() >> waited
    retrain_chain(validate_groundtruth(run_groundtruth(waited)))


@dag(
    dag_id="flywheel_groundtruth", schedule=None, start_date=START, catchup=False, max_active_runs=1,
    default_args=DEFAULT_ARGS, tags=["flywheel", "groundtruth", "manual"],
    params={"groundtruth_run_id": Param(**{**PARAM_SPECS["groundtruth_run_id"],
                                           "description": "re-validate this run"})},
    doc_md="""
### flywheel_groundtruth — ground truth on demand

`wait_for_ingest` → `run_groundtruth` → **`validate_groundtruth`** → `publish_groundtruth`: when no model was
trained on that run yet, it updates the `flywheel://groundtruth` asset, which starts `flywheel_retrain` (split →
gate → augment → train → evaluate → promote) on it; otherwise it is skipped, naming the model that was.
""",
)
def flywheel_groundtruth():
    publish_groundtruth(validate_groundtruth(run_groundtruth(wait_for_ingest())))


@task(retries=0)
def groundtruth_from_asset() -> str:
    """The ground-truth run id carried by the newest asset event that started this run."""
    events = get_current_context()["triggering_asset_events"].get(GROUNDTRUTH, [])
    for ev in reversed(list(events)):
        if (ev.extra or {}).get("run_id"):
            return ev.extra["run_id"]
    raise AirflowSkipException("no ground-truth run id in the triggering asset events")


@dag(
    dag_id="flywheel_retrain", schedule=[GROUNDTRUTH], start_date=START, catchup=False, max_active_runs=1,
    default_args=DEFAULT_ARGS, tags=["flywheel", "training", "asset"],
    params={k: v for k, v in PARAMS.items() if k != "groundtruth_run_id"},
    doc_md="""
### flywheel_retrain — the rest of the chain for new ground truth

Scheduled on the `flywheel://groundtruth` asset, which only `flywheel_groundtruth` emits, and only for a validated
run that no model was trained on: every run of this DAG splits, gates, augments, trains, evaluates and promotes on
new ground truth (none starts just to skip itself).
""",
)
def flywheel_retrain():
    retrain_chain(groundtruth_from_asset())


flywheel_nightly()
flywheel_groundtruth()
flywheel_retrain()
