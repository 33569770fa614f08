"""Mistake mining on the training set (paper, section "(4) Data Augmentation", step 1). Pure: no I/O.

Rules, per training intent, comparing the student's prediction with the reference (the teacher's ground truth):

- ``filter``: a mistake when the predicted filter *name* differs from the reference name. Intensity is ignored (the
  paper's filter quality is name accuracy).
- ``adjust`` / ``selective_adjust``: a mistake when the sample's cosine similarity
  (docs/domain.md#vectors-and-cosine-similarity) is
  below that tool's *baseline* mean cosine similarity — the mean over the training rows where both the prediction and
  the reference use the tool (the same rows the paper's quality score averages over), measured with the model trained
  WITHOUT augmentation. Later iterations reuse the first iteration's baseline so the bar does not move with the model.
  A sample exactly at the mean is not a mistake ("lower than").
- Tool-selection mistakes (our decision; the paper does not spell them out): the student "differs from the teacher"
  whenever exactly one side uses the tool, so
    * reference uses the tool, prediction is null (a miss, FN) -> mistake for that tool;
    * reference is null, prediction uses the tool (a false alarm, FP) -> mistake for that tool;
    * both null -> never a mistake.
  For filter this is what "wrong name" gives anyway (None != name); for the vector tools it matches the cosine rule
  (docs/domain.md#vectors-and-cosine-similarity)
  rule (exactly one all-zero vector -> 0.0, below any positive mean). Selection rows do not enter the baseline mean.
- A prediction value that is not a dict (invalid JSON, wrong type) counts as null, as in the offline metrics. Callers
  that want schema checks should parse predictions with ``ToolContracts.parse`` first (the predictor already does).
- An intent is augmented when at least one tool has a mistake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flywheel.contracts import TOOLS, cosine, normalize_intent, tool_vector

VECTOR_TOOLS: tuple[str, ...] = ("adjust", "selective_adjust")


class MiningError(ValueError):
    """Bad input to mining (length mismatch, missing intents, unknown baseline tool)."""


@dataclass(frozen=True)
class Mistake:
    intent: str
    tools: tuple[str, ...]  # the tools with a mistake, in TOOLS order
    reasons: dict[str, str]  # tool -> "miss" | "false_alarm" | "wrong_name" | "low_cosine"


@dataclass
class MiningResult:
    baseline: dict[str, float]  # vector tool -> mean cosine (the bar used)
    mistakes: list[Mistake] = field(default_factory=list)
    per_tool: dict[str, int] = field(default_factory=dict)  # tool -> number of intents with a mistake on it
    n_rows: int = 0

    @property
    def intents(self) -> list[str]:
        return [m.intent for m in self.mistakes]

    @property
    def rate(self) -> float:
        return len(self.mistakes) / self.n_rows if self.n_rows else 0.0

    def summary(self) -> dict[str, Any]:
        return {"n_rows": self.n_rows, "n_mistaken_intents": len(self.mistakes), "rate": round(self.rate, 4),
                "per_tool": dict(self.per_tool), "baseline": {k: round(v, 6) for k, v in self.baseline.items()}}


def _value(row: Mapping[str, Any], tool: str) -> dict[str, Any] | None:
    v = row.get(tool)
    return v if isinstance(v, dict) else None


def _filter_name(v: dict[str, Any] | None) -> str | None:
    return None if v is None else v.get("name")


def sample_cosines(predictions: Sequence[Mapping[str, Any]], references: Sequence[Mapping[str, Any]],
                   tool: str) -> list[float | None]:
    """Per row: the cosine of prediction vs reference when both use `tool`, else None."""
    if tool not in VECTOR_TOOLS:
        raise MiningError(f"tool {tool!r} has no cosine similarity; expected one of {VECTOR_TOOLS}")
    out: list[float | None] = []
    for p, r in zip(predictions, references, strict=True):
        pv, rv = _value(p, tool), _value(r, tool)
        out.append(None if pv is None or rv is None else cosine(tool_vector(tool, pv), tool_vector(tool, rv)))
    return out


def baseline_means(predictions: Sequence[Mapping[str, Any]],
                   references: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The tool's mean cosine similarity over rows where both sides use it (0.0 when there are none)."""
    _check(predictions, references)
    out = {}
    for tool in VECTOR_TOOLS:
        vals = [c for c in sample_cosines(predictions, references, tool) if c is not None]
        out[tool] = sum(vals) / len(vals) if vals else 0.0
    return out


def _check(predictions: Sequence[Mapping[str, Any]], references: Sequence[Mapping[str, Any]]) -> None:
    if len(predictions) != len(references):
        raise MiningError(f"{len(predictions)} predictions for {len(references)} references; they must pair up")
    for i, r in enumerate(references):
        if not isinstance(r.get("intent"), str) or not r["intent"].strip():
            raise MiningError(f"reference row {i} has no intent")


def mine_mistakes(predictions: Sequence[Mapping[str, Any]], references: Sequence[Mapping[str, Any]],
                  baseline: Mapping[str, float] | None = None) -> MiningResult:
    """Rows pair up by position. `baseline` (vector tool -> mean cosine) defaults to the mean of THESE predictions,
    which is right for the first iteration (the model trained without augmentation)."""
    _check(predictions, references)
    for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
        pi = p.get("intent")
        if isinstance(pi, str) and normalize_intent(pi) != normalize_intent(r["intent"]):
            raise MiningError(f"row {i}: prediction is for {pi!r} but the reference is {r['intent']!r}")
    if baseline is None:
        base = baseline_means(predictions, references)
    else:
        missing = [t for t in VECTOR_TOOLS if t not in baseline]
        if missing:
            raise MiningError(f"baseline lacks {missing}; give a mean cosine for each of {VECTOR_TOOLS}")
        base = {t: float(baseline[t]) for t in VECTOR_TOOLS}

    result = MiningResult(baseline=base, per_tool={t: 0 for t in TOOLS}, n_rows=len(references))
    for p, r in zip(predictions, references, strict=True):
        reasons: dict[str, str] = {}
        for tool in TOOLS:
            pv, rv = _value(p, tool), _value(r, tool)
            if pv is None and rv is None:
                continue
            if rv is not None and pv is None:
                reasons[tool] = "miss"
            elif rv is None:
                reasons[tool] = "false_alarm"
            elif tool == "filter":
                if _filter_name(pv) != _filter_name(rv):
                    reasons[tool] = "wrong_name"
            elif cosine(tool_vector(tool, pv), tool_vector(tool, rv)) < base[tool]:
                reasons[tool] = "low_cosine"
        if reasons:
            tools = tuple(t for t in TOOLS if t in reasons)
            for t in tools:
                result.per_tool[t] += 1
            result.mistakes.append(Mistake(intent=r["intent"], tools=tools, reasons=reasons))
    return result
