"""The decision rule proved on the simulator: many seeded experiments, day after day, without services.

A pool of demo-sized days is planned once (the simulator's users, projects and each project's exact teacher export
probability: :func:`flywheel_lab.simulator.plan.teacher_export_probability`, the paired referee). Each replicate then
draws its own assignment (users to arms by ``weight``) and its own exports: a teacher-arm project exports with its
probability p, a student-arm project with min(0.99, p * truth), so the student's true ratio is ``truth`` by
construction (1.0 is an A/A test: teacher against teacher). Each day adds that day's users to the per-user sums and
:func:`flywheel.experiments.rule.decide` looks once; the first ship or roll back ends the replicate. The simulator's
parameters are untouched: only which arm a project is in and the student's multiplier are the experiment's.

Reported per truth: shares shipped / rolled back / undecided by ``max_days``, the days to each decision, and, for
contrast, how often reading the daily fixed-horizon 95 % interval every day would have "found" a difference.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from flywheel.experiments.rule import KEEP, ROLL_BACK, SHIP, DecisionRule, Look, decide
from flywheel.experiments.sequential import ArmSums, RatioInterval

TRUTHS = (1.0, 0.96, 1.03, 0.90)  # A/A, a student exactly at the margin, 3 % better, 10 % worse


@dataclass(frozen=True)
class Day:
    user: np.ndarray  # per project: the user's index within the day (users do not recur across A/B days)
    p: np.ndarray  # per project: the teacher's exact export probability for that user and those intents
    users: int


@dataclass
class TruthResult:
    truth: float
    replicates: int
    shipped: int = 0
    rolled_back: int = 0
    undecided: int = 0
    days_to_ship: list[int] = field(default_factory=list)
    days_to_roll_back: list[int] = field(default_factory=list)
    # Over the same replicates, with no stopping: did an interval ever exclude 1?
    sequential_excludes_1: int = 0
    daily_fixed_excludes_1: int = 0  # each day's own fixed 95 % interval (the old daily reading)
    cumulative_fixed_excludes_1: int = 0  # the fixed 95 % interval of the data so far, read every day
    log_ratio_day1: list[float] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)  # the check behind each ship / roll back

    def summary(self) -> dict[str, Any]:
        def med(xs: list[int]) -> float | None:
            return statistics.median(xs) if xs else None

        def p90(xs: list[int]) -> float | None:
            return float(np.percentile(xs, 90)) if xs else None

        r = self.replicates
        return {"truth": self.truth, "replicates": r, "ship_rate": self.shipped / r,
                "roll_back_rate": self.rolled_back / r, "undecided_rate": self.undecided / r,
                "median_days_to_ship": med(self.days_to_ship), "p90_days_to_ship": p90(self.days_to_ship),
                "median_days_to_roll_back": med(self.days_to_roll_back),
                "p90_days_to_roll_back": p90(self.days_to_roll_back),
                "sequential_excludes_1_rate": self.sequential_excludes_1 / r,
                "daily_fixed_excludes_1_rate": self.daily_fixed_excludes_1 / r,
                "cumulative_fixed_excludes_1_rate": self.cumulative_fixed_excludes_1 / r,
                "checks": dict(sorted(self.checks.items())),
                "sd_log_ratio_one_day": statistics.pstdev(self.log_ratio_day1) if len(self.log_ratio_day1) > 1
                else None}


def plan_days(*, n_days: int, seed: int, intents: int, fraction: float, new_share: float) -> list[Day]:
    """``n_days`` A/B days of the demo's world, planned as the demo plans them (seed + 1000 * day)."""
    from flywheel_lab.simulator import users as sim_users
    from flywheel_lab.simulator.plan import teacher_export_probability
    from flywheel_lab.simulator.run import plan_period
    from flywheel_lab.simulator.teacher import SimTeacher
    from flywheel_lab.simulator.world import build_world

    world = build_world(seed)
    teacher = SimTeacher(world)
    out = []
    for k in range(1, n_days + 1):
        day_seed = seed + 1000 * k
        plan = plan_period(world, intents, 1, day_seed, project_fraction=fraction, new_share=new_share, period=k)
        index: dict[str, int] = {}
        u = np.array([index.setdefault(pp.user_id, len(index)) for pp in plan.projects], dtype=np.int64)
        p = np.array([teacher_export_probability(pp.intents, world, teacher,
                                                 sim_users.user_factor(pp.user_id, day_seed))
                      for pp in plan.projects])
        out.append(Day(u, p, len(index)))
    return out


