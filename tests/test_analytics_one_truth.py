"""One truth for the headline metric: the analytics views count projects per arm exactly as the A/B report does (D16),
on a simulated experiment with the edge cases that split them before (issue 30: the view said 504 teacher projects
where the report said 503).

Two experiments back to back over seven days of seeded traffic (users routed by the real hash, several projects per
user, late exports, projects without a start event), plus hand-placed edge cases: a project straddling the start, one
answered before the window and again inside it, exports days after the window, a user served by both arms, a project
that saw two arms, arms outside the experiment, responses exactly at the window's ends and at the same instant."""

from __future__ import annotations

import importlib.util
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from flywheel.assistant.routing import assign_arm
from flywheel.reports.ab import ab_report

pytestmark = pytest.mark.services

T0 = datetime(2026, 11, 2, tzinfo=UTC)  # exp-a starts
T1 = T0 + timedelta(days=3)  # exp-a ends, exp-b starts
T2 = T1 + timedelta(days=2)  # exp-b ends
EXPERIMENTS = {"exp-a": (T0, T1, "salt-a", [("student", 0.5), ("teacher", 0.5)]),
               "exp-b": (T1, T2, "salt-b", [("student", 0.3), ("teacher", 0.7)])}
MIGRATION_0009 = (Path(__file__).resolve().parents[1] / "services" / "flywheel" / "migrations" / "versions"
                  / "0009_merge_analytics.py")
S, M, H, D = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


class _Traffic:
    def __init__(self) -> None:
        self.projects: list[dict] = []
        self.responses: list[dict] = []
        self.exports: list[dict] = []

    @staticmethod
    def _ev(ts: datetime, event_id: str | None = None) -> dict:
        return {"event_id": event_id or str(uuid.uuid4()), "occurred_at": ts}

    def project(self, pid: str, user: str | None, started: datetime | None, answers: list[tuple[datetime, str]],
                exported_at: datetime | None = None, *, event_ids: list[str] | None = None) -> None:
        if started is not None:
            self.projects.append(self._ev(started) | {"p": pid, "u": user})
        for i, (ts, arm) in enumerate(answers):
            self.responses.append(self._ev(ts, event_ids[i] if event_ids else None)
                                  | {"p": pid, "r": f"{pid}-r{i}", "arm": arm})
        if exported_at is not None:
            self.exports.append(self._ev(exported_at) | {"p": pid})

    def write(self, conn) -> None:
        common = "event_id, schema_version, occurred_at, producer, project_id"
        vals = ":event_id, 1, :occurred_at, 'one-truth', :p"
        conn.execute(text(f"INSERT INTO projects ({common}, user_id, platform, app_version) "
                          f"VALUES ({vals}, :u, 'ios', '1.0')"), self.projects)
        conn.execute(text(f"INSERT INTO responses ({common}, request_id, arm, model_name, model_version, latency_ms)"
                          f" VALUES ({vals}, :r, :arm, 'm', '1', 10)"), self.responses)
        conn.execute(text(f"INSERT INTO project_exports ({common}) VALUES ({vals})"), self.exports)


def _experiment_at(ts: datetime) -> str | None:
    return next((e for e, (a, b, _, _) in EXPERIMENTS.items() if a <= ts < b), None)


def _routed(user: str, ts: datetime) -> str:
    exp = _experiment_at(ts)
    if exp is None:
        return "teacher"  # no experiment running: the teacher serves everyone
    _, _, salt, arms = EXPERIMENTS[exp]
    return assign_arm(user, salt, arms)


def simulated_traffic(seed: int = 30, n_projects: int = 600) -> _Traffic:
    rng = random.Random(seed)
    t = _Traffic()
    for i in range(n_projects):
        user = f"user-{rng.randrange(150)}"
        started = T0 - timedelta(days=1) + timedelta(seconds=rng.uniform(0, 7 * 86400))
        first = started + timedelta(seconds=rng.uniform(1, 600))
        arm = _routed(user, first)
        answers = [(first + j * timedelta(minutes=rng.uniform(1, 40)), arm) for j in range(rng.randint(1, 3))]
        rate = {"teacher": .45, "student": .5}[arm]
        # Exports land up to three days after the last answer: many after their experiment has ended.
        exported = answers[-1][0] + timedelta(hours=rng.uniform(0, 72)) if rng.random() < rate else None
        t.project(f"sim-{i:04d}", user, None if rng.random() < .03 else started, answers, exported)
    return t


