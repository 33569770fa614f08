"""The statistics that decide, against known answers (pure, seeded, no services): user-level delta method, the
confidence sequence's boundary, its error over repeated looks against the fixed interval's, and the rule's checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flywheel.experiments.rule import KEEP, ROLL_BACK, SHIP, ArmOps, DecisionRule, Look, decide
from flywheel.experiments.savings import overall, totals
from flywheel.experiments.sequential import (
    ArmSums,
    RatioInterval,
    boundary_factor,
    fixed_ratio,
    intersect,
    mixture_rho2,
    sequential_ratio,
)
from flywheel.reports.ab_stats import rate_ratio


def test_one_project_per_user_is_the_binomial_delta_method():
    # x exports out of m users with one project each: Var(log p) = (1-p)/(p m) * m/(m-1) (sample variance).
    s = ArmSums.of([(1, 1)] * 60 + [(0, 1)] * 40)
    t = ArmSums.of([(1, 1)] * 50 + [(0, 1)] * 50)
    ours = fixed_ratio(s, t)
    ref = rate_ratio(60, 100, 50, 100)
    assert ours.ratio == pytest.approx(1.2)
    assert ours.se_log == pytest.approx(ref.se_log * math.sqrt(100 / 99), rel=1e-9)


def test_users_with_many_projects_widen_the_interval():
    # Same projects and exports, but grouped in users whose projects all export or all do not (perfect clustering):
    # the effective sample is the users, so the interval must be wider than the per-project one.
    s_clustered = ArmSums.of([(5, 5)] * 12 + [(0, 5)] * 8)
    s_flat = ArmSums.of([(1, 1)] * 60 + [(0, 1)] * 40)
    t = ArmSums.of([(1, 1)] * 50 + [(0, 1)] * 50)
    assert s_clustered.rate == s_flat.rate == 0.6
    wide, narrow = fixed_ratio(s_clustered, t), fixed_ratio(s_flat, t)
    assert (wide.ci_high - wide.ci_low) > 1.5 * (narrow.ci_high - narrow.ci_low)


def test_boundary_known_values():
    # rho^2 t* = -2 ln a + ln(1 - 2 ln a) (Waudby-Smith et al. 2024, eq. 9); at t* and alpha 0.05 the factor is 3.03.
    a = 0.05
    expected = -2 * math.log(a) + math.log(1 - 2 * math.log(a))
    assert mixture_rho2(alpha=a, design_users=1000) * 1000 == pytest.approx(expected)
    f = boundary_factor(users=1000, alpha=a, design_users=1000)
    tr = 1000 * mixture_rho2(alpha=a, design_users=1000)
    assert f == pytest.approx(math.sqrt(2 * (tr + 1) / tr * math.log(math.sqrt(tr + 1) / a)))
    assert f == pytest.approx(3.03, abs=0.01)
    # Wider than z = 1.96 everywhere; grows like sqrt(log t) far past the design size.
    assert all(boundary_factor(users=n, alpha=a, design_users=1000) > 1.96 for n in (10, 1000, 10**6))
    assert boundary_factor(users=10**6, alpha=a, design_users=1000) > f


def test_sequential_interval_contains_the_fixed_one():
    s = ArmSums.of([(2, 3)] * 300 + [(0, 2)] * 200)
    t = ArmSums.of([(1, 3)] * 300 + [(1, 2)] * 200)
    fx, sq = fixed_ratio(s, t), sequential_ratio(s, t, alpha=0.05, design_users=1000)
    assert sq.ratio == fx.ratio
    assert sq.ci_low < fx.ci_low < fx.ci_high < sq.ci_high


def test_no_interval_without_users_or_exports():
    assert fixed_ratio(ArmSums(), ArmSums.of([(1, 1), (0, 1)])).ratio is None
    assert sequential_ratio(ArmSums.of([(0, 1), (0, 2)]), ArmSums.of([(1, 1), (0, 1)]), alpha=.05,
                            design_users=10).ci_low is None
    with pytest.raises(ValueError):
        ArmSums.of([(3, 2)])


def test_running_intersection_never_widens():
    a = RatioInterval(1.0, 0.9, 1.1, 0.05, 100)
    b = RatioInterval(1.05, 0.95, 1.2, 0.04, 200)
    c = intersect(a, b)
    assert (c.ci_low, c.ci_high, c.ratio) == (0.95, 1.1, 1.05)
    assert intersect(None, b) == b


def _aa_errors(*, reps: int, looks: int, users_per_look: int, seed: int) -> tuple[float, float]:
    """A/A over ``looks`` daily looks: how often the sequence, and the fixed interval read at every look, ever
    exclude 1. Users have 1..4 projects (more for some), each exporting with the user's own probability."""
    rng = np.random.default_rng(seed)
    seq_err = fix_err = 0
    for _ in range(reps):
        s_tot, t_tot = ArmSums(), ArmSums()
        seq_bad = fix_bad = False
        for _ in range(looks):
            for arm in ("s", "t"):
                n = rng.integers(1, 5, users_per_look) * rng.choice([1, 3], users_per_look, p=[.8, .2])
                p = rng.beta(6, 4, users_per_look)
                x = rng.binomial(n, p)
                add = ArmSums(users_per_look, float(x.sum()), float(n.sum()), float((x * x).sum()),
                              float((n * n).sum()), float((x * n).sum()))
                if arm == "s":
                    s_tot = s_tot + add
                else:
                    t_tot = t_tot + add
            sq = sequential_ratio(s_tot, t_tot, alpha=0.05, design_users=2 * users_per_look * looks)
            fx = fixed_ratio(s_tot, t_tot)
            assert sq.ci_low is not None and sq.ci_high is not None and fx.ci_low is not None \
                and fx.ci_high is not None
            seq_bad |= not (sq.ci_low <= 1 <= sq.ci_high)
            fix_bad |= not (fx.ci_low <= 1 <= fx.ci_high)
        seq_err += seq_bad
        fix_err += fix_bad
    return seq_err / reps, fix_err / reps


