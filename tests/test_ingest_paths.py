"""The sink's two write paths against the real Postgres: a batch of new event_ids is COPY'd straight into the event
tables, anything else takes the staged path, and both store exactly the same rows."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from flywheel.events.envelope import make_event
from flywheel.events.validation import load_validator
from flywheel.ingest.sink import CONFLICTING_ID, BatchResult, PostgresSink, Record, libpq_url
from flywheel.ingest.synthetic import synthetic_events
from flywheel.ingest.tables import FANOUT
from flywheel.settings import Settings


def write(settings: Settings, records: list[Record], *, direct: bool = True) -> BatchResult:
    sink = PostgresSink(settings.db_url(), load_validator(settings), direct=direct)
    try:
        return sink.write(records)
    finally:
        sink.close()


def stored(settings: Settings, event_ids: list[str], *, delete: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every column but ingested_at, per table, ordered by event_id."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(libpq_url(settings.db_url())) as c:
        for table in (t.table for t in FANOUT.values()):
            names = [r[0] for r in c.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                             "AND column_name <> 'ingested_at' ORDER BY column_name", (table,))]
            out[table] = c.execute(f"SELECT {', '.join(names)} FROM {table} WHERE event_id = ANY(%s::uuid[]) "
                                   "ORDER BY event_id", (event_ids,)).fetchall()
            if delete:
                c.execute(f"DELETE FROM {table} WHERE event_id = ANY(%s::uuid[])", (event_ids,))
    return out


def test_direct_and_staged_paths_store_identical_rows(settings: Settings) -> None:
    events = [(e.key, json.loads(e.value)) for e in synthetic_events(400, seed=11)]
    # Edge values: no rationale at all, every tool unused, an intent that normalizes, unicode, an integer latency.
    response = next(ev for _, ev in events if ev["event_type"] == "assistant_responded")
    bare = {k: v for k, v in response.items() if k != "rationale"}
    bare.update(event_id=str(uuid.uuid4()), outputs={"adjust": None, "selective_adjust": None, "filter": None},
                latency_ms=12)
    odd = make_event("intent_submitted", "test", project_id="p-ödd", request_id="r1", intent="  ¡Golden   HOUR!  ")
    events += [(b"k", bare), (b"k", odd)]
    records = [Record("paths", 0, i, k, json.dumps(ev).encode()) for i, (k, ev) in enumerate(events)]
    ids = [ev["event_id"] for _, ev in events]
    staged = write(settings, records, direct=False)
    assert (staged.direct, staged.inserted, staged.failures) == (False, 402, [])
    via_staged = stored(settings, ids, delete=True)
    direct = write(settings, records)
    assert (direct.direct, direct.inserted, direct.failures) == (True, 402, [])
    via_direct = stored(settings, ids)
    assert sum(map(len, via_direct.values())) == 402
    assert {t for t, rows in via_direct.items() if rows} == {t.table for t in FANOUT.values()}
    assert via_direct == via_staged


def test_a_redelivered_batch_falls_back_to_the_staged_path(settings: Settings) -> None:
    events = list(synthetic_events(50, seed=12))
    records = [Record("redeliver", 0, i, e.key, e.value) for i, e in enumerate(events)]
    first = write(settings, records)
    assert (first.direct, first.inserted) == (True, 50)
    # A crash before the offset commit: the same records again, plus new ones and a changed body under a known id.
    more = [Record("redeliver", 0, 50 + i, e.key, e.value) for i, e in enumerate(synthetic_events(10, seed=13))]
    changed = {**json.loads(events[3].value), "producer": "someone-else"}
    again = [*records, *more, Record("redeliver", 0, 60, b"k", json.dumps(changed).encode())]
    result = write(settings, again)
    assert result.direct is False
    assert result.inserted == 10
    assert [(f.record.offset, f.rejection.kind) for f in result.failures] == [(60, CONFLICTING_ID)]


def test_a_batch_repeating_an_event_id_takes_the_staged_path(settings: Settings) -> None:
    ev = make_event("intent_submitted", "test", project_id="p1", request_id=uuid.uuid4().hex[:12], intent="warm")
    body = json.dumps(ev).encode()
    result = write(settings, [Record("twice", 0, 0, b"p1", body), Record("twice", 0, 1, b"p1", body)])
    assert (result.direct, result.inserted, result.failures) == (False, 1, [])
