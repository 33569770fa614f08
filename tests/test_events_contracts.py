"""Event contracts: the schema files compile, valid events pass, every malformed kind gets a precise reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flywheel.contracts import ADJUST_KEYS
from flywheel.events import validation as V
from flywheel.events.envelope import EVENT_TYPES, make_event
from flywheel.events.validation import Accepted, EventValidator, Rejection
from flywheel.ingest.synthetic import synthetic_events
from flywheel.settings import DEFAULT_SCHEMAS_DIR

SCHEMAS = DEFAULT_SCHEMAS_DIR


@pytest.fixture(scope="module")
def validator() -> EventValidator:
    return EventValidator(SCHEMAS, 64 * 1024)


def response(**over: object) -> dict:
    outputs = {"adjust": {k: 0 for k in ADJUST_KEYS}, "selective_adjust": None,
               "filter": {"name": "faded_HighNoon", "intensity": 40}}
    base = dict(project_id="p1", request_id="r1", arm="teacher", model_name="gpt-3.5-turbo", model_version="0125",
                outputs=outputs, latency_ms=812.5)
    base.update(over)
    return make_event("assistant_responded", "test", **base)


def enc(ev: object) -> bytes:
    return json.dumps(ev).encode()


def test_every_event_type_has_a_schema_file_per_version(validator: EventValidator) -> None:
    assert set(validator.versions) == set(EVENT_TYPES)
    for etype in EVENT_TYPES:
        doc = json.loads((SCHEMAS / "events" / f"{etype}.v1.json").read_text())
        assert doc["$schema"].endswith("2020-12/schema")
        assert doc["properties"]["event_type"] == {"const": etype}
        for env in ("event_id", "event_type", "schema_version", "occurred_at", "producer", "project_id"):
            assert env in doc["required"]


def test_responses_reference_the_tool_schemas_not_a_copy() -> None:
    doc = json.loads((SCHEMAS / "events" / "assistant_responded.v1.json").read_text())
    text = json.dumps(doc["properties"]["outputs"])
    for tool in ("adjust", "selective_adjust", "filter"):
        assert f"schemas/tools/{tool}.json" in text
    assert "exposure" not in text  # the adjust keys live only in schemas/tools/adjust.json


def test_synthetic_stream_is_valid(validator: EventValidator) -> None:
    evs = list(synthetic_events(500, seed=3))
    assert len(evs) == 500
    assert {e.event_type for e in evs} == set(EVENT_TYPES)
    for e in evs:
        assert isinstance(validator.validate(e.value), Accepted), e.value


def test_intent_norm_and_tool_nulls(validator: EventValidator) -> None:
    a = validator.validate(enc(make_event("intent_submitted", "t", project_id="p", request_id="r",
                                          intent="  “Golden   HOUR!” ")))
    assert isinstance(a, Accepted) and a.intent_norm == "golden hour"
    r = validator.validate(enc(response()))
    assert isinstance(r, Accepted) and r.event["outputs"]["selective_adjust"] is None


def _bad_cases() -> list[tuple[str, bytes, str]]:
    ok = response()
    out: list[tuple[str, bytes, str]] = [
        (V.EMPTY, b"", "empty"),
        (V.OVERSIZED, b"{" + b" " * (64 * 1024) + b"}", "65538 bytes > limit 65536"),
        (V.NOT_UTF8, b'{"event_type": "\xff\xfe"}', "invalid UTF-8 at byte 16"),
        (V.NOT_JSON, b'{"event_type": "project_exported",', "truncated"),
        (V.NOT_JSON, b'{"latency_ms": NaN}', "malformed"),
        (V.NOT_OBJECT, b"[1, 2]", "JSON list"),
        (V.UNKNOWN_TYPE, enc({**ok, "event_type": "project_deleted"}), "'project_deleted' is not one of"),
        (V.UNKNOWN_VERSION, enc({**ok, "schema_version": 2}), "schema_version 2 is not one of [1]"),
        (V.SCHEMA, enc({k: v for k, v in ok.items() if k != "arm"}), '"arm" is a required property'),
        (V.SCHEMA, enc({**ok, "event_id": "not-a-uuid"}), "event_id"),
        (V.SCHEMA, enc({**ok, "extra": 1}), "'extra' was unexpected"),
        (V.SCHEMA, enc(response(outputs={"adjust": None, "selective_adjust": None})), '"filter" is a required'),
        (V.SCHEMA, enc(response(outputs={**ok["outputs"], "adjust": {"exposure": 5}})), "outputs/adjust"),
        (V.SCHEMA, enc(response(rationale={"adjust": "nul\u0000char"})), "rationale/adjust"),
        (V.OUT_OF_RANGE, enc(response(outputs={**ok["outputs"], "adjust": {**ok["outputs"]["adjust"],
                                                                            "bloom": -3}})),
         "outputs/adjust/bloom: -3 is less than the minimum of 0"),
        (V.OUT_OF_RANGE, enc(response(outputs={**ok["outputs"], "filter": {"name": "faded_HighNoon",
                                                                            "intensity": 101}})),
         "outputs/filter/intensity: 101 is greater than the maximum of 100"),
        (V.OUT_OF_RANGE, enc(response(outputs={**ok["outputs"], "selective_adjust": {
            "red": {"saturation": 0, "luminance": -101}}})), "outputs/selective_adjust/red/luminance"),
        (V.UNKNOWN_FILTER, enc(response(outputs={**ok["outputs"], "filter": {"name": "sepia_9000",
                                                                              "intensity": 5}})),
         "'sepia_9000' is not in the filter catalogue"),
        (V.BAD_TIMESTAMP, enc({**ok, "occurred_at": "2026-02-30T10:00:00Z"}), "day is out of range"),
        (V.EMPTY_INTENT, enc(make_event("intent_submitted", "t", project_id="p", request_id="r", intent=" ?! ")),
         "normalizes to an empty string"),
        (V.TOO_MANY_BYTES, enc(make_event("intent_submitted", "t", project_id="p", request_id="r", intent="夕" * 2000)),
         "intent: 6000 UTF-8 bytes > limit 4096"),
    ]
    return out


@pytest.mark.parametrize(("kind", "raw", "needle"), _bad_cases(), ids=lambda x: x if isinstance(x, str) else "")
def test_malformed_kinds_get_precise_reasons(validator: EventValidator, kind: str, raw: bytes, needle: str) -> None:
    res = validator.validate(raw)
    assert isinstance(res, Rejection), raw[:200]
    assert res.kind == kind, res.reason
    assert needle in res.reason, res.reason


def test_every_rejection_kind_is_covered() -> None:
    assert {k for k, _, _ in _bad_cases()} == set(V.KINDS)


def test_broken_schema_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "tools").mkdir()
    with pytest.raises(Exception, match="filters.json|no event schemas"):
        EventValidator(tmp_path, 1000)
