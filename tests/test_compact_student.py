"""Students on the compact target encoding: the fast decoder agrees with the model's own forward pass, a tiny model
trains to valid outputs, training is deterministic, and JSON-encoded checkpoints still load and serve."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, T5ForConditionalGeneration

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.evaluation.offline import evaluate_trained
from flywheel.inference.compact_predictor import CompactPredictor
from flywheel.inference.decoder import CompactT5Decoder
from flywheel.inference.predictor import MODEL_CARD, Predictor, load_predictor
from flywheel.training.config import TinyModelConfig, TrainConfig
from flywheel.training.data import load_split
from flywheel.training.encoding import VOCAB_FILE, Grammar, TargetVocab, decode
from flywheel.training.tiny import t5_config
from flywheel.training.train import train
from tests.support.splits import make_split_dir

SMALL = {"d_model": 64, "d_ff": 192, "num_heads": 4, "vocab_size": 400}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return load_split(make_split_dir(tmp_path_factory.mktemp("splits"), "s-compact", n_base=24, test_size=28))


@pytest.mark.parametrize("decoder_layers", [1, 3])
def test_fast_decoder_matches_the_models_forward_pass(decoder_layers) -> None:
    torch.manual_seed(decoder_layers)
    vocab = TargetVocab.build(load_tool_contracts().filter_names, offset=40)
    model = T5ForConditionalGeneration(t5_config(TinyModelConfig(d_model=64, d_ff=128, num_heads=4,
                                                                 num_decoder_layers=decoder_layers),
                                                 40 + len(vocab))).eval()
    dec = CompactT5Decoder(model, vocab, TOOLS)
    ids = torch.randint(4, 40, (6, 9))
    mask = torch.ones_like(ids)
    ids[0, 5:], mask[0, 5:] = 0, 0  # a padded row
    tools = list(TOOLS) * 2
    rows = dec.decode(ids, mask, tools)
    grammar = Grammar(vocab)
    for k, (row, tool) in enumerate(zip(rows, tools, strict=True)):
        decode(tool, [vocab.tokens[j] for j in row])  # a complete, legal output
        dec_in = torch.tensor([[0] + [j + vocab.offset for j in row[:-1]]])
        with torch.no_grad():
            logits = model(input_ids=ids[k:k + 1], attention_mask=mask[k:k + 1],
                           decoder_input_ids=dec_in).logits[0]
        state = grammar.start(tool)
        for pos, j in enumerate(row):
            allowed = torch.tensor(grammar.allowed(state))
            assert allowed[logits[pos, allowed].argmax()].item() == j + vocab.offset, (tool, pos)
            state = grammar.advance(state, j + vocab.offset)
        assert state is None


@pytest.fixture(scope="module")
def compact_model(split, tmp_path_factory):
    cfg = TrainConfig(backend="seq2seq", epochs=10, batch_size=32, lr=3e-3, tiny=SMALL, seed=3)
    assert cfg.target_encoding == "compact"  # the default for seq2seq
    return train(cfg, split, tmp_path_factory.mktemp("models") / "m-compact", model_id="m-compact", progress=False,
                 evaluate_test=evaluate_trained)


def test_compact_student_learns_and_serves_valid_outputs(compact_model, split) -> None:
    card = json.loads((compact_model.path / MODEL_CARD).read_text())
    assert card["target_encoding"] == "compact" and (compact_model.path / VOCAB_FILE).is_file()
    assert compact_model.metrics["invalid_rate"] == 0.0
    assert compact_model.metrics["overall"] > 0.4, compact_model.metrics  # an untrained model scores ~0
    p = load_predictor(compact_model.path)
    assert isinstance(p, CompactPredictor)
    intents = [r["intent"] for r in split.test]
    batched = p.predict(intents)
    assert [p.predict_one(i) for i in intents[:5]] == batched[:5]
    contracts = load_tool_contracts()
    assert all(contracts.valid(t, out[t]) for out in batched for t in TOOLS)
    assert p.counts["invalid"] == 0
    stored = {json.loads(x)["intent"]: json.loads(x)
              for x in (compact_model.path / "test_predictions.jsonl").read_text().splitlines()}
    assert all({t: stored[i][t] for t in TOOLS} == out for i, out in zip(intents, batched, strict=True))


def test_compact_training_is_deterministic(split, tmp_path) -> None:
    cfg = TrainConfig(backend="seq2seq", max_steps=6, batch_size=16, tiny=SMALL, max_eval_rows=6, seed=11)
    a = train(cfg, split, tmp_path / "a", model_id="a", progress=False, evaluate_test=evaluate_trained)
    b = train(cfg, split, tmp_path / "b", model_id="b", progress=False, evaluate_test=evaluate_trained)
    sa = AutoModelForSeq2SeqLM.from_pretrained(a.path).state_dict()
    sb = AutoModelForSeq2SeqLM.from_pretrained(b.path).state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert (a.path / "test_predictions.jsonl").read_text() == (b.path / "test_predictions.jsonl").read_text()


def test_json_encoding_still_trains_and_loads(split, tmp_path) -> None:
    cfg = TrainConfig(backend="seq2seq", target_encoding="json", max_steps=3, batch_size=16, tiny=SMALL,
                      max_eval_rows=2)
    r = train(cfg, split, tmp_path / "j", model_id="j", progress=False, evaluate_test=evaluate_trained)
    assert json.loads((r.path / MODEL_CARD).read_text())["target_encoding"] == "json"
    p = load_predictor(r.path)
    assert type(p) is Predictor and set(p.predict_one("golden hour")) == set(TOOLS)
    # a checkpoint written before the field existed has no target_encoding in its card: JSON
    card = json.loads((r.path / MODEL_CARD).read_text())
    del card["target_encoding"]
    (r.path / MODEL_CARD).write_text(json.dumps(card))
    assert type(load_predictor(r.path)) is Predictor


def test_encoding_follows_the_backend_unless_set() -> None:
    assert TrainConfig().target_encoding == "slots"  # the default backend is the n-gram student
    assert TrainConfig(backend="seq2seq").target_encoding == "compact"
    assert TrainConfig(backend="causal").target_encoding == "json"
    with pytest.raises(ValueError, match="needs backend='seq2seq'"):
        TrainConfig(backend="causal", target_encoding="compact")


def test_null_bias_moves_the_tool_selection_decision_only() -> None:
    torch.manual_seed(5)
    vocab = TargetVocab.build(load_tool_contracts().filter_names, offset=40)
    model = T5ForConditionalGeneration(t5_config(TinyModelConfig(d_model=64, d_ff=128, num_heads=4),
                                                 40 + len(vocab))).eval()
    ids, mask = torch.randint(4, 40, (9, 7)), torch.ones(9, 7, dtype=torch.long)
    tools = list(TOOLS) * 3
    null = vocab.index["null"] - vocab.offset
    never = CompactT5Decoder(model, vocab, TOOLS, null_bias={t: -1e4 for t in TOOLS}).decode(ids, mask, tools)
    always = CompactT5Decoder(model, vocab, TOOLS, null_bias={t: 1e4 for t in TOOLS}).decode(ids, mask, tools)
    assert all(row[0] != null for row in never) and all(row == [null] for row in always)
    plain = CompactT5Decoder(model, vocab, TOOLS).decode(ids, mask, tools)
    # once a tool is named, the values are the model's own: the bias only touches the first step
    assert all(n == p for n, p in zip(never, plain, strict=True) if p[0] != null)
    only_filter = CompactT5Decoder(model, vocab, TOOLS, null_bias={"filter": 1e4}).decode(ids, mask, tools)
    assert [r for r, t in zip(only_filter, tools, strict=True) if t != "filter"] == \
        [r for r, t in zip(plain, tools, strict=True) if t != "filter"]


def test_null_bias_is_stored_in_the_card_and_served(split, tmp_path) -> None:
    cfg = TrainConfig(backend="seq2seq", max_steps=3, batch_size=16, tiny=SMALL, max_eval_rows=4,
                      null_bias={"filter": -1e4})
    r = train(cfg, split, tmp_path / "nb", model_id="nb", progress=False, evaluate_test=evaluate_trained)
    assert json.loads((r.path / MODEL_CARD).read_text())["null_bias"] == {"filter": -1e4}
    p = load_predictor(r.path)
    assert all(out["filter"] is not None for out in p.predict([row["intent"] for row in split.test[:8]]))


def test_grammar_loss_is_the_cross_entropy_over_the_legal_tokens(split) -> None:
    from flywheel.training import compact
    from flywheel.training.data import examples
    from flywheel.training.grammar_loss import IGNORE, GrammarLoss
    from flywheel.training.models import collate

    torch.manual_seed(2)
    cfg = TrainConfig(backend="seq2seq", tiny=SMALL)
    ex = examples(split.train[:12])
    model, tok, vocab = compact.build(cfg, ex)
    data, _ = compact.encode_examples(cfg, tok, vocab, ex)
    batch = collate(data, tok.pad_token_id, "seq2seq")
    loss = GrammarLoss(vocab)
    got = loss(model, batch)
    # brute force: the model's full logits, masked to each position's legal tokens by walking the grammar
    logits = model(**{k: v for k, v in batch.items() if k != "tool"}).logits
    grammar, terms = Grammar(vocab), []
    for row, tool in enumerate(batch["tool"].tolist()):
        state = grammar.start(TOOLS[tool])
        for pos, label in enumerate(batch["labels"][row].tolist()):
            if label == IGNORE:
                assert state is None
                break
            allowed = torch.tensor(grammar.allowed(state))
            terms.append(torch.nn.functional.cross_entropy(logits[row, pos, allowed][None],
                                                           (allowed == label).nonzero()[0]))
            state = grammar.advance(state, label)
    assert torch.allclose(got, torch.stack(terms).mean(), atol=1e-5)
    got.backward()  # differentiable
    full = compact.loss_fn(cfg.model_copy(update={"grammar_loss": False}), vocab)(model, batch)
    assert full.item() > got.item()  # the full softmax also spends mass on illegal tokens
