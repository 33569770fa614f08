"""Daily retention: drop the event partitions past FLYWHEEL_RETENTION_DAYS (docs/domain.md#partitions-and-retention).

One thin task calling `flywheel.db.retention.run_retention` (imported inside the task: parsing touches nothing).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import Param, dag, get_current_context, task

from flywheel.notify import FailureAlert

# FLYWHEEL_DAG_RETRIES=0: one-off runs (run_dag, the demo, tests) fail at once instead of waiting for retries.
RETRIES = 0 if os.environ.get("FLYWHEEL_DAG_RETRIES", "1") == "0" else 2


@task(retries=RETRIES, retry_delay=timedelta(minutes=5))
def drop_expired_partitions(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Detach and drop (or, with dry_run, only list) the monthly event partitions that ended more than
    FLYWHEEL_RETENTION_DAYS ago, each exported first to Parquet when FLYWHEEL_RETENTION_EXPORT_DIR is set; returns
    what goes or went (also in the log)."""
    from flywheel.db.retention import run_retention
    from flywheel.settings import get_settings

    ctx = get_current_context()
    report = run_retention(get_settings(), dry_run=bool((params or {}).get("dry_run")),
                           airflow_run_id=ctx["run_id"]).as_dict()
    for p in report["partitions"]:
        print(f"{'would drop' if report['dry_run'] else 'dropped'} {p['partition']} {p['range']}: {p['rows']:,} rows"
              + (f", exported to {p['export']}" if p["export"] else ""))
    if report["days"] is None:
        print("retention is off (FLYWHEEL_RETENTION_DAYS unset): every event is kept")
    return report


@dag(
    dag_id="flywheel_retention", schedule="30 3 * * *", start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False, max_active_runs=1, tags=["flywheel", "retention", "privacy"],
    default_args={"owner": "flywheel-data", "retries": RETRIES, "retry_delay": timedelta(minutes=5),
                  # a failure reaches the FLYWHEEL_NOTIFY_* channels (webhook, Slack, e-mail), else the log
                  "on_failure_callback": [FailureAlert(smtp_notifier=SmtpNotifier)]},
    params={"dry_run": Param(False, type="boolean", description="only list what would be dropped")},
    doc_md="""
### flywheel_retention — forget events past the retention window

Drops whole monthly partitions of the event tables (`projects`, `intents`, `responses`, `tool_exports`,
`project_exports`) whose end is more than `FLYWHEEL_RETENTION_DAYS` ago: never a `DELETE`, never a default
partition, never the current month. With `FLYWHEEL_RETENTION_EXPORT_DIR` set each partition is first written to
Parquet with a manifest (table, range, rows, columns, sha256). Every drop is a row of `retention_drops`; ground
truth already folded keeps its evidence and its runs record `evidence_expired_before`. Unset window: nothing goes.
Trigger with `dry_run: true` to see what would go.
""",
)
def flywheel_retention() -> None:
    drop_expired_partitions()


flywheel_retention()
