"""`from-scratch tiny` mode: a byte-level BPE tokenizer trained on the split's own text and a small T5 / Llama config.

The pre-tokenizer only isolates numbers; everything else may merge, so frequent JSON fragments such as
``,"contrast":`` become single tokens and an adjust output is ~30 tokens instead of ~60 (faster training and decoding).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, PreTrainedTokenizerFast, T5Config

from flywheel.training.config import TinyModelConfig

PAD, EOS, UNK, BOS = "<pad>", "</s>", "<unk>", "<s>"
SPECIALS = [PAD, EOS, UNK, BOS]  # ids 0..3; T5 wants pad=0 (decoder start) and eos=1


def train_tokenizer(texts: Iterable[str], vocab_size: int, add_eos: bool) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"-?\d+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    if add_eos:  # seq2seq: encoder inputs and labels end with </s>, like T5's own tokenizer
        tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK, bos_token=BOS)


def t5_config(c: TinyModelConfig, vocab_size: int) -> T5Config:
    return T5Config(  # type: ignore[call-arg]  # extra kwargs go to PretrainedConfig
        vocab_size=vocab_size, d_model=c.d_model, d_kv=c.d_model // c.num_heads, d_ff=c.d_ff,
        num_layers=c.num_layers, num_decoder_layers=c.num_decoder_layers, num_heads=c.num_heads,
        dropout_rate=c.dropout, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )


def llama_config(c: TinyModelConfig, vocab_size: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=c.d_model, intermediate_size=c.d_ff, num_hidden_layers=c.num_layers,
        num_attention_heads=c.num_heads, num_key_value_heads=c.num_heads, max_position_embeddings=256,
        attention_dropout=c.dropout, tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=3,
    )
