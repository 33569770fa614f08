"""The package works without a checkout and without Airflow: its wheel, installed (not editable) into a fresh venv
outside the repo where Airflow cannot be imported, runs `flywheel db upgrade` and `flywheel ingest` against the test
Postgres and broker, serves the assistant, and runs `flywheel up` / `down`. Its metadata asks for Airflow only
through the `airflow` extra, and it carries none of the referee (`flywheel_lab`).

The fresh venv gets the wheel alone (--no-deps, offline); the dependencies come from this venv through a `.pth` file
holding the plain path of a folder of links to its site-packages' entries, so none of its own `.pth` files (the
editable installs of the checkout and the referee) are processed there.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from flywheel.db.migrate import alembic_config
from flywheel.events.publisher import EventPublisher
from flywheel.ingest.synthetic import synthetic_events
from flywheel.kafka_admin import ensure_topics
from flywheel.runtime.proc import free_port
from flywheel.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.services]

REPO = Path(__file__).resolve().parents[1]
# Distributions the fresh venv must not see: Airflow and its providers (the product's `airflow` extra), and this
# venv's editable installs of the checkout and the referee.
HIDDEN = ("apache-airflow", "flywheel")
TABLE_OF = {"project_started": "projects", "intent_submitted": "intents", "assistant_responded": "responses",
            "tool_exported": "tool_exports", "project_exported": "project_exports"}


def clean_env() -> dict[str, str]:
    """This process's environment without PYTHONPATH (it points at the checkout, whose egg-info would make pip
    think flywheel is installed) and without FLYWHEEL_* settings."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("FLYWHEEL_")}


@dataclass(frozen=True)
class Installed:
    venv: Path
    workdir: Path  # cwd of every command: a folder outside the repo
    wheel: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        base = clean_env()
        return {**base, "PATH": f"{self.venv / 'bin'}{os.pathsep}{base.get('PATH', '')}", **(env or {})}

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> str:
        """Run the installed `flywheel` with only the given FLYWHEEL_* settings; returns stdout, fails on rc != 0."""
        proc = subprocess.run([str(self.venv / "bin" / args[0]), *args[1:]], cwd=self.workdir, env=self.env(env),
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout


def _build_wheel(work: Path) -> Path:
    # Built from a copy of the sources: an in-tree build would leave a build/ folder whose stale files can ship.
    src = work / "src"
    shutil.copytree(REPO / "services", src / "services", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(work / "dist")], check=True, capture_output=True, timeout=300, env=clean_env())
    (wheel,) = (work / "dist").glob("flywheel-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel-install")
    wheel = _build_wheel(work)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120, env=clean_env())
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=300, env=clean_env())
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True, env=clean_env()).stdout.strip()
    deps = _deps_without_airflow(work / "deps")
    (Path(site) / "_flywheel_test_deps.pth").write_text(f"{deps}\n")
    cwd = work / "cwd"
    cwd.mkdir()
    return Installed(venv=venv, workdir=cwd, wheel=wheel)


