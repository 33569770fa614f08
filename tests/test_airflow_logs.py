"""`airflow dags test` output split into the task log files the Airflow UI reads (flywheel.runtime.airflow_logs):
one file per task and try at Airflow's default path, JSON lines Airflow's own log reader parses, a sensor's
reschedules in one attempt, a retry in the next."""

from __future__ import annotations

import json

from flywheel.runtime.airflow_logs import log_path, write_task_logs

RUN = "manual__2026-12-06T06:50:56.530320+00:00"
NIGHTLY = "[flywheel.pipeline.nightly] loc=nightly.py:9"


def _task(task: str, *body: str, state: str = "success") -> list[str]:
    ts = "2026-12-06T06:51:01.45{:04d}Z"
    lines = [f"[DAG TEST] starting task_id={task} map_index=-1     [airflow.sdk.definitions.dag] loc=dag.py:1501",
             f"[DAG TEST] running task <TaskInstance: nightly.{task} {RUN} [TaskInstanceState.SCHEDULED] ti_id=x>"
             " [airflow.sdk.definitions.dag] loc=dag.py:1504",
             *body,
             f"Task instance state updated     [airflow.api_fastapi] loc=t.py:485 new_state={state} rows_affected=1",
             f"[DAG TEST] end task task_id={task} map_index=-1     [airflow.sdk.definitions.dag] loc=dag.py:1563"]
    return [ts.format(i) + " [info     ] " + line if not line.startswith("!") else line[1:]
            for i, line in enumerate(lines)]


def test_each_task_and_try_gets_its_file(tmp_path) -> None:
    out = ["2026-12-06T06:50:56Z [info     ] Created dag run.    [airflow.models.dagrun] loc=dagrun.py:1",
           *_task("wait_for_ingest", "waiting for ingest: 1 open     [flywheel.pipeline.nightly] loc=n.py:1",
                  "Rescheduling task, marking task as UP_FOR_RESCHEDULE [task] loc=task_runner.py:1631",
                  state="up_for_reschedule"),
           *_task("wait_for_ingest", "poke done     [flywheel.pipeline.nightly] loc=n.py:2"),
           *_task("promote", f"promotion decision: PROMOTED m-1 | delta 0.01     {NIGHTLY}",
                  "!printed by the task", state="up_for_retry"),
           *_task("promote", f"promotion decision: PROMOTED m-1 | delta 0.02     {NIGHTLY}"),
           "2026-12-06T06:52:00Z [info     ] Marking run successful [airflow.models.dagrun.DagRun] loc=dagrun.py:2"]
    files = write_task_logs(out, tmp_path, dag_id="nightly")
    expected = [log_path(tmp_path, dag_id="nightly", run_id=RUN, task_id=t, attempt=a)
                for t, a in (("wait_for_ingest", 1), ("promote", 1), ("promote", 2))]
    assert files == expected
    assert str(expected[2].relative_to(tmp_path)) == f"dag_id=nightly/run_id={RUN}/task_id=promote/attempt=2.log"
    sensor = [json.loads(line) for line in expected[0].read_text().splitlines()]
    assert sum("starting task_id=wait_for_ingest" in r["event"] for r in sensor) == 2  # both pokes, one attempt
    first, second = ([json.loads(line) for line in p.read_text().splitlines()] for p in expected[1:])
    decision = next(r for r in first if r["event"].startswith("promotion decision"))
    assert decision == {"timestamp": "2026-12-06T06:51:01.450002Z", "level": "info",
                        "event": "promotion decision: PROMOTED m-1 | delta 0.01", "logger": "flywheel.pipeline.nightly"}
    assert {"timestamp": "2026-12-06T06:51:01.450002Z", "event": "printed by the task"} in first
    assert any("delta 0.02" in r["event"] for r in second) and not any("delta 0.01" in r["event"] for r in second)
    assert not any("Created dag run" in line or "Marking run" in line for p in expected for line in p.read_text())


def test_airflow_reads_the_files(tmp_path) -> None:
    """Airflow's own reader (what the API server serves the UI) parses every line, with its timestamp."""
    from airflow.utils.log.file_task_handler import _log_stream_to_parsed_log_stream

    (path,) = write_task_logs(_task("evaluate", "overall 0.7 on sp-1     [flywheel.registry] loc=s.py:1"), tmp_path,
                              dag_id="nightly")
    parsed = [msg for _, _, msg in _log_stream_to_parsed_log_stream(iter(path.read_text().splitlines()))]
    assert len(parsed) == 5 and all(m.timestamp is not None for m in parsed)
    assert parsed[2].event == "overall 0.7 on sp-1"
