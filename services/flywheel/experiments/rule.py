"""The pre-registered decision rule of an experiment and the decision it gives on one look (pure, no I/O).

Order of the checks, first match wins (docs/domain.md#experiments-that-decide):
1. SRM (users per arm against the weights, chi-square p < srm_alpha): the assignment is broken, so no ratio can be
   trusted -> roll back to the teacher.
2. A guardrail of the student arm breached (each read only once it has ``guardrail_min_responses``): its own p95
   latency above ``max_student_p95_ms``, its fallback/failure rate (served by the teacher)
   above ``max_fallback_rate``, its contract-fix rate (fallbacks because its output broke a contract) above
   ``max_contract_fix_rate`` -> roll back.
3. The confidence sequence's upper bound below the margin (the student is significantly worse than allowed)
   -> roll back. This needs no minimum sample: the sequence is valid at every look.
4. Below the minimum sample (users per arm) -> keep testing.
5. The lower bound above the margin (non-inferior) -> ship.
6. Otherwise keep testing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from flywheel.experiments.sequential import ArmSums, RatioInterval, fixed_ratio, intersect, sequential_ratio
from flywheel.reports.ab_stats import SRM_ALPHA, srm_test

Outcome = Literal["ship", "keep_testing", "roll_back"]
SHIP: Outcome = "ship"
KEEP: Outcome = "keep_testing"
ROLL_BACK: Outcome = "roll_back"


@dataclass(frozen=True)
class DecisionRule:
    """What an experiment promises before it starts (stored with every decision, so a decision can be re-derived)."""

    margin: float = 0.96  # the student keeps >= 96 % of the teacher's completion (the paper's figure)
    alpha: float = 0.05  # two-sided error of the confidence sequence over all looks
    design_users: int = 4000  # users (both arms) at which the sequence is tightest
    min_users_per_arm: int = 300
    # The student's own p95 (fallbacks left out). Absolute, not relative to the teacher: a hosted teacher's
    # median is ~1.8 s, while the demo's local stand-in answers in milliseconds.
    max_student_p95_ms: float = 2000.0
    max_fallback_rate: float = 0.05
    max_contract_fix_rate: float = 0.02
    guardrail_min_responses: int = 200
    srm_alpha: float = SRM_ALPHA

    def __post_init__(self) -> None:
        if not 0 < self.margin <= 1.5 or not 0 < self.alpha < 1 or self.design_users < 1:
            raise ValueError(f"invalid decision rule {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ArmOps:
    """The operational figures of one arm on this look: its responses, how many the teacher served instead of the
    arm's own backend, how many of those because the output broke a contract, and its own latency percentiles
    (fallbacks left out, so the student is timed alone)."""

    responses: int = 0
    fallbacks: int = 0
    contract_fixes: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def fallback_rate(self) -> float | None:
        return self.fallbacks / self.responses if self.responses else None

    @property
    def contract_fix_rate(self) -> float | None:
        return self.contract_fixes / self.responses if self.responses else None


@dataclass(frozen=True)
class Look:
    """Everything one decision reads: per-user sums and operational figures of both arms, the configured weights."""

    student: ArmSums
    teacher: ArmSums
    weights: dict[str, float]
    student_ops: ArmOps = field(default_factory=ArmOps)
    teacher_ops: ArmOps = field(default_factory=ArmOps)
    # The arms' names in the reasons: a challenger phase compares (challenger, student) in these two places.
    labels: tuple[str, str] = ("student", "teacher")


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str  # which check decided, in words with its numbers
    check: str  # srm | guardrail_latency | guardrail_fallback | guardrail_contract | inferior | min_sample | ...
    sequential: RatioInterval  # this look's interval, intersected with the previous looks'
    fixed: RatioInterval  # the fixed-horizon reading of the same data (not used to decide)
    srm_p_value: float | None
    figures: dict[str, Any]


def _guardrail(rule: DecisionRule, look: Look) -> tuple[str, str] | None:
    s, t = look.student_ops, look.teacher_ops
    s_name, t_name = look.labels
    if s.responses < rule.guardrail_min_responses:
        return None
    if s.p95_ms is not None and s.p95_ms > rule.max_student_p95_ms:
        teacher = f" ({t_name}: {t.p95_ms:.0f} ms)" if t.p95_ms is not None else ""
        return "guardrail_latency", (f"{s_name} p95 latency {s.p95_ms:.0f} ms > {rule.max_student_p95_ms:g} ms"
                                     f"{teacher}")
    if (s.fallback_rate or 0.0) > rule.max_fallback_rate:
        return "guardrail_fallback", (f"{s_name} fallback rate {s.fallback_rate:.3f} ({s.fallbacks}/{s.responses}) "
                                      f"> {rule.max_fallback_rate:g}")
    if (s.contract_fix_rate or 0.0) > rule.max_contract_fix_rate:
        return "guardrail_contract", (f"{s_name} contract-fix rate {s.contract_fix_rate:.3f} "
                                      f"({s.contract_fixes}/{s.responses}) > {rule.max_contract_fix_rate:g}")
    return None


def decide(*, rule: DecisionRule, look: Look, previous: RatioInterval | None = None) -> Decision:
    """The outcome of one look; ``previous`` is the running interval of the earlier looks of the same phase."""
    seq = intersect(previous, sequential_ratio(look.student, look.teacher, alpha=rule.alpha,
                                               design_users=rule.design_users))
    fixed = fixed_ratio(look.student, look.teacher)
    srm_p = None
    positive = {a: w for a, w in look.weights.items() if w > 0}
    if len(positive) >= 2 and set(positive) == {"student", "teacher"}:
        srm = srm_test({"student": look.student.users, "teacher": look.teacher.users}, positive,
                       alpha=rule.srm_alpha)
        srm_p = srm.p_value
    figures = {"users_student": look.student.users, "users_teacher": look.teacher.users,
               "rate_student": look.student.rate, "rate_teacher": look.teacher.rate,
               "student_ops": asdict(look.student_ops), "teacher_ops": asdict(look.teacher_ops)}

    def out(outcome: Outcome, check: str, reason: str) -> Decision:
        return Decision(outcome, reason, check, seq, fixed, srm_p, figures)

    if srm_p is not None and srm_p < rule.srm_alpha:
        return out(ROLL_BACK, "srm", f"sample-ratio mismatch: users {look.student.users} {look.labels[0]} vs "
                                     f"{look.teacher.users} {look.labels[1]}, p = {srm_p:.2g} < {rule.srm_alpha:g}")
    breach = _guardrail(rule, look)
    if breach is not None:
        return out(ROLL_BACK, *breach)
    if seq.ci_high is not None and seq.ci_high < rule.margin:
        return out(ROLL_BACK, "inferior", f"ratio {seq.ratio:.3f}, sequential interval [{seq.ci_low:.3f}, "
                                          f"{seq.ci_high:.3f}] lies below the margin {rule.margin:g}")
    small = min(look.student.users, look.teacher.users)
    if small < rule.min_users_per_arm:
        return out(KEEP, "min_sample", f"{small} users in the smaller arm < {rule.min_users_per_arm}")
    if seq.ci_low is not None and seq.ci_low > rule.margin:
        return out(SHIP, "non_inferior", f"ratio {seq.ratio:.3f}, sequential interval [{seq.ci_low:.3f}, "
                                         f"{seq.ci_high:.3f}] lies above the margin {rule.margin:g}")
    if seq.ci_low is None:
        return out(KEEP, "no_interval", "no interval yet (an arm without exports or with fewer than 2 users)")
    return out(KEEP, "undecided", f"ratio {seq.ratio:.3f}, sequential interval [{seq.ci_low:.3f}, "
                                  f"{seq.ci_high:.3f}] contains the margin {rule.margin:g}")
