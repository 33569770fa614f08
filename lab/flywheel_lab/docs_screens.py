"""`flywheel docs screenshots`: the PNGs under docs/ made from the running code, so they follow it.

- `annotation-app.png`: the reality check's annotation page, signed in, on one task of a small seeded batch (an
  embedded Postgres of its own, the app on loopback).
- `airflow-ui.png`, `airflow-nightly.png`: `airflow standalone` on loopback with the checkout's DAGs (all paused, its
  own AIRFLOW_HOME, no login): the DAG list, and the `flywheel_nightly` graph with every task.
- `airflow-failed-run.png`, `airflow-promotion.png`: a failed night's failing task and a promotion's `promote` task,
  signed in with the generated admin login (flywheel_lab.docs_runs).

The browser is Debian's chromium, headless, driven by Selenium through the chromedriver on PATH; nothing is
downloaded. Everything runs in a temporary folder and every process started is stopped by PID before returning.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.errors import ServiceUnavailable, UsageError

CHECKOUT_DOCS = Path(__file__).resolve().parents[2] / "docs"
BROWSER_MISSING = ("needs Debian's chromium and chromium-driver on PATH (`make setup` installs them when run as root; "
                   "else `apt-get install chromium chromium-driver`)")
SHOTS = ("annotation", "airflow", "runs")
DAG_IDS = ("ab_report", "flywheel_groundtruth", "flywheel_nightly", "flywheel_retrain")
NIGHTLY_LAST_TASK = "reality_check"

Echo = Callable[[str], None]


def find_browser() -> tuple[str | None, str | None]:
    """(chromium, chromedriver) on PATH, None where missing."""
    return shutil.which("chromium"), shutil.which("chromedriver")


def headless_chrome(profile: Path, *, width: int = 1400, height: int = 860) -> Any:
    """A Selenium Chrome driver on chromium and the chromedriver on PATH (the caller quits it). Both paths are given,
    so Selenium never looks for, or downloads, a browser or driver of its own."""
    chromium, driver = find_browser()
    if not (chromium and driver):
        raise UsageError(BROWSER_MISSING)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--hide-scrollbars", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


def _viewport(driver: Any, width: int, height: int) -> None:
    """The page's exact size in CSS pixels, so a screenshot is width x height whatever the window decorations."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


@contextlib.contextmanager
def _browser(profile: Path, width: int, height: int) -> Iterator[Any]:
    driver = headless_chrome(profile, width=width, height=height)
    try:
        _viewport(driver, width, height)
        yield driver
    finally:
        driver.quit()


def _save(driver: Any, path: Path) -> Path:
    """Write the screenshot through a temporary file, so a failed run never leaves half a PNG in docs/."""
    png = driver.get_screenshot_as_png()
    tmp = path.with_suffix(".png.tmp")
    tmp.write_bytes(png)
    tmp.replace(path)
    return path


