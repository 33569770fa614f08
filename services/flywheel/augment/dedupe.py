"""De-duplication of generated paraphrases. Pure: no I/O.

Every paraphrase is compared as ``normalize_intent`` (the key ground truth and splits use). A paraphrase is dropped
when it is empty, equals any existing TRAIN intent (including its own source), equals ANY TEST intent (so nothing
generated can leak into the test set, even when the LLM happens to produce a test intent verbatim), or repeats an
earlier kept paraphrase (first come, first kept; candidates are processed in the given order, so the caller's order
— sorted source intents — makes the result deterministic).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from flywheel.contracts import normalize_intent


@dataclass(frozen=True)
class Candidate:
    source: str  # the (normalized) training intent that was paraphrased
    text: str  # the raw paraphrase


@dataclass
class DedupeResult:
    kept: list[tuple[str, str]] = field(default_factory=list)  # (source, normalized paraphrase)
    dropped: Counter = field(default_factory=Counter)  # reason -> count

    def summary(self) -> dict[str, int]:
        return {"kept": len(self.kept), **{f"dropped_{k}": v for k, v in sorted(self.dropped.items())}}


def dedupe_paraphrases(candidates: Iterable[Candidate], train_intents: Iterable[str], test_intents: Iterable[str],
                       per_source: int | None = None) -> DedupeResult:
    """Keep paraphrases that are new everywhere; at most `per_source` per source intent (None = no cap)."""
    train = {normalize_intent(t) for t in train_intents}
    test = {normalize_intent(t) for t in test_intents}
    seen: set[str] = set()
    per: Counter = Counter()
    out = DedupeResult()
    for c in candidates:
        if not isinstance(c.text, str):
            out.dropped["not_text"] += 1
            continue
        norm = normalize_intent(c.text)
        if not norm:
            out.dropped["empty"] += 1
        elif norm in test:
            out.dropped["in_test"] += 1
        elif norm in train or norm == normalize_intent(c.source):
            out.dropped["in_train"] += 1
        elif norm in seen:
            out.dropped["duplicate"] += 1
        elif per_source is not None and per[c.source] >= per_source:
            out.dropped["over_cap"] += 1
        else:
            seen.add(norm)
            per[c.source] += 1
            out.kept.append((c.source, norm))
    return out
