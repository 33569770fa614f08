"""The training loop (nanoGPT style): split folder + TrainConfig -> checkpoint folder.

The folder holds the weights, the tokenizer, ``flywheel_model.json`` (how to serve it), ``train_config.json`` and
``lineage.json`` (split id, ground-truth run id, seed, sizes, training time, test metrics). Same config, split and
seed give the same weights (CPU; torch's deterministic algorithms are switched on).

The train stage (train, then register the candidate and its test evaluation) is
:func:`flywheel.registry.stages.run_training`; ``python -m flywheel.registry.stages --split ID`` runs it (the local
launcher does exactly that).
"""

from __future__ import annotations

import json
import platform
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from flywheel.contracts.student import PROMPT_TEMPLATE, write_card
from flywheel.training import compact
from flywheel.training.config import TrainConfig
from flywheel.training.data import SplitFiles, subsample, training_examples
from flywheel.training.loop import process_rank, run_loop, world_size
from flywheel.training.models import build, encode

LINEAGE = "lineage.json"

# Scores the in-memory model on test rows (flywheel.evaluation.offline.evaluate_trained); it is passed in because
# evaluation is a layer above training. Called as f(model, tokenizer, config, model_name=, model_id=, test=,
# out_dir=, progress=) -> test summary.
TestEvaluator = Callable[..., dict[str, Any]]


@dataclass
class TrainResult:
    model_id: str
    path: Path
    training_seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)


def new_model_id() -> str:
    return f"m-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def seed_everything(seed: int, threads: int | None = None) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _ngram_setup(config: TrainConfig, rows: list[dict[str, Any]]) -> tuple[Any, Any, list[dict], dict[str, Any]]:
    """(model, bundle, encoded rows, loop keyword arguments) of the n-gram student: one example per intent, all
    three tools' slots at once."""
    from flywheel.contracts import load_tool_contracts
    from flywheel.training import ngram

    if config.augment_copies or config.support_repeat_max > 1:
        from flywheel.training.augment_text import expand_rows

        rows = expand_rows(rows, copies=config.augment_copies, support_repeat_max=config.support_repeat_max,
                           seed=config.seed)
    if config.init_checkpoint:
        from flywheel.training.warm import load_parent_ngram

        bundle = load_parent_ngram(config, [r["intent"] for r in rows])
    else:
        c = config.ngram
        bundle = ngram.build([r["intent"] for r in rows], load_tool_contracts().filter_names, hidden=c.hidden,
                             dropout=c.dropout, char_ngrams=c.char_ngrams, word_bigrams=c.word_bigrams)
    data = [ngram.encode_row(bundle, r) for r in rows]
    return bundle.model, bundle, data, {"loss_fn": ngram.SlotLoss(bundle.heads), "collate_fn": ngram.collate}


def _initial_model(config: TrainConfig, train_ex: list[Any]) -> tuple[Any, Any, Any]:
    """(model, tokenizer, compact target vocabulary or None): the parent's for a warm start, else a fresh one."""
    if config.init_checkpoint:
        from flywheel.training.warm import load_parent

        return load_parent(config)
    if config.target_encoding == "compact":
        return compact.build(config, train_ex)
    model, tok = build(config, train_ex)
    return model, tok, None


def _save_checkpoint(config: TrainConfig, model: Any, tok: Any, vocab: Any, out_dir: Path,
                     model_id: str) -> tuple[Any, str]:
    """Weights, tokenizer, config, card (and the compact vocabulary): everything a predictor needs, in one folder.
    Returns the model as it will be served and its name. For the n-gram student ``tok`` is its bundle (features,
    heads), saved in place of a tokenizer."""
    if config.backend == "ngram":
        tok.model = model.eval()
        tok.save(out_dir)
    else:
        if config.lora is not None:
            model = model.merge_and_unload()  # serve plain weights: loading needs no peft
        model.eval()
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
    config.to_file(out_dir / "train_config.json")
    name = f"student-{config.backend}-{Path(config.base_model).name}"
    write_card(out_dir, backend=config.backend, base_model=config.base_model, model_name=name,
               model_version=model_id, max_new_tokens=config.max_target_tokens,
               prompt=PROMPT_TEMPLATE, constrained_decoding=config.constrained_decoding,
               target_encoding=config.target_encoding, null_bias=config.null_bias)
    if vocab is not None:
        vocab.save(out_dir)
    from flywheel.training.warm import record_parent

    record_parent(out_dir, config)
    return model, name


