"""Property-based fuzz at the real ingest (real broker, real Postgres): arbitrary bytes, arbitrary JSON and valid events
with one field replaced by an edge value. Ingest never stops, and every record is in exactly one of the event tables
or failed_events (0 lost, 0 stalled). Examples per run: FLYWHEEL_FUZZ_EXAMPLES (default 6)."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from flywheel.ingest.service import IngestOptions, run_ingest
from flywheel.ingest.sink import libpq_url
from flywheel.ingest.synthetic import synthetic_events
from flywheel.settings import Settings
from tests.support.figures import report
from tests.support.ingest import EVENT_TABLES, failed_rows, fresh_topics, produce

TEMPLATES = [json.loads(e.value) for e in synthetic_events(60, seed=5)]
SCRIPTS = ["中文字符", "日本語のテキスト", "한국어", "العربية", "हिन्दी", "ไทย", "Ελληνικά", "Кириллица", "עברית",
           "e\u0301\u0301\u0301", "🙂👩‍👩‍👧", "\u202eRTL override", "\ufeffBOM"]
EDGE_VALUES: list[Any] = [
    "", " ", "x" * 5000, "中" * 3000, "🙂" * 2000, "".join(SCRIPTS) * 40, *SCRIPTS,
    "\x00", "a\x00b", "\ud800", "\udfff lone", "\\u0000", "\x7f\x1b[31m",
    0, -1, 10**30, -(10**400), 1e308, -1e308, 5e-324, float("inf"), float("-inf"), float("nan"), -0.0,
    True, False, None, [], {}, [None], {"": None}, {"\x00": 1},
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2026-02-30T00:00:00Z", "2026-11-30T24:00:00Z",
    "1970-01-01T00:00:00+14:00", "2026-11-30", "not a date", "2026-11-30T00:00:00.123456789012Z",
    [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],
]
# Nesting depths of raw documents (all under the byte limit, so the parser must face them).
DEPTHS = [60, 300, 1_000, 5_000, 30_000]
OVERSIZED_INTENT = "o" * (70 * 1024)  # over FLYWHEEL_INGEST_MAX_EVENT_BYTES (64 KiB)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _encode(obj: Any, draw: Any) -> bytes:
    """JSON with NaN/Infinity allowed; lone surrogates either escaped (valid JSON, invalid text) or raw (not UTF-8)."""
    if draw(st.booleans()):
        return json.dumps(obj, allow_nan=True).encode()
    return json.dumps(obj, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _set_path(event: dict[str, Any], path: list[str], value: Any) -> None:
    node = event
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _paths(event: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[list[str]]:
    out = []
    for k, v in event.items():
        out.append([*prefix, k])
        if isinstance(v, dict):
            out += _paths(v, (*prefix, k))
    return out


@st.composite
def records(draw: Any) -> tuple[bytes | None, bytes | None, str | None]:
    """(key, value, fresh event_id if the value carries one that can land)."""
    kind = draw(st.sampled_from(["bytes", "json", "edge", "edge", "edge", "valid", "deep", "oversized", "null"]))
    key = draw(st.one_of(st.none(), st.binary(max_size=40), st.just(b"p1")))
    if kind == "bytes":
        return key, draw(st.binary(max_size=400)), None
    if kind == "json":
        return key, _encode(draw(json_values), draw), None
    if kind == "null":  # a tombstone (a Kafka producer needs a key or a value)
        return key or b"k", None, None
    event = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    eid = str(uuid.uuid4())
    event["event_id"] = eid
    if kind == "deep":
        head = json.dumps(event)[:-1].encode()
        depth = draw(st.sampled_from(DEPTHS))
        return key, head + b', "deep": ' + b"[" * depth + b"]" * depth + b"}", eid
    if kind == "oversized":
        event["intent"] = OVERSIZED_INTENT
        return key, json.dumps(event).encode(), eid
    if kind == "edge":
        path = draw(st.sampled_from(_paths(event)))
        _set_path(event, path, draw(st.sampled_from(EDGE_VALUES)))
        if path == ["event_id"]:
            eid = None
    return key, _encode(event, draw), eid


def _landed_ids(s: Settings, ids: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    with psycopg.connect(libpq_url(s.db_url())) as conn:
        for table in EVENT_TABLES.values():
            for (eid,) in conn.execute(f"SELECT event_id::text FROM {table} WHERE event_id = ANY(%s::uuid[])",
                                       (ids,)).fetchall():
                found[eid] += 1
    return found


TOTALS: Counter[str] = Counter()


@pytest.mark.slow
@seed(int(os.environ.get("FLYWHEEL_FUZZ_SEED", "20261130")))
@settings(max_examples=int(os.environ.get("FLYWHEEL_FUZZ_EXAMPLES", "6")), deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate],  # shrinking re-runs ingest dozens of times: report as found
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])
@given(batch=st.lists(records(), min_size=20, max_size=80))
def test_ingest_survives_anything_and_loses_nothing(settings: Settings, batch: list) -> None:
    s = fresh_topics(settings, "fuzz")
    produce(s, [(k, v) for k, v, _ in batch])
    stats = run_ingest(s, IngestOptions(max_events=len(batch), idle_exit_s=20.0, linger_s=0.05))
    assert stats.consumed == len(batch), stats  # nothing stalled: ingest read past every record
    ids = [eid for _, _, eid in batch if eid]
    landed = _landed_ids(s, ids)
    assert all(n == 1 for n in landed.values())
    failed = Counter(raw for _, _, _, raw in failed_rows(s, s.events_topic))
    landed_values = Counter(v for _, v, eid in batch if eid and eid in landed)
    assert failed + landed_values == Counter(v for _, v, _ in batch), "a record is lost or in two places"
    TOTALS.update(thrown=len(batch), landed=sum(landed.values()), failed=sum(failed.values()))
    TOTALS["lost"] += len(batch) - sum(landed.values()) - sum(failed.values())
    TOTALS["stalled"] += len(batch) - stats.consumed
    TOTALS["examples"] += 1
    report("ingest fuzz", **{k: TOTALS[k] for k in ("examples", "thrown", "landed", "failed", "lost", "stalled")})
