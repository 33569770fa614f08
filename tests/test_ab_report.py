"""ab_report against a real database: hand-counted projects per arm, stored rows, files and the plot."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from flywheel.reports.ab import ABReportError, ab_report
from flywheel.reports.ab_stats import rate_ratio, wilson_interval

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)  # before the experiment
DAY1 = datetime(2026, 11, 2, tzinfo=UTC)
DAY2 = datetime(2026, 11, 3, tzinfo=UTC)


def _ev(ts: datetime) -> dict:
    return {"event_id": str(uuid.uuid4()), "schema_version": 1, "occurred_at": ts, "producer": "test"}


def _project(conn, pid: str, user: str, ts: datetime, arms: list[str], exported: bool, started_row: bool = True):
    if started_row:
        conn.execute(text(
            "INSERT INTO projects (event_id, schema_version, occurred_at, producer, project_id, user_id, platform, "
            "app_version) VALUES (:event_id, :schema_version, :occurred_at, :producer, :p, :u, 'ios', '1.0')"),
            _ev(ts) | {"p": pid, "u": user})
    for i, arm in enumerate(arms):
        conn.execute(text(
            "INSERT INTO responses (event_id, schema_version, occurred_at, producer, project_id, request_id, arm, "
            "model_name, model_version, latency_ms) VALUES (:event_id, :schema_version, :occurred_at, :producer, "
            ":p, :r, :arm, 'm', '1', 10)"),
            _ev(ts + timedelta(minutes=1 + i)) | {"p": pid, "r": f"{pid}-r{i}", "arm": arm})
    if exported:
        conn.execute(text(
            "INSERT INTO project_exports (event_id, schema_version, occurred_at, producer, project_id) "
            "VALUES (:event_id, :schema_version, :occurred_at, :producer, :p)"), _ev(ts + timedelta(hours=1))
            | {"p": pid})


@pytest.fixture(scope="module")
def world(engine):
    """day1: teacher 5/20, student 12/25; day2: teacher 7/20, student 8/25; day0 (pre-experiment): teacher 10/10.
    One day-2 teacher project also saw the student arm later; one day-1 student project has no project_started row."""
    plan = [(DAY0, "teacher", 10, 10), (DAY1, "teacher", 20, 5), (DAY1, "student", 25, 12),
            (DAY2, "teacher", 20, 7), (DAY2, "student", 25, 8)]
    with engine.begin() as conn:
        for day, arm, n, n_exp in plan:
            for i in range(n):
                pid = f"{arm[0]}{day:%d}-{i:03d}"
                arms = [arm, "student"] if (day, arm, i) == (DAY2, "teacher", 0) else [arm]
                started_row = (day, arm, i) != (DAY1, "student", 3)
                _project(conn, pid, f"user-{pid}", day + timedelta(hours=8, minutes=i), arms, i < n_exp, started_row)
    return plan


def _experiments_table(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT to_regclass('experiments') IS NOT NULL")).scalar())


def test_all_traffic_report(settings, engine, world, tmp_path):
    rep = ab_report(settings, out_dir=tmp_path)
    assert rep.experiment_id is None and rep.srm is None
    teacher, student = rep.arm("teacher"), rep.arm("student")
    assert (teacher.started, teacher.exported) == (50, 22)
    assert (student.started, student.exported) == (50, 20)
    assert teacher.rate == pytest.approx(0.44) and student.rate == pytest.approx(0.40)
    w = wilson_interval(22, 50)
    assert (teacher.ci_low, teacher.ci_high) == (pytest.approx(w.ci_low), pytest.approx(w.ci_high))
    assert rep.control_arm == "teacher"
    r = rep.ratio("student")
    assert r.ratio == pytest.approx(0.40 / 0.44)
    assert rep.n_projects_multi_arm == 1
    by = {(d.day.isoformat(), d.arm): (d.started, d.exported) for d in rep.daily}
    assert by == {("2026-11-01", "teacher"): (10, 10), ("2026-11-02", "teacher"): (20, 5),
                  ("2026-11-02", "student"): (25, 12), ("2026-11-03", "teacher"): (20, 7),
                  ("2026-11-03", "student"): (25, 8)}
    # files
    png = Path(rep.paths["plot"])
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    md = Path(rep.paths["markdown"]).read_text()
    assert "| teacher | n/a | 50 | 22 | 44.00% |" in md and "student / teacher" in md
    assert json.loads(Path(rep.paths["json"]).read_text())["arms"][0]["started"] == 50
    # stored
    with engine.connect() as conn:
        arms = {row.arm: row for row in conn.execute(text(
            "SELECT * FROM ab_report_arms WHERE report_id = :r"), {"r": rep.report_id})}
        assert (arms["student"].started, arms["student"].exported) == (50, 20)
        assert arms["student"].rate == pytest.approx(0.4)
        n_daily = conn.execute(text("SELECT count(*) FROM ab_report_daily WHERE report_id = :r"),
                               {"r": rep.report_id}).scalar()
        assert n_daily == 5
        summary = conn.execute(text("SELECT summary FROM ab_reports WHERE report_id = :r"),
                               {"r": rep.report_id}).scalar()
        assert summary["ratios"][0]["ratio"] == pytest.approx(0.40 / 0.44)
        assert summary["paths"]["plot"] == rep.paths["plot"]


def test_default_out_dir_under_artifacts(settings, world):
    rep = ab_report(settings)
    assert Path(rep.paths["plot"]).parent == Path(settings.artifacts_dir) / "reports"
    assert Path(rep.paths["plot"]).exists()


def test_experiment_window_weights_and_srm(settings, engine, world, tmp_path):
    assert _experiments_table(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO experiments (experiment_id, name, salt, status, started_at) "
                          "VALUES ('exp1', 'teacher vs student', 'salt1', 'active', :t)"), {"t": DAY1})
        conn.execute(text("INSERT INTO experiment_arms (experiment_id, arm, weight, backend) VALUES "
                          "('exp1', 'teacher', 0.5, 'teacher'), ('exp1', 'student', 0.5, 'student')"))
    rep = ab_report(settings, out_dir=tmp_path)  # the active experiment is the default
    assert rep.experiment_id == "exp1"
    teacher, student = rep.arm("teacher"), rep.arm("student")
    assert (teacher.started, teacher.exported, teacher.weight) == (40, 12, 0.5)  # day 0 is outside the window
    assert (student.started, student.exported) == (50, 20)
    expected = rate_ratio(20, 50, 12, 40)
    got = rep.ratio("student", "teacher")
    assert (got.ratio, got.ci_low, got.ci_high) == (pytest.approx(expected.ratio), pytest.approx(expected.ci_low),
                                                    pytest.approx(expected.ci_high))
    # chi2 = 2 * 5^2 / 45 = 1.1111; p = erfc(sqrt(1.1111 / 2)) = .29184
    assert rep.srm.chi2 == pytest.approx(1.11111, abs=1e-4)
    assert rep.srm.p_value == pytest.approx(0.29184, abs=1e-4)
    assert not rep.srm.flagged
    with pytest.raises(ABReportError, match="unknown experiment 'nope'"):
        ab_report(settings, experiment_id="nope", out_dir=tmp_path)


def test_a_project_started_before_the_experiment_is_not_counted(settings, engine, world, tmp_path):
    """Started 30 s before the experiment, first answered 30 s into it: the experiment did not assign it."""
    with engine.begin() as conn:
        _project(conn, "straggler", "user-straggler", DAY1 - timedelta(seconds=30), ["teacher"], True)
    try:
        rep = ab_report(settings, experiment_id="exp1", out_dir=tmp_path)
        assert (rep.arm("teacher").started, rep.arm("teacher").exported) == (40, 12)
        assert DAY0.date() not in {d.day for d in rep.daily}
    finally:
        with engine.begin() as conn:
            for table in ("projects", "responses", "project_exports"):
                conn.execute(text(f"DELETE FROM {table} WHERE project_id = 'straggler'"))


def test_no_traffic_is_a_clear_error(settings, engine, tmp_path):
    assert _experiments_table(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO experiments (experiment_id, name, salt, status, started_at) "
                          "VALUES ('future', 'not started', 's', 'ended', :t)"), {"t": DAY2 + timedelta(days=30)})
        conn.execute(text("INSERT INTO experiment_arms (experiment_id, arm, weight, backend) VALUES "
                          "('future', 'teacher', 1, 'teacher'), ('future', 'student', 1, 'student')"))
    with pytest.raises(ABReportError, match="no projects"):
        ab_report(settings, experiment_id="future", out_dir=tmp_path)


def test_analytics_views(settings, engine, world, tmp_path):
    """The analyst views agree with the report and with the router's hash assignment."""
    from flywheel.assistant.routing import assign_arm
    from flywheel.reports.views import VIEWS, create_views, drop_views

    assert _experiments_table(engine)
    with engine.begin() as conn:
        if not conn.execute(text("SELECT 1 FROM experiments WHERE experiment_id = 'exp1'")).first():
            conn.execute(text("INSERT INTO experiments (experiment_id, name, salt, status, started_at) "
                              "VALUES ('exp1', 'teacher vs student', 'salt1', 'active', :t)"), {"t": DAY1})
            conn.execute(text("INSERT INTO experiment_arms (experiment_id, arm, weight, backend) VALUES "
                              "('exp1', 'teacher', 0.5, 'teacher'), ('exp1', 'student', 0.5, 'student')"))
        create_views(conn)
        create_views(conn)  # idempotent
    rep = ab_report(settings, experiment_id="exp1", out_dir=tmp_path)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM analytics.experiment_assignments WHERE experiment_id = 'exp1'")).all()
        assert len(rows) == 90
        checked = 0
        for r in rows:
            if r.user_id is not None:
                assert r.hash_arm == assign_arm(r.user_id, "salt1", [("student", 0.5), ("teacher", 0.5)])
                checked += 1
        assert checked == 89  # one project has no project_started row
        daily = {(str(r.day), r.arm): (r.started, r.exported) for r in conn.execute(text(
            "SELECT * FROM analytics.arm_daily_completion WHERE experiment_id = 'exp1'"))}
        assert daily == {(str(d.day), d.arm): (d.started, d.exported) for d in rep.daily}
        latest = {r.arm: r for r in conn.execute(text(
            "SELECT * FROM analytics.ab_report_latest WHERE experiment_id = 'exp1'"))}
        assert latest["student"].report_id == rep.report_id
        assert latest["student"].ratio_to_control == pytest.approx(rep.ratio("student").ratio)
        assert latest["teacher"].ratio_to_control is None
        assert latest["teacher"].srm_p_value == pytest.approx(rep.srm.p_value)
        for v in ("model_history", "dataset_lineage", "pipeline_runs"):
            conn.execute(text(f"SELECT * FROM analytics.{v}")).all()
    with engine.begin() as conn:
        drop_views(conn)
        left = conn.execute(text("SELECT count(*) FROM information_schema.views WHERE table_schema = 'analytics'"))
        assert left.scalar() == 0
    # views.sql holds them all (since 0019); VIEWS, which drop_views walks, must name every one it creates.
    import re

    from flywheel.reports.views import SQL_PATH

    created = set(re.findall(r"CREATE (?:OR REPLACE )?VIEW analytics\.(\w+)", SQL_PATH.read_text()))
    assert created == set(VIEWS)
