"""Item 6 of issue 30, looked at in a real browser: the Airflow UI (`airflow standalone` on loopback, the admin login
the platform generated) over two `airflow dags test` runs made as the demo makes them. A person opens the failed run's
failing task and reads the reason naming the DAG param; opens the promotion's `promote` task and reads which model was
promoted, in its log and its XCom. One Airflow home and one API server for both (flywheel_lab.airflow_story)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from flywheel_lab import airflow_story as story
from tests.support.browser import headless_chrome, needs_browser, require_browser

pytestmark = [pytest.mark.slow, needs_browser]


@pytest.fixture(scope="module")
def ui(settings, engine, tmp_path_factory):
    """(story, UI url, login, browser signed in): the two runs, then the UI on their Airflow home."""
    require_browser()
    from flywheel.runtime.airflow import Standalone, read_login
    from flywheel.runtime.proc import free_port

    story.load_events(engine)
    home = tmp_path_factory.mktemp("ui") / "airflow"
    runs = story.make_runs(settings, home)
    assert runs.failed_states.get("make_split") == "failed", runs.failed_states
    assert runs.promoted_states.get("promote") == "success", runs.promoted_states
    sa = Standalone(settings, port=free_port(), home=home)
    sa.start()
    driver = None
    try:
        assert sa.wait_ready(timeout=420), sa.log_file.read_text()[-3000:]
        login = read_login(home)
        assert login is not None
        driver = headless_chrome(tmp_path_factory.mktemp("chromium"))
        story.sign_in(driver, sa.url, *login)
        yield runs, sa.url, driver
    finally:
        if driver is not None:
            driver.quit()
        sa.stop()


def test_the_failed_run_says_which_param_to_change(ui):
    runs, url, driver = ui
    page = story.open_task(driver, url, runs.failed_run_id, "make_split", ["Failed", story.FAILED_REASON])
    assert "leaves no training data" in page
    assert "Could not read served logs" not in page


def test_the_promotion_names_its_model(ui, engine):
    runs, url, driver = ui
    with engine.connect() as conn:
        model_id = conn.execute(text("SELECT model_id FROM promotion_decisions WHERE promoted")).scalar_one()
    page = story.open_task(driver, url, runs.promoted_run_id, "promote", [story.DECISION])
    assert f"{story.DECISION} | candidate {model_id}" in page
    story.open_task(driver, url, runs.promoted_run_id, "promote", ["return_value"], tab="xcom")
    story.expand_xcom(driver)
    page = story.wait_for_text(driver, [f'"model_id": "{model_id}"', '"promoted": true'], "promote's XCom")
    assert '"production_model_id"' in page
