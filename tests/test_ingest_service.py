"""Ingest end to end against the real broker and Postgres: valid rows land normalized, every malformed kind lands in
failed_events and the dead-letter topic with its reason and coordinates, re-reads are no-ops, replay after a fix."""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from flywheel.contracts import ADJUST_KEYS, normalize_intent
from flywheel.events.envelope import make_event
from flywheel.events.publisher import EventPublisher, PublishError
from flywheel.ingest.dlq import replay_dead_letters
from flywheel.ingest.service import IngestOptions, IngestService
from flywheel.ingest.sink import libpq_url
from flywheel.ingest.synthetic import synthetic_events
from flywheel.runtime.proc import free_port
from flywheel.settings import Settings
from tests.support.ingest import EVENT_TABLES, failed_rows, fresh_topics, landed, produce, start_ingest


def response(outputs: dict | None = None, **over: object) -> dict:
    outputs = outputs or {"adjust": {k: 1 for k in ADJUST_KEYS}, "selective_adjust": None,
                          "filter": {"name": "faded_HighNoon", "intensity": 40}}
    return make_event("assistant_responded", "test", project_id="pbad", request_id="r1", arm="teacher",
                      model_name="gpt", model_version="1", outputs=outputs, latency_ms=5.0, **over)


def malformed() -> list[tuple[str, bytes | None]]:
    ok = response()
    enc = lambda e: json.dumps(e).encode()  # noqa: E731
    return [
        ("empty", None),
        ("oversized", b'{"x": "' + b"a" * 70_000 + b'"}'),
        ("not_utf8", b'{"event_type": "\xc3\x28"}'),
        ("not_json", b"{not json"),
        ("not_object", b'"just a string"'),
        ("unknown_type", enc({**ok, "event_type": "project_renamed"})),
        ("unknown_version", enc({**ok, "schema_version": 7})),
        ("schema_violation", enc({k: v for k, v in ok.items() if k != "model_name"})),
        ("out_of_range", enc(response({**ok["outputs"], "adjust": {**ok["outputs"]["adjust"], "exposure": 250}}))),
        ("unknown_filter", enc(response({**ok["outputs"], "filter": {"name": "sepia_9000", "intensity": 3}}))),
        ("bad_timestamp", enc({**ok, "occurred_at": "2026-11-31T00:00:00Z"})),
        ("empty_intent", enc(make_event("intent_submitted", "t", project_id="pbad", request_id="r", intent="..."))),
    ]


def dead_letters(s: Settings) -> list:
    c = KafkaConsumer(bootstrap_servers=s.bootstrap(), group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(s.dead_letter_topic, p) for p in sorted(c.partitions_for_topic(s.dead_letter_topic))]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        out: list = []
        deadline = time.monotonic() + 30
        while any(c.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=300).values():
                out += recs
        return out
    finally:
        c.close(autocommit=False)


