"""Offline evaluation of a checkpoint on a split's test rows: predict, score, and write the predictions and report
next to the checkpoint (``eval/{split_id}/predictions.jsonl`` + ``report.json``). Storing the numbers in the
registry is the registry's step (:func:`flywheel.registry.stages.evaluate_model`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flywheel.datasets.files import SplitFiles, read_jsonl, write_jsonl
from flywheel.evaluation.metrics import EvalReport, evaluate
from flywheel.evaluation.table import report_summary
from flywheel.inference.predictor import Predictor, load_predictor
from flywheel.training.students import Student


def evaluate_files(predictions: str | Path, references: str | Path) -> EvalReport:
    return evaluate(read_jsonl(predictions), read_jsonl(references))


def evaluate_checkpoint(*, model_path: str | Path, split: SplitFiles, split_id: str,
                        progress: bool = False) -> dict[str, Any]:
    """Predict the split's test intents with the checkpoint and score them.

    Returns the summary dict (``overall``, ``invalid_rate``, per-subset / per-tool numbers) plus ``report``: the full
    report as a dict (``print_report`` accepts the returned dict as is)."""
    predictor = load_predictor(model_path)
    preds = predictor.predict_detailed([r["intent"] for r in split.test], progress=progress)
    rows = [p.record() for p in preds]
    report = evaluate(rows, split.test)
    summary = report_summary(report)
    out = Path(model_path) / "eval" / split_id
    write_jsonl(out / "predictions.jsonl", rows)
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    return {**summary, "report": report.to_dict()}


def evaluate_trained(student: Student, *, model_name: str, model_id: str, test: list[dict[str, Any]], out_dir: Path,
                     progress: bool, batch_size: int) -> dict[str, Any]:
    """The test evaluation right after training, on the in-memory student (a ``TestEvaluator`` for
    :func:`flywheel.training.train.train`); writes ``test_predictions.jsonl``."""
    predictor = Predictor(student, model_name=model_name, model_version=model_id, batch_size=batch_size)
    preds = predictor.predict_detailed([r["intent"] for r in test], progress=progress)
    rows = [p.record() for p in preds]
    write_jsonl(out_dir / "test_predictions.jsonl", rows)
    return report_summary(evaluate(rows, test))
