"""The nightly retraining steps (`flywheel_nightly`, `flywheel_retrain`, `flywheel_groundtruth` call these).

`params` is the DAG's parameter mapping (or a :class:`~flywheel.pipeline.params.NightlyParams`); each step validates
it once through that model, whose defaults are the only defaults (the DAG builds its Params from it), and a typo'd or
wrong-typed parameter is a UsageError naming it. `airflow_run_id` identifies the Airflow run that executes a step, so
its run records can be found again (`flywheel.pipeline.runs.model_from_dag_run`).

Every step that is a DAG task leaves a record in ``pipeline_runs`` (through the stage it runs, or its own: a gate is a
``validate`` record, a skipped augmentation a ``skipped`` one, the training plan a ``plan`` one), so
``analytics.dag_run_tasks`` shows what each task of a DAG run did.

Retried tasks: `plan_training` derives the model id from the Airflow run id and the split (:func:`retry_model_id`),
so a retry trains into the same id (no orphan folders or rows) and a retry after the model was registered reuses it;
`augment` reuses the split an earlier try of the same run already made from the same input, so the paraphrase LLM is
paid once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text

from flywheel.augment.pipeline import augment_split
from flywheel.datasets import validate as gates
from flywheel.datasets.groundtruth import UnknownRun, current_watermark, get_run, run_groundtruth
from flywheel.datasets.groundtruth_fold import IngestInFlight, await_ingest
from flywheel.datasets.splits import SplitError, make_split
from flywheel.db.engine import owned_engine
from flywheel.db.runs import record_outcome, track_run
from flywheel.errors import GateFailed, Skipped, UsageError
from flywheel.pipeline.params import NightlyParams, auto_test_size, nightly_params
from flywheel.pipeline.runs import output_of_earlier_try
from flywheel.registry.records import UnknownModel
from flywheel.registry.stages import evaluate_model
from flywheel.registry.store import get_model, production_model
from flywheel.registry.store import promote as registry_promote
from flywheel.settings import Settings
from flywheel.training.config import TrainConfig, parse_train_config
from flywheel.training.launcher import LaunchFailed, job_spec, launch, write_job
from flywheel.training.train import new_model_id

log = logging.getLogger(__name__)

Params = Mapping[str, Any] | NightlyParams | None
TRAIN_KEYS = ("backend", "base_model", "epochs", "max_steps", "seed", "init_from")


def _gate(kind: str, settings: Settings, target_id: str, airflow_run_id: str | None = None) -> str:
    """A great-expectations gate, recorded as a ``validate`` stage run; a failure is a finding (GateFailed) with the
    full report in its message."""
    check = gates.validate_groundtruth if kind == "groundtruth" else gates.validate_split
    target = {"target_kind": kind, "target_id": target_id}
    with owned_engine(settings, None) as eng, \
            track_run(eng, stage="validate", inputs=target, airflow_run_id=airflow_run_id) as out:
        outcome = check(settings, target_id, engine=eng, raise_on_failure=False)
        out.update(target, success=outcome.success, n_expectations=outcome.n_expectations,
                   n_failed=outcome.n_failed, n_passed=outcome.n_expectations - outcome.n_failed)
        if not outcome.success:
            log.error("validation gate failed:\n%s", outcome.report)
            raise GateFailed(f"validation gate failed for {kind} {target_id}:\n{outcome.report}")
    log.info("%s", outcome.report)
    return target_id


# The wait for ingest: an ingest batch's events carry its transaction's start as ingested_at, so ground truth at a
# watermark must wait until every batch begun by then has committed (datasets/groundtruth_fold.await_ingest). The
# DAG waits in a reschedule-mode sensor that calls this (no worker slot held between pokes); the ground-truth step
# that follows then finds nothing to wait for.
SENSOR_INGEST_TIMEOUT_S = 10.0


def ingest_settled(settings: Settings, *, params: Params = None,
                   airflow_run_id: str | None = None) -> dict[str, Any]:
    """One poke of the wait for ingest: ``settled`` once no ingest transaction begun by the events' watermark is
    still open, with that ``watermark`` (ISO 8601; None when there is nothing to wait for: no events yet, or the
    `groundtruth_run_id` param reuses a run)."""
    p = nightly_params(params)
    if p.groundtruth_run_id:
        return {"settled": True, "watermark": None}
    with owned_engine(settings, None) as eng, eng.begin() as conn:
        wm = current_watermark(conn)
        if wm is None:
            return {"settled": True, "watermark": None}  # the ground-truth step says there are no events
        try:
            await_ingest(conn, watermark=wm, timeout_s=0)
        except IngestInFlight as e:
            log.info("waiting for ingest: %s", e)
            return {"settled": False, "watermark": wm.isoformat()}
    return {"settled": True, "watermark": wm.isoformat()}


def groundtruth(settings: Settings, *, params: Params = None, watermark: str | None = None,
                airflow_run_id: str | None = None) -> str:
    """Export-rate ground truth over the events ingested up to ``watermark`` (ISO 8601, from the wait for ingest;
    None: all of them) from the arms named by `groundtruth_arms` (default the setting), or the run named by
    `groundtruth_run_id`."""
    p = nightly_params(params)
    if p.groundtruth_run_id:
        with owned_engine(settings, None) as eng:
            record_outcome(eng, stage="groundtruth", status="skipped", message=f"reusing ground-truth run "
                           f"{p.groundtruth_run_id} (DAG param `groundtruth_run_id`)",
                           outputs={"groundtruth_run_id": p.groundtruth_run_id}, airflow_run_id=airflow_run_id)
        return p.groundtruth_run_id
    if watermark:  # the sensor waited for ingest up to it
        run = run_groundtruth(settings, datetime.fromisoformat(watermark), airflow_run_id=airflow_run_id,
                              arms=p.groundtruth_arms, ingest_timeout_s=SENSOR_INGEST_TIMEOUT_S)
    else:
        run = run_groundtruth(settings, airflow_run_id=airflow_run_id, arms=p.groundtruth_arms)
    log.info("ground truth %s: %d intents kept, %d dropped", run.run_id, run.n_intents, run.n_dropped)
    return run.run_id


def validate_groundtruth(settings: Settings, *, groundtruth_run_id: str, airflow_run_id: str | None = None) -> str:
    return _gate("groundtruth", settings, groundtruth_run_id, airflow_run_id)


def publish_groundtruth(settings: Settings, *, groundtruth_run_id: str, airflow_run_id: str | None = None) -> str:
    """Whether a validated ground-truth run is news for the retrain DAG: Skipped when a model was already trained on
    it (the same watermark as a night that trained, or a re-validated run), so `flywheel_retrain` runs only for
    ground truth that nothing was trained on."""
    with owned_engine(settings, None) as eng, eng.connect() as conn:
        trained = conn.execute(text(
            "SELECT m.id FROM models m LEFT JOIN splits s ON s.split_id = m.split_id"
            " WHERE coalesce(m.groundtruth_run_id, s.groundtruth_run_id) = :r ORDER BY m.created_at LIMIT 1"),
            {"r": groundtruth_run_id}).scalar()
    if trained is not None:
        raise Skipped(f"ground-truth run {groundtruth_run_id} is not new: model {trained} was trained on it "
                      "(trigger flywheel_nightly with `groundtruth_run_id` to train on it again)")
    return groundtruth_run_id


def split(settings: Settings, *, groundtruth_run_id: str, params: Params = None,
          airflow_run_id: str | None = None) -> str:
    """Deterministic train/test split by unique intent; its gate is the next step. An empty `test_size` param is
    sized from the run (`auto_test_size`); a size the run cannot give is refused naming the DAG param."""
    p = nightly_params(params)
    try:
        test_size = _test_size(settings, groundtruth_run_id, p)
    except UsageError as e:  # refused before the split stage runs: recorded here, so the DAG run's record shows it
        with owned_engine(settings, None) as eng:
            record_outcome(eng, stage="split", status="failed", message=f"UsageError: {e}",
                           inputs={"groundtruth_run_id": groundtruth_run_id, "test_size": p.test_size},
                           airflow_run_id=airflow_run_id)
        raise
    try:
        res = make_split(settings, groundtruth_run_id, test_size=test_size, seed=p.seed, validate=False,
                         airflow_run_id=airflow_run_id)
    except SplitError as e:  # wrong parameters for this data: retrying cannot help
        raise UsageError(f"{e} (DAG params `test_size`, `seed`)") from e
    log.info("split %s: %s", res.split_id, res.set_table)
    return res.split_id


def _test_size(settings: Settings, groundtruth_run_id: str, p: NightlyParams) -> int:
    """The split's test size: the `test_size` param, or sized from the run (`auto_test_size`); a size the run
    cannot give is refused naming the DAG param."""
    try:
        n = get_run(settings, groundtruth_run_id).n_intents
    except UnknownRun as e:
        raise UsageError(str(e)) from e
    auto = auto_test_size(n)
    if p.test_size is not None and p.test_size >= n:
        raise UsageError(f"DAG param `test_size` = {p.test_size} leaves no training data: ground-truth run "
                         f"{groundtruth_run_id} has {n} intents. Trigger the DAG with `test_size` below {n}"
                         + (f", or leave it empty (this run: {auto})" if auto >= 1 else ""))
    if p.test_size is None and auto < 1:
        raise UsageError(f"ground-truth run {groundtruth_run_id} has {n} intents: too few to split into train and "
                         "test (DAG param `test_size` is empty)")
    if p.test_size is None:
        log.info("test_size empty: %d of the run's %d intents (auto_test_size)", auto, n)
        return auto
    return p.test_size


def validate_split(settings: Settings, *, split_id: str, airflow_run_id: str | None = None) -> str:
    return _gate("split", settings, split_id, airflow_run_id)


def augment(settings: Settings, *, split_id: str, params: Params = None, airflow_run_id: str | None = None) -> str:
    """Paraphrase what the production model gets wrong into a gated derived split; the split itself when augmentation
    is switched off or there is no production model to mine yet."""
    p = nightly_params(params)
    prod = None if p.skip_augmentation else production_model(settings)
    if prod is None:
        why = ("skipped by the DAG param `skip_augmentation`" if p.skip_augmentation
               else "no production model yet to mine mistakes from")
        log.info("augmentation %s; training on %s", why, split_id)
        with owned_engine(settings, None) as eng:
            record_outcome(eng, stage="augment", status="skipped", message=why, inputs={"split_id": split_id},
                           outputs={"split_id": split_id}, airflow_run_id=airflow_run_id)
        return split_id
    if airflow_run_id:
        with owned_engine(settings, None) as eng:
            done = output_of_earlier_try(eng, airflow_run_id=airflow_run_id, stage="augment", split_id=split_id,
                                         key="split_id")
        if done:
            log.info("retry of run %s: reusing augmented split %s of an earlier try", airflow_run_id, done)
            return _gate("split", settings, done, airflow_run_id)
    new_split = augment_split(settings, prod.model_id, split_id, iterations=p.augmentation_iterations,
                             airflow_run_id=airflow_run_id)
    return _gate("split", settings, new_split, airflow_run_id)


def train_config(params: Params) -> TrainConfig:
    """The TrainConfig of a run: the named parameters that are set, then `train_overrides` on top (the one place
    nightly parameters become a training config)."""
    p = nightly_params(params)
    fields = {k: getattr(p, k) for k in TRAIN_KEYS if getattr(p, k) is not None}
    try:
        return parse_train_config({**fields, **p.train_overrides})
    except ValidationError as e:  # a bad parameter, not a transient error
        raise UsageError(f"invalid training parameters: {e}") from e


def retry_model_id(airflow_run_id: str, split_id: str) -> str:
    """The model id of the `train` task of one Airflow run on one split: the same on every try of that task."""
    digest = hashlib.sha256(f"{airflow_run_id}\0train\0{split_id}".encode()).hexdigest()[:16]
    return f"m-run-{digest}"


def plan_training(settings: Settings, *, split_id: str, params: Params = None,
                  airflow_run_id: str | None = None) -> dict[str, Any]:
    """Choose the model id and config of this run's training before it starts; for the `kubernetes` launcher also
    write the Job that the DAG's KubernetesJobOperator submits (``job_file``)."""
    p = nightly_params(params)
    launcher = p.launcher  # "local" or "kubernetes": the model refuses anything else
    # Every try of this run gets the same model id, so a retry finds (or resumes into) its first try's model.
    config = train_config(p)
    model_id = retry_model_id(airflow_run_id, split_id) if airflow_run_id else new_model_id()
    plan: dict[str, Any] = {"model_id": model_id, "split_id": split_id, "launcher": launcher,
                            "config": config.model_dump(mode="json"), "job_file": None}
    with owned_engine(settings, None) as eng, \
            track_run(eng, stage="plan", inputs={"split_id": split_id, "params": p.model_dump(mode="json")},
                      airflow_run_id=airflow_run_id) as out:
        if launcher == "kubernetes":
            job = job_spec(settings, split_id=split_id, config=config, model_id=model_id,
                           airflow_run_id=airflow_run_id)
            plan.update(job_file=str(write_job(settings, job, model_id)), job_name=job["metadata"]["name"])
        out.update(plan)
    log.info("training plan: %s", {k: v for k, v in plan.items() if k != "config"})
    return plan


