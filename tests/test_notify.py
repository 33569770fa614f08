"""Failures reach people: a failed DAG task is POSTed to the configured webhook (a real HTTP server on loopback here),
Slack gets its message, e-mail goes through the notifier Airflow hands in, and with nothing configured it is logged.
The nightly DAG's `make_split` failure names the DAG param to change, and an empty `test_size` fits a small world."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from flywheel.errors import UsageError
from flywheel.notify import FailureAlert, channels, failure_from_context, notify_failure
from flywheel.pipeline.params import auto_test_size
from flywheel.runtime.proc import free_port
from flywheel.settings import Settings


class Receiver:
    """A webhook endpoint on loopback that keeps what it was sent (path, JSON body)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, json.loads(body)))
                self.send_response(200 if self.path != "/broken" else 500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _context(error: Exception) -> dict:
    ti = SimpleNamespace(dag_id="flywheel_nightly", task_id="make_split", run_id="manual__2026-11-03", try_number=1,
                         log_url="http://127.0.0.1:8080/dags/flywheel_nightly/runs/manual__2026-11-03/tasks/make_split")
    return {"ti": ti, "exception": error, "run_id": ti.run_id}


def test_a_failure_goes_to_every_configured_channel(tmp_path, receiver) -> None:
    mails: list[dict] = []

    def smtp_notifier(**kw):  # stands in for Airflow's SmtpNotifier class: called with its fields, then the context
        return lambda context: mails.append({**kw, "context": context})

    s = Settings(state_dir=tmp_path, notify_webhook_url=f"{receiver.url}/hook",
                 notify_slack_webhook_url=f"{receiver.url}/slack", notify_smtp_to="ops@example.org, ml@example.org")
    assert channels(s) == ["webhook", "slack", "smtp"]
    ctx = _context(UsageError("DAG param `test_size` = 1000 leaves no training data"))
    sent = notify_failure(s, failure_from_context(ctx), context=ctx, smtp_notifier=smtp_notifier)
    assert sent == ["webhook", "slack", "smtp"]
    (path, hook), (spath, slack) = receiver.posts
    assert (path, spath) == ("/hook", "/slack")
    assert {k: hook[k] for k in ("event", "dag_id", "run_id", "task_id", "try_number")} == {
        "event": "task_failed", "dag_id": "flywheel_nightly", "run_id": "manual__2026-11-03", "task_id": "make_split",
        "try_number": 1}
    assert hook["error"] == "UsageError: DAG param `test_size` = 1000 leaves no training data"
    assert hook["log_url"].endswith("/tasks/make_split")
    assert "*flywheel_nightly* / `make_split` failed" in slack["text"] and "`test_size`" in slack["text"]
    (mail,) = mails
    assert mail["to"] == ["ops@example.org", "ml@example.org"] and mail["smtp_conn_id"] == "smtp_default"
    assert "{% raw %}" in mail["subject"] and "make_split failed" in mail["subject"] and mail["context"] is ctx


def test_one_broken_channel_does_not_silence_the_others(tmp_path, receiver, caplog) -> None:
    s = Settings(state_dir=tmp_path, notify_webhook_url=f"http://127.0.0.1:{free_port()}/nobody",
                 notify_slack_webhook_url=f"{receiver.url}/slack", notify_timeout_s=2)
    with caplog.at_level(logging.ERROR, logger="flywheel.notify"):
        sent = notify_failure(s, failure_from_context(_context(RuntimeError("boom"))))
    assert sent == ["slack"] and len(receiver.posts) == 1
    assert "could not notify webhook of flywheel_nightly.make_split" in caplog.text


def test_with_no_channel_the_failure_is_logged(tmp_path, caplog) -> None:
    s = Settings(state_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="flywheel.notify"):
        assert notify_failure(s, failure_from_context(_context(RuntimeError("boom")))) == []
    assert "flywheel_nightly / make_split failed (run manual__2026-11-03, try 1): RuntimeError: boom" in caplog.text
    assert "no one was notified" in caplog.text and "FLYWHEEL_NOTIFY_WEBHOOK_URL" in caplog.text


def test_the_callback_reads_the_settings_when_a_task_fails(tmp_path, receiver, monkeypatch) -> None:
    alert = FailureAlert()  # made when the DAG file is parsed, before any setting is known
    monkeypatch.setenv("FLYWHEEL_NOTIFY_WEBHOOK_URL", f"{receiver.url}/late")
    alert(_context(RuntimeError("boom")))
    assert [p for p, _ in receiver.posts] == ["/late"]


CALLBACKS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from flywheel.notify import FailureAlert
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": list(bag.import_errors), "dags": {
    d.dag_id: {t.task_id: [type(c).__name__ for c in (t.on_failure_callback or [])
                           if isinstance(c, FailureAlert) and c.smtp_notifier is not None] for t in d.tasks}
    for d in bag.dags.values()}}))
