"""Predictor for students trained with the compact target encoding (same interface as ``Predictor``).

Generation goes through ``CompactT5Decoder`` (grammar-masked, so every output is a legal token sequence); the raw text
kept per tool is the space-joined token sequence (``exposure=0 contrast=20 ...``, ``vivid_Film intensity=60``,
``null``). A sequence that still fails to decode (e.g. a filter that left the catalogue since training) counts as
invalid -> null, as in ``Predictor``; ``decode`` checks everything the JSON Schema contract does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from flywheel.contracts import TOOLS
from flywheel.inference.decoder import CompactT5Decoder
from flywheel.inference.predictor import Predictor
from flywheel.training.encoding import EncodingError, TargetVocab, decode, to_text


class CompactPredictor(Predictor):
    def __init__(self, model: Any, tokenizer: Any, vocab: TargetVocab, *, null_bias: dict[str, float] | None = None,
                 **kwargs: Any) -> None:
        kwargs.pop("constrained", None)  # the compact decoder is always grammar-masked
        super().__init__(model, tokenizer, "seq2seq", **kwargs)
        self.constrained = True  # recorded with evaluations: every output here is grammar-masked
        self.vocab = vocab
        self.null_bias = dict(null_bias or {})
        self.decoder = CompactT5Decoder(self.model, vocab, TOOLS, null_bias=self.null_bias)
        self.filter_names = frozenset(self.contracts.filter_names)

    def generate_raw(self, sources: list[str], progress: bool = False, tools: list[str] | None = None) -> list[str]:
        if tools is None:
            raise ValueError("the compact decoder needs the tool of every prompt")
        return super().generate_raw(sources, progress=progress, tools=tools)

    def _generate(self, sources: list[str], tools: list[str]) -> list[str]:
        """One length-sorted batch through the grammar-masked decoder (the base class batches and reorders)."""
        enc = self.tokenizer(sources, return_tensors="pt", padding=True, truncation=True, max_length=128)
        rows = self.decoder.decode(enc["input_ids"], enc["attention_mask"], tools)
        return [to_text([self.vocab.tokens[j] for j in row]) for row in rows]

    def parse(self, tool: str, text: str) -> tuple[Any, bool]:
        try:  # decode enforces the whole contract (keys, ranges, catalogue; tests/test_compact_encoding)
            return decode(tool, text.split(), self.filter_names), True
        except EncodingError:
            return None, False


def load_compact_predictor(model_dir: str | Path, card: dict[str, Any], batch_size: int = 128,
                           num_threads: int | None = None) -> CompactPredictor:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    d = Path(model_dir)
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForSeq2SeqLM.from_pretrained(d, dtype=torch.float32)
    return CompactPredictor(model, tok, TargetVocab.load(d), model_name=card.get("model_name", "student-seq2seq"),
                            model_version=card.get("model_version", d.name), batch_size=batch_size,
                            null_bias=card.get("null_bias"),
                            num_threads=num_threads, max_new_tokens=card.get("max_new_tokens", 16))

