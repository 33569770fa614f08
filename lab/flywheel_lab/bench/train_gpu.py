"""`flywheel bench train-gpu`: a pretrained student fine-tuned on one GPU through the platform's training entry,
beside the default CPU student (the n-gram slot student) on the same split.

Prints wall time, tokens/s, peak GPU memory, the RQ1 table (All / r_3 / r_5) of both students and the GPU student's
p50/p95 single-request latency. Aims (issue 13): RQ1 overall above the tiny student's and above the paper's
FlanT5-base (.72), in under ten minutes end to end on one NVIDIA GPU.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from flywheel.errors import UsageError
from flywheel.registry.stages import run_training
from flywheel.settings import Settings
from flywheel.training.config import PRESETS, TrainConfig, train_config_from_file

PAPER_FLAN_T5_BASE = 0.72
SUBSETS = ("All", "r_3", "r_5")


@dataclass
class StudentRun:
    name: str
    model_id: str
    wall_s: float
    training_s: float
    tokens_per_s: float | None
    peak_gpu_gb: float | None
    rq1: dict[str, float | None]
    latency_ms: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _rq1(metrics: dict[str, Any]) -> dict[str, float | None]:
    return {name: (metrics.get(name) or {}).get("overall") for name in SUBSETS}


def _latency(model_dir: Path, intents: list[str], device: str) -> tuple[float, float]:
    from flywheel.inference.predictor import load_predictor

    predictor = load_predictor(model_dir, batch_size=1)
    predictor.model.to(device)
    predictor.predict_one(intents[0])  # warm-up (CUDA context, kernels)
    times = []
    for intent in intents:
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        predictor.predict_one(intent)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), _pct(times, 0.95)


def train_one(settings: Settings, split_id: str, name: str, config: TrainConfig, *, register: bool,
              latency_intents: list[str] | None = None) -> StudentRun:
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = run_training(settings, split_id, config, register=register, progress=True)
    wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    tokens = res.lineage.get("tokens_seen")
    run = StudentRun(name, res.model_id, wall, res.training_seconds,
                     tokens / res.training_seconds if tokens and res.training_seconds else None, peak,
                     _rq1(res.metrics))
    if latency_intents:
        run.latency_ms = _latency(res.path, latency_intents, "cuda" if cuda else "cpu")
    return run


def bench_train_gpu(settings: Settings, split_id: str, *, config: Path | None = None, baseline: Path | None = None,
                    requests: int = 200, register: bool = False, allow_cpu: bool = False) -> list[StudentRun]:
    """Train the GPU student (default preset smollm2-full) and the CPU baseline (default: the n-gram student) on
    `split_id`."""
    if not torch.cuda.is_available() and not allow_cpu:
        raise UsageError("no CUDA GPU visible to torch (nvidia-smi, the CUDA torch wheel); --allow-cpu to try anyway")
    from flywheel.datasets.files import load_split, resolve_split_dir

    test = load_split(resolve_split_dir(settings, split_id)).test
    intents = [r["intent"] for r in test[:requests]]
    gpu_cfg = train_config_from_file(config or PRESETS / "smollm2-full.json")
    tiny_cfg = train_config_from_file(baseline or PRESETS / "ngram-cpu.json")
    lora = "LoRA" if getattr(gpu_cfg, "lora", None) else "full"
    return [train_one(settings, split_id, f"{getattr(gpu_cfg, 'base_model', gpu_cfg.backend)} ({lora})",
                      gpu_cfg, register=register, latency_intents=intents),
            train_one(settings, split_id, f"{tiny_cfg.backend} (CPU baseline)", tiny_cfg, register=register)]


def print_bench(runs: list[StudentRun]) -> None:
    from rich.console import Console
    from rich.table import Table

    from flywheel.textable import print_table

    console = Console()
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    t = Table(title=f"bench train-gpu on {dev} (paper FlanT5-base overall: {PAPER_FLAN_T5_BASE:.2f})")
    for col in ("student", "wall s", "train s", "tokens/s", "peak GPU GB", *SUBSETS, "p50 ms", "p95 ms"):
        t.add_column(col, justify="right")
    f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
    for r in runs:
        lat = r.latency_ms or (None, None)
        t.add_row(r.name, f(r.wall_s, ".0f"), f(r.training_s, ".0f"), f(r.tokens_per_s, ",.0f"),
                  f(r.peak_gpu_gb, ".2f"), *(f(r.rq1[s], ".3f") for s in SUBSETS), f(lat[0], ".1f"),
                  f(lat[1], ".1f"))
    print_table(console, t)
