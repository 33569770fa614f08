"""Pure statistics for the A/B `project_completion_rate` (no I/O, no database).

- per-arm rate with a 95 % Wilson score interval (good coverage for small n and rates near 0/1, never outside [0, 1]);
- ratio of two rates with a delta-method interval on the log scale:
  Var(log p1/p2) ≈ (1-p1)/(n1 p1) + (1-p2)/(n2 p2) = 1/x1 - 1/n1 + 1/x2 - 1/n2;
- sample-ratio mismatch (SRM): Pearson chi-square of the observed arm sizes against the configured weights,
  flagged when p < 0.001 (the usual SRM threshold: a broken assignment, not a treatment effect).

scipy is used for the chi-square tail when installed; otherwise a regularised incomplete gamma written here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
SRM_ALPHA = 0.001


@dataclass(frozen=True)
class RateCI:
    successes: int
    n: int
    rate: float | None  # None when n == 0 (undefined, not zero)
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class RatioCI:
    numerator: str
    denominator: str
    ratio: float | None  # None when either arm has no successes (log ratio undefined)
    ci_low: float | None
    ci_high: float | None
    se_log: float | None


@dataclass(frozen=True)
class SRMResult:
    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    dof: int
    p_value: float
    flagged: bool
    alpha: float = SRM_ALPHA


def _check_counts(successes: int, n: int) -> None:
    if n < 0 or successes < 0:
        raise ValueError(f"counts must be non-negative, got successes={successes}, n={n}")
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed trials ({n})")


def wilson_interval(successes: int, n: int, z: float = Z95) -> RateCI:
    """Rate successes/n with the Wilson score interval."""
    _check_counts(successes, n)
    if n == 0:
        return RateCI(successes, n, None, None, None)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Rounding can put a bound a hair past the estimate at 0/n and n/n; the interval always contains p.
    return RateCI(successes, n, p, min(p, max(0.0, center - half)), max(p, min(1.0, center + half)))


def normal_interval(successes: int, n: int, z: float = Z95) -> RateCI:
    """Rate with the Wald (normal approximation) interval, clipped to [0, 1]; kept for comparison."""
    _check_counts(successes, n)
    if n == 0:
        return RateCI(successes, n, None, None, None)
    p = successes / n
    half = z * math.sqrt(p * (1 - p) / n)
    return RateCI(successes, n, p, max(0.0, p - half), min(1.0, p + half))


def rate_ratio(x1: int, n1: int, x2: int, n2: int, *, numerator: str = "a", denominator: str = "b",
               z: float = Z95) -> RatioCI:
    """(x1/n1) / (x2/n2) with a delta-method interval for the log ratio, exponentiated back."""
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    if min(x1, x2, n1, n2) == 0:
        return RatioCI(numerator, denominator, None, None, None, None)
    ratio = (x1 / n1) / (x2 / n2)
    se = math.sqrt(max(0.0, 1 / x1 - 1 / n1 + 1 / x2 - 1 / n2))
    log_r = math.log(ratio)
    return RatioCI(numerator, denominator, ratio, math.exp(log_r - z * se), math.exp(log_r + z * se), se)


def srm_test(observed: Mapping[str, int], weights: Mapping[str, float], alpha: float = SRM_ALPHA) -> SRMResult:
    """Pearson chi-square of observed arm sizes against configured weights (normalised to sum 1)."""
    if set(observed) != set(weights):
        raise ValueError(f"arms differ: observed {sorted(observed)} vs configured {sorted(weights)}")
    if len(weights) < 2:
        raise ValueError("an SRM test needs at least two arms")
    if any(w <= 0 for w in weights.values()):
        raise ValueError(f"weights must be positive, got {dict(weights)}")
    if any(o < 0 for o in observed.values()):
        raise ValueError(f"observed counts must be non-negative, got {dict(observed)}")
    total_w = float(sum(weights.values()))
    n = int(sum(observed.values()))
    expected = {arm: n * w / total_w for arm, w in weights.items()}
    dof = len(weights) - 1
    if n == 0:
        return SRMResult(dict(observed), expected, 0.0, dof, 1.0, False, alpha)
    chi2 = sum((observed[a] - e) ** 2 / e for a, e in expected.items())
    p = chi2_sf(chi2, dof)
    return SRMResult(dict(observed), expected, chi2, dof, p, p < alpha, alpha)


def chi2_sf(x: float, dof: int) -> float:
    """Upper tail P(X >= x) of a chi-square with `dof` degrees of freedom."""
    if dof < 1:
        raise ValueError(f"dof must be >= 1, got {dof}")
    if x <= 0:
        return 1.0
    try:
        from scipy.stats import chi2 as _chi2
    except ImportError:  # pragma: no cover - exercised by the tests through _chi2_sf_math
        return _chi2_sf_math(x, dof)
    return float(_chi2.sf(x, dof))


def _chi2_sf_math(x: float, dof: int) -> float:
    if x <= 0:
        return 1.0
    return _gammaincc(dof / 2.0, x / 2.0)


def _gammaincc(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x): series below a+1, Lentz continued fraction above."""
    lg = math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - lg))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - lg) * h)
