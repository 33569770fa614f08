"""Tiny random Hugging Face models saved as local "pretrained" base models, so the transformers students (seq2seq,
causal) are trained and served on CPU in seconds without a download: a byte-level BPE tokenizer trained on the split's
own text (numbers isolated, so JSON fragments merge) and a small T5 or Llama, saved with the tokenizer into a folder
that a config names as its ``base_model``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

from flywheel.training.data import examples

PAD, EOS, UNK, BOS = "<pad>", "</s>", "<unk>", "<s>"  # ids 0..3; T5 wants pad=0 (decoder start) and eos=1
# Big enough to learn the JSON skeleton of a 24-look split in 8 epochs (RQ1 ~.8, ~20 s on one core), no bigger.
SIZE = {"d_model": 64, "d_ff": 256, "num_heads": 2, "layers": 2}


def split_texts(rows: list[dict[str, Any]]) -> list[str]:
    """The sources and targets a student of these rows will see (the tokenizer's training text)."""
    exs = examples(rows)
    return [e.source for e in exs] + [e.target for e in exs]


def train_tokenizer(texts: Iterable[str], vocab_size: int, *, add_eos: bool) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"-?\d+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, EOS, UNK, BOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    if add_eos:  # seq2seq: encoder inputs and labels end with </s>, like T5's own tokenizer
        tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK, bos_token=BOS)


def tiny_t5(out: Path, texts: list[str], *, vocab_size: int = 512, seed: int = 0,
            decoder_layers: int | None = None) -> Path:
    """A random T5 (``decoder_layers`` may differ from the encoder's) and its tokenizer, saved to ``out``."""
    tok = train_tokenizer(texts, vocab_size, add_eos=True)
    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=len(tok), d_model=SIZE["d_model"], d_kv=SIZE["d_model"] // SIZE["num_heads"],
                   d_ff=SIZE["d_ff"], num_layers=SIZE["layers"], num_decoder_layers=decoder_layers or SIZE["layers"],
                   num_heads=SIZE["num_heads"], dropout_rate=0.0, feed_forward_proj="gated-gelu",
                   tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    T5ForConditionalGeneration(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def tiny_llama(out: Path, texts: list[str], *, vocab_size: int = 512, seed: int = 0) -> Path:
    """A random Llama and its tokenizer, saved to ``out``."""
    tok = train_tokenizer(texts, vocab_size, add_eos=False)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=SIZE["d_model"], intermediate_size=SIZE["d_ff"],
                      num_hidden_layers=SIZE["layers"], num_attention_heads=SIZE["num_heads"],
                      num_key_value_heads=SIZE["num_heads"], max_position_embeddings=256, tie_word_embeddings=True,
                      pad_token_id=0, eos_token_id=1, bos_token_id=3)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out