"""


def test_every_task_of_every_dag_alerts_on_failure(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-c", CALLBACKS, str(root / "dags")], env=env, capture_output=True,
                         text=True, timeout=180, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    parsed = json.loads(out.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == [] and len(parsed["dags"]) >= 4
    for dag_id, tasks in parsed["dags"].items():
        assert tasks and all(cbs == ["FailureAlert"] for cbs in tasks.values()), (dag_id, tasks)


@pytest.mark.parametrize(("n", "size"), [(1, 0), (2, 1), (10, 5), (60, 30), (100, 50), (694, 139), (4000, 800),
                                        (20_000, 1000)])
def test_auto_test_size(n, size) -> None:
    assert auto_test_size(n) == size


@pytest.fixture(scope="module")
def small_world(engine, settings) -> str:
    """A ground-truth run over a world far smaller than the paper's 1,000 test intents."""
    from flywheel.datasets.groundtruth import run_groundtruth
    from tests.support.events import write_varied_events

    write_varied_events(engine, n_intents=60)
    return run_groundtruth(settings, engine=engine).run_id


@pytest.mark.services
def test_the_split_step_names_the_dag_param_and_fits_a_small_world(settings, engine, small_world) -> None:
    from flywheel.pipeline import nightly

    with engine.connect() as conn:
        n = conn.execute(text("SELECT n_intents FROM groundtruth_runs WHERE run_id = :r"), {"r": small_world}).scalar()
    with pytest.raises(UsageError) as e:
        nightly.split(settings, groundtruth_run_id=small_world, params={"test_size": 1000})
    assert str(e.value).startswith("DAG param `test_size` = 1000 leaves no training data")
    assert f"has {n} intents. Trigger the DAG with `test_size` below {n}, or leave it empty" in str(e.value)
    split_id = nightly.split(settings, groundtruth_run_id=small_world, params={})  # the scheduled default
    with engine.connect() as conn:
        assert conn.execute(text("SELECT test_size FROM splits WHERE split_id = :s"), {"s": split_id}).scalar() \
            == auto_test_size(n) < n


@pytest.mark.slow
@pytest.mark.services
def test_a_failed_dag_task_is_posted_with_the_param_to_change(settings, engine, small_world, tmp_path,
                                                              receiver) -> None:
    """The issue's night: `make_split` fails on a world smaller than `test_size`; the webhook hears the DAG, the run,
    the task and an error that names the DAG param."""
    from flywheel.runtime.airflow import run_dag

    s = settings.model_copy(update={"notify_webhook_url": f"{receiver.url}/hook"})
    lines: list[str] = []
    res = run_dag(s, "flywheel_nightly", {"groundtruth_run_id": small_world, "test_size": 1000,
                                          "skip_augmentation": True}, home=tmp_path / "airflow", timeout=600,
                  echo=lines.append)
    assert res.returncode != 0 and res.task_states["make_split"] == "failed", "\n".join(lines)[-4000:]
    assert [p for p, _ in receiver.posts] == ["/hook"], receiver.posts
    hook = receiver.posts[0][1]
    assert (hook["dag_id"], hook["task_id"], hook["run_id"]) == ("flywheel_nightly", "make_split", res.run_id)
    assert "DAG param `test_size` = 1000 leaves no training data" in hook["error"]
