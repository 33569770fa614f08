"""The model stages, each recorded in ``pipeline_runs``: train (train + register the candidate + its test
evaluation), evaluate (score a registered model on a split and store the numbers), promote (the gate).

Gate (issue 6): a candidate is promoted only if its overall score on its test split is (a) at least
``settings.promotion_floor`` and (b) not worse than the production model's overall on the SAME test split by more
than ``settings.promotion_margin``. If production was never evaluated on that split, it is evaluated first (its
checkpoint must exist). The first model ever only has to clear the floor. Every decision, promoted or not, is stored
in ``promotion_decisions`` with its reason; promotion retires the old production model in the same transaction, and a
partial unique index guarantees there is never more than one production model.

``settings.promotion_mode``: "replace" swaps production as above. "challenger": while a running experiment serves a
student, a candidate that passes the gate is not promoted but enters that experiment as a challenger arm against the
production model (flywheel.db.experiments.enter_challenger, in the same transaction); the experiment's rule then
promotes or drops it (docs/domain.md#champion-and-challenger).

Each entry opens one engine for its whole run (the caller may pass its own) and takes ``airflow_run_id`` when an
Airflow task calls it. ``python -m flywheel.training`` runs :func:`run_training` (the launchers' entry).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from flywheel import tracking
from flywheel.datasets.files import load_split, resolve_split_dir
from flywheel.db.engine import owned_engine
from flywheel.db.experiments import STUDENT_ARM, ExperimentArm, ExperimentError, enter_challenger
from flywheel.db.runs import track_run
from flywheel.evaluation.offline import evaluate_checkpoint, evaluate_trained
from flywheel.registry import records
from flywheel.registry.records import ModelRecord, PromotionDecision, register_model
from flywheel.settings import Settings
from flywheel.training.config import TrainConfig
from flywheel.training.device import CHECKPOINT
from flywheel.training.loop import process_rank
from flywheel.training.train import TrainResult, new_model_id, train

log = logging.getLogger(__name__)


def run_training(settings: Settings, split_id: str, config: TrainConfig, *, split_dir: str | Path | None = None,
                 model_id: str | None = None, register: bool = True, progress: bool = True,
                 airflow_run_id: str | None = None, engine: Engine | None = None) -> TrainResult:
    """The train stage: train on a stored split, write the checkpoint under ``{artifacts_dir}/models/{model_id}``,
    register it as a candidate and store its test evaluation (tables ``models`` and ``evaluations``)."""
    split = load_split(split_dir or resolve_split_dir(settings, split_id))
    split.meta.setdefault("split_id", split_id)
    model_id = model_id or new_model_id()
    out_dir = Path(settings.artifacts_dir) / "models" / model_id
    # A folder holding only a resumable checkpoint is an interrupted run of this model id: it continues.
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / CHECKPOINT).is_file():
        raise FileExistsError(f"model folder {out_dir} already exists; choose another model id")
    # A scratch run (`--no-register`) touches no database, so it records no run either; data-parallel helper
    # processes (rank > 0) only train: the main process saves, evaluates and registers.
    if not register or process_rank() != 0:
        return train(config, split, out_dir, model_id=model_id, progress=progress, evaluate_test=evaluate_trained)
    with owned_engine(settings, engine) as eng:
        config = resolve_init(eng, config)
        inputs = {"split_id": split_id, "model_id": model_id, "config": config.model_dump()}
        result = _train_registered(eng, split, config, out_dir, model_id=model_id, progress=progress,
                                   inputs=inputs, airflow_run_id=airflow_run_id)
    track_training(settings, result, airflow_run_id=airflow_run_id)
    return result


def resolve_init(eng: Engine, config: TrainConfig) -> TrainConfig:
    """A warm start (``init_from="production"``) names the production checkpoint as the parent; with no production
    model yet (the first night) it trains from scratch, and the lineage says so."""
    if config.init_from != "production" or config.init_checkpoint:
        return config
    with Session(eng) as s:
        prod = records.production_model(s)
    if prod is None:
        log.info("init_from=production but there is no production model yet: training from scratch")
        return config
    return config.model_copy(update={"init_checkpoint": str(prod.path), "parent_model_id": prod.model_id})


def _train_registered(eng: Engine, split: Any, config: TrainConfig, out_dir: Path, *, model_id: str,
                      progress: bool, inputs: dict[str, Any], airflow_run_id: str | None) -> TrainResult:
    with track_run(eng, stage="train", inputs=inputs, airflow_run_id=airflow_run_id) as out:
        result = train(config, split, out_dir, model_id=model_id, progress=progress, evaluate_test=evaluate_trained)
        with Session(eng) as s, s.begin():
            register_model(s, result=result)
        out.update(model_id=result.model_id, path=str(result.path), overall=result.metrics.get("overall"),
                   training_seconds=round(result.training_seconds, 2))
    return result


def track_training(settings: Settings, result: TrainResult, *, airflow_run_id: str | None = None) -> str | None:
    """Log a registered training run to MLflow (best effort); returns the MLflow run id."""
    config = json.loads((Path(result.path) / "train_config.json").read_text())
    # The n-gram student's config has no base model; MLflow's base-model tag and param keep the name lineage gives it.
    config.setdefault("base_model", result.lineage.get("base_model"))
    return tracking.safely(settings, "training log", lambda: tracking.log_training(
        settings, model_id=result.model_id, checkpoint=Path(result.path), config=config, metrics=result.metrics,
        lineage=result.lineage, airflow_run_id=airflow_run_id))


def evaluate_model(settings: Settings, model_id: str, split_id: str, *, split_dir: str | Path | None = None,
                   progress: bool = False, store: bool = True, airflow_run_id: str | None = None,
                   engine: Engine | None = None) -> dict[str, Any]:
    """The evaluate stage: score a registered model on a split's test rows and (unless ``store=False``) store the
    numbers; on the model's own split they become its headline metrics. Returns ``evaluate_checkpoint``'s dict."""
    inputs = {"model_id": model_id, "split_id": split_id, "store": store}
    with owned_engine(settings, engine) as eng, \
            track_run(eng, stage="evaluate", inputs=inputs, airflow_run_id=airflow_run_id) as out:
        with Session(eng) as s:
            rec = records.get_model(s, model_id=model_id)
        split = load_split(split_dir or resolve_split_dir(settings, split_id))
        result = evaluate_checkpoint(model_path=rec.path, split=split, split_id=split_id, progress=progress)
        summary = {k: v for k, v in result.items() if k != "report"}
        if store:
            with Session(eng) as s, s.begin():
                records.store_evaluation(s, model_id=model_id, split_id=split_id, summary=summary)
                if split_id == rec.split_id:
                    records.update_metrics(s, model_id=model_id, summary=summary)
        out.update(model_id=model_id, split_id=split_id, overall=result["overall"],
                   invalid_rate=result.get("invalid_rate"))
    if store:
        tracking.safely(settings, "evaluation log", lambda: tracking.log_evaluation(
            settings, model_id=model_id, split_id=split_id, metrics=summary))
    return result


def _production_overall(settings: Settings, eng: Engine, prod: ModelRecord, split_id: str,
                        evaluate_production: bool) -> tuple[float | None, str]:
    with Session(eng) as s:
        overall = records.overall_on(s, model_id=prod.model_id, split_id=split_id)
    if overall is not None or not evaluate_production:
        return overall, ""
    try:
        return evaluate_model(settings, prod.model_id, split_id, engine=eng)["overall"], ""
    except Exception as e:  # noqa: BLE001 - any failure is a refusal with its reason, never a crash
        return None, f"{type(e).__name__}: {e}"


def promote(settings: Settings, model_id: str, evaluate_production: bool = True, *,
            airflow_run_id: str | None = None, engine: Engine | None = None,
            now: datetime | None = None) -> PromotionDecision:
    """The promote stage: apply the gate to a candidate; the decision is stored whatever it is. ``now`` dates a
    challenger phase's start (default: the wall clock; a simulated day passes its own)."""
    inputs = {"model_id": model_id, "evaluate_production": evaluate_production,
              "promotion_mode": settings.promotion_mode}
    with owned_engine(settings, engine) as eng, \
            track_run(eng, stage="promote", inputs=inputs, airflow_run_id=airflow_run_id) as out:
        decision = _promote(settings, eng, model_id, evaluate_production, now or datetime.now(UTC))
        out.update(model_id=model_id, promoted=decision.promoted, reason=decision.reason,
                   candidate_overall=decision.candidate_overall, production_model_id=decision.production_model_id,
                   production_overall=decision.production_overall,
                   challenger_experiment_id=decision.challenger_experiment_id)
    if decision.promoted:  # MLflow mirrors the decision; the platform's tables made it
        tracking.safely(settings, "production alias", lambda: tracking.set_production_alias(settings, model_id))
    return decision


