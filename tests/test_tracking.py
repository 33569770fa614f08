"""MLflow tracking on the platform's Postgres (its own database) with the artifacts folder as artifact store: a
logged training run is read back (params, loss per step, metrics, RQ1 table, card, lineage) and the `production`
alias follows promotion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from flywheel import tracking
from tests.support.browser import CHROMIUM, DRIVER, IN_CI, headless_chrome

METRICS = {
    "overall": 0.61, "invalid_rate": 0.02,
    "All": {"n": 10, "overall": 0.61, "invalid_rate": 0.02,
            "adjust": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "quality": 0.7, "final": 0.6},
            "filter": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "quality": 1.0, "final": 0.5}},
    "r_3": {"n": 4, "overall": 0.55, "invalid_rate": 0.0,
            "adjust": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "quality": 0.6, "final": 0.6}},
}


def _checkpoint(root: Path, model_id: str, losses: list[float]) -> Path:
    ck = root / model_id
    ck.mkdir(parents=True)
    (ck / "flywheel_model.json").write_text(json.dumps({"model_version": model_id, "backend": "seq2seq"}))
    (ck / tracking.TRAIN_LOG).write_text("".join(
        json.dumps({"step": i + 1, "loss": v, "lr": 0.001}) + "\n" for i, v in enumerate(losses)))
    return ck


@pytest.fixture(scope="module")
def tsettings(settings):
    """The module's settings with an MLflow database of its own (dropped at the end)."""
    s = settings.model_copy(update={"mlflow_database": f"mlflow_{settings.pg_database}"[:60], "mlflow_enabled": True})
    yield s
    admin = create_engine(make_url(s.db_url()).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{s.mlflow_database}" WITH (FORCE)'))
    admin.dispose()


def test_tracking_uri_is_a_database_of_its_own(tsettings) -> None:
    uri = make_url(tracking.tracking_uri(tsettings))
    platform = make_url(tsettings.db_url())
    assert uri.database == tsettings.mlflow_database != platform.database
    assert (uri.host, uri.port, uri.username) == (platform.host, platform.port, platform.username)
    explicit = tsettings.model_copy(update={"mlflow_tracking_uri": "http://mlflow.internal:5000"})
    assert tracking.tracking_uri(explicit) == "http://mlflow.internal:5000"


def test_rq1_rows_and_metric_names() -> None:
    rows = tracking.rq1_rows(METRICS)
    assert [r["subset"] for r in rows] == ["All", "r_3"]
    assert rows[0]["adjust"] == 0.6 and rows[0]["filter"] == 0.5 and rows[1]["overall"] == 0.55
    names = tracking.metric_items(METRICS)
    assert names["All.adjust.f1"] == 0.85 and names["overall"] == 0.61 and "All.n" in names


def test_training_run_reads_back_and_alias_follows_promotion(tsettings, tmp_path) -> None:
    losses = [2.0, 1.5, 1.25, 1.0]
    config = {"backend": "seq2seq", "base_model": "tiny", "lr": 0.003, "lora": {"r": 8, "alpha": 16}}
    lineage = {"split_id": "sp-1", "training_seconds": 1.5, "final_loss": 1.0, "steps": 4}
    ids = []
    for model_id in ("m-track-a", "m-track-b"):
        ck = _checkpoint(tmp_path, model_id, losses)
        ids.append(tracking.log_training(tsettings, model_id=model_id, checkpoint=ck, config=config,
                                         metrics=METRICS, lineage=lineage, airflow_run_id="manual__x"))

    run = tracking.find_run(tsettings, "m-track-a")
    assert run is not None and run.info.run_id == ids[0] and run.info.status == "FINISHED"
    assert run.data.params["lr"] == "0.003" and run.data.params["lora.r"] == "8"
    assert run.data.metrics["All.adjust.f1"] == pytest.approx(0.85)
    assert run.data.tags["flywheel.airflow_run_id"] == "manual__x"
    c = tracking.client(tsettings)
    history = c.get_metric_history(ids[0], "loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == list(enumerate(losses, start=1))
    artifacts = {f.path for f in c.list_artifacts(ids[0])}
    assert {"rq1.json", "rq1.md", "train_config.json", "lineage.json", "flywheel_model.json",
            tracking.TRAIN_LOG} <= artifacts
    local = Path(c.download_artifacts(ids[0], "rq1.json", str(tmp_path / "dl")))
    assert json.loads(local.read_text())["rows"][0]["overall"] == 0.61
    # Artifacts live under the platform's artifacts folder.
    assert (tracking.artifact_root(tsettings)).is_dir()

    name = tsettings.mlflow_registered_model
    assert tracking.set_production_alias(tsettings, "m-track-b") is not None
    assert c.get_model_version_by_alias(name, "production").tags[tracking.MODEL_ID_TAG] == "m-track-b"
    tracking.set_production_alias(tsettings, "m-track-a")
    assert c.get_model_version_by_alias(name, "production").tags[tracking.MODEL_ID_TAG] == "m-track-a"
    assert tracking.set_production_alias(tsettings, "m-never-logged") is None


def test_tracking_failure_never_fails_the_stage(tsettings) -> None:
    broken = tsettings.model_copy(update={"mlflow_tracking_uri": "postgresql+psycopg2://nobody@127.0.0.1:1/x"})
    assert tracking.safely(broken, "test", lambda: tracking.find_run(broken, "m-x")) is None
    off = tsettings.model_copy(update={"mlflow_enabled": False})
    assert tracking.safely(off, "test", lambda: 1 / 0) is None


def test_flywheel_mlflow_serves_the_runs_and_the_web_ui_on_loopback(tsettings, tmp_path) -> None:
    import subprocess
    import time

    import httpx

    from flywheel.cli.mlflow import server_command
    from flywheel.runtime.proc import free_port

    tracking.experiment_id(tracking.client(tsettings), tsettings)
    port = free_port()
    cmd = server_command(tsettings, port)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        body, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name",
                              params={"experiment_name": tsettings.mlflow_experiment}, timeout=5)
                if r.status_code == 200:
                    body = r.json()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert body is not None, "mlflow server did not answer"
        assert body["experiment"]["name"] == tsettings.mlflow_experiment
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "<script" in page.text, "no web UI (the full mlflow wheel carries it)"
        if CHROMIUM and DRIVER:
            _experiment_listed_in_a_browser(f"http://127.0.0.1:{port}/#/experiments", tsettings.mlflow_experiment,
                                            tmp_path)
        elif IN_CI:  # the HTTP checks above still ran; under CI the browser half may not be left out
            pytest.fail("CI is set and the MLflow UI's browser check cannot run: no chromium/chromedriver",
                        pytrace=False)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _experiment_listed_in_a_browser(url: str, experiment: str, tmp_path: Path) -> None:
    """The UI's JavaScript runs in a real browser and lists the platform's experiment (screenshot kept in tmp)."""
    import time

    driver = headless_chrome(tmp_path / "profile")
    try:
        driver.get(url)
        deadline = time.monotonic() + 60
        while experiment not in driver.find_element("tag name", "body").text and time.monotonic() < deadline:
            time.sleep(0.5)
        driver.save_screenshot(str(tmp_path / "mlflow-ui.png"))
        assert experiment in driver.find_element("tag name", "body").text, "the UI did not list the experiment"
    finally:
        driver.quit()