def train_planned(settings: Settings, *, plan: Mapping[str, Any], airflow_run_id: str | None = None) -> str:
    """Run a planned training on this worker (its GPUs, else its CPU); returns the registered model id. A retry
    whose earlier try already registered the model returns it instead of paying for training again."""
    try:
        return get_model(settings, plan["model_id"]).model_id
    except UnknownModel:
        pass  # first try, or an earlier try died before registering: train (into the same id, resuming)
    res = launch(settings, plan["split_id"], parse_train_config(plan["config"]), launcher="local",
                 model_id=plan["model_id"], airflow_run_id=airflow_run_id)
    return res.model_id


def trained_model(settings: Settings, *, plan: Mapping[str, Any], airflow_run_id: str | None = None) -> str:
    """The planned model, once a launcher has trained and registered it (a finished Job that registered nothing is
    an error, not a skip)."""
    try:
        rec = get_model(settings, plan["model_id"])
    except UnknownModel as e:
        raise LaunchFailed(f"the {plan['launcher']} training finished but model {plan['model_id']} is not "
                           "registered; see the train task's log") from e
    return rec.model_id


def evaluate(settings: Settings, *, model_id: str, split_id: str, params: Params = None,
             airflow_run_id: str | None = None) -> dict[str, Any]:
    """Offline evaluation on the split's test part, stored with the model."""
    nightly_params(params)  # none of them changes the evaluation, but a bad one fails here as in every step
    result = evaluate_model(settings, model_id, split_id, airflow_run_id=airflow_run_id)
    log.info("evaluation of %s on %s: %s", model_id, split_id, result)
    return {"model_id": model_id, "split_id": split_id}


