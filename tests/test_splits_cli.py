"""The data CLI end to end on a small hand-made event set: groundtruth -> splits (Set table) -> validate, and the
bench on a tiny size."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flywheel.cli.main import app
from tests.support.events import clear_events, write_varied_events


@pytest.fixture()
def env(settings, engine):
    clear_events(engine)
    write_varied_events(engine, 40)
    return {"FLYWHEEL_DATABASE_URL": settings.db_url(), "FLYWHEEL_ARTIFACTS_DIR": str(settings.artifacts_dir),
            "COLUMNS": "200"}


def test_groundtruth_splits_validate_commands(settings, env):
    runner = CliRunner()
    r = runner.invoke(app, ["groundtruth"], env=env)
    assert r.exit_code == 0, r.output
    assert "40 intents kept" in r.output and "GX:" in r.output
    again = runner.invoke(app, ["groundtruth", "--no-validate"], env=env)
    assert again.exit_code == 0 and "already stored" in again.output
    r = runner.invoke(app, ["splits", "--test-size", "8", "--seed", "5"], env=env)
    assert r.exit_code == 0, r.output
    assert "Train" in r.output and "Test" in r.output and "r_3:" in r.output and "r_5:" in r.output
    split_id = r.output.split("split ")[1].split()[0]
    meta = json.loads((settings.artifacts_dir / "splits" / split_id / "meta.json").read_text())
    assert meta["counts"] == {"train": 32, "test": 8}
    r = runner.invoke(app, ["validate", "--split", split_id], env=env)
    assert r.exit_code == 0 and "passed" in r.output
    r = runner.invoke(app, ["splits", "--test-size", "40"], env=env)
    assert r.exit_code == 2 and "leaves no training data" in r.output


def test_groundtruth_without_events_is_a_clear_error(engine, env):
    clear_events(engine)
    r = CliRunner().invoke(app, ["groundtruth"], env=env)
    assert r.exit_code == 2 and "no events" in r.output


def test_bench_runs_on_a_small_size(settings, env):
    r = CliRunner().invoke(app, ["bench", "groundtruth", "--events", "20000", "--events", "40000"], env=env)
    assert r.exit_code == 0, r.output
    assert "per-event cost ratio" in r.output and "40,000" in r.output
