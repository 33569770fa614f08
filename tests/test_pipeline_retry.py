"""A retried `train` or `augment` task reuses what its first try made (ids derived from the Airflow run)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from flywheel.datasets.splits import register_split
from flywheel.db.runs import track_run
from flywheel.pipeline import nightly
from flywheel.registry.store import list_models, promote
from tests.support.splits import make_rows
from tests.test_registry import fake, register

RUN = "scheduled__2026-11-30T02:00:00+00:00"


def test_train_retry_id_is_derived_from_the_run_and_split() -> None:
    a = nightly.retry_model_id(RUN, "sp-1")
    assert a == nightly.retry_model_id(RUN, "sp-1") and a.startswith("m-run-")
    assert len({a, nightly.retry_model_id(RUN, "sp-2"), nightly.retry_model_id(RUN + "x", "sp-1")}) == 3


def test_a_retried_train_reuses_the_model_its_first_try_registered(settings, engine, tmp_path, monkeypatch) -> None:
    model_id = nightly.retry_model_id(RUN, "sp-train")
    register(engine, fake(tmp_path, model_id, 0.5, split_id="sp-train"))  # the first try got this far
    before = [m.model_id for m in list_models(settings)]

    def no_second_training(*a, **kw):
        raise AssertionError("a retry must not train again")

    monkeypatch.setattr(nightly, "launch", no_second_training)
    plan = nightly.plan_training(settings, split_id="sp-train", params={"epochs": 1}, airflow_run_id=RUN)
    assert plan["model_id"] == model_id
    assert nightly.train_planned(settings, plan=plan, airflow_run_id=RUN) == model_id
    assert [m.model_id for m in list_models(settings)] == before  # no orphan row

    seen: dict[str, object] = {}

    def first_try(settings, split_id, config, *, launcher, model_id, airflow_run_id):
        seen.update(model_id=model_id, airflow_run_id=airflow_run_id)
        raise RuntimeError("worker lost")

    monkeypatch.setattr(nightly, "launch", first_try)
    with pytest.raises(RuntimeError):
        nightly.train_planned(settings, plan=nightly.plan_training(settings, split_id="sp-other", airflow_run_id=RUN),
                              airflow_run_id=RUN)
    # a try that died before registering: the next try trains into the same id
    assert seen == {"model_id": nightly.retry_model_id(RUN, "sp-other"), "airflow_run_id": RUN}


def test_a_retried_augment_reuses_the_split_its_first_try_made(settings, engine, tmp_path, monkeypatch) -> None:
    register(engine, fake(tmp_path, "m-prod-aug", 0.6, split_id="sp-base"))
    assert promote(settings.model_copy(update={"promotion_floor": 0.0}), "m-prod-aug").promoted
    rows = make_rows(30, seed=3)
    made = register_split(settings, rows[30:], rows[:30], None, None, {"augmented": True}, engine=engine)
    with track_run(engine, stage="augment", inputs={"model_id": "m-prod-aug", "split_id": "sp-base"},
                   airflow_run_id=RUN) as out:
        out.update(split_id=made)  # the first try paid for the paraphrases, then its worker died

    def no_second_augment(*a, **kw):
        raise AssertionError("a retry must not paraphrase again")

    monkeypatch.setattr(nightly, "augment_split", no_second_augment)
    assert nightly.augment(settings, split_id="sp-base", airflow_run_id=RUN) == made
    with pytest.raises(AssertionError, match="paraphrase again"):  # another run, or another input: new work
        nightly.augment(settings, split_id="sp-base", airflow_run_id=RUN + "-other")
    with engine.connect() as c:
        n = c.execute(text("SELECT count(*) FROM splits WHERE params->>'augmented' = 'true'")).scalar()
    assert n == 1
