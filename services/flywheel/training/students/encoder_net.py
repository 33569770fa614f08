"""The encoder student's networks (``backend="encoder"``; its ``Student``: :mod:`flywheel.training.students.encoder`).

``EncoderSlotNet``: the intent's pretrained sentence embedding (384 numbers) and its n-gram bag (the n-gram
student's features, :mod:`flywheel.training.students.ngram_net`) each projected to one shared hidden layer, summed,
ReLU, dropout, and the n-gram student's slot heads: the same outputs, legal by construction, the same loss.

Why both inputs (measured in training/README.md, "The encoder student"): the embedding knows words no training
intent had ("dusk" is near "sunset"), the bag pins down what the training intents' exact words and typos meant and
composes them (a modifier shifts a look); a word the bag never saw is absent from it (or read as its nearest known
word: students/encoder_words.py), and the embedding still answers.

``TunedEncoder``: the encoder with its top layers trainable, for ``finetune_layers > 0``. Their weights are
``frozen + scale * delta`` with ``delta`` the trained parameter: the loop has one learning rate for everything, and
``scale`` makes the encoder's effective one that much smaller (Adam's step is ~lr whatever the gradient's size);
weight decay pulls a tuned weight back toward its pretrained value rather than toward zero.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize


class Pooled(nn.Module):
    """A transformers BERT -> mean of its last hidden states over the real tokens, L2-normalised (the
    sentence-transformers recipe of all-MiniLM-L6-v2). Exported as the ONNX graph that serving runs."""

    def __init__(self, bert: Any) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(h.dtype)
        mean = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(mean, dim=-1)


class EncoderSlotNet(nn.Module):
    """(n-gram bag, sentence embedding) -> per ensemble member, the slot heads' output vector: ``(batch, members,
    outputs)``; the answer is the members' mean. ``n_features=0``: the embedding alone.

    The members are independent networks of ``hidden`` units side by side (block-diagonal: one wide bag table and
    projection, a separate output layer each), each trained on its own loss: they differ by their random start,
    and the encoder's forward pass, the expensive part, is shared."""

    def __init__(self, n_features: int, emb_dim: int, hidden: int, n_out: int, dropout: float,
                 members: int = 1) -> None:
        super().__init__()
        self.members, self.hidden = members, hidden
        self.embed = nn.EmbeddingBag(max(1, n_features), hidden * members, mode="sum")
        self.proj = nn.Linear(emb_dim, hidden * members)
        self.drop = nn.Dropout(dropout)
        bound = 1 / math.sqrt(hidden)  # nn.Linear's initialisation, per member
        self.out_weight = nn.Parameter(torch.empty(members, hidden, n_out).uniform_(-bound, bound))
        self.out_bias = nn.Parameter(torch.empty(members, n_out).uniform_(-bound, bound))
        nn.init.normal_(self.embed.weight, std=0.1)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor,
                emb: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids, offsets, per_sample_weights=weights) + self.proj(emb)
        h = self.drop(torch.relu(h)).view(-1, self.members, self.hidden)
        return torch.einsum("bkh,kho->bko", h, self.out_weight) + self.out_bias

    def grow(self, n_features: int) -> None:
        """More n-gram rows, the new ones zero (as the n-gram student's warm start)."""
        old = self.embed.weight.data
        if n_features <= old.shape[0]:
            return
        emb = nn.EmbeddingBag(n_features, old.shape[1], mode="sum")
        emb.weight.data.zero_()
        emb.weight.data[:old.shape[0]] = old
        self.embed = emb


class Delta(nn.Module):
    """weight = frozen + scale * delta; ``right_inverse`` makes the initial delta zero."""

    frozen: torch.Tensor

    def __init__(self, frozen: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.register_buffer("frozen", frozen.detach().clone())
        self.scale = scale

    def forward(self, delta: torch.Tensor) -> torch.Tensor:
        return self.frozen + self.scale * delta

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        return (weight - self.frozen) / self.scale


class TunedEncoder(nn.Module):
    """The slot net on the embeddings of a BERT whose top ``layers`` layers train (the rest, its embeddings
    included, stay frozen and keep no gradients)."""

    def __init__(self, bert: Any, head: EncoderSlotNet, *, layers: int, scale: float) -> None:
        super().__init__()
        self.pooled = Pooled(bert)
        self.head = head
        self.layers = layers
        for p in bert.parameters():
            p.requires_grad_(False)
        blocks = bert.encoder.layer
        tuned = [(mod, name) for block in blocks[len(blocks) - layers:] for mod in block.modules()
                 for name, _ in mod.named_parameters(recurse=False)]  # listed first: registering adds modules
        for mod, name in tuned:
            parametrize.register_parametrization(mod, name, Delta(getattr(mod, name).data, scale))
            getattr(mod.parametrizations, name).original.requires_grad_(True)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(ids, offsets, weights, self.pooled(input_ids, attention_mask))

    def bert(self) -> Any:
        """The encoder with its tuned weights baked in (the parametrizations removed), for saving and export."""
        bert = self.pooled.bert
        for mod in bert.modules():
            if parametrize.is_parametrized(mod):
                for name in list(mod.parametrizations.keys()):
                    parametrize.remove_parametrizations(mod, name, leave_parametrized=True)
        return bert
