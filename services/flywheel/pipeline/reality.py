"""The reality check in the flywheel: after each promotion the nightly DAG prepares the new model's batch for the
annotation app (`prepare`); `summary` gives the model's reality-check summary. Simulated annotators (who read the
simulator's hidden truth) live with the referee: `flywheel_lab.checks.reality`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from flywheel.annotate.batch import prepare_batch
from flywheel.annotate.report import RealitySummary, model_summary
from flywheel.db.engine import owned_engine
from flywheel.errors import NotFound
from flywheel.pipeline.params import RealityParams
from flywheel.settings import Settings


def prepare(settings: Settings, *, model_id: str, params: Mapping[str, Any] | RealityParams | None = None,
            airflow_run_id: str | None = None, engine: Engine | None = None) -> str:
    """The promoted model's reality-check batch (made once per model); returns its id. `params`: see
    :class:`~flywheel.pipeline.params.RealityParams` (the paper's 15 intents x 3 annotators, seed 0, by default)."""
    p = RealityParams.of(params)
    res = prepare_batch(settings, model_id=model_id, n_tasks=p.reality_tasks, per_task=p.reality_annotators,
                        seed=p.seed, airflow_run_id=airflow_run_id, engine=engine)
    return res.batch_id


def summary(settings: Settings, *, model_id: str, engine: Engine | None = None) -> RealitySummary:
    """The summary of the model's latest batch (NotFound when the model has none yet)."""
    with owned_engine(settings, engine) as eng, Session(eng) as s:
        out = model_summary(s, model_id=model_id)
    if out is None:
        raise NotFound(f"model {model_id!r} has no reality-check batch yet")
    return out
