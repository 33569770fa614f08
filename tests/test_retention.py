"""Retention as a setting (flywheel.db.retention): a dry run lists what would go and drops nothing; a run exports each
expired partition to Parquet with a manifest, drops it and records it; ground truth keeps the picks it folded before
the drop and says in its params that older evidence has expired."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from flywheel.datasets.groundtruth import groundtruth_rows, run_groundtruth
from flywheel.datasets.groundtruth_fold import reset
from flywheel.db.partitions import ensure_partitions, list_partitions
from flywheel.db.retention import apply_retention, plan_retention, run_retention
from flywheel.ingest.synthetic import synthetic_events
from flywheel.settings import Settings
from tests.test_partitions import dated, write

pytestmark = pytest.mark.services

OLD = datetime(2025, 1, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(settings: Settings, engine: Any) -> dict[str, Any]:
    """January 2025's events (moved into their partition) and ground truth folded over them."""
    assert write(settings, dated(synthetic_events(120, seed=41), OLD), topic="old").failures == []
    with engine.begin() as c:
        ensure_partitions(c, now=datetime.now(UTC))
    first = run_groundtruth(settings, engine=engine)
    return {"run": first, "rows": groundtruth_rows(settings, first.run_id, engine=engine)}


def names(engine: Any) -> set[str]:
    with engine.connect() as c:
        return {p.name for p in list_partitions(c)}


def test_retention_is_off_by_default(settings: Settings) -> None:
    assert settings.retention_days is None
    assert run_retention(settings, dry_run=False).days is None  # nothing planned, nothing dropped


def test_a_dry_run_lists_and_drops_nothing(settings: Settings, engine: Any, history: dict[str, Any]) -> None:
    before = names(engine)
    report = run_retention(settings.model_copy(update={"retention_days": 30}), dry_run=True)
    planned = {p.name for p in report.planned}
    assert "intents_p2025_01" in planned and "responses_p2025_01" in planned
    assert not any(n.endswith("_default") for n in planned)
    now = datetime.now(UTC)
    assert f"intents_p{now:%Y_%m}" not in planned  # never the current month
    assert names(engine) == before and report.dropped == []
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM retention_drops")).scalar() == 0
        # a window reaching into this month keeps this month (and a window of 0 days is refused)
        assert all(p.upper is not None and p.upper <= now for p in plan_retention(c, now=now, days=1))
        with pytest.raises(ValueError):
            plan_retention(c, now=now, days=0)


