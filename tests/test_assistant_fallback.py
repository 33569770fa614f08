"""No intent breaks the assistant, through the real app, Postgres, broker and ingest: hostile texts (emoji, other
scripts, digits, punctuation, 4 KiB of Unicode noise) get contract-valid outputs from either arm, or a documented
non-500 status; a student whose real checkpoint is broken (it raises at predict time, or does not load) is replaced by
the teacher for that request, and the response event, the responses table and the metrics say so."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from safetensors.torch import load_file, save_file
from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.assistant.app import create_app
from flywheel.assistant.routing import assign_arm
from flywheel.contracts import TOOLS, load_tool_contracts
from flywheel.db.experiments import create_experiment, parse_arms
from flywheel.events.envelope import make_event
from flywheel.events.validation import Accepted, load_validator
from flywheel.ingest.service import IngestOptions, run_ingest
from flywheel.registry.records import insert_model
from flywheel.runtime.proc import free_port
from flywheel.teacher.threaded import ThreadedServer, start_in_thread
from flywheel.training.config import NgramConfig
from flywheel.training.data import load_split
from flywheel.training.students.ngram import WEIGHTS_FILE
from flywheel.training.train import train
from flywheel_lab.simulator.teacher_server import create_app as teacher_app
from flywheel_lab.simulator.world import build_world
from tests.support.splits import make_split_dir

SEED, BASES = 7, 40
TEACHER_VERSION = f"sim-seed{SEED}"
OK: list[str] = []  # request ids answered 200 in this module: each left two events on the topic
INGESTED = [0]  # events ingest has consumed from this module's topic so far


def _noise(seed: int = 0, max_bytes: int = 4096, max_chars: int = 2000) -> str:
    """Random code points from every plane (no surrogates, no NUL), as many as fit in 4 KiB of UTF-8."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while len(out) < max_chars:
        cp = rng.choice([rng.randint(1, 0x7F), rng.randint(0x80, 0x7FF), rng.randint(0x800, 0xD7FF),
                         rng.randint(0xE000, 0xFFFD), rng.randint(0x10000, 0x10FFFF)])
        n = len(chr(cp).encode("utf-8"))
        if size + n > max_bytes:
            break
        out.append(chr(cp))
        size += n
    return "".join(out)


HOSTILE = {"emoji": "🎨🌅🔥", "punctuation": "!!!", "japanese": "夕焼けの写真を暖かく", "thai": "ภาพถ่ายยามเย็น",
           "digits": "42", "empty": "", "noise": _noise()}
# The request contract refuses these (docs/domain.md#intent-normalization: an intent must not normalize to empty,
# because intent_submitted would be refused by ingest): a documented 422 with the reason, not an answer.
REFUSED = {"empty", "punctuation"}


@pytest.fixture(scope="module")
def teacher() -> Iterator[ThreadedServer]:
    with start_in_thread(teacher_app(build_world(SEED, BASES))) as srv:
        yield srv


@pytest.fixture(scope="module")
def asettings(settings, teacher):
    return settings.model_copy(update={"openai_base_url": f"{teacher.url}/v1", "openai_api_key": None})


def _register(engine, path: Path, model_id: str) -> None:
    lineage = json.loads((path / "lineage.json").read_text())
    with Session(engine) as s, s.begin():
        insert_model(s, model_id=model_id, path=path, lineage=lineage, config={"backend": "ngram"}, metrics={},
                     training_seconds=1.0)


