"""The analyst cookbook (docs/cookbook.md) on a small simulated pipeline: every query in it runs as written, as the
analyst, and gives the answers the pipeline made.

The pipeline: day 0's teacher traffic; a nightly run that fails at make_split (`test_size` too big); two nightly runs
of the real steps (flywheel.pipeline.nightly, called as the DAG's tasks call them, in the environment Airflow gives a
task's process); A/B days 1 and 2, whose responses name the model that served them (the student arm's production
model, a few requests served by the teacher as fallback). Late exports between the two nights make the intent
'pastel' change its adjust pick: the evidence as of each run must explain each run's own pick.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
import pytest
from sqlalchemy import text

from flywheel.assistant.routing import assign_arm
from flywheel.contracts import ADJUST_KEYS, normalize_intent
from flywheel.db.analyst import analyst_url
from flywheel.errors import Skipped, UsageError
from flywheel.pipeline import nightly

pytestmark = pytest.mark.services

COOKBOOK = Path(__file__).resolve().parents[1] / "docs" / "cookbook.md"
DAY = [datetime(2026, 7, 1, tzinfo=UTC) + timedelta(days=k) for k in range(3)]
NIGHT = {k: f"scheduled__2026-07-0{k + 1}T02:00:00+00:00" for k in (0, 1, 2)}
NIGHT[0] = "scheduled__2026-07-01T23:00:00+00:00"  # the failed night, before night 1
EXPERIMENT = "exp-cookbook"
SALT = "cookbook-salt"
ARMS = [("student", 0.5), ("teacher", 0.5)]
TEACHER = ("gpt-test", "unversioned")
TRAIN = {"max_steps": 80, "skip_augmentation": True,
         "train_overrides": {"batch_size": 16, "warmup_steps": 2, "evaluate_test": False}}


def _adjust(**values: int) -> dict[str, int]:
    """An `adjust` output (every slot of its contract)."""
    return {k: values.get(k, 0) for k in ADJUST_KEYS}


PASTEL_A = _adjust(brightness=10, contrast=-20, saturation=-30)  # shown 3, exported 1; 2 late exports later
PASTEL_B = _adjust(brightness=20, contrast=-10, saturation=-40)  # shown 2, exported 1


# ---------------------------------------------------------------------------------------------- the traffic

class _Events:
    """Event rows written straight into the event tables (one transaction: one ingested_at, one watermark)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in
                                                      ("projects", "intents", "responses", "tool_exports",
                                                       "project_exports")}

    @staticmethod
    def _env(at: datetime, project: str) -> dict[str, Any]:
        return {"event_id": str(uuid.uuid4()), "occurred_at": at, "project_id": project}

    def request(self, intent: str, outputs: dict[str, Any], at: datetime, *, exported: tuple[str, ...] = (),
                arm: str = "teacher", model: tuple[str, str] = TEACHER, served_by: str | None = None,
                fallback: str | None = None, project: str | None = None, user: str | None = None) -> str:
        rid = uuid.uuid4().hex
        project = project or f"p-{rid[:10]}"
        if user is not None:
            self.rows["projects"].append(self._env(at, project) | {"user_id": user})
        self.rows["intents"].append(self._env(at, project) | {"request_id": rid, "intent": intent,
                                                              "intent_norm": normalize_intent(intent)})
        self.rows["responses"].append(self._env(at, project) | {
            "request_id": rid, "arm": arm, "model_name": model[0], "model_version": model[1],
            "served_by": served_by, "fallback_reason": fallback,
            **{t: None if outputs.get(t) is None else json.dumps(outputs[t])
               for t in ("adjust", "selective_adjust", "filter")}})
        for tool in exported:
            self.export(rid, tool, at, project)
        return rid

    def export(self, rid: str, tool: str, at: datetime, project: str = "p-late") -> None:
        self.rows["tool_exports"].append(self._env(at, project) | {"request_id": rid, "tool": tool, "exported": True})

    def project_exported(self, project: str, at: datetime) -> None:
        self.rows["project_exports"].append(self._env(at, project))

    def write(self, engine) -> None:
        common = "event_id, schema_version, occurred_at, producer, project_id"
        vals = "CAST(:event_id AS uuid), 1, :occurred_at, 'cookbook', :project_id"
        extra = {"projects": ("user_id, platform, app_version", ":user_id, 'ios', '1.0'"),
                 "intents": ("request_id, intent, intent_norm", ":request_id, :intent, :intent_norm"),
                 "responses": ("request_id, arm, model_name, model_version, adjust, selective_adjust, filter,"
                               " latency_ms, served_by, fallback_reason",
                               ":request_id, :arm, :model_name, :model_version, CAST(:adjust AS jsonb),"
                               " CAST(:selective_adjust AS jsonb), CAST(:filter AS jsonb), 20, :served_by,"
                               " :fallback_reason"),
                 "tool_exports": ("request_id, tool, exported", ":request_id, :tool, :exported"),
                 "project_exports": ("", "")}
        with engine.begin() as conn:
            for table, rows in self.rows.items():
                cols, more = extra[table]
                if rows:
                    conn.execute(text(f"INSERT INTO {table} ({common}{', ' + cols if cols else ''})"
                                      f" VALUES ({vals}{', ' + more if more else ''})"), rows)
        self.rows = {t: [] for t in self.rows}


