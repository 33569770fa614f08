"""Erasure of a user (docs/domain.md#erasure): after `erase_user` no table row holds the user's id or the text only
they typed, a text others typed too stays with the others' evidence, the record lists the split and the model, and
the next ground-truth run no longer counts the erased evidence."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from flywheel.datasets.files import split_dir
from flywheel.datasets.groundtruth import groundtruth_rows, run_groundtruth
from flywheel.datasets.splits import make_split
from flywheel.privacy.erase import MARKER, erase_user, user_sha256
from tests.support.events import EventWriter, clear_events
from tests.support.figures import report

ALICE, BOB = "u-alice-7f3a", "u-bob-91c2"
SHARED = "Golden hour!"
PRIVATE = "Like the photo john.smith@mail.com sent"  # only Bob typed it
LOOK = {"adjust": {"exposure": 10}, "selective_adjust": None, "filter": {"name": "faded_Dusk", "intensity": 30}}


def _project(engine: Engine, *, user_id: str, project_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO projects (event_id, schema_version, occurred_at, producer, project_id, user_id, platform,"
            " app_version) VALUES (:e, 1, :t, 'test', :p, :u, 'ios', '1.0')"),
            {"e": str(uuid.uuid4()), "t": datetime(2026, 11, 1, tzinfo=UTC), "p": project_id, "u": user_id})


def _requests(engine: Engine, project_id: str, intents: list[tuple[str, bool]]) -> None:
    """One flush = one ingest transaction = one ingested_at: the order of flushes is the order of arrival."""
    w = EventWriter(engine)
    for intent, exported in intents:
        w.request(intent, LOOK, {"adjust": exported, "filter": exported}, project_id=project_id)
    w.flush()


@pytest.fixture(scope="module")
def world(settings, engine) -> dict[str, Any]:
    clear_events(engine)
    _project(engine, user_id=ALICE, project_id="p-alice")
    _project(engine, user_id=BOB, project_id="p-bob")
    fillers = [(f"Alice look number {i}", True) for i in range(8)]
    _requests(engine, "p-alice", [(SHARED, True), (SHARED, False), *fillers[:4]])
    # Bob's events arrive between Alice's: the watermark is Alice's, before and after the erasure.
    _requests(engine, "p-bob", [(SHARED, True), (SHARED, True), (PRIVATE, True)])
    _requests(engine, "p-alice", [(SHARED, False), *fillers[4:]])
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO failed_events (kafka_topic, kafka_partition, kafka_offset, raw, raw_text, reason)"
            " VALUES ('events', 0, 1, :bob, NULL, 'bad schema'), ('events', 0, 2, :other, :other_text, 'bad json')"),
            {"bob": json.dumps({"event_type": "project_started", "user_id": BOB}).encode(),
             "other": b"{not json", "other_text": "{not json"})
    before = run_groundtruth(settings, engine=engine)
    split = make_split(settings, before.run_id, test_size=3, seed=0, validate=False, engine=engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO models (id, backend, base, split_id, groundtruth_run_id, path)"
                          " VALUES ('m-erase', 'seq2seq', 't5', :s, :r, '/nowhere')"),
                     {"s": split.split_id, "r": before.run_id})
        conn.execute(text("INSERT INTO annotation_batches (batch_id, model_id, split_id, n_tasks)"
                          " VALUES ('b-erase', 'm-erase', :s, 2)"), {"s": split.split_id})
        conn.execute(text(
            "INSERT INTO annotation_tasks (batch_id, position, intent, photo, teacher, student, delta_e, ssim)"
            " VALUES ('b-erase', 0, :shared, 'p1', '{}', '{}', 1, 1),"
            " ('b-erase', 1, :private, 'p2', '{}', '{}', 1, 1)"),
            {"shared": "golden hour", "private": PRIVATE.lower()})
    erased = erase_user(engine=engine, user_id=BOB, artifacts_dir=Path(settings.artifacts_dir))
    report("erasure", erase_s=round(erased.duration_s, 3), deleted=sum(erased.counts.values()))
    after = run_groundtruth(settings, engine=engine)
    return {"before": before, "split": split, "erased": erased, "after": after}


def _rows_holding(engine: Engine, needle: str) -> list[str]:
    """Every (table.column) of the public schema whose text, JSON or bytes contain ``needle`` (case-insensitive);
    partitions are read through their parent table."""
    with engine.connect() as conn:
        cols = conn.execute(text(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
            # a partitioned table is read through its parent (the event tables, 0024)
            " AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = format('%I.%I', c.table_schema,"
            " c.table_name)::regclass)"
            " AND c.data_type IN ('text', 'character varying', 'character', 'jsonb', 'json', 'bytea')")).all()
        hits = []
        for table, column, kind in cols:
            value = f'"{column}"' if kind != "bytea" else f"encode(\"{column}\", 'escape')"
            n = conn.execute(text(f'SELECT count(*) FROM "{table}" WHERE {value}::text ILIKE :n'),
                             {"n": f"%{needle}%"}).scalar_one()
            if n:
                hits.append(f"{table}.{column}")
    return hits


def test_no_table_holds_the_user_id_or_their_private_text(engine, world):
    assert world["erased"].counts["intents"] == 3 and world["erased"].counts["failed_events"] == 1
    assert len(_rows_holding(engine, "golden hour")) > 0  # the scan finds what is there
    for needle in (BOB, "p-bob", PRIVATE, "john.smith@mail.com"):
        assert _rows_holding(engine, needle) == [], needle
    assert _rows_holding(engine, ALICE) == ["projects.user_id"]


def test_shared_intent_stays_with_the_other_users_evidence(settings, engine, world):
    before, after = world["before"], world["after"]
    assert after.run_id == before.run_id and after.created  # same watermark: the stale run is recomputed in place
    assert after.n_responses == before.n_responses - 3
    rows = {(r["intent_norm"], r["tool"]): r for r in groundtruth_rows(settings, after.run_id, engine=engine)}
    shared = rows[("golden hour", "adjust")]
    assert (shared["shown"], shared["exports"], shared["support"]) == (3, 1, 3)  # Alice's three, Bob's two gone
    assert not any(intent == PRIVATE.lower() for intent, _ in rows)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM intents WHERE intent_norm = 'golden hour'")).scalar_one() == 3
    # the erasure took Bob's evidence out of the aggregates: no fold from the first event; only the shared intent is
    # re-picked (the private one has neither a version nor a candidate left)
    assert after.params["mode"] == "incremental" and after.params["fold"] is None
    assert after.params["repick"]["n_touched"] == 1


def test_record_lists_split_model_and_batch_without_personal_data(settings, engine, world):
    erased, split = world["erased"], world["split"]
    assert erased.splits == [split.split_id] and erased.unusable_splits == [split.split_id]
    assert erased.models == ["m-erase"] and erased.annotation_batches == ["b-erase"]
    assert erased.groundtruth_runs == [world["before"].run_id]
    with engine.connect() as conn:
        rec = conn.execute(text("SELECT * FROM erasures WHERE id = :i"), {"i": erased.erasure_id}).mappings().one()
        tasks = conn.execute(text("SELECT intent FROM annotation_tasks WHERE batch_id = 'b-erase'")).scalars().all()
    assert rec["user_sha256"] == user_sha256(user_id=BOB, salt=rec["salt"]) != user_sha256(user_id=ALICE,
                                                                                          salt=rec["salt"])
    assert rec["models"] == ["m-erase"] and rec["unusable_splits"] == [split.split_id]
    assert tasks == ["golden hour"]
    folder = split_dir(settings, split.split_id)
    files = (folder / "train.jsonl").read_text() + (folder / "test.jsonl").read_text()
    assert "john.smith" not in files and "golden hour" in files
    assert json.loads((folder / MARKER).read_text())["unusable"] is True


def test_erasing_again_or_an_unknown_user_changes_nothing(settings, engine, world):
    again = erase_user(engine=engine, user_id=BOB, artifacts_dir=Path(settings.artifacts_dir))
    assert sum(again.counts.values()) == 0 and again.groundtruth_runs == [] and again.splits == []
    assert run_groundtruth(settings, engine=engine).run_id == world["after"].run_id
