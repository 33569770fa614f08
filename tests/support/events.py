"""Hand-made event sets written straight into the event tables (tests and examples; bypasses Kafka on purpose).

    w = EventWriter(engine)
    w.request("Golden hour!", {"adjust": {...}, "selective_adjust": None, "filter": f}, exported={"adjust": True})
    w.flush()
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from flywheel.contracts import TOOLS, normalize_intent

_T0 = datetime(2026, 11, 1, tzinfo=UTC)


class EventWriter:
    def __init__(self, engine: Engine, producer: str = "test") -> None:
        self.engine = engine
        self.producer = producer
        self._intents: list[dict[str, Any]] = []
        self._responses: list[dict[str, Any]] = []
        self._exports: list[dict[str, Any]] = []
        self._clock = 0

    def _tick(self) -> datetime:
        self._clock += 1
        return _T0 + timedelta(seconds=self._clock)

    def request(self, intent: str, outputs: dict[str, Any], exported: dict[str, bool | list[bool]] | None = None,
                *, arm: str = "teacher", occurred_at: datetime | None = None, request_id: str | None = None,
                project_id: str | None = None) -> str:
        """One intent + one response + tool_exported events. ``exported[tool]`` may be a list (duplicate events)."""
        rid = request_id or uuid.uuid4().hex
        pid = project_id or f"p-{rid[:12]}"
        at = occurred_at or self._tick()
        self._intents.append({"event_id": str(uuid.uuid4()), "occurred_at": at, "project_id": pid,
                              "request_id": rid, "intent": intent, "intent_norm": normalize_intent(intent)})
        row = {"event_id": str(uuid.uuid4()), "occurred_at": at, "project_id": pid, "request_id": rid, "arm": arm,
               "model_name": "teacher-test" if arm == "teacher" else f"{arm}-model"}
        for tool in TOOLS:
            row[tool] = _jsonb(outputs.get(tool))
        self._responses.append(row)
        for tool, flags in (exported or {}).items():
            for flag in flags if isinstance(flags, list) else [flags]:
                self._exports.append({"event_id": str(uuid.uuid4()), "occurred_at": at, "project_id": pid,
                                      "request_id": rid, "tool": tool, "exported": bool(flag)})
        return rid

    def flush(self) -> None:
        common = "schema_version, occurred_at, producer, event_id"
        vals = "1, :occurred_at, :producer, CAST(:event_id AS uuid)"
        with self.engine.begin() as conn:
            if self._intents:
                conn.execute(text(f"INSERT INTO intents ({common}, project_id, request_id, intent, intent_norm)"
                                  f" VALUES ({vals}, :project_id, :request_id, :intent, :intent_norm)"),
                             [dict(r, producer=self.producer) for r in self._intents])
            if self._responses:
                conn.execute(text(
                    f"INSERT INTO responses ({common}, project_id, request_id, arm, model_name, model_version,"
                    " adjust, selective_adjust, filter, latency_ms)"
                    f" VALUES ({vals}, :project_id, :request_id, :arm, :model_name, 'v1',"
                    " CAST(:adjust AS jsonb), CAST(:selective_adjust AS jsonb), CAST(:filter AS jsonb), 100)"),
                    [dict(r, producer=self.producer) for r in self._responses])
            if self._exports:
                conn.execute(text(f"INSERT INTO tool_exports ({common}, project_id, request_id, tool, exported)"
                                  f" VALUES ({vals}, :project_id, :request_id, :tool, :exported)"),
                             [dict(r, producer=self.producer) for r in self._exports])
        self._intents, self._responses, self._exports = [], [], []


def _jsonb(value: Any) -> str | None:
    import json

    return None if value is None else json.dumps(value)


def clear_events(engine: Engine) -> None:
    """Empty the event tables (and everything derived from them) between hand-made scenarios."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE intents, responses, tool_exports, split_members, splits, groundtruth_picks,"
                          " groundtruth_lineages, groundtruth_candidates, groundtruth_folds, groundtruth_fold_intents,"
                          " groundtruth_runs, validation_results"))