def _day0(ev: _Events) -> dict[str, list[str]]:
    """Teacher traffic over 40 intents (a varied adjust per intent, a filter on some), and 'pastel' with two adjust
    candidates: A exported 1 of 3 times, B 1 of 2 (B's rate wins)."""
    at = DAY[0] + timedelta(hours=9)
    for i in range(40):
        for j in range(1 + i % 3):
            out = {"adjust": _adjust(exposure=5 + i % 7, contrast=10 * (i % 5) - 20),
                   "filter": {"name": "faded_HighNoon", "intensity": 30 + i} if i % 2 else None}
            ev.request(f"look number {i}", out, at + timedelta(minutes=i, seconds=j),
                       exported=("adjust",) if j == 0 else ())
    pastel: dict[str, list[str]] = {"A": [], "B": []}
    for k, (name, adjust) in enumerate([("A", PASTEL_A)] * 3 + [("B", PASTEL_B)] * 2):
        first = k in (0, 3)  # one export each
        pastel[name].append(ev.request("Pastel", {"adjust": adjust}, at + timedelta(hours=1, minutes=k),
                                       exported=("adjust",) if first else ()))
    return pastel


def _ab_day(ev: _Events, day: datetime, student: str, n_users: int = 40) -> dict[str, int]:
    """One A/B day: each user starts a project, asks twice; the student arm is served by `student`, every fifth
    of its requests by the teacher as fallback. Returns projects per arm."""
    started: dict[str, int] = {}
    for u in range(n_users):
        user = f"user-{u}"
        arm = assign_arm(user, SALT, ARMS)
        project = f"p-{day:%m%d}-{u}"
        at = day + timedelta(hours=10, minutes=u)
        for q in range(2):
            kw: dict[str, Any] = {"arm": arm, "project": project, "user": user if q == 0 else None}
            if arm == "student" and (u + q) % 5 != 0:
                kw.update(model=("flywheel-student", student), served_by="student")
            elif arm == "student":
                kw.update(served_by="teacher", fallback="student_error: RuntimeError")
            ev.request(f"ab look {u % 7}", {"adjust": _adjust(exposure=u % 9)}, at + timedelta(seconds=q), **kw)
        if u % 3:
            ev.project_exported(project, at + timedelta(minutes=5))
        started[arm] = started.get(arm, 0) + 1
    return started


# ---------------------------------------------------------------------------------------------- the nights

def _task(monkeypatch, run: str, task: str) -> None:
    """The environment Airflow gives the process of one task of `flywheel_nightly` (flywheel.db.runs reads it)."""
    for key, value in (("DAG_ID", "flywheel_nightly"), ("DAG_RUN_ID", run), ("TASK_ID", task), ("TRY_NUMBER", "1")):
        monkeypatch.setenv(f"AIRFLOW_CTX_{key}", value)


