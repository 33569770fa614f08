"""MLflow tracking: where ML engineers look at training runs; the platform's registry stays the source of truth.

Every registered training run becomes one MLflow run in experiment ``settings.mlflow_experiment``: the training
config as parameters and as ``train_config.json``, the loss per optimizer step, the test metrics (overall, invalid
rate, per subset and tool), the RQ1 table (``rq1.json`` and ``rq1.md``), the model card and the lineage. The run also
becomes a version of the registered model ``settings.mlflow_registered_model`` (source: the checkpoint folder, which
the platform already stores; weights are not copied), tagged with the platform's model id. A promotion in the
platform's registry moves that registered model's ``production`` alias (:func:`set_production_alias`).

Backend store: unless ``FLYWHEEL_MLFLOW_TRACKING_URI`` is set, the platform's own Postgres server, database
``settings.mlflow_database`` (created on first use; MLflow migrates its own schema there, never Alembic's tables).
Artifact store: ``{artifacts_dir}/mlflow``.

Tracking is best effort for the stages (:func:`safely`): an unreachable tracking store logs a warning and never fails
a training run or a promotion, because the decisions live in the platform's tables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from flywheel.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

log = logging.getLogger(__name__)

PRODUCTION_ALIAS = "production"
MODEL_ID_TAG = "flywheel.model_id"
TRAIN_LOG = "train_log.jsonl"  # one {"step", "loss", "lr"} line per optimizer step, written by the training loop
SUBSETS = ("All", "r_3", "r_5")
T = TypeVar("T")


def tracking_uri(settings: Settings) -> str:
    """The backend store URI: the explicit setting, else the platform's Postgres with database `mlflow_database`."""
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    return make_url(settings.db_url()).set(database=settings.mlflow_database).render_as_string(hide_password=False)


def artifact_root(settings: Settings) -> Path:
    return (Path(settings.artifacts_dir) / "mlflow").resolve()


