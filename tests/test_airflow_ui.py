"""`flywheel airflow`: airflow standalone on loopback with our DAGs, a printed login, and a clean stop by PID."""

from __future__ import annotations

import json
import stat
import time
import urllib.request

import pytest

from flywheel.runtime.proc import free_port, pid_alive


def _public_listeners(pids: list[int]) -> list[str]:
    import psutil

    out = []
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.Error:
            continue
        out += [f"{pid} {c.laddr}" for c in conns
                if c.status == psutil.CONN_LISTEN and c.laddr.ip not in ("127.0.0.1", "::1")]
    return out


@pytest.mark.slow
def test_standalone_serves_dags_and_stops_every_component(settings, tmp_path):
    from flywheel.runtime.airflow import TRAINING_POOL, Standalone, read_login

    sa = Standalone(settings, port=free_port(), home=tmp_path / "airflow")
    pid = sa.start()
    try:
        assert sa.wait_ready(timeout=420), sa.log_file.read_text()[-3000:]
        user, password = read_login(sa.home)
        assert user == "admin" and len(password) >= 8
        components = sa.components()
        assert len(components) >= 5, components  # standalone + scheduler, dag-processor, api-server, triggerer
        # Log in the way the UI does and list the DAGs through the REST API.
        req = urllib.request.Request(f"{sa.url}/auth/token", method="POST",
                                     data=json.dumps({"username": user, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(req, timeout=30))["access_token"]
        dag_ids: set[str] = set()
        for _ in range(60):  # the dag-processor parses the folder shortly after start
            req = urllib.request.Request(f"{sa.url}/api/v2/dags", headers={"Authorization": f"Bearer {token}"})
            dag_ids = {d["dag_id"] for d in json.load(urllib.request.urlopen(req, timeout=30))["dags"]}
            if {"flywheel_nightly", "ab_report"} <= dag_ids:
                break
            time.sleep(2)
        assert {"flywheel_nightly", "flywheel_groundtruth", "flywheel_retrain", "ab_report"} <= dag_ids
        req = urllib.request.Request(f"{sa.url}/api/v2/pools/{TRAINING_POOL}",
                                     headers={"Authorization": f"Bearer {token}"})
        assert json.load(urllib.request.urlopen(req, timeout=30))["slots"] == 1
        assert _public_listeners(sa.components()) == []  # no log server (or anything else) beyond loopback
        assert stat.S_IMODE(sa.log_file.stat().st_mode) == 0o600  # standalone prints the admin password there
    finally:
        lines = sa.stop()
    print(lines)
    assert not pid_alive(pid)
    assert [p for p in components if pid_alive(p)] == []
    assert not sa.pid_file.exists()
