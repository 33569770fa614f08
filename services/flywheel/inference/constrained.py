"""Optional grammar-constrained greedy decoding: the student may only write `null` or the tool's compact JSON with
keys in contract order (filter names from the catalogue).

At each step the model's top-k tokens are tried best-first; the first one that keeps the text a prefix of a valid
output wins (EOS only once the text is complete). If none of the top-k fits, the step is left unconstrained, so the
output can still be invalid and is then counted as such. Off by default: the paper's metrics are reported for plain
greedy decoding, and `flywheel predict/evaluate` say which mode produced the numbers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import regex
import torch

from flywheel.contracts import ADJUST_KEYS, COLORS, load_tool_contracts

INT = r"-?(?:100|[1-9]?\d)"  # -100..100
POS = r"(?:100|[1-9]?\d)"  # 0..100
NONNEG = {"bloom", "sharpen", "structure"}


@lru_cache(maxsize=4)
def grammar(tool: str) -> Any:
    if tool == "adjust":
        body = ",".join(f'"{k}":{POS if k in NONNEG else INT}' for k in ADJUST_KEYS)
    elif tool == "selective_adjust":
        ch = r'\{"saturation":' + INT + r',"luminance":' + INT + r"\}"
        body = "".join(f'(?:,?"{c}":{ch})?' for c in COLORS)
    elif tool == "filter":
        names = "|".join(regex.escape(n) for n in sorted(load_tool_contracts().filter_names, key=len, reverse=True))
        body = f'"name":"(?:{names})","intensity":{POS}'
    else:
        raise ValueError(f"unknown tool {tool!r}")
    return regex.compile(r"(?:null|\{" + body + r"\})")


class GrammarProcessor:
    """A transformers LogitsProcessor for greedy decoding of one tool per batch row."""

    def __init__(self, tokenizer: Any, tools: list[str], prompt_len: int = 0, top_k: int = 8,
                 fallback_k: int = 4096) -> None:
        self.texts = _token_texts(tokenizer)
        self.eos = tokenizer.eos_token_id
        self.special = set(tokenizer.all_special_ids)
        self.tools = tools
        self.prompt_len = prompt_len
        self.top_k = top_k
        self.fallback_k = fallback_k

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        top = torch.topk(scores, min(self.top_k, scores.shape[-1]), dim=-1).indices.tolist()
        for row, cands in enumerate(top):
            done = "".join(self.texts[i] for i in input_ids[row, self.prompt_len:].tolist() if i not in self.special)
            g = grammar(self.tools[row])
            tok = self._first_fit(g, done, cands)
            if tok is None:  # rare tokenization dead end (e.g. a merged `","` token): search much wider
                wide = torch.topk(scores[row], min(self.fallback_k, scores.shape[-1])).indices.tolist()
                tok = self._first_fit(g, done, wide[self.top_k:])
            if tok is not None:
                keep = scores[row, tok].clone()
                scores[row, :] = -float("inf")
                scores[row, tok] = keep
        return scores

    def _first_fit(self, g: Any, done: str, cands: list[int]) -> int | None:
        for tok in cands:
            if tok == self.eos:
                if g.fullmatch(done) is not None:
                    return tok
            elif tok not in self.special and g.fullmatch(done + self.texts[tok], partial=True) is not None:
                return tok
        return None


def _token_texts(tokenizer: Any) -> list[str]:
    key = id(tokenizer)
    cached = _TEXTS.get(key)
    if cached is None:
        cached = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        _TEXTS[key] = cached
    return cached


_TEXTS: dict[int, list[str]] = {}
