"""The dead-letter path never stalls the stream; schemas without a table stop ingest at start-up; batches are bounded
by bytes. Real broker, real Postgres."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest

from flywheel.events.validation import ContractError, Rejection
from flywheel.ingest.dlq import DeadLetterProducer, resend_pending
from flywheel.ingest.service import IngestOptions, IngestService
from flywheel.ingest.sink import Failure, Record, libpq_url, split_by_bytes
from flywheel.ingest.synthetic import synthetic_events
from flywheel.settings import Settings
from tests.support.ingest import fresh_topics, landed, produce

LIMIT = 1024 * 1024  # the producers' max_request_size (kafka-python default)


def failure(offset: int, key: bytes | None, value: bytes | None) -> Failure:
    return Failure(Record("src", 0, offset, key, value), Rejection("not_json", "test"))


def test_dead_letters_are_bounded_and_say_what_was_not_acknowledged(settings: Settings) -> None:
    s = fresh_topics(settings, "dlqbound")
    dlq = DeadLetterProducer(s.bootstrap(), s.dead_letter_topic, attempts=2, max_block_s=5)
    try:
        # Fits as a record; the dead-letter headers push it over the limit: no retry can fix that.
        near = failure(1, b"k", b"x" * (LIMIT - 120))
        left = dlq.send([failure(0, b"k", b"ok"), near, failure(2, None, None)])
    finally:
        dlq.close()
    assert [f.record.offset for f in left] == [1]


def test_ingest_goes_on_when_a_dead_letter_cannot_be_produced(settings: Settings) -> None:
    s = fresh_topics(settings, "dlqpend")
    good = list(synthetic_events(40, seed=31))
    near = b"{" + b" " * (LIMIT - 122) + b"}"  # oversized for the contract, and too big once headers are added
    items = [(g.key, g.value) for g in good[:20]] + [(b"p", near), (None, b"")] + [(g.key, g.value) for g in good[20:]]
    produce(s, items)
    stats = IngestService(s, IngestOptions(idle_exit_s=3, batch_size=16)).run()
    assert stats.consumed == len(items) and stats.inserted == len(good)
    assert stats.failed == 2 and stats.dead_letter_pending == 1
    with psycopg.connect(libpq_url(s.db_url())) as conn:
        pending = conn.execute("SELECT kafka_offset, length(raw) FROM failed_events WHERE kafka_topic = %s "
                               "AND dead_letter_pending", (s.events_topic,)).fetchall()
    assert [n for _, n in pending] == [len(near)]
    # The re-send command tries again; this one can never fit, so it stays pending (and says so).
    sent, left = resend_pending(s)
    assert left >= 1


def test_a_schema_without_a_table_stops_ingest_at_start_up(settings: Settings, tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(settings.schemas_dir, schemas)
    doc = json.loads((schemas / "events" / "project_exported.v1.json").read_text())
    doc["$id"] = doc["$id"].replace("project_exported", "project_renamed")
    doc["properties"]["event_type"] = {"const": "project_renamed"}
    (schemas / "events" / "project_renamed.v1.json").write_text(json.dumps(doc))
    s = fresh_topics(settings, "nomap", schemas_dir=schemas)
    with pytest.raises(ContractError, match="project_renamed"):
        IngestService(s, IngestOptions(idle_exit_s=1)).run()


def test_batches_are_bounded_by_bytes(settings: Settings) -> None:
    recs = [Record("t", 0, i, None, b"x" * 100) for i in range(10)]
    assert [len(c) for c in split_by_bytes(recs, 250)] == [2, 2, 2, 2, 2]
    assert [len(c) for c in split_by_bytes([Record("t", 0, 0, None, b"x" * 999), *recs[:1]], 250)] == [1, 1]
    s = fresh_topics(settings, "bytes")
    good = list(synthetic_events(60, seed=32))
    produce(s, [(g.key, g.value) for g in good])
    size = max(len(g.value) for g in good) * 5
    stats = IngestService(s, IngestOptions(idle_exit_s=3, batch_size=1000, batch_max_bytes=size)).run()
    total = sum(len(g.key) + len(g.value) for g in good)
    assert stats.inserted == len(good) and stats.batches >= total // size > 1
    assert sum(landed(s, [g.event_id for g in good]).values()) == len(good)
