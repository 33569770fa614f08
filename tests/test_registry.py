"""Registry tables and the promotion gate against a real Postgres (no model training: results are built by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.registry.records import ModelRecord, register_model
from flywheel.registry.store import (
    UnknownModel,
    decisions,
    get_model,
    list_models,
    overall_on,
    production_model,
    promote,
    store_evaluation,
)
from flywheel.training.train import TrainResult


def summary(overall: float) -> dict:
    tool = {"precision": overall, "recall": overall, "f1": overall, "quality": overall, "final": overall}
    sub = {"n": 10, "overall": overall, "invalid_rate": 0.0,
           "adjust": tool, "selective_adjust": tool, "filter": tool}
    return {"overall": overall, "invalid_rate": 0.0, "All": sub, "r_3": {**sub, "n": 5}}


def fake(tmp: Path, model_id: str, overall: float | None, split_id: str = "s1") -> TrainResult:
    d = tmp / model_id
    d.mkdir(parents=True)
    (d / "train_config.json").write_text(json.dumps({"backend": "seq2seq", "base_model": "google/flan-t5-base"}))
    lineage = {"backend": "seq2seq", "base_model": "google/flan-t5-base", "split_id": split_id,
               "groundtruth_run_id": "gt1"}
    return TrainResult(model_id, d, 12.5, summary(overall) if overall is not None else {}, lineage)


def register(engine, result: TrainResult) -> ModelRecord:
    """As the train stage registers a model: the caller owns the transaction."""
    with Session(engine) as s, s.begin():
        return register_model(s, result=result)


def test_register_and_query(settings, engine, tmp_path) -> None:
    rec = register(engine, fake(tmp_path, "m-reg", 0.5))
    assert rec.status == "candidate" and rec.split_id == "s1" and rec.training_seconds == 12.5
    assert get_model(settings, "m-reg").metrics["overall"] == 0.5
    assert overall_on(settings, "m-reg", "s1") == 0.5
    assert overall_on(settings, "m-reg", "s1", subset="r_3") == 0.5
    assert "m-reg" in [m.model_id for m in list_models(settings)]
    with pytest.raises(UnknownModel):
        get_model(settings, "nope")
    # Re-storing an evaluation updates it in place (one row per model/split/subset/tool).
    assert store_evaluation(settings, "m-reg", "s1", summary(0.6)) == 6
    assert overall_on(settings, "m-reg", "s1") == 0.6


def test_promotion_gate(settings, engine, tmp_path) -> None:
    s = settings.model_copy(update={"promotion_margin": 0.02, "promotion_floor": 0.30})
    register(engine, fake(tmp_path, "m-noeval", None))
    d = promote(s, "m-noeval")
    assert not d.promoted and "no evaluation" in d.reason

    register(engine, fake(tmp_path, "m-low", 0.25))
    d = promote(s, "m-low")
    assert not d.promoted and "below the floor" in d.reason
    assert production_model(s) is None

    register(engine, fake(tmp_path, "m-first", 0.60))
    d = promote(s, "m-first")
    assert d.promoted and "first production model" in d.reason
    assert production_model(s).model_id == "m-first"

    register(engine, fake(tmp_path, "m-worse", 0.55))
    d = promote(s, "m-worse")
    assert not d.promoted and "worse than production m-first" in d.reason
    assert d.production_overall == 0.60
    assert production_model(s).model_id == "m-first"

    register(engine, fake(tmp_path, "m-close", 0.59))  # worse, but within the margin
    d = promote(s, "m-close")
    assert d.promoted, d.reason
    assert production_model(s).model_id == "m-close"
    assert get_model(s, "m-first").status == "retired"
    assert get_model(s, "m-worse").status == "candidate"

    d = promote(s, "m-close")
    assert d.promoted and "already" in d.reason

    stored = decisions(s)
    assert [(x["model_id"], x["promoted"]) for x in stored] == [
        ("m-noeval", False), ("m-low", False), ("m-first", True), ("m-worse", False), ("m-close", True)]
    assert all(x["reason"] for x in stored)
    assert stored[3]["candidate_overall"] == 0.55 and stored[3]["production_model_id"] == "m-first"


def test_production_unevaluated_on_candidate_split_is_refused_when_it_cannot_be_evaluated(settings, engine, tmp_path
                                                                                         ) -> None:
    s = settings.model_copy(update={"promotion_floor": 0.0})
    prod = production_model(s)
    assert prod is not None  # from the previous test
    register(engine, fake(tmp_path, "m-othersplit", 0.9, split_id="s2"))
    # The production folder has no weights, so it cannot be evaluated on s2: refuse, never guess.
    d = promote(s, "m-othersplit")
    assert not d.promoted and "could not be evaluated" in d.reason
    assert production_model(s).model_id == prod.model_id


def test_only_one_production_model_is_possible(settings, engine) -> None:
    with pytest.raises(Exception, match="uq_models_one_production"), engine.begin() as c:
        c.execute(text("UPDATE models SET status = 'production' WHERE id IN ('m-worse', 'm-low')"))
    with pytest.raises(Exception, match="ck_models_status"), engine.begin() as c:
        c.execute(text("UPDATE models SET status = 'weird' WHERE id = 'm-low'"))


def test_cli_promote_and_models(settings, engine, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from flywheel.cli.main import app

    monkeypatch.setenv("FLYWHEEL_DATABASE_URL", settings.db_url())
    monkeypatch.setenv("FLYWHEEL_PROMOTION_FLOOR", "0.95")
    register(engine, fake(tmp_path, "m-cli-low", 0.9))
    res = CliRunner().invoke(app, ["promote", "--model", "m-cli-low"])
    assert res.exit_code == 3 and "below the floor 0.9500" in res.output
    res = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "m-cli-low" in res.output and "candidate" in res.output