def test_valid_and_malformed_events_end_to_end(settings: Settings) -> None:
    s = fresh_topics(settings, "e2e")
    good = list(synthetic_events(600, seed=11))
    bad = malformed()
    items = [(g.key, g.value) for g in good[:300]] + [(b"pbad", v) for _, v in bad] + \
            [(g.key, g.value) for g in good[300:]]
    produce(s, items)
    port = free_port()
    stats = IngestService(s, IngestOptions(idle_exit_s=3, batch_size=128, metrics_port=port)).run()

    assert stats.consumed == len(items)
    assert stats.accepted == len(good) and stats.inserted == len(good)
    by_type = Counter(g.event_type for g in good)
    assert landed(s, [g.event_id for g in good]) == {EVENT_TABLES[t]: n for t, n in by_type.items()}

    # Every bad record: one failed_events row naming its kind, with the raw bytes and its coordinates.
    rows = failed_rows(s, s.events_topic)
    assert sorted(r[2].split(":")[0] for r in rows) == sorted(k for k, _ in bad)
    raws = {(r[3] or b"") for r in rows}
    assert raws == {(v or b"") for _, v in bad}
    assert stats.failed_kinds == dict(Counter(k for k, _ in bad))

    # ... and one dead letter: original bytes, reason and origin in headers.
    dls = dead_letters(s)
    assert len(dls) == len(bad)
    for m in dls:
        h = {k: v.decode() for k, v in m.headers}
        assert h["source_topic"] == s.events_topic
        src = (int(h["source_partition"]), int(h["source_offset"]))
        row = next(r for r in rows if (r[0], r[1]) == src)
        assert (m.value or b"") == (row[3] or b"") and h["reason"] == row[2] and h["kind"] == row[2].split(":")[0]

    # Normalized columns: intent_norm, per-tool outputs with SQL NULL for "not used".
    with psycopg.connect(libpq_url(s.db_url())) as conn:
        for intent, norm in conn.execute("SELECT intent, intent_norm FROM intents WHERE kafka_topic = %s",
                                         (s.events_topic,)):
            assert norm == normalize_intent(intent)
        for tool in ("adjust", "selective_adjust", "filter"):
            want = sum(1 for g in good if g.event_type == "assistant_responded"
                       and json.loads(g.value)["outputs"][tool] is None)
            got = conn.execute(f"SELECT count(*) FROM responses WHERE kafka_topic = %s AND {tool} IS NULL",
                               (s.events_topic,)).fetchone()[0]
            assert got == want
        sample = next(g for g in good if g.event_type == "assistant_responded")
        out = conn.execute("SELECT adjust, selective_adjust, filter FROM responses WHERE event_id = %s",
                           (sample.event_id,)).fetchone()
        assert list(out) == [json.loads(sample.value)["outputs"][t] for t in ("adjust", "selective_adjust", "filter")]

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert f"flywheel_ingest_accepted_total {float(len(good))}" in metrics
    assert 'flywheel_ingest_failed_total{kind="unknown_filter"} 1.0' in metrics

    # A second group re-reads everything: no new rows, no new failed rows (idempotent on event_id / coordinates).
    again = IngestService(s, IngestOptions(idle_exit_s=3, group=s.ingest_group + "-again")).run()
    assert again.consumed == len(items) and again.inserted == 0
    assert len(failed_rows(s, s.events_topic)) == len(bad)


def test_replay_dead_letters_after_a_fix(settings: Settings, tmp_path: Path) -> None:
    s = fresh_topics(settings, "replay")
    ev = response({"adjust": None, "selective_adjust": None, "filter": {"name": "sepia_9000", "intensity": 30}})
    produce(s, [(b"pbad", json.dumps(ev).encode()), (b"pbad", b"garbage")])
    first = IngestService(s, IngestOptions(idle_exit_s=3)).run()
    assert first.failed == 2 and landed(s, [ev["event_id"]])["responses"] == 0

    # Nothing passes today's contracts yet: replay leaves both where they are.
    assert replay_dead_letters(s, dry_run=True).replayed == 0

    # The fix: the catalogue learns the new filter (a schema/catalogue release).
    fixed_dir = tmp_path / "schemas"
    shutil.copytree(s.schemas_dir, fixed_dir)
    cat = json.loads((fixed_dir / "tools" / "filters.json").read_text())
    cat["filters"].append({"name": "sepia_9000", "tags": ["warm"]})
    (fixed_dir / "tools" / "filters.json").write_text(json.dumps(cat))
    fixed = s.model_copy(update={"schemas_dir": fixed_dir})

    summary = replay_dead_letters(fixed)
    assert (summary.scanned, summary.replayed, summary.still_failing) == (2, 1, {"not_json": 1})
    IngestService(fixed, IngestOptions(idle_exit_s=3)).run()
    assert landed(s, [ev["event_id"]])["responses"] == 1
    with psycopg.connect(libpq_url(s.db_url())) as conn:
        marked = conn.execute("SELECT count(*) FROM failed_events WHERE kafka_topic = %s AND replayed_at IS NOT NULL",
                              (s.events_topic,)).fetchone()[0]
    assert marked == 1
    again = replay_dead_letters(fixed, source="table")
    assert again.replayed == 0 and again.scanned == 1  # only the garbage one is left unreplayed