def train(config: TrainConfig, split: SplitFiles, out_dir: Path, *, model_id: str, progress: bool = True,
          evaluate_test: TestEvaluator | None = None) -> TrainResult:
    """Train, save the checkpoint and its card; with ``evaluate_test`` (and ``config.evaluate_test``) also score the
    in-memory model on the split's test rows."""
    seed_everything(config.seed, config.num_threads)
    rows = subsample(split.train, config.max_train_rows, config.seed)
    if not rows:
        raise ValueError(f"split {split.path} has no training rows")
    loop_kw: dict[str, Any] = {}
    vocab, truncated = None, 0
    if config.backend == "ngram":
        model, tok, data, loop_kw = _ngram_setup(config, rows)
        n_examples = len(data)
    else:
        train_ex = training_examples(rows, copies=config.augment_copies,
                                     support_repeat_max=config.support_repeat_max, seed=config.seed)
        n_examples = len(train_ex)
        model, tok, vocab = _initial_model(config, train_ex)
        if vocab is not None:
            data, truncated = compact.encode_examples(config, tok, vocab, train_ex)
            if world_size() == 1:  # the grammar loss reaches into the model's parts, which DDP wraps
                loop_kw["loss_fn"] = compact.loss_fn(config, vocab)
        else:
            data, truncated = encode(config, tok, train_ex)
    model, loop = run_loop(config, model, tok, data, out_dir, model_id=model_id, progress=progress, **loop_kw)
    training_seconds, losses, total, steps_per_epoch = loop.seconds, loop.losses, loop.steps, loop.steps_per_epoch
    if process_rank() != 0:  # a data-parallel helper process: the main process saves, evaluates and registers
        return TrainResult(model_id, out_dir, training_seconds)

    model, name = _save_checkpoint(config, model, tok, vocab, out_dir, model_id)
    metrics: dict[str, Any] = {}
    eval_seconds = 0.0
    if evaluate_test is not None and config.evaluate_test and split.test:
        t1 = time.perf_counter()
        test = split.test[:config.max_eval_rows] if config.max_eval_rows else split.test
        metrics = evaluate_test(model, tok, config, model_name=name, model_id=model_id, test=test, out_dir=out_dir,
                                progress=progress, vocab=vocab)
        eval_seconds = time.perf_counter() - t1

    lineage = {
        "model_id": model_id, "split_id": split.split_id, "groundtruth_run_id": split.groundtruth_run_id,
        "split_path": str(split.path), "backend": config.backend, "base_model": config.base_model,
        "seed": config.seed, "init_from": "production" if config.init_checkpoint else "scratch",
        "parent_model_id": config.parent_model_id, "initial_loss": sum(losses[:10]) / len(losses[:10]),
        "train_intents": len(rows), "train_examples": n_examples,
        "truncated_targets": truncated, "steps": total, "epochs": total / steps_per_epoch,
        "tokens_seen": loop.tokens_seen, "resumed_from_step": loop.resumed_from, "runtime": loop.runtime,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]), "training_seconds": round(training_seconds, 2),
        "eval_seconds": round(eval_seconds, 2), "n_parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__, "python": platform.python_version(),
        "finished_at": datetime.now(UTC).isoformat(), "metrics": metrics,
    }
    (out_dir / LINEAGE).write_text(json.dumps(lineage, indent=2))
    return TrainResult(model_id, out_dir, training_seconds, metrics, lineage)