def ensure_backend(settings: Settings) -> str:
    """Create the MLflow database on the platform's Postgres server if it is missing; returns the tracking URI."""
    uri = tracking_uri(settings)
    if settings.mlflow_tracking_uri or not uri.startswith("postgresql"):
        return uri
    name = settings.mlflow_database
    admin = create_engine(make_url(settings.db_url()).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar() is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                log.info("created MLflow database %s", name)
    finally:
        admin.dispose()
    return uri


class TrackingUnreachable(RuntimeError):
    """The MLflow backend database does not answer."""


def _probe(uri: str, timeout_s: int = 5) -> None:
    """Fail in seconds when a Postgres backend is down: MLflow's own engine retries ten times with backoff (~100 s
    per call), which would stretch every stage of a night with tracking down by minutes."""
    if not uri.startswith("postgresql"):
        return
    eng = create_engine(uri, connect_args={"connect_timeout": timeout_s}, poolclass=NullPool)
    try:
        with eng.connect():
            pass
    except Exception as e:  # noqa: BLE001 - any driver error means the same: not reachable now
        raise TrackingUnreachable(f"MLflow backend {make_url(uri).render_as_string()} does not answer: "
                                  f"{type(e).__name__}") from e
    finally:
        eng.dispose()


def client(settings: Settings) -> MlflowClient:
    from mlflow import MlflowClient

    uri = ensure_backend(settings)
    _probe(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(c: MlflowClient, settings: Settings) -> str:
    exp = c.get_experiment_by_name(settings.mlflow_experiment)
    if exp is not None:
        return exp.experiment_id
    root = artifact_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    return c.create_experiment(settings.mlflow_experiment, artifact_location=root.as_uri())


def flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Nested mappings as dotted keys (`lora.r`, `All.adjust.f1`)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from flatten(f"{prefix}.{k}" if prefix else str(k), v)
    else:
        yield prefix, value


def metric_items(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric test metrics as MLflow metric names (`overall`, `All.overall`, `r_3.filter.f1`, ...)."""
    return {k: float(v) for k, v in flatten("", metrics)
            if isinstance(v, int | float) and not isinstance(v, bool)}


def rq1_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The paper's RQ1 table (overall and per-tool final score per subset) from a test summary."""
    rows = []
    for name in SUBSETS:
        sub = metrics.get(name)
        if not isinstance(sub, Mapping):
            continue
        row: dict[str, Any] = {"subset": name, "n": sub.get("n"), "overall": sub.get("overall")}
        for tool, vals in sub.items():
            if isinstance(vals, Mapping) and "final" in vals:
                row[tool] = vals["final"]
        rows.append(row)
    return rows


def _rq1_markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    fmt = [" | ".join(f"{r.get(c):.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols)
           for r in rows]
    return "\n".join([" | ".join(cols), " | ".join("---" for _ in cols), *fmt]) + "\n"


def read_train_log(checkpoint: Path) -> list[dict[str, float]]:
    p = Path(checkpoint) / TRAIN_LOG
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def _log_losses(c: MlflowClient, run_id: str, steps: list[dict[str, float]]) -> None:
    from mlflow.entities import Metric

    batch = [Metric(key, float(rec[key]), int(rec.get("time_ms", 0)), int(rec["step"]))
             for rec in steps for key in ("loss", "lr") if key in rec]
    for i in range(0, len(batch), 900):  # the REST store caps a batch at 1,000 metrics
        c.log_batch(run_id, metrics=batch[i:i + 900])


def log_training(settings: Settings, *, model_id: str, checkpoint: Path, config: Mapping[str, Any],
                 metrics: Mapping[str, Any], lineage: Mapping[str, Any],
                 airflow_run_id: str | None = None) -> str:
    """One MLflow run for a registered training run, plus a registered model version; returns the MLflow run id."""
    from mlflow.entities import Param

    c = client(settings)
    tags = {MODEL_ID_TAG: model_id, "flywheel.split_id": str(lineage.get("split_id")),
            "flywheel.backend": str(config.get("backend")), "flywheel.base_model": str(config.get("base_model"))}
    if airflow_run_id:
        tags["flywheel.airflow_run_id"] = airflow_run_id
    run = c.create_run(experiment_id(c, settings), run_name=model_id, tags=tags)
    run_id = run.info.run_id
    try:
        params = [Param(k, str(v)[:6000]) for k, v in flatten("", config)]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            c.log_batch(run_id, params=params[i:i + 100])
        _log_losses(c, run_id, read_train_log(checkpoint))
        summary = {**metric_items(metrics), **{f"train.{k}": float(v) for k, v in lineage.items()
                                               if k in ("training_seconds", "final_loss", "steps", "epochs")
                                               and isinstance(v, int | float)}}
        _log_summary(c, run_id, summary)
        rows = rq1_rows(metrics)
        c.log_dict(run_id, {"rows": rows}, "rq1.json")
        c.log_text(run_id, _rq1_markdown(rows), "rq1.md")
        c.log_dict(run_id, dict(config), "train_config.json")
        c.log_dict(run_id, dict(lineage), "lineage.json")
        for name in ("flywheel_model.json", "report.json", TRAIN_LOG):
            if (Path(checkpoint) / name).is_file():
                c.log_artifact(run_id, str(Path(checkpoint) / name))
        _register_version(c, settings, run_id, model_id, Path(checkpoint))
    except BaseException:
        c.set_terminated(run_id, status="FAILED")
        raise
    c.set_terminated(run_id, status="FINISHED")
    return run_id


def _log_summary(c: MlflowClient, run_id: str, values: Mapping[str, float]) -> None:
    from mlflow.entities import Metric

    items = [Metric(k, v, 0, 0) for k, v in values.items()]
    for i in range(0, len(items), 900):
        c.log_batch(run_id, metrics=items[i:i + 900])


def _register_version(c: MlflowClient, settings: Settings, run_id: str, model_id: str, checkpoint: Path) -> str:
    from mlflow.exceptions import MlflowException

    name = settings.mlflow_registered_model
    try:
        c.get_registered_model(name)
    except MlflowException:
        c.create_registered_model(name, description="flywheel students; alias `production` = the served model")
    mv = c.create_model_version(name, source=checkpoint.resolve().as_uri(), run_id=run_id,
                                tags={MODEL_ID_TAG: model_id})
    return str(mv.version)


def find_run(settings: Settings, model_id: str) -> Run | None:
    """The MLflow run logged for a platform model id (None if it was never tracked)."""
    c = client(settings)
    exp = c.get_experiment_by_name(settings.mlflow_experiment)
    if exp is None:
        return None
    runs = c.search_runs([exp.experiment_id], filter_string=f"tags.`{MODEL_ID_TAG}` = '{model_id}'", max_results=1)
    return runs[0] if runs else None


def log_evaluation(settings: Settings, *, model_id: str, split_id: str, metrics: Mapping[str, Any]) -> str | None:
    """Add a stored evaluation of a tracked model to its MLflow run (`eval.<split>.` metrics, and the RQ1 table
    of its own split when the training run logged none)."""
    run = find_run(settings, model_id)
    if run is None:
        return None
    c = client(settings)
    own = run.data.tags.get("flywheel.split_id") == split_id
    prefix = "" if own else f"eval.{split_id}."
    _log_summary(c, run.info.run_id, {f"{prefix}{k}": v for k, v in metric_items(metrics).items()})
    if own:
        rows = rq1_rows(metrics)
        c.log_dict(run.info.run_id, {"rows": rows}, "rq1.json")
        c.log_text(run.info.run_id, _rq1_markdown(rows), "rq1.md")
    return run.info.run_id


def set_production_alias(settings: Settings, model_id: str) -> str | None:
    """Point the registered model's `production` alias at the version of `model_id`; returns that version."""
    c = client(settings)
    name = settings.mlflow_registered_model
    for mv in c.search_model_versions(f"name = '{name}'"):
        if mv.tags.get(MODEL_ID_TAG) == model_id:
            c.set_registered_model_alias(name, PRODUCTION_ALIAS, mv.version)
            return str(mv.version)
    log.warning("MLflow has no version of %s for model %s; production alias unchanged", name, model_id)
    return None


def safely(settings: Settings, what: str, fn: Callable[[], T]) -> T | None:
    """Run a tracking call if tracking is on; a failure is a warning, never the stage's failure."""
    if not settings.mlflow_enabled:
        return None
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the platform's tables hold the decisions; tracking must not block them
        log.warning("MLflow %s failed (%s: %s); the platform registry is unaffected", what, type(e).__name__, e)
        return None
