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
from flywheel.inference.compact_predictor import CompactPredictor
from flywheel.inference.predictor import Predictor, load_predictor
from flywheel.training.config import TrainConfig


def evaluate_files(predictions: str | Path, references: str | Path) -> EvalReport:
    return evaluate(read_jsonl(predictions), read_jsonl(references))


def evaluate_checkpoint(*, model_path: str | Path, split: SplitFiles, split_id: str, progress: bool = False,
                        constrained: bool | None = None) -> dict[str, Any]:
    """Predict the split's test intents with the checkpoint and score them.

    Returns the summary dict (``overall``, ``invalid_rate``, per-subset / per-tool numbers) plus ``report``: the full
    report as a dict (``print_report`` accepts the returned dict as is) and ``constrained_decoding``."""
    predictor = load_predictor(model_path, constrained=constrained)  # None: as the model card says
    preds = predictor.predict_detailed([r["intent"] for r in split.test], progress=progress)
    rows = [p.record() for p in preds]
    report = evaluate(rows, split.test)
    summary = report_summary(report)
    out = Path(model_path) / "eval" / split_id
    write_jsonl(out / "predictions.jsonl", rows)
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    return {**summary, "report": report.to_dict(), "constrained_decoding": predictor.constrained}


def evaluate_trained(model: Any, tokenizer: Any, config: TrainConfig, *, model_name: str, model_id: str,
                     test: list[dict[str, Any]], out_dir: Path, progress: bool, vocab: Any = None) -> dict[str, Any]:
    """The test evaluation right after training, on the in-memory model (a ``TestEvaluator`` for
    :func:`flywheel.training.train.train`); writes ``test_predictions.jsonl``. ``vocab``: the compact target
    vocabulary of a compact-encoded student (None for JSON)."""
    predictor: Predictor
    if config.backend == "ngram":  # tokenizer: the n-gram student's bundle (features and heads)
        from flywheel.inference.ngram_predictor import NgramPredictor

        predictor = NgramPredictor(tokenizer, model_name=model_name, model_version=model_id,
                                   batch_size=max(config.eval_batch_size, 256))
    elif vocab is not None:
        predictor = CompactPredictor(model, tokenizer, vocab, model_name=model_name, model_version=model_id,
                                     batch_size=config.eval_batch_size, null_bias=config.null_bias)
    else:
        predictor = Predictor(model, tokenizer, config.backend, model_name=model_name, model_version=model_id,
                              max_new_tokens=config.max_target_tokens, batch_size=config.eval_batch_size,
                              constrained=config.constrained_decoding)
    preds = predictor.predict_detailed([r["intent"] for r in test], progress=progress)
    write_jsonl(out_dir / "test_predictions.jsonl", [p.record() for p in preds])
    return report_summary(evaluate([p.record() for p in preds], test))
