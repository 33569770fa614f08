"""The registry's public face for callers holding only settings (CLI, DAGs, the assistant): each call opens one
engine for its work, or uses the caller's. Row access, for callers holding a session (registering a trained model:
``records.register_model``), is :mod:`flywheel.registry.records`; the stages (train, evaluate, promote) are
:mod:`flywheel.registry.stages`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from flywheel.db.engine import owned_engine
from flywheel.errors import NotFound
from flywheel.registry import records
from flywheel.registry.records import ModelRecord, PromotionDecision, UnknownModel
from flywheel.registry.stages import evaluate_model, promote, run_training
from flywheel.settings import Settings, get_settings

__all__ = ["ModelRecord", "PromotionDecision", "UnknownModel", "decisions", "evaluate_model", "get_model",
           "list_models", "overall_on", "production_model", "promote", "resolve_model_dir", "run_training",
           "store_evaluation", "update_metrics"]


def store_evaluation(settings: Settings, model_id: str, split_id: str, summary: dict[str, Any], *,
                     engine: Engine | None = None) -> int:
    """Upsert one row per (subset, tool) from `report_summary` numbers; returns rows written."""
    with owned_engine(settings, engine) as eng, Session(eng) as s, s.begin():
        return records.store_evaluation(s, model_id=model_id, split_id=split_id, summary=summary)


def update_metrics(settings: Settings, model_id: str, summary: dict[str, Any], *, engine: Engine | None = None
                   ) -> None:
    with owned_engine(settings, engine) as eng, Session(eng) as s, s.begin():
        records.update_metrics(s, model_id=model_id, summary=summary)


def get_model(settings: Settings, model_id: str, *, engine: Engine | None = None) -> ModelRecord:
    with owned_engine(settings, engine) as eng, Session(eng) as s:
        return records.get_model(s, model_id=model_id)


def list_models(settings: Settings, *, engine: Engine | None = None) -> list[ModelRecord]:
    with owned_engine(settings, engine) as eng, Session(eng) as s:
        return records.list_models(s)


def production_model(settings: Settings, *, engine: Engine | None = None) -> ModelRecord | None:
    """The model the assistant's student arm serves (None before the first promotion)."""
    with owned_engine(settings, engine) as eng, Session(eng) as s:
        return records.production_model(s)


def overall_on(settings: Settings, model_id: str, split_id: str, subset: str = "All", *,
               engine: Engine | None = None) -> float | None:
    with owned_engine(settings, engine) as eng, Session(eng) as s:
        return records.overall_on(s, model_id=model_id, split_id=split_id, subset=subset)


def decisions(settings: Settings, model_id: str | None = None, *, engine: Engine | None = None
              ) -> list[dict[str, Any]]:
    with owned_engine(settings, engine) as eng, Session(eng) as s:
        return records.decisions(s, model_id=model_id)


def resolve_model_dir(model: str | None, settings: Settings | None = None) -> Path:
    """A checkpoint folder from a folder path, a registered model id, or (None) the production model."""
    if model and Path(model).is_dir():
        return Path(model)
    settings = settings or get_settings()
    if model is None:
        prod = production_model(settings)
        if prod is None:
            raise NotFound("no production model yet: pass --model")
        return Path(prod.path)
    return Path(get_model(settings, model).path)
