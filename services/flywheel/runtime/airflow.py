"""Airflow around the platform: `airflow standalone` on loopback (the UI) and one-off DAG runs (`airflow dags test`).

Airflow keeps its own metadata database (SQLite) under `{state_dir}/airflow`; the DAGs come from
`settings.dags_path()` (the checkout's `dags/` unless FLYWHEEL_DAGS_FOLDER says otherwise). Library code never
imports Airflow: everything here drives the `airflow` executable of this venv.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel.runtime.airflow_logs import write_task_logs
from flywheel.runtime.proc import free_port, pid_alive, port_open, read_pid, stop_pid, write_pid
from flywheel.settings import Settings

PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"
DEFAULT_PORT = 8080
# One training at a time across the nightly and retrain DAGs (their `train` tasks use this pool; dags/README.md).
TRAINING_POOL = "flywheel_training"
TRAINING_POOL_SLOTS = 1
# `airflow standalone` starts `airflow scheduler` and `airflow triggerer` by name from PATH; each would start a log
# server bound to every interface (its host is not configurable). With the local executor the API server reads task
# logs from the files, so this shim, first on the standalone's PATH, starts both without a log server.
_NO_LOG_SERVER_SHIM = """#!/bin/sh
case "$1" in
  scheduler|triggerer) exec "{airflow}" "$@" --skip-serve-logs ;;
esac
exec "{airflow}" "$@"
"""


class AirflowError(RuntimeError):
    pass


def airflow_home(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "airflow"


def airflow_bin() -> Path:
    return Path(sys.executable).parent / "airflow"


def airflow_env(settings: Settings, port: int = DEFAULT_PORT, home: Path | None = None,
                extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for every Airflow process: loopback API, the configured DAG folder, no examples, and absolute
    flywheel paths (tasks run in other working directories)."""
    home = home or airflow_home(settings)
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PATH": f"{airflow_bin().parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_path()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        # Free ports keep two instances from colliding where a log server still starts (see _NO_LOG_SERVER_SHIM).
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
    }
    # Tasks must see the caller's settings, including overrides that never were environment variables.
    for name, value in settings.model_dump().items():
        if isinstance(value, str | int | float | bool | Path):
            env[f"FLYWHEEL_{name.upper()}"] = str(value)
    env["FLYWHEEL_STATE_DIR"] = str(settings.state_dir.resolve())
    env["FLYWHEEL_ARTIFACTS_DIR"] = str(Path(settings.artifacts_dir).resolve())
    env["FLYWHEEL_DATABASE_URL"] = settings.db_url()
    env["FLYWHEEL_KAFKA_BOOTSTRAP"] = settings.bootstrap()
    env.update(extra or {})
    return env


def ensure_training_pool(env: dict[str, str]) -> None:
    """Create (or resize) the training pool in Airflow's metadata DB; needs `airflow db migrate` first."""
    subprocess.run([str(airflow_bin()), "pools", "set", TRAINING_POOL, str(TRAINING_POOL_SLOTS),
                    "one student training at a time (flywheel_nightly and flywheel_retrain share it)"],
                   env=env, check=True, capture_output=True, timeout=300)


def _no_log_server_path(home: Path, env: dict[str, str]) -> str:
    shim_dir = home / "bin"
    shim_dir.mkdir(parents=True, exist_ok=True)
    shim = shim_dir / "airflow"
    shim.write_text(_NO_LOG_SERVER_SHIM.format(airflow=airflow_bin()))
    shim.chmod(0o755)
    return f"{shim_dir}{os.pathsep}{env.get('PATH', '')}"


