"""Offline evaluation of a checkpoint on a split's test rows: predict, score, and write the predictions and report
next to the checkpoint (``eval/{split_id}/predictions.jsonl`` + ``report.json``). Storing the numbers in the
registry is the registry's step (:func:`flywheel.registry.stages.evaluate_model`).

Given the split's training rows, every report also carries the ``novel`` subset and the control baselines
(:mod:`flywheel.evaluation.controls`), scored on the same test rows: ``report.controls`` / the summary's
``controls``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flywheel.datasets.files import SplitFiles, read_jsonl, write_jsonl
from flywheel.evaluation.controls import control_predictions
from flywheel.evaluation.metrics import EvalReport, evaluate
from flywheel.evaluation.table import report_summary
from flywheel.inference.predictor import Predictor, load_predictor
from flywheel.training.students import Student


def evaluate_with_controls(*, predictions: list[dict[str, Any]], test: list[dict[str, Any]],
                           train: Sequence[dict[str, Any]] | None) -> EvalReport:
    """The student's report on ``test``; with the split's ``train`` rows also its ``novel`` subset and the controls'
    reports (built from ``train`` alone, scored on the same rows and subsets)."""
    if train is None:
        return evaluate(predictions, test)
    train_intents = [r["intent"] for r in train]
    report = evaluate(predictions, test, train_intents=train_intents)
    for name, rows in control_predictions(train=train, intents=[r["intent"] for r in test]).items():
        report.controls[name] = evaluate(rows, test, train_intents=train_intents)
    return report


def evaluate_files(predictions: str | Path, references: str | Path, train: str | Path | None = None) -> EvalReport:
    return evaluate_with_controls(predictions=read_jsonl(predictions), test=read_jsonl(references),
                                  train=read_jsonl(train) if train is not None else None)


def evaluate_checkpoint(*, model_path: str | Path, split: SplitFiles, split_id: str,
                        progress: bool = False) -> dict[str, Any]:
    """Predict the split's test intents with the checkpoint and score them.

    Returns the summary dict (``overall``, ``invalid_rate``, per-subset / per-tool numbers) plus ``report``: the full
    report as a dict (``print_report`` accepts the returned dict as is)."""
    predictor = load_predictor(model_path)
    preds = predictor.predict_detailed([r["intent"] for r in split.test], progress=progress)
    rows = [p.record() for p in preds]
    report = evaluate_with_controls(predictions=rows, test=split.test, train=split.train or None)
    summary = report_summary(report)
    out = Path(model_path) / "eval" / split_id
    write_jsonl(out / "predictions.jsonl", rows)
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    return {**summary, "report": report.to_dict()}


def evaluate_trained(student: Student, *, model_name: str, model_id: str, test: list[dict[str, Any]], out_dir: Path,
                     progress: bool, batch_size: int, train: Sequence[dict[str, Any]] | None = None
                     ) -> dict[str, Any]:
    """The test evaluation right after training, on the in-memory student (a ``TestEvaluator`` for
    :func:`flywheel.training.train.train`); writes ``test_predictions.jsonl``. ``train``: the split's training rows
    (the novel subset and the controls)."""
    predictor = Predictor(student, model_name=model_name, model_version=model_id, batch_size=batch_size)
    preds = predictor.predict_detailed([r["intent"] for r in test], progress=progress)
    rows = [p.record() for p in preds]
    write_jsonl(out_dir / "test_predictions.jsonl", rows)
    return report_summary(evaluate_with_controls(predictions=rows, test=test, train=train or None))
