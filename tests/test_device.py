"""Device, precision and thread decisions (what a GPU box would get, decided on this CPU box), and a checkpoint that
restores a run exactly."""

from __future__ import annotations

import pytest
import torch

from flywheel.training.device import (
    Runtime,
    choose_device,
    choose_precision,
    choose_threads,
    load_checkpoint,
    save_checkpoint,
)


def test_device_choice() -> None:
    assert choose_device("auto", cuda_available=True) == "cuda"
    assert choose_device("auto", cuda_available=False) == "cpu"
    assert choose_device("cpu", cuda_available=True) == "cpu"
    with pytest.raises(ValueError, match="no CUDA"):
        choose_device("cuda", cuda_available=False)


def test_precision_choice() -> None:
    assert choose_precision("auto", device="cuda", bf16_supported=True) == "bf16"    # Ampere and newer
    assert choose_precision("auto", device="cuda", bf16_supported=False) == "fp16"   # T4/V100: fp16 + scaler
    assert choose_precision("fp32", device="cuda", bf16_supported=True) == "fp32"
    assert choose_precision("auto", device="cpu", bf16_supported=False) == "fp32"
    with pytest.raises(ValueError, match="bf16"):
        choose_precision("bf16", device="cuda", bf16_supported=False)
    with pytest.raises(ValueError, match="CUDA"):
        choose_precision("fp16", device="cpu", bf16_supported=False)
    assert Runtime("cuda", "bf16", 4).dtype == torch.bfloat16 and Runtime("cpu", "fp32", 1).dtype is None


def test_thread_choice_follows_the_machine() -> None:
    assert choose_threads(None, cpus=32) == 32                 # no cap at 2
    assert choose_threads(None, cpus=32, processes=4) == 8     # shared among data-parallel processes
    assert choose_threads(None, cpus=2) == 1                   # small shared box: one thread (measured)
    assert choose_threads(3, cpus=64) == 3                     # explicit wins
    rt = Runtime.detect()
    assert rt.device == ("cuda" if torch.cuda.is_available() else "cpu") and rt.threads >= 1


def _model_and_opt(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    return model, torch.optim.AdamW(model.parameters(), lr=0.05)


def _steps(model, opt, gen, n: int) -> None:
    for _ in range(n):
        x = torch.randn(16, 4, generator=gen)
        loss = (model(x) - x.sum(dim=1, keepdim=True)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_checkpoint_resume_is_exact(tmp_path) -> None:
    model, opt = _model_and_opt(0)
    gen = torch.Generator().manual_seed(1)
    _steps(model, opt, gen, 10)
    straight = [p.detach().clone() for p in model.parameters()]

    model, opt = _model_and_opt(0)
    gen = torch.Generator().manual_seed(1)
    _steps(model, opt, gen, 4)
    path = save_checkpoint(tmp_path / "resume.pt", model=model, optimizer=opt, step=4, epoch=0, generator=gen,
                           losses=[1.0, 0.5])
    model, opt = _model_and_opt(99)  # a fresh process: different init, state comes from the checkpoint
    gen = torch.Generator().manual_seed(12345)
    state = load_checkpoint(path, model=model, optimizer=opt, generator=gen)
    assert state == {"step": 4, "epoch": 0, "losses": [1.0, 0.5]}
    _steps(model, opt, gen, 6)
    assert all(torch.equal(a, b) for a, b in zip(straight, model.parameters(), strict=True))


def test_bench_train_gpu_says_why_without_a_gpu() -> None:
    from typer.testing import CliRunner

    from flywheel.cli.main import app

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: run scripts/gpu_check.sh instead")
    res = CliRunner().invoke(app, ["bench", "train-gpu", "--split", "sp-none"])
    assert res.exit_code != 0 and "no CUDA GPU" in res.output
