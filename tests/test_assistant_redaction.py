"""Private text stays private, through the real assistant, Postgres, broker and ingest: an intent holding an e-mail
address, a phone number, a URL, a card number and an IBAN reaches the teacher (the simulator's stand-in, recording
what it was sent) only as placeholders; the record on the topic, the stored intent and the analysts' view hold no
raw item either; the metrics count each kind; events written before the redactor stay valid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer
from sqlalchemy import text

from flywheel.assistant.app import create_app
from flywheel.contracts import normalize_intent
from flywheel.events.envelope import make_event
from flywheel.events.validation import Accepted, load_validator
from flywheel.ingest.service import IngestOptions, run_ingest
from flywheel.ingest.sink import PostgresSink, Record
from flywheel.teacher.threaded import ThreadedServer, start_in_thread
from flywheel_lab.simulator.teacher_server import create_app as teacher_app
from flywheel_lab.simulator.world import build_world

pytestmark = pytest.mark.services

PRIVATE = {"email": "john.smith@mail.com", "phone": "+1 650-253-0000", "url": "https://photos.example.com/john/42",
           "card": "4111 1111 1111 1111", "iban": "DE89 3704 0044 0532 0130 00"}
INTENT = (f"warm it up like the photo {PRIVATE['email']} sent, call {PRIVATE['phone']} if unsure, it is on "
          f"{PRIVATE['url']}; I pay with {PRIVATE['card']} or {PRIVATE['iban']}")
REDACTED = ("warm it up like the photo <EMAIL> sent, call <PHONE> if unsure, it is on <URL>; I pay with <CARD> or "
            "<IBAN>")
CLEAN = "golden hour, 80s retro 1970s film f/1.8 4k iso 800"
# Pieces of each item that must not travel anywhere on their own either (digits without their separators).
FRAGMENTS = [*PRIVATE.values(), "john.smith", "mail.com", "650-253", "6502530000", "4111111111111111",
             "DE89370400440532013000", "0532 0130", "photos.example"]


class Recording:
    """ASGI wrapper: keeps every request body the wrapped app receives (what the teacher was sent)."""

    def __init__(self, app: Any) -> None:
        self.app, self.bodies = app, list[bytes]()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []

        async def recording_receive() -> dict:
            msg = await receive()
            if msg["type"] == "http.request":
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body"):
                    self.bodies.append(b"".join(chunks))
            return msg

        return await self.app(scope, recording_receive, send)


@pytest.fixture(scope="module")
def teacher() -> Iterator[tuple[ThreadedServer, Recording]]:
    recording = Recording(teacher_app(build_world(7, 40)))
    with start_in_thread(recording) as srv:
        yield srv, recording


def _leaks(blob: str) -> list[str]:
    return [f for f in FRAGMENTS if f.lower() in blob.lower()]


def _topic_values(settings: Any, n: int) -> list[bytes]:
    consumer = KafkaConsumer(settings.events_topic, bootstrap_servers=settings.bootstrap(), group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        out = []
        for msg in consumer:
            out.append(msg.value)
            if len(out) >= n:
                break
        return out
    finally:
        consumer.close()


def test_the_teacher_the_topic_and_the_tables_see_only_placeholders(settings, engine, teacher) -> None:
    srv, recording = teacher
    asettings = settings.model_copy(update={"openai_base_url": f"{srv.url}/v1", "openai_api_key": None})
    app = create_app(asettings, experiment_ttl_s=0, require_key=False, public_metrics=True)
    with start_in_thread(app) as assistant, httpx.Client(base_url=assistant.url, timeout=60) as c:
        answers = [c.post("/v1/edits", json={"project_id": f"p-{i}", "user_id": "u-1", "intent": intent})
                   for i, intent in enumerate([INTENT, CLEAN])]
        metrics = c.get("/metrics").text
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert all(r.json()["served_by"] == "teacher" for r in answers)

    sent = [b.decode() for b in recording.bodies]
    assert len(sent) >= 6, sent  # one request per tool and intent
    assert _leaks("\n".join(sent)) == []
    with_private = [s for s in sent if "<EMAIL>" in s]
    assert len(with_private) >= 3 and all(p in s for s in with_private for p in ("<PHONE>", "<URL>", "<CARD>",
                                                                                     "<IBAN>"))
    assert any("80s retro 1970s film f/1.8 4k iso 800" in s for s in sent)  # a clean intent is sent as typed

    for kind in PRIVATE:
        assert f'flywheel_assistant_redactions_total{{kind="{kind}"}} 1.0' in metrics, metrics
    assert 'kind="number"' not in metrics and 'kind="ip"' not in metrics

    records = _topic_values(asettings, 4)
    assert len(records) == 4 and _leaks(b"\n".join(records).decode()) == []
    intents = {e["request_id"]: e for e in map(json.loads, records) if e["event_type"] == "intent_submitted"}
    assert sorted((e["intent"], json.dumps(e["redacted_kinds"], sort_keys=True)) for e in intents.values()) == [
        (CLEAN, "{}"), (REDACTED, json.dumps(dict.fromkeys(sorted(PRIVATE), 1), sort_keys=True))]

    stats = run_ingest(asettings, IngestOptions(max_events=4, idle_exit_s=20.0))
    assert stats.consumed == 4 and stats.failed == 0, stats
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT intent, intent_norm, redacted_kinds FROM intents ORDER BY intent")).all()
        daily = conn.execute(text("SELECT kind, intents, placeholders, day_intents FROM analytics.redactions_daily"
                                  )).all()
        stored = conn.execute(text("SELECT string_agg(t::text, ' ') FROM intents t")).scalar_one()
    assert [(r.intent, r.redacted_kinds) for r in rows] == [(CLEAN, {}), (REDACTED, dict.fromkeys(PRIVATE, 1))]
    # normalized as any text: lower case, and the closing ">" of a placeholder at the very end is edge punctuation
    assert rows[1].intent_norm == normalize_intent(REDACTED) == REDACTED.lower().removesuffix(">")
    assert _leaks(stored) == []
    assert sorted(daily) == [(kind, 1, 1, 2) for kind in sorted(PRIVATE)]


def test_intent_events_with_and_without_redacted_kinds_are_valid(settings) -> None:
    validator = load_validator(settings)
    base = make_event("intent_submitted", "assistant", project_id="p", request_id="r", intent="<EMAIL> warmer")

    def accepted(event: dict) -> bool:
        raw = json.dumps(event)
        return isinstance(validator.check(json.loads(raw), raw), Accepted)

    assert accepted(base)  # written before the redactor
    assert accepted({**base, "redacted_kinds": {}})
    assert accepted({**base, "redacted_kinds": {"email": 1, "phone": 2}})
    assert not accepted({**base, "redacted_kinds": {"name": 1}})  # not a kind the redactor makes
    assert not accepted({**base, "redacted_kinds": {"email": 0}})
    assert not accepted({**base, "redacted_kinds": ["email"]})


def test_both_ingest_paths_store_redacted_kinds(settings, engine) -> None:
    """Absent -> NULL (an event older than the redactor), {} -> {} (nothing found), counts as sent; the direct COPY
    and the staged INSERT ... SELECT store the same."""
    events = [make_event("intent_submitted", "test", project_id="p", request_id=f"r{i}", intent="<EMAIL> warm", **extra)
              for i, extra in enumerate([{}, {"redacted_kinds": {}}, {"redacted_kinds": {"email": 1, "phone": 2}}])]
    records = [Record("redacted", 0, i, b"p", json.dumps(ev).encode()) for i, ev in enumerate(events)]
    ids = [ev["event_id"] for ev in events]
    for direct in (False, True):
        sink = PostgresSink(settings.db_url(), load_validator(settings), direct=direct)
        try:
            result = sink.write(records)
        finally:
            sink.close()
        assert (result.direct, result.inserted, result.failures) == (direct, 3, [])
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT request_id, redacted_kinds FROM intents WHERE event_id = "
                                     "ANY(CAST(:ids AS uuid[])) ORDER BY request_id"), {"ids": ids}).all()
            conn.execute(text("DELETE FROM intents WHERE event_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids})
        assert [tuple(r) for r in rows] == [("r0", None), ("r1", {}), ("r2", {"email": 1, "phone": 2})], direct
