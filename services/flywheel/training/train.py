"""The one training entry (nanoGPT style): split folder + TrainConfig -> checkpoint folder.

The folder holds the weights, the tokenizer, ``flywheel_model.json`` (how to serve it), ``train_config.json`` and
``lineage.json`` (split id, ground-truth run id, seed, sizes, training time, test metrics). Same config, split and
seed give the same weights (CPU; torch's deterministic algorithms are switched on).

Run it directly with ``python -m flywheel.training.train --split ID`` (the local launcher does exactly that).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from flywheel.training.config import TrainConfig
from flywheel.training.data import SplitFiles, examples, load_split, resolve_split_dir, subsample, write_jsonl
from flywheel.training.models import build, collate, encode

LINEAGE = "lineage.json"


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


def train(config: TrainConfig, split: SplitFiles, out_dir: Path, *, model_id: str, progress: bool = True
          ) -> TrainResult:
    seed_everything(config.seed, config.num_threads)
    rows = subsample(split.train, config.max_train_rows, config.seed)
    if not rows:
        raise ValueError(f"split {split.path} has no training rows")
    train_ex = examples(rows)
    vocab = None
    if config.target_encoding == "compact":
        from flywheel.training import compact

        model, tok, vocab = compact.build(config, train_ex)
        data, truncated = compact.encode_examples(config, tok, vocab, train_ex)
    else:
        model, tok = build(config, train_ex)
        data, truncated = encode(config, tok, train_ex)
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
            loss = model(**batch).loss
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
    if vocab is not None:
        vocab.save(out_dir)
    from flywheel.inference.predictor import Predictor, write_card

    name = f"student-{config.backend}-{Path(config.base_model).name}"
    write_card(out_dir, backend=config.backend, base_model=config.base_model, model_name=name,
               model_version=model_id, max_new_tokens=config.max_target_tokens,
               prompt="tool: {tool} | intent: {intent}", constrained_decoding=config.constrained_decoding,
               target_encoding=config.target_encoding)

    metrics: dict[str, Any] = {}
    eval_seconds = 0.0
    if config.evaluate_test and split.test:
        from flywheel.evaluation.metrics import evaluate
        from flywheel.evaluation.table import report_summary

        t1 = time.perf_counter()
        predictor = Predictor(model, tok, config.backend, model_name=name, model_version=model_id,
                              max_new_tokens=config.max_target_tokens, batch_size=config.eval_batch_size,
                              constrained=config.constrained_decoding) if vocab is None else \
            compact.predictor(model, tok, vocab, model_name=name, model_version=model_id,
                              batch_size=config.eval_batch_size)
        test = split.test[:config.max_eval_rows] if config.max_eval_rows else split.test
        preds = predictor.predict_detailed([r["intent"] for r in test], progress=progress)
        write_jsonl(out_dir / "test_predictions.jsonl", [p.record() for p in preds])
        metrics = report_summary(evaluate([p.record() for p in preds], test))
        eval_seconds = time.perf_counter() - t1

    lineage = {
        "model_id": model_id, "split_id": split.split_id, "groundtruth_run_id": split.groundtruth_run_id,
        "split_path": str(split.path), "backend": config.backend, "base_model": config.base_model,
        "seed": config.seed, "train_intents": len(rows), "train_examples": len(train_ex),
        "truncated_targets": truncated, "steps": total, "epochs": total / steps_per_epoch,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]), "training_seconds": round(training_seconds, 2),
        "eval_seconds": round(eval_seconds, 2), "n_parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__, "python": platform.python_version(),
        "finished_at": datetime.now(UTC).isoformat(), "metrics": metrics,
    }
    (out_dir / LINEAGE).write_text(json.dumps(lineage, indent=2))
    return TrainResult(model_id, out_dir, training_seconds, metrics, lineage)


def run_training(settings: Any, split_id: str, config: TrainConfig, *, split_dir: str | Path | None = None,
                 model_id: str | None = None, register: bool = True, progress: bool = True) -> TrainResult:
    """Train on a stored split, write the checkpoint under ``{artifacts_dir}/models/{model_id}``, register it as a
    candidate and store its test evaluation (tables ``models`` and ``evaluations``)."""
    split = load_split(split_dir or resolve_split_dir(settings, split_id))
    split.meta.setdefault("split_id", split_id)
    model_id = model_id or new_model_id()
    out_dir = Path(settings.artifacts_dir) / "models" / model_id
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"model folder {out_dir} already exists; choose another model id")
    result = train(config, split, out_dir, model_id=model_id, progress=progress)
    if register:
        from flywheel.registry.store import register_model

        register_model(settings, result)
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m flywheel.training.train", description=__doc__)
    ap.add_argument("--split", required=True, help="split id")
    ap.add_argument("--config", help="TrainConfig as .json or .yaml")
    ap.add_argument("--split-dir", help="split folder (default: the split's folder under artifacts)")
    ap.add_argument("--model-id")
    ap.add_argument("--no-register", action="store_true", help="do not write the models/evaluations tables")
    args = ap.parse_args(argv)
    from flywheel.settings import get_settings

    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    result = run_training(get_settings(), args.split, config, split_dir=args.split_dir, model_id=args.model_id,
                          register=not args.no_register)
    print(json.dumps({"model_id": result.model_id, "path": str(result.path),
                      "training_seconds": round(result.training_seconds, 2),
                      "overall": result.metrics.get("overall")}))


if __name__ == "__main__":
    main()
