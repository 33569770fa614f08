from __future__ import annotations

import re
import string
import unicodedata

_WS = re.compile(r"\s+")
# A word: a run of letters or digits in any script, or "&" ("black & white"); an underscore and every other symbol
# separate words. The n-gram student's features and the evaluation's novel subset read intents with the same words.
_WORD = re.compile(r"[^\W_]+|&", re.UNICODE)
# Unicode punctuation and symbols as well as ASCII, so "“golden hour!”" and "golden hour" normalize together.
_EDGE = "".join(sorted(set(string.punctuation))) + "\u2018\u2019\u201c\u201d\u00ab\u00bb\u2026\u00bf\u00a1\u2013\u2014"


def normalize_intent(text: str) -> str:
    """docs/domain.md#intent-normalization: lower-cased, Unicode-NFKC, whitespace-collapsed, surrounding punctuation
    stripped."""
    if not isinstance(text, str):
        raise TypeError(f"intent must be a string, got {type(text).__name__}")
    t = unicodedata.normalize("NFKC", text).lower()
    t = _WS.sub(" ", t).strip()
    prev = None
    while prev != t:  # punctuation and spaces can alternate at the edges: "  !golden hour ?! "
        prev = t
        t = t.strip(_EDGE).strip()
    return t


def intent_words(text: str) -> list[str]:
    """The words of an intent, in order, as the product reads them: ``normalize_intent``, then runs of letters or
    digits (any script) and ``&`` (docs/domain.md#intent-normalization). Emoji-only or punctuation-only text has
    none."""
    return _WORD.findall(normalize_intent(text))
