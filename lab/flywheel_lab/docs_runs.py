"""`flywheel docs screenshots --only runs`: the Airflow UI over a failed night and a promotion
(docs/airflow-failed-run.png, docs/airflow-promotion.png).

An embedded Postgres of its own with simulated traffic, the two `airflow dags test` runs of
flywheel_lab.airflow_story, then `airflow standalone` on their AIRFLOW_HOME, signed into with its generated admin
login, as an operator would open them after `flywheel demo --keep` and `flywheel airflow`. Everything runs in the
caller's temporary folder; Postgres and Airflow are stopped by PID before returning.
"""

from __future__ import annotations

from pathlib import Path

from flywheel.errors import ServiceUnavailable
from flywheel_lab import airflow_story as story
from flywheel_lab.docs_screens import Echo, _browser, _save

FAILED_PNG = "airflow-failed-run.png"
PROMOTION_PNG = "airflow-promotion.png"


def runs_screenshots(out_dir: Path, work: Path, echo: Echo = print, timeout: float = 420.0) -> list[Path]:
    """Photograph the failing task's log (the reason naming the DAG param) and promote's log (the decision)."""
    from flywheel.db.engine import make_engine
    from flywheel.db.migrate import upgrade
    from flywheel.runtime.airflow import Standalone, read_login
    from flywheel.runtime.proc import free_port
    from flywheel.runtime.stack import embedded_postgres, ensure_database
    from flywheel.settings import get_settings

    settings = get_settings(state_dir=work / "state", pg_port=free_port(), kafka_port=free_port(), database_url=None,
                            kafka_bootstrap=None, artifacts_dir=work / "artifacts", mlflow_enabled=False,
                            pg_shared_buffers="128MB", pg_wal_buffers="-1")
    home = work / "airflow"
    paths: list[Path] = []
    pg = embedded_postgres(settings)
    echo(f"postgres: starting on 127.0.0.1:{settings.pg_port} under {work}")
    pg.start()
    try:
        ensure_database(settings)
        upgrade(settings)
        engine = make_engine(settings)
        try:
            echo(f"events: {story.load_events(engine)} simulated rows")
        finally:
            engine.dispose()
        echo("airflow: a failing and a promoting flywheel_nightly (`airflow dags test`); ~2-3 min")
        runs = story.make_runs(settings, home)
        if runs.failed_states.get("make_split") != "failed" or runs.promoted_states.get("promote") != "success":
            raise ServiceUnavailable(f"the runs did not tell the story: {runs}")
        sa = Standalone(settings, port=free_port(), home=home)
        echo(f"airflow: starting standalone on {sa.url} (AIRFLOW_HOME={home})")
        sa.start()
        try:
            if not sa.wait_ready(timeout=timeout):
                raise ServiceUnavailable(f"airflow standalone not ready within {timeout:.0f}s; see {sa.log_file}")
            login = read_login(home)
            if login is None:
                raise ServiceUnavailable(f"no admin login under {home}")
            with _browser(work / "chromium-runs", 1400, 800) as driver:
                story.sign_in(driver, sa.url, *login)
                story.open_task(driver, sa.url, runs.failed_run_id, "make_split", ["Failed", story.FAILED_REASON],
                                timeout=timeout)
                story.wrap_log_lines(driver)
                story.press(driver, "Press Ctrl+↓ to scroll to bottom")
                story.wait_for_text(driver, [story.FAILED_REASON], "the failed log, wrapped")
                paths.append(_save(driver, out_dir / FAILED_PNG))
                story.open_task(driver, sa.url, runs.promoted_run_id, "promote", [story.DECISION], timeout=timeout)
                paths.append(_save(driver, out_dir / PROMOTION_PNG))
        finally:
            for line in sa.stop():
                echo(line)
    finally:
        pg.stop()
        echo("postgres: stopped")
    for p in paths:
        echo(f"wrote {p}")
    return paths
