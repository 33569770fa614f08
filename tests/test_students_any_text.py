"""No text breaks a student (issue 28, item 7): every family answers emoji, any script, digits, punctuation, an empty
or whitespace intent, control characters, a lone surrogate and 4 KiB of Unicode noise with one contract-valid answer
per intent (a tool's value or null), singly and batched, through the predictor the assistant uses."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.inference.predictor import load_predictor
from flywheel.training.config import CausalConfig, EncoderConfig, NgramConfig, Seq2SeqConfig
from flywheel.training.data import load_split
from flywheel.training.train import train
from tests.support.splits import make_split_dir
from tests.support.tiny_models import split_texts, tiny_llama, tiny_t5

CONTRACTS = load_tool_contracts()


def _noise(n_chars: int, seed: int) -> str:
    """Random code points from every plane in use (emoji, CJK, combining marks, RTL, controls), no surrogates."""
    rng = random.Random(seed)
    out: list[str] = []
    while len("".join(out).encode("utf-8")) < n_chars:
        cp = rng.choice([rng.randint(0x20, 0x7E), rng.randint(0x80, 0x2FFF), rng.randint(0x3000, 0xD7FF),
                         rng.randint(0xE000, 0xFFFD), rng.randint(0x1F300, 0x1FAFF), rng.randint(0x0, 0x1F),
                         rng.randint(0x300, 0x36F), rng.randint(0x590, 0x6FF)])
        out.append(chr(cp))
    return "".join(out)


ANY_TEXT = ["🌅🌅", "!!!", "東京の夕焼けみたいに", "ทำให้ดูอบอุ่น", "42", "", "   ", "\x00\x07\x1b[31m", "a\ud800b",
            "🏳️‍🌈 ١٢٣ مرحبا", "golden hour " * 300, _noise(4096, 0), _noise(4096, 1), "golden hour"]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return load_split(make_split_dir(tmp_path_factory.mktemp("splits"), "s-any", n_base=12, test_size=12))


def _config(family: str, split, tmp_path_factory):
    if family == "ngram":
        return NgramConfig(epochs=2, evaluate_test=False)
    if family == "encoder":
        return EncoderConfig(epochs=2, evaluate_test=False)
    bases = tmp_path_factory.mktemp("bases")
    if family == "seq2seq":  # a short answer budget: garbage in may make a random model ramble
        return Seq2SeqConfig(base_model=str(tiny_t5(bases / "t5", split_texts(split.train))), max_steps=2,
                             max_target_tokens=12, evaluate_test=False)
    return CausalConfig(base_model=str(tiny_llama(bases / "llama", split_texts(split.train))), max_steps=2,
                        max_target_tokens=12, evaluate_test=False)


@pytest.fixture(scope="module", params=["ngram", "encoder", "seq2seq", "causal"])
def predictor(request, split, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / request.param
    train(_config(request.param, split, tmp_path_factory), split, out, model_id=f"m-{request.param}", progress=False)
    return load_predictor(out)


def _assert_valid(outputs: list[dict], n: int) -> None:
    assert len(outputs) == n
    for out in outputs:
        assert set(out) == set(TOOLS)
        for tool in TOOLS:
            assert out[tool] is None or CONTRACTS.valid(tool, out[tool]), (tool, out[tool])


def test_every_family_answers_any_text(predictor) -> None:
    _assert_valid(predictor.predict(ANY_TEXT), len(ANY_TEXT))
    _assert_valid([predictor.predict_one(t) for t in ANY_TEXT], len(ANY_TEXT))
    _assert_valid(predictor.predict([]), 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=4))
def test_every_family_answers_generated_text(predictor, texts) -> None:
    _assert_valid(predictor.predict(texts), len(texts))