# A promotion that finds production changed while it decided compares again, against the new production model.
PROMOTE_ATTEMPTS = 3


def _challenge(s: Session, *, settings: Settings, candidate: ModelRecord, prod: ModelRecord | None, promoted: bool,
               reason: str, now: datetime) -> tuple[bool, str, str | None]:
    """Promotion mode "challenger": a candidate that passed the gate enters the running experiment as a challenger
    instead of replacing production. Nothing to challenge (no production model, no experiment serving a student):
    it replaces production as in "replace" mode, and the reason says so."""
    if settings.promotion_mode != "challenger" or not promoted or prod is None:
        return promoted, reason, None
    gate = reason.removeprefix("promoted: ")
    try:
        phase = enter_challenger(s, model_id=candidate.model_id, champion_id=prod.model_id, now=now)
    except ExperimentError as exc:
        return False, f"refused (promotion mode challenger): {exc}; gate: {gate}", None
    if phase is None:
        return promoted, f"{reason}; promotion mode challenger, but no running experiment serves a student", None
    champion = s.get(ExperimentArm, (phase, STUDENT_ARM))
    return False, (f"challenger: passed the gate ({gate}); serves the challenger arm of {phase} against the champion "
                   f"{champion.model_ref if champion else prod.model_id} until the experiment's rule promotes or "
                   "drops it"), phase


