"""Erasure end to end (docs/domain.md#erasure) on a real small pipeline: ground truth, a split, an n-gram student
trained, registered and evaluated on it; then the user is erased through the assistant's authenticated admin
endpoint (`POST /admin/erasures`). Afterwards no table and no file under the artifacts folder holds their user id or
the text only they typed, the model folder is marked and listed, and training refuses the split."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.assistant.app import create_app
from flywheel.assistant.keys import create_key
from flywheel.contracts import ADJUST_KEYS
from flywheel.datasets.erased import MARKER, ErasedSplit
from flywheel.datasets.files import split_dir
from flywheel.datasets.groundtruth import run_groundtruth
from flywheel.datasets.splits import make_split
from flywheel.registry.stages import evaluate_model, run_training
from flywheel.training.config import NgramConfig
from tests.support.events import EventWriter, clear_events
from tests.test_erasure import _rows_holding

ALICE, BOB = "u-alice-admin-3c1d", "u-bob-admin-8e2f"
# Texts only Bob typed (as typed; the normal form is lower case): several, so the test part holds some.
PRIVATE = [f"Like the photo john.smith{i}@mail.com sent" for i in range(8)]
LOOK = {"adjust": {k: 10 if k == "exposure" else 0 for k in ADJUST_KEYS}, "selective_adjust": None,
        "filter": {"name": "faded_Dusk", "intensity": 30}}
CONFIG = NgramConfig(max_steps=12, batch_size=32, lr=3e-3, warmup_steps=2)


class _Idle:  # the admin route needs no backend
    def close(self) -> None:
        pass


def _projects(engine) -> None:
    with engine.begin() as conn:
        for user, project in ((ALICE, "p-alice-admin"), (BOB, "p-bob-admin")):
            conn.execute(text(
                "INSERT INTO projects (event_id, schema_version, occurred_at, producer, project_id, user_id, platform,"
                " app_version) VALUES (:e, 1, :t, 'test', :p, :u, 'ios', '1.0')"),
                {"e": str(uuid.uuid4()), "t": datetime(2026, 11, 1, tzinfo=UTC), "p": project, "u": user})


def _needles() -> list[str]:
    return [BOB, "p-bob-admin", *PRIVATE, *(p.lower() for p in PRIVATE)]


def _files_holding(root: Path, needles: list[str]) -> list[str]:
    """Every file under ``root`` whose bytes contain one of ``needles`` (as UTF-8 or as JSON's ASCII escapes)."""
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(n.encode() in data or json.dumps(n)[1:-1].encode() in data for n in needles):
                hits.append(str(path.relative_to(root)))
    return hits


@pytest.fixture(scope="module")
def world(settings, engine) -> dict[str, Any]:
    clear_events(engine)
    _projects(engine)
    w = EventWriter(engine)
    for i in range(40):
        w.request(f"Alice look number {i}", LOOK, {"adjust": True, "filter": i % 2 == 0}, project_id="p-alice-admin")
    w.request("Golden hour", LOOK, {"adjust": True}, project_id="p-alice-admin")
    w.flush()
    for intent in ["Golden hour", *PRIVATE]:
        w.request(intent, LOOK, {"adjust": True, "filter": True}, project_id="p-bob-admin")
    w.flush()
    run = run_groundtruth(settings, engine=engine)
    split = make_split(settings, run.run_id, test_size=16, seed=0, validate=False, engine=engine)
    trained = run_training(settings, split.split_id, CONFIG, progress=False, engine=engine)
    evaluate_model(settings, trained.model_id, split.split_id, engine=engine)
    with Session(engine) as s, s.begin():
        admin = create_key(s, app="admin")[1]
        other = create_key(s, app="mobile")[1]
    return {"split": split, "model_id": trained.model_id, "model_dir": Path(trained.path), "admin": admin,
            "other": other}


@pytest.fixture(scope="module")
def client(settings, engine, world):
    app = create_app(settings, engine=engine, teacher=_Idle(), student=_Idle(), experiment_ttl_s=0)
    with TestClient(app) as c:
        yield c


def test_admin_endpoint_refuses_without_an_admin_key_or_a_good_body(client, world):
    r = client.post("/admin/erasures", json={"user_id": BOB})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.post("/admin/erasures", json={"user_id": BOB},
                       headers={"Authorization": "Bearer fwk_nope_nope"}).status_code == 401
    r = client.post("/admin/erasures", json={"user_id": BOB}, headers={"Authorization": f"Bearer {world['other']}"})
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    admin = {"Authorization": f"Bearer {world['admin']}"}
    for bad in ({"user": BOB}, {"user_id": ""}, {"user_id": BOB, "why": "x"}, [BOB]):
        assert client.post("/admin/erasures", json=bad, headers=admin).status_code == 422, bad
    assert client.post("/admin/erasures", content=b"{not json", headers=admin).status_code == 422


def test_erased_through_the_endpoint_nothing_holds_their_id_or_private_text(settings, engine, client, world):
    root = Path(settings.artifacts_dir)
    before = _files_holding(root, _needles())
    # the scan finds what is there: the split and the model's predictions held Bob's private texts
    assert any(p.startswith("splits/") for p in before) and any(p.startswith("models/") for p in before), before
    r = client.post("/admin/erasures", json={"user_id": BOB}, headers={"X-API-Key": world["admin"]})
    assert r.status_code == 200, r.text
    record = r.json()
    assert BOB not in r.text and "john.smith" not in r.text
    assert record["models"] == [world["model_id"]] and record["unusable_splits"] == [world["split"].split_id]
    assert record["counts"]["private_intents"] == len(PRIVATE) and record["counts"]["model_rows"] > 0
    assert _files_holding(root, _needles()) == []
    for needle in _needles():
        assert _rows_holding(engine, needle) == [], needle
    assert _files_holding(root, ["alice look number 3"])  # and the scan still finds the others' text
    marker = json.loads((world["model_dir"] / MARKER).read_text())
    assert marker["erasure_id"] == record["erasure_id"] and marker["retrain"] is True


def test_training_refuses_the_erased_split(settings, engine, world):
    split_id = world["split"].split_id
    assert (split_dir(settings, split_id) / MARKER).is_file()
    with pytest.raises(ErasedSplit, match=rf"split {split_id} is unusable: erasure \d+ removed intents"):
        run_training(settings, split_id, CONFIG, progress=False, engine=engine)
