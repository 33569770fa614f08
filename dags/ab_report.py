"""Daily A/B report: per-arm `project_completion_rate`, ratio between arms, sample-ratio-mismatch check, daily trend.

One thin task calling `flywheel.pipeline.report.ab_report` (imported inside the task: parsing touches nothing).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import Asset, Param, dag, get_current_context, task

from flywheel.notify import FailureAlert

# FLYWHEEL_DAG_RETRIES=0: one-off runs (run_dag, the demo, tests) fail at once instead of waiting for retries.
RETRIES = 0 if os.environ.get("FLYWHEEL_DAG_RETRIES", "1") == "0" else 2
AB_REPORTS = Asset(name="flywheel_ab_reports", uri="flywheel://reports/ab")


@task(outlets=[AB_REPORTS], retries=RETRIES, retry_delay=timedelta(minutes=5))
def ab_report(params: dict | None = None) -> dict:
    """Compute, store (ab_reports, ab_report_arms, ab_report_daily) and write the report files with the plot."""
    from flywheel.pipeline.report import ab_report as step
    from flywheel.settings import get_settings

    ctx = get_current_context()
    out = step(get_settings(), experiment_id=(params or {}).get("experiment_id"), airflow_run_id=ctx["run_id"])
    ctx["outlet_events"][AB_REPORTS].extra = out
    return out


@dag(
    dag_id="ab_report", schedule="0 6 * * *", start_date=datetime(2026, 11, 1, tzinfo=UTC), catchup=False,
    max_active_runs=1, tags=["flywheel", "ab", "reporting"],
    default_args={"owner": "flywheel-analytics", "retries": RETRIES, "retry_delay": timedelta(minutes=5),
                  # a failure reaches the FLYWHEEL_NOTIFY_* channels (webhook, Slack, e-mail), else the log
                  "on_failure_callback": [FailureAlert(smtp_notifier=SmtpNotifier)]},
    params={"experiment_id": Param(None, type=["null", "string"],
                                   description="experiment to report (empty: the active, else the latest one)")},
    doc_md="""
### ab_report — online metric of the running experiment

`project_completion_rate` = projects exported / projects started, per arm (a project's arm is the arm on its
assistant responses inside the experiment window), with:

* a 95 % Wilson interval per arm, and per day (the trend, by project start day);
* the ratio of every arm to the `teacher` arm with a delta-method 95 % interval on the log scale;
* a sample-ratio-mismatch chi-square test against the configured weights (flagged when p < 0.001).

Stored in `ab_reports`, `ab_report_arms`, `ab_report_daily` (see the `analytics.*` views) and written to
`{artifacts_dir}/reports/<report_id>.md|.json|.png`. The report text is in the task log.
""",
)
def ab_report_dag():
    ab_report()


ab_report_dag()
