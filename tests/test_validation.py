"""The great-expectations gate: passes good data, stops broken ground truth and broken splits with a readable,
stored report."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from flywheel.datasets.groundtruth import run_groundtruth
from flywheel.datasets.splits import load_split_rows, make_split, register_split
from flywheel.datasets.validate import ValidationFailed, last_result, validate_groundtruth, validate_split
from tests.support.events import EventWriter, clear_events, write_varied_events


@pytest.fixture(scope="module")
def run(settings, engine):
    clear_events(engine)
    write_varied_events(engine)
    return run_groundtruth(settings, engine=engine)


@pytest.fixture(scope="module")
def base(settings, engine, run):
    return make_split(settings, run.run_id, test_size=10, seed=0, engine=engine)


def test_good_groundtruth_and_split_pass_and_are_stored(settings, engine, run, base):
    out = validate_groundtruth(settings, run.run_id, engine=engine)
    assert out.success and out.n_failed == 0 and out.n_expectations >= 20
    assert last_result(settings, "groundtruth", run.run_id, engine=engine)["success"] is True
    assert last_result(settings, "split", base.split_id, engine=engine)["success"] is True


def test_split_with_leakage_fails_with_a_readable_report(settings, engine, run, base):
    train = load_split_rows(settings, base.split_id, "train")
    test = load_split_rows(settings, base.split_id, "test")
    leaked = train + [test[0], test[1]]  # two test intents also in train
    sid = register_split(settings, leaked, test, base.split_id, run.run_id, {"broken": True}, engine=engine)
    with pytest.raises(ValidationFailed) as exc:
        validate_split(settings, sid, engine=engine)
    report = str(exc.value)
    assert "FAILED" in report and sid in report
    assert "expect_column_values_to_be_unique" in report and "4 of" in report  # 2 intents x 2 parts
    assert test[0]["intent"] in report
    stored = last_result(settings, "split", sid, engine=engine)
    assert stored["success"] is False and "expect_column_values_to_be_unique" in stored["report"]


def test_split_with_bad_values_fails_on_ranges_and_catalogue(settings, engine, run, base):
    train = load_split_rows(settings, base.split_id, "train")
    test = load_split_rows(settings, base.split_id, "test")
    bad = [dict(r) for r in train]
    i_adj = next(i for i, r in enumerate(bad) if r["adjust"] is not None)
    bad[i_adj]["adjust"] = dict(bad[i_adj]["adjust"], bloom=-5, exposure=250)
    i_flt = next(i for i, r in enumerate(bad) if r["filter"] is not None)
    bad[i_flt]["filter"] = {"name": "vintage_Nope", "intensity": 50}
    bad.append({"intent": "nothing used", "adjust": None, "selective_adjust": None, "filter": None, "support": 1})
    sid = register_split(settings, bad, test, base.split_id, run.run_id, {"broken": True}, engine=engine)
    with pytest.raises(ValidationFailed) as exc:
        validate_split(settings, sid, engine=engine)
    failed = {(f["frame"], f["expectation"], f["kwargs"].get("column") or f["kwargs"].get("column_A"))
              for f in exc.value.failures}
    assert ("filters", "expect_column_values_to_be_in_set", "name") in failed
    assert ("params", "expect_column_values_to_be_between", "value") in failed       # exposure 250
    assert ("params", "expect_column_pair_values_a_to_be_greater_than_b", "value") in failed  # bloom < 0
    assert ("members", "expect_column_values_to_be_between", "n_used") in failed
    assert "vintage_Nope" in str(exc.value) and "bloom" in str(exc.value)


def test_empty_test_part_fails(settings, engine, run, base):
    train = load_split_rows(settings, base.split_id, "train")
    sid = register_split(settings, train, [], base.split_id, run.run_id, {}, engine=engine)
    with pytest.raises(ValidationFailed, match=r"\[parts\]"):
        validate_split(settings, sid, engine=engine)


def test_broken_groundtruth_stops_the_split(settings, engine):
    clear_events(engine)
    w = EventWriter(engine)
    for i in range(12):
        w.request(f"look {i}", {"filter": {"name": "faded_Dusk", "intensity": 30}}, {"filter": True})
    w.flush()
    run = run_groundtruth(settings, engine=engine)
    with engine.begin() as conn:  # corrupt stored rows the way a buggy upstream would
        conn.execute(text("UPDATE groundtruth_picks p SET filter_exports = filter_shown + 1"
                          " FROM groundtruth_runs r WHERE r.run_id = :r AND p.lineage = r.lineage"
                          " AND p.intent_norm = 'look 3'"), {"r": run.run_id})
    with pytest.raises(ValidationFailed) as exc:
        make_split(settings, run.run_id, test_size=3, seed=0, engine=engine)
    report = str(exc.value)
    assert "export_rate" in report and "look 3" in report and "1 of 36 rows" in report
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM splits WHERE groundtruth_run_id = :r"),
                            {"r": run.run_id}).scalar_one() == 0
    # The stored verdict keeps gating without re-validating.
    with pytest.raises(ValidationFailed):
        make_split(settings, run.run_id, test_size=3, seed=0, engine=engine)
