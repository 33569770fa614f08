"""The one pipeline_runs writer: stages leave one row each with inputs, outputs, status, timing, Airflow run id."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.datasets.groundtruth import NoEvents, run_groundtruth
from flywheel.datasets.splits import make_split
from flywheel.db.runs import record_run, track_run
from tests.support.events import EventWriter, clear_events


def _runs(engine, stage: str) -> list:
    with engine.connect() as c:
        return c.execute(text("SELECT * FROM analytics.pipeline_runs WHERE stage = :s"), {"s": stage}).all()


def test_track_run_success_and_failure(engine) -> None:
    with track_run(engine, stage="report", run_id="r-ok", inputs={"x": 1}, airflow_run_id="manual__1") as out:
        with engine.connect() as c:
            assert c.execute(text("SELECT status FROM pipeline_runs WHERE run_id = 'r-ok'")).scalar() == "running"
        out["answer"] = 42
    with pytest.raises(ValueError, match="boom"), track_run(engine, stage="report", run_id="r-bad", inputs={}):
        raise ValueError("boom")
    rows = {r.run_id: r for r in _runs(engine, "report")}
    ok, bad = rows["r-ok"], rows["r-bad"]
    assert ok.status == "succeeded" and ok.outputs == {"answer": 42} and ok.inputs == {"x": 1}
    assert ok.airflow_run_id == "manual__1" and ok.finished_at is not None and ok.duration_s >= 0
    assert bad.status == "failed" and bad.message == "ValueError: boom" and bad.finished_at is not None


def test_record_run_upserts_and_keeps_inputs(engine) -> None:
    with Session(engine) as s, s.begin():
        record_run(s, run_id="r-up", stage="evaluate", status="running", inputs={"model_id": "m"})
    with Session(engine) as s, s.begin():
        record_run(s, run_id="r-up", stage="evaluate", status="succeeded", outputs={"overall": 0.5})
    (row,) = [r for r in _runs(engine, "evaluate") if r.run_id == "r-up"]
    assert row.inputs == {"model_id": "m"} and row.outputs == {"overall": 0.5} and row.status == "succeeded"


def test_groundtruth_and_split_stages_record_their_runs(settings, engine) -> None:
    clear_events(engine)
    with pytest.raises(NoEvents):
        run_groundtruth(settings, engine=engine, airflow_run_id="scheduled__x")
    failed = _runs(engine, "groundtruth")
    assert [r.status for r in failed] == ["failed"] and "no events" in failed[0].message

    w = EventWriter(engine)
    for i in range(12):
        w.request(f"intent {i}", {"adjust": {"exposure": i}, "selective_adjust": None, "filter": None},
                  exported={"adjust": True})
    w.flush()
    gt = run_groundtruth(settings, engine=engine, airflow_run_id="scheduled__x")
    sp = make_split(settings, gt.run_id, test_size=3, seed=0, validate=False, engine=engine,
                    airflow_run_id="scheduled__x")
    (g,) = [r for r in _runs(engine, "groundtruth") if r.status == "succeeded"]
    assert g.outputs["groundtruth_run_id"] == gt.run_id and g.airflow_run_id == "scheduled__x"
    (s,) = _runs(engine, "split")
    assert s.status == "succeeded" and s.outputs["split_id"] == sp.split_id
    assert s.inputs["groundtruth_run_id"] == gt.run_id and s.outputs["counts"] == {"train": 9, "test": 3}


def test_promote_stage_records_decision(settings, engine, tmp_path) -> None:
    import json

    from flywheel.registry.records import register_model
    from flywheel.registry.store import promote
    from flywheel.training.train import TrainResult

    d = tmp_path / "m-run"
    d.mkdir()
    (d / "train_config.json").write_text(json.dumps({"backend": "seq2seq"}))
    tool = {"precision": 0.7, "recall": 0.7, "f1": 0.7, "quality": 0.7, "final": 0.7}
    summary = {"overall": 0.7, "invalid_rate": 0.0, "All": {"n": 3, "overall": 0.7, "invalid_rate": 0.0,
                                                          "adjust": tool, "selective_adjust": tool, "filter": tool}}
    with Session(engine) as s, s.begin():
        register_model(s, result=TrainResult("m-run", d, 1.0, summary, {"backend": "seq2seq", "base_model": "t5",
                                                                        "split_id": "s-run"}))
    decision = promote(settings.model_copy(update={"promotion_floor": 0.5}), "m-run", airflow_run_id="manual__p")
    (row,) = _runs(engine, "promote")
    assert row.status == "succeeded" and row.airflow_run_id == "manual__p"
    assert row.outputs["model_id"] == "m-run" and row.outputs["promoted"] is decision.promoted is True


def _airflow_task(monkeypatch, run: str, task: str, try_number: int = 1, dag: str = "flywheel_nightly") -> None:
    """The environment Airflow gives a task's process (what flywheel.db.runs reads)."""
    for key, value in (("DAG_ID", dag), ("DAG_RUN_ID", run), ("TASK_ID", task), ("TRY_NUMBER", str(try_number))):
        monkeypatch.setenv(f"AIRFLOW_CTX_{key}", value)


