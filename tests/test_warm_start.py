"""Warm start of a transformers student: a child run continues the parent checkpoint (its weights and tokenizer), and
its lineage names it (the n-gram student's warm start: tests/test_ngram_student.py)."""

from __future__ import annotations

import json

import pytest
import torch
from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.registry import records
from flywheel.registry.stages import resolve_init
from flywheel.training.config import CausalConfig, NgramConfig, Seq2SeqConfig
from flywheel.training.data import load_split
from flywheel.training.students.hf import Seq2SeqStudent
from flywheel.training.train import train
from flywheel.training.warm import WarmStartError, warm_student
from tests.support.splits import make_split_dir
from tests.support.tiny_models import split_texts, tiny_t5


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return load_split(make_split_dir(tmp_path_factory.mktemp("splits"), "s-warm", n_base=16, test_size=16))


@pytest.fixture(scope="module")
def base(split, tmp_path_factory):
    return str(tiny_t5(tmp_path_factory.mktemp("bases") / "t5", split_texts(split.train)))


@pytest.fixture(scope="module")
def parent(split, base, tmp_path_factory):
    cfg = Seq2SeqConfig(base_model=base, epochs=6, batch_size=32, lr=3e-3, seed=1, warmup_steps=5)
    return train(cfg, split, tmp_path_factory.mktemp("models") / "m-parent", model_id="m-parent", progress=False)


def test_child_starts_from_the_parents_weights_and_tokenizer(parent, base, split, tmp_path):
    cfg = Seq2SeqConfig(base_model=base, epochs=1, batch_size=32, lr=1e-3, seed=2, warmup_steps=2,
                        init_checkpoint=str(parent.path), parent_model_id=parent.model_id)
    student = warm_student(config=cfg, rows=split.train)
    assert isinstance(student, Seq2SeqStudent) and student.model.training
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    ref = AutoModelForSeq2SeqLM.from_pretrained(parent.path)
    for (name, a), (_, b) in zip(student.model.state_dict().items(), ref.state_dict().items(), strict=True):
        assert torch.equal(a, b), name  # weights equal before the first step
    assert student.tokenizer.get_vocab() == AutoTokenizer.from_pretrained(parent.path).get_vocab()
    child = train(cfg, split, tmp_path / "m-child", model_id="m-child", progress=False)
    scratch = train(cfg.model_copy(update={"init_checkpoint": None, "parent_model_id": None}), split,
                    tmp_path / "m-scratch", model_id="m-scratch", progress=False)
    # The child's first losses are in the parent's final-loss region, far below a fresh model's.
    assert child.lineage["initial_loss"] < 2 * parent.lineage["final_loss"] + 0.1
    assert scratch.lineage["initial_loss"] > 3 * child.lineage["initial_loss"]
    assert child.lineage["init_from"] == "production" and child.lineage["parent_model_id"] == "m-parent"
    assert scratch.lineage["init_from"] == "scratch" and scratch.lineage["parent_model_id"] is None
    card = json.loads((child.path / "flywheel_model.json").read_text())
    assert card["parent_model_id"] == "m-parent" and card["init_from"] == "production"
    assert json.loads((child.path / "tokenizer.json").read_text())["model"]["vocab"] == \
        json.loads((parent.path / "tokenizer.json").read_text())["model"]["vocab"]


def test_incompatible_parent_is_refused(parent, base, tmp_path):
    with pytest.raises(WarmStartError, match="backend"):
        warm_student(config=CausalConfig(base_model=base, init_checkpoint=str(parent.path)), rows=[])
    with pytest.raises(WarmStartError, match="base_model"):
        warm_student(config=Seq2SeqConfig(init_checkpoint=str(parent.path)), rows=[])
    with pytest.raises(WarmStartError, match="not a flywheel checkpoint"):
        warm_student(config=Seq2SeqConfig(base_model=base, init_checkpoint=str(tmp_path)), rows=[])


def test_train_stage_resolves_production_as_the_parent(parent, engine):
    cfg = NgramConfig(init_from="production")
    assert resolve_init(engine, cfg).init_checkpoint is None  # no production model yet: from scratch
    with Session(engine) as s, s.begin():
        records.insert_model(s, model_id=parent.model_id, path=parent.path, lineage=parent.lineage,
                             config={}, metrics={}, training_seconds=1.0)
    with engine.begin() as conn:
        conn.execute(text("UPDATE models SET status = 'production' WHERE id = :m"), {"m": parent.model_id})
    got = resolve_init(engine, cfg)
    assert got.parent_model_id == parent.model_id and got.init_checkpoint == str(parent.path.resolve())
    assert resolve_init(engine, NgramConfig()).init_checkpoint is None  # scratch stays scratch
