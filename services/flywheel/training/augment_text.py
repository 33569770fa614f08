"""Label-preserving perturbations of training intents (no LLM, no hidden truth) and support weighting.

Test intents are mostly unseen paraphrases of looks the training split does contain: the same words with a typo, in
another order, or inside another wrapper ("add {x}", "{x} look"). A perturbed copy of a training intent keeps its
ground truth, so the model learns that those surface changes do not change the answer:

- a typo in one word: a doubled letter (the commonest typo in the logged intents: "loook", "fadded"), a dropped
  letter or two swapped neighbours;
- the two halves around a joiner (``" but "``, ``", "``, ``" and "``, ``" with a "``) swapped;
- a leading or trailing wrapper word dropped, where that word is one of the most frequent first / last words of the
  training intents themselves (so the wrapper list comes from the data, not from the simulator).

Support weighting repeats an intent's examples ``min(support, support_repeat_max)`` times: ground truth backed by
many teacher responses (picked by export rate) is much closer to what users want than a single teacher answer, and
the paraphrases of a look should follow its best-supported variant.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

JOINERS = (" but ", ", ", " with a ")  # not " and ": it is inside looks ("black and white")
WRAPPER_WORDS = 12  # how many of the most frequent first / last words count as wrappers


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i] + word[i:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]


def _wrappers(intents: list[str]) -> tuple[set[str], set[str]]:
    words = [i.split() for i in intents]
    first = Counter(w[0] for w in words if len(w) > 2)
    last = Counter(w[-1] for w in words if len(w) > 2)
    return {w for w, _ in first.most_common(WRAPPER_WORDS)}, {w for w, _ in last.most_common(WRAPPER_WORDS)}


def perturb(intent: str, rng: random.Random, first: set[str], last: set[str]) -> str:
    """One perturbed copy of ``intent`` (one to two edits; may return the intent unchanged when nothing applies)."""
    text = intent
    for _ in range(1 + rng.randrange(2)):
        op = rng.randrange(3)
        words = text.split()
        if op == 0:
            long = [k for k, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
            if long:
                k = rng.choice(long)
                words[k] = _typo(words[k], rng)
                text = " ".join(words)
        elif op == 1:
            joins = [j for j in JOINERS if j in text]
            if joins:
                a, _, b = text.partition(rng.choice(joins))
                text = f"{b} {a}" if rng.random() < 0.5 else f"{b}, {a}"
        elif len(words) > 2:
            if words[0] in first and rng.random() < 0.5:
                words = words[1:]
            elif words[-1] in last:
                words = words[:-1]
            text = " ".join(words)
    return text


def expand_rows(rows: list[dict[str, Any]], *, copies: int, support_repeat_max: int, seed: int
                ) -> list[dict[str, Any]]:
    """Training rows with support repeats and ``copies`` perturbed copies per intent (deterministic per seed)."""
    rng = random.Random(seed)
    first, last = _wrappers([r["intent"] for r in rows])
    out: list[dict[str, Any]] = []
    for r in rows:
        support = int(r.get("support") or 1)
        repeat = min(support_repeat_max, max(1, support))
        out += [r] * repeat
        seen = {r["intent"]}
        for _ in range(copies):
            text = perturb(r["intent"], rng, first, last)
            if text and text not in seen:
                seen.add(text)
                out.append({**r, "intent": text})
    return out
