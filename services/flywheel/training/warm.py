"""Warm start: continue fine-tuning from a parent checkpoint (the production model) instead of a fresh model.

The parent's tokenizer (and, for the compact target encoding, its target vocabulary) is reused as it is: the tiny
model's tokenizer is trained on its own split's text, so a tokenizer retrained on the new split would give the parent's
embedding rows different meanings. Text of the new split that the parent's tokenizer covers badly still trains; it
just costs more tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedTokenizerBase

from flywheel.training.config import TrainConfig

PARENT_CONFIG = "train_config.json"


class WarmStartError(ValueError):
    """The parent checkpoint cannot be continued with this config (the message says why)."""


def _check_compatible(config: TrainConfig, parent: dict[str, Any], path: Path) -> None:
    for key in ("backend", "base_model", "target_encoding"):
        mine, theirs = getattr(config, key, None), parent.get(key)
        if theirs is not None and mine is not None and mine != theirs:
            raise WarmStartError(f"cannot warm-start from {path}: its {key} is {theirs!r}, this run's is {mine!r}")


def _parent_path(config: TrainConfig) -> Path:
    """``config.init_checkpoint``, checked: a flywheel checkpoint whose backend, base model and encoding match."""
    if not config.init_checkpoint:
        raise WarmStartError("a warm start needs config.init_checkpoint")
    path = Path(config.init_checkpoint)
    cfg_file = path / PARENT_CONFIG
    if not cfg_file.is_file():
        raise WarmStartError(f"cannot warm-start: {path} is not a flywheel checkpoint (no {PARENT_CONFIG})")
    _check_compatible(config, json.loads(cfg_file.read_text()), path)
    return path


def load_parent(config: TrainConfig) -> tuple[Any, PreTrainedTokenizerBase, Any]:
    """(model, tokenizer, target vocabulary or None) of ``config.init_checkpoint``, in training mode."""
    path = _parent_path(config)
    tok = AutoTokenizer.from_pretrained(path)
    auto = AutoModelForSeq2SeqLM if config.backend == "seq2seq" else AutoModelForCausalLM
    model = auto.from_pretrained(path, dtype=torch.float32)
    vocab = None
    if getattr(config, "target_encoding", "json") == "compact":
        from flywheel.training.encoding import TargetVocab  # type: ignore[import-not-found,unused-ignore]

        vocab = TargetVocab.load(path)
    model.train()
    return model, tok, vocab


def load_parent_ngram(config: TrainConfig, texts: list[str]) -> Any:
    """The n-gram student of ``config.init_checkpoint`` (a ``flywheel.training.ngram.Bundle``), in training mode, its
    features extended by the words of ``texts`` it has not seen (zero rows: no effect until trained)."""
    from flywheel.training.ngram import Bundle

    path = _parent_path(config)
    bundle = Bundle.load(path)
    bundle.featurizer.extend(texts)
    bundle.model.grow(len(bundle.featurizer.names))
    bundle.model.train()
    return bundle


def record_parent(out_dir: Path, config: TrainConfig) -> None:
    """Write how the model started (scratch, or the parent it continued) into its model card."""
    from flywheel.contracts.student import MODEL_CARD

    card_path = out_dir / MODEL_CARD
    card = json.loads(card_path.read_text())
    card["init_from"] = "production" if config.init_checkpoint else "scratch"
    card["parent_model_id"] = config.parent_model_id
    card_path.write_text(json.dumps(card, indent=2))
