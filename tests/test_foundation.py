"""The embedded stack's lifecycle, settings and the schema machinery."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import inspect, text

from flywheel.runtime.proc import free_port, pid_alive, port_open, write_pid
from flywheel.runtime.stack import down, embedded_broker, embedded_postgres, status, up
from flywheel.settings import Settings, SettingsPathError, get_settings

pytestmark = pytest.mark.services


def test_settings_come_from_env_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_KAFKA_PORT", "12345")
    monkeypatch.setenv("FLYWHEEL_DATABASE_URL", "postgresql+psycopg2://u@db:5432/x")
    s = get_settings()
    assert s.kafka_port == 12345 and s.bootstrap() == "127.0.0.1:12345"
    assert s.db_url() == "postgresql+psycopg2://u@db:5432/x" and not s.embedded_database


def test_settings_reject_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_KAFKA_PORT", "not-a-port")
    with pytest.raises(ValueError, match="kafka_port"):
        get_settings()


def test_the_default_teacher_is_the_openai_api_and_tests_use_the_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import urlparse

    # tests/conftest.py points every test (and its child processes) at a loopback stand-in, never the real API.
    tested = get_settings()
    assert urlparse(tested.openai_base_url).hostname == "127.0.0.1" and not tested.openai_api_key
    assert tested.openai_base_url == f"http://127.0.0.1:{tested.teacher_port}/v1"
    monkeypatch.delenv("FLYWHEEL_OPENAI_BASE_URL")
    assert Settings(_env_file=None).openai_base_url == "https://api.openai.com/v1"  # the product's default


def test_dag_folder_defaults_to_the_checkout_and_says_when_missing(tmp_path: Path) -> None:
    repo_dags = Path(__file__).resolve().parents[1] / "dags"
    assert get_settings(dags_folder=None).dags_path() == repo_dags.resolve()
    assert get_settings(dags_folder=tmp_path).dags_path() == tmp_path.resolve()
    with pytest.raises(SettingsPathError, match="FLYWHEEL_DAGS_FOLDER"):
        get_settings(dags_folder=tmp_path / "missing").dags_path()


@pytest.fixture()
def private_stack(tmp_path: Path):
    # Memory settings other than the defaults, so that the test sees them reach the server.
    s = get_settings(state_dir=tmp_path / "state", pg_port=free_port(), kafka_port=free_port(),
                     database_url=None, kafka_bootstrap=None, pg_shared_buffers="192MB", pg_wal_buffers="24MB")
    yield s
    down(s)


def test_up_twice_down_leaves_no_process(private_stack: Settings) -> None:
    s = private_stack
    first = up(s)
    assert any("started" in line for line in first.lines)
    pg_pid, br_pid = embedded_postgres(s).pid(), embedded_broker(s).pid()
    assert pg_pid and br_pid and pid_alive(pg_pid) and pid_alive(br_pid)
    second = up(s)
    assert any("already running" in line for line in second.lines)
    assert embedded_postgres(s).pid() == pg_pid and embedded_broker(s).pid() == br_pid
    st = status(s)
    assert st["postgres"]["running"] and st["kafka"]["running"]  # type: ignore[index]
    _assert_password_protected(s, st)
    assert s.events_topic in st["topics"] and s.dead_letter_topic in st["topics"]  # type: ignore[operator]
    down(s)
    assert not pid_alive(pg_pid) and not pid_alive(br_pid)
    assert not port_open("127.0.0.1", s.pg_port) and not port_open("127.0.0.1", s.kafka_port)
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(s.state_dir) not in ps


def _assert_password_protected(s: Settings, st: dict) -> None:
    """Generated password, 0600, SCRAM for every connection; status and the URL it prints never show it."""
    import psycopg2

    pw_file = embedded_postgres(s).password_file
    password = pw_file.read_text().strip()
    assert len(password) >= 24 and stat.S_IMODE(pw_file.stat().st_mode) == 0o600
    assert password in s.db_url() and password not in json.dumps(st, default=str)
    assert "***" in st["database_url"]
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(host="127.0.0.1", port=s.pg_port, user=s.pg_user, dbname="postgres").close()
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(host="127.0.0.1", port=s.pg_port, user=s.pg_user, password="wrong",
                         dbname="postgres").close()
    conn = psycopg2.connect(host="127.0.0.1", port=s.pg_port, user=s.pg_user, password=password, dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s", (s.pg_user,))
            assert cur.fetchone() == (True,)
            cur.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE auth_method IS NOT NULL")
            assert {r[0] for r in cur.fetchall()} == {"scram-sha-256"}
            cur.execute("SELECT current_setting('shared_buffers'), current_setting('wal_buffers')")
            assert cur.fetchone() == (s.pg_shared_buffers, s.pg_wal_buffers)
    finally:
        conn.close()


def test_stale_pid_file_after_crash_is_handled(private_stack: Settings) -> None:
    s = private_stack
    up(s)
    br = embedded_broker(s)
    old = br.pid()
    assert old
    os.kill(old, 9)  # a crash: the PID file stays behind, naming a dead process
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_pid(br.pidfile, dead.pid)  # even a recycled-looking stale PID must not be trusted
    lines = up(s).lines
    assert any("tansu started" in line for line in lines), lines
    assert br.pid() not in (None, old, dead.pid)


def test_migrations_create_and_drop_cleanly(settings: Settings, engine) -> None:
    from flywheel.db.migrate import current, downgrade, upgrade

    assert "pipeline_runs" in inspect(engine).get_table_names()
    assert current(settings) is not None
    downgrade(settings, "base")
    assert inspect(engine).get_table_names() == ["alembic_version"]
    upgrade(settings)
    with engine.connect() as c:
        assert c.execute(text("select count(*) from pipeline_runs")).scalar() == 0


def test_compose_file_is_valid_and_uses_settings_names() -> None:
    compose = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("kafka", "postgres", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                 "airflow-triggerer", "ingest", "assistant"):
        assert name in services, name
    fields = set(Settings.model_fields)
    seen = set()
    for svc in services.values():
        env = svc.get("environment", {})
        keys = env.keys() if isinstance(env, dict) else [e.split("=")[0] for e in env]
        for key in keys:
            if key.startswith("FLYWHEEL_"):
                assert key.removeprefix("FLYWHEEL_").lower() in fields, key
                seen.add(key)
    assert {"FLYWHEEL_DATABASE_URL", "FLYWHEEL_KAFKA_BOOTSTRAP"} <= seen


def _dockerfile_stages(text: str) -> dict[str, str]:
    """Stage name -> its instructions (comments dropped, continuation lines joined)."""
    import re

    stages: dict[str, str] = {}
    name = ""
    for line in text.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if m:
            name = m.group(1)
        stages[name] = stages.get(name, "") + line + "\n"
    return stages


def test_images_carry_airflow_only_where_airflow_runs() -> None:
    import importlib.util

    repo = Path(__file__).resolve().parents[1]
    stages = _dockerfile_stages((repo / "Dockerfile").read_text())
    assert list(stages)[-1] == "platform"  # the default target
    for name in ("platform", "train-airflow"):  # the Airflow services; the GPU Airflow worker
        assert "[airflow]" in stages[name], name
    for name in ("service", "train"):  # ingest and the assistant; the Kubernetes training Job
        assert "[airflow]" not in stages[name] and "apache-airflow" not in stages[name], name
    assert "flywheel_lab" not in "".join(stages.values()) and "COPY lab" not in "".join(stages.values())
    assert "bench" not in stages["train"]  # benches are the referee's, not in the image
    assert 'CMD ["python", "-m", "flywheel.training"' in stages["train"]
    assert importlib.util.find_spec("flywheel.training.__main__") is not None

    services = yaml.safe_load((repo / "docker-compose.yml").read_text())["services"]
    for name in ("ingest", "assistant"):
        assert services[name]["build"]["target"] == "service", name
    for name in ("migrate", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert services[name]["build"]["target"] == "platform", name
    gpu = yaml.safe_load((repo / "docker-compose.gpu.yml").read_text())["services"]
    assert gpu["airflow-scheduler"]["build"]["target"] == "train-airflow"
    assert {svc["build"]["target"] for svc in [*services.values(), *gpu.values()] if "build" in svc} <= set(stages)


def test_compose_is_closed_and_takes_its_secrets_from_make_env(tmp_path: Path) -> None:
    import re

    repo = Path(__file__).resolve().parents[1]
    raw = (repo / "docker-compose.yml").read_text()
    assert "change-me" not in raw
    services = yaml.safe_load(raw)["services"]
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"assistant", "airflow-apiserver"}, published
    for name in published:
        assert all(str(p).startswith("${PUBLISH_HOST:-127.0.0.1}:") for p in services[name]["ports"]), name
    pg = services["postgres"]["environment"]
    assert pg["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256" and "--auth-local=scram-sha-256" in pg[
        "POSTGRES_INITDB_ARGS"]
    required = set(re.findall(r"\$\{([A-Z_]+):\?", raw))
    assert {"PG_FLYWHEEL_PASSWORD", "PG_AIRFLOW_PASSWORD", "AIRFLOW_JWT_SECRET"} <= required
    assert not re.search(r"(PASSWORD|SECRET)[A-Z_]*:-", raw), "a secret with a default value"
    env_file = tmp_path / "compose.env"
    for _ in range(2):  # the second run keeps the first file's secrets
        subprocess.run(["make", "-s", "env", f"ENV_FILE={env_file}", f"PY={sys.executable}"], cwd=repo, check=True,
                       capture_output=True)
        if _ == 0:
            first = env_file.read_text()
    assert env_file.read_text() == first and stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in first.splitlines() if line and not line.startswith("#"))
    assert required <= set(values) and all(len(values[k]) >= 32 for k in required)
    assert not any(k.startswith("FLYWHEEL_") for k in values)  # flywheel itself also reads .env