def _night(settings, monkeypatch, run: str, params: dict[str, Any]) -> dict[str, Any]:
    """The tasks of flywheel_nightly, in order, each calling its pipeline step as the DAG file does."""
    step = {"airflow_run_id": run}
    _task(monkeypatch, run, "wait_for_ingest")
    poke = nightly.ingest_settled(settings, params=params, **step)
    assert poke["settled"]
    _task(monkeypatch, run, "run_groundtruth")
    gt = nightly.groundtruth(settings, params=params, watermark=poke["watermark"], **step)
    _task(monkeypatch, run, "validate_groundtruth")
    nightly.validate_groundtruth(settings, groundtruth_run_id=gt, **step)
    _task(monkeypatch, run, "make_split")
    split = nightly.split(settings, groundtruth_run_id=gt, params=params, **step)
    _task(monkeypatch, run, "validate_split")
    nightly.validate_split(settings, split_id=split, **step)
    _task(monkeypatch, run, "augment")
    split = nightly.augment(settings, split_id=split, params=params, **step)
    _task(monkeypatch, run, "plan_training")
    plan = nightly.plan_training(settings, split_id=split, params=params, **step)
    _task(monkeypatch, run, "train_local")
    model = nightly.train_planned(settings, plan=plan, **step)
    _task(monkeypatch, run, "evaluate")
    nightly.evaluate(settings, model_id=model, split_id=split, params=params, **step)
    _task(monkeypatch, run, "promote")
    decision = nightly.promote(settings, model_id=model, **step)
    return {"groundtruth_run_id": gt, "split_id": split, **decision}


@pytest.fixture(scope="module")
def pipeline(settings, engine):
    """The simulated pipeline; returns what it made (ids, the projects per arm and day, 'pastel''s requests)."""
    from flywheel.db.experiments import ArmSpec, create_experiment
    from flywheel.db.migrate import upgrade

    upgrade(settings)  # the analyst login (a copied database misses the database-level grants)
    mp = pytest.MonkeyPatch()
    # Margin 1.0: the second model is promoted whatever its score, so both nights promote and one is compared.
    s = settings.model_copy(update={"promotion_margin": 1.0, "promotion_floor": 0.0})
    try:
        ev = _Events()
        pastel = _day0(ev)
        ev.write(engine)
        with pytest.raises(UsageError, match="DAG param `test_size` = 1000"):  # night 0 fails at make_split
            _task(mp, NIGHT[0], "run_groundtruth")
            gt0 = nightly.groundtruth(s, params={"test_size": 1000}, airflow_run_id=NIGHT[0])
            _task(mp, NIGHT[0], "make_split")
            nightly.split(s, groundtruth_run_id=gt0, params={"test_size": 1000}, airflow_run_id=NIGHT[0])
        night1 = _night(s, mp, NIGHT[1], TRAIN)
        mp.delenv("AIRFLOW_CTX_DAG_RUN_ID")  # what follows is traffic and ingest, not a task
        create_experiment(engine, "cookbook", [ArmSpec(a, w, a) for a, w in ARMS], salt=SALT,
                          experiment_id=EXPERIMENT, now=DAY[1])
        started = {DAY[1].date(): _ab_day(ev, DAY[1], night1["model_id"])}
        for rid in pastel["A"][1:]:  # the two unexported showings of A are exported late: A 3 of 3
            ev.export(rid, "adjust", DAY[1] + timedelta(hours=20))
        ev.write(engine)
        night2 = _night(s, mp, NIGHT[2], TRAIN)
        mp.delenv("AIRFLOW_CTX_DAG_RUN_ID")
        started[DAY[2].date()] = _ab_day(ev, DAY[2], night2["model_id"])
        ev.write(engine)
    finally:
        mp.undo()
    return {"night1": night1, "night2": night2, "started": started, "gt0": gt0}


# ---------------------------------------------------------------------------------------------- the cookbook

def cookbook() -> dict[str, str]:
    """heading -> the query under it (one ```sql block per question)."""
    doc = COOKBOOK.read_text()
    out = {}
    for m in re.finditer(r"^### (.+?)\n(.*?)(?=^### |\Z)", doc, flags=re.S | re.M):
        blocks = re.findall(r"```sql\n(.*?)```", m[2], flags=re.S)
        assert len(blocks) == 1, f"one query per question: {m[1]!r}"
        out[m[1].strip()] = blocks[0]
    return out