def read_login(home: Path) -> tuple[str, str] | None:
    """(user, password) from the simple auth manager's generated password file, once it exists."""
    try:
        users = json.loads((home / PASSWORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not users:
        return None
    user = "admin" if "admin" in users else next(iter(users))
    return user, users[user]


def all_admins(env: dict[str, str] | None = None) -> bool:
    """Simple auth manager without login (every visitor is admin): no password file is generated then."""
    source = os.environ if env is None else env
    return source.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").lower() in ("true", "1")


def _pgroup_pids(pgid: int) -> list[int]:
    """PIDs in one process group (our standalone's own session): survives re-parenting to init."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 3 and int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return sorted(pids)


@dataclass
class Standalone:
    """`airflow standalone` in its own session; stop() ends every component by PID."""

    settings: Settings
    port: int = DEFAULT_PORT
    home: Path = field(default=None)  # type: ignore[assignment]
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.home = self.home or airflow_home(self.settings)

    @property
    def pid_file(self) -> Path:
        return self.home / "standalone.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "standalone.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running_pid(self) -> int | None:
        return read_pid(self.pid_file)

    def start(self) -> int:
        if (pid := self.running_pid()) is not None:
            raise AirflowError(f"airflow standalone already running (pid {pid}); `flywheel airflow --stop` stops it")
        if port_open("127.0.0.1", self.port):
            raise AirflowError(f"port {self.port} is taken; choose another with --port")
        self.home.mkdir(parents=True, exist_ok=True)
        env = airflow_env(self.settings, self.port, self.home, self.extra_env)
        env["PATH"] = _no_log_server_path(self.home, env)
        subprocess.run([str(airflow_bin()), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
        ensure_training_pool(env)
        # Standalone prints the generated admin password into its log: readable by this user only.
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(self.log_file, 0o600)
        log = os.fdopen(fd, "ab")
        self.proc = subprocess.Popen([str(airflow_bin()), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home)
        log.close()
        write_pid(self.pid_file, self.proc.pid)
        return self.proc.pid

    def wait_ready(self, timeout: float = 240.0, progress: Callable[[str], None] | None = None) -> bool:
        """Until the API answers and the login file exists (first start migrates the metadata DB: ~1 min)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.running_pid()
            if pid is None:
                raise AirflowError(f"airflow standalone exited during start-up; see {self.log_file}")
            login_ready = read_login(self.home) is not None or all_admins({**os.environ, **self.extra_env})
            if login_ready and port_open("127.0.0.1", self.port):
                return True
            time.sleep(1.0)
        if progress:
            progress(f"not ready after {timeout:.0f}s; see {self.log_file}")
        return False

    def components(self) -> list[int]:
        pid = self.running_pid() or (self.proc.pid if self.proc else None)
        return _pgroup_pids(pid) if pid else []

    def stop(self, timeout: float = 45.0) -> list[str]:
        """SIGINT to standalone (its own clean shutdown of scheduler, dag-processor, api-server, triggerer), then
        every process left in its session is stopped by PID (SIGTERM, then SIGKILL)."""
        lines: list[str] = []
        pid = self.running_pid() or (self.proc.pid if self.proc and pid_alive(self.proc.pid) else None)
        if pid is None:
            return ["airflow: was not running"]
        pids = _pgroup_pids(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            if self.proc is not None:
                self.proc.poll()
            time.sleep(0.2)
        leftovers = [p for p in sorted(set(pids) | set(_pgroup_pids(pid))) if pid_alive(p)]
        # All at once: one by one, components that ignore SIGTERM cost 10 s each (a UI test's teardown took 99 s).
        for p in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM)
        grace = time.monotonic() + 10.0
        while time.monotonic() < grace and any(pid_alive(p) for p in leftovers):
            time.sleep(0.1)
        for p in leftovers:
            stop_pid(p, timeout=0.5, sig=signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        alive = [p for p in leftovers if pid_alive(p)]
        lines.append(f"airflow: stopped standalone (pid {pid}) and {len(pids) - 1} component process(es)"
                     + (f"; {len(leftovers)} needed a signal by PID" if leftovers else ""))
        if alive:
            lines.append(f"airflow: still alive: {alive}")
        self.pid_file.unlink(missing_ok=True)
        return lines


def serve(settings: Settings, port: int = DEFAULT_PORT, echo: Callable[[str], None] = print,
          extra_env: dict[str, str] | None = None) -> None:
    """Run the UI until Ctrl-C / SIGTERM, print the login, then stop every component."""
    sa = Standalone(settings, port=port, extra_env=extra_env or {})
    stopping = {"flag": False}

    def _handler(signum: int, frame: Any) -> None:
        stopping["flag"] = True

    old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        pid = sa.start()
        echo(f"airflow standalone starting (pid {pid}); AIRFLOW_HOME={sa.home}; log: {sa.log_file}")
        ready = False
        while not stopping["flag"]:
            if not ready and sa.wait_ready(timeout=2.0):
                ready = True
                login = read_login(sa.home)
                if login:  # the password stays in its 0600 file: this output may land in shared logs
                    with contextlib.suppress(OSError):
                        os.chmod(sa.home / PASSWORD_FILE, 0o600)
                    echo(f"Airflow UI: {sa.url}   login: {login[0]}, password in {sa.home / PASSWORD_FILE}")
                else:
                    echo(f"Airflow UI: {sa.url}   (no login: SIMPLE_AUTH_MANAGER_ALL_ADMINS is on)")
                echo("DAGs: flywheel_nightly, flywheel_groundtruth, flywheel_retrain, ab_report. Ctrl-C stops it.")
            if sa.running_pid() is None:
                echo(f"airflow standalone exited; see {sa.log_file}")
                break
            time.sleep(0.5)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for line in sa.stop():
            echo(line)


def stop(settings: Settings) -> list[str]:
    """Stop a standalone started by another `flywheel airflow` (by its PID file)."""
    return Standalone(settings).stop()


@dataclass
class DagRunResult:
    dag_id: str
    returncode: int
    seconds: float
    log_path: Path
    task_states: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None  # Airflow's id of this DAG run (its tasks record it with their pipeline runs)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and all(s in ("success", "skipped") for s in self.task_states.values())


_MIGRATED: set[Path] = set()  # Airflow homes whose metadata DB this process has migrated


def run_dag(settings: Settings, dag_id: str, conf: dict[str, Any] | None = None, *, home: Path | None = None,
            timeout: float = 3600.0, echo: Callable[[str], None] | None = None, retries: bool = False
            ) -> DagRunResult:
    """One DAG run in-process of `airflow dags test` (no scheduler/UI needed); task logs stream to `echo`.
    The run's id and task states are read back from Airflow's metadata DB. Without `retries` the DAGs are parsed
    with retries off, so a failing task ends the run at once (`dags test` would otherwise sit out every retry
    delay). Each task's log is also written where the UI reads it
    (flywheel.runtime.airflow_logs), so the run can be inspected later in `flywheel airflow` on the same home."""
    home = home or airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(settings, home=home, extra={"FLYWHEEL_DAG_RETRIES": "1" if retries else "0"})
    log_path = home / f"dags-test-{dag_id}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    if home.resolve() not in _MIGRATED:
        # Several runs in one process (the multi-day demo) migrate Airflow's metadata DB once, not every night.
        subprocess.run([str(airflow_bin()), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
        _MIGRATED.add(home.resolve())
        ensure_training_pool(env)
    cmd = [str(airflow_bin()), "dags", "test", dag_id]
    if conf:
        cmd += ["-c", json.dumps(conf)]
    t0 = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=home)
        # The output loop below blocks on the pipe, so the deadline is enforced from a timer.
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if echo:
                echo(line.rstrip())
        rc = proc.wait()
        timer.cancel()
    run_id = _latest_run_id(env, dag_id)
    states = _task_states(env, dag_id, run_id) if run_id else {}
    # `dags test` logs to stdout only: each task's part goes where the UI reads it (`flywheel airflow`, same home).
    base_logs = Path(env.get("AIRFLOW__LOGGING__BASE_LOG_FOLDER") or home / "logs")
    with log_path.open() as captured:
        write_task_logs(captured, base_logs, dag_id=dag_id, run_id=run_id)
    return DagRunResult(dag_id, rc, time.monotonic() - t0, log_path, states, run_id)


def _json_tail(stdout: str) -> Any:
    """The JSON document in a CLI's stdout (Airflow logs warnings to stdout too when it is not a terminal)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(("[", "{")):
            with contextlib.suppress(ValueError):
                return json.loads(line)
    return None


def _latest_run_id(env: dict[str, str], dag_id: str) -> str | None:
    """The id of the latest run of `dag_id` (`airflow dags test` cannot be given one): the run just made, as one-off
    runs of a DAG do not overlap in one AIRFLOW_HOME."""
    runs = subprocess.run([str(airflow_bin()), "dags", "list-runs", dag_id, "-o", "json"], env=env,
                          capture_output=True, text=True, timeout=120)
    try:
        return str(max(_json_tail(runs.stdout), key=lambda r: r.get("run_after") or "")["run_id"])
    except (TypeError, ValueError, KeyError):
        return None


def _task_states(env: dict[str, str], dag_id: str, run_id: str) -> dict[str, str]:
    """Task states of one run of `dag_id`, via `airflow tasks states-for-dag-run` (JSON)."""
    out = subprocess.run([str(airflow_bin()), "tasks", "states-for-dag-run", dag_id, run_id, "-o", "json"],
                         env=env, capture_output=True, text=True, timeout=120)
    try:
        return {r["task_id"]: r["state"] for r in _json_tail(out.stdout)}
    except (TypeError, KeyError):
        return {}