def write_varied_events(engine: Engine, n_intents: int = 60, seed: int = 7) -> None:
    """``n_intents`` intents ("intent number i") with 1..6 teacher responses each and varied tool usage; every
    intent is exported once, so none is dropped."""
    import random

    from flywheel.contracts import ADJUST_KEYS

    rng = random.Random(seed)
    w = EventWriter(engine)
    for i in range(n_intents):
        for j in range(1 + i % 6):
            outs: dict[str, Any] = {
                "adjust": {k: rng.randint(0, 50) for k in ADJUST_KEYS} if i % 4 else None,
                "selective_adjust": {"red": {"saturation": 10, "luminance": -5}} if i % 3 == 0 else None,
                "filter": {"name": "faded_HighNoon", "intensity": 40 + j} if i % 2 == 0 else None,
            }
            if not any(outs.values()):
                outs["filter"] = {"name": "faded_Dusk", "intensity": 10}
            w.request(f"Intent number {i}!", outs, {t: j == 0 for t, v in outs.items() if v is not None})
    w.flush()


def insert_event_dicts(engine: Engine, events: Any, chunk: int = 20_000) -> dict[str, int]:
    """Write envelope dicts (as the simulator emits them) straight into the event tables: no Kafka, no ingest.

    For tests and benches that need realistic events fast; `flywheel ingest` is the production path.
    """
    import io
    import json

    cols = {
        "intent_submitted": ("intents", ["project_id", "request_id", "intent", "intent_norm"]),
        "assistant_responded": ("responses", ["project_id", "request_id", "arm", "model_name", "model_version",
                                              "adjust", "selective_adjust", "filter", "rationale", "latency_ms"]),
        "tool_exported": ("tool_exports", ["project_id", "request_id", "tool", "exported"]),
    }
    head = ["event_id", "schema_version", "occurred_at", "producer"]
    counts: dict[str, int] = {}
    bufs: dict[str, io.StringIO] = {t: io.StringIO() for t, _ in cols.values()}

    def cell(v: Any) -> str:
        if v is None:
            return "\\N"
        s = json.dumps(v) if isinstance(v, (dict, list)) else str(v)
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    def flush() -> None:
        raw: Any = engine.raw_connection()
        try:
            with raw.cursor() as cur:
                for table, c in cols.values():
                    buf = bufs[table]
                    if buf.tell():
                        buf.seek(0)
                        cur.copy_expert(f"COPY {table} ({', '.join(head + c)}) FROM STDIN", buf)
                    bufs[table] = io.StringIO()
            raw.commit()
        finally:
            raw.close()

    n = 0
    for ev in events:
        spec = cols.get(ev.get("event_type"))
        if spec is None:
            continue
        table, c = spec
        row = dict(ev)
        if table == "intents":
            row["intent_norm"] = normalize_intent(ev["intent"])
        elif table == "responses":
            row.update({t: (ev.get("outputs") or {}).get(t) for t in TOOLS})
        bufs[table].write("\t".join(cell(row.get(k)) for k in head + c) + "\n")
        counts[table] = counts.get(table, 0) + 1
        n += 1
        if n % chunk == 0:
            flush()
    flush()
    return counts


# Columns of the hand-written rows per event table, for insert_rows (the row dicts carry the values by name).
_ROW_COLS = {
    "intents": ("project_id, request_id, intent, intent_norm", ":project_id, :request_id, :intent, :intent_norm"),
    "responses": ("project_id, request_id, arm, model_name, model_version, adjust, selective_adjust, filter,"
                  " latency_ms",
                  ":project_id, :request_id, :arm, 'm', 'v1', CAST(:adjust AS jsonb),"
                  " CAST(:selective_adjust AS jsonb), CAST(:filter AS jsonb), 100"),
    "tool_exports": ("project_id, request_id, tool, exported", ":project_id, :request_id, :tool, :exported"),
}


def insert_rows(engine: Engine, table: str, rows: list[dict[str, Any]], *, occurred_at: datetime,
                project_id: str = "p") -> None:
    """Rows of one event table in one transaction of the moment (ingested_at = its now()); a row's own
    ``occurred_at`` or ``project_id`` wins over the defaults."""
    cols, vals = _ROW_COLS[table]
    with engine.begin() as conn:
        for r in rows:
            conn.execute(text(f"INSERT INTO {table} (event_id, schema_version, occurred_at, producer, {cols})"
                              f" VALUES (CAST(:event_id AS uuid), 1, :occurred_at, 'test', {vals})"),
                         {"event_id": str(uuid.uuid4()), "occurred_at": occurred_at, "project_id": project_id,
                          **r})
