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
import math
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
from tqdm import tqdm

from flywheel.contracts.student import PROMPT_TEMPLATE, write_card
from flywheel.training import compact
from flywheel.training.config import TrainConfig
from flywheel.training.data import SplitFiles, subsample, training_examples
from flywheel.training.models import build, collate, encode

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


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def lr_at(step: int, total: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _model_loss(model: Any, batch: dict[str, Any]) -> Any:
    return model(**batch).loss


def _initial_model(config: TrainConfig, train_ex: list[Any]) -> tuple[Any, Any, Any]:
    """(model, tokenizer, compact target vocabulary or None): the parent's for a warm start, else a fresh one."""
    if config.init_checkpoint:
        from flywheel.training.warm import load_parent

        return load_parent(config)
    if config.target_encoding == "compact":
        return compact.build(config, train_ex)
    model, tok = build(config, train_ex)
    return model, tok, None


def train(config: TrainConfig, split: SplitFiles, out_dir: Path, *, model_id: str, progress: bool = True,
          evaluate_test: TestEvaluator | None = None) -> TrainResult:
    """Train, save the checkpoint and its card; with ``evaluate_test`` (and ``config.evaluate_test``) also score the
    in-memory model on the split's test rows."""
    seed_everything(config.seed, config.num_threads)
    rows = subsample(split.train, config.max_train_rows, config.seed)
    if not rows:
        raise ValueError(f"split {split.path} has no training rows")
    train_ex = training_examples(rows, copies=config.augment_copies,
                                 support_repeat_max=config.support_repeat_max, seed=config.seed)
    model, tok, vocab = _initial_model(config, train_ex)
    if vocab is not None:
        data, truncated = compact.encode_examples(config, tok, vocab, train_ex)
        loss_fn = compact.loss_fn(config, vocab)
    else:
        data, truncated = encode(config, tok, train_ex)
        loss_fn = _model_loss
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)

    model.train()
    t0, step, losses = time.perf_counter(), 0, []
    bar = tqdm(total=total, desc=f"train {model_id}", unit="step", disable=not progress)
    while step < total:
        for idx in torch.randperm(len(data), generator=gen).split(config.batch_size):
            if step >= total:
                break
            batch = collate([data[i] for i in idx.tolist()], tok.pad_token_id, config.backend)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, config)
            loss = loss_fn(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            opt.step()
            losses.append(loss.item())
            step += 1
            bar.update(1)
            if step % 10 == 0 or step == total:
                bar.set_postfix(loss=f"{sum(losses[-10:]) / len(losses[-10:]):.4f}")
    bar.close()
    training_seconds = time.perf_counter() - t0

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
        "train_intents": len(rows), "train_examples": len(train_ex),
        "truncated_targets": truncated, "steps": total, "epochs": total / steps_per_epoch,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]), "training_seconds": round(training_seconds, 2),
        "eval_seconds": round(eval_seconds, 2), "n_parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__, "python": platform.python_version(),
        "finished_at": datetime.now(UTC).isoformat(), "metrics": metrics,
    }
    (out_dir / LINEAGE).write_text(json.dumps(lineage, indent=2))
    return TrainResult(model_id, out_dir, training_seconds, metrics, lineage)
