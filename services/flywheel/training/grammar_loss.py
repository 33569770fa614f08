"""Training loss of compact-encoded students over the grammar-legal tokens only.

The decoder (flywheel.inference.decoder) only ever scores the tokens the grammar allows at each step (~200 of the
~5,000 target tokens plus the ~1,000 source tokens that can never be a target). The default loss of
``T5ForConditionalGeneration`` computes a softmax over the whole vocabulary at every position: on the tiny default
student that output layer cost about as much as the rest of the model (measured: 0.25 s per step in all, 0.12 s
without the output layer). Here each target position is scored against the legal tokens of its grammar state only,
which is also exactly the choice the decoder makes, so the model spends no capacity on ruling out illegal tokens.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from flywheel.contracts import TOOLS
from flywheel.training.encoding import Grammar, GrammarTables, TargetVocab

IGNORE = -100


class GrammarLoss:
    """``loss(model, batch)`` for batches with ``input_ids``, ``attention_mask``, ``labels`` (model ids, ``-100``
    padding) and ``tool`` (index into ``TOOLS``): mean cross-entropy over every label token, each against the legal
    tokens of its state."""

    def __init__(self, vocab: TargetVocab) -> None:
        self.vocab = vocab
        self.tables = GrammarTables(Grammar(vocab), TOOLS)
        self.start = torch.tensor([self.tables.start[t] for t in TOOLS], dtype=torch.long)
        self.rows = [a + vocab.offset for a in self.tables.allowed]  # model ids of the legal tokens per state
        self.position = []  # target index -> position in the state's legal list (-1: illegal)
        for a in self.tables.allowed:
            lookup = torch.full((len(vocab),), -1, dtype=torch.long)
            lookup[a] = torch.arange(len(a))
            self.position.append(lookup)

    def _on(self, device: torch.device) -> None:
        """Move the tables to the batch's device once (training may run on an accelerator)."""
        if self.start.device == device:
            return
        self.start, self.tables.next = self.start.to(device), self.tables.next.to(device)
        self.tables.token_class = self.tables.token_class.to(device)
        self.rows = [r.to(device) for r in self.rows]
        self.position = [p.to(device) for p in self.position]

    def states(self, labels: torch.Tensor, tool: torch.Tensor) -> torch.Tensor:
        """The grammar state before each label position (``tables.done`` on padding)."""
        state = self.start[tool]
        out = torch.empty_like(labels)
        for t in range(labels.shape[1]):
            out[:, t] = state
            tgt = (labels[:, t] - self.vocab.offset).clamp(min=0)
            nxt = self.tables.next[state, self.tables.token_class[tgt]]
            state = torch.where(labels[:, t] == IGNORE, self.tables.done, nxt)
        out[labels == IGNORE] = self.tables.done
        return out

    def __call__(self, model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        labels = batch["labels"]
        self._on(labels.device)
        enc = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        h = model.decoder(input_ids=model._shift_right(labels), encoder_hidden_states=enc,
                          encoder_attention_mask=batch["attention_mask"]).last_hidden_state
        if model.config.scale_decoder_outputs:
            h = h * (model.config.d_model ** -0.5)
        states = self.states(labels, batch["tool"])
        weight = model.lm_head.weight
        total = h.new_zeros(())
        for s in states.unique().tolist():
            if s == self.tables.done:
                continue
            pos = states == s
            logits = h[pos] @ weight[self.rows[s]].T
            target = self.position[s][labels[pos] - self.vocab.offset]
            if bool((target < 0).any()):
                raise ValueError(f"a label is not legal in grammar state {s}: the targets do not follow the grammar")
            total = total + F.cross_entropy(logits, target, reduction="sum")
        return total / (labels != IGNORE).sum().clamp(min=1)
