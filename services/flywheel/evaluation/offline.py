"""Offline evaluation of a registered model on a stored split's test rows; results go to the `evaluations` table
and next to the checkpoint (`eval/{split_id}/predictions.jsonl` + `report.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flywheel.evaluation.metrics import EvalReport, evaluate
from flywheel.evaluation.table import report_summary
from flywheel.training.data import load_split, resolve_split_dir, write_jsonl


def evaluate_files(predictions: str | Path, references: str | Path) -> EvalReport:
    from flywheel.training.data import read_jsonl

    return evaluate(read_jsonl(predictions), read_jsonl(references))


def evaluate_model(settings: Any, model_id: str, split_id: str, *, split_dir: str | Path | None = None,
                   progress: bool = False, store: bool = True, constrained: bool | None = None) -> dict[str, Any]:
    """Predict the split's test intents with the model, score them and (unless ``store=False``) store the numbers.

    Returns the summary dict (``overall``, ``invalid_rate``, per-subset / per-tool numbers) plus ``report``: the full
    report as a dict (``print_report`` accepts the returned dict as is)."""
    from flywheel.inference.predictor import load_predictor
    from flywheel.registry.store import get_model, store_evaluation, update_metrics

    rec = get_model(settings, model_id)
    split = load_split(split_dir or resolve_split_dir(settings, split_id))
    predictor = load_predictor(rec.path, constrained=constrained)  # None: as the model card says
    preds = predictor.predict_detailed([r["intent"] for r in split.test], progress=progress)
    rows = [p.record() for p in preds]
    report = evaluate(rows, split.test)
    summary = report_summary(report)
    out = Path(rec.path) / "eval" / split_id
    write_jsonl(out / "predictions.jsonl", rows)
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    if store:
        store_evaluation(settings, model_id, split_id, summary)
        if split_id == rec.split_id:
            update_metrics(settings, model_id, {**summary, "constrained_decoding": predictor.constrained})
    return {**summary, "report": report.to_dict(), "constrained_decoding": predictor.constrained}