def edge_cases(t: _Traffic) -> dict[str, set[str]]:
    """Hand-placed projects, and the experiments each must be counted in."""
    t.project("edge-straddle", "user-e1", T0 - 30 * S, [(T0 + 30 * S, "teacher")], T0 + M)
    t.project("edge-answered-before", "user-e2", T0 - 2 * H, [(T0 - H, "teacher"), (T0 + H, "student")], T0 + 2 * M)
    t.project("edge-late-export", "user-e3", T1 - H, [(T1 - 50 * M, "student")], T2 + 2 * D)
    # A user the router moved: served by both arms within exp-a, one project seeing both (counted under the first).
    t.project("edge-switch-1", "user-switch", T0 + 60 * M, [(T0 + 61 * M, "teacher")], T0 + 90 * M)
    t.project("edge-switch-2", "user-switch", T0 + 5 * 60 * M, [(T0 + 301 * M, "student")], None)
    t.project("edge-both-arms", "user-switch", T0 + 9 * H, [(T0 + 541 * M, "student"), (T0 + 542 * M, "teacher")],
              T0 + 10 * H)
    t.project("edge-no-start", None, None, [(T0 + 7 * 60 * M, "student")], T0 + 8 * 60 * M)
    t.project("edge-canary", "user-e4", T0 + 60 * M, [(T0 + 61 * M, "canary")], T0 + 62 * M)
    t.project("edge-canary-first", "user-e5", T0 + 60 * M, [(T0 + 61 * M, "canary"), (T0 + 62 * M, "teacher")],
              T0 + 63 * M)
    t.project("edge-at-start", "user-e6", T0, [(T0, "student")], T0 + M)
    t.project("edge-at-end", "user-e7", T1 - S, [(T1, "teacher")], T1 + M)
    t.project("edge-a-then-b", "user-e8", T1 - 10 * M, [(T1 + 10 * M, "teacher")], T1 + 20 * M)
    t.project("edge-midnight", "user-e9", T0 + D - 10 * S, [(T0 + D + 10 * S, "teacher")], T0 + D + H)
    t.project("edge-in-b", "user-e10", T1 + 60 * M, [(T1 + 61 * M, "student")], None)
    t.project("edge-after", "user-e11", T2 + 60 * M, [(T2 + 61 * M, "student")], T2 + 62 * M)
    # Two answers at one instant: the lower event id is the first (both sides order by time, then event id).
    t.project("edge-same-instant", "user-e12", T0 + 2 * 60 * M, [(T0 + 121 * M, "student"), (T0 + 121 * M, "teacher")],
              T0 + 130 * M, event_ids=["00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000001"])
    # Two start events: the earlier one is the project's start (and day).
    t.project("edge-two-starts", "user-e13", T0 + 3 * 60 * M, [(T0 + 181 * M, "teacher")], None)
    t.projects.append(t._ev(T0 - 5 * M) | {"p": "edge-two-starts", "u": "user-e13"})
    return {"exp-a": {"edge-late-export", "edge-switch-1", "edge-switch-2", "edge-both-arms", "edge-no-start",
                      "edge-at-start", "edge-midnight", "edge-same-instant"},
            "exp-b": {"edge-in-b"},
            "neither": {"edge-straddle", "edge-answered-before", "edge-canary", "edge-canary-first", "edge-at-end",
                        "edge-a-then-b", "edge-after", "edge-two-starts"}}