def _query(settings, sql: str) -> list[dict[str, Any]]:
    conn = psycopg2.connect(analyst_url(settings, with_password=True))
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql)
            return [dict(r) for r in cur.fetchall()]
    finally:
        conn.close()


def _serving(p, rows, engine) -> None:
    by = {(r["day"], r["arm"], r["served_by"]): r for r in rows}
    m1, m2 = p["night1"]["model_id"], p["night2"]["model_id"]
    assert by[(DAY[1].date(), "student", "student")]["model_id"] == m1
    assert by[(DAY[2].date(), "student", "student")]["model_id"] == m2
    fallback = by[(DAY[1].date(), "student", "teacher")]
    assert fallback["model_version"] == TEACHER[1] and fallback["fallbacks"] == fallback["responses"] > 0
    assert by[(DAY[1].date(), "teacher", "teacher")]["model_id"] is None
    assert by[(DAY[0].date(), "teacher", "teacher")]["share_of_arm"] == 1
    for day in DAY[1:]:
        assert sum(r["share_of_arm"] for r in rows if r["day"] == day.date() and r["arm"] == "student") == 1


def _completion(p, rows, engine) -> None:
    m1, m2 = p["night1"]["model_id"], p["night2"]["model_id"]
    got = {(r["day"], r["arm"]): r for r in rows}
    assert set(got) == {(d.date(), a) for d in DAY[1:] for a, _ in ARMS}
    for day, per_arm in p["started"].items():
        for arm, n in per_arm.items():
            assert got[(day, arm)]["started"] == n
    assert got[(DAY[1].date(), "student")]["model_version"] == m1
    assert got[(DAY[2].date(), "student")]["model_version"] == m2
    assert got[(DAY[1].date(), "teacher")]["model_version"] == TEACHER[1]


def _overall(engine, model: str, split: str) -> float:
    with engine.connect() as c:
        return c.execute(text("SELECT max(overall) FROM evaluations WHERE model_id = :m AND split_id = :s"
                              " AND subset = 'All'"), {"m": model, "s": split}).scalar_one()


def _promoted(p, rows, engine) -> None:
    n1, n2 = p["night1"], p["night2"]
    assert [r["model_id"] for r in rows] == [n1["model_id"], n2["model_id"]]
    first, second = rows
    assert first["production_model_id"] is None and first["candidate_overall"] == n1["candidate_overall"]
    # the figures the gate compared: both models on the second model's own test split, not their latest evaluations
    assert second["test_split_id"] == n2["split_id"]
    assert second["production_model_id"] == n1["model_id"]
    assert second["candidate_overall"] == pytest.approx(_overall(engine, n2["model_id"], n2["split_id"]))
    assert second["production_overall"] == pytest.approx(_overall(engine, n1["model_id"], n2["split_id"]))
    assert second["overall_delta"] == pytest.approx(n2["overall_delta"])
    assert [(r["dag_id"], r["airflow_run_id"]) for r in rows] == [("flywheel_nightly", NIGHT[1]),
                                                                  ("flywheel_nightly", NIGHT[2])]


def _served_and_promoted(p, rows, engine) -> None:
    got = {(r["day"], r["arm"]): r for r in rows}
    assert got[(DAY[1].date(), "student")]["model_id"] == p["night1"]["model_id"]
    day2 = got[(DAY[2].date(), "student")]
    assert day2["model_id"] == p["night2"]["model_id"]
    assert day2["production_model_id"] == p["night1"]["model_id"]
    assert all(a == "student" for _, a in got)  # the teacher is no registry model


