"""The ``Student`` interface every model family implements, and what its predictions look like.

Training (:func:`flywheel.training.train.train`), the training loop, warm start, offline evaluation and the
predictor call only this interface; which family a run or a checkpoint is comes from its config's / model card's
``backend`` through the registry in :mod:`flywheel.training.students`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import torch

from flywheel.contracts import TOOLS
from flywheel.contracts.tools import ToolContracts

Batch = dict[str, torch.Tensor]


@dataclass
class Prediction:
    """One intent's outputs: ``outputs`` tool -> value (None = not used); ``invalid`` the tools whose output broke
    its contract (counted, and null in ``outputs``); ``raw`` what the model said as text, for generated text and for
    every invalid output, so nothing the model said is lost."""

    intent: str
    outputs: dict[str, Any]
    raw: dict[str, str] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """Predictions-file row (docs/domain.md#d11-evaluation-input-rules). An invalid output is written as its raw
        text, so evaluation still sees (and counts) it as invalid."""
        row: dict[str, Any] = {"intent": self.intent}
        for t in TOOLS:
            row[t] = self.raw[t] if t in self.invalid else self.outputs[t]
        return row


def checked(*, intent: str, said: Mapping[str, Any], contracts: ToolContracts) -> Prediction:
    """One intent's outputs as the model said them (a text per tool, or a value) parsed against the tool contracts:
    invalid JSON or a schema break (an unknown filter included) counts as null and is listed as invalid."""
    outputs: dict[str, Any] = {}
    raw: dict[str, str] = {}
    invalid: list[str] = []
    for tool in TOOLS:
        value, ok = contracts.parse(tool, said[tool])
        outputs[tool] = value
        if isinstance(said[tool], str):
            raw[tool] = said[tool]
        if not ok:
            invalid.append(tool)
            raw.setdefault(tool, json.dumps(said[tool], separators=(",", ":")))
    return Prediction(intent, outputs, raw, invalid)


@dataclass
class Encoded:
    """A student's training items (what its ``collate`` takes) and what lineage reports about them."""

    items: list[dict[str, Any]]
    truncated: int = 0  # targets cut to the token budget (reported, never hidden)


class Student(ABC):
    """A model family: how it is built, trained, saved, loaded, warm-started and asked.

    ``model`` is the ``torch.nn.Module`` the loop optimizes (replaced by the loop's unwrapped result after training).
    ``base_model`` names what it started from (model name, lineage, registry)."""

    #: The registry name, equal to the config's and the model card's ``backend``.
    family: ClassVar[str]
    #: Outputs legal by construction (the n-gram student's clamped slots); reported with evaluations.
    legal_by_construction: ClassVar[bool] = False

    model: torch.nn.Module
    base_model: str

    # -- construction ------------------------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def build(cls, *, config: Any, rows: list[dict[str, Any]]) -> Self:
        """A fresh student for a run on these training rows (features or tokenizer fitted to them where the family
        does that)."""

    @classmethod
    @abstractmethod
    def warm_start(cls, *, config: Any, rows: list[dict[str, Any]], parent: Path) -> Self:
        """The parent checkpoint's student, in training mode, ready to continue on these rows (the parent's config
        is already checked compatible: flywheel.training.warm)."""

    @classmethod
    @abstractmethod
    def load(cls, *, model_dir: Path, card: Mapping[str, Any]) -> Self:
        """A saved student for serving (``card``: the folder's flywheel_model.json)."""

    # -- training ----------------------------------------------------------------------------------------------------
    @abstractmethod
    def encode(self, *, rows: list[dict[str, Any]]) -> Encoded:
        """Split rows -> training items."""

    @abstractmethod
    def collate(self, items: list[dict[str, Any]]) -> Batch:
        """Training items -> one batch of tensors."""

    @abstractmethod
    def loss(self, model: Any, batch: Batch) -> torch.Tensor:
        """The batch's loss; ``model`` is ``self.model`` as the loop wraps it (data parallel), so call it, do not
        reach into it."""

    @abstractmethod
    def tokens(self, batch: Batch) -> int:
        """How many inputs a batch feeds (tokens, or features): lineage's ``tokens_seen``."""

    @abstractmethod
    def save(self, *, out_dir: Path) -> None:
        """Everything :meth:`load` needs, written into ``out_dir`` (the card and lineage are written by training)."""

    def card(self) -> dict[str, Any]:
        """The family's fields of the model card (flywheel_model.json)."""
        return {}

    # -- serving -----------------------------------------------------------------------------------------------------
    @abstractmethod
    def predict(self, intents: Sequence[str], *, batch_size: int, progress: bool = False) -> list[Prediction]:
        """Normalized intents -> one contract-checked :class:`Prediction` each, in order. Not thread-safe: the
        predictor holds a lock around it."""
