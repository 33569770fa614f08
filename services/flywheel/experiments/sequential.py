"""The student/teacher completion ratio with the USER as the unit, as a fixed-horizon interval (for reading a day)
and as an asymptotic confidence sequence (for deciding: valid however often it is looked at).

Units: users are assigned to arms, so a user's projects are not independent trials. Per arm, with x_i the exported
projects and n_i the projects of user i (m users), the rate is p = sum(x) / sum(n) = mean(x) / mean(n) and, by the
delta method on the two means, Var(log p) = [s_xx / X^2 + s_nn / N^2 - 2 s_xn / (X N)] / m (X, N the means, s the
sample (co)variances across users). The ratio's log is the difference of two independent arms' logs.

The confidence sequence is the Gaussian-mixture boundary of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas,
"Time-uniform central limit theory and asymptotic confidence sequences" (Ann. Statist. 2024), Theorem 2.2, applied
to the influence-function average of the log ratio (their Section 3 does the same for treatment effects): with
t users in both arms together and V the delta-method variance of the log ratio,

    half-width = sqrt(V) * sqrt( 2 (t rho^2 + 1) / (t rho^2) * log( sqrt(t rho^2 + 1) / alpha ) )

and rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / t_design makes it tightest at t_design users. The chance that
the interval ever misses the true ratio, over every look, is at most alpha (asymptotically). The running intersection
of the looks is reported too: also valid, and it never widens.

Why hand-written (a few lines) rather than a library: ``confseq`` does not build here (CMake, Boost),
``spotify-confidence`` cannot be resolved against constraints.txt, ``savvi`` pulls cvxpy and has no ratio metric,
``tea-tasting`` has the delta-method ratio but no sequential test. The formulas are checked against known answers in
tests/test_experiments_sequential.py and the error rates on the simulator (``flywheel experiment sequential``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from flywheel.reports.ab_stats import Z95


@dataclass(frozen=True)
class ArmSums:
    """Sufficient statistics of one arm over its users: users, sums of exports x and projects n, and of their
    squares and cross products (what SQL can add up without shipping per-user rows)."""

    users: int = 0
    x: float = 0.0
    n: float = 0.0
    xx: float = 0.0
    nn: float = 0.0
    xn: float = 0.0

    @classmethod
    def of(cls, per_user: Iterable[tuple[float, float]]) -> ArmSums:
        """From (exported, projects) per user."""
        u = x = n = xx = nn = xn = 0.0
        for xi, ni in per_user:
            if ni < 0 or xi < 0 or xi > ni:
                raise ValueError(f"a user needs 0 <= exported <= projects, got ({xi}, {ni})")
            u += 1
            x, n, xx, nn, xn = x + xi, n + ni, xx + xi * xi, nn + ni * ni, xn + xi * ni
        return cls(int(u), x, n, xx, nn, xn)

    def __add__(self, other: ArmSums) -> ArmSums:
        return ArmSums(self.users + other.users, self.x + other.x, self.n + other.n, self.xx + other.xx,
                       self.nn + other.nn, self.xn + other.xn)

    @property
    def rate(self) -> float | None:
        return self.x / self.n if self.n > 0 else None

    def var_log_rate(self) -> float | None:
        """Delta-method variance of log(rate) with users as units; None below 2 users or without an export."""
        m = self.users
        if m < 2 or self.x <= 0 or self.n <= 0:
            return None
        mx, mn = self.x / m, self.n / m
        sxx = (self.xx - m * mx * mx) / (m - 1)
        snn = (self.nn - m * mn * mn) / (m - 1)
        sxn = (self.xn - m * mx * mn) / (m - 1)
        return max(0.0, (sxx / mx**2 + snn / mn**2 - 2 * sxn / (mx * mn)) / m)


@dataclass(frozen=True)
class RatioInterval:
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    se_log: float | None
    users: int  # both arms together: the "time" of the sequence



def _log_ratio(treatment: ArmSums, control: ArmSums) -> tuple[float, float] | None:
    vt, vc = treatment.var_log_rate(), control.var_log_rate()
    if vt is None or vc is None or not treatment.rate or not control.rate:
        return None
    return math.log(treatment.rate / control.rate), vt + vc


def fixed_ratio(treatment: ArmSums, control: ArmSums, *, z: float = Z95) -> RatioInterval:
    """treatment rate / control rate with a fixed-horizon interval (valid for ONE look): the daily reading."""
    t = treatment.users + control.users
    lr = _log_ratio(treatment, control)
    if lr is None:
        return RatioInterval(None, None, None, None, t)
    est, var = lr
    se = math.sqrt(var)
    return RatioInterval(math.exp(est), math.exp(est - z * se), math.exp(est + z * se), se, t)


def mixture_rho2(*, alpha: float, design_users: int) -> float:
    """rho^2 that makes the boundary tightest at ``design_users`` (Waudby-Smith et al. 2024, eq. 9)."""
    if not 0 < alpha < 1 or design_users < 1:
        raise ValueError(f"need 0 < alpha < 1 and design_users >= 1, got {alpha}, {design_users}")
    a = -2 * math.log(alpha)
    return (a + math.log(a + 1)) / design_users


def boundary_factor(*, users: int, alpha: float, design_users: int) -> float:
    """The multiplier of the standard error that replaces z: about 3.0 at the design size for alpha 0.05."""
    r2 = mixture_rho2(alpha=alpha, design_users=design_users)
    tr = users * r2
    return math.sqrt(2 * (tr + 1) / tr * math.log(math.sqrt(tr + 1) / alpha))


def sequential_ratio(treatment: ArmSums, control: ArmSums, *, alpha: float, design_users: int) -> RatioInterval:
    """The confidence sequence's interval at this look (both arms' users so far)."""
    t = treatment.users + control.users
    lr = _log_ratio(treatment, control)
    if lr is None or t < 1:
        return RatioInterval(None, None, None, None, t)
    est, var = lr
    se = math.sqrt(var)
    half = se * boundary_factor(users=t, alpha=alpha, design_users=design_users)
    return RatioInterval(math.exp(est), math.exp(est - half), math.exp(est + half), se, t)


def intersect(previous: RatioInterval | None, current: RatioInterval) -> RatioInterval:
    """The running intersection of a confidence sequence: the tightest bounds seen so far (still valid, never
    wider). An empty intersection (possible only when the sequence has already failed) keeps the current look."""
    if previous is None or previous.ci_low is None or previous.ci_high is None:
        return current
    if current.ci_low is None or current.ci_high is None:
        return previous
    lo, hi = max(previous.ci_low, current.ci_low), min(previous.ci_high, current.ci_high)
    if lo > hi:
        return current
    return RatioInterval(current.ratio, lo, hi, current.se_log, current.users)
