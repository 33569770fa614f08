"""The analyst's door: a read-only login that sees schema `analytics` and nothing else, `flywheel sql` that opens psql
as it, every view and column documented in the database, and docs/analytics.md generated from those comments."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa
from psycopg2 import errors

from flywheel.db.analyst import ANALYTICS_ROLE, analyst_password, analyst_url, ensure_analyst, password_file
from flywheel.db.dictionary import data_dictionary, undocumented
from flywheel.errors import UsageError
from flywheel.reports.views import VIEWS, create_views

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "analytics.md"


@pytest.fixture(scope="module")
def upgraded(settings):
    """`flywheel db upgrade` on this module's database: it was copied from a migrated template, and a copy misses the
    database-level grants (they live in the server's catalog), which the upgrade makes."""
    from flywheel.db.migrate import upgrade

    return upgrade(settings)


@pytest.fixture()
def analyst(settings, upgraded):
    """A raw connection as the analyst login (psycopg2: the errors below are the server's own)."""
    conn = psycopg2.connect(analyst_url(settings, with_password=True))
    conn.autocommit = True
    yield conn
    conn.close()


def _fails(conn, sql: str, error: type[Exception]) -> str:
    with pytest.raises(error) as e, conn.cursor() as cur:
        cur.execute(sql)
    return str(e.value)


def test_every_view_and_column_is_documented(engine) -> None:
    with engine.connect() as conn:
        assert undocumented(conn=conn) == []
        names = set(conn.execute(sa.text(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics'")).scalars())
    assert names == set(VIEWS)


def test_the_committed_dictionary_is_the_generated_one(engine) -> None:
    """docs/analytics.md = `flywheel db dictionary` on a migrated database, and views.sql (what `flywheel report
    views` runs) carries the same comments as the migration."""
    with engine.connect() as conn:
        migrated = data_dictionary(conn=conn)
    assert DOC.read_text() == migrated, "docs/analytics.md is stale: flywheel db dictionary > docs/analytics.md"
    with engine.begin() as conn:
        create_views(conn)
    with engine.connect() as conn:
        assert data_dictionary(conn=conn) == migrated
    assert migrated.count("\n## analytics.") == len(VIEWS) and "**undocumented**" not in migrated


def test_the_dictionary_shows_a_missing_comment(engine) -> None:
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(sa.text("COMMENT ON COLUMN analytics.pipeline_runs.stage IS NULL"))
            assert undocumented(conn=conn) == ["pipeline_runs.stage"]
            assert "| `stage` | character varying(64) | **undocumented** |" in data_dictionary(conn=conn)
        finally:
            trans.rollback()


def test_the_analyst_reads_every_view(settings, analyst) -> None:
    with analyst.cursor() as cur:
        for view in VIEWS:
            cur.execute(f"SELECT * FROM analytics.{view} LIMIT 1")
        cur.execute("SELECT count(*) FROM arm_daily_completion")  # search_path = analytics
        assert cur.fetchone() == (0,)
        cur.execute("SELECT current_user, current_setting('transaction_read_only')")
        assert cur.fetchone() == (settings.analyst_user, "on")


def test_the_analyst_reads_no_base_table_and_writes_nothing(analyst) -> None:
    for table in ("responses", "projects", "models", "groundtruth_candidates", "pipeline_runs", "alembic_version"):
        assert "permission denied" in _fails(analyst, f"SELECT * FROM public.{table} LIMIT 1",
                                             errors.InsufficientPrivilege)
    # Read-only by default ...
    _fails(analyst, "CREATE TEMP TABLE scratch (x int)", errors.ReadOnlySqlTransaction)
    # ... and without privileges when the analyst turns that off.
    with analyst.cursor() as cur:
        cur.execute("SET default_transaction_read_only = off")
    for sql in ("INSERT INTO analytics.pipeline_runs (stage, run_id, status) VALUES ('x', 'x', 'x')",
                "DELETE FROM analytics.pipeline_runs",
                "INSERT INTO public.pipeline_runs (stage, run_id, status) VALUES ('x', 'x', 'x')",
                "UPDATE public.models SET status = 'retired'",
                "CREATE TABLE analytics.mine (x int)",
                "CREATE VIEW analytics.mine AS SELECT 1 AS x",
                "CREATE TABLE public.mine (x int)",
                "CREATE SCHEMA mine",
                "CREATE TEMP TABLE scratch (x int)",
                "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                "DROP VIEW analytics.pipeline_runs",
                "COMMENT ON VIEW analytics.pipeline_runs IS 'mine'",
                "SET ROLE postgres"):
        _fails(analyst, sql, errors.InsufficientPrivilege)
    _fails(analyst, f"GRANT {ANALYTICS_ROLE} TO CURRENT_USER", errors.InsufficientPrivilege)


def test_the_login_is_made_again_without_harm(settings, engine) -> None:
    with engine.begin() as conn:
        again = ensure_analyst(settings, conn=conn)
    assert (again.user, again.created, again.skipped) == (settings.analyst_user, False, None)
    assert password_file(settings).stat().st_mode & 0o777 == 0o600
    assert analyst_password(settings) == password_file(settings).read_text().strip()


def test_a_login_with_power_is_refused(settings, engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE ROLE t_powerful_analyst LOGIN CREATEDB"))
    try:
        with pytest.raises(UsageError, match="exists with createdb"), engine.begin() as conn:
            ensure_analyst(settings.model_copy(update={"analyst_user": "t_powerful_analyst"}), conn=conn)
        with pytest.raises(UsageError, match="platform's own database user"), engine.begin() as conn:
            ensure_analyst(settings.model_copy(update={"analyst_user": settings.pg_user}), conn=conn)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP ROLE t_powerful_analyst"))


def _sql_blocks(doc: Path, after: str) -> list[str]:
    """The statements of the ```sql blocks in ``doc`` from the heading ``after`` to the next heading of its level."""
    text_ = doc.read_text()
    start = text_.index(after)
    end = text_.find("\n" + after.split(" ")[0] + " ", start + 1)
    blocks = re.findall(r"```sql\n(.*?)```", text_[start:end if end > 0 else None], flags=re.S)
    statements = [q for b in blocks for q in b.split(";\n")]
    return [q for q in statements if any(line.strip() and not line.strip().startswith("--")
                                         for line in q.splitlines())]


@pytest.mark.parametrize(("doc", "section"), [(ROOT / "README.md", "## Analysing it"),
                                              (ROOT / "dags" / "README.md", "## Analyst views")])
def test_the_documented_queries_run_as_the_analyst(analyst, doc, section) -> None:
    queries = _sql_blocks(doc, section)
    assert len(queries) >= 3
    with analyst.cursor() as cur:
        for q in queries:
            cur.execute(q)


def _cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLYWHEEL_DATABASE_URL": settings.db_url(), "FLYWHEEL_STATE_DIR": str(settings.state_dir)}
    env.pop("FLYWHEEL_ANALYST_PASSWORD", None)
    return subprocess.run([sys.executable, "-m", "flywheel.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_flywheel_sql(settings) -> None:
    url = sa.engine.make_url(settings.db_url())
    plain = _cli(settings, "sql", "--print-url")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == f"postgresql://{settings.analyst_user}@{url.host}:{url.port}/{url.database}"
    secret = _cli(settings, "sql", "--print-url", "--with-password").stdout.strip()
    assert f":{analyst_password(settings)}@" in secret
    ok = _cli(settings, "sql", "-At", "-c", "SELECT current_user, count(*) FROM arm_daily_completion")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"{settings.analyst_user}|0"
    denied = _cli(settings, "sql", "-c", "SELECT * FROM public.responses")
    assert denied.returncode != 0 and "permission denied for table responses" in denied.stderr
