"""Which arms feed ground truth (setting `groundtruth_arms`): a student output that users export is a candidate only
when every arm feeds it."""

from __future__ import annotations

import pytest

from flywheel.datasets.groundtruth import groundtruth_rows, run_groundtruth
from tests.support.events import EventWriter, clear_events
from tests.test_groundtruth import A, B, shows


@pytest.fixture()
def w(engine):
    clear_events(engine)
    return EventWriter(engine)


def pick(settings, engine, **kw):
    run = run_groundtruth(settings, engine=engine, **kw)
    rows = {(r["intent_norm"], r["tool"]): r for r in groundtruth_rows(settings, run.run_id, engine=engine)}
    return run, rows


def test_student_exports_count_only_with_all_arms(settings, engine, w):
    shows(w, "golden hour", "adjust", A, 6, 2)                          # teacher: 2/6
    shows(w, "golden hour", "adjust", B, 3, 3, start=10, arm="student")  # student: 3/3
    shows(w, "misty", "adjust", B, 4, 4, arm="student")                  # only the student ever answered it
    shows(w, "cold", "adjust", A, 2, 0)                                  # teacher only, never exported
    w.flush()
    teacher, rows_t = pick(settings, engine, arms="teacher")
    assert rows_t[("golden hour", "adjust")]["output"] == A and rows_t[("golden hour", "adjust")]["support"] == 6
    assert ("misty", "adjust") not in rows_t
    everyone, rows_a = pick(settings, engine, arms="all")
    assert rows_a[("golden hour", "adjust")]["output"] == B
    assert rows_a[("golden hour", "adjust")]["support"] == 9 and rows_a[("golden hour", "adjust")]["n_candidates"] == 2
    assert rows_a[("misty", "adjust")]["output"] == B
    assert teacher.run_id != everyone.run_id and everyone.params["arms"] == "all"
    assert everyone.n_responses == teacher.n_responses + 7 and not everyone.params.get("deduped_intents")
    # the setting is the default
    by_setting, _ = pick(settings.model_copy(update={"groundtruth_arms": "teacher"}), engine)
    assert by_setting.run_id == teacher.run_id and not by_setting.created
    with pytest.raises(ValueError, match="arms"):
        run_groundtruth(settings, engine=engine, arms="students")  # type: ignore[arg-type]
