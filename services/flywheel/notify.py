"""Failed DAG tasks reach people: a webhook, Slack, e-mail, or at least the log.

Every task of every DAG in dags/ has :class:`FailureAlert` as its ``on_failure_callback``. Airflow calls it with the
task's context when a try fails for good (not on a try that will be retried); it reads the settings *then* (so a
changed ``FLYWHEEL_NOTIFY_*`` needs no DAG reparse) and sends the failure to every channel that is set:

* ``notify_webhook_url``: a JSON POST, :func:`webhook_payload` (dag_id, run_id, task_id, try_number, error, log_url);
* ``notify_slack_webhook_url``: a Slack incoming-webhook message (:func:`slack_message`);
* ``notify_smtp_to``: an e-mail through Airflow's own ``SmtpNotifier`` and its SMTP connection
  (``notify_smtp_conn_id``). This package never imports Airflow: the DAG file hands the class in.

With no channel set the failure is only logged (the task's log). One channel failing never stops the others, and never
fails the callback: the task has failed already, and Airflow would only log it.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from flywheel.settings import Settings, get_settings

log = logging.getLogger(__name__)

# SmtpNotifier(to=..., from_email=..., subject=..., html_content=..., smtp_conn_id=...) -> a callable on the context.
NotifierFactory = Callable[..., Callable[[Any], Any]]


@dataclass(frozen=True)
class TaskFailure:
    dag_id: str
    run_id: str
    task_id: str
    try_number: int | None
    error: str
    logical_date: str | None = None
    log_url: str | None = None

    def summary(self) -> str:
        return f"{self.dag_id} / {self.task_id} failed (run {self.run_id}, try {self.try_number}): {self.error}"


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def failure_from_context(context: Mapping[str, Any]) -> TaskFailure:
    """The facts of one failed task from Airflow's task context (read by name: no Airflow types needed)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exc = context.get("exception")
    error = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc or "unknown error")
    try:
        log_url = _get(ti, "log_url")
    except Exception:  # noqa: BLE001 - a URL helper that needs configuration must not cost the alert
        log_url = None
    logical = context.get("logical_date") or _get(dag_run, "logical_date")
    return TaskFailure(
        dag_id=str(_get(ti, "dag_id") or _get(dag_run, "dag_id") or _get(context.get("dag"), "dag_id") or "?"),
        run_id=str(context.get("run_id") or _get(ti, "run_id") or _get(dag_run, "run_id") or "?"),
        task_id=str(_get(ti, "task_id") or _get(context.get("task"), "task_id") or "?"),
        try_number=_get(ti, "try_number"),
        error=error,
        logical_date=logical.isoformat() if hasattr(logical, "isoformat") else (str(logical) if logical else None),
        log_url=str(log_url) if log_url else None,
    )


def webhook_payload(failure: TaskFailure) -> dict[str, Any]:
    return {"event": "task_failed", **asdict(failure), "text": failure.summary()}


def slack_message(failure: TaskFailure) -> dict[str, Any]:
    link = f"\n<{failure.log_url}|task log>" if failure.log_url else ""
    return {"text": f":red_circle: *{failure.dag_id}* / `{failure.task_id}` failed (run `{failure.run_id}`, "
                    f"try {failure.try_number})\n```{failure.error[:2500]}```{link}"}


def post_json(url: str, body: dict[str, Any], *, timeout_s: float) -> int:
    """POST ``body`` as JSON; the HTTP status (an error status raises urllib.error.HTTPError)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "flywheel-notify"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - the operator's configured URL
        return int(resp.status)


def channels(settings: Settings) -> list[str]:
    """The channels the settings switch on, in sending order (empty: log only)."""
    return [name for name, value in (("webhook", settings.notify_webhook_url),
                                     ("slack", settings.notify_slack_webhook_url),
                                     ("smtp", settings.notify_smtp_to)) if value]


def _raw(text: str) -> str:
    # Airflow renders a notifier's fields as Jinja: an error that contains "{{" must come through as written.
    return "{% raw %}" + text + "{% endraw %}"


def notify_failure(settings: Settings, failure: TaskFailure, *, context: Mapping[str, Any] | None = None,
                   smtp_notifier: NotifierFactory | None = None) -> list[str]:
    """Send ``failure`` to every configured channel; the channels that took it. Always logs the failure."""
    log.error("task failed: %s", failure.summary())
    sent: list[str] = []
    for channel in channels(settings):
        try:
            if channel == "webhook":
                post_json(str(settings.notify_webhook_url), webhook_payload(failure),
                          timeout_s=settings.notify_timeout_s)
            elif channel == "slack":
                post_json(str(settings.notify_slack_webhook_url), slack_message(failure),
                          timeout_s=settings.notify_timeout_s)
            else:
                if smtp_notifier is None or context is None:
                    raise RuntimeError("e-mail needs Airflow's SmtpNotifier and the task context (DAG callbacks)")
                to = [a.strip() for a in str(settings.notify_smtp_to).split(",") if a.strip()]
                smtp_notifier(to=to, from_email=settings.notify_smtp_from, smtp_conn_id=settings.notify_smtp_conn_id,
                              subject=_raw(f"[flywheel] {failure.dag_id}.{failure.task_id} failed"),
                              html_content=_raw(f"<pre>{html.escape(failure.summary())}</pre>"
                                                + (f'<p><a href="{html.escape(failure.log_url)}">task log</a></p>'
                                                   if failure.log_url else "")))(context)
        except Exception as e:  # noqa: BLE001 - one broken channel must not silence the others
            log.error("could not notify %s of %s.%s: %s", channel, failure.dag_id, failure.task_id, e)
        else:
            sent.append(channel)
    if not sent:
        log.warning("no one was notified of %s.%s: set FLYWHEEL_NOTIFY_WEBHOOK_URL, FLYWHEEL_NOTIFY_SLACK_WEBHOOK_URL"
                    " or FLYWHEEL_NOTIFY_SMTP_TO", failure.dag_id, failure.task_id)
    return sent


class FailureAlert:
    """``on_failure_callback`` for DAG tasks: ``default_args={"on_failure_callback": [FailureAlert(...)]}``.

    ``smtp_notifier`` is Airflow's ``SmtpNotifier`` class (passed in by the DAG file, so this package never imports
    Airflow). The settings are read when a task fails, not when the DAG file is parsed."""

    def __init__(self, *, smtp_notifier: NotifierFactory | None = None) -> None:
        self.smtp_notifier = smtp_notifier

    def __call__(self, context: Mapping[str, Any]) -> None:
        notify_failure(get_settings(), failure_from_context(context), context=context,
                       smtp_notifier=self.smtp_notifier)
