"""The A/B report split into seen and new intents, on a real database with a hand-made experiment.

The rule (docs/domain.md#what-is-counted): a project is new on its day when one of its intents (intent_norm) had
never been submitted before that day began, by anyone, over all history; otherwise seen.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from flywheel.reports.ab import ab_report
from flywheel.reports.ab_stats import rate_ratio, wilson_interval
from flywheel.reports.render import render_plot

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)  # collection, before the experiment
DAY1 = datetime(2026, 11, 2, tzinfo=UTC)  # experiment starts
DAY2 = datetime(2026, 11, 3, tzinfo=UTC)


def _ev(ts: datetime) -> dict:
    return {"event_id": str(uuid.uuid4()), "schema_version": 1, "occurred_at": ts, "producer": "test"}


def _intent(conn, pid: str, ts: datetime, intent: str, norm: str) -> None:
    conn.execute(text(
        "INSERT INTO intents (event_id, schema_version, occurred_at, producer, project_id, request_id, intent, "
        "intent_norm) VALUES (:event_id, :schema_version, :occurred_at, :producer, :p, :r, :i, :n)"),
        _ev(ts) | {"p": pid, "r": f"{pid}-{uuid.uuid4().hex[:6]}", "i": intent, "n": norm})


def _project(conn, pid: str, ts: datetime, arm: str | None, intents: list[str], exported: bool) -> None:
    """A project started at ts; each intent asked (and answered by `arm`) a minute apart; arm None: never answered."""
    conn.execute(text(
        "INSERT INTO projects (event_id, schema_version, occurred_at, producer, project_id, user_id, platform, "
        "app_version) VALUES (:event_id, :schema_version, :occurred_at, :producer, :p, :u, 'ios', '1.0')"),
        _ev(ts) | {"p": pid, "u": f"user-{pid}"})
    for i, intent in enumerate(intents or [""]):
        at = ts + timedelta(minutes=i, seconds=30)
        if intent:
            _intent(conn, pid, at, intent, " ".join(intent.lower().strip(" !").split()))
        if arm is not None:
            conn.execute(text(
                "INSERT INTO responses (event_id, schema_version, occurred_at, producer, project_id, request_id, "
                "arm, model_name, model_version, latency_ms) VALUES (:event_id, :schema_version, :occurred_at, "
                ":producer, :p, :r, :arm, 'm', '1', 10)"),
                _ev(at + timedelta(seconds=10)) | {"p": pid, "r": f"{pid}-r{i}", "arm": arm})
    if exported:
        conn.execute(text(
            "INSERT INTO project_exports (event_id, schema_version, occurred_at, producer, project_id) "
            "VALUES (:event_id, :schema_version, :occurred_at, :producer, :p)"), _ev(ts + timedelta(hours=1))
            | {"p": pid})


H8 = timedelta(hours=8)
# (project, start, arm, intents, exported); the comment says the project's segment on its day.
PLAN = [
    ("c0", DAY0 + H8, "teacher", ["warm light"], True),  # collection: new on day 0, history for the experiment
    ("c1", DAY0 + H8, "teacher", ["old film"], False),
    ("t1a", DAY1 + H8, "teacher", ["warm light"], True),  # seen
    ("t1b", DAY1 + H8, "teacher", ["grainy"], False),  # new: first asked today
    ("s1a", DAY1 + H8, "student", ["old film"], True),  # seen
    ("s1b", DAY1 + H8 + timedelta(hours=1), "student", ["grainy"], True),  # new: asked earlier today, not before
    ("u1", DAY1 + H8, None, ["unanswered"], False),  # never answered: not counted, but its intent is history
    ("u2", DAY1 + timedelta(hours=23, minutes=58), None, ["late night"], False),  # 23:58:30, the day before
    ("t2a", DAY2 + H8, "teacher", ["warm light"], True),  # seen (collection)
    ("t2b", DAY2 + H8, "teacher", ["  WARM   light!"], False),  # seen: the same intent_norm
    ("t2c", DAY2 + H8, "teacher", ["brand new look"], True),  # new
    ("t2d", DAY2 + H8, "teacher", ["late night"], False),  # seen: first asked minutes before the day began
    ("s2a", DAY2 + H8, "student", ["grainy"], True),  # seen: first asked the day before
    ("s2b", DAY2 + H8, "student", ["warm light", "never typed"], True),  # new: one seen and one new intent
    ("s2c", DAY2 + H8, "student", ["unanswered"], False),  # seen: history counts every intent_submitted
    ("s2d", DAY2 + H8, "student", ["fresh idea"], True),  # new
    ("s2e", DAY2 + H8 + timedelta(hours=2), "student", ["fresh idea"], False),  # new: still new all day
    ("s2f", DAY2 + H8, "student", [], True),  # no intent row: asked nothing new, seen
]
# (day, arm) -> {segment: (started, exported)}
EXPECTED = {
    (date(2026, 11, 2), "teacher"): {"seen": (1, 1), "new": (1, 0)},
    (date(2026, 11, 2), "student"): {"seen": (1, 1), "new": (1, 1)},
    (date(2026, 11, 3), "teacher"): {"seen": (3, 1), "new": (1, 1)},
    (date(2026, 11, 3), "student"): {"seen": (3, 2), "new": (3, 2)},
}


@pytest.fixture(scope="module")
def report(settings, engine, tmp_path_factory):
    with engine.begin() as conn:
        for pid, ts, arm, intents, exported in PLAN:
            _project(conn, pid, ts, arm, intents, exported)
        conn.execute(text("INSERT INTO experiments (experiment_id, name, salt, status, started_at) "
                          "VALUES ('exp-seg', 'seen vs new', 's', 'active', :t)"), {"t": DAY1})
        conn.execute(text("INSERT INTO experiment_arms (experiment_id, arm, weight, backend) VALUES "
                          "('exp-seg', 'teacher', 0.5, 'teacher'), ('exp-seg', 'student', 0.5, 'student')"))
    return ab_report(settings, experiment_id="exp-seg", out_dir=tmp_path_factory.mktemp("ab-seg"))


def test_daily_counts_and_rates_by_segment(report):
    got = {(d.day, d.arm): {} for d in report.daily_by_segment}
    for d in report.daily_by_segment:
        got[(d.day, d.arm)][d.segment] = (d.started, d.exported)
        ci = wilson_interval(d.exported, d.started)
        assert (d.rate, d.ci_low, d.ci_high) == (ci.rate, ci.ci_low, ci.ci_high)
    assert got == EXPECTED
    # The unsplit rows are untouched and are the sums of the split ones.
    unsplit = {(d.day, d.arm): (d.started, d.exported) for d in report.daily}
    assert unsplit == {k: (v["seen"][0] + v["new"][0], v["seen"][1] + v["new"][1]) for k, v in EXPECTED.items()}
    assert (report.arm("student").started, report.arm("student").exported) == (8, 6)
    assert (report.arm("teacher").started, report.arm("teacher").exported) == (6, 3)
    new_student_day2 = next(d for d in report.daily_by_segment
                            if (d.day, d.arm, d.segment) == (date(2026, 11, 3), "student", "new"))
    assert new_student_day2.rate == pytest.approx(2 / 3)


def test_ratios_by_segment(report):
    ratios = {(r.day, r.segment): r for r in report.daily_ratios_by_segment}
    assert all((r.numerator, r.denominator) == ("student", "teacher") for r in ratios.values())
    for key, args in {(date(2026, 11, 3), "seen"): (2, 3, 1, 3), (date(2026, 11, 3), "new"): (2, 3, 1, 1),
                      (date(2026, 11, 2), "seen"): (1, 1, 1, 1)}.items():
        want = rate_ratio(*args)
        assert (ratios[key].ratio, ratios[key].ci_low, ratios[key].ci_high) == (
            pytest.approx(want.ratio), pytest.approx(want.ci_low), pytest.approx(want.ci_high))
    assert ratios[(date(2026, 11, 3), "seen")].ratio == pytest.approx(2.0)
    assert ratios[(date(2026, 11, 2), "new")].ratio is None  # the teacher exported no new project that day
    overall = {(a.arm, a.segment): (a.started, a.exported) for a in report.arms_by_segment}
    assert overall == {("teacher", "seen"): (4, 2), ("teacher", "new"): (2, 1),
                       ("student", "seen"): (4, 3), ("student", "new"): (4, 3)}
    by_seg = {r.segment: r for r in report.ratios_by_segment}
    assert by_seg["seen"].ratio == pytest.approx(rate_ratio(3, 4, 2, 4).ratio)
    assert by_seg["new"].ratio == pytest.approx(rate_ratio(3, 4, 1, 2).ratio)


def test_a_wider_window_sees_the_collection_day(settings, engine, report, tmp_path):
    """From day 0 on, the collection projects count: each asked an intent nobody had asked before, so both are new;
    the later days keep their segments (history does not depend on the window)."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO experiments (experiment_id, name, salt, status, started_at, ended_at) "
                          "VALUES ('exp-wide', 'from day 0', 's', 'ended', :t, :u)"), {"t": DAY0, "u": DAY2})
        conn.execute(text("INSERT INTO experiment_arms (experiment_id, arm, weight, backend) VALUES "
                          "('exp-wide', 'teacher', 0.5, 'teacher'), ('exp-wide', 'student', 0.5, 'student')"))
    wide = ab_report(settings, experiment_id="exp-wide", out_dir=tmp_path)
    got = {(d.day, d.arm, d.segment): (d.started, d.exported) for d in wide.daily_by_segment}
    assert got == {(date(2026, 11, 1), "teacher", "seen"): (0, 0), (date(2026, 11, 1), "teacher", "new"): (2, 1),
                   **{(day, arm, seg): v for (day, arm), segs in EXPECTED.items() for seg, v in segs.items()
                      if day == date(2026, 11, 2)}}
    assert not any(r.day == date(2026, 11, 1) for r in wide.daily_ratios_by_segment)  # no student that day


