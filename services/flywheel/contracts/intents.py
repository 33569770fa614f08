from __future__ import annotations

import re
import string
import unicodedata

_WS = re.compile(r"\s+")
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
