"""Test harness: one real embedded Postgres + Tansu broker per session; each test module gets its own
migrated database (cloned from a migrated template, so it is cheap) and its own uniquely named topics."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.kafka_admin import ensure_topics
from flywheel.runtime.proc import free_port
from flywheel.runtime.stack import admin_execute, down, up
from flywheel.settings import Settings, get_settings

TEMPLATE_DB = "flywheel_template"
# The product's default teacher is the OpenAI API; tests never reach it (there is no internet, and no test may pay for
# a call). Every Settings built here, in a test (get_settings()) or in a child process (CLI, `airflow dags test`)
# points at the referee's teacher stand-in on a loopback port instead; tests that need the stand-in running start
# one and point their settings at its URL. Nothing listens on this port otherwise: a stray call fails at once.
TEACHER_PORT = free_port()
TEACHER_URL = f"http://127.0.0.1:{TEACHER_PORT}/v1"
os.environ["FLYWHEEL_TEACHER_PORT"] = str(TEACHER_PORT)
os.environ["FLYWHEEL_OPENAI_BASE_URL"] = TEACHER_URL
os.environ.pop("FLYWHEEL_OPENAI_API_KEY", None)  # a developer's real key never travels with a test


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Embedded services on free loopback ports under a temporary state folder; stopped at the end."""
    state = tmp_path_factory.mktemp("flywheel-state")
    s = get_settings(state_dir=state, pg_port=free_port(), kafka_port=free_port(), database_url=None,
                     kafka_bootstrap=None, pg_database=TEMPLATE_DB,
                     teacher_port=TEACHER_PORT, openai_base_url=TEACHER_URL, openai_api_key=None,
                     # MLflow migrates its own database on first use (~1 min): only tests about tracking switch it on.
                     mlflow_enabled=False)
    try:
        up(s)
        from flywheel.db.migrate import upgrade

        upgrade(s)
        yield s
    finally:
        down(s)


def _clone_database(s: Settings, name: str) -> None:
    admin_execute(s, f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')


def _drop_database(s: Settings, name: str) -> None:
    admin_execute(s, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def settings(stack: Settings, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Settings]:
    """Settings for one test module: an empty migrated database and fresh topics of its own."""
    mod = Path(str(request.node.fspath)).stem.replace("test_", "")[:30]
    tag = f"{mod}_{uuid.uuid4().hex[:8]}"
    db = f"t_{tag}"
    _clone_database(stack, db)
    from sqlalchemy.engine import make_url

    url = make_url(stack.db_url()).set(database=db).render_as_string(hide_password=False)
    s = stack.model_copy(update={
        "database_url": url,
        "kafka_bootstrap": stack.bootstrap(),
        "pg_database": db,
        "events_topic": f"events.{tag}",
        "dead_letter_topic": f"dlq.{tag}",
        "ingest_group": f"ingest.{tag}",
        "artifacts_dir": tmp_path_factory.mktemp(f"artifacts-{mod}"),
    })
    ensure_topics(s.bootstrap(), {s.events_topic: s.topic_partitions, s.dead_letter_topic: s.topic_partitions})
    try:
        yield s
    finally:
        _drop_database(stack, db)


@pytest.fixture(scope="module")
def engine(settings: Settings):
    from flywheel.db.engine import make_engine

    eng = make_engine(settings)
    yield eng
    eng.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fuzz, load and fault figures measured in this session (tests/support/figures.py)."""
    from tests.support.figures import summary_lines

    lines = summary_lines()
    if lines:
        terminalreporter.section("measured figures")
        for line in lines:
            terminalreporter.write_line(line)
