"""The n-gram slot student as a ``Student`` (``backend="ngram"``): one example per intent with all three
tools' slots, its own slot loss, and outputs that are values, not text (the network, its features and decoding:
:mod:`flywheel.training.students.ngram_net`).

Checkpoint files (production models exist in this format; keep it loadable): ``ngram_student.safetensors`` (the
weights) and ``ngram_student.json`` (features in row order, n-gram settings, filter names in head order, sizes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import torch

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.training.config import NgramConfig
from flywheel.training.students import ngram_net as ngram
from flywheel.training.students.base import Batch, Encoded, Prediction, Student, checked

WEIGHTS_FILE = "ngram_student.safetensors"
META_FILE = "ngram_student.json"
#: What a from-scratch n-gram student has always been called in model names, lineage and the registry
#: ("student-ngram-tiny"); kept so that no stored or served name changed when the families were split.
BASE = "tiny"
#: One forward pass scores a whole batch cheaply, so serving never cuts finer than this many intents.
MIN_BATCH = 256


class NgramStudent(Student):
    family: ClassVar[str] = "ngram"
    legal_by_construction: ClassVar[bool] = True  # values are rounded and clamped into the contract's ranges
    model: ngram.SlotNet

    def __init__(self, *, model: ngram.SlotNet, featurizer: ngram.Featurizer, heads: ngram.Heads, hidden: int,
                 dropout: float) -> None:
        self.model = model
        self.featurizer = featurizer
        self.heads = heads
        self.hidden = hidden
        self.dropout = dropout
        self.base_model = BASE
        self.contracts = load_tool_contracts()

    # -- construction ------------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, *, config: NgramConfig, rows: list[dict[str, Any]]) -> Self:
        c = config.ngram
        feat = ngram.Featurizer.fit([r["intent"] for r in rows], char_ngrams=c.char_ngrams,
                                    word_bigrams=c.word_bigrams)
        heads = ngram.Heads(load_tool_contracts().filter_names)
        return cls(model=ngram.SlotNet(len(feat.names), c.hidden, heads.size, c.dropout), featurizer=feat,
                   heads=heads, hidden=c.hidden, dropout=c.dropout)

    @classmethod
    def warm_start(cls, *, config: NgramConfig, rows: list[dict[str, Any]], parent: Path) -> Self:
        """The parent, its features extended by the words of ``rows`` it has not seen (zero rows: no effect until
        trained). Its size and n-gram settings are the parent's: the rows of its table mean those features."""
        student = cls.load(model_dir=parent, card={})
        student.featurizer.extend(r["intent"] for r in rows)
        student.model.grow(len(student.featurizer.names))
        student.model.train()
        return student

    @classmethod
    def load(cls, *, model_dir: Path, card: Mapping[str, Any]) -> Self:
        from safetensors.torch import load_file

        d = Path(model_dir)
        if not (d / META_FILE).is_file():
            raise FileNotFoundError(f"{d} is not an n-gram student checkpoint (no {META_FILE})")
        meta = json.loads((d / META_FILE).read_text())
        feat = ngram.Featurizer(meta["features"], meta["char_ngrams"], meta["word_bigrams"])
        heads = ngram.Heads(meta["filters"])
        model = ngram.SlotNet(len(feat.names), meta["hidden"], heads.size, meta["dropout"])
        model.load_state_dict(load_file(str(d / WEIGHTS_FILE)))
        return cls(model=model, featurizer=feat, heads=heads, hidden=meta["hidden"], dropout=meta["dropout"])

    # -- training ----------------------------------------------------------------------------------------------------
    def encode(self, *, rows: list[dict[str, Any]]) -> Encoded:
        return Encoded([ngram.encode_row(r, featurizer=self.featurizer, heads=self.heads) for r in rows])

    def collate(self, items: list[dict[str, Any]]) -> Batch:
        return ngram.collate(items)

    def loss(self, model: Any, batch: Batch) -> torch.Tensor:
        return ngram.SlotLoss(self.heads)(model, batch)

    def tokens(self, batch: Batch) -> int:
        return int(batch["ids"].numel())  # features fed

    def save(self, *, out_dir: Path) -> None:
        from safetensors.torch import save_file

        out_dir.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()},
                  str(out_dir / WEIGHTS_FILE))
        meta = {"features": self.featurizer.names, "char_ngrams": self.featurizer.char_ngrams,
                "word_bigrams": self.featurizer.word_bigrams, "filters": self.heads.filters,
                "hidden": self.hidden, "dropout": self.dropout}
        (out_dir / META_FILE).write_text(json.dumps(meta))

    def card(self) -> dict[str, Any]:
        return {"target_encoding": "slots"}

    # -- serving -----------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, intents: Sequence[str], *, batch_size: int, progress: bool = False) -> list[Prediction]:
        """One forward pass per batch scores all three tools; the values are still checked against the contract (a
        filter that has left the catalogue since training counts as invalid -> null)."""
        self.model.eval()
        step = max(batch_size, MIN_BATCH)
        device = next(self.model.parameters()).device
        out: list[Prediction] = []
        for b in range(0, len(intents), step):
            chunk = list(intents[b:b + step])
            bag = self.featurizer.bags(chunk)
            scores = self.model(bag["ids"].to(device), bag["offsets"].to(device), bag["weights"].to(device))
            for intent, values in zip(chunk, ngram.decode(self.heads, scores.float().cpu()), strict=True):
                out.append(checked(intent=intent, said={t: values[t] for t in TOOLS}, contracts=self.contracts))
        return out