def _promote(settings: Settings, eng: Engine, model_id: str, evaluate_production: bool,
             now: datetime) -> PromotionDecision:
    """Read, decide, then write under the promotion lock; if another promotion won meanwhile, decide again against
    the winner (so no candidate ever retires a production model it was not compared with)."""
    for attempt in range(PROMOTE_ATTEMPTS):
        with Session(eng) as s:
            cand = records.get_model(s, model_id=model_id)
            if cand.status == "production":
                return PromotionDecision(True, "already the production model (no change)", model_id)
            prod = records.production_model(s)
            cand_overall = records.overall_on(s, model_id=model_id, split_id=cand.split_id)
        prod_overall, prod_error = None, ""
        if prod is not None:
            prod_overall, prod_error = _production_overall(settings, eng, prod, cand.split_id, evaluate_production)
        promoted, reason = records.decide(cand_overall, prod_overall, prod.model_id if prod else None,
                                          settings.promotion_margin, settings.promotion_floor)
        if prod_error and not promoted:
            reason = f"{reason} ({prod_error})"
        with Session(eng) as s, s.begin():
            if records.production_changed(s, prod=prod):
                if attempt + 1 < PROMOTE_ATTEMPTS:
                    continue  # the lock is released with this (empty) transaction
                promoted, reason = False, (f"refused: production changed {PROMOTE_ATTEMPTS} times while deciding; "
                                           "run promote again")
            promoted, reason, phase = _challenge(s, settings=settings, candidate=cand, prod=prod, promoted=promoted,
                                                 reason=reason, now=now)
            promoted, reason = records.apply_decision(s, candidate=cand, prod=prod, promoted=promoted,
                                                      reason=reason, cand_overall=cand_overall,
                                                      prod_overall=prod_overall)
        return PromotionDecision(promoted, reason, model_id, cand_overall, prod.model_id if prod else None,
                                 prod_overall, phase)
    raise AssertionError("unreachable: the last attempt always returns")