def test_files_and_stored_summary(report, engine):
    md = Path(report.paths["markdown"]).read_text()
    assert "## Seen and new intents" in md
    assert "| 2026-11-03 | student | 3 | 2 | 66.67% |" in md
    assert "| all days | teacher | 4 | 2 | 50.00% |" in md
    assert "| 2026-11-03 | student / teacher | 2.000 |" in md
    data = json.loads(Path(report.paths["json"]).read_text())
    assert len(data["daily_by_segment"]) == 8 and data["daily_by_segment"][0]["segment"] == "seen"
    with engine.connect() as conn:
        summary = conn.execute(text("SELECT summary FROM ab_reports WHERE report_id = :r"),
                               {"r": report.report_id}).scalar()
    assert {(r["day"], r["segment"]): r["ratio"] for r in summary["daily_ratios_by_segment"]}[
        ("2026-11-03", "seen")] == pytest.approx(2.0)
    assert len(summary["arms_by_segment"]) == 4 and len(summary["ratios_by_segment"]) == 2


def test_plot_has_the_seen_and_new_row(report, tmp_path):
    from PIL import Image

    png = Path(report.paths["plot"])
    assert Image.open(png).size[1] > 1000  # two rows of panels (one row is 4.8 in x 110 dpi = 528 px)
    out = render_plot(report, tmp_path / "ref.png", segment_reference={"new": {date(2026, 11, 3): 0.9}})
    assert out.stat().st_size > 10_000
