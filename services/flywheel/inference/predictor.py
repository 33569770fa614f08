"""The student predictor: one interface for every family, thread-safe, counting invalid outputs.

``load_predictor(model_dir)`` reads the checkpoint's model card, loads the student of its family
(:mod:`flywheel.training.students`) and wraps it. Every output is checked against the tool contracts by the
student: an output that is not valid JSON or breaks its tool's schema counts as ``null`` (tool not used), is counted
in ``Predictor.counts`` and keeps its raw text in :class:`Prediction`, so nothing the model said is lost.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from flywheel.contracts import normalize_intent
from flywheel.contracts.student import MODEL_CARD
from flywheel.training.students import Prediction, Student, student_family

__all__ = ["MODEL_CARD", "Prediction", "Predictor", "load_predictor"]


def servable(intent: str) -> str:
    """The normalized intent as every family can read it: a lone surrogate (a Python str may hold one, e.g. from
    JSON ``"\\ud800"``) has no UTF-8 form, and the tokenizers refuse it; it becomes "?"."""
    return normalize_intent(intent).encode("utf-8", "replace").decode("utf-8")


class Predictor:
    """A student behind a lock (the assistant calls it from many threads), with its name, version and the count of
    outputs and invalid outputs it has given."""

    def __init__(self, student: Student, *, model_name: str, model_version: str, batch_size: int = 128,
                 num_threads: int | None = None) -> None:
        self.student = student
        self.model_name = model_name
        self.model_version = model_version
        self.batch_size = batch_size
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        student.model.eval()
        if num_threads:
            torch.set_num_threads(num_threads)

    @property
    def model(self) -> torch.nn.Module:
        """The student's torch module (to move it: ``predictor.model.to("cuda")``)."""
        return self.student.model

    @property
    def legal_by_construction(self) -> bool:
        return self.student.legal_by_construction

    def predict_detailed(self, intents: list[str], progress: bool = False) -> list[Prediction]:
        norm = [servable(i) for i in intents]
        with self._lock:
            preds = self.student.predict(norm, batch_size=self.batch_size, progress=progress)
            for p in preds:
                self.counts["outputs"] += len(p.outputs)
                self.counts["invalid"] += len(p.invalid)
                for t in p.invalid:
                    self.counts[f"invalid.{t}"] += 1
        return preds

    def predict(self, intents: list[str], progress: bool = False) -> list[dict[str, Any]]:
        """Tool -> value|None per intent (the assistant's student-arm seam)."""
        return [p.outputs for p in self.predict_detailed(intents, progress=progress)]

    def predict_one(self, intent: str) -> dict[str, Any]:
        return self.predict([intent])[0]

    @property
    def invalid_rate(self) -> float:
        return self.counts["invalid"] / self.counts["outputs"] if self.counts["outputs"] else 0.0


def load_predictor(model_dir: str | Path, *, batch_size: int = 128, num_threads: int | None = None) -> Predictor:
    """A predictor for a checkpoint folder written by `flywheel train` (any family; the model card says which)."""
    d = Path(model_dir)
    card_path = d / MODEL_CARD
    if not card_path.is_file():
        raise FileNotFoundError(f"{d} is not a flywheel model folder (no {MODEL_CARD})")
    card = json.loads(card_path.read_text())
    backend = str(card.get("backend"))
    student = student_family(backend).load(model_dir=d, card=card)
    return Predictor(student, model_name=card.get("model_name", f"student-{backend}"),
                     model_version=card.get("model_version", d.name), batch_size=batch_size,
                     num_threads=num_threads)