def test_peeking_breaks_the_fixed_interval_not_the_sequence():
    seq, fixed = _aa_errors(reps=400, looks=15, users_per_look=200, seed=1)
    assert seq <= 0.05
    assert fixed > 0.12  # read every day, the 95 % fixed interval "finds" a difference far more than 5 % of the time


RULE = DecisionRule(margin=0.96, alpha=0.05, design_users=4000, min_users_per_arm=300, guardrail_min_responses=100)
W = {"student": 0.5, "teacher": 0.5}


def _arm(users: int, rate: float) -> ArmSums:
    k = round(users * rate)
    return ArmSums.of([(1, 1)] * k + [(0, 1)] * (users - k))


@pytest.mark.parametrize(("student", "teacher", "outcome", "check"), [
    (_arm(3000, .72), _arm(3000, .70), SHIP, "non_inferior"),
    (_arm(3000, .60), _arm(3000, .70), ROLL_BACK, "inferior"),
    (_arm(3000, .68), _arm(3000, .70), KEEP, "undecided"),
    (_arm(100, .80), _arm(100, .70), KEEP, "min_sample"),
    (_arm(3000, .72), _arm(2600, .70), ROLL_BACK, "srm"),
])
def test_rule_outcomes(student: ArmSums, teacher: ArmSums, outcome: str, check: str):
    d = decide(rule=RULE, look=Look(student=student, teacher=teacher, weights=W))
    assert (d.outcome, d.check) == (outcome, check), d.reason
    lo_seq, lo_fixed = d.sequential.ci_low, d.fixed.ci_low
    assert lo_fixed is None or (lo_seq is not None and lo_seq <= lo_fixed)


@pytest.mark.parametrize(("ops", "check"), [
    (ArmOps(500, 0, 0, 40.0, 2500.0), "guardrail_latency"),
    (ArmOps(500, 40, 0, 40.0, 90.0), "guardrail_fallback"),
    (ArmOps(500, 20, 15, 40.0, 90.0), "guardrail_contract"),
])
def test_guardrails_roll_back_a_winning_student(ops: ArmOps, check: str):
    look = Look(student=_arm(3000, .72), teacher=_arm(3000, .70), weights=W, student_ops=ops,
                teacher_ops=ArmOps(500, 0, 0, 900.0, 1800.0))
    d = decide(rule=RULE, look=look)
    assert (d.outcome, d.check) == (ROLL_BACK, check), d.reason
    # Too few responses to read a guardrail: the ratio decides.
    few = Look(student=look.student, teacher=look.teacher, weights=W, student_ops=ArmOps(50, 40, 15, 1.0, 9e9))
    assert decide(rule=RULE, look=few).outcome == SHIP


def test_savings_totals():
    rows = [
        {"day": "d1", "arm": "student", "responses": 100, "teacher_calls": 10, "student_calls": 90,
         "teacher_calls_avoided": 90, "teacher_tokens_avoided": 63000, "teacher_usd_avoided": 0.126,
         "spend_usd": 0.0158, "p50_latency_ms": 20, "p95_latency_ms": 50, "projects": 40, "exported": 30},
        {"day": "d2", "arm": "student", "responses": 300, "teacher_calls": 0, "student_calls": 300,
         "teacher_calls_avoided": 300, "teacher_tokens_avoided": 210000, "teacher_usd_avoided": 0.42,
         "spend_usd": 0.006, "p50_latency_ms": 40, "p95_latency_ms": 70, "projects": 100, "exported": 70},
        {"day": "d1", "arm": "teacher", "responses": 100, "teacher_calls": 100, "student_calls": 0,
         "teacher_calls_avoided": 0, "teacher_tokens_avoided": 0, "teacher_usd_avoided": 0, "spend_usd": 0.14,
         "p50_latency_ms": 1800, "p95_latency_ms": 3000, "projects": 40, "exported": 28},
    ]
    t = totals(rows)
    assert t["student"]["teacher_calls_avoided"] == 390
    assert t["student"]["usd_per_completed_project"] == pytest.approx(0.0218 / 100)
    assert t["student"]["mean_daily_p95_ms"] == pytest.approx((100 * 50 + 300 * 70) / 400)
    assert t["teacher"]["usd_per_completed_project"] == pytest.approx(0.14 / 28)
    o = overall(rows)
    assert o["teacher_usd_avoided"] == pytest.approx(0.546)
    assert o["student_share_of_calls"] == pytest.approx(390 / 500)
