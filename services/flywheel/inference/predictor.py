"""Student predictor: batched and single-request generation with a contract check of every output.

An output that is not valid JSON or breaks its tool's schema counts as ``null`` (tool not used) and is counted in
``Predictor.counts``; the raw text is kept in :class:`Prediction` so nothing the model said is lost.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from flywheel.contracts import TOOLS, load_tool_contracts, normalize_intent
from flywheel.contracts.student import MODEL_CARD, SEPARATOR, prompt


@dataclass
class Prediction:
    intent: str
    outputs: dict[str, Any]
    raw: dict[str, str]
    invalid: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """Predictions-file row (docs/domain.md#d11-evaluation-input-rules). An invalid output is written as its raw
        text, so evaluation still
        sees (and counts) it as invalid."""
        row: dict[str, Any] = {"intent": self.intent}
        for t in TOOLS:
            row[t] = self.raw[t] if t in self.invalid else self.outputs[t]
        return row


class Predictor:
    def __init__(self, model: Any, tokenizer: Any, backend: str, *, model_name: str, model_version: str,
                 max_new_tokens: int = 160, batch_size: int = 128, num_threads: int | None = None,
                 constrained: bool = False) -> None:
        if backend not in ("ngram", "seq2seq", "causal"):
            raise ValueError(f"unknown backend {backend!r}")
        self.model = model.eval()
        cfg: Any = getattr(model, "config", None)
        if cfg is not None and getattr(cfg, "model_type", "") == "t5" and cfg.num_decoder_layers > cfg.num_layers:
            # transformers sizes T5's generation cache by num_layers (the encoder's depth): a deeper decoder
            # overflows it (IndexError). Only the in-memory config changes; weights are saved before this.
            cfg.num_layers = cfg.num_decoder_layers
        self.tokenizer = tokenizer
        self.backend = backend
        self.model_name = model_name
        self.model_version = model_version
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.constrained = constrained
        self.contracts = load_tool_contracts()
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        if num_threads:
            torch.set_num_threads(num_threads)
        if backend == "causal":
            tokenizer.padding_side = "left"  # generation continues right after each prompt

    # -- generation -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _generate(self, sources: list[str], tools: list[str]) -> list[str]:
        tok = self.tokenizer
        if self.backend == "seq2seq":
            enc = tok(sources, return_tensors="pt", padding=True, truncation=True, max_length=128)
        else:
            enc = tok([s + SEPARATOR for s in sources], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(self.model.device)  # a model trained on a GPU is scored there before it is saved
        extra: dict[str, Any] = {}
        if self.constrained:
            from transformers import LogitsProcessorList

            from flywheel.inference.constrained import GrammarProcessor

            start = 0 if self.backend == "seq2seq" else enc["input_ids"].shape[1]
            extra["logits_processor"] = LogitsProcessorList([GrammarProcessor(tok, tools, prompt_len=start)])
        out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1,
                                  pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **extra)
        if self.backend == "causal":
            out = out[:, enc["input_ids"].shape[1]:]
        return [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True)]

    def generate_raw(self, sources: list[str], progress: bool = False, tools: list[str] | None = None) -> list[str]:
        """Raw texts for prompts, batched; prompts are grouped by length (less padding) and put back in order."""
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        texts: list[str] = [""] * len(sources)
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        it: Any = batches
        if progress:
            from tqdm import tqdm

            it = tqdm(batches, desc="generate", unit="batch")
        with self._lock:
            for b in it:
                tb = [tools[i] if tools else "" for i in b]
                for i, text in zip(b, self._generate([sources[i] for i in b], tb), strict=True):
                    texts[i] = text
        return texts

    def predict_detailed(self, intents: list[str], progress: bool = False) -> list[Prediction]:
        norm = [normalize_intent(i) for i in intents]
        sources = [prompt(t, i) for i in norm for t in TOOLS]
        raw = self.generate_raw(sources, progress=progress, tools=[t for _ in norm for t in TOOLS])
        return [self.checked(intent, raw[k * len(TOOLS):(k + 1) * len(TOOLS)]) for k, intent in enumerate(norm)]

    def checked(self, intent: str, texts: list[str]) -> Prediction:
        """One intent's raw texts (in TOOLS order) parsed against the contract; invalid ones counted as null."""
        outputs, raw, invalid = {}, {}, []
        for tool, text in zip(TOOLS, texts, strict=True):
            value, ok = self.parse(tool, text)
            outputs[tool], raw[tool] = value, text
            if not ok:
                invalid.append(tool)
        self.counts["outputs"] += len(TOOLS)
        self.counts["invalid"] += len(invalid)
        for t in invalid:
            self.counts[f"invalid.{t}"] += 1
        return Prediction(intent, outputs, raw, invalid)

    def parse(self, tool: str, text: str) -> tuple[Any, bool]:
        """A generated text as the tool's value (None when not used) and whether it met the contract."""
        return self.contracts.parse(tool, text)

    def predict(self, intents: list[str], progress: bool = False) -> list[dict[str, Any]]:
        """Tool -> value|None per intent (the assistant's student-arm seam)."""
        return [p.outputs for p in self.predict_detailed(intents, progress=progress)]

    def predict_one(self, intent: str) -> dict[str, Any]:
        return self.predict([intent])[0]

    @property
    def invalid_rate(self) -> float:
        return self.counts["invalid"] / self.counts["outputs"] if self.counts["outputs"] else 0.0


def load_predictor(model_dir: str | Path, batch_size: int = 128, num_threads: int | None = None,
                   constrained: bool | None = None) -> Predictor:
    """A predictor for a checkpoint folder written by `flywheel train`; `constrained=None` uses the model card's
    `constrained_decoding` (see `flywheel.inference.constrained`)."""
    d = Path(model_dir)
    card_path = d / MODEL_CARD
    if not card_path.is_file():
        raise FileNotFoundError(f"{d} is not a flywheel model folder (no {MODEL_CARD})")
    card = json.loads(card_path.read_text())
    if card.get("backend") == "ngram":
        from flywheel.inference.ngram_predictor import load_ngram_predictor

        return load_ngram_predictor(d, card, batch_size=max(batch_size, 256), num_threads=num_threads)
    if card.get("target_encoding", "json") == "compact":
        from flywheel.inference.compact_predictor import load_compact_predictor

        return load_compact_predictor(d, card, batch_size=batch_size, num_threads=num_threads)
    backend = card["backend"]
    tok = AutoTokenizer.from_pretrained(d)
    auto = AutoModelForSeq2SeqLM if backend == "seq2seq" else AutoModelForCausalLM
    model = auto.from_pretrained(d, dtype=torch.float32)
    return Predictor(model, tok, backend, model_name=card.get("model_name", f"student-{backend}"),
                     model_version=card.get("model_version", d.name), max_new_tokens=card.get("max_new_tokens", 160),
                     batch_size=batch_size, num_threads=num_threads,
                     constrained=card.get("constrained_decoding", False) if constrained is None else constrained)