@pytest.mark.parametrize("mode", ["--threads", "--processes"])
def test_sigterm_finishes_the_batch_and_exits_zero(settings: Settings, tmp_path: Path, mode: str) -> None:
    s = fresh_topics(settings, "term")
    good = list(synthetic_events(3000, seed=12 if mode == "--threads" else 13))
    produce(s, [(g.key, g.value) for g in good])
    log = tmp_path / "ingest.log"
    proc = start_ingest(s, ["--batch-size", "100", mode], log)
    try:
        deadline = time.monotonic() + 60
        while sum(landed(s, [g.event_id for g in good]).values()) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "SIGTERM" in log.read_text()
    # The CLI runs no thread of its own before its writers start, so writer processes are forked, not spawned.
    assert ("2 writer processes (fork)" if mode == "--processes" else "2 writer threads") in log.read_text()
    rest = IngestService(s, IngestOptions(idle_exit_s=3)).run()
    assert sum(landed(s, [g.event_id for g in good]).values()) == len(good)
    assert rest.consumed < len(good)  # the first run committed what it wrote


def test_publisher_reports_an_unreachable_broker_quickly() -> None:
    t0 = time.monotonic()
    with pytest.raises(PublishError, match="cannot reach Kafka at 127.0.0.1:1"):
        EventPublisher("127.0.0.1:1", "t", connect_timeout_s=1.5)
    assert time.monotonic() - t0 < 10


class _AcceptAnyObject:
    """A validator that lets everything through, to reach the sink's last line of defence."""

    def validate(self, raw: bytes):  # type: ignore[no-untyped-def]
        from flywheel.events.validation import Accepted

        ev = json.loads(raw)
        norm = normalize_intent(ev["intent"]) if ev["event_type"] == "intent_submitted" else None
        return Accepted(ev, raw.decode(), norm)


def test_postgres_rejecting_one_event_does_not_stall_the_batch(settings: Settings) -> None:
    from flywheel.ingest.sink import DB_REJECTED, PostgresSink, Record

    good = list(synthetic_events(50, seed=14))
    poison = json.loads(good[0].value)
    poison.update(event_id=str(uuid.uuid4()), occurred_at="not a timestamp")
    topic = f"direct.{uuid.uuid4().hex[:6]}"
    records = [Record(topic, 0, i, g.key, g.value) for i, g in enumerate(good[1:])]
    records.insert(7, Record(topic, 0, 999, b"p", json.dumps(poison).encode()))
    sink = PostgresSink(settings.db_url(), _AcceptAnyObject())  # type: ignore[arg-type]
    try:
        result = sink.write(records)
    finally:
        sink.close()
    assert [f.rejection.kind for f in result.failures] == [DB_REJECTED]
    assert result.accepted == result.inserted == len(good) - 1
    assert "timestamp" in result.failures[0].rejection.reason
    assert sum(landed(settings, [g.event_id for g in good[1:]]).values()) == len(good) - 1
    rows = failed_rows(settings, topic)
    assert [(r[1], r[2].split(":")[0]) for r in rows] == [(999, DB_REJECTED)]


def test_simulator_stream_passes_the_contract_and_lands(settings: Settings, tmp_path: Path) -> None:
    """Cross-team guard: every event the simulator publishes is accepted and lands in its table."""
    run = pytest.importorskip("flywheel_lab.simulator.run")
    s = fresh_topics(settings, "sim", artifacts_dir=tmp_path)
    summary = run.simulate(s, intents=200, days=1, seed=5, progress=False)
    stats = IngestService(s, IngestOptions(idle_exit_s=3)).run()
    assert stats.failed == 0, stats.failed_kinds
    assert stats.consumed == stats.inserted == summary.events