@pytest.fixture(scope="module")
def experiment(engine):
    t = simulated_traffic()
    expected = edge_cases(t)
    with engine.begin() as conn:
        for exp, (since, until, salt, arms) in EXPERIMENTS.items():
            conn.execute(text("INSERT INTO experiments (experiment_id, name, salt, status, started_at, ended_at) "
                              "VALUES (:e, :e, :s, 'ended', :a, :b)"), {"e": exp, "s": salt, "a": since, "b": until})
            conn.execute(text("INSERT INTO experiment_arms (experiment_id, arm, weight, backend) VALUES "
                              "(:e, :arm, :w, :arm)"), [{"e": exp, "arm": a, "w": w} for a, w in arms])
        t.write(conn)
    return expected


def _view_counts(conn, exp: str) -> tuple[dict, dict]:
    daily = {(r.day, r.arm): (r.started, r.exported) for r in conn.execute(text(
        "SELECT day, arm, started, exported FROM analytics.arm_daily_completion WHERE experiment_id = :e"),
        {"e": exp})}
    arms = {r.arm: (r.started, r.exported) for r in conn.execute(text(
        "SELECT arm, count(*) AS started, count(*) FILTER (WHERE exported) AS exported"
        " FROM analytics.experiment_assignments WHERE experiment_id = :e GROUP BY arm"), {"e": exp})}
    return daily, arms


@pytest.mark.parametrize("exp", sorted(EXPERIMENTS))
def test_the_views_count_what_the_report_counts(settings, engine, experiment, exp, tmp_path) -> None:
    rep = ab_report(settings, experiment_id=exp, out_dir=tmp_path)
    report_daily = {(d.day, d.arm): (d.started, d.exported) for d in rep.daily}
    report_arms = {a.arm: (a.started, a.exported) for a in rep.arms if a.started}
    with engine.connect() as conn:
        daily, arms = _view_counts(conn, exp)
        latest = {r.arm: (r.started, r.exported) for r in conn.execute(text(
            "SELECT arm, started, exported FROM analytics.ab_report_latest WHERE experiment_id = :e"), {"e": exp})
            if r.started}
        counted = set(conn.execute(text("SELECT project_id FROM analytics.experiment_assignments "
                                        "WHERE experiment_id = :e AND project_id LIKE 'edge-%'"), {"e": exp}).scalars())
        days = dict(conn.execute(text("SELECT project_id, (project_started_at AT TIME ZONE 'UTC')::date FROM "
                                      "analytics.experiment_assignments WHERE project_id LIKE 'edge-%'")).all())
        arm_of = dict(conn.execute(text("SELECT project_id, arm FROM analytics.experiment_assignments "
                                        "WHERE project_id LIKE 'edge-%'")).all())
    print(f"{exp}: report {report_arms} over {len(report_daily)} (day, arm) rows; views {arms}")
    assert daily == report_daily
    assert arms == report_arms == latest
    assert sum(s for s, _ in arms.values()) > 150 and len(daily) >= 4  # a real experiment, not a handful
    assert counted == experiment[exp]
    if exp == "exp-a":
        assert days["edge-midnight"] == T0.date()  # the start day, not the first answer's
        assert (arm_of["edge-both-arms"], arm_of["edge-same-instant"]) == ("student", "teacher")
        assert rep.n_projects_multi_arm >= 2


def test_the_old_views_disagreed(engine, experiment) -> None:
    """The views of migration 0009 (a project's first response inside the window) count the straddling projects:
    the comparison above would fail on them. Run inside a transaction that is rolled back."""
    spec = importlib.util.spec_from_file_location("_rev_0009", MIGRATION_0009)
    assert spec is not None and spec.loader is not None
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    with engine.connect() as conn:
        now_daily, now_arms = _view_counts(conn, "exp-a")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.exec_driver_sql("DROP VIEW IF EXISTS analytics.arm_savings_daily")  # 0021 reads the new one
            conn.exec_driver_sql(old.VIEWS_SQL)
            old_daily, old_arms = _view_counts(conn, "exp-a")
        finally:
            trans.rollback()
    print(f"exp-a: views of 0009 {old_arms}, now {now_arms}")
    assert old_daily != now_daily
    assert sum(s for s, _ in old_arms.values()) > sum(s for s, _ in now_arms.values())
