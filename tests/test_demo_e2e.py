"""`flywheel demo` end to end at a small size: day 0 with the teacher, two nights of the real nightly DAG (the second
continuing the first night's student), two A/B days dated by the simulated clock, and the per-day report beside the
simulator's truth. Its own embedded services on free ports; nothing is left running."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import create_engine, text

from flywheel.registry.store import resolve_model_dir
from flywheel.runtime.proc import free_port
from flywheel.settings import get_settings
from flywheel_lab.demo import DemoOptions, run_demo

pytestmark = pytest.mark.slow


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_two_days_of_the_flywheel(tmp_path: Path) -> None:
    s = get_settings(state_dir=tmp_path / "state", artifacts_dir=tmp_path / "art", pg_port=free_port(),
                     kafka_port=free_port(), teacher_port=free_port(), assistant_port=free_port(), database_url=None,
                     kafka_bootstrap=None, mlflow_enabled=False)
    opts = DemoOptions(intents=300, days=2, seed=3, test_size=40, ab_fraction=0.5, keep=True)
    out = Console(record=True, width=160)
    try:
        result = run_demo(s, opts, out)
        assert [d.day for d in result.days] == [1, 2] and all(d.model_id for d in result.days)
        assert all(d.true_ratio is not None and d.rq1_overall is not None for d in result.days)
        # Each serving student was scored on every look of the world, in canonical and in held-out words.
        for d in result.days:
            w = d.wordings
            assert 0 < w["heldout"] < w["canonical"] <= 1 and w["n_seen"] + w["n_unseen"] > 100, w
        assert result.days[0].wordings["n_seen"] == 0  # night 1 trained on day 0 alone: no held-out word yet
        # The second night continued the first night's student (warm start), and that student served day 2.
        first, second = result.days[0].model_id, result.days[1].model_id
        if second != first:  # a refused promotion keeps yesterday's student serving: then there is no child to check
            lineage = json.loads((Path(resolve_model_dir(second, s)) / "lineage.json").read_text())
            assert lineage["init_from"] == "production" and lineage["parent_model_id"] == first
            assert lineage["backend"] == "encoder"  # the nightly default student
        # One report point per day per arm, on the simulated dates.
        ratios = {r.day: r for r in result.report.daily_ratios}
        assert sorted(str(d) for d in ratios) == [d.date for d in result.days]
        assert set(result.coverage()) == {1, 2}
        eng = create_engine(s.db_url())
        try:
            with eng.connect() as c:
                days = c.execute(text("SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date::text FROM responses "
                                      "WHERE arm = 'student' ORDER BY 1")).scalars().all()
                salt = c.execute(text("SELECT salt FROM experiments")).scalar_one()
        finally:
            eng.dispose()
        assert days == [d.date for d in result.days]
        assert salt == "demo-3"  # reruns assign every user to the same arm
        assert result.plot_path and Path(result.plot_path).is_file()
        assert "ratio" in out.export_text()
    finally:
        from flywheel.runtime.stack import down

        down(s)
    assert not _port_open(s.pg_port) and not _port_open(s.kafka_port)
