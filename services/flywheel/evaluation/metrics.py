"""The paper's offline metrics, exactly as docs/domain.md#offline-metrics defines them (pure functions, no I/O).

Per tool over the test rows: selection precision/recall/F1 (positive = tool used, zero denominator -> 0); quality over
the TP rows only (filter: name accuracy; adjust / selective_adjust: mean cosine of the vectors
(docs/domain.md#vectors-and-cosine-similarity); no TP rows -> 0);
final = harmonic mean of F1 and quality (0 if either is 0); overall = mean of the three finals. A predicted output
that is not valid JSON or breaks its tool schema (an unknown filter name included) counts as null, and the share of
such outputs is reported as ``invalid_rate``. Subsets: All, r_k = reference rows with ``support >= k``, and, when the
training intents are given, ``novel`` = reference rows with a word that no training intent has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from flywheel.contracts import TOOLS, cosine, intent_words, load_tool_contracts, normalize_intent, tool_vector

DEFAULT_SUBSETS: tuple[tuple[str, int | None], ...] = (("All", None), ("r_3", 3), ("r_5", 5))
NOVEL = "novel"


@dataclass
class ToolScore:
    tool: str
    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    f1: float
    quality: float
    final: float
    invalid: int
    invalid_rate: float


@dataclass
class SubsetReport:
    subset: str
    n: int
    tools: dict[str, ToolScore]
    overall: float
    invalid_rate: float


@dataclass
class EvalReport:
    subsets: dict[str, SubsetReport]
    n_references: int
    n_predictions: int
    missing: int = 0  # reference intents without a prediction (scored as all-null)
    extra: int = 0  # predictions for intents not in the references (ignored)
    notes: list[str] = field(default_factory=list)
    # The control baselines scored on the same rows and subsets (flywheel.evaluation.controls), by control name.
    controls: dict[str, EvalReport] = field(default_factory=dict)

    @property
    def overall(self) -> float:
        return self.subsets["All"].overall

    @property
    def invalid_rate(self) -> float:
        return self.subsets["All"].invalid_rate

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        subsets = {name: SubsetReport(sub["subset"], sub["n"], {t: ToolScore(**v) for t, v in sub["tools"].items()},
                                      sub["overall"], sub["invalid_rate"]) for name, sub in d["subsets"].items()}
        return cls(subsets, d["n_references"], d["n_predictions"], d.get("missing", 0), d.get("extra", 0),
                   list(d.get("notes", [])), {k: cls.from_dict(v) for k, v in (d.get("controls") or {}).items()})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["overall"] = self.overall
        d["invalid_rate"] = self.invalid_rate
        # Reports written before the controls existed had no such key; one without controls still has none.
        d.pop("controls")
        if self.controls:
            d["controls"] = {k: c.to_dict() for k, c in self.controls.items()}
        return d


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a > 0 and b > 0 else 0.0


def pair_quality(tool: str, pred: dict[str, Any], ref: dict[str, Any]) -> float:
    """Quality of one TP row: filter-name match (1/0) or cosine of the two vectors."""
    if tool == "filter":
        return 1.0 if pred.get("name") == ref.get("name") else 0.0
    return cosine(tool_vector(tool, pred), tool_vector(tool, ref))


def score_tool(tool: str, preds: list[Any], refs: list[Any], invalid: int = 0) -> ToolScore:
    """Scores of one tool; `preds` / `refs` are aligned, already-validated values (None = not used)."""
    tp = fp = fn = tn = 0
    qualities: list[float] = []
    for p, r in zip(preds, refs, strict=True):
        if p is not None and r is not None:
            tp += 1
            qualities.append(pair_quality(tool, p, r))
        elif p is not None:
            fp += 1
        elif r is not None:
            fn += 1
        else:
            tn += 1
    precision, recall = _div(tp, tp + fp), _div(tp, tp + fn)
    f1 = harmonic(precision, recall)
    quality = _div(sum(qualities), len(qualities))
    n = len(refs)
    return ToolScore(tool, n, tp, fp, fn, tn, precision, recall, f1, quality, harmonic(f1, quality), invalid,
                     _div(invalid, n))


def _check_references(references: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    contracts = load_tool_contracts()
    out: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(references):
        if not isinstance(r, dict) or not isinstance(r.get("intent"), str):
            raise ValueError(f"reference row {i}: must be an object with a string 'intent'")
        key = normalize_intent(r["intent"])
        if key in out:
            raise ValueError(f"reference row {i}: duplicate intent {key!r}")
        for tool in TOOLS:
            if tool not in r:
                raise ValueError(f"reference row {i} ({key!r}): missing tool {tool!r} (use null for 'not used')")
            errs = contracts.errors(tool, r[tool])
            if errs:
                raise ValueError(f"reference row {i} ({key!r}) breaks the {tool} contract: {'; '.join(errs)}")
        out[key] = r
    return out


def novel_keys(keys: Iterable[str], *, train_intents: Iterable[str]) -> list[str]:
    """The normalized intents among ``keys`` with at least one word (``intent_words``) that no training intent has."""
    vocabulary = {w for t in train_intents for w in intent_words(t)}
    return [k for k in keys if any(w not in vocabulary for w in intent_words(k))]


def evaluate(predictions: list[dict[str, Any]], references: list[dict[str, Any]],
             subsets: tuple[tuple[str, int | None], ...] = DEFAULT_SUBSETS, *,
             train_intents: Iterable[str] | None = None) -> EvalReport:
    """Score predictions against references (rows as in docs/domain.md#d11-evaluation-input-rules; joined on
    normalized intent).

    Prediction values may be objects or raw text (as a model produced them); anything unparsable or off-contract
    is null for scoring and counted as invalid. A reference row without a prediction scores as all-null (counted in
    ``missing``). Subsets r_k are skipped (with a note) when references carry no ``support``. With ``train_intents``
    (the split's training intents) the ``novel`` subset follows; it is skipped with a note when it would be empty.
    """
    refs = _check_references(references)
    if not refs:
        raise ValueError("no reference rows to evaluate against")
    contracts = load_tool_contracts()
    parsed: dict[str, tuple[dict[str, Any], set[str]]] = {}
    extra = 0
    for i, p in enumerate(predictions):
        if not isinstance(p, dict) or not isinstance(p.get("intent"), str):
            raise ValueError(f"prediction row {i}: must be an object with a string 'intent'")
        key = normalize_intent(p["intent"])
        if key not in refs:
            extra += 1
            continue
        if key in parsed:
            raise ValueError(f"prediction row {i}: duplicate intent {key!r}")
        values, bad = {}, set()
        for tool in TOOLS:
            value, ok = contracts.parse(tool, p.get(tool))
            values[tool] = value
            if not ok:
                bad.add(tool)
        parsed[key] = (values, bad)
    missing = sum(1 for k in refs if k not in parsed)
    notes: list[str] = []
    has_support = all(isinstance(r.get("support"), int) for r in refs.values())
    report = EvalReport({}, len(refs), len(predictions), missing, extra, notes)
    chosen: list[tuple[str, list[str]]] = []
    for name, k in subsets:
        if k is not None and not has_support:
            notes.append(f"subset {name} skipped: references carry no integer 'support'")
            continue
        chosen.append((name, [key for key, r in refs.items() if k is None or r["support"] >= k]))
    if train_intents is not None:
        novel = novel_keys(refs, train_intents=train_intents)
        if novel:
            chosen.append((NOVEL, novel))
        else:
            notes.append(f"subset {NOVEL} skipped: every test intent's words occur in the training intents")
    for name, keys in chosen:
        tools = {}
        for tool in TOOLS:
            preds = [parsed[key][0][tool] if key in parsed else None for key in keys]
            invalid = sum(1 for key in keys if key in parsed and tool in parsed[key][1])
            tools[tool] = score_tool(tool, preds, [refs[key][tool] for key in keys], invalid)
        overall = sum(t.final for t in tools.values()) / len(TOOLS)
        inv = _div(sum(t.invalid for t in tools.values()), len(keys) * len(TOOLS))
        report.subsets[name] = SubsetReport(name, len(keys), tools, overall, inv)
    return report
