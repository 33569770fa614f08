"""The training loop's GPU-era features, on CPU: an interrupted run resumes to the same weights, gradient
accumulation takes the bigger batch's rows, a per-step loss log, and the entry under `accelerate launch`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM

from flywheel.datasets.files import load_split
from flywheel.training import loop
from flywheel.training.config import NgramConfig, Seq2SeqConfig
from flywheel.training.device import CHECKPOINT
from flywheel.training.students.ngram import WEIGHTS_FILE
from flywheel.training.train import train
from tests.support.splits import make_split_dir
from tests.support.tiny_models import split_texts, tiny_t5


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory):
    return make_split_dir(tmp_path_factory.mktemp("splits"), "s-loop", n_base=16, test_size=4)


@pytest.fixture(scope="module")
def t5_base(split_dir, tmp_path_factory):
    return str(tiny_t5(tmp_path_factory.mktemp("bases") / "t5", split_texts(load_split(split_dir).train)))


def _weights(path) -> dict[str, torch.Tensor]:
    if (path / WEIGHTS_FILE).is_file():
        return load_file(str(path / WEIGHTS_FILE))
    return AutoModelForSeq2SeqLM.from_pretrained(path).state_dict()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("family", ["seq2seq", "ngram"])  # the n-gram student's dropout needs the RNG state back
def test_interrupted_run_resumes_to_the_same_weights(family, split_dir, t5_base, tmp_path, monkeypatch) -> None:
    split = load_split(split_dir)
    loop_cfg = {"max_steps": 6, "batch_size": 8, "warmup_steps": 2, "checkpoint_every": 3, "evaluate_test": False}
    cfg = (Seq2SeqConfig(base_model=t5_base, **loop_cfg) if family == "seq2seq" else NgramConfig(**loop_cfg))
    straight = train(cfg, split, tmp_path / "straight", model_id="m-a", progress=False)
    steps = [json.loads(x) for x in (straight.path / loop.TRAIN_LOG).read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5, 6] and all(s["loss"] > 0 for s in steps)
    assert not (straight.path / CHECKPOINT).exists()  # the finished model replaces the checkpoint

    real = loop.lr_at

    def crash_at_step_5(step, total, config):
        if step == 4:
            raise KeyboardInterrupt("simulated preemption")
        return real(step, total, config)

    monkeypatch.setattr(loop, "lr_at", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, split, tmp_path / "resumed", model_id="m-a", progress=False)
    assert (tmp_path / "resumed" / CHECKPOINT).is_file()
    monkeypatch.setattr(loop, "lr_at", real)
    resumed = train(cfg, split, tmp_path / "resumed", model_id="m-a", progress=False)
    assert resumed.lineage["resumed_from_step"] == 3 and resumed.lineage["steps"] == 6
    assert _same(_weights(straight.path), _weights(resumed.path))
    log = [json.loads(x)["step"] for x in (resumed.path / loop.TRAIN_LOG).read_text().splitlines()]
    assert log[-3:] == [4, 5, 6]


def test_gradient_accumulation_takes_the_bigger_batch(split_dir, t5_base, tmp_path) -> None:
    split = load_split(split_dir)
    # within one epoch
    base = {"base_model": t5_base, "max_steps": 2, "warmup_steps": 1, "evaluate_test": False}
    big = train(Seq2SeqConfig(batch_size=16, **base), split, tmp_path / "big", model_id="m-b", progress=False)
    acc = train(Seq2SeqConfig(batch_size=8, grad_accum_steps=2, **base), split, tmp_path / "acc", model_id="m-c",
                progress=False)
    assert big.lineage["tokens_seen"] == acc.lineage["tokens_seen"] > 0
    assert acc.lineage["runtime"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    # Same rows per optimizer step: the first step's loss (before any update) is the same mean, up to weighting
    # by tokens per micro-batch. (Weights are not compared: Adam's first steps amplify such rounding.)
    first = [json.loads((r.path / loop.TRAIN_LOG).read_text().splitlines()[0])["loss"] for r in (big, acc)]
    assert first[1] == pytest.approx(first[0], rel=0.03)


def test_entry_under_accelerate_launch(split_dir, tmp_path) -> None:
    """The launchers' multi-GPU path (`accelerate launch ... -m flywheel.training`), with one CPU process."""
    cfg = NgramConfig(max_steps=2, batch_size=8, warmup_steps=1, evaluate_test=False)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1", "--num_machines",
           "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "flywheel.training",
           "--split", "s-loop", "--split-dir", str(split_dir), "--model-id", "m-acc",
           "--config-json", cfg.model_dump_json(), "--no-register"]
    env = {"FLYWHEEL_ARTIFACTS_DIR": str(tmp_path / "art"), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": ":".join(p for p in sys.path if p)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([x for x in proc.stdout.splitlines() if x.startswith("{")][-1])
    assert out["model_id"] == "m-acc"
    lineage = json.loads((tmp_path / "art" / "models" / "m-acc" / "lineage.json").read_text())
    assert lineage["runtime"]["processes"] == 1 and lineage["steps"] == 2
