"""Daily A/B report: per-arm `project_completion_rate`, ratio between arms, sample-ratio-mismatch check, daily trend.

One thin task calling `flywheel.pipeline.report.ab_report` (imported inside the task: parsing touches nothing), then
one look of the experiment's pre-registered decision rule (`flywheel.experiments.decide.decide_phase`), which branches
to a task named after the outcome (ship / keep_testing / roll_back) that logs the figures that decided it.
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


@task.branch(retries=RETRIES, retry_delay=timedelta(minutes=5))
def decide(params: dict | None = None) -> str:
    """One look of the rule at the active phase: recorded in experiment_decisions, acted on (a ramp or a roll back is
    a new phase the assistant reads within seconds); the branch names the outcome."""
    from flywheel.db.engine import make_engine
    from flywheel.experiments.decide import decide_phase
    from flywheel.settings import get_settings

    s = get_settings()
    eng = make_engine(s)
    try:
        rec = decide_phase(eng, settings=s, experiment_id=(params or {}).get("experiment_id"))
    finally:
        eng.dispose()
    ctx = get_current_context()
    if rec is None:
        ctx["ti"].xcom_push(key="decision", value={"outcome": "keep_testing", "reason": "nothing to decide"})
        return "keep_testing"
    d = rec.decision
    ctx["ti"].xcom_push(key="decision", value={
        "decision_id": rec.decision_id, "experiment_id": rec.experiment_id, "phase": rec.phase,
        "outcome": d.outcome, "check": d.check, "reason": d.reason, "action": rec.action,
        "next_experiment_id": rec.next_experiment_id, "ratio": d.sequential.ratio, "seq_low": d.sequential.ci_low,
        "seq_high": d.sequential.ci_high, "users_student": d.figures["users_student"],
        "users_teacher": d.figures["users_teacher"], "srm_p_value": d.srm_p_value})
    print(rec.line())
    return d.outcome


def _outcome_task(outcome: str):  # noqa: ANN202 — an Airflow task factory
    @task(task_id=outcome)
    def show() -> dict:
        """The decision's figures (XCom `decision` of task decide), in this task's log and return value."""
        figures = get_current_context()["ti"].xcom_pull(task_ids="decide", key="decision") or {}
        for k, v in figures.items():
            print(f"{k}: {v}")
        return figures

    return show()


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

Then `decide` looks at the experiment with its pre-registered rule (users as units, a confidence sequence valid at
every look, guardrails, SRM) and branches to `ship`, `keep_testing` or `roll_back`; the figures are in that task's
log and in `analytics.experiment_decisions`.
""",
)
def ab_report_dag():
    ab_report() >> decide() >> [_outcome_task("ship"), _outcome_task("keep_testing"), _outcome_task("roll_back")]


ab_report_dag()
