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
                    texts = ["null" if values[t] is None else json.dumps(values[t], separators=(",", ":"))
                             for t in TOOLS]
                    preds.append(self.checked(intent, texts))
        return preds


def load_ngram_predictor(model_dir: str | Path, card: dict[str, Any], batch_size: int = 256,
                         num_threads: int | None = None) -> NgramPredictor:
    d = Path(model_dir)
    # Predictor.__init__ puts the model in eval mode and sets the torch threads.
    return NgramPredictor(Bundle.load(d), model_name=card.get("model_name", "student-ngram"),
                          model_version=card.get("model_version", d.name), batch_size=batch_size,
                          num_threads=num_threads)
