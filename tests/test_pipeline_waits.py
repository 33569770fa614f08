"""Two steps the DAGs wait on: the wait for ingest (a reschedule-mode sensor pokes `ingest_settled`) and whether a
ground-truth run is news for `flywheel_retrain` (`publish_groundtruth`)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import create_engine, text

from flywheel.datasets.groundtruth import run_groundtruth
from flywheel.errors import Skipped
from flywheel.ingest.sink import APPLICATION_NAME
from flywheel.pipeline import nightly
from tests.support.events import write_varied_events
from tests.test_registry import fake, register

pytestmark = pytest.mark.services


def test_the_wait_for_ingest_settles_when_batches_begun_by_the_watermark_commit(settings, engine) -> None:
    assert nightly.ingest_settled(settings) == {"settled": True, "watermark": None}  # no events: nothing to wait for
    ingest = create_engine(settings.db_url(), connect_args={"application_name": APPLICATION_NAME})
    try:
        with ingest.connect() as batch:
            batch.begin()
            batch.execute(text("SELECT 1"))  # an ingest batch in flight: its events will carry this start
            write_varied_events(engine, n_intents=3)  # a later batch commits first: the watermark passes the open one
            poke = nightly.ingest_settled(settings)
            assert poke["settled"] is False and poke["watermark"] is not None
            batch.rollback()
        settled = nightly.ingest_settled(settings)
        assert settled == {"settled": True, "watermark": poke["watermark"]}
        assert nightly.ingest_settled(settings, params={"groundtruth_run_id": "gt-x"})["watermark"] is None
    finally:
        ingest.dispose()
    # the ground-truth step computes at the sensor's watermark, not at whatever arrived since
    write_varied_events(engine, n_intents=2, seed=9)  # arrives after the sensor settled
    gt = nightly.groundtruth(settings, watermark=settled["watermark"])
    with engine.connect() as c:
        wm = c.execute(text("SELECT watermark FROM groundtruth_runs WHERE run_id = :r"), {"r": gt}).scalar_one()
    assert wm.isoformat() == settled["watermark"]


def test_only_ground_truth_nothing_was_trained_on_is_published(settings, engine, tmp_path) -> None:
    run = run_groundtruth(settings, engine=engine)
    assert nightly.publish_groundtruth(settings, groundtruth_run_id=run.run_id) == run.run_id
    trained = fake(tmp_path, "m-on-it", 0.5, split_id="sp-on-it")
    register(engine, dataclasses.replace(trained, lineage={**trained.lineage, "groundtruth_run_id": run.run_id}))
    with pytest.raises(Skipped, match=f"ground-truth run {run.run_id} is not new: model m-on-it was trained on it"):
        nightly.publish_groundtruth(settings, groundtruth_run_id=run.run_id)
