"""The optimization loop (nanoGPT style) on CPU, one GPU or several (data parallel through ``accelerate``), for any
student family: the student turns its training items into batches and a batch into a loss (``TrainsOn``).

One optimizer step = ``grad_accum_steps`` micro-batches of ``batch_size`` rows per process. Batches are drawn from a
seeded permutation per epoch; with N processes each global batch of ``batch_size * N`` rows is cut into one slice per
process, so one process sees exactly the single-process batches (same config + split + seed -> same weights on CPU).
Every optimizer step appends ``{"step", "loss", "lr", "time_ms"}`` to ``train_log.jsonl`` (MLflow's loss curve);
every ``checkpoint_every`` steps the main process writes ``resume.pt``; a run restarted on the same folder continues
from it (the data order included).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm import tqdm

from flywheel.training.config import TrainConfig
from flywheel.training.device import CHECKPOINT, Runtime, load_checkpoint, save_checkpoint

TRAIN_LOG = "train_log.jsonl"


def process_rank() -> int:
    """This process's rank under `accelerate launch` / torchrun (0 when run alone)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass
class LoopResult:
    steps: int
    steps_per_epoch: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    tokens_seen: int = 0
    resumed_from: int | None = None
    runtime: dict[str, Any] = field(default_factory=dict)


class TrainsOn(Protocol):
    """What the loop needs of a student (flywheel.training.students.Student implements it)."""

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]: ...

    def loss(self, model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def tokens(self, batch: dict[str, torch.Tensor]) -> int: ...


def lr_at(step: int, total: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class BatchStream:
    """Micro-batches (row indices for this process) over seeded per-epoch permutations; resumable by position."""

    def __init__(self, n_rows: int, config: TrainConfig, rank: int, world: int) -> None:
        self.n, self.bs, self.rank, self.world = n_rows, config.batch_size, rank, world
        self.per_epoch = math.ceil(n_rows / (self.bs * world))
        self.gen = torch.Generator().manual_seed(config.seed)
        self.epoch, self.epoch_state, self.pos = 0, self.gen.get_state(), 0

    def restore(self, epoch: int, epoch_state: torch.Tensor, pos: int) -> None:
        self.gen.set_state(epoch_state)
        self.epoch, self.epoch_state, self.pos = epoch, epoch_state, pos

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            self.gen.set_state(self.epoch_state)
            perm = torch.randperm(self.n, generator=self.gen)
            chunks = perm.split(self.bs * self.world)
            while self.pos < len(chunks):
                mine = chunks[self.pos][self.rank * self.bs:(self.rank + 1) * self.bs]
                self.pos += 1
                if len(mine):
                    yield mine.tolist()
            self.epoch, self.epoch_state, self.pos = self.epoch + 1, self.gen.get_state(), 0


def _accelerator(rt: Runtime, world: int) -> Any:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    if world == 1:  # several runs in one process (tests, the GPU bench) may differ in precision
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(cpu=rt.device == "cpu", mixed_precision={"bf16": "bf16", "fp16": "fp16"}.get(rt.precision,
                                                                                                     "no"))


def run_loop(config: TrainConfig, model: Any, data: list[dict[str, Any]], out_dir: Path, *, model_id: str,
             student: TrainsOn, progress: bool = True) -> tuple[Any, LoopResult]:
    """Train `model` (the student's) on the training items `data` in place; returns the unwrapped model (on its
    device) and what happened. The student collates items and computes the loss on the model as this run wraps
    it."""
    rank, world = process_rank(), world_size()
    rt = Runtime.detect(config.device, config.precision, config.num_threads, processes=world)
    rt.apply()
    acc = _accelerator(rt, world)
    stream = BatchStream(len(data), config, rank, world)
    steps_per_epoch = math.ceil(stream.per_epoch / config.grad_accum_steps)
    total = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    step, losses, resumed = 0, [], None
    ckpt = out_dir / CHECKPOINT
    if ckpt.is_file():
        state = load_checkpoint(ckpt, model=model, optimizer=opt, generator=stream.gen)
        step, losses, resumed = state["step"], state["losses"], state["step"]
        stream.restore(state["epoch"], state["epoch_state"], state["pos"])
    model, opt = acc.prepare(model, opt)
    model.train()
    log_path = out_dir / TRAIN_LOG
    if acc.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        if resumed is None:
            log_path.write_text("")
    t0, tokens = time.perf_counter(), 0
    batches = iter(stream)
    bar = tqdm(total=total, initial=step, desc=f"train {model_id}", unit="step",
               disable=not progress or not acc.is_main_process)
    while step < total:
        lr = lr_at(step, total, config)
        for g in opt.param_groups:
            g["lr"] = lr
        step_loss, step_tokens = _accumulate(config, acc, model, student, data, batches)
        tokens += step_tokens
        acc.clip_grad_norm_(params, config.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(step_loss)
        step += 1
        bar.update(1)
        if acc.is_main_process:
            with log_path.open("a") as f:
                f.write(json.dumps({"step": step, "loss": step_loss, "lr": lr,
                                    "time_ms": int(time.time() * 1000)}) + "\n")
            if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total:
                _checkpoint(ckpt, acc, model, opt, step, stream, losses)
        if step % 10 == 0 or step == total:
            bar.set_postfix(loss=f"{sum(losses[-10:]) / len(losses[-10:]):.4f}")
    bar.close()
    seconds = time.perf_counter() - t0
    acc.wait_for_everyone()
    if acc.is_main_process and ckpt.is_file():
        ckpt.unlink()  # the finished model replaces it
    return acc.unwrap_model(model), LoopResult(
        total, steps_per_epoch, seconds, losses, tokens * world, resumed,
        {"device": rt.device, "precision": rt.precision, "threads": rt.threads, "processes": world})


def _accumulate(config: TrainConfig, acc: Any, model: Any, student: TrainsOn, data: list[dict[str, Any]],
                batches: Any) -> tuple[float, int]:
    """Forward and backward over `grad_accum_steps` micro-batches; returns the step's loss and its tokens."""
    step_loss, tokens = 0.0, 0
    for _ in range(config.grad_accum_steps):
        batch = student.collate([data[i] for i in next(batches)])
        batch = {k: v.to(acc.device) for k, v in batch.items()}
        tokens += student.tokens(batch)
        with acc.autocast():
            loss = student.loss(model, batch) / config.grad_accum_steps
        acc.backward(loss)
        step_loss += loss.item()
    return step_loss, tokens


def _checkpoint(path: Path, acc: Any, model: Any, opt: Any, step: int, stream: BatchStream,
                losses: list[float]) -> None:
    save_checkpoint(path, model=acc.unwrap_model(model), optimizer=opt.optimizer if hasattr(opt, "optimizer")
                    else opt, step=step, epoch=stream.epoch, generator=stream.gen, losses=losses,
                    extra={"pos": stream.pos, "epoch_state": stream.epoch_state})