def _evidence(p, rows, engine) -> None:
    runs = [p["night1"]["groundtruth_run_id"], p["night2"]["groundtruth_run_id"]]
    assert runs[0] == p["gt0"]  # night 1 found night 0's run (same watermark)
    assert [r["run_id"] for r in rows] == [runs[0]] * 2 + [runs[1]] * 2
    first, second = rows[:2], rows[2:]
    counts = [(r["output"], r["shown"], r["exports"], r["picked"]) for r in first]
    assert counts == [(PASTEL_B, 2, 1, True), (PASTEL_A, 3, 1, False)]  # rate .5 beats .333
    counts = [(r["output"], r["shown"], r["exports"], r["picked"]) for r in second]
    assert counts == [(PASTEL_A, 3, 3, True), (PASTEL_B, 2, 1, False)]  # the late exports: A 3 of 3
    with engine.connect() as c:  # the pick each run stored
        stored = dict(c.execute(text("SELECT run_id, output FROM groundtruth_rows WHERE intent_norm = 'pastel'"
                                     " AND tool = 'adjust'")).all())
    assert stored == {runs[0]: PASTEL_B, runs[1]: PASTEL_A}


NIGHT_TASKS = [("run_groundtruth", "groundtruth", "succeeded"), ("validate_groundtruth", "validate", "succeeded"),
               ("make_split", "split", "succeeded"), ("validate_split", "validate", "succeeded"),
               ("augment", "augment", "skipped"), ("plan_training", "plan", "succeeded"),
               ("train_local", "train", "succeeded"), ("evaluate", "evaluate", "succeeded"),
               ("promote", "promote", "succeeded"), ("promote", "evaluate", "succeeded")]


def _last_night(p, rows, engine) -> None:
    got = [(r["task_id"], r["stage"], r["status"]) for r in rows]
    assert sorted(got) == sorted(NIGHT_TASKS), got
    assert got.index(("promote", "promote", "succeeded")) < got.index(("promote", "evaluate", "succeeded"))
    by = {(r["task_id"], r["stage"]): r for r in rows}
    n2 = p["night2"]
    assert by[("promote", "promote")]["outcome"] == n2["reason"]
    assert by[("promote", "evaluate")]["subject"] == p["night1"]["model_id"]  # production, on the new split
    assert by[("validate_split", "validate")]["outcome"].startswith("split passed ")
    assert by[("augment", "augment")]["outcome"] == "skipped by the DAG param `skip_augmentation`"
    assert by[("train_local", "train")]["subject"] == n2["model_id"] == by[("plan_training", "plan")]["subject"]
    assert all(r["try_number"] == 1 for r in rows)


def _failed(p, rows, engine) -> None:
    assert [(r["dag_run_id"], r["task_id"], r["stage"]) for r in rows] == [(NIGHT[0], "make_split", "split")]
    assert "DAG param `test_size` = 1000 leaves no training data" in rows[0]["outcome"]


CHECKS = {
    "Which model served which arm, day by day": _serving,
    "The completion rate of each arm, beside the model that served it": _completion,
    "The evaluation that promoted each model": _promoted,
    "The model that served each day, and why it was promoted": _served_and_promoted,
    "Why an intent's ground truth is what it is, run by run": _evidence,
    "What every task of the last nightly run did": _last_night,
    "Which tasks failed, and why": _failed,
}


def test_every_cookbook_query_is_checked() -> None:
    assert set(cookbook()) == set(CHECKS)


@pytest.mark.parametrize("question", list(CHECKS))
def test_the_cookbook_answers(settings, engine, pipeline, question) -> None:
    rows = _query(settings, cookbook()[question])
    assert rows, question
    CHECKS[question](pipeline, rows, engine)


def test_promote_returns_its_decision_and_a_refusal_carries_it(settings, engine, pipeline) -> None:
    """What the DAG's promote task returns and logs (its XCom): a refused promotion is a skip with the same
    decision."""
    n2 = pipeline["night2"]
    assert n2["promoted"] and n2["margin"] == 1.0 and n2["production_model_id"] == pipeline["night1"]["model_id"]
    assert n2["overall_delta"] == pytest.approx(n2["candidate_overall"] - n2["production_overall"])
    strict = settings.model_copy(update={"promotion_floor": 1.01})  # nothing clears it
    with pytest.raises(Skipped) as refused:
        nightly.promote(strict, model_id=pipeline["night1"]["model_id"])
    decision = refused.value.result  # type: ignore[attr-defined]
    assert decision["promoted"] is False and "below the floor" in decision["reason"]
    assert decision["floor"] == 1.01 and decision["model_id"] == pipeline["night1"]["model_id"]