class NotPromoted(Skipped):
    """The registry kept the production model: a skipped step, not a failure. ``result`` is the decision, with the
    figures (the DAG keeps a skipped step's ``result`` as the task's XCom)."""

    def __init__(self, decision: dict[str, Any]) -> None:
        super().__init__(f"not promoted: {decision['reason']}")
        self.result = decision


def promote(settings: Settings, *, model_id: str, airflow_run_id: str | None = None) -> dict[str, Any]:
    """The registry's promotion gate. Returns the decision (candidate, production, both Overall figures on the
    candidate's test split, their difference, the margin and floor applied, the reason) and logs it; a refusal
    raises :class:`NotPromoted` carrying the same decision."""
    d = registry_promote(settings, model_id, airflow_run_id=airflow_run_id)
    delta = (None if d.candidate_overall is None or d.production_overall is None
             else round(d.candidate_overall - d.production_overall, 6))
    decision = {"model_id": model_id, "promoted": d.promoted, "reason": d.reason,
                "candidate_overall": d.candidate_overall, "production_model_id": d.production_model_id,
                "production_overall": d.production_overall, "overall_delta": delta,
                "margin": settings.promotion_margin, "floor": settings.promotion_floor}
    log.info("promotion decision: %s | candidate %s overall %s | production %s overall %s | delta %s "
             "(margin %s, floor %s) | %s", "PROMOTED" if d.promoted else "NOT PROMOTED", model_id,
             _fmt(d.candidate_overall), d.production_model_id or "(none)", _fmt(d.production_overall),
             _fmt(delta), settings.promotion_margin, settings.promotion_floor, d.reason)
    if not d.promoted:
        raise NotPromoted(decision)
    return decision


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"