@pytest.fixture(scope="module")
def models(asettings, engine, tmp_path_factory) -> dict[str, str]:
    """A real tiny n-gram student, and two real broken copies of its checkpoint, all in the registry: one whose
    output layer diverged to infinity (it loads; predicting raises OverflowError), one whose weights file is cut
    short (it does not load)."""
    split = load_split(make_split_dir(tmp_path_factory.mktemp("splits"), "s-fallback", n_base=20, test_size=10))
    root = Path(asettings.artifacts_dir) / "models"
    good = root / "m-good"
    train(NgramConfig(epochs=3, batch_size=32), split, good, model_id="m-good", progress=False)
    _register(engine, good, "m-good")
    diverged = root / "m-diverged"
    shutil.copytree(good, diverged)
    weights = load_file(str(diverged / WEIGHTS_FILE))
    weights["out.bias"] = torch.full_like(weights["out.bias"], float("inf"))
    save_file(weights, str(diverged / WEIGHTS_FILE))
    _register(engine, diverged, "m-diverged")
    truncated = root / "m-truncated"
    shutil.copytree(good, truncated)
    data = (truncated / WEIGHTS_FILE).read_bytes()
    (truncated / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    _register(engine, truncated, "m-truncated")
    return {"good": "m-good", "diverged": "m-diverged", "truncated": "m-truncated"}


def _user_in(arm: str, salt: str, arms: list[tuple[str, float]]) -> str:
    return next(u for u in (f"user-{i}" for i in range(1000)) if assign_arm(u, salt, arms) == arm)


def _assert_answer(body: dict, arm: str, served_by: str) -> None:
    contracts = load_tool_contracts()
    assert body["arm"] == arm and body["served_by"] == served_by, body
    assert set(body["outputs"]) == set(TOOLS) and all(contracts.valid(t, body["outputs"][t]) for t in TOOLS), body


def test_hostile_intents_get_contract_valid_answers_from_both_arms(asettings, engine, models) -> None:
    exp = create_experiment(engine, "hostile", parse_arms(f"teacher:0.5:teacher,student:0.5:student:{models['good']}"),
                            salt="hostile")
    users = {arm: _user_in(arm, exp.salt, exp.weights()) for arm in ("teacher", "student")}
    with start_in_thread(create_app(asettings, experiment_ttl_s=0, require_key=False)) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as c:
        for name, intent in HOSTILE.items():
            for arm, user in users.items():
                r = c.post("/v1/edits", json={"project_id": f"p-{name}-{arm}", "user_id": user, "intent": intent})
                assert r.status_code != 500, (name, arm, r.text)
                assert r.headers["content-type"].startswith("application/json"), (name, arm)
                if name in REFUSED:
                    assert r.status_code == 422 and "intent" in r.json()["detail"], (name, r.text)
                    continue
                assert r.status_code == 200, (name, arm, r.text)
                body = r.json()
                # The student answers every text itself: a fallback here would hide a student that breaks on it.
                _assert_answer(body, arm, served_by=arm)
                assert body["fallback_reason"] is None
                assert body["model_version"] == (TEACHER_VERSION if arm == "teacher" else models["good"])
                OK.append(body["request_id"])


@pytest.mark.parametrize(("model", "reason"), [("diverged", "student_error: OverflowError"),
                                               ("truncated", "student_load_error: ")])
def test_a_broken_student_is_replaced_by_the_teacher_and_recorded(asettings, engine, models, model, reason) -> None:
    create_experiment(engine, f"broken {model}", parse_arms(f"student:1:student:{models[model]}"), salt="b")
    app = create_app(asettings, experiment_ttl_s=0, require_key=False, public_metrics=True)
    with start_in_thread(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        ids = []
        for i, intent in enumerate(["golden hour", HOSTILE["emoji"], "warm vintage film"]):
            r = c.post("/v1/edits", json={"project_id": f"p-{model}-{i}", "user_id": f"u-{i}", "intent": intent})
            assert r.status_code == 200, r.text
            body = r.json()
            _assert_answer(body, "student", served_by="teacher")
            assert body["fallback_reason"].startswith(reason) and body["model_version"] == TEACHER_VERSION, body
            ids.append(body["request_id"])
        metrics = c.get("/metrics").text
        kind = reason.split(":")[0]
        assert f'flywheel_assistant_fallbacks_total{{arm="student",reason="{kind}"}} 3.0' in metrics, metrics
        assert 'flywheel_assistant_requests_total{arm="student",status="teacher_fallback"} 3.0' in metrics
        # the student arm's own latency window holds no teacher answer
        assert "student/fallback" in c.get("/v1/latency").json() and "student" not in c.get("/v1/latency").json()
    OK.extend(ids)
    stats = run_ingest(asettings, IngestOptions(max_events=2 * len(OK) - INGESTED[0], idle_exit_s=20.0))
    INGESTED[0] += stats.consumed
    assert stats.failed == 0 and INGESTED[0] == 2 * len(OK), stats
    with engine.connect() as conn:
        rows = {r.request_id: r for r in conn.execute(text(
            "SELECT request_id, arm, served_by, fallback_reason, model_version FROM responses"))}
    for rid in ids:
        row = rows[rid]
        assert (row.arm, row.served_by, row.model_version) == ("student", "teacher", TEACHER_VERSION)
        assert row.fallback_reason.startswith(reason)
    served = {(r.arm, r.served_by, r.fallback_reason) for rid, r in rows.items() if rid not in ids}
    assert served <= {("teacher", "teacher", None), ("student", "student", None),
                      ("student", "teacher", "student_error: OverflowError")}, served


def test_student_and_teacher_both_failing_is_a_503_with_a_json_reason(asettings, engine, models) -> None:
    dead = asettings.model_copy(update={"openai_base_url": f"http://127.0.0.1:{free_port()}/v1",
                                        "teacher_max_retries": 0})
    create_experiment(engine, "nobody answers", parse_arms(f"student:1:student:{models['diverged']}"), salt="d")
    with start_in_thread(create_app(dead, experiment_ttl_s=0, require_key=False, public_metrics=True)) as srv:
        r = httpx.post(f"{srv.url}/v1/edits", json={"project_id": "p-dead", "user_id": "u", "intent": "warm"},
                       timeout=60)
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["arm"] == "student" and "student_error: OverflowError" in body["detail"]
        assert "teacher" in body["detail"], body
        metrics = httpx.get(f"{srv.url}/metrics", timeout=10).text
        assert 'flywheel_assistant_requests_total{arm="student",status="unavailable"} 1.0' in metrics


def test_the_new_event_fields_are_optional_and_checked(asettings) -> None:
    validator = load_validator(asettings)
    base = make_event("assistant_responded", "assistant", project_id="p", request_id="r", arm="student",
                      model_name="m", model_version="1", outputs={t: None for t in TOOLS}, latency_ms=1.0)

    def accepted(event: dict) -> bool:
        raw = json.dumps(event)
        return isinstance(validator.check(json.loads(raw), raw), Accepted)

    assert accepted(base)  # an event written before the fields existed
    assert accepted({**base, "served_by": "teacher", "fallback_reason": "student_error: ZeroDivisionError"})
    assert accepted({**base, "served_by": "student", "fallback_reason": None})
    assert not accepted({**base, "served_by": "robot"})
    assert not accepted({**base, "served_by": "teacher", "fallback_reason": "x" * 201})
