"""The paired referee: every project's teacher counterfactual is the teacher stand-in's exact expected export
probability, so a teacher-vs-teacher comparison is 1 in expectation and a student is judged on its own projects."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flywheel_lab.simulator import users
from flywheel_lab.simulator.paired import paired_by_arm, truth_by_arm
from flywheel_lab.simulator.plan import (
    Answer,
    PlannedProject,
    ProjectOutcome,
    RequestFailed,
    direct_responder,
    run_project,
    seeded_uuid,
    teacher_export_probability,
)
from flywheel_lab.simulator.run import generate_events, plan_period
from flywheel_lab.simulator.teacher import SimTeacher
from flywheel_lab.simulator.world import World, build_world

SEED, BASES = 11, 120


def _fixed(arm: str, answer: Any) -> Any:
    """A responder that shows ``answer(intent)`` for every request, under the name ``arm``."""
    def respond(pp: PlannedProject, intent: str, at: datetime, rng: random.Random, emit: Any) -> Answer:
        return Answer(seeded_uuid(rng), answer(intent), 1000.0, arm)
    return respond


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def test_the_counterfactual_is_the_teachers_exact_expectation_for_that_project():
    world = build_world(SEED, BASES)
    teacher = SimTeacher(world)
    respond = direct_responder(teacher, "sim")
    pp = next(pp for pp in plan_period(world, 200, 1, SEED).projects if len(pp.intents) == 3)
    runs = [run_project(replace(pp, project_id=f"replica-{k}"), world, SEED, respond, lambda ev: None,
                        teacher=teacher) for k in range(1500)]
    expected = runs[0].p_export_teacher
    assert all(o.p_export_teacher == expected for o in runs)  # the same intents and user: one number
    mean, sd = _mean_sd([o.p_export for o in runs])
    assert abs(mean - expected) < 4 * sd / math.sqrt(len(runs)), (mean, expected)
    assert teacher_export_probability(pp.intents, world, SimTeacher(world), 1.0) > 0


def test_teacher_vs_teacher_is_one_in_expectation_and_the_outcomes_are_split_by_novelty():
    outcomes: list[ProjectOutcome] = []
    list(generate_events(SEED, 400, 2, base_intents=BASES, new_share=0.3, period=1, outcomes=outcomes))
    diffs = [o.p_export - o.p_export_teacher for o in outcomes]
    mean, sd = _mean_sd(diffs)
    assert abs(mean) < 4 * sd / math.sqrt(len(diffs))
    paired = paired_by_arm(outcomes)["teacher"]
    assert set(paired) == {"all", "seen", "new"}
    assert paired["seen"]["n"] + paired["new"]["n"] == paired["all"]["n"] == len(outcomes)
    assert 0.2 < paired["new"]["n"] / paired["all"]["n"] < 0.4
    for sub in paired.values():
        assert abs(sub["paired_ratio"] - 1) < 0.05 and sub["paired_ratio"] == sub["true_rate"] / sub["teacher_rate"]
    flat = truth_by_arm(outcomes)["teacher"]
    assert flat["projects"] == len(outcomes) and flat["paired_ratio"] == paired["all"]["paired_ratio"]


def _ideal(world: World) -> Any:
    return lambda intent: world.latent(intent)[3]


def _wrong(world: World) -> Any:
    other = {b.base_id: world.bases[(i + len(world.bases) // 2) % len(world.bases)].ideal
             for i, b in enumerate(world.bases)}
    return lambda intent: other[world.latent(intent)[0]]


def test_a_student_is_judged_against_the_teacher_on_its_own_projects():
    world = build_world(SEED, BASES)
    teacher = SimTeacher(world)
    plan = plan_period(world, 300, 1, SEED + 1000, new_share=0.3, period=1)
    outcomes = []
    for k, pp in enumerate(plan.projects):
        respond = _fixed("student", _ideal(world)) if k % 2 else _fixed("worse", _wrong(world))
        outcomes.append(run_project(pp, world, SEED, respond, lambda ev: None, teacher=teacher))
    paired = paired_by_arm(outcomes)
    # Always the hidden ideal beats the teacher's noisy answers; another look's ideal loses badly, seen or new.
    for sub in ("all", "seen", "new"):
        assert paired["student"][sub]["paired_ratio"] > 1.05, paired["student"][sub]
        assert paired["worse"][sub]["paired_ratio"] < 0.7, paired["worse"][sub]
    # Each arm's teacher rate is the teacher on that arm's projects, not a shared number.
    assert paired["student"]["all"]["teacher_rate"] != paired["worse"]["all"]["teacher_rate"]


def test_a_failed_request_keeps_the_counterfactual_of_the_whole_project():
    world = build_world(SEED, BASES)
    teacher = SimTeacher(world)

    def broken(pp: PlannedProject, intent: str, at: datetime, rng: random.Random, emit: Any) -> Answer:
        raise RequestFailed("down")

    pp = PlannedProject("p1", "u1", datetime(2026, 7, 2, tzinfo=UTC), (world.bases[0].canonical, "sunkissed"), "5.3.0")
    o = run_project(pp, world, SEED, broken, lambda ev: None, teacher=teacher)
    assert o.failed == 1 and o.p_export == 0.0 and o.arm is None  # the user gave up: no arm, left out of the truth
    factor = users.user_factor("u1", SEED)
    assert o.p_export_teacher == teacher_export_probability(pp.intents, world, teacher, factor) > 0
