"""Unknown words read as the nearest word the student knows, by the pretrained encoder's judgement.

The encoder student's n-gram bag knows only its training words. At prediction a word without a ``w:`` feature is
embedded by the encoder (alone: ``[CLS] word [SEP]``), compared with the embeddings of the known words, and replaced
in the bag's text by the nearest one when their cosine is at least ``min_cos`` ("woods" -> "forest" .81,
"seaside" -> "beach" .70, "antique" -> "vintage" .69); below it the word stays as it is (its character n-grams still
count). Known words are never touched, so an intent made of training words is answered exactly as without this,
and neither is a word one edit away from a known one: a typo, which the character n-grams already read.

Measured (training/README.md, "The encoder student"): on the referee's held-out wordings RQ1 .417 -> .471 at
``min_cos`` .5 (.428 at .65, .462 at .45), in-distribution RQ1 and the typo-made ``novel`` intents unchanged. The
sentence embedding still reads the original text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch

from flywheel.contracts import normalize_intent

_WORD = re.compile(r"[^\W_]+|&", re.UNICODE)  # the n-gram features' words (ngram_net.features)
#: Unknown words looked up per intent: 4 KiB of noise must not cost hundreds of encoder runs.
MAX_LOOKUPS = 8
MAX_WORD_CHARS = 32
CACHE_SIZE = 50_000


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


class WordMap:
    """Known words and their embeddings (``vectors``, rows L2-normalised, in ``words`` order)."""

    def __init__(self, words: Sequence[str], vectors: torch.Tensor, *, min_cos: float) -> None:
        self.words = list(words)
        self.vectors = vectors
        self.known = set(self.words)
        self.min_cos = min_cos
        self._nearest: dict[str, str] = {}
        self._deletes = {d for w in self.words for d in _deletions(w)}

    def is_typo(self, word: str) -> bool:
        """Within one edit (insert, delete, replace, swap) of a known word: its character n-grams already match
        that word's, and the encoder, which reads word pieces, would often send it elsewhere ("cty" -> "coy")."""
        mine = _deletions(word)
        return word in self._deletes or bool(mine & self.known) or bool(mine & self._deletes)

    @staticmethod
    def known_words(feature_names: Sequence[str]) -> list[str]:
        return [f[2:] for f in feature_names if f.startswith("w:")]

    def rewrite(self, text: str, embed: Callable[[Sequence[str]], torch.Tensor]) -> str:
        """``text`` with each unknown word replaced by its nearest known word (when near enough); ``embed`` maps
        words to their encoder embeddings."""
        words = _WORD.findall(normalize_intent(text))
        unknown = [w for w in dict.fromkeys(words) if w not in self.known and w not in self._nearest
                   and w.isalpha() and len(w) <= MAX_WORD_CHARS][:MAX_LOOKUPS]
        for w in [w for w in unknown if self.is_typo(w)]:
            self._nearest[w] = w
            unknown.remove(w)
        if unknown and self.words:
            sims = embed(unknown) @ self.vectors.T
            best, idx = sims.max(dim=1)
            if len(self._nearest) + len(unknown) > CACHE_SIZE:
                self._nearest.clear()
            for w, c, i in zip(unknown, best.tolist(), idx.tolist(), strict=True):
                self._nearest[w] = self.words[i] if c >= self.min_cos else w
        if not any(w in self._nearest for w in words):
            return text
        return " ".join(self._nearest.get(w, w) for w in words)
