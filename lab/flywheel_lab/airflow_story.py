"""A failed night and a promotion, made as the demo makes runs and then read in the Airflow UI with a real browser.

Shared by tests/test_airflow_ui_browser.py (which asserts what the page says) and `flywheel docs screenshots --only
runs` (which photographs the same pages). The runs are `airflow dags test` runs of `flywheel_nightly`
(flywheel.runtime.airflow.run_dag), so their task logs are where the UI reads them; the UI is `airflow standalone` on
the same AIRFLOW_HOME, signed into with the admin login it generated (its 0600 password file).

The UI is a React app: every check waits for text to appear, pages are opened by URL
(``/dags/<dag>/runs/<run>/tasks/<task>`` for the log, ``…/xcom`` for the XComs; the routes of Airflow 3.3).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.errors import ServiceUnavailable

DAG_ID = "flywheel_nightly"
# A world of ~400 intents; a test part larger than it is refused at make_split, naming the DAG param.
FAILING_CONF: dict[str, Any] = {"test_size": 100_000, "seed": 1, "skip_augmentation": True, "backend": "ngram"}
PROMOTING_CONF: dict[str, Any] = {
    "test_size": 30, "seed": 1, "skip_augmentation": True, "backend": "ngram", "max_steps": 8,
    "train_overrides": {"batch_size": 16, "warmup_steps": 2, "evaluate_test": False},
}
# A few training steps score below the production floor; the story needs a promotion, not a good model.
PROMOTION_FLOOR = 0.0
FAILED_REASON = "DAG param `test_size`"
DECISION = "promotion decision: PROMOTED"

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Story:
    failed_run_id: str
    promoted_run_id: str
    failed_states: dict[str, str]
    promoted_states: dict[str, str]


def load_events(engine: Any, *, seed: int = 5, intents: int = 500, days: float = 2.0, base_intents: int = 60
                ) -> int:
    """Simulated traffic written straight into the event tables (no Kafka, no ingest: the story is about the DAG)."""
    from sqlalchemy import text

    from flywheel.contracts import TOOLS, normalize_intent
    from flywheel_lab.simulator.run import generate_events

    head = "event_id, schema_version, occurred_at, producer, project_id, request_id"
    vals = "CAST(:event_id AS uuid), :schema_version, :occurred_at, :producer, :project_id, :request_id"
    sql = {
        "intent_submitted": f"INSERT INTO intents ({head}, intent, intent_norm) VALUES ({vals}, :intent, :intent_norm)",
        "assistant_responded": (
            f"INSERT INTO responses ({head}, arm, model_name, model_version, adjust, selective_adjust, filter,"
            f" rationale, latency_ms) VALUES ({vals}, :arm, :model_name, :model_version, CAST(:adjust AS jsonb),"
            " CAST(:selective_adjust AS jsonb), CAST(:filter AS jsonb), CAST(:rationale AS jsonb), :latency_ms)"),
        "tool_exported": f"INSERT INTO tool_exports ({head}, tool, exported) VALUES ({vals}, :tool, :exported)",
    }
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in sql}
    for ev in generate_events(seed, intents, days, base_intents=base_intents):
        kind = ev.get("event_type")
        if kind not in sql:
            continue
        row = dict(ev)
        if kind == "intent_submitted":
            row["intent_norm"] = normalize_intent(ev["intent"])
        elif kind == "assistant_responded":
            row.update({t: _jsonb((ev.get("outputs") or {}).get(t)) for t in TOOLS})
            row["rationale"] = _jsonb(ev.get("rationale"))
        rows[kind].append(row)
    with engine.begin() as conn:
        for kind, batch in rows.items():
            if batch:
                conn.execute(text(sql[kind]), batch)
    return sum(len(b) for b in rows.values())


def _jsonb(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def make_runs(settings: Any, home: Path, echo: Echo | None = None) -> Story:
    """The failing night, then the promoting one (promotion floor 0), on one Airflow home."""
    from flywheel.runtime.airflow import run_dag

    failed = run_dag(settings, DAG_ID, FAILING_CONF, home=home, timeout=600, echo=echo)
    promoting = settings.model_copy(update={"promotion_floor": PROMOTION_FLOOR})
    promoted = run_dag(promoting, DAG_ID, PROMOTING_CONF, home=home, timeout=900, echo=echo)
    if failed.run_id is None or promoted.run_id is None:
        raise ServiceUnavailable(f"airflow dags test left no run id (logs: {failed.log_path}, {promoted.log_path})")
    return Story(failed.run_id, promoted.run_id, failed.task_states, promoted.task_states)


# --- the browser -----------------------------------------------------------------------------------------------

def body_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def wait_for_text(driver: Any, texts: Iterable[str], what: str, timeout: float = 60.0) -> str:
    """The page's text once it holds every one of ``texts`` (the React app renders after the page loads)."""
    want = list(texts)
    deadline = time.monotonic() + timeout
    page = ""
    while time.monotonic() < deadline:
        page = body_text(driver)
        if all(t in page for t in want):
            return page
        time.sleep(0.5)
    missing = [t for t in want if t not in page]
    raise ServiceUnavailable(f"{what}: {missing} not on {driver.current_url} within {timeout:.0f}s; "
                             f"the page says: {page[-1500:]!r}")


def sign_in(driver: Any, url: str, user: str, password: str, timeout: float = 60.0) -> None:
    """The simple auth manager's login form, as a person fills it."""
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/auth/login")
    wait_for_text(driver, ["Sign into Airflow"], "the login page", timeout)
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.XPATH, "//button[normalize-space(.)='Sign in']").click()
    deadline = time.monotonic() + timeout
    while "/auth/login" in driver.current_url and time.monotonic() < deadline:
        time.sleep(0.3)
    if "/auth/login" in driver.current_url:
        raise ServiceUnavailable(f"signing in as {user} left the browser on {driver.current_url}: "
                                 f"{body_text(driver)[-500:]!r}")


def task_url(url: str, run_id: str, task_id: str, tab: str = "", dag_id: str = DAG_ID) -> str:
    run = urllib.parse.quote(run_id, safe="")
    return f"{url}/dags/{dag_id}/runs/{run}/tasks/{task_id}" + (f"/{tab}" if tab else "")


def open_task(driver: Any, url: str, run_id: str, task_id: str, expect: Iterable[str], *, tab: str = "",
              timeout: float = 60.0) -> str:
    """A task instance's page (its log by default, or ``tab``: "xcom", "details", …) once it shows ``expect``."""
    driver.get(task_url(url, run_id, task_id, tab))
    return wait_for_text(driver, [task_id, *expect], f"{task_id} of {run_id}", timeout)


def press(driver: Any, label: str) -> None:
    """Click the button a person would, found by its accessible label."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"button[aria-label='{label}']").click()
    time.sleep(0.5)


def wrap_log_lines(driver: Any) -> None:
    """Log Settings → Wrap: a long error line is read whole instead of cut at the panel's edge."""
    from selenium.webdriver.common.by import By

    press(driver, "Log Settings")
    driver.find_element(By.XPATH, "//*[@role='menuitem' and starts-with(normalize-space(.), 'Wrap')]").click()
    time.sleep(0.5)


def expand_xcom(driver: Any) -> None:
    """The XCom table shows a JSON value folded ({…}); its toolbar button unfolds every value."""
    from selenium.webdriver.common.by import By

    for b in driver.find_elements(By.CSS_SELECTOR, "button[aria-label]"):
        if (b.get_attribute("aria-label") or "").startswith("Expand all"):
            b.click()
            time.sleep(0.5)
            return
