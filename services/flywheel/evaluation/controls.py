"""Control baselines for the RQ1 table (docs/domain.md#controls): answers built from the split's training rows alone,
scored on the same test rows and subsets as the student, so a student's number says how much it learnt beyond them.

* ``most_common``: per tool, the training rows' most frequent output (null included), one answer for every intent;
* ``exact_match``: the training outputs of the same normalized intent, otherwise the most common answer;
* ``nearest_intent``: the outputs of the most similar training intent (cosine over TF-IDF bags of words and character
  trigrams), otherwise (no feature in common with any training intent) the most common answer.

Pure functions of the rows: no model, no download, deterministic (ties go to the earlier training row).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import sparse

from flywheel.contracts import TOOLS, canonical_json, intent_words, normalize_intent

Outputs = dict[str, Any]
# Test intents compared with every training intent at a time: a dense block of this many rows x the training rows.
_CHUNK = 512


def most_common_answer(*, train: Sequence[dict[str, Any]]) -> Outputs:
    """Per tool: used when most training rows use it, and then the output most of them have (by canonical JSON; a
    tie goes to the smaller text). The literal mode would be null for every tool, since each look's values are its
    own while "not used" is one value, and a control that never answers measures nothing."""
    answer: Outputs = {}
    for tool in TOOLS:
        used = [r[tool] for r in train if r.get(tool) is not None]
        if 2 * len(used) <= len(train):
            answer[tool] = None
            continue
        counts = Counter(canonical_json(v) for v in used)
        best = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        answer[tool] = next(v for v in used if canonical_json(v) == best)
    return answer


def _outputs(row: dict[str, Any]) -> Outputs:
    return {t: row.get(t) for t in TOOLS}


def exact_match(*, train: Sequence[dict[str, Any]], intents: Sequence[str]) -> list[Outputs]:
    table: dict[str, Outputs] = {}
    for r in train:
        table.setdefault(normalize_intent(r["intent"]), _outputs(r))
    fallback = most_common_answer(train=train)
    return [table.get(normalize_intent(i), fallback) for i in intents]


def text_features(text: str) -> list[str]:
    """Words and the character trigrams of each word with boundary marks (``<dusk>`` -> ``<du``, ``dus``, ...)."""
    words = intent_words(text)
    out = [f"w:{w}" for w in words]
    for w in words:
        p = f"<{w}>"
        out += [f"c:{p[i:i + 3]}" for i in range(max(1, len(p) - 2))]
    return out


class TfidfIndex:
    """L2-normalised TF-IDF vectors of the training intents (smoothed idf, as the usual ``log((1+N)/(1+df)) + 1``);
    a feature no training intent has carries no weight."""

    def __init__(self, texts: Sequence[str]) -> None:
        bags = [Counter(text_features(t)) for t in texts]
        self.vocab: dict[str, int] = {}
        df: Counter[str] = Counter()
        for bag in bags:
            df.update(bag.keys())
            for f in bag:
                self.vocab.setdefault(f, len(self.vocab))
        n = len(texts)
        self.idf = np.zeros(len(self.vocab), dtype=np.float64)
        for f, j in self.vocab.items():
            self.idf[j] = math.log((1 + n) / (1 + df[f])) + 1.0
        self.matrix = self.vectors(bags)

    def vectors(self, bags: Sequence[Counter[str]]) -> sparse.csr_matrix:
        rows, cols, vals = [], [], []
        for i, bag in enumerate(bags):
            for f, c in bag.items():
                j = self.vocab.get(f)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
                    vals.append(c * self.idf[j])
        m = sparse.csr_matrix((vals, (rows, cols)), shape=(len(bags), len(self.vocab)), dtype=np.float64)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ m)

    def nearest(self, texts: Sequence[str]) -> list[int | None]:
        """Per text the index of the most similar training text (cosine), or None when it shares no feature."""
        out: list[int | None] = []
        for b in range(0, len(texts), _CHUNK):
            q = self.vectors([Counter(text_features(t)) for t in texts[b:b + _CHUNK]])
            sims = np.asarray((q @ self.matrix.T).todense())
            if sims.shape[1] == 0:
                out += [None] * q.shape[0]
                continue
            best = sims.argmax(axis=1)
            out += [int(j) if sims[i, j] > 0 else None for i, j in enumerate(best)]
        return out


def nearest_intent(*, train: Sequence[dict[str, Any]], intents: Sequence[str]) -> list[Outputs]:
    index = TfidfIndex([r["intent"] for r in train])
    fallback = most_common_answer(train=train)
    return [fallback if j is None else _outputs(train[j]) for j in index.nearest(intents)]


def _most_common(*, train: Sequence[dict[str, Any]], intents: Sequence[str]) -> list[Outputs]:
    answer = most_common_answer(train=train)
    return [answer for _ in intents]


#: Every control, in the order the RQ1 table prints them.
CONTROLS: dict[str, Callable[..., list[Outputs]]] = {
    "most_common": _most_common, "exact_match": exact_match, "nearest_intent": nearest_intent}


def control_predictions(*, train: Sequence[dict[str, Any]], intents: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each control's prediction rows (``{"intent", "adjust", "selective_adjust", "filter"}``) for ``intents``."""
    return {name: [{"intent": i, **o} for i, o in zip(intents, f(train=train, intents=intents), strict=True)]
            for name, f in CONTROLS.items()}
