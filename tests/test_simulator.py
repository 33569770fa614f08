"""Known-answer simulator: determinism, paraphrase families, the teacher stand-in, users, and publishing to Kafka."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from kafka import KafkaConsumer

from flywheel.contracts import TOOLS, UNIPOLAR_ADJUST_KEYS, load_tool_contracts, normalize_intent
from flywheel.events.validation import Accepted, load_validator
from flywheel_lab.simulator import users
from flywheel_lab.simulator.plan import make_plan, surface
from flywheel_lab.simulator.run import generate_events, simulate
from flywheel_lab.simulator.teacher import SimTeacher
from flywheel_lab.simulator.truth import load_truth, truth_path
from flywheel_lab.simulator.world import build_world

SEED, BASES, INTENTS, DAYS = 11, 60, 150, 3.0


def _events(seed: int = SEED) -> list[dict]:
    return list(generate_events(seed, INTENTS, DAYS, base_intents=BASES))


def test_same_seed_gives_the_same_events_and_they_meet_the_contracts():
    a, b = _events(), _events()
    assert a == b
    assert a != _events(SEED + 1)
    types = Counter(e["event_type"] for e in a)
    # Volume rule: every catalogue intent once plus 2x as many popular draws -> exactly 3 responses per intent.
    assert types["assistant_responded"] == types["intent_submitted"] == 3 * INTENTS
    assert len({normalize_intent(e["intent"]) for e in a if e["event_type"] == "intent_submitted"}) == INTENTS
    assert 0 < types["project_exported"] < types["project_started"]
    assert len({e["event_id"] for e in a}) == len(a)
    validator = load_validator()
    rejected = [r for e in a if not isinstance(r := validator.check(e, json.dumps(e)), Accepted)]
    assert not rejected, rejected[:3]
    times = [e["occurred_at"] for e in a if e["event_type"] == "project_started"]
    assert times[0].startswith("2026-07-01") and times[-1] < "2026-07-04T00:10"


def test_project_event_structure():
    by_project: dict[str, list[dict]] = {}
    for e in _events():
        by_project.setdefault(e["project_id"], []).append(e)
    for evs in by_project.values():
        assert evs[0]["event_type"] == "project_started"
        ts = [e["occurred_at"] for e in evs]
        assert ts == sorted(ts)
        responses = {e["request_id"]: e for e in evs if e["event_type"] == "assistant_responded"}
        exports = [e for e in evs if e["event_type"] == "tool_exported"]
        # one tool_exported per used tool of every response, none for unused tools
        want = sorted((rid, t) for rid, r in responses.items() for t in TOOLS if r["outputs"][t] is not None)
        assert sorted((e["request_id"], e["tool"]) for e in exports) == want
        if any(e["event_type"] == "project_exported" for e in evs):
            assert evs[-1]["event_type"] == "project_exported"


def test_paraphrase_families_map_to_the_same_latent_intent():
    world = build_world(SEED, BASES)
    assert world.lookup == build_world(SEED, BASES).lookup  # a teacher-server rebuilds the same world from the seed
    seen: set[str] = set()
    for b in world.bases:
        assert len(b.variants) >= 10
        assert not seen & set(b.variants)  # families are disjoint
        seen |= set(b.variants)
        for v in b.variants:
            base_id, _, _, ideal = world.latent(v.upper() + "!")  # case and punctuation do not matter
            assert base_id == b.base_id and ideal == b.ideal
    rng = random.Random(0)
    for norm, _, _ in world.catalogue(INTENTS):
        assert normalize_intent(surface(norm, rng)) == norm
    fam = world.paraphrases(world.bases[0].canonical, 5, rng)
    assert len(fam) == 5 and all(world.base_of(p) is world.bases[0] for p in fam)
    # different looks differ
    assert len({json.dumps(b.ideal, sort_keys=True) for b in world.bases}) == len(world.bases)


def test_latent_ideals_follow_attributes_and_the_filter_catalogue():
    world = build_world(SEED)
    usage = {t: sum(b.ideal[t] is not None for b in world.bases) / len(world.bases) for t in TOOLS}
    # near the paper's Set table (adjust 91 %, selective_adjust 34 %, filter 67 % used)
    assert usage["adjust"] > .85 and .2 < usage["selective_adjust"] < .5 and .55 < usage["filter"] < .85
    contracts = load_tool_contracts()
    for b in world.bases:
        for t in TOOLS:
            assert contracts.valid(t, b.ideal[t]), (b.base_id, t)
        a, adj = b.attrs, b.ideal["adjust"]
        if adj is not None and a.get("warm", 0) > .5:
            assert adj["temperature"] > 0
        if adj is not None and a.get("warm", 0) < -.5:
            assert adj["temperature"] < 0
        f = b.ideal["filter"]
        if f is not None and a.get("mono", 0) > .9:
            assert "mono" in world.filters[f["name"]]


def test_teacher_is_noisy_valid_and_sometimes_wrong():
    world = build_world(SEED, BASES)
    teacher = SimTeacher(world)
    contracts = load_tool_contracts()
    rng = random.Random(1)
    distinct, wrong_use, calls = 0, 0, 0
    for b in world.bases:
        answers = set()
        for _ in range(8):
            out, why = teacher.respond(b.canonical, rng)
            calls += 1
            for t in TOOLS:
                assert contracts.valid(t, out[t])
                assert isinstance(why[t], str) and why[t]
                wrong_use += (out[t] is None) != (b.ideal[t] is None)
            answers.add(json.dumps(out, sort_keys=True))
        distinct += len(answers) > 1
    assert distinct > len(world.bases) // 2  # answers differ between calls for most intents
    assert 0 < wrong_use < calls * len(TOOLS) * .2  # occasional wrong tool choice


def test_users_export_less_the_further_from_the_ideal():
    world = build_world(SEED, BASES)
    f = world.filters
    b = next(b for b in world.bases if b.ideal["adjust"] and b.ideal["filter"])
    ideal = b.ideal["adjust"]
    close = dict(ideal, contrast=ideal["contrast"] + 5)
    flipped = {k: -v if k not in UNIPOLAR_ADJUST_KEYS else v for k, v in ideal.items()}
    p = [users.export_probability("adjust", x, ideal, f) for x in (ideal, close, flipped)]
    assert p[0] >= p[1] > p[2] and p[0] > .7 and p[2] < .2
    other = next(n for n in f if not set(f[n]) & set(f[b.ideal["filter"]["name"]]))
    assert users.export_probability("filter", b.ideal["filter"], b.ideal["filter"], f) > .7
    assert users.export_probability("filter", {"name": other, "intensity": 50}, b.ideal["filter"], f) < .1
    assert users.export_probability("filter", None, b.ideal["filter"], f) == 0


def test_bad_arguments_are_refused_with_a_reason():
    world = build_world(SEED, BASES)
    with pytest.raises(ValueError, match="distinct intents"):
        world.catalogue(10**6)
    with pytest.raises(ValueError, match="--days"):
        make_plan(world, 10, 0, SEED)
    with pytest.raises(ValueError, match="n_base_intents"):
        build_world(SEED, 0)


def _read_topic(settings, n: int) -> list[dict]:
    consumer = KafkaConsumer(settings.events_topic, bootstrap_servers=settings.bootstrap(),
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5000,
                             group_id=None)
    try:
        out = []
        for msg in consumer:
            out.append(json.loads(msg.value))
            if len(out) >= n:
                break
        return out
    finally:
        consumer.close()


def test_simulate_publishes_exactly_the_generated_events_and_writes_the_truth(settings):
    summary = simulate(settings, INTENTS, DAYS, SEED, progress=False, base_intents=BASES)
    expected = _events()
    assert summary.events == len(expected) and summary.unique_intents == INTENTS
    assert summary.requests == 3 * INTENTS and summary.events_per_s > 0
    got = _read_topic(settings, len(expected))
    key = lambda e: e["event_id"]  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)
    # per project, Kafka order (one partition per key) is the app's order
    for pid in {e["project_id"] for e in expected[:200]}:
        assert [e for e in got if e["project_id"] == pid] == [e for e in expected if e["project_id"] == pid]
    truth = load_truth(truth_path(settings.artifacts_dir, SEED))
    assert len(truth) == INTENTS
    world = build_world(SEED, BASES)
    for norm, row in truth.items():
        assert world.base_of(norm).base_id == row.base_id and world.base_of(norm).ideal == row.ideal
