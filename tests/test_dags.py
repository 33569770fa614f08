"""The Airflow DAGs: they parse with no errors, touch no database or broker at parse time, and follow the policy."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
GATES = {"validate_groundtruth", "validate_split", "groundtruth_from_asset"}
# A retried submission would collide with its own Job (same name); the Job's pod retries and resumes instead.
NO_RETRY = {"train_kubernetes"}
HEAVY = ("flywheel.db.engine", "flywheel.datasets", "flywheel.training", "flywheel.reports.ab", "kafka", "torch",
         "transformers", "great_expectations", "sqlalchemy.engine.create")

# Runs in a fresh interpreter so sys.modules and every socket connect() during parsing are ours to inspect.
PARSE = textwrap.dedent("""
    import json, socket, sys, time
    connects = []
    _orig = socket.socket.connect
    def _spy(self, addr):
        connects.append(repr(addr))
        return _orig(self, addr)
    socket.socket.connect = _spy
    t0 = time.monotonic()
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    dags = {}
    for d in bag.dags.values():
        dags[d.dag_id] = {
            "owner": d.owner, "tags": sorted(d.tags), "catchup": d.catchup, "doc_md": d.doc_md or "",
            "timetable": type(d.timetable).__name__, "summary": getattr(d.timetable, "expression", ""),
            "tz": str(d.start_date.tzinfo) if d.start_date else None, "params": sorted(d.params.keys()),
            "param_defaults": {k: d.params.get_param(k).value for k in d.params.keys()},
            "tasks": {t.task_id: {"retries": t.retries, "doc": bool(t.doc_md or t.doc), "pool": t.pool,
                                  "mode": getattr(t, "mode", None),
                                  "outlets": sorted(getattr(o, "uri", str(o)).rstrip("/") for o in t.outlets)}
                      for t in d.tasks},
            "schedule_assets": sorted(getattr(a, "uri", str(a)).rstrip("/") for a in getattr(
                getattr(d.timetable, "asset_condition", None), "objects", [])),
            "downstream": {t.task_id: sorted(t.downstream_task_ids) for t in d.tasks},
        }
    print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
                      "connects": connects, "seconds": time.monotonic() - t0,
                      "modules": sorted(m for m in sys.modules if m.startswith(("flywheel", "kafka", "torch",
                                        "transformers", "great_expectations")))}))
