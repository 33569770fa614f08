"""Where and how a training run computes: device, precision, thread count, and resumable checkpoints.

Pure decisions (``choose_device``, ``choose_precision``, ``choose_threads``) take what the machine offers as
arguments, so they are tested on a CPU-only box; ``Runtime.detect`` asks torch. On CUDA: bf16 autocast where the GPU
supports it (Ampere and newer), else fp16 autocast with a gradient scaler; TF32 matmuls on. On CPU: fp32, so the same
config + split + seed give the same weights.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from flywheel.runtime.cpus import usable_cpus

DeviceChoice = Literal["auto", "cpu", "cuda"]
PrecisionChoice = Literal["auto", "fp32", "bf16", "fp16"]
CHECKPOINT = "resume.pt"


def choose_device(requested: str, *, cuda_available: bool) -> str:
    if requested == "cuda" and not cuda_available:
        raise ValueError("device 'cuda' requested but torch sees no CUDA GPU")
    if requested == "auto":
        return "cuda" if cuda_available else "cpu"
    return requested


def choose_precision(requested: str, *, device: str, bf16_supported: bool) -> str:
    """fp32 on CPU; on CUDA bf16 where supported, else fp16 (which needs a gradient scaler)."""
    if device != "cuda":
        if requested in ("bf16", "fp16"):
            raise ValueError(f"precision {requested!r} needs a CUDA device (training on {device})")
        return "fp32"
    if requested == "auto":
        return "bf16" if bf16_supported else "fp16"
    if requested == "bf16" and not bf16_supported:
        raise ValueError("this GPU does not support bf16; use precision 'fp16' or 'auto'")
    return requested


def choose_threads(requested: int | None, *, cpus: int, processes: int = 1) -> int:
    """Torch intra-op threads: the configured number, else the machine's CPUs shared among the training processes.

    On a machine with 2 CPUs or fewer the default is 1: there, OpenMP spin-waiting made 2 threads ~10x slower per
    step for small models (measured on a shared 2-core box)."""
    if requested is not None:
        return requested
    share = max(1, cpus // max(1, processes))
    return 1 if cpus <= 2 else share


@dataclass(frozen=True)
class Runtime:
    device: str
    precision: str
    threads: int

    @classmethod
    def detect(cls, device: str = "auto", precision: str = "auto", threads: int | None = None,
               processes: int = 1) -> Runtime:
        cuda = torch.cuda.is_available()
        dev = choose_device(device, cuda_available=cuda)
        bf16 = dev == "cuda" and torch.cuda.is_bf16_supported()
        return cls(dev, choose_precision(precision, device=dev, bf16_supported=bf16),
                   choose_threads(threads, cpus=usable_cpus(), processes=processes))

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (None: plain fp32)."""
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def apply(self) -> None:
        torch.set_num_threads(self.threads)
        if self.device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    def autocast(self) -> Any:
        if self.dtype is None:
            return torch.autocast("cpu", enabled=False)
        return torch.autocast("cuda", dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler | None:
        return torch.amp.GradScaler("cuda") if self.precision == "fp16" else None


def save_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    epoch: int, generator: torch.Generator, losses: list[float],
                    scaler: torch.amp.GradScaler | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Everything needed to continue a run bit-for-bit on CPU: trainable weights, optimizer, step, the data-order
    generator (as it was at the start of `epoch`), the loss history, the RNG states. Written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    trainable = {k: v for k, v in model.state_dict().items()
                 if k in {n for n, p in model.named_parameters() if p.requires_grad}}
    state = {"model": trainable, "optimizer": optimizer.state_dict(), "step": step, "epoch": epoch,
             "generator": generator.get_state(), "losses": losses, "torch_rng": torch.get_rng_state(),
             "python_rng": random.getstate(), "scaler": scaler.state_dict() if scaler is not None else None,
             "extra": extra or {}}
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, scaler: torch.amp.GradScaler | None = None) -> dict[str, Any]:
    """Restore a run saved by :func:`save_checkpoint`; returns {step, epoch, losses} and its `extra` entries."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"], strict=False)
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return {"step": state["step"], "epoch": state["epoch"], "losses": state["losses"], **state.get("extra", {})}
