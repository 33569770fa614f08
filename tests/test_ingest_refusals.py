"""The sink against the real Postgres: a row-level refusal of any SQLSTATE isolates that record, poison records never
crash the failed-events writer, a different body under a known event_id is a failure (not a silent drop)."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from flywheel.events.envelope import make_event
from flywheel.events.validation import TOO_MANY_BYTES, load_validator
from flywheel.ingest.sink import CONFLICTING_ID, DB_REJECTED, PostgresSink, Record, libpq_url
from flywheel.ingest.synthetic import synthetic_events
from flywheel.settings import Settings
from tests.support.ingest import failed_rows, landed


def topic() -> str:
    return f"direct.{uuid.uuid4().hex[:6]}"


def intent(text: str) -> dict:
    return make_event("intent_submitted", "test", project_id="p1", request_id=uuid.uuid4().hex[:12], intent=text)


def write(settings: Settings, records: list[Record]):  # type: ignore[no-untyped-def]
    sink = PostgresSink(settings.db_url(), load_validator(settings))
    try:
        return sink.write(records)
    finally:
        sink.close()


def test_any_sqlstate_refusal_isolates_the_record(settings: Settings) -> None:
    # A trigger raising a user SQLSTATE (class P0: neither DataError nor IntegrityError) used to stall the batch.
    with psycopg.connect(libpq_url(settings.db_url()), autocommit=True) as c:
        c.execute("CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                  "IF NEW.intent LIKE '%poison%' THEN RAISE EXCEPTION 'poison intent refused'; END IF; "
                  "RETURN NEW; END $$ LANGUAGE plpgsql")
        c.execute("CREATE TRIGGER refuse_poison BEFORE INSERT ON intents FOR EACH ROW EXECUTE FUNCTION refuse_poison()")
    try:
        t = topic()
        events = [intent(f"warm sunset {i}") for i in range(20)]
        events.insert(5, intent("poison pill"))
        records = [Record(t, 0, i, b"p1", json.dumps(e).encode()) for i, e in enumerate(events)]
        result = write(settings, records)
    finally:
        with psycopg.connect(libpq_url(settings.db_url()), autocommit=True) as c:
            c.execute("DROP TRIGGER refuse_poison ON intents")
    assert [f.record.offset for f in result.failures] == [5]
    assert result.failures[0].rejection.kind == DB_REJECTED
    reason = result.failures[0].rejection.reason
    assert "P0001" in reason and "poison intent refused" in reason
    assert result.accepted == result.inserted == 20
    assert [(r[1], r[2].split(":")[0]) for r in failed_rows(settings, t)] == [(5, DB_REJECTED)]


def test_long_intents_are_capped_by_bytes_and_never_overflow_the_index(settings: Settings) -> None:
    t = topic()
    cjk = intent("夕" * 2000)  # 2000 characters pass maxLength, 6000 bytes do not pass x-maxBytes
    fits = intent("暖" * 1365)  # 4095 bytes: accepted, and well over the ~2.7 kB a btree key may hold
    result = write(settings, [Record(t, 0, 0, b"p1", json.dumps(cjk).encode()),
                              Record(t, 0, 1, b"p1", json.dumps(fits).encode())])
    assert [f.rejection.kind for f in result.failures] == [TOO_MANY_BYTES]
    assert result.inserted == 1
    assert landed(settings, [fits["event_id"]])["intents"] == 1


@pytest.mark.parametrize("value", [
    None,
    b'{"event_type": "a\\u0000b", "event_id": "x\\u0000y"}',
    b'{"event_type": "intent_submitted", "schema_version": 1, "bad\\u0000name": 1}',
    b"\x00\x00\xff\xfe",
    b'{"event_type": "\\ud800", "event_id": "\\udfff"}',
])
def test_poison_records_never_crash_the_failure_writer(settings: Settings, value: bytes | None) -> None:
    t = topic()
    result = write(settings, [Record(t, 0, 0, None, value), Record(t, 0, 1, b"\x00", value)])
    assert len(result.failures) == 2
    rows = failed_rows(settings, t)
    assert [r[1] for r in rows] == [0, 1] and all(r[3] == value for r in rows)
    assert all("\x00" not in r[2] for r in rows)


def test_a_different_body_under_a_known_event_id_is_a_failure(settings: Settings) -> None:
    t = topic()
    first = intent("golden hour")
    again = dict(first)  # identical redelivery (even re-serialized with another key order): a no-op
    other = {**first, "intent": "moody blue"}  # same event_id, different body: must not be dropped silently
    records = [Record(t, 0, 0, b"p1", json.dumps(first).encode()),
               Record(t, 0, 1, b"p1", json.dumps(dict(reversed(list(again.items())))).encode())]
    assert write(settings, records).failures == []
    result = write(settings, [Record(t, 0, 2, b"p1", json.dumps(other).encode()),
                              Record(t, 0, 3, b"p1", json.dumps(first).encode())])
    assert [(f.record.offset, f.rejection.kind) for f in result.failures] == [(2, CONFLICTING_ID)]
    reason = failed_rows(settings, t)[0][2]
    hashes = [w for w in reason.replace(";", " ").split() if len(w) == 64]
    assert len(hashes) == 2 and hashes[0] != hashes[1], reason
    assert landed(settings, [first["event_id"]])["intents"] == 1


def test_same_id_twice_in_one_batch_keeps_one_and_fails_the_other(settings: Settings) -> None:
    t = topic()
    good = list(synthetic_events(10, seed=3))
    twin = json.loads(good[4].value)
    twin["producer"] = "someone-else"
    records = [Record(t, 0, i, g.key, g.value) for i, g in enumerate(good)]
    records.append(Record(t, 0, 10, b"k", json.dumps(twin).encode()))
    result = write(settings, records)
    assert len(result.failures) == 1 and result.failures[0].rejection.kind == CONFLICTING_ID
    assert result.accepted == result.inserted == 10
