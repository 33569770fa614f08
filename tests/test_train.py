"""Student training on small synthetic splits (tiny from-scratch models, CPU): formatting, learning, lineage,
reproducibility, save/load, batched vs single predictions, the causal backend, and the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.evaluation.offline import evaluate_trained
from flywheel.inference.predictor import load_predictor
from flywheel.training.config import TrainConfig
from flywheel.training.data import examples, load_split, prompt, target_text
from flywheel.training.models import IGNORE, encode
from flywheel.training.tiny import train_tokenizer
from flywheel.training.train import train
from tests.support.splits import make_split_dir

SMALL = {"d_model": 64, "d_ff": 256, "num_heads": 4, "vocab_size": 512}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return load_split(make_split_dir(tmp_path_factory.mktemp("splits"), "s-train", n_base=24, test_size=28))


@pytest.fixture(scope="module")
def trained(split, tmp_path_factory):
    cfg = TrainConfig(backend="seq2seq", epochs=8, batch_size=32, lr=3e-3, tiny=SMALL, seed=1)
    out = tmp_path_factory.mktemp("models") / "m-learn"
    return train(cfg, split, out, model_id="m-learn", progress=False, evaluate_test=evaluate_trained)


def test_prompt_and_compact_targets() -> None:
    assert prompt("adjust", "  Golden   Hour! ") == "tool: adjust | intent: golden hour"
    assert target_text("filter", None) == "null"
    # Contract key order whatever the input order; compact separators.
    assert target_text("filter", {"intensity": 40, "name": "faded_HighNoon"}) == \
        '{"name":"faded_HighNoon","intensity":40}'
    sel = target_text("selective_adjust", {"blue": {"luminance": 1, "saturation": 2}, "red": {"saturation": 3,
                                                                                            "luminance": 4}})
    assert sel == '{"red":{"saturation":3,"luminance":4},"blue":{"saturation":2,"luminance":1}}'


def test_examples_are_multi_task_and_reject_incomplete_rows(split) -> None:
    ex = examples(split.train[:2])
    assert [e.tool for e in ex] == list(TOOLS) * 2
    with pytest.raises(ValueError, match="lacks tool 'filter'"):
        examples([{"intent": "x", "adjust": None, "selective_adjust": None}])


def test_causal_loss_is_on_the_answer_only() -> None:
    cfg = TrainConfig(backend="causal", tiny=SMALL)
    exs = examples([{"intent": "golden hour", "adjust": None, "selective_adjust": None,
                     "filter": {"name": "faded_Dusk", "intensity": 40}}])
    tok = train_tokenizer([e.source for e in exs] + [e.target for e in exs], 300, add_eos=False)
    enc, truncated = encode(cfg, tok, exs)
    assert truncated == 0
    for e, item in zip(exs, enc, strict=True):
        n_prompt = len(tok(e.source + "\n", add_special_tokens=False)["input_ids"])
        assert item["labels"][:n_prompt] == [IGNORE] * n_prompt
        answer = item["labels"][n_prompt:]
        assert answer[-1] == tok.eos_token_id
        assert tok.decode(answer[:-1]) == e.target
        assert item["input_ids"][n_prompt:] == answer


def test_tiny_seq2seq_learns(trained) -> None:
    lin = trained.lineage
    assert lin["split_id"] == "s-train" and lin["groundtruth_run_id"] == "gt-test"
    assert lin["train_examples"] == 3 * lin["train_intents"] and lin["truncated_targets"] == 0
    assert lin["training_seconds"] > 0 and lin["steps"] > 0
    assert lin["final_loss"] < 1.0  # starts around 6-7 (log of the vocabulary)
    # Learned something real: an untrained model scores ~0 (its outputs are not even valid JSON).
    assert trained.metrics["overall"] > 0.4, trained.metrics
    assert trained.metrics["invalid_rate"] < 0.2
    for f in ("lineage.json", "train_config.json", "flywheel_model.json", "test_predictions.jsonl",
              "tokenizer.json", "config.json"):
        assert (trained.path / f).is_file(), f
    saved = json.loads((trained.path / "lineage.json").read_text())
    assert saved["metrics"]["overall"] == trained.metrics["overall"]
    assert TrainConfig.model_validate_json((trained.path / "train_config.json").read_text()).seed == 1


def test_saved_model_predicts_the_same_batched_and_single(trained, split) -> None:
    p = load_predictor(trained.path)
    intents = [r["intent"] for r in split.test[:6]]
    batched = p.predict(intents)
    assert [p.predict_one(i) for i in intents] == batched
    contracts = load_tool_contracts()
    for out in batched:
        assert set(out) == set(TOOLS)
        assert all(contracts.valid(t, v) for t, v in out.items())  # invalid ones became None
    stored = [json.loads(x) for x in (trained.path / "test_predictions.jsonl").read_text().splitlines()]
    by_intent = {r["intent"]: r for r in stored}
    for i, out in zip(intents, batched, strict=True):
        if not any(isinstance(by_intent[i][t], str) for t in TOOLS):
            assert {t: by_intent[i][t] for t in TOOLS} == out
    assert p.counts["outputs"] == 3 * (len(intents) * 2)


def test_training_is_reproducible(split, tmp_path) -> None:
    cfg = TrainConfig(backend="seq2seq", max_steps=4, batch_size=16, tiny=SMALL, evaluate_test=False, seed=7)
    a = train(cfg, split, tmp_path / "a", model_id="a", progress=False, evaluate_test=evaluate_trained)
    b = train(cfg, split, tmp_path / "b", model_id="b", progress=False, evaluate_test=evaluate_trained)
    from transformers import AutoModelForSeq2SeqLM

    sa = AutoModelForSeq2SeqLM.from_pretrained(a.path).state_dict()
    sb = AutoModelForSeq2SeqLM.from_pretrained(b.path).state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.lineage["final_loss"] == b.lineage["final_loss"]


def test_tiny_causal_backend_trains_and_serves(split, tmp_path) -> None:
    cfg = TrainConfig(backend="causal", max_steps=15, batch_size=16, tiny=SMALL, max_eval_rows=4,
                      max_target_tokens=64)
    r = train(cfg, split, tmp_path / "c", model_id="c", progress=False, evaluate_test=evaluate_trained)
    assert r.lineage["backend"] == "causal"
    assert r.metrics["All"]["n"] == 4
    p = load_predictor(r.path)
    out = p.predict(["golden hour", "cool morning"])
    assert len(out) == 2 and all(set(o) == set(TOOLS) for o in out)
    assert p.counts["outputs"] == 6 and 0 <= p.counts["invalid"] <= 6


def test_config_rejects_bad_combinations(tmp_path) -> None:
    with pytest.raises(ValueError, match="lora is only supported"):
        TrainConfig(backend="seq2seq", lora={"r": 4})
    with pytest.raises(ValueError, match="decoder-only"):
        TrainConfig(base_model="smollm2")
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(ValueError, match="epoch"):
        TrainConfig.from_file(bad)
    good = tmp_path / "c.yaml"
    good.write_text("backend: causal\nmax_steps: 3\n")
    assert TrainConfig.from_file(good).max_steps == 3


def test_cli_train_and_predict(split, tmp_path, monkeypatch) -> None:
    from flywheel.cli.main import app

    monkeypatch.setenv("FLYWHEEL_ARTIFACTS_DIR", str(tmp_path / "art"))
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"backend": "seq2seq", "max_steps": 3, "batch_size": 16, "tiny": SMALL,
                               "max_eval_rows": 5}))
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--split", "s-train", "--split-dir", str(split.path), "--config", str(cfg),
                              "--model-id", "m-cli", "--no-register"])
    assert res.exit_code == 0, res.output
    assert "RQ1" in res.output and '"model_id": "m-cli"' in res.output
    model_dir = tmp_path / "art" / "models" / "m-cli"
    inp = tmp_path / "in.txt"
    inp.write_text("golden hour\n\n{\"intent\": \"cool morning\"}\n")
    out = tmp_path / "pred.jsonl"
    res = runner.invoke(app, ["predict", "--model", str(model_dir), "--input", str(inp), "--output", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["intent"] for r in rows] == ["golden hour", "cool morning"]
    assert "invalid outputs" in res.output
    # Training into an existing model folder is refused rather than overwriting it.
    res = runner.invoke(app, ["train", "--split", "s-train", "--split-dir", str(split.path), "--config", str(cfg),
                              "--model-id", "m-cli", "--no-register"])
    assert res.exit_code != 0 and "already exists" in str(res.exception)


@pytest.mark.slow
def test_smollm2_lora_smoke(split, tmp_path) -> None:
    from flywheel.training.models import SmolLM2Missing, smollm2_gguf

    try:
        smollm2_gguf()
    except SmolLM2Missing as e:
        pytest.skip(f"SmolLM2 weights not installed (optional extra `smollm2`): {e}")
    cfg = TrainConfig(backend="causal", base_model="smollm2", lora={"r": 4}, max_steps=2, batch_size=2,
                      max_train_rows=2, max_eval_rows=1, max_target_tokens=48, lr=1e-4)
    r = train(cfg, split, tmp_path / "smol", model_id="smol", progress=False, evaluate_test=evaluate_trained)
    assert r.lineage["base_model"] == "smollm2" and r.lineage["n_parameters"] > 100_000_000
    p = load_predictor(r.path)
    assert set(p.predict_one("golden hour")) == set(TOOLS)


def test_bench_inference_reports_student_and_teacher(trained) -> None:
    from flywheel.settings import get_settings
    from flywheel_lab.bench.inference import bench_inference

    r = bench_inference(get_settings(), trained.path, requests=4, batch_size=2)
    assert 0 < r.student_p50_ms <= r.student_p95_ms and r.batch_intents_per_s > 0
    assert r.teacher_p50_ms is not None and r.teacher_p95_ms is not None
    assert 0 < r.teacher_p50_ms <= r.teacher_p95_ms


def test_constrained_decoding_never_breaks_the_contract(trained, split) -> None:
    from flywheel.inference.constrained import grammar

    assert grammar("adjust").fullmatch('{"exposure":1', partial=True)
    assert not grammar("adjust").fullmatch('{"contrast":1', partial=True)  # keys in contract order only
    assert grammar("filter").fullmatch('{"name":"faded_Dusk","intensity":40}')
    assert not grammar("filter").fullmatch('{"name":"NoSuch', partial=True)
    p = load_predictor(trained.path, constrained=True)
    p.predict([r["intent"] for r in split.test])
    assert p.counts["invalid"] == 0
    assert json.loads((trained.path / "flywheel_model.json").read_text())["constrained_decoding"] is True


def test_tiny_t5_with_a_deeper_decoder_generates(split, tmp_path) -> None:
    cfg = TrainConfig(backend="seq2seq", max_steps=2, batch_size=16, tiny={**SMALL, "num_decoder_layers": 3},
                      max_eval_rows=2)
    r = train(cfg, split, tmp_path / "deep", model_id="deep", progress=False, evaluate_test=evaluate_trained)
    assert r.metrics["All"]["n"] == 2
    p = load_predictor(r.path)
    assert set(p.predict_one("golden hour")) == set(TOOLS)
