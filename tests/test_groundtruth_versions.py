"""Versioned ground-truth runs (docs/domain.md#d21-versioned-ground-truth-rows): a later incremental run writes only
the intents its events touched, earlier runs keep their rows, a reset starts the lineage over; and a run waits for
ingest transactions that may still add events at or before its watermark (docs/domain.md#d20)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from flywheel.datasets.groundtruth import get_run, groundtruth_rows, run_groundtruth
from flywheel.datasets.groundtruth_fold import IngestInFlight, reset
from flywheel.ingest.sink import APPLICATION_NAME
from tests.support.events import EventWriter, clear_events

F = {"name": "faded_Dusk", "intensity": 40}
G = {"name": "faded_BlueHour", "intensity": 70}


@pytest.fixture()
def w(engine):
    clear_events(engine)
    return EventWriter(engine)


def rows(settings, engine, run) -> dict[tuple[str, str], dict]:
    return {(r["intent_norm"], r["tool"]): r for r in groundtruth_rows(settings, run.run_id, engine=engine)}


def versions(engine, lineage: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM groundtruth_picks WHERE lineage = :l"),
                            {"l": lineage}).scalar_one()


def test_a_later_run_writes_only_the_touched_intents_and_earlier_runs_keep_their_rows(settings, engine, w):
    for i in range(5):
        w.request(f"look {i}", {"filter": F}, {"filter": True})
    w.flush()
    first = run_groundtruth(settings, engine=engine)
    before = rows(settings, engine, first)
    assert first.params["repick"]["first"] and versions(engine, "inc:teacher") == 5
    w.request("look 2", {"filter": G}, {"filter": True})
    w.request("look 2", {"filter": G}, {"filter": True})
    w.flush()
    second = run_groundtruth(settings, engine=engine)
    assert second.params["repick"]["n_touched"] == 1 and second.params["repick"]["n_written"] == 1
    assert versions(engine, "inc:teacher") == 6  # one new version, not five
    with engine.connect() as conn:  # the list of changed intents is pruned once every lineage re-picked them
        assert conn.execute(text("SELECT count(*) FROM groundtruth_fold_intents")).scalar_one() == 0
    after = rows(settings, engine, second)
    assert after[("look 2", "filter")]["output"] == G and after[("look 2", "filter")]["support"] == 3
    assert {k: v for k, v in after.items() if k[0] != "look 2"} == {k: v for k, v in before.items() if k[0] != "look 2"}
    assert rows(settings, engine, first) == before  # the first run still reads what it wrote
    assert (second.n_intents, second.n_responses) == (5, 7) and (first.n_intents, first.n_responses) == (5, 5)
    # an unchanged night: nothing to re-pick, nothing written, the run reads the same rows
    w.request("new one", {"filter": F}, {"filter": False})
    w.flush()
    third = run_groundtruth(settings, engine=engine)
    assert third.params["repick"]["n_written"] == 1 and third.n_intents_seen == 6 and third.n_intents == 5
    assert rows(settings, engine, third) == after


def test_a_reset_starts_the_lineage_over_and_earlier_runs_still_read(settings, engine, w):
    w.request("noir", {"filter": F}, {"filter": True})
    w.flush()
    first = run_groundtruth(settings, engine=engine)
    with engine.begin() as conn:
        reset(conn)
    w.request("noir", {"filter": G}, {"filter": True})
    w.request("noir", {"filter": G}, {"filter": True})
    w.flush()
    again = run_groundtruth(settings, engine=engine)
    assert again.params["fold"]["since"] is None and again.params["repick"]["first"]
    assert rows(settings, engine, again)[("noir", "filter")]["output"] == G
    assert rows(settings, engine, first)[("noir", "filter")]["output"] == F
    with engine.connect() as conn:  # exactly one open version per intent after the first pick closed the old one
        n_open = conn.execute(text("SELECT count(*) FROM groundtruth_picks WHERE lineage = 'inc:teacher'"
                                   " AND valid_to = 9223372036854775807")).scalar_one()
    assert n_open == 1
    assert get_run(settings, engine=engine).run_id == again.run_id


def _lineage_counts(engine, lineage: str) -> tuple[dict, dict]:
    """The counts a lineage keeps, and the same counted again from its open versions."""
    from flywheel.datasets.groundtruth_sql import COUNTED, COUNTS

    with engine.connect() as conn:
        kept = conn.execute(text(f"SELECT {', '.join(COUNTED)} FROM groundtruth_lineages WHERE lineage = :l"),
                            {"l": lineage}).mappings().one()
        return dict(kept), dict(conn.execute(text(COUNTS), {"lineage": lineage}).mappings().one())


def test_nights_close_in_place_keep_one_open_version_per_intent_and_the_lineage_counts(settings, engine, w):
    for night in range(4):
        for i in range(4):
            w.request(f"mood {i}", {"filter": F if (i + night) % 3 else G, "adjust": None},
                      {"filter": (i * night) % 2 == 0})
        w.request(f"only tonight {night}", {"filter": G}, {"filter": False})
        w.flush()
        run = run_groundtruth(settings, engine=engine)
        kept, recount = _lineage_counts(engine, "inc:teacher")
        assert kept == recount
        assert (run.n_intents_seen, run.n_intents, run.n_responses) == (
            recount["n_intents_seen"], recount["n_intents"], recount["n_responses"])
        assert run.used == {t: recount["used_" + t] for t in run.used}
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM (SELECT intent_norm FROM groundtruth_picks WHERE lineage = 'inc:teacher'"
            " AND valid_to = 9223372036854775807 GROUP BY intent_norm HAVING count(*) > 1) d")).scalar_one() == 0
        # every night closed the versions it replaced: only the newest version of an intent is open
        assert conn.execute(text(
            "SELECT count(*) FROM groundtruth_picks p WHERE lineage = 'inc:teacher' AND valid_to = 9223372036854775807"
            " AND EXISTS (SELECT 1 FROM groundtruth_picks q WHERE q.lineage = p.lineage"
            " AND q.intent_norm = p.intent_norm AND q.valid_from > p.valid_from)")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM groundtruth_picks WHERE lineage = 'inc:teacher'"
                                 " AND valid_to <> 9223372036854775807")).scalar_one() > 0


def test_migration_0017_fills_in_the_lineage_counts(settings, engine, w):
    from flywheel.db.migrate import downgrade, upgrade

    for i in range(3):
        w.request(f"scene {i}", {"filter": F}, {"filter": i != 1})
    w.flush()
    run_groundtruth(settings, engine=engine)
    w.request("scene 0", {"filter": G}, {"filter": True})
    w.flush()
    run_groundtruth(settings, engine=engine)
    downgrade(settings, "0016")
    try:
        upgrade(settings)
        kept, recount = _lineage_counts(engine, "inc:teacher")
        assert kept == recount and recount["n_intents_seen"] == 3 and recount["n_intents"] == 2
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('ux_groundtruth_picks_open')")).scalar() is None
            assert conn.execute(text("SELECT to_regclass('ix_groundtruth_candidates_key_hash')")).scalar() is not None
            assert "fillfactor=75" in conn.execute(text(
                "SELECT reloptions FROM pg_class WHERE relname = 'groundtruth_picks'")).scalar_one()
    finally:
        upgrade(settings)


def _open_ingest_transaction(settings):
    """A connection named like ingest, inside a transaction that wrote one request and has not committed."""
    eng = create_engine(settings.db_url(), connect_args={"application_name": APPLICATION_NAME})
    conn = eng.connect()
    tx = conn.begin()
    rid = uuid.uuid4().hex
    common = "event_id, schema_version, occurred_at, producer, project_id, request_id"
    vals = "CAST(:e AS uuid), 1, now(), 'ingest', 'p', :rid"
    conn.execute(text(f"INSERT INTO intents ({common}, intent, intent_norm) VALUES ({vals}, 'late', 'late')"),
                 {"e": str(uuid.uuid4()), "rid": rid})
    conn.execute(text(f"INSERT INTO responses ({common}, arm, model_name, model_version, filter, latency_ms)"
                      f" VALUES ({vals}, 'teacher', 't', 'v1', CAST(:f AS jsonb), 1)"),
                 {"e": str(uuid.uuid4()), "rid": rid, "f": '{"name": "faded_Dusk", "intensity": 40}'})
    conn.execute(text(f"INSERT INTO tool_exports ({common}, tool, exported) VALUES ({vals}, 'filter', true)"),
                 {"e": str(uuid.uuid4()), "rid": rid})
    return eng, conn, tx


def test_a_run_waits_for_an_ingest_batch_begun_before_its_watermark(settings, engine, w):
    eng, conn, tx = _open_ingest_transaction(settings)  # begins before the events below
    try:
        time.sleep(0.05)
        w.request("noir", {"filter": F}, {"filter": True})
        w.flush()
        done: dict = {}
        runner = threading.Thread(target=lambda: done.update(run=run_groundtruth(settings, engine=engine)))
        runner.start()
        time.sleep(0.8)
        assert runner.is_alive()  # waiting: the open batch's events carry an ingested_at before the watermark
        tx.commit()
        runner.join(30)
        assert not runner.is_alive()
    finally:
        conn.close()
        eng.dispose()
    got = rows(settings, engine, done["run"])
    assert ("late", "filter") in got and ("noir", "filter") in got  # the late batch is in, not lost for good
    with engine.begin() as c:  # the same watermark from scratch agrees
        c.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": done["run"].run_id})
    assert rows(settings, engine, run_groundtruth(settings, watermark=done["run"].watermark, mode="full",
                                                  engine=engine)) == got


def test_an_ingest_batch_that_stays_open_is_a_clear_error(settings, engine, w):
    eng, conn, tx = _open_ingest_transaction(settings)
    try:
        time.sleep(0.05)
        w.request("noir", {"filter": F}, {"filter": True})
        w.flush()
        with pytest.raises(IngestInFlight, match="still open"):
            run_groundtruth(settings, engine=engine, ingest_timeout_s=0.3)
    finally:
        tx.rollback()
        conn.close()
        eng.dispose()


def test_a_touched_intent_whose_picks_stay_the_same_keeps_its_version(settings, engine, w):
    w.request("calm", {"filter": F}, {"filter": True})
    late = w.request("calm", {"filter": G}, {"filter": False})
    w.request("calm", {"filter": G}, {"filter": False})
    w.flush()
    first = run_groundtruth(settings, engine=engine)
    with engine.begin() as conn:  # G's export arrives a day late: G at 1/2 still ranks below F at 1/1
        conn.execute(text(
            "INSERT INTO tool_exports (schema_version, occurred_at, producer, event_id, project_id, request_id, tool,"
            " exported) VALUES (1, now(), 'test', CAST(:e AS uuid), 'p', :r, 'filter', true)"),
            {"e": str(uuid.uuid4()), "r": late})
    second = run_groundtruth(settings, engine=engine)
    assert second.run_id != first.run_id and second.params["repick"]["changed_only"]
    assert second.params["repick"]["n_touched"] == 1 and second.params["repick"]["n_written"] == 0
    assert versions(engine, "inc:teacher") == 1 and rows(settings, engine, second) == rows(settings, engine, first)


def test_a_tie_on_the_counters_is_decided_by_the_last_showing_as_in_a_full_run(settings, engine, w):
    """The night's pick ranks an (intent, tool) again when a changed candidate ties its current pick on the counters:
    only last_shown, which a version does not keep, can decide (docs/domain.md#d21)."""
    at = datetime(2026, 12, 1, tzinfo=UTC)
    adj = {"exposure": 10}
    for when, f in ((5, F), (4, F), (3, G)):  # F shown twice (last at 5), G once (at 3): F
        w.request("tie", {"filter": f, "adjust": adj}, {"adjust": True}, occurred_at=at + timedelta(hours=when))
    w.flush()
    first = run_groundtruth(settings, engine=engine)
    assert rows(settings, engine, first)[("tie", "filter")]["output"] == F
    w.request("tie", {"filter": G, "adjust": adj}, {"adjust": True}, occurred_at=at + timedelta(hours=1))
    w.flush()
    second = run_groundtruth(settings, engine=engine)  # G shown twice too, but last at 3: F still
    assert second.params["repick"]["changed_only"]
    assert rows(settings, engine, second)[("tie", "filter")]["output"] == F
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": second.run_id})
    full = run_groundtruth(settings, watermark=second.watermark, mode="full", engine=engine)
    assert rows(settings, engine, full) == rows(settings, engine, second)
