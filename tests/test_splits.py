"""Splits (docs/domain.md#splits): deterministic by seed, unique intents, no leakage, Set table, r_k, JSONL files."""

from __future__ import annotations

import json

import pytest

from flywheel.contracts import ADJUST_KEYS
from flywheel.datasets.groundtruth import run_groundtruth
from flywheel.datasets.splits import (
    SplitError,
    get_split,
    load_split_rows,
    make_split,
    register_split,
    split_dir,
)
from tests.support.events import clear_events, write_varied_events

N_INTENTS = 60


@pytest.fixture(scope="module")
def run(settings, engine):
    clear_events(engine)
    write_varied_events(engine, N_INTENTS)
    return run_groundtruth(settings, engine=engine)


def test_split_is_deterministic_by_seed_and_has_no_leakage(settings, engine, run):
    a = make_split(settings, run.run_id, test_size=10, seed=1, engine=engine)
    again = make_split(settings, run.run_id, test_size=10, seed=1, engine=engine)
    b = make_split(settings, run.run_id, test_size=10, seed=2, engine=engine)
    assert a.created and not again.created and again.split_id == a.split_id
    test_a = {r["intent"] for r in load_split_rows(settings, a.split_id, "test")}
    train_a = {r["intent"] for r in load_split_rows(settings, a.split_id, "train")}
    test_b = {r["intent"] for r in load_split_rows(settings, b.split_id, "test")}
    assert len(test_a) == 10 and len(train_a) == N_INTENTS - 10
    assert not test_a & train_a and test_a | train_a == {f"intent number {i}" for i in range(N_INTENTS)}
    assert test_a != test_b
    # Determinism is content-based, not row-order based: a fresh database with the same events gives the same test.
    from sqlalchemy import text

    with engine.connect() as conn:
        stored = {r[0] for r in conn.execute(text(
            "SELECT intent FROM split_members WHERE split_id = :s AND part = 'test'"), {"s": a.split_id})}
    assert stored == test_a


def test_set_table_r_k_and_files(settings, engine, run):
    res = make_split(settings, run.run_id, test_size=12, seed=3, engine=engine)
    test = load_split_rows(settings, res.split_id, "test")
    train = load_split_rows(settings, res.split_id, "train")
    for part, rows in (("train", train), ("test", test)):
        for tool in ("adjust", "selective_adjust", "filter"):
            cell = res.set_table[part][tool]
            assert cell == {"used": sum(r[tool] is not None for r in rows), "all": len(rows)}
    assert res.r_sizes == {"r_3": sum(r["support"] >= 3 for r in test), "r_5": sum(r["support"] >= 5 for r in test)}
    assert 0 < res.r_sizes["r_5"] < res.r_sizes["r_3"] < 12
    row = next(r for r in train if r["adjust"] is not None)
    assert list(row) == ["intent", "adjust", "selective_adjust", "filter", "support"]
    assert list(row["adjust"]) == list(ADJUST_KEYS)  # contract order, not JSONB order
    sel = next(r for r in train if r["selective_adjust"] is not None)["selective_adjust"]
    assert sel == {"red": {"saturation": 10, "luminance": -5}} and list(sel["red"]) == ["saturation", "luminance"]
    flt = next(r for r in train if r["filter"] is not None)["filter"]
    assert list(flt) == ["name", "intensity"]
    meta = json.loads((split_dir(settings, res.split_id) / "meta.json").read_text())
    assert meta["split_id"] == res.split_id and meta["parent_split_id"] is None
    assert meta["groundtruth_run_id"] == run.run_id and meta["seed"] == 3 and meta["test_size"] == 12
    assert meta["counts"] == {"train": N_INTENTS - 12, "test": 12}


def test_bad_sizes_are_clear_errors(settings, engine, run):
    with pytest.raises(SplitError, match="leaves no training data"):
        make_split(settings, run.run_id, test_size=N_INTENTS, engine=engine)
    with pytest.raises(SplitError, match=">= 1"):
        make_split(settings, run.run_id, test_size=0, engine=engine)
    with pytest.raises(SplitError, match="does not exist"):
        make_split(settings, "gt-nope", test_size=5, engine=engine, validate=False)


def test_register_derived_split(settings, engine, run):
    base = make_split(settings, run.run_id, test_size=10, seed=1, engine=engine)
    train = load_split_rows(settings, base.split_id, "train")
    test = load_split_rows(settings, base.split_id, "test")
    extra = [dict(train[0], intent=train[0]["intent"] + " please", support=0)]
    sid = register_split(settings, train + extra, test, base.split_id, run.run_id, {"augment": "paraphrase"},
                         engine=engine)
    derived = get_split(settings, sid, engine=engine)
    assert derived.parent_split_id == base.split_id and derived.counts["train"] == len(train) + 1
    assert len(load_split_rows(settings, sid, "train")) == len(train) + 1
    meta = json.loads((split_dir(settings, sid) / "meta.json").read_text())
    assert meta["parent_split_id"] == base.split_id
    with pytest.raises(SplitError, match="duplicate"):
        register_split(settings, train + train[:1], test, base.split_id, run.run_id, {}, engine=engine)
    with pytest.raises(SplitError, match="intent"):
        register_split(settings, [{"adjust": None}], test, base.split_id, run.run_id, {}, engine=engine)
    with pytest.raises(SplitError, match="parent split"):
        register_split(settings, train, test, "sp-missing", run.run_id, {}, engine=engine)
