"""The training config: one model per student family behind ``backend``; the shipped presets and configs written
before the families were split (every key of the old single config, as stored next to production checkpoints) still
load; what was retired is refused with the reason."""

from __future__ import annotations

import json

import pytest

from flywheel.training.config import (
    PRESETS,
    CausalConfig,
    NgramConfig,
    Seq2SeqConfig,
    parse_train_config,
    train_config_from_file,
    train_config_from_json,
)
from flywheel.training.students import FAMILIES, student_family

# `train_config.json` of an n-gram checkpoint written before the split (the old single TrainConfig, all its keys).
LEGACY_NGRAM = {
    "backend": "ngram", "base_model": "tiny",
    "tiny": {"vocab_size": 1024, "d_model": 128, "d_ff": 384, "num_layers": 2, "num_decoder_layers": 2,
             "num_heads": 4, "dropout": 0.0},
    "ngram": {"hidden": 256, "dropout": 0.3, "char_ngrams": 3, "word_bigrams": False}, "lora": None,
    "epochs": 60.0, "max_steps": None, "batch_size": 64, "lr": 0.003, "weight_decay": 0.01, "warmup_steps": 50,
    "grad_clip": 1.0, "seed": 3, "max_source_tokens": 48, "max_target_tokens": 96, "max_train_rows": None,
    "augment_copies": 0, "support_repeat_max": 1, "init_from": "scratch", "init_checkpoint": None,
    "parent_model_id": None, "target_encoding": "slots", "constrained_decoding": True, "grammar_loss": True,
    "null_bias": {"adjust": -1.0, "selective_adjust": -1.0}, "eval_batch_size": 128, "evaluate_test": True,
    "max_eval_rows": None, "num_threads": None, "device": "auto", "precision": "auto", "grad_accum_steps": 1,
    "checkpoint_every": None,
}


def test_the_default_is_the_ngram_student() -> None:
    cfg = parse_train_config({})
    assert isinstance(cfg, NgramConfig) and cfg.epochs == 60 and cfg.ngram.hidden == 256
    assert parse_train_config({"backend": None, "epochs": 5}).epochs == 5
    assert parse_train_config({"backend": "seq2seq"}).epochs == 10
    assert sorted(FAMILIES) == ["causal", "encoder", "ngram", "seq2seq"]
    assert student_family("ngram").family == "ngram"
    with pytest.raises(ValueError, match="unknown student family 'tiny'"):
        student_family("tiny")


def test_a_legacy_checkpoint_config_loads_as_it_was(tmp_path) -> None:
    path = tmp_path / "train_config.json"
    path.write_text(json.dumps(LEGACY_NGRAM))
    cfg = train_config_from_file(path)
    assert isinstance(cfg, NgramConfig) and cfg.seed == 3 and cfg.epochs == 60 and cfg.lr == 0.003
    # Written again, it is the n-gram student's own config and loads to the same thing.
    assert train_config_from_json(cfg.model_dump_json()) == cfg
    legacy_hf = {**LEGACY_NGRAM, "backend": "seq2seq", "base_model": "google/flan-t5-base", "target_encoding": "json"}
    hf = parse_train_config(legacy_hf)
    assert isinstance(hf, Seq2SeqConfig) and hf.max_target_tokens == 96


@pytest.mark.parametrize("name", sorted(p.name for p in PRESETS.glob("*.json")))
def test_every_preset_loads(name) -> None:
    cfg = train_config_from_file(PRESETS / name)
    assert cfg.backend in FAMILIES


@pytest.mark.parametrize(("data", "match"), [
    ({"backend": "seq2seq", "base_model": "tiny"}, "retired"),
    ({"backend": "causal", "target_encoding": "compact"}, "retired"),
    ({"base_model": "google/flan-t5-base"}, "trains from scratch"),
    ({"target_encoding": "json"}, "target_encoding"),
    ({"backend": "seq2seq", "lora": {"r": 4}}, "lora is only supported"),
    ({"backend": "seq2seq", "base_model": "smollm2"}, "decoder-only"),
    ({"epoch": 3}, "epoch"),
    ({"backend": "causal", "ngram": {"hidden": 4}, "hidden": 3}, "hidden"),
    ({"epochs": 0}, "epochs must be > 0"),
    ({"backend": "rnn"}, "rnn"),
])
def test_bad_or_retired_settings_are_refused(data, match) -> None:
    with pytest.raises(ValueError, match=match):
        parse_train_config(data)


def test_files(tmp_path) -> None:
    good = tmp_path / "c.yaml"
    good.write_text("backend: causal\nmax_steps: 3\nlora: {r: 4}\n")
    cfg = train_config_from_file(good)
    assert isinstance(cfg, CausalConfig) and cfg.max_steps == 3 and cfg.lora is not None and cfg.lora.r == 4
    with pytest.raises(FileNotFoundError):
        train_config_from_file(tmp_path / "missing.json")
    listed = tmp_path / "l.json"
    listed.write_text("[1]")
    with pytest.raises(ValueError, match="mapping"):
        train_config_from_file(listed)