def _deps_without_airflow(shadow: Path) -> Path:
    """A folder of symlinks to every entry of this venv's site-packages except the files of the HIDDEN distributions
    (Airflow, its providers, the editable flywheel and flywheel-lab).

    It stands in for a venv made from the wheel's own requirements, without the `airflow` extra: installing one
    (torch, transformers, MLflow, ...) needs the internet and minutes this test does not have. Leaving Airflow's
    files out, rather than blocking its import with a meta-path hook, makes it absent the way an uninstalled package
    is: `import airflow` fails, `importlib.util.find_spec("airflow")` is None and `importlib.metadata` does not list
    apache-airflow or its providers (checked in test_airflow_is_not_there). What Airflow alone pulled in stays; the
    product's not needing Airflow is what is proven, not the exact dependency closure of the wheel."""
    shadow.mkdir()
    for key in ("purelib", "platlib"):
        site = Path(sysconfig.get_paths()[key]).resolve()
        hidden: set[str] = set()
        for dist in importlib.metadata.distributions(path=[str(site)]):
            if str(dist.metadata["Name"]).lower().replace("_", "-").startswith(HIDDEN):
                hidden |= {f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")}
        for entry in site.iterdir():
            if entry.name not in hidden and not entry.name.endswith(".pth") and not (shadow / entry.name).exists():
                (shadow / entry.name).symlink_to(entry)
    return shadow


def test_the_wheel_is_what_runs_and_carries_its_data(installed: Installed) -> None:
    out = installed.run("python", "-c", "import json, flywheel, flywheel.db.migrate as m, flywheel.settings as s; "
                        "print(json.dumps([flywheel.__file__, str(s.get_settings().schemas_dir), str(m.MIGRATIONS_DIR),"
                        " str(s.CHECKOUT_DAGS_DIR)]))")
    module, schemas, migrations, dags = (Path(p) for p in json.loads(out))
    for path in (module, schemas, migrations):
        assert path.is_relative_to(installed.venv), path
        assert not path.is_relative_to(REPO), path
    assert (schemas / "tools" / "filters.json").is_file() and (schemas / "events" / "envelope.v1.json").is_file()
    assert (migrations / "alembic.ini").is_file() and any((migrations / "versions").glob("0001_*.py"))
    assert not dags.exists()  # Airflow needs FLYWHEEL_DAGS_FOLDER with a wheel install; up/db/ingest do not


def test_wheel_asks_for_airflow_only_as_an_extra_and_carries_no_referee(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        names = whl.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [line.split(":", 1)[1].strip() for line in whl.read(meta).decode().splitlines()
                    if line.startswith("Requires-Dist:")]
    airflow = [r for r in requires if r.lower().startswith("apache-airflow")]
    assert airflow, requires  # the extra exists (scheduler images install flywheel[airflow])
    assert all('extra == "airflow"' in r for r in airflow), airflow
    assert {r.split(";")[0].split(">")[0].split("<")[0].strip() for r in airflow} >= {
        "apache-airflow", "apache-airflow-providers-cncf-kubernetes"}
    assert not [n for n in names if n.startswith("flywheel_lab") or "/flywheel_lab/" in n]
    assert all(n.startswith(("flywheel/", "flywheel-")) for n in names), sorted({n.split("/")[0] for n in names})


def test_airflow_is_not_there(installed: Installed) -> None:
    probe = (
        "import importlib, importlib.metadata as md, importlib.util, json\n"
        "out = {'spec': importlib.util.find_spec('airflow') is None,"
        " 'lab': importlib.util.find_spec('flywheel_lab') is None, 'imports': [], 'dists': []}\n"
        "for m in ('airflow', 'airflow.sdk', 'airflow.providers.cncf.kubernetes.operators.job'):\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    out['imports'].append(m)\n"
        "out['dists'] = sorted(d.metadata['Name'] for d in md.distributions()"
        " if d.metadata['Name'].lower().startswith(('apache-airflow', 'apache_airflow', 'flywheel')))\n"
        "print(json.dumps(out))\n")
    out = json.loads(installed.run("python", "-c", probe).strip().splitlines()[-1])
    assert out == {"spec": True, "lab": True, "imports": [], "dists": ["flywheel"]}, out


@pytest.fixture()
def empty_database(stack: Settings) -> Iterator[str]:
    """A database that no migration has touched, on the session's Postgres; its SQLAlchemy URL."""
    name = f"wheel_{uuid.uuid4().hex[:8]}"
    server = sa.engine.make_url(stack.db_url())
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_installed_wheel_migrates_and_ingests(installed: Installed, stack: Settings, empty_database: str) -> None:
    tag = uuid.uuid4().hex[:8]
    env = {"FLYWHEEL_DATABASE_URL": empty_database, "FLYWHEEL_KAFKA_BOOTSTRAP": stack.bootstrap(),
           "FLYWHEEL_EVENTS_TOPIC": f"wheel.{tag}", "FLYWHEEL_DEAD_LETTER_TOPIC": f"wheel-dlq.{tag}",
           "FLYWHEEL_INGEST_GROUP": f"wheel.{tag}", "FLYWHEEL_STATE_DIR": str(installed.workdir / "state")}
    installed.run("flywheel", "db", "upgrade", env=env)
    (head,) = ScriptDirectory.from_config(alembic_config(empty_database)).get_heads()
    assert installed.run("flywheel", "db", "current", env=env).strip() == head

    ensure_topics(stack.bootstrap(), {env["FLYWHEEL_EVENTS_TOPIC"]: 2, env["FLYWHEEL_DEAD_LETTER_TOPIC"]: 1})
    events = list(synthetic_events(300, seed=11, producer="wheel-test"))
    with EventPublisher(stack.bootstrap(), env["FLYWHEEL_EVENTS_TOPIC"], client_id="wheel-test", linger_ms=5) as pub:
        for ev in events:
            pub.publish_raw(ev.key, ev.value)
    installed.run("flywheel", "ingest", "--max-events", str(len(events)), "--idle-exit-s", "30", env=env, timeout=300)

    eng = sa.create_engine(empty_database)
    try:
        with eng.connect() as conn:
            ids = [ev.event_id for ev in events]
            landed = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t} WHERE event_id::text = ANY(:ids)"),
                                      {"ids": ids}).scalar_one() for t in TABLE_OF.values()}
            failed = conn.execute(sa.text("SELECT count(*) FROM failed_events")).scalar_one()
    finally:
        eng.dispose()
    expected = {t: 0 for t in TABLE_OF.values()}
    for ev in events:
        expected[{"project_started": "projects", "intent_submitted": "intents", "assistant_responded": "responses",
                  "tool_exported": "tool_exports", "project_exported": "project_exports"}[ev.event_type]] += 1
    assert landed == expected and failed == 0