""")


def _accepted(sock: socket.socket) -> int:
    sock.setblocking(False)
    n = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    """Parse dags/ with the platform's database and broker pointed at listening sockets that only count
    connections (libpq connects from C, so a Python-level socket spy alone would miss it)."""
    home = tmp_path_factory.mktemp("airflow-home")
    traps = {}
    for name in ("db", "kafka"):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        traps[name] = s
    db_port, kafka_port = (traps[n].getsockname()[1] for n in ("db", "kafka"))
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "FLYWHEEL_DAG_RETRIES": "1",  # production retries (run_dag turns them off for one-off runs)
           "FLYWHEEL_DATABASE_URL": f"postgresql+psycopg2://nobody@127.0.0.1:{db_port}/nothing?connect_timeout=2",
           "FLYWHEEL_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}"}
    try:
        proc = subprocess.run([sys.executable, "-c", PARSE, str(DAGS)], env=env, capture_output=True, text=True,
                              timeout=180, cwd=REPO)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        out["accepted"] = {n: _accepted(s) for n, s in traps.items()}
    finally:
        for s in traps.values():
            s.close()
    return out


def test_dagbag_imports_without_errors(parsed):
    assert parsed["errors"] == {}
    assert {"flywheel_nightly", "flywheel_groundtruth", "flywheel_retrain", "ab_report"} <= set(parsed["dags"])


def test_no_db_kafka_or_heavy_imports_at_parse_time(parsed):
    assert parsed["accepted"] == {"db": 0, "kafka": 0}, "the database or broker was contacted while parsing"
    assert parsed["connects"] == [], f"sockets opened while parsing: {parsed['connects']}"
    heavy = [m for m in parsed["modules"] if m.startswith(HEAVY)]
    assert heavy == [], f"heavy modules imported at parse time: {heavy}"
    assert parsed["seconds"] < 30, f"parsing took {parsed['seconds']:.1f}s"


def test_dag_policy(parsed):
    for dag_id, d in parsed["dags"].items():
        assert d["owner"] and d["owner"] != "airflow", dag_id
        assert "flywheel" in d["tags"], dag_id
        assert d["catchup"] is False, dag_id
        assert len(d["doc_md"].strip()) > 80, f"{dag_id} needs a doc_md"
        assert d["tz"] in ("UTC", "Timezone('UTC')"), f"{dag_id} start_date must be timezone-aware UTC"
        for task_id, t in d["tasks"].items():
            if task_id in GATES or task_id in NO_RETRY:
                assert t["retries"] == 0, f"gate {dag_id}.{task_id} must not retry"
            else:
                assert t["retries"] >= 1, f"{dag_id}.{task_id} should retry transient failures"
            assert t["doc"], f"{dag_id}.{task_id} has no docstring"


def test_training_shares_one_pool(parsed):
    from flywheel.runtime.airflow import TRAINING_POOL

    for dag_id in ("flywheel_nightly", "flywheel_retrain"):
        tasks = parsed["dags"][dag_id]["tasks"]
        training = {"train_local", "train_kubernetes"}  # both launchers' training tasks, never at once
        assert all(tasks[t]["pool"] == TRAINING_POOL for t in training), dag_id
        assert all(t["pool"] != TRAINING_POOL for tid, t in tasks.items() if tid not in training), dag_id


def test_schedules_and_params(parsed):
    dags = parsed["dags"]
    for dag_id in ("flywheel_nightly", "ab_report"):
        assert dags[dag_id]["timetable"] == "CronTriggerTimetable", dag_id  # daily cron
        assert dags[dag_id]["summary"].endswith("* * *"), dags[dag_id]["summary"]
    assert dags["flywheel_groundtruth"]["timetable"] == "NullTimetable"  # manual
    assert dags["flywheel_retrain"]["timetable"] == "AssetTriggeredTimetable"
    assert {"test_size", "backend", "base_model", "launcher", "skip_augmentation", "seed"} <= set(
        dags["flywheel_nightly"]["params"])


def test_nightly_params_are_the_models(parsed):
    """The DAGs' Params are built from flywheel.pipeline.params.NightlyParams: the same names and defaults."""
    from flywheel.pipeline.params import NightlyParams

    defaults = NightlyParams().model_dump(mode="json")
    assert parsed["dags"]["flywheel_nightly"]["param_defaults"] == defaults
    assert parsed["dags"]["flywheel_retrain"]["param_defaults"] == {
        k: v for k, v in defaults.items() if k != "groundtruth_run_id"}
    assert parsed["dags"]["flywheel_groundtruth"]["param_defaults"] == {"groundtruth_run_id": None}


def test_nightly_chain_order(parsed):
    down = parsed["dags"]["flywheel_nightly"]["downstream"]
    chain = ["wait_for_ingest", "run_groundtruth", "validate_groundtruth", "make_split", "validate_split", "augment",
             "plan_training", "choose_launcher", "train_local", "trained_model", "evaluate", "promote", "reality_check"]
    for a, b in zip(chain, chain[1:], strict=False):
        assert b in down[a], f"{a} -> {b} missing: {down[a]}"
    assert {"train_local", "train_kubernetes"} <= set(down["choose_launcher"])
    assert "trained_model" in down["train_kubernetes"]


def test_the_wait_for_ingest_holds_no_worker_slot(parsed):
    """The wait for ingest is a reschedule-mode sensor (no worker slot between pokes) in both ground-truth DAGs."""
    for dag_id in ("flywheel_nightly", "flywheel_groundtruth"):
        tasks = parsed["dags"][dag_id]["tasks"]
        assert tasks["wait_for_ingest"]["mode"] == "reschedule", dag_id
        assert "run_groundtruth" in parsed["dags"][dag_id]["downstream"]["wait_for_ingest"], dag_id


def test_retrain_runs_only_for_new_ground_truth(parsed):
    """Only flywheel_groundtruth's publish task emits the asset flywheel_retrain is scheduled on: the nightly DAG
    (which trains on its own run) never starts a retrain run that would skip itself."""
    emitters = {(dag_id, task_id) for dag_id, d in parsed["dags"].items() for task_id, t in d["tasks"].items()
                if "flywheel://groundtruth" in t["outlets"]}
    assert emitters == {("flywheel_groundtruth", "publish_groundtruth")}
    assert parsed["dags"]["flywheel_retrain"]["schedule_assets"] == ["flywheel://groundtruth"]
    assert "flywheel://models/production" in parsed["dags"]["flywheel_nightly"]["tasks"]["promote"]["outlets"]
