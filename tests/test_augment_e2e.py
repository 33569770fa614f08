"""End to end, small: train a tiny student (the local launcher), mine its training mistakes, paraphrase them through the
teacher-server over HTTP, register derived splits, retrain between rounds; K = 2."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from flywheel.augment.pipeline import LINEAGE_FILE, RoundResult, augment_split
from flywheel.contracts import TOOLS
from flywheel_lab.simulator.local_teacher import local_teacher

pytestmark = pytest.mark.slow

WORLD_SEED, BASES = 5, 16


@pytest.fixture(scope="module")
def world():
    from flywheel_lab.simulator.world import build_world

    return build_world(WORLD_SEED, BASES)


@pytest.fixture(scope="module")
def parent(settings, world):
    """Teacher answers = each family's ideal; 3 variants per family for train, the 4th for test."""
    from flywheel.datasets.splits import register_split

    train, test = [], []
    for b in world.bases:
        rows = [{"intent": v, **{t: b.ideal[t] for t in TOOLS}, "support": 2} for v in b.variants[:4]]
        train += rows[:3]
        test += rows[3:]
    return register_split(settings, train, test, parent_split_id=None, groundtruth_run_id=None,
                          params={"method": "fixture", "world_seed": WORLD_SEED})


def test_two_rounds_with_retraining(settings, engine, world, parent) -> None:
    from flywheel.augment.pipeline import train_on_split
    from flywheel.datasets.splits import load_split_rows, split_dir
    from flywheel.training.config import NgramConfig

    cfg = NgramConfig(max_steps=12, batch_size=32, lr=3e-3, warmup_steps=2, evaluate_test=False)
    model0 = train_on_split(settings, parent, cfg)
    rounds: list[RoundResult] = []
    with local_teacher(settings, WORLD_SEED, base_intents=BASES) as s:
        last = augment_split(s, model0, parent, iterations=2, train_config=cfg, rounds=rounds, progress=False)

    assert [r.iteration for r in rounds] == [1, 2] and last == rounds[1].split_id
    assert rounds[0].model_id == model0 and rounds[1].model_id != model0  # retrained between rounds
    assert rounds[1].parent_split_id == rounds[0].split_id
    assert rounds[0].n_added > 0 and rounds[0].n_paraphrase_failures == 0
    assert rounds[1].mining["baseline"] == pytest.approx(rounds[0].mining["baseline"], abs=1e-6)

    with engine.connect() as conn:
        chain = dict(conn.execute(text("SELECT split_id, parent_split_id FROM splits")).all())
        run = conn.execute(text("SELECT status, inputs, outputs FROM pipeline_runs WHERE stage = 'augment'")).one()
    assert chain[last] == rounds[0].split_id and chain[rounds[0].split_id] == parent
    assert run.status == "succeeded" and len(run.outputs["rounds"]) == 2 and run.outputs["split_id"] == last
    assert run.inputs["iterations"] == 2

    test_intents = {r["intent"] for r in load_split_rows(settings, parent, "test")}
    final_train = {r["intent"]: r for r in load_split_rows(settings, last, "train")}
    assert not set(final_train) & test_intents
    assert load_split_rows(settings, last, "test") == load_split_rows(settings, parent, "test")
    lineage = [json.loads(x) for x in (split_dir(settings, last) / LINEAGE_FILE).read_text().splitlines()]
    assert len(lineage) == rounds[0].n_added + rounds[1].n_added == len(final_train) - 3 * BASES
    for rec in lineage:
        # The simulator knows the families: a paraphrase is a member of its root's family and got its answers.
        root = world.base_of(rec["root"])
        assert world.base_of(rec["intent"]) is root
        assert {t: final_train[rec["intent"]][t] for t in TOOLS} == {t: root.ideal[t] for t in TOOLS}
