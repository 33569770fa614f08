"""Ground-truth rules (docs/domain.md#ground-truth) pinned with small hand-made event sets in real Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flywheel.contracts import ADJUST_KEYS
from flywheel.datasets.groundtruth import NoEvents, get_run, groundtruth_rows, run_groundtruth
from tests.support.events import EventWriter, clear_events

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def adj(**kw: int) -> dict[str, int]:
    return {k: kw.get(k, 0) for k in ADJUST_KEYS}


def flt(name: str = "faded_HighNoon", intensity: int = 50) -> dict[str, object]:
    return {"name": name, "intensity": intensity}


A, B, C = adj(exposure=10), adj(exposure=20), adj(contrast=-30)


@pytest.fixture()
def w(engine):
    clear_events(engine)
    return EventWriter(engine)


def gt(settings, engine, **kw):
    run = run_groundtruth(settings, engine=engine, **kw)
    rows = {(r["intent_norm"], r["tool"]): r for r in groundtruth_rows(settings, run.run_id, engine=engine)}
    return run, rows


def shows(w, intent, tool, value, n, n_exported, start=0, **extra):
    """n teacher responses of `value` for `tool` (other tools null), the first n_exported of them exported."""
    for i in range(n):
        w.request(intent, {tool: value}, {tool: i < n_exported}, occurred_at=T0 + timedelta(minutes=start + i),
                  **extra)


def test_highest_export_rate_wins_over_more_exports(settings, engine, w):
    shows(w, "golden hour", "adjust", A, 10, 6)           # 0.6, more exports
    shows(w, "golden hour", "adjust", B, 2, 2, start=20)  # 1.0
    w.flush()
    run, rows = gt(settings, engine)
    r = rows[("golden hour", "adjust")]
    assert r["output"] == B and r["used"] and r["exports"] == 2 and r["shown"] == 2 and r["export_rate"] == 1.0
    assert r["rule"] == "export_rate" and r["support"] == 12 and r["n_candidates"] == 2
    assert run.n_intents == 1 and run.n_responses == 12


def test_rate_tie_broken_by_more_exports(settings, engine, w):
    shows(w, "warm", "adjust", A, 2, 1)             # 0.5 with 1 export
    shows(w, "warm", "adjust", B, 4, 2, start=10)   # 0.5 with 2 exports
    shows(w, "cool", "adjust", B, 4, 2)             # same, other order of arrival
    shows(w, "cool", "adjust", A, 2, 1, start=10)
    w.flush()
    _, rows = gt(settings, engine)
    assert rows[("warm", "adjust")]["output"] == B
    assert rows[("cool", "adjust")]["output"] == B


def test_full_tie_broken_by_most_recent(settings, engine, w):
    # Same rate, exports and shown: the candidate shown most recently wins, whatever the insertion order.
    shows(w, "dusk", "filter", flt("faded_Dusk"), 2, 1, start=50)
    shows(w, "dusk", "filter", flt("faded_BlueHour"), 2, 1, start=0)
    shows(w, "dawn", "filter", flt("faded_BlueHour"), 2, 1, start=0)
    shows(w, "dawn", "filter", flt("faded_Dusk"), 2, 1, start=50)
    w.flush()
    _, rows = gt(settings, engine)
    assert rows[("dusk", "filter")]["output"]["name"] == "faded_Dusk"
    assert rows[("dawn", "filter")]["output"]["name"] == "faded_Dusk"


def test_intent_with_zero_exports_everywhere_is_dropped(settings, engine, w):
    shows(w, "never exported", "adjust", A, 5, 0)
    w.request("never exported", {"filter": flt()}, {"filter": False, "adjust": False})
    shows(w, "kept", "adjust", A, 1, 1)
    w.flush()
    run, rows = gt(settings, engine)
    assert {k[0] for k in rows} == {"kept"}
    assert run.n_intents == 1 and run.n_intents_seen == 2 and run.n_dropped == 1


def test_exported_null_does_not_keep_an_intent(settings, engine, w):
    # A tool_exported=true for a tool the response did not use cannot rescue an intent: nothing was exported.
    w.request("odd", {"adjust": None}, {"adjust": True})
    w.flush()
    with pytest.raises(NoEvents):
        run_groundtruth(settings, engine=engine, teacher_arm="nobody")
    run, rows = gt(settings, engine)
    assert rows == {} and run.n_dropped == 1


def test_never_exported_tool_falls_back_to_most_frequent_output(settings, engine, w):
    # adjust exported -> intent kept; filter never exported: most frequent teacher output, here null (3 vs 2).
    for i in range(5):
        outs = {"adjust": A, "filter": flt() if i < 2 else None}
        w.request("vivid", outs, {"adjust": True, "filter": False}, occurred_at=T0 + timedelta(minutes=i))
    # selective_adjust never used at all -> null; a non-null most frequent output is kept as well:
    for i in range(3):
        w.request("moody", {"adjust": A, "filter": flt("faded_Dusk") if i else flt()}, {"adjust": i == 0},
                  occurred_at=T0 + timedelta(minutes=i))
    w.flush()
    _, rows = gt(settings, engine)
    f = rows[("vivid", "filter")]
    assert f["output"] is None and not f["used"] and f["rule"] == "most_frequent" and f["shown"] == 3
    assert f["n_candidates"] == 2
    assert rows[("vivid", "selective_adjust")]["output"] is None
    assert rows[("vivid", "adjust")]["output"] == A and rows[("vivid", "adjust")]["rule"] == "export_rate"
    assert rows[("moody", "filter")]["output"] == flt("faded_Dusk")
    assert rows[("moody", "filter")]["rule"] == "most_frequent"


def test_exported_used_candidate_beats_frequent_null(settings, engine, w):
    shows(w, "soft", "filter", None, 20, 0)          # null: 20 times, never exported
    shows(w, "soft", "filter", flt(), 10, 1, start=30)  # used: 1/10 exported
    w.flush()
    _, rows = gt(settings, engine)
    r = rows[("soft", "filter")]
    assert r["output"] == flt() and r["export_rate"] == pytest.approx(0.1) and r["n_candidates"] == 2


def test_paraphrases_that_normalize_together_are_one_intent(settings, engine, w):
    w.request("Golden Hour!", {"adjust": A}, {"adjust": True})
    w.request("  golden   HOUR ", {"adjust": B}, {"adjust": False})
    w.request("\u201cgolden hour\u201d", {"adjust": B}, {"adjust": False})
    w.request("golden hour?", {"adjust": A}, {"adjust": True})
    w.flush()
    run, rows = gt(settings, engine)
    assert run.n_intents == 1
    r = rows[("golden hour", "adjust")]
    assert r["output"] == A and r["support"] == 4 and r["shown"] == 2 and r["exports"] == 2


def test_duplicate_tool_exported_events_count_once(settings, engine, w):
    w.request("crisp", {"adjust": A}, {"adjust": [True, True, True]})
    w.request("crisp", {"adjust": A}, {"adjust": [False, True]})    # bool_or: exported
    w.request("crisp", {"adjust": A}, {"adjust": [False, False]})
    w.request("crisp", {"adjust": B}, {"adjust": [True]})
    w.flush()
    _, rows = gt(settings, engine)
    r = rows[("crisp", "adjust")]
    assert r["output"] == B  # 1/1 beats A's 2/3; triple events did not make A 5/5
    assert r["export_rate"] == 1.0
    rows_a = [x for x in groundtruth_rows(settings, get_run(settings, engine=engine).run_id, engine=engine)]
    assert len(rows_a) == 3


def test_key_order_does_not_split_a_candidate_and_json_null_is_null(settings, engine, w):
    reordered = dict(reversed(list(A.items())))
    w.request("bright", {"adjust": A}, {"adjust": True})
    w.request("bright", {"adjust": reordered}, {"adjust": True})
    w.request("bright", {"adjust": B}, {"adjust": [True]})
    w.flush()
    _, rows = gt(settings, engine)
    r = rows[("bright", "adjust")]
    assert r["output"] == A and r["shown"] == 2 and r["n_candidates"] == 2  # 2/2 beats 1/1 on exports


def test_only_teacher_arm_counts(settings, engine, w):
    shows(w, "teal", "adjust", A, 2, 1)
    shows(w, "teal", "adjust", C, 5, 5, arm="student-v1")
    w.flush()
    run, rows = gt(settings, engine)
    assert rows[("teal", "adjust")]["output"] == A and rows[("teal", "adjust")]["support"] == 2
    run_s, rows_s = gt(settings, engine, teacher_arm="student-v1")
    assert run_s.run_id != run.run_id and rows_s[("teal", "adjust")]["output"] == C


def test_rerun_for_same_watermark_is_idempotent_and_watermark_limits_events(settings, engine, w):
    shows(w, "noir", "filter", flt("faded_Dusk"), 2, 1)
    w.flush()
    first = run_groundtruth(settings, engine=engine)
    again = run_groundtruth(settings, engine=engine)
    assert first.created and not again.created and again.run_id == first.run_id
    shows(w, "noir", "filter", flt("faded_BlueHour"), 1, 1, start=10)
    w.flush()
    newer, rows = gt(settings, engine)
    assert newer.created and newer.run_id != first.run_id
    assert rows[("noir", "filter")]["output"]["name"] == "faded_BlueHour"
    old = run_groundtruth(settings, watermark=first.watermark, engine=engine)
    assert old.run_id == first.run_id and not old.created
    with engine.connect() as conn:
        from sqlalchemy import text

        n = conn.execute(text("SELECT count(*) FROM groundtruth_rows WHERE run_id = :r"), {"r": first.run_id})
        assert n.scalar_one() == 3


def test_no_events_is_a_clear_error(settings, engine, w):
    with pytest.raises(NoEvents, match="no events"):
        run_groundtruth(settings, engine=engine)


def test_intent_event_resent_under_a_new_event_id_counts_once(settings, engine, w):
    rid = w.request("sepia", {"filter": flt("faded_Dusk")}, {"filter": True})
    w.request("sepia", {"filter": flt("faded_BlueHour")}, {"filter": False})
    w.flush()
    with engine.begin() as conn:  # a buggy producer re-sends the intent event with a new id
        from sqlalchemy import text

        conn.execute(text(
            "INSERT INTO intents (event_id, schema_version, occurred_at, producer, project_id, request_id, intent,"
            " intent_norm) SELECT gen_random_uuid(), 1, occurred_at, producer, project_id, request_id, intent,"
            " intent_norm FROM intents WHERE request_id = :r"), {"r": rid})
    run, rows = gt(settings, engine, mode="full")
    r = rows[("sepia", "filter")]
    assert r["support"] == 2 and r["shown"] == 1 and r["exports"] == 1 and run.n_responses == 2
    assert run.params.get("deduped_intents") is True
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM groundtruth_runs WHERE run_id = :r"), {"r": run.run_id})
    inc, rows_inc = gt(settings, engine)
    assert inc.params["mode"] == "incremental" and rows_inc == rows and inc.n_responses == 2