def test_apply_exports_drops_and_ground_truth_says_expired(settings: Settings, engine: Any,
                                                          history: dict[str, Any], tmp_path: Path) -> None:
    with engine.connect() as c:
        n_old = c.execute(text("SELECT count(*) FROM intents_p2025_01")).scalar_one()
        old = c.execute(text("SELECT event_id::text, occurred_at, intent, redacted_kinds::text, kafka_offset"
                             " FROM intents_p2025_01 ORDER BY event_id")).all()
    with engine.begin() as c:
        dropped = apply_retention(c, now=datetime.now(UTC), days=30, export_dir=tmp_path)
    by_name = {d.partition.name: d for d in dropped}
    assert "intents_p2025_01" not in names(engine) and by_name["intents_p2025_01"].rows == n_old > 0
    # The export: Parquet that reads back, and a manifest that matches it.
    d = by_name["intents_p2025_01"]
    table = pq.read_table(d.export_path)
    assert table.num_rows == n_old and "intent" in table.column_names and "event_id" in table.column_names
    back = sorted(zip(*(table.column(c).to_pylist() for c in ("event_id", "occurred_at", "intent", "redacted_kinds",
                                                               "kafka_offset")), strict=True))
    assert back == [tuple(r) for r in old]  # values, NULLs and time zones as stored
    manifest_path = Path(d.export_path).with_name("intents_p2025_01.manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["rows"] == n_old and manifest["table"] == "intents"
    assert manifest["lower"].startswith("2025-01-01") and manifest["upper"].startswith("2025-02-01")
    assert manifest["sha256"] == hashlib.sha256(Path(d.export_path).read_bytes()).hexdigest()
    assert d.manifest_sha256 == hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    with engine.connect() as c:
        recorded = c.execute(text("SELECT rows, export_path, manifest_sha256, upper FROM retention_drops"
                                  " WHERE partition = 'intents_p2025_01'")).one()
    assert recorded[:3] == (n_old, d.export_path, d.manifest_sha256)
    assert recorded[3] == datetime(2025, 2, 1, tzinfo=UTC)
    # Ground truth after the drop: a new event arrives, the incremental run keeps every folded pick and says which
    # evidence expired; a full recompute sees only the events left and says so.
    assert write(settings, dated(synthetic_events(30, seed=42), datetime.now(UTC)), topic="new").failures == []
    after = run_groundtruth(settings, engine=engine)
    assert after.params["evidence_expired_before"] == "2025-02-01T00:00:00+00:00"
    assert after.params["mode"] == "incremental" and "evidence_partial" not in after.params
    kept = {r["intent_norm"] for r in groundtruth_rows(settings, after.run_id, engine=engine)}
    assert {r["intent_norm"] for r in history["rows"]} <= kept
    assert after.n_responses > history["run"].n_responses  # the expired responses still count
    assert write(settings, dated(synthetic_events(5, seed=43), datetime.now(UTC)), topic="new2").failures == []
    full = run_groundtruth(settings, engine=engine, mode="full")
    assert full.params["evidence_partial"] is True
    assert full.params["evidence_expired_before"] == "2025-02-01T00:00:00+00:00"
    assert full.n_responses < after.n_responses
    # Aggregates folded anew after the drop (a reset) have lost the expired evidence too.
    with engine.begin() as c:
        reset(c)
    assert write(settings, dated(synthetic_events(5, seed=44), datetime.now(UTC)), topic="new3").failures == []
    refolded = run_groundtruth(settings, engine=engine)
    assert refolded.params["mode"] == "incremental" and refolded.params["evidence_partial"] is True


def test_erasure_reaches_the_exported_partitions(settings: Settings, engine: Any, tmp_path: Path) -> None:
    """A user whose events expired into Parquet exports is erased there too: their project rows and every event of
    their projects leave the files, and each rewritten file's manifest (and its recorded sha256) still vouches for
    it."""
    from flywheel.privacy.erase import erase_user

    march = datetime(2025, 3, 12, tzinfo=UTC)
    assert write(settings, dated(synthetic_events(60, seed=45), march), topic="march").failures == []
    with engine.begin() as c:
        ensure_partitions(c, now=datetime.now(UTC))
        dropped = apply_retention(c, now=datetime.now(UTC), days=30, export_dir=tmp_path)
    files = {d.partition.table: Path(d.export_path) for d in dropped if d.partition.name.endswith("p2025_03")}
    users = pq.read_table(files["projects"], columns=["user_id", "project_id"])
    user = users.column("user_id")[0].as_py()
    theirs = {p for u, p in zip(users.column("user_id").to_pylist(), users.column("project_id").to_pylist(),
                                strict=True) if u == user}
    before = {t: pq.read_table(p).num_rows for t, p in files.items()}
    done = erase_user(engine=engine, user_id=user, artifacts_dir=tmp_path / "artifacts")
    assert done.counts["export_rows"] > 0
    removed = 0
    for table, path in files.items():
        left = pq.read_table(path)
        assert not theirs & set(left.column("project_id").to_pylist()), table
        if table == "projects":
            assert user not in left.column("user_id").to_pylist()
        removed += before[table] - left.num_rows
        manifest_path = path.with_name(path.name.removesuffix(".parquet") + ".manifest.json")
        manifest = json.loads(manifest_path.read_text())
        assert manifest["rows"] == left.num_rows and manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        with engine.connect() as c:
            recorded = c.execute(text("SELECT manifest_sha256 FROM retention_drops WHERE export_path = :p"),
                                 {"p": str(path)}).scalar_one()
        assert recorded == hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    assert removed == done.counts["export_rows"]


def test_dead_letters_past_the_window_go_unless_still_pending(settings: Settings, engine: Any) -> None:
    with engine.begin() as c:
        c.execute(text("INSERT INTO failed_events (kafka_topic, kafka_partition, kafka_offset, raw_text, reason,"
                       " first_seen, dead_letter_pending) VALUES"
                       " ('dlq-t', 0, 1, 'old', 'x', now() - interval '90 days', false),"
                       " ('dlq-t', 0, 2, 'old, unsent', 'x', now() - interval '90 days', true),"
                       " ('dlq-t', 0, 3, 'recent', 'x', now(), false)"))
    s = settings.model_copy(update={"retention_days": 30})
    assert run_retention(s, dry_run=True).dead_letters == 1
    assert run_retention(s, dry_run=False).as_dict()["dead_letters"] == 1
    with engine.connect() as c:
        left = c.execute(text("SELECT raw_text FROM failed_events WHERE kafka_topic = 'dlq-t' ORDER BY 1")).scalars()
        assert list(left) == ["old, unsent", "recent"]