def test_records_name_the_airflow_task_that_made_them(engine, monkeypatch) -> None:
    """Inside a task the record names the DAG, run, task and try; a stage another stage runs there without a run id
    (the production model's evaluation inside promote) gets them too; a record of another run gets none."""
    run = "scheduled__2026-11-03T02:00:00+00:00"
    _airflow_task(monkeypatch, run, "promote", try_number=2)
    with track_run(engine, stage="promote", run_id="r-task", airflow_run_id=run), \
            track_run(engine, stage="evaluate", run_id="r-nested"):
        pass
    with track_run(engine, stage="report", run_id="r-other", airflow_run_id="manual__other"):
        pass
    with engine.connect() as c:
        rows = {r.run_id: r for r in c.execute(text(
            "SELECT run_id, airflow_run_id, dag_id, task_id, try_number FROM analytics.pipeline_runs"
            " WHERE run_id IN ('r-task', 'r-nested', 'r-other')"))}
    for rid in ("r-task", "r-nested"):
        assert tuple(rows[rid])[1:] == (run, "flywheel_nightly", "promote", 2), rid
    assert tuple(rows["r-other"])[1:] == ("manual__other", None, None, None)


def test_a_step_that_does_nothing_is_recorded(settings, engine, monkeypatch) -> None:
    """Skipped augmentation and a refused split parameter leave records of their DAG run (they ran no stage)."""
    from flywheel.errors import UsageError
    from flywheel.pipeline import nightly

    run = "scheduled__2026-11-04T02:00:00+00:00"
    gt = run_groundtruth(settings, engine=engine)  # the 12 intents of test_groundtruth_and_split_stages_...
    _airflow_task(monkeypatch, run, "augment")
    assert nightly.augment(settings, split_id="sp-x", params={"skip_augmentation": True}, airflow_run_id=run) == "sp-x"
    _airflow_task(monkeypatch, run, "make_split")
    with pytest.raises(UsageError, match="DAG param `test_size` = 1000"):
        nightly.split(settings, groundtruth_run_id=gt.run_id, params={"test_size": 1000}, airflow_run_id=run)
    with engine.connect() as c:
        rows = c.execute(text("SELECT task_id, stage, status, subject, outcome FROM analytics.dag_run_tasks"
                              " WHERE dag_run_id = :r ORDER BY started_at"), {"r": run}).all()
    assert [tuple(r)[:4] for r in rows] == [("augment", "augment", "skipped", "sp-x"),
                                            ("make_split", "split", "failed", None)]
    assert rows[0].outcome == "skipped by the DAG param `skip_augmentation`"
    assert "DAG param `test_size` = 1000 leaves no training data" in rows[1].outcome
