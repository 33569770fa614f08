"""The reality check against the real embedded Postgres: batch preparation, assignment rules, simulated annotators,
the report (Fleiss' kappa from statsmodels) against the analytics view, and the annotation app over HTTP."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session
from statsmodels.stats.inter_rater import fleiss_kappa

from flywheel.annotate import store
from flywheel.annotate.app import create_app
from flywheel.annotate.batch import prepare_batch
from flywheel.annotate.report import auc, kappa, summarise
from flywheel.contracts import load_tool_contracts
from flywheel_lab.checks.annotators import edit_distance, fill_batch, p_yes, relevance_agreement
from tests.support.reality import fake_predict, index, seed_model, student_edit, teacher_edit

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def batch(settings, engine):
    truth = seed_model(engine, settings.artifacts_dir)
    res = prepare_batch(settings, model_id="m-reality", predict=fake_predict, engine=engine)
    return res, truth


def test_kappa_and_auc_are_the_textbook_values():
    assert kappa([3, 3, 0, 0], 3) == pytest.approx(1.0)
    table = np.array([[2, 1], [1, 2], [3, 0], [0, 3], [2, 1]])
    assert kappa([2, 1, 3, 0, 2], 3) == pytest.approx(fleiss_kappa(table))
    assert kappa([3, 3, 3], 3) is None           # one category only: undefined
    assert auc([1.0, 2.0], [3.0, 4.0]) == 1.0 and auc([3.0], [1.0]) == 0.0 and auc([1.0], [1.0]) == 0.5


def test_simulated_annotators_follow_distance():
    filters = load_tool_contracts().filters
    near = edit_distance(student_edit(0), teacher_edit(0), filters)
    far = edit_distance(student_edit(1), teacher_edit(1), filters)
    assert near < 0.1 < 0.5 < far
    assert edit_distance(teacher_edit(2), teacher_edit(2), filters) == 0.0
    assert p_yes(near, 0.0) > 0.9 > 0.1 > p_yes(far, 0.0)


def test_prepare_batch(settings, engine, batch):
    res, _ = batch
    assert res.created and res.n_tasks == 15 and res.per_task == 3
    again = prepare_batch(settings, model_id="m-reality", predict=fake_predict, engine=engine)
    assert not again.created and again.batch_id == res.batch_id
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT intent, photo, delta_e, ssim, teacher, student FROM annotation_tasks"
                                 " WHERE batch_id = :b ORDER BY position"), {"b": res.batch_id}).mappings().all()
        run = conn.execute(text("SELECT status, outputs FROM pipeline_runs WHERE stage = 'reality_check'")).one()
    assert len(rows) == 15 and len({r["intent"] for r in rows}) == 15
    assert run.status == "succeeded" and run.outputs["batch_id"] == res.batch_id
    # The automatic mimicry scores tell the close student edits (even) from the unrelated ones (odd).
    close = [r for r in rows if index(r["intent"]) % 2 == 0]
    far = [r for r in rows if index(r["intent"]) % 2 == 1]
    assert max(r["delta_e"] for r in close) < min(r["delta_e"] for r in far)
    assert min(r["ssim"] for r in close) > max(r["ssim"] for r in far)
    assert all(r["teacher"] == teacher_edit(index(r["intent"])) for r in rows)


def test_answer_rules(settings, engine, batch):
    res, _ = batch
    with Session(engine) as s, s.begin():
        ids = [store.authenticate(s, name=n, token=store.add_annotator(s, name=n)) for n in ("r1", "r2", "r3", "r4")]
    assert all(ids)
    with Session(engine) as s:
        assert store.authenticate(s, name="r1", token="wrong") is None
        assert store.authenticate(s, name="nobody", token="x") is None
        first = store.next_task(s, annotator_id=ids[0], batch_id=res.batch_id)
    with Session(engine) as s, s.begin():
        store.submit_answer(s, task_id=first.task_id, annotator_id=ids[0], relevant=True, mimics=False)
    with pytest.raises(store.AnswerRefused), Session(engine) as s, s.begin():
        store.submit_answer(s, task_id=first.task_id, annotator_id=ids[0], relevant=True, mimics=True)
    with Session(engine) as s:
        # r1 never gets that task again; the others get it first (the task closest to done).
        assert store.next_task(s, annotator_id=ids[0], batch_id=res.batch_id).task_id != first.task_id
        assert store.next_task(s, annotator_id=ids[1], batch_id=res.batch_id).task_id == first.task_id
    for uid in ids[1:3]:
        with Session(engine) as s, s.begin():
            store.submit_answer(s, task_id=first.task_id, annotator_id=uid, relevant=False, mimics=False)
    with pytest.raises(store.AnswerRefused, match="already has its 3"), Session(engine) as s, s.begin():
        store.submit_answer(s, task_id=first.task_id, annotator_id=ids[3], relevant=True, mimics=True)


def test_simulated_batch_and_report_match_the_view(settings, engine, batch):
    res, truth = batch
    with Session(engine) as s:
        before = sum(len(t["votes"]) for t in store.batch_answers(s, batch_id=res.batch_id))
    stored = fill_batch(settings, batch_id=res.batch_id, truth_file=truth, n_annotators=5, engine=engine)
    assert stored == 15 * 3 - before   # every open place is answered, nothing more
    with engine.connect() as conn:
        per_task = conn.execute(text(
            "SELECT count(*), count(DISTINCT annotator_id) FROM annotation_answers a"
            " JOIN annotation_tasks t ON t.id = a.task_id WHERE t.batch_id = :b GROUP BY t.id"),
            {"b": res.batch_id}).all()
        view = conn.execute(text("SELECT * FROM analytics.reality_check WHERE batch_id = :b"),
                            {"b": res.batch_id}).mappings().one()
    assert len(per_task) == 15 and all(n == 3 and d == 3 for n, d in per_task)
    with Session(engine) as s:
        rep = summarise(s, batch_id=res.batch_id)
        votes = store.batch_answers(s, batch_id=res.batch_id)
    table = np.array([[sum(v[1] for v in t["votes"]), 3 - sum(v[1] for v in t["votes"])] for t in votes])
    assert rep.tasks_done == view["tasks_done"] == 15
    assert rep.kappa_mimicry == pytest.approx(fleiss_kappa(table)) == pytest.approx(view["kappa_mimicry"])
    assert rep.kappa_relevancy == pytest.approx(view["kappa_relevancy"], nan_ok=True)
    assert (rep.relevant, rep.mimicry) == (view["relevant"], view["mimicry"])
    assert rep.r_ssim_mimicry == pytest.approx(view["r_ssim_mimicry"])
    # Close edits (8 of 15 even positions or so) are judged as mimicking, unrelated ones not; scores agree.
    assert 4 <= rep.mimicry <= 11
    assert rep.r_ssim_mimicry > 0.5 and rep.r_delta_e_mimicry < -0.5 and rep.auc_delta_e_mimicry > 0.8
    rel = relevance_agreement(settings, batch_id=res.batch_id, truth_file=truth, engine=engine)
    assert rel["n"] == 15 and rel["r_delta_e_relevancy"] < -0.5
    assert "relevancy" in "\n".join(rep.lines())
    print("\n".join(rep.lines()), "\n  relevance (known answer):", rel)


def test_annotation_app(settings, engine, batch):
    # The first batch is answered in full by now: a second one (another seed) has open tasks.
    prepare_batch(settings, model_id="m-reality", predict=fake_predict, engine=engine, n_tasks=4, seed=1)
    with Session(engine) as s, s.begin():
        token = store.add_annotator(s, name="web-1")
    client = TestClient(create_app(engine, lut_dir=settings.artifacts_dir / "luts"))
    assert client.get("/task", follow_redirects=False).headers["location"] == "/signin"
    assert client.get("/image/1/original.jpg").status_code == 401
    assert client.post("/signin", data={"name": "web-1", "token": "nope"}).status_code == 401
    page = client.post("/signin", data={"name": "web-1", "token": token})
    assert page.status_code == 200 and 'id="intent"' in page.text and "Mimicry" in page.text
    task_id = int(page.text.split('name="task_id" value="')[1].split('"')[0])
    for which in ("original", "teacher", "student"):
        img = client.get(f"/image/{task_id}/{which}.jpg")
        assert img.status_code == 200 and Image.open(io.BytesIO(img.content)).format == "JPEG"
    saved = client.post("/answer", data={"task_id": task_id, "relevant": "yes", "mimics": "no"})
    assert saved.status_code == 200 and f"Saved your answer to task {task_id}" in saved.text
    with engine.connect() as conn:
        row = conn.execute(text("SELECT relevant, mimics FROM annotation_answers a JOIN annotators n"
                                " ON n.id = a.annotator_id WHERE n.name = 'web-1'")).one()
    assert tuple(row) == (True, False)
