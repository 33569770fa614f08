"""Analyst views in schema `analytics` (views.sql), (re)created idempotently by `flywheel report views`.

They read the tables of several revisions (events 0002, experiments 0004, datasets 0005, registry 0006, reports
0007), so the merge revision 0009 that follows all of them created them first; every revision that changes them
carries its own frozen copy of this SQL (0019 documents every view and column with COMMENT ON and grants them to
the analyst role; 0020 adds the views of the analyst cookbook, docs/cookbook.md). A change here ships with a new
revision carrying the new definitions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SQL_PATH = Path(__file__).with_name("views.sql")
# Dependency order: a view comes after the views it reads.
VIEWS = ("experiment_assignments", "arm_daily_completion", "ab_report_latest", "model_history", "dataset_lineage",
         "pipeline_runs", "reality_check", "experiment_phases", "experiment_decisions", "arm_savings_daily",
         "redactions_daily", "model_serving_daily", "promotions", "groundtruth_evidence", "dag_run_tasks")


def views_sql() -> str:
    return SQL_PATH.read_text()


def _execute(conn: Any, sql: str) -> None:
    # SQLAlchemy Connection (alembic's op.get_bind()) or a raw DB-API connection; no bind parameters in the SQL.
    if hasattr(conn, "exec_driver_sql"):
        conn.exec_driver_sql(sql)
    else:
        with conn.cursor() as cur:
            cur.execute(sql)


def create_views(conn: Any) -> None:
    """(Re)create every analytics view; safe to run again after the tables change."""
    _execute(conn, views_sql())


def drop_views(conn: Any) -> None:
    _execute(conn, "".join(f"DROP VIEW IF EXISTS analytics.{v};\n" for v in reversed(VIEWS)))