def _sums(x: np.ndarray, n: np.ndarray) -> ArmSums:
    return ArmSums(int(len(n)), float(x.sum()), float(n.sum()), float((x * x).sum()), float((n * n).sum()),
                   float((x * n).sum()))


def _day_sums(day: Day, truth: float, weight: float, rng: np.random.Generator) -> tuple[ArmSums, ArmSums]:
    in_student = rng.random(day.users) < weight
    student_project = in_student[day.user]
    p = np.where(student_project, np.minimum(0.99, day.p * truth), day.p)
    exported = (rng.random(len(p)) < p).astype(np.float64)
    x = np.bincount(day.user, weights=exported, minlength=day.users)
    n = np.bincount(day.user, minlength=day.users).astype(np.float64)
    return _sums(x[in_student], n[in_student]), _sums(x[~in_student], n[~in_student])


def _excludes_1(iv: RatioInterval) -> bool:
    return iv.ci_low is not None and iv.ci_high is not None and (iv.ci_low > 1 or iv.ci_high < 1)


def run_truth(*, days: list[Day], truth: float, replicates: int, max_days: int, rule: DecisionRule,
              weight: float = 0.5, seed: int = 0) -> TruthResult:
    """``replicates`` experiments of one truth; replicate r walks the pool in its own seeded order."""
    from flywheel.experiments.sequential import fixed_ratio

    res = TruthResult(truth, replicates)
    weights = {"student": weight, "teacher": 1 - weight}
    for r in range(replicates):
        rng = np.random.default_rng([seed, r, round(truth * 1e4)])
        order = rng.permutation(len(days))[:max_days]
        s_tot, t_tot = ArmSums(), ArmSums()
        running: RatioInterval | None = None
        decided: str | None = None
        flags = {"seq": False, "daily": False, "cum": False}
        for k, idx in enumerate(order, start=1):
            s_day, t_day = _day_sums(days[idx], truth, weight, rng)
            s_tot, t_tot = s_tot + s_day, t_tot + t_day
            d = decide(rule=rule, look=Look(student=s_tot, teacher=t_tot, weights=weights), previous=running)
            running = d.sequential
            day_fixed = fixed_ratio(s_day, t_day)
            if k == 1 and day_fixed.ratio:
                res.log_ratio_day1.append(math.log(day_fixed.ratio))
            flags["seq"] |= _excludes_1(d.sequential)
            flags["daily"] |= _excludes_1(day_fixed)
            flags["cum"] |= _excludes_1(d.fixed)
            if decided is None and d.outcome != KEEP:
                decided = d.outcome
                res.checks[d.check] = res.checks.get(d.check, 0) + 1
                if d.outcome == SHIP:
                    res.shipped += 1
                    res.days_to_ship.append(k)
                elif d.outcome == ROLL_BACK:
                    res.rolled_back += 1
                    res.days_to_roll_back.append(k)
        res.undecided += decided is None
        res.sequential_excludes_1 += flags["seq"]
        res.daily_fixed_excludes_1 += flags["daily"]
        res.cumulative_fixed_excludes_1 += flags["cum"]
    return res


def run_study(*, seed: int = 7, intents: int = 3000, fraction: float = 0.3, new_share: float = 0.3,
              pool_days: int = 14, max_days: int = 14, replicates: int = 200, weight: float = 0.5,
              truths: tuple[float, ...] = TRUTHS, rule: DecisionRule | None = None) -> list[dict[str, Any]]:
    """Every truth's summary (one dict per truth) over one pool of planned days."""
    rule = rule or DecisionRule()
    pool = plan_days(n_days=max(pool_days, max_days), seed=seed, intents=intents, fraction=fraction,
                     new_share=new_share)
    out = []
    for truth in truths:
        res = run_truth(days=pool, truth=truth, replicates=replicates, max_days=max_days, rule=rule, seed=seed,
                        weight=weight)
        out.append(res.summary() | {"rule": asdict(rule), "projects_per_day": round(
            statistics.mean(len(d.p) for d in pool)), "users_per_day": round(statistics.mean(d.users for d in pool))})
    return out
