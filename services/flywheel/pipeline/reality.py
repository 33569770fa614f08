"""The reality check in the flywheel: after each promotion the nightly DAG prepares the new model's batch for the
annotation app (`prepare`); `summary` gives the model's reality-check summary, and `simulated_summary` (demo and
tests only) first lets simulated annotators, who read the world's hidden truth, answer the batch."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from flywheel.annotate.batch import prepare_batch
from flywheel.annotate.report import RealitySummary, model_summary, summarise
from flywheel.db.engine import owned_engine
from flywheel.errors import NotFound
from flywheel.settings import Settings

N_TASKS = 15      # the paper's sample per model
PER_TASK = 3      # annotators per sample, as in the paper


def prepare(settings: Settings, *, model_id: str, params: Mapping[str, Any] | None = None,
            airflow_run_id: str | None = None, engine: Engine | None = None) -> str:
    """The promoted model's reality-check batch (made once per model); returns its id."""
    p = params or {}
    res = prepare_batch(settings, model_id=model_id, n_tasks=int(p.get("reality_tasks", N_TASKS)),
                        per_task=int(p.get("reality_annotators", PER_TASK)), seed=int(p.get("seed", 0)),
                        airflow_run_id=airflow_run_id, engine=engine)
    return res.batch_id


def summary(settings: Settings, *, model_id: str, engine: Engine | None = None) -> RealitySummary:
    """The summary of the model's latest batch (NotFound when the model has none yet)."""
    with owned_engine(settings, engine) as eng, Session(eng) as s:
        out = model_summary(s, model_id=model_id)
    if out is None:
        raise NotFound(f"model {model_id!r} has no reality-check batch yet")
    return out


def simulated_summary(settings: Settings, *, model_id: str, truth_file: Path | str, n_annotators: int = 5,
                      seed: int = 0, engine: Engine | None = None) -> tuple[RealitySummary, dict[str, Any]]:
    """Prepare the batch if needed, let simulated annotators answer it, and return the summary with the known-answer
    relevance check (the automatic relevance score against the annotators' relevancy votes).

    For the demo: `lines = [*s.lines(), f"  relevance (known answer): {rel}"]` prints it."""
    from flywheel.checks.annotators import fill_batch, relevance_agreement

    with owned_engine(settings, engine) as eng:
        batch_id = prepare(settings, model_id=model_id, params={"seed": seed}, engine=eng)
        fill_batch(settings, batch_id=batch_id, truth_file=truth_file, n_annotators=n_annotators, seed=seed,
                   engine=eng)
        with Session(eng) as s:
            out = summarise(s, batch_id=batch_id)
        rel = relevance_agreement(settings, batch_id=batch_id, truth_file=truth_file, engine=eng)
    return out, rel