def _wait(what: str, check: Callable[[], bool], timeout: float, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise ServiceUnavailable(f"docs screenshots: {what} not seen within {timeout:.0f}s")


# --- the annotation page ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Task:
    intent: str
    teacher: dict[str, Any]
    student: dict[str, Any]


# A small batch: the student close to the teacher on the first intent (the page shows that task first).
_TASKS = (
    _Task("retro seventies",
          {"adjust": {"exposure": 10, "temperature": 40, "contrast": 15, "sharpen": 20},
           "selective_adjust": {"blue": {"saturation": 30, "luminance": -10}},
           "filter": {"name": "faded_Film", "intensity": 60}},
          {"adjust": {"exposure": 14, "temperature": 35, "contrast": 15, "sharpen": 20},
           "selective_adjust": {"blue": {"saturation": 25, "luminance": -10}},
           "filter": {"name": "faded_Film", "intensity": 55}}),
    _Task("golden hour glow",
          {"adjust": {"exposure": 15, "temperature": 55, "saturation": 10}, "selective_adjust": None,
           "filter": {"name": "warm_GoldenHour", "intensity": 70}},
          {"adjust": {"exposure": 10, "temperature": 50}, "selective_adjust": None,
           "filter": {"name": "warm_GoldenHour", "intensity": 60}}),
    _Task("calm blue hour",
          {"adjust": {"exposure": -10, "temperature": -40, "contrast": 10}, "selective_adjust": None,
           "filter": {"name": "cool_BlueHour", "intensity": 60}},
          {"adjust": {"exposure": -60, "temperature": 30, "saturation": -90}, "selective_adjust": None,
           "filter": {"name": "vivid_Neon", "intensity": 100}}),
)
_MODEL, _SPLIT, _ANNOTATOR = "m-docs", "s-docs", "annotator-1"


def _seed_model(engine: Any, artifacts: Path) -> None:
    """A registered model on a split whose test part holds _TASKS' intents with the teacher's edits."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO splits (split_id) VALUES (:s) ON CONFLICT DO NOTHING"), {"s": _SPLIT})
        for t in _TASKS:
            sa = t.teacher["selective_adjust"]
            conn.execute(text(
                "INSERT INTO split_members (split_id, intent, part, adjust, selective_adjust, filter, support)"
                " VALUES (:s, :i, 'test', CAST(:a AS jsonb), CAST(:sa AS jsonb), CAST(:f AS jsonb), 5)"
                " ON CONFLICT DO NOTHING"),
                {"s": _SPLIT, "i": t.intent, "a": json.dumps(t.teacher["adjust"]),
                 "sa": None if sa is None else json.dumps(sa), "f": json.dumps(t.teacher["filter"])})
        conn.execute(text("INSERT INTO models (id, backend, base, split_id, path) VALUES (:m, 'ngram', 'docs', :s, :p)"
                          " ON CONFLICT DO NOTHING"), {"m": _MODEL, "s": _SPLIT, "p": str(artifacts / _MODEL)})


def _student(intents: list[str]) -> list[dict[str, Any]]:
    by_intent = {t.intent: t.student for t in _TASKS}
    return [by_intent[i] for i in intents]


@contextlib.contextmanager
def _serve_app(app: Any) -> Iterator[str]:
    import uvicorn

    from flywheel.runtime.proc import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait("the annotation app", lambda: bool(server.started), 30, every=0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def annotation_screenshot(out_dir: Path, work: Path, echo: Echo = print) -> Path:
    """docs/annotation-app.png: sign in to the annotation app and show the first task of a seeded batch."""
    from sqlalchemy.orm import Session

    from flywheel.annotate import store
    from flywheel.annotate.app import create_app
    from flywheel.annotate.batch import prepare_batch
    from flywheel.db.engine import make_engine
    from flywheel.db.migrate import upgrade
    from flywheel.runtime.proc import free_port
    from flywheel.runtime.stack import embedded_postgres, ensure_database
    from flywheel.settings import get_settings

    settings = get_settings(state_dir=work / "state", pg_port=free_port(), kafka_port=free_port(), database_url=None,
                            kafka_bootstrap=None, artifacts_dir=work / "artifacts", mlflow_enabled=False,
                            pg_shared_buffers="128MB", pg_wal_buffers="-1")
    pg = embedded_postgres(settings)
    echo(f"postgres: starting on 127.0.0.1:{settings.pg_port} under {work}")
    pg.start()
    try:
        ensure_database(settings)
        upgrade(settings)
        engine = make_engine(settings)
        try:
            _seed_model(engine, settings.artifacts_dir)
            prepare_batch(settings, model_id=_MODEL, predict=_student, engine=engine, n_tasks=len(_TASKS))
            with Session(engine) as s, s.begin():
                token = store.add_annotator(s, name=_ANNOTATOR)
            app = create_app(engine, lut_dir=settings.artifacts_dir / "luts")
            with _serve_app(app) as url, _browser(work / "chromium-annotate", 1400, 720) as driver:
                from selenium.webdriver.common.by import By

                driver.get(url + "/")
                driver.find_element(By.ID, "name").send_keys(_ANNOTATOR)
                driver.find_element(By.ID, "token").send_keys(token)
                driver.find_element(By.ID, "signin").click()
                _wait("the task page", lambda: bool(driver.find_elements(By.ID, "intent")), 30)
                _wait("the three renders", lambda: driver.execute_script(
                    "const im = Array.from(document.images);"
                    " return im.length >= 3 && im.every(i => i.complete && i.naturalWidth > 0)"), 60)
                path = _save(driver, out_dir / "annotation-app.png")
        finally:
            engine.dispose()
    finally:
        pg.stop()
        echo("postgres: stopped")
    echo(f"wrote {path}")
    return path


# --- Airflow -------------------------------------------------------------------------------------------------------

def _click(driver: Any, label: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"button[aria-label='{label}']").click()
    time.sleep(1.0)  # the UI animates panels and re-lays out the graph


def _nightly_graph(driver: Any, url: str, path: Path, timeout: float) -> Path:
    """The flywheel_nightly graph, top to bottom, details panel closed, fitted to the window."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{url}/dags/flywheel_nightly")
    _wait("the flywheel_nightly page", lambda: bool(driver.find_elements(
        By.CSS_SELECTOR, "button[aria-label='Show Graph (Press g)']")), timeout)
    _click(driver, "Show Graph (Press g)")
    _wait("the graph", lambda: bool(driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Fit View']")), timeout)
    with contextlib.suppress(Exception):  # the panel may already be closed (the UI remembers it per profile)
        _click(driver, "Collapse Details Panel")
    _click(driver, "Options")
    driver.find_element(By.XPATH, "//*[normalize-space(text())='Left to Right']").click()
    time.sleep(0.5)
    driver.find_element(By.XPATH, "//*[@role='option' and normalize-space(.)='Top to Bottom']").click()
    time.sleep(0.5)
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    time.sleep(0.5)
    _click(driver, "Fit View")
    _wait(f"task {NIGHTLY_LAST_TASK} in the graph",
          lambda: NIGHTLY_LAST_TASK in driver.find_element(By.TAG_NAME, "body").text, timeout)
    time.sleep(1.0)
    return _save(driver, path)


def airflow_screenshots(out_dir: Path, work: Path, echo: Echo = print, timeout: float = 420.0) -> list[Path]:
    """docs/airflow-ui.png (the DAG list) and docs/airflow-nightly.png (the nightly graph) from airflow standalone."""
    from flywheel.runtime.airflow import Standalone
    from flywheel.runtime.proc import free_port
    from flywheel.settings import get_settings

    settings = get_settings(state_dir=work / "state", database_url=None, kafka_bootstrap=None,
                            artifacts_dir=work / "artifacts", mlflow_enabled=False)
    sa = Standalone(settings, port=free_port(), home=work / "airflow", extra_env={
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "true",  # no login page to pass
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # nothing gets scheduled: only pictures are taken
    })
    echo(f"airflow: starting standalone on {sa.url} (AIRFLOW_HOME={sa.home}); ~1 min")
    sa.start()
    try:
        if not sa.wait_ready(timeout=timeout):
            raise ServiceUnavailable(f"airflow standalone not ready within {timeout:.0f}s; see {sa.log_file}")
        from selenium.webdriver.common.by import By

        paths = []
        with _browser(work / "chromium-airflow", 1500, 900) as driver:
            def listed() -> bool:
                driver.get(f"{sa.url}/dags")
                time.sleep(3)
                text = driver.find_element(By.TAG_NAME, "body").text
                return all(d in text for d in DAG_IDS)

            _wait(f"DAGs {', '.join(DAG_IDS)} in the UI", listed, timeout, every=2)
            paths.append(_save(driver, out_dir / "airflow-ui.png"))
            _viewport(driver, 820, 1000)
            paths.append(_nightly_graph(driver, sa.url, out_dir / "airflow-nightly.png", timeout))
    finally:
        for line in sa.stop():
            echo(line)
    for p in paths:
        echo(f"wrote {p}")
    return paths


def take_screenshots(out_dir: Path | None = None, only: tuple[str, ...] = SHOTS, echo: Echo = print,
                     timeout: float = 420.0) -> list[Path]:
    """Make the chosen screenshots into out_dir (default: the checkout's docs/); returns the files written."""
    unknown = sorted(set(only) - set(SHOTS))
    if unknown:
        raise UsageError(f"unknown screenshot set(s) {unknown}; choose from {', '.join(SHOTS)}")
    out = out_dir or CHECKOUT_DOCS
    if not out.is_dir():
        raise UsageError(f"no folder {out}: pass --out (the default is a checkout's docs/)")
    chromium, driver = find_browser()
    if not (chromium and driver):
        raise UsageError(BROWSER_MISSING)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="flywheel-docs-") as tmp:
        work = Path(tmp)
        if "annotation" in only:
            (work / "annotation").mkdir()
            written.append(annotation_screenshot(out, work / "annotation", echo))
        if "airflow" in only:
            (work / "airflow").mkdir()
            written += airflow_screenshots(out, work / "airflow", echo, timeout)
        if "runs" in only:
            from flywheel_lab.docs_runs import runs_screenshots

            (work / "runs").mkdir()
            written += runs_screenshots(out, work / "runs", echo, timeout)
    return written
