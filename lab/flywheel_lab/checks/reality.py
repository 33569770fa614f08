"""The reality check with simulated annotators (demo and tests): they read the world's hidden truth, so they live
with the referee, never in the product."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from flywheel.annotate.report import RealitySummary, summarise
from flywheel.db.engine import owned_engine
from flywheel.pipeline.reality import prepare
from flywheel.settings import Settings
from flywheel_lab.checks.annotators import fill_batch, relevance_agreement


def simulated_summary(settings: Settings, *, model_id: str, truth_file: Path | str, n_annotators: int = 5,
                      seed: int = 0, engine: Engine | None = None) -> tuple[RealitySummary, dict[str, Any]]:
    """Prepare the batch if needed, let simulated annotators answer it, and return the summary with the known-answer
    relevance check (the automatic relevance score against the annotators' relevancy votes).

    For the demo: `lines = [*s.lines(), f"  relevance (known answer): {rel}"]` prints it."""
    with owned_engine(settings, engine) as eng:
        batch_id = prepare(settings, model_id=model_id, params={"seed": seed}, engine=eng)
        fill_batch(settings, batch_id=batch_id, truth_file=truth_file, n_annotators=n_annotators, seed=seed,
                   engine=eng)
        with Session(eng) as s:
            out = summarise(s, batch_id=batch_id)
        rel = relevance_agreement(settings, batch_id=batch_id, truth_file=truth_file, engine=eng)
    return out, rel
