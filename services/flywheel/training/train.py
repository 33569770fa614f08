"""Training: split folder + TrainConfig -> checkpoint folder, for every student family alike.

The folder holds what the family saves (weights and features or tokenizer), ``flywheel_model.json`` (how to serve
it), ``train_config.json`` and ``lineage.json`` (split id, ground-truth run id, seed, sizes, training time, test
metrics). Same config, split and seed give the same weights (CPU; torch's deterministic algorithms are switched on).

The train stage (train, then register the candidate and its test evaluation) is
:func:`flywheel.registry.stages.run_training`; ``python -m flywheel.training --split ID`` runs it (the launchers do
exactly that).
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

from flywheel.contracts.student import write_card
from flywheel.datasets.erased import refuse_erased
from flywheel.training.config import TrainConfig
from flywheel.training.data import SplitFiles, subsample
from flywheel.training.loop import process_rank, run_loop
from flywheel.training.students import Student, student_family

LINEAGE = "lineage.json"

# Scores the in-memory student on test rows (flywheel.evaluation.offline.evaluate_trained); it is passed in because
# evaluation is a layer above training. Called as f(student, model_name=, model_id=, test=, out_dir=, progress=,
# batch_size=, train=) -> test summary (``train``: the split's training rows, for the novel subset and the controls).
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


def model_name(config: TrainConfig, student: Student) -> str:
    return f"student-{config.backend}-{Path(student.base_model).name}"


def initial_student(*, config: TrainConfig, rows: list[dict[str, Any]]) -> Student:
    """The parent's student for a warm start (``config.init_checkpoint``), else a fresh one."""
    if config.init_checkpoint:
        from flywheel.training.warm import warm_student

        return warm_student(config=config, rows=rows)
    return student_family(config.backend).build(config=config, rows=rows)


def _save(config: TrainConfig, student: Student, out_dir: Path, model_id: str) -> str:
    """Everything a predictor needs, in one folder; returns the model's name."""
    student.save(out_dir=out_dir)
    config.to_file(out_dir / "train_config.json")
    name = model_name(config, student)
    write_card(out_dir, backend=config.backend, base_model=student.base_model, model_name=name,
               model_version=model_id, **student.card(),
               init_from="production" if config.init_checkpoint else "scratch",
               parent_model_id=config.parent_model_id)
    return name


def train(config: TrainConfig, split: SplitFiles, out_dir: Path, *, model_id: str, progress: bool = True,
          evaluate_test: TestEvaluator | None = None) -> TrainResult:
    """Train, save the checkpoint and its card; with ``evaluate_test`` (and ``config.evaluate_test``) also score the
    in-memory student on the split's test rows. Refuses a split an erasure made unusable (``ErasedSplit``)."""
    refuse_erased(split.path, split_id=split.split_id)
    seed_everything(config.seed, config.num_threads)
    intents = subsample(split.train, config.max_train_rows, config.seed)
    if not intents:
        raise ValueError(f"split {split.path} has no training rows")
    rows = intents
    if config.augment_copies or config.support_repeat_max > 1:
        from flywheel.training.augment_text import expand_rows

        rows = expand_rows(intents, copies=config.augment_copies, support_repeat_max=config.support_repeat_max,
                           seed=config.seed)
    student = initial_student(config=config, rows=rows)
    encoded = student.encode(rows=rows)
    student.model, loop = run_loop(config, student.model, encoded.items, out_dir, model_id=model_id,
                                   student=student, progress=progress)
    losses, total = loop.losses, loop.steps
    if process_rank() != 0:  # a data-parallel helper process: the main process saves, evaluates and registers
        return TrainResult(model_id, out_dir, loop.seconds)

    name = _save(config, student, out_dir, model_id)
    metrics: dict[str, Any] = {}
    eval_seconds = 0.0
    if evaluate_test is not None and config.evaluate_test and split.test:
        t1 = time.perf_counter()
        test = split.test[:config.max_eval_rows] if config.max_eval_rows else split.test
        metrics = evaluate_test(student, model_name=name, model_id=model_id, test=test, out_dir=out_dir,
                                progress=progress, batch_size=config.eval_batch_size, train=split.train)
        eval_seconds = time.perf_counter() - t1

    lineage = {
        "model_id": model_id, "split_id": split.split_id, "groundtruth_run_id": split.groundtruth_run_id,
        "split_path": str(split.path), "backend": config.backend, "base_model": student.base_model,
        "student": student.card(),  # the family's card fields (the encoder student: its encoder's name and hash)
        "seed": config.seed, "init_from": "production" if config.init_checkpoint else "scratch",
        "parent_model_id": config.parent_model_id, "initial_loss": sum(losses[:10]) / len(losses[:10]),
        "train_intents": len(intents), "train_examples": len(encoded.items),
        "truncated_targets": encoded.truncated, "steps": total, "epochs": total / loop.steps_per_epoch,
        "tokens_seen": loop.tokens_seen, "resumed_from_step": loop.resumed_from, "runtime": loop.runtime,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]), "training_seconds": round(loop.seconds, 2),
        "eval_seconds": round(eval_seconds, 2), "n_parameters": sum(p.numel() for p in student.model.parameters()),
        "torch": torch.__version__, "python": platform.python_version(),
        "finished_at": datetime.now(UTC).isoformat(), "metrics": metrics,
    }
    (out_dir / LINEAGE).write_text(json.dumps(lineage, indent=2))
    return TrainResult(model_id, out_dir, loop.seconds, metrics, lineage)