def test_installed_wheel_serves_the_assistant(installed: Installed, stack: Settings, empty_database: str) -> None:
    tag = uuid.uuid4().hex[:8]
    port = free_port()
    env = {"FLYWHEEL_DATABASE_URL": empty_database, "FLYWHEEL_KAFKA_BOOTSTRAP": stack.bootstrap(),
           "FLYWHEEL_EVENTS_TOPIC": f"wheel.{tag}", "FLYWHEEL_STATE_DIR": str(installed.workdir / "state"),
           # Nothing listens there, and nothing here asks the teacher: never the real OpenAI API.
           "FLYWHEEL_OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
           "FLYWHEEL_ARTIFACTS_DIR": str(installed.workdir / "artifacts")}
    installed.run("flywheel", "db", "upgrade", env=env)
    ensure_topics(stack.bootstrap(), {env["FLYWHEEL_EVENTS_TOPIC"]: 1})
    proc = subprocess.Popen([str(installed.venv / "bin" / "flywheel"), "assistant", "--port", str(port)],
                            cwd=installed.workdir, env=installed.env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    answers: dict[str, object] = {}
    try:
        deadline = time.monotonic() + 120
        while len(answers) < 2:
            assert proc.poll() is None, f"the assistant exited {proc.returncode}:\n{proc.stdout.read()}"
            assert time.monotonic() < deadline, "the assistant did not answer /healthz and /readyz in 120 s"
            for path in ("/healthz", "/readyz"):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                        answers[path] = (r.status, json.loads(r.read()))
                except OSError:
                    time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert answers == {"/healthz": (200, {"status": "ok"}), "/readyz": (200, {"status": "ready"})}


def test_installed_wheel_up_and_down(installed: Installed, tmp_path: Path) -> None:
    env = {"FLYWHEEL_STATE_DIR": str(tmp_path / "state"), "FLYWHEEL_PG_PORT": str(free_port()),
           "FLYWHEEL_KAFKA_PORT": str(free_port())}
    try:
        installed.run("flywheel", "up", env=env, timeout=240)
        st = json.loads(installed.run("flywheel", "status", "--json", env=env))
        assert st["postgres"]["running"] and st["kafka"]["running"], st
    finally:
        installed.run("flywheel", "down", env=env)
    st = json.loads(installed.run("flywheel", "status", "--json", env=env))
    assert not st["postgres"]["running"] and not st["kafka"]["running"], st
