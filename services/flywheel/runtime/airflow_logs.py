"""Task logs of `airflow dags test` runs, written where the Airflow UI reads them.

`airflow dags test` (the demo's and the tests' DAG runs, :func:`flywheel.runtime.airflow.run_dag`) runs every task
inside its own process and logs to stdout only. The API server reads a finished task's log from
``{base_log_folder}/dag_id=…/run_id=…/task_id=…/attempt=N.log``; without that file it asks the worker's log server,
which a `dags test` run never had ("Could not read served logs"). :func:`write_task_logs` cuts the captured output at
the markers `dags test` prints around each task ("[DAG TEST] starting task_id=X map_index=M" … "[DAG TEST] end task
task_id=X map_index=M") and writes each part to that file, as JSON lines (timestamp, level, event, logger) like a
worker's, so the run is inspectable in the UI afterwards with the same AIRFLOW_HOME (`flywheel airflow`).

The path follows Airflow's default ``log_filename_template``. Attempts count as `dags test` counts tries: a task
started again after a reschedule (a sensor's poke) stays in the same attempt, any other new start is the next one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_START = re.compile(r"\[DAG TEST\] starting task_id=(?P<task>\S+) map_index=(?P<map>-?\d+)")
_END = re.compile(r"\[DAG TEST\] end task task_id=(?P<task>\S+) map_index=(?P<map>-?\d+)")
_RUN = re.compile(r"\[DAG TEST\] running task <TaskInstance: (?P<dag>[^ .]+)\.(?P<task>\S+) (?P<run>\S+) \[")
# structlog's console lines: "2026-12-06T06:46:47.549754Z [info     ] hello from a: 42  [flywheel.x] loc=tiny.py:9"
# (the event is padded; the logger is the last bracketed name followed only by key=value pairs, and may be missing)
_HEAD = r"^(?P<ts>\d{4}-\d\d-\d\dT[\d:.]+Z?) \[(?P<level>\w+)\s*\] "
_LINES = (re.compile(_HEAD + r"(?P<event>.*)\s+\[(?P<logger>[\w.]+)\](?P<extra>(?:\s+\w+=.*)?)$"),
          re.compile(_HEAD + r"(?P<event>.*)(?P<logger>)(?P<extra>)$"))
_LOC = re.compile(r"\s*\bloc=\S+")
_RESCHEDULED = ("UP_FOR_RESCHEDULE", "new_state=up_for_reschedule")


@dataclass
class _Part:
    task_id: str
    map_index: int
    run_id: str | None = None
    lines: list[str] = field(default_factory=list)


def _parts(lines: Iterable[str]) -> list[_Part]:
    parts: list[_Part] = []
    current: _Part | None = None
    for raw in lines:
        line = raw.rstrip("\n")
        if current is None:
            if m := _START.search(line):
                current = _Part(m["task"], int(m["map"]))
                current.lines.append(line)
            continue
        current.lines.append(line)
        if current.run_id is None and (r := _RUN.search(line)) and r["task"] == current.task_id:
            current.run_id = r["run"]
        if (e := _END.search(line)) and e["task"] == current.task_id:
            parts.append(current)
            current = None
    if current is not None:  # the run was cut short (a timeout): what there is still belongs to the task
        parts.append(current)
    return parts


def _json_line(line: str, last_ts: str | None) -> tuple[str, str | None]:
    m = _LINES[0].match(line) or _LINES[1].match(line)
    if m is None:  # a print, a traceback line: kept as it is, placed at the time of the line before it
        return json.dumps({"timestamp": last_ts, "event": line} if last_ts else {"event": line}), last_ts
    rec = {"timestamp": m["ts"], "level": m["level"], "event": m["event"].rstrip()}
    if m["logger"]:
        rec["logger"] = m["logger"]
    extra = _LOC.sub("", m["extra"] or "").strip()  # where in Airflow's code it logged: noise in a task log
    if extra:
        rec["event"] += "  " + extra
    return json.dumps(rec), m["ts"]


def log_path(base: Path, *, dag_id: str, run_id: str, task_id: str, attempt: int, map_index: int = -1) -> Path:
    """Where Airflow's default log_filename_template puts one try of a task."""
    mapped = f"map_index={map_index}/" if map_index >= 0 else ""
    return base / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}" / f"{mapped}attempt={attempt}.log"


def write_task_logs(output: Iterable[str], base_log_folder: Path, *, dag_id: str, run_id: str | None = None
                    ) -> list[Path]:
    """Write each task's part of a `dags test` output to its log file under ``base_log_folder``; returns the files.
    ``run_id``: the DAG run's id when the output does not name it."""
    tries: dict[tuple[str, int], int] = {}
    rescheduled: set[tuple[str, int]] = set()
    written: dict[Path, list[str]] = {}
    for part in _parts(output):
        key = (part.task_id, part.map_index)
        if key not in rescheduled:
            tries[key] = tries.get(key, 0) + 1
        rescheduled.discard(key)
        if any(marker in line for line in part.lines for marker in _RESCHEDULED):
            rescheduled.add(key)
        run = part.run_id or run_id
        if run is None:
            continue
        path = log_path(base_log_folder, dag_id=dag_id, run_id=run, task_id=part.task_id, attempt=tries[key],
                        map_index=part.map_index)
        out, last_ts = written.setdefault(path, []), None
        for line in part.lines:
            rec, last_ts = _json_line(line, last_ts)
            out.append(rec)
    for path, records in written.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(records) + "\n")
    return list(written)
