"""Training and serving glue for the compact target encoding (``flywheel.training.encoding``).

The source tokenizer is trained on the prompts only; the target vocabulary (``null``, ``_``, every value, every
filter name) is appended after it, one token each, so the model's vocabulary is ``len(tokenizer) + len(targets)``.
Labels are the target ids without an end token: the grammar knows when an output is complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase, T5ForConditionalGeneration

from flywheel.contracts import load_tool_contracts
from flywheel.training.config import TINY, TrainConfig
from flywheel.training.data import Example
from flywheel.training.encoding import TargetVocab, encode
from flywheel.training.tiny import t5_config, train_tokenizer


def build(config: TrainConfig, train: list[Example]) -> tuple[Any, PreTrainedTokenizerBase, TargetVocab]:
    """Seq2seq model + source tokenizer + target vocabulary, ready for training."""
    if config.backend != "seq2seq":
        raise ValueError("the compact target encoding needs backend='seq2seq'")
    filters = load_tool_contracts().filter_names
    model: Any
    tok: Any
    if config.base_model == TINY:
        tok = train_tokenizer([e.source for e in train], config.tiny.vocab_size, add_eos=True)
        vocab = TargetVocab.build(filters, offset=len(tok))
        model = T5ForConditionalGeneration(t5_config(config.tiny, len(tok) + len(vocab)))
    else:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(config.base_model)
        model = AutoModelForSeq2SeqLM.from_pretrained(config.base_model)
        # new rows for the target tokens, after every row the pretrained model already has
        offset = max(len(tok), model.get_input_embeddings().weight.shape[0])
        vocab = TargetVocab.build(filters, offset=offset)
        model.resize_token_embeddings(offset + len(vocab))
    return model, tok, vocab


def encode_examples(config: TrainConfig, tok: PreTrainedTokenizerBase, vocab: TargetVocab, exs: list[Example]
                    ) -> tuple[list[dict], int]:
    """Token ids per example (labels in the target vocabulary); targets never need truncation (<= 14 tokens)."""
    src = tok([e.source for e in exs], truncation=True, max_length=config.max_source_tokens)["input_ids"]
    out = []
    for s, e in zip(src, exs, strict=True):
        out.append({"input_ids": s, "labels": vocab.ids(encode(e.tool, json.loads(e.target)))})
    return out, 0


def save(out_dir: Path, vocab: TargetVocab) -> None:
    vocab.save(out_dir)
