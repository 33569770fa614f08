"""The annotation app in a real browser: Debian's Chromium, driven by Selenium through chromedriver (no download),
signs in, answers a task and the answer is in Postgres. Skipped without the browser, failed under CI
(tests/support/browser.py). FLYWHEEL_SCREENSHOT=path also saves the task page there; docs/annotation-app.png is made
by `flywheel docs screenshots`."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.annotate import store
from flywheel.annotate.app import create_app
from flywheel.annotate.batch import prepare_batch
from flywheel.runtime.proc import free_port
from tests.support.browser import headless_chrome, needs_browser, require_browser
from tests.support.reality import fake_predict, seed_model

pytestmark = pytest.mark.services


@pytest.fixture
def server(settings, engine):
    seed_model(engine, settings.artifacts_dir)
    prepare_batch(settings, model_id="m-reality", predict=fake_predict, engine=engine, n_tasks=3)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(engine, lut_dir=settings.artifacts_dir / "luts"),
                                        host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@needs_browser
def test_sign_in_answer_and_store_in_a_browser(server, engine, tmp_path):
    require_browser()  # under CI a missing browser fails the test instead of skipping it
    from selenium.webdriver.common.by import By

    with Session(engine) as s, s.begin():
        token = store.add_annotator(s, name="browser-1")
    driver = headless_chrome(tmp_path / "profile")
    try:
        driver.get(server + "/")
        driver.find_element(By.ID, "name").send_keys("browser-1")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.ID, "signin").click()
        intent = driver.find_element(By.ID, "intent").text
        task_id = int(driver.find_element(By.NAME, "task_id").get_attribute("value"))
        loaded = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert loaded == [True, True, True]
        shot = Path(os.environ.get("FLYWHEEL_SCREENSHOT") or tmp_path / "task.png")
        driver.save_screenshot(str(shot))
        driver.find_element(By.ID, "relevant-yes").click()
        driver.find_element(By.ID, "mimics-no").click()
        driver.find_element(By.ID, "submit").click()
        assert f"Saved your answer to task {task_id}" in driver.find_element(By.ID, "note").text
    finally:
        driver.quit()
    with engine.connect() as conn:
        row = conn.execute(text("SELECT t.intent, a.relevant, a.mimics FROM annotation_answers a"
                                " JOIN annotation_tasks t ON t.id = a.task_id"
                                " JOIN annotators n ON n.id = a.annotator_id"
                                " WHERE n.name = 'browser-1'")).one()
    assert tuple(row) == (intent, True, False)


def test_a_missing_browser_skips_here_and_fails_under_ci(monkeypatch):
    from tests.support import browser

    monkeypatch.setattr(browser, "CHROMIUM", None)
    monkeypatch.setattr(browser, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="chromium-driver"):
        browser.require_browser()
    monkeypatch.setattr(browser, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        browser.require_browser()
