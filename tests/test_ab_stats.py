"""A/B statistics against hand-computed numbers (no database)."""

from __future__ import annotations

import math

import pytest

from flywheel.reports.ab_stats import (
    _chi2_sf_math,
    chi2_sf,
    normal_interval,
    rate_ratio,
    srm_test,
    wilson_interval,
)


def test_wilson_interval_30_of_100():
    # p = .3, z^2/n = .0384146; centre = .3192073/1.0384146 = .307399; half = 1.887461 * sqrt(.00219604) = .088450
    ci = wilson_interval(30, 100)
    assert ci.rate == pytest.approx(0.30)
    assert ci.ci_low == pytest.approx(0.21895, abs=5e-5)
    assert ci.ci_high == pytest.approx(0.39585, abs=5e-5)


def test_wilson_interval_edges():
    zero = wilson_interval(0, 10)
    assert zero.rate == 0.0 and zero.ci_low == 0.0
    # upper = z^2/n / (1 + z^2/n) = .3841459 / 1.3841459 = .277533
    assert zero.ci_high == pytest.approx(0.277533, abs=1e-5)
    full = wilson_interval(10, 10)
    assert full.ci_high == pytest.approx(1.0) and full.ci_low == pytest.approx(1 - 0.277533, abs=1e-5)
    for n in (1, 3, 7, 10, 50, 97, 1000, 12345):
        lo, hi = wilson_interval(0, n), wilson_interval(n, n)
        assert lo.ci_low <= lo.rate == 0.0 and hi.ci_high >= hi.rate == 1.0  # never a negative error bar
    empty = wilson_interval(0, 0)
    assert empty.rate is None and empty.ci_low is None
    with pytest.raises(ValueError, match="cannot exceed"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="non-negative"):
        wilson_interval(-1, 10)


def test_normal_interval():
    # .3 +- 1.959964 * sqrt(.21/100) = .3 +- .089817
    ci = normal_interval(30, 100)
    assert ci.ci_low == pytest.approx(0.210183, abs=1e-5)
    assert ci.ci_high == pytest.approx(0.389817, abs=1e-5)


def test_rate_ratio_delta_method():
    # ratio = .3/.2 = 1.5; se(log) = sqrt(1/30 - 1/100 + 1/20 - 1/100) = sqrt(.0633333) = .251661
    # 1.5 * exp(+-1.959964 * .251661) = 1.5 * exp(+-.493246) -> [.91598, 2.45638]
    r = rate_ratio(30, 100, 20, 100, numerator="student", denominator="teacher")
    assert r.ratio == pytest.approx(1.5)
    assert r.se_log == pytest.approx(0.251661, abs=1e-6)
    assert r.ci_low == pytest.approx(0.91598, abs=1e-4)
    assert r.ci_high == pytest.approx(2.45638, abs=1e-4)
    assert (r.numerator, r.denominator) == ("student", "teacher")


def test_rate_ratio_shrinks_with_n_and_undefined_at_zero():
    small = rate_ratio(30, 100, 20, 100)
    big = rate_ratio(3000, 10000, 2000, 10000)
    assert big.ratio == pytest.approx(small.ratio)
    assert (big.ci_high - big.ci_low) < (small.ci_high - small.ci_low) / 5
    assert rate_ratio(0, 100, 20, 100).ratio is None


def test_srm_two_arms_not_flagged():
    # chi2 = 2 * 100^2 / 5000 = 4.0; dof 1 -> p = erfc(sqrt(2)) = .0455003
    res = srm_test({"teacher": 5100, "student": 4900}, {"teacher": 0.5, "student": 0.5})
    assert res.chi2 == pytest.approx(4.0)
    assert res.dof == 1
    assert res.p_value == pytest.approx(0.0455003, rel=1e-5)
    assert not res.flagged


def test_srm_flagged_and_unequal_weights():
    # chi2 = 2 * 300^2 / 5000 = 36 -> p = erfc(sqrt(18)) = 1.973e-9 < .001
    res = srm_test({"teacher": 5300, "student": 4700}, {"teacher": 1, "student": 1})
    assert res.chi2 == pytest.approx(36.0)
    assert res.p_value == pytest.approx(math.erfc(math.sqrt(18)), rel=1e-6)
    assert res.flagged
    # 90/10 split observed exactly as configured: chi2 = 0, p = 1
    exact = srm_test({"a": 900, "b": 100}, {"a": 0.9, "b": 0.1})
    assert exact.chi2 == pytest.approx(0.0) and exact.p_value == pytest.approx(1.0)
    assert exact.expected == {"a": pytest.approx(900.0), "b": pytest.approx(100.0)}


def test_srm_three_arms():
    # expected 110 each: chi2 = (100 + 100 + 400)/110 = 5.454545; dof 2 ->
    # p = exp(-2.727273) = .067206 * .973097 = .065397
    res = srm_test({"a": 100, "b": 100, "c": 130}, {"a": 1, "b": 1, "c": 1})
    assert res.dof == 2
    assert res.chi2 == pytest.approx(5.454545, abs=1e-5)
    assert res.p_value == pytest.approx(0.065397, abs=1e-5)


def test_srm_bad_input():
    with pytest.raises(ValueError, match="arms differ"):
        srm_test({"a": 1, "b": 2}, {"a": 1, "c": 1})
    with pytest.raises(ValueError, match="at least two"):
        srm_test({"a": 1}, {"a": 1})
    with pytest.raises(ValueError, match="positive"):
        srm_test({"a": 1, "b": 2}, {"a": 1, "b": 0})


@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 3.84, 10.0, 36.0, 80.0])
def test_chi2_tail_fallback_matches_closed_forms(x):
    assert _chi2_sf_math(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9, abs=1e-300)
    assert _chi2_sf_math(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9)
    assert _chi2_sf_math(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-9)
    assert chi2_sf(x, 3) == pytest.approx(_chi2_sf_math(x, 3), rel=1e-7)
