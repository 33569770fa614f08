"""The event tables partitioned by month (0024, flywheel.db.partitions): the migration moves existing rows and keeps
every view as it was, events of a month without a partition land in the default one and move to their own when it
is created, an event_id reused under another date is still caught, and a time-bounded query reads one partition."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest
from sqlalchemy import text

from flywheel.db.analyst import analyst_url
from flywheel.db.migrate import downgrade, upgrade
from flywheel.db.partitions import EVENT_TABLES, ensure_partitions, event_ids_stored_twice, list_partitions
from flywheel.events.envelope import make_event
from flywheel.events.validation import load_validator
from flywheel.ingest.sink import CONFLICTING_ID, BatchResult, PostgresSink, Record
from flywheel.ingest.synthetic import synthetic_events
from flywheel.settings import Settings

pytestmark = pytest.mark.services

_VIEWS = ("SELECT n.nspname || '.' || c.relname, pg_get_viewdef(c.oid), obj_description(c.oid, 'pg_class'),"
          " c.relacl::text, pg_get_userbyid(c.relowner), (SELECT array_agg(col_description(c.oid, attnum)"
          " ORDER BY attnum) FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0) FROM pg_class c"
          " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v'"
          " AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")


def dated(events: Any, start: datetime) -> list[tuple[bytes, dict[str, Any]]]:
    """Synthetic events moved to ``start`` (a second apart)."""
    out = []
    for i, e in enumerate(events):
        ev = json.loads(e.value)
        ev["occurred_at"] = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        out.append((e.key, ev))
    return out


def write(settings: Settings, events: list[tuple[bytes, dict[str, Any]]], *, topic: str,
          direct: bool = True) -> BatchResult:
    sink = PostgresSink(settings.db_url(), load_validator(settings), direct=direct)
    try:
        return sink.write([Record(topic, 0, i, k, json.dumps(ev).encode()) for i, (k, ev) in enumerate(events)])
    finally:
        sink.close()


def counts(engine: Any, table: str) -> dict[str, int]:
    with engine.connect() as c:
        return dict(c.execute(text(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1")).all())


def test_the_migration_moves_rows_and_keeps_every_view(settings: Settings, engine: Any) -> None:
    with engine.connect() as c:
        views = c.execute(text(_VIEWS)).all()
    downgrade(settings, "0023")
    with engine.begin() as c:
        assert c.execute(text("SELECT relkind FROM pg_class WHERE relname = 'intents'")).scalar() == "r"
        assert c.execute(text(_VIEWS)).all() == views  # the downgrade restores them too
        for month in (1, 2, 4):
            c.execute(text(
                "INSERT INTO projects (event_id, schema_version, occurred_at, producer, project_id, user_id, platform,"
                " app_version) SELECT gen_random_uuid(), 1, make_timestamptz(2025, :m, 1 + i, 12, 0, 0, 'UTC'), 't',"
                " 'mig-' || :m || '-' || i, 'u' || i, 'ios', '1' FROM generate_series(0, 9) i"), {"m": month})
    upgrade(settings)
    with engine.connect() as c:
        assert c.execute(text("SELECT relkind FROM pg_class WHERE relname = 'intents'")).scalar() == "p"
        assert c.execute(text(_VIEWS)).all() == views  # definition, comment, grants, owner, column comments
        pk = c.execute(text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_intents'"))
        assert pk.scalar() == "PRIMARY KEY (event_id, occurred_at)"
        index_kinds = set(c.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'intents'")).scalars())
    assert any("USING hash (intent_norm)" in d for d in index_kinds)
    assert any("USING brin (ingested_at)" in d for d in index_kinds)
    assert counts(engine, "projects") == {"projects_p2025_01": 10, "projects_p2025_02": 10, "projects_p2025_04": 10}
    names = {p.name for p in list_partitions_of(engine)}
    assert {f"{t}_default" for t in EVENT_TABLES} <= names
    now = datetime.now(UTC)
    assert f"intents_p{now:%Y_%m}" in names  # `db upgrade` made the coming months
    conn = psycopg2.connect(analyst_url(settings, with_password=True))
    try:
        with conn.cursor() as cur:  # the analyst reads the recreated views (grants intact)
            cur.execute("SELECT count(*) FROM analytics.experiment_assignments")
            cur.execute("SELECT count(*) FROM analytics.arm_daily_completion")
            assert cur.fetchone() is not None
    finally:
        conn.close()


def list_partitions_of(engine: Any) -> list[Any]:
    with engine.connect() as c:
        return list_partitions(c)


def test_an_event_without_its_month_lands_in_default_and_moves_to_its_partition(settings: Settings,
                                                                               engine: Any) -> None:
    events = dated(synthetic_events(40, seed=31), datetime(2031, 5, 3, tzinfo=UTC))
    assert write(settings, events, topic="future").failures == []
    assert counts(engine, "intents").get("intents_default", 0) > 0
    with engine.begin() as c:
        done = ensure_partitions(c, now=datetime(2026, 12, 6, tzinfo=UTC), ahead_months=1)
    assert "intents_p2031_05" in done.created and done.moved["intents_p2031_05"] > 0
    after = counts(engine, "intents")
    assert "intents_default" not in after and after["intents_p2031_05"] == done.moved["intents_p2031_05"]
    with engine.begin() as c:  # idempotent
        assert ensure_partitions(c, now=datetime(2026, 12, 6, tzinfo=UTC), ahead_months=1).created == []
    # Rows of a month that has its partition go straight there.
    more = dated(synthetic_events(10, seed=32), datetime(2031, 5, 20, tzinfo=UTC))
    assert write(settings, more, topic="future2").failures == []
    assert "intents_default" not in counts(engine, "intents")


def test_an_event_id_reused_under_another_date_is_caught(settings: Settings, engine: Any) -> None:
    first = make_event("intent_submitted", "test", project_id="p-reuse", request_id="r-reuse", intent="warm",
                       occurred_at=datetime(2031, 5, 10, tzinfo=UTC))
    assert write(settings, [(b"p", first)], topic="reuse").inserted == 1
    # A redelivery (same body, same partition) stays a no-op, on the direct path's fallback as before.
    again = write(settings, [(b"p", first)], topic="reuse")
    assert (again.direct, again.inserted, again.failures) == (False, 0, [])
    # The same event_id with another date: another partition, where the primary key cannot see it.
    moved = {**first, "occurred_at": "2031-06-10T00:00:00Z", "intent": "cold"}
    staged = write(settings, [(b"p", moved)], topic="reuse", direct=False)
    assert staged.inserted == 0
    assert [f.rejection.kind for f in staged.failures] == [CONFLICTING_ID]
    assert "already stored with content sha256" in staged.failures[0].rejection.reason
    # Twice in one staged batch: the first is kept, the second refused.
    twin = make_event("intent_submitted", "test", project_id="p-twin", request_id="r-twin", intent="a",
                      occurred_at=datetime(2031, 5, 11, tzinfo=UTC))
    batch = write(settings, [(b"p", twin), (b"p", {**twin, "occurred_at": "2031-06-11T00:00:00Z"})], topic="twin")
    assert batch.inserted == 1 and [f.record.offset for f in batch.failures] == [1]
    # The direct path stores it (no probe on the hot path); the nightly check counts it.
    other = {**first, "occurred_at": "2031-06-12T00:00:00Z"}
    direct = write(settings, [(b"p", other)], topic="reuse-direct")
    assert (direct.direct, direct.inserted) == (True, 1)
    with engine.begin() as c:
        assert event_ids_stored_twice(c, since=datetime.now(UTC) - timedelta(hours=1)) == {"intents": 2}
        c.execute(text("DELETE FROM intents WHERE event_id = :e AND occurred_at = '2031-06-12'"),
                  {"e": first["event_id"]})
        assert event_ids_stored_twice(c, since=datetime.now(UTC) - timedelta(hours=1)) == {}


def test_a_time_bounded_query_reads_one_partition(engine: Any) -> None:
    with engine.begin() as c:
        ensure_partitions(c, now=datetime(2031, 4, 1, tzinfo=UTC), ahead_months=3)
        plan = "\n".join(c.execute(text(
            "EXPLAIN (COSTS OFF) SELECT count(*) FROM intents"
            " WHERE occurred_at >= '2031-05-03 00:00+00' AND occurred_at < '2031-05-04 00:00+00'")).scalars())
        whole = "\n".join(c.execute(text("EXPLAIN (COSTS OFF) SELECT count(*) FROM intents")).scalars())
    assert "intents_p2031_05" in plan and "intents_p2031_04" not in plan and "intents_default" not in plan, plan
    assert "intents_p2031_04" in whole and "intents_default" in whole  # without a bound: every partition


def test_orm_names_the_partition_key() -> None:
    from flywheel.db.events import IntentSubmitted

    table = IntentSubmitted.__table__
    assert [c.name for c in table.primary_key.columns] == ["event_id", "occurred_at"]
    assert table.dialect_options["postgresql"]["partition_by"] == "RANGE (occurred_at)"


def test_a_night_finds_a_requests_older_events_in_another_partition(settings: Settings, engine: Any) -> None:
    """Exports dated two months after their responses: the night's fold probes each touched request only within its
    span of occurred_at (groundtruth_request_spans widened by the new events), and still counts them as a full
    recompute does."""
    from flywheel.datasets.groundtruth import groundtruth_rows, run_groundtruth

    with engine.begin() as c:
        ensure_partitions(c, now=datetime(2031, 5, 1, tzinfo=UTC), ahead_months=3)
    events = dated(synthetic_events(200, seed=51), datetime(2031, 5, 20, tzinfo=UTC))
    late = [(k, ev) for k, ev in events if ev["event_type"] == "tool_exported"]
    for _, ev in late:
        ev["exported"] = True
        ev["occurred_at"] = "2031-07-02T00:00:00Z"
    assert write(settings, [e for e in events if e[1]["event_type"] != "tool_exported"], topic="span").failures == []
    run_groundtruth(settings, engine=engine)  # folds the responses (and whatever earlier tests wrote)
    assert write(settings, late, topic="span-late").failures == []
    night = run_groundtruth(settings, engine=engine)
    assert night.params["fold"]["since"] is not None and night.params["fold"]["n_responses"] > 0
    rows = groundtruth_rows(settings, night.run_id, engine=engine)
    assert sum(r["exports"] for r in rows) > 0
    with engine.begin() as c:
        c.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": night.run_id})
    full = run_groundtruth(settings, watermark=night.watermark, mode="full", engine=engine)
    assert groundtruth_rows(settings, full.run_id, engine=engine) == rows


def test_the_nightly_task_creates_ahead_moves_and_reports(settings: Settings, engine: Any) -> None:
    from flywheel.db.partitions import nightly_partitions

    stray = dated(synthetic_events(10, seed=61), datetime(2033, 2, 1, tzinfo=UTC))
    assert write(settings, stray, topic="stray").failures == []
    out = nightly_partitions(settings, now=datetime(2035, 1, 15, tzinfo=UTC), airflow_run_id="manual__t")
    assert {"intents_p2033_02", "intents_p2035_01", "intents_p2035_04"} <= set(out["created"])
    assert out["moved"]["intents_p2033_02"] > 0 and out["event_ids_stored_twice"] == {}
    json.dumps(out)  # the task's XCom
    with engine.connect() as c:  # the parents carry statistics of their own (autovacuum never makes them)
        assert c.execute(text("SELECT count(*) FROM pg_stats WHERE tablename = 'intents' AND inherited")).scalar()
