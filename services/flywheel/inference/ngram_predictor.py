"""Predictor for the n-gram slot student (``backend="ngram"``; same interface as ``Predictor``).

One forward pass scores all three tools of a batch of intents; there is no token-by-token generation. Every output is
legal by construction (values rounded and clamped into the contract's ranges, a filter from the model's catalogue),
and is still checked against the contract, as ``Predictor`` checks generated text: a filter that has left the
catalogue since training counts as invalid -> null. The raw text kept per tool is the value's JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from flywheel.contracts import TOOLS, normalize_intent
from flywheel.inference.predictor import Prediction, Predictor
from flywheel.training.ngram import Bundle, predict


class NgramPredictor(Predictor):
    def __init__(self, bundle: Bundle, *, model_name: str, model_version: str, batch_size: int = 256,
                 num_threads: int | None = None, **_: Any) -> None:
        super().__init__(bundle.model, bundle, "ngram", model_name=model_name, model_version=model_version,
                         batch_size=batch_size, num_threads=num_threads)
        self.bundle = bundle
        self.constrained = True  # recorded with evaluations: outputs are legal by construction

    def predict_detailed(self, intents: list[str], progress: bool = False) -> list[Prediction]:
        norm = [normalize_intent(i) for i in intents]
        preds: list[Prediction] = []
        with self._lock:
            for b in range(0, len(norm), self.batch_size):
                chunk = norm[b:b + self.batch_size]
                for intent, values in zip(chunk, predict(self.bundle, chunk), strict=True):
                    preds.append(self._checked(intent, values))
        return preds

    def _checked(self, intent: str, values: dict[str, Any]) -> Prediction:
        outputs, texts, invalid = {}, {}, []
        for tool in TOOLS:
            text = "null" if values[tool] is None else json.dumps(values[tool], separators=(",", ":"))
            value, ok = self.parse(tool, text)
            outputs[tool], texts[tool] = value, text
            if not ok:
                invalid.append(tool)
        self.counts["outputs"] += len(TOOLS)
        self.counts["invalid"] += len(invalid)
        for t in invalid:
            self.counts[f"invalid.{t}"] += 1
        return Prediction(intent, outputs, texts, invalid)


def load_ngram_predictor(model_dir: str | Path, card: dict[str, Any], batch_size: int = 256,
                         num_threads: int | None = None) -> NgramPredictor:
    d = Path(model_dir)
    bundle = Bundle.load(d)
    bundle.model.eval()
    if num_threads:
        torch.set_num_threads(num_threads)
    return NgramPredictor(bundle, model_name=card.get("model_name", "student-ngram"),
                          model_version=card.get("model_version", d.name), batch_size=batch_size)
