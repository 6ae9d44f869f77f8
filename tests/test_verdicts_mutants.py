"""The verdict rule's constants, pinned by behaviour (issue 23, item 7).

``ALPHA = 0.05`` and the CI levels (95% for every reported CI, 90% = 1 - 2 ALPHA for the
equivalence and no-trend bounds) are checked where each is used, not by reading the constants: data
are built so that the deciding p lies between 0.05 and 0.10 (so ALPHA = 0.10 would decide it), and
every CI is compared with one computed by hand at its documented level. Each test here fails when
``ALPHA`` becomes 0.10 or a CI level moves (95% -> 90% / 99%, the equivalence's 90% -> 95%),
whether the constant changes or a single place stops using it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from dltour import verdicts as V

P_BETWEEN = 0.075  # between ALPHA = 0.05 and a mutated 0.10: must stay undecided
P_BELOW = 0.03  # must be decided


def _values(n: int, t: float, mu: float = 0.0) -> np.ndarray:
    """n values whose one-sample t statistic against ``mu`` is exactly ``t`` (sd 1)."""
    z = np.linspace(-1.0, 1.0, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mu + t / math.sqrt(n) + z


def _t_for(p: float, df: int, two_sided: bool = True) -> float:
    return float(stats.t.ppf(1 - (p / 2 if two_sided else p), df))


def _t_ci_by_hand(d: np.ndarray, level: float) -> tuple[float, float]:
    h = stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return (d.mean() - h, d.mean() + h)


def _welch_ci_by_hand(x: np.ndarray, y: np.ndarray, level: float) -> tuple[float, float]:
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    df = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (y.size - 1))
    h = stats.t.ppf(0.5 + level / 2, df) * math.sqrt(va + vb)
    diff = x.mean() - y.mean()
    return (diff - h, diff + h)


# ================================================================ ALPHA = 0.05, at every decision site
def test_paired_compare_is_undecided_between_alpha_and_0_10():
    b = np.linspace(1.0, 2.0, 5)
    for p, verdict in ((P_BETWEEN, V.INCONCLUSIVE), (P_BELOW, V.HOLDS)):
        a = b + _values(5, -_t_for(p, 4))  # a lower than b
        d = V.compare(list(a), list(b), "less")
        assert d.p == pytest.approx(p) and stats.ttest_rel(a, b).pvalue == pytest.approx(p)
        assert d.verdict == verdict, d.test


def test_welch_compare_is_undecided_between_alpha_and_0_10():
    y = np.array([2.0, 2.4, 1.8, 2.2])
    base = np.array([1.0, 1.5, 0.6, 1.2, 0.9])
    for p, verdict in ((P_BETWEEN, V.INCONCLUSIVE), (P_BELOW, V.FAILS)):
        # shift x so that Welch's two-sided p is p (x lower than y; the claim says greater)
        shift = optimize.brentq(lambda s: stats.ttest_ind(base + s, y, equal_var=False).pvalue - p,
                                0.0, y.mean() - base.mean(), xtol=1e-14)
        x = base + shift
        d = V.compare({i: v for i, v in enumerate(x)}, {10 + i: v for i, v in enumerate(y)}, "greater")
        assert "Welch" in d.test and d.p == pytest.approx(p, rel=1e-6)
        assert d.verdict == verdict, d.test


def test_exceeds_is_undecided_between_alpha_and_0_10():
    for p, verdict in ((P_BETWEEN, V.INCONCLUSIVE), (P_BELOW, V.HOLDS)):
        x = _values(6, _t_for(p, 5), mu=0.9)
        d = V.exceeds(list(x), 0.9, "greater")
        assert d.p == pytest.approx(p) and d.verdict == verdict, d.test


def test_proportion_is_undecided_between_alpha_and_0_10():
    between = V.proportion(20, 30, 0.5, "greater")  # exact binomial p = 0.0987
    assert 0.05 < between.p < 0.10 and between.verdict == V.INCONCLUSIVE
    below = V.proportion(21, 30, 0.5, "greater")  # p = 0.0428
    assert below.p < 0.05 and below.verdict == V.HOLDS


def test_per_run_trend_is_undecided_between_alpha_and_0_10():
    """Five runs whose Spearman rhos are (-0.2, 0.3, 0.5, 0.7, 0.7): t-test p = 0.0751; and
    (-0.1, 0.6, 0.6, 0.7, 0.7): p = 0.0300."""
    x = np.arange(5.0)
    between = [(1, 4, 3, 0, 2), (0, 2, 4, 3, 1), (0, 2, 4, 1, 3), (0, 1, 3, 4, 2), (0, 1, 3, 4, 2)]
    below = [(1, 2, 4, 3, 0), (0, 1, 4, 3, 2), (0, 1, 4, 3, 2), (0, 1, 3, 4, 2), (0, 1, 3, 4, 2)]
    for ranks, lo, hi, verdict in ((between, 0.05, 0.10, V.INCONCLUSIVE), (below, 0.0, 0.05, V.HOLDS)):
        runs = {s: np.array(r, float) for s, r in enumerate(ranks)}
        rhos = [stats.spearmanr(x, y).statistic for y in runs.values()]
        d = V.per_run_trend(x, runs, "greater")
        assert d.p == pytest.approx(stats.ttest_1samp(rhos, 0).pvalue) and lo < d.p < hi
        assert d.verdict == verdict, d.test


def test_paired_tost_is_undecided_between_alpha_and_0_10():
    """The TOST holds only at p < 0.05, i.e. when the 90% CI lies inside the margin."""
    b = np.linspace(1.0, 2.0, 6)
    d0 = _values(6, 0.0)  # mean difference 0, sd 1
    for p, verdict in ((P_BETWEEN, V.INCONCLUSIVE), (P_BELOW, V.HOLDS)):
        margin = _t_for(p, 5, two_sided=False) / math.sqrt(6)  # one-sided p of each side = p
        d = V.equivalent(list(b + d0), list(b), margin, margin_source="test")
        assert d.p == pytest.approx(p) and d.verdict == verdict, d.test


def test_welch_tost_is_undecided_between_alpha_and_0_10():
    from statsmodels.stats.weightstats import ttost_ind

    x = np.array([1.0, 1.3, 0.8, 1.1, 0.9])
    y = np.array([1.05, 0.7, 1.4, 1.0])
    for p, verdict in ((P_BETWEEN, V.INCONCLUSIVE), (P_BELOW, V.HOLDS)):
        margin = optimize.brentq(lambda m: ttost_ind(x, y, -m, m, usevar="unequal")[0] - p, 1e-6, 5.0,
                                 xtol=1e-14)
        d = V.equivalent({i: v for i, v in enumerate(x)}, {10 + i: v for i, v in enumerate(y)}, margin,
                         margin_source="test")
        assert "Welch" in d.test and d.p == pytest.approx(p, rel=1e-6) and d.verdict == verdict, d.test


@pytest.mark.parametrize("paired", [True, False])
def test_outside_the_margin_fails_only_at_p_below_alpha(paired):
    """'does not hold' needs the 95% CI wholly outside the margin (p < 0.05 against the nearer bound);
    with p between 0.05 and 0.10 (only the 90% CI outside) it stays inconclusive."""
    margin = 0.1
    if paired:
        b = np.linspace(1.0, 2.0, 5)
        for p, verdict in ((P_BETWEEN, V.INCONCLUSIVE), (P_BELOW, V.FAILS)):
            diff = _values(5, _t_for(p, 4), mu=margin)  # mean above +margin, two-sided p against it = p
            d = V.equivalent(list(b + diff), list(b), margin, margin_source="test")
            lo95, _ = _t_ci_by_hand(diff, 0.95)
            lo90, _ = _t_ci_by_hand(diff, 0.90)
            assert lo90 > margin and (lo95 > margin) == (verdict == V.FAILS)
            assert stats.ttest_1samp(diff, margin).pvalue == pytest.approx(p)
            assert f"outside the margin p = {p:.3g}" in d.test and d.verdict == verdict, d.test
    else:
        y = np.array([1.0, 1.2, 0.9, 1.1])
        base = np.array([1.0, 1.5, 0.7, 1.3, 1.1])
        for p, verdict in ((P_BETWEEN, V.INCONCLUSIVE), (P_BELOW, V.FAILS)):
            centred = base - base.mean() + y.mean()  # x's mean - y's mean = margin + shift
            shift = optimize.brentq(
                lambda s: stats.ttest_ind(centred + s, y, equal_var=False).pvalue - p,  # x - margin vs y
                1e-9, 5.0, xtol=1e-14)
            x = centred + margin + shift
            d = V.equivalent({i: v for i, v in enumerate(x)}, {10 + i: v for i, v in enumerate(y)}, margin,
                             margin_source="test")
            lo95, _ = _welch_ci_by_hand(x, y, 0.95)
            lo90, _ = _welch_ci_by_hand(x, y, 0.90)
            assert lo90 > margin and (lo95 > margin) == (verdict == V.FAILS)
            assert f"outside the margin p = {p:.3g}" in d.test and d.verdict == verdict, d.test


def test_no_trend_tost_is_undecided_between_alpha_and_0_10():
    x = np.arange(5.0)
    wiggle = np.array([1.0, -2.0, 0.0, 2.0, -1.0])  # orthogonal to 1 and x: OLS slopes stay exact
    slopes = _values(6, 0.0) * 0.01  # mean 0, sd 0.01
    runs = {s: k * x + wiggle for s, k in enumerate(slopes)}
    for p, verdict in ((P_BETWEEN, V.INCONCLUSIVE), (P_BELOW, V.HOLDS)):
        margin = _t_for(p, 5, two_sided=False) * 0.01 / math.sqrt(6)
        d = V.no_trend(x, runs, margin, margin_source="test")
        assert d.p == pytest.approx(p) and d.verdict == verdict, d.test


def test_all_of_decides_parts_on_holm_adjusted_p_below_alpha():
    two = [V.Decision(V.HOLDS, "e", "t", p=0.04), V.Decision(V.HOLDS, "e", "t", p=0.04)]
    d = V.all_of(two)  # Holm: 0.04 * 2 = 0.08 for both
    assert d.p == pytest.approx(0.08) and d.verdict == V.INCONCLUSIVE
    fails = V.all_of([V.Decision(V.FAILS, "e", "t", p=0.04), V.Decision(V.HOLDS, "e", "t", p=0.04)])
    assert fails.verdict == V.INCONCLUSIVE  # 0.04 -> 0.08 after Holm: not "does not hold"
    # Holm's step-down: [0.04, 0.001] -> [0.04, 0.002]: both parts stay decided
    assert V.all_of([V.Decision(V.FAILS, "e", "t", p=0.04), V.Decision(V.HOLDS, "e", "t", p=0.001)]).verdict \
        == V.FAILS


def test_more_seeds_needed_is_said_exactly_when_the_smallest_p_is_not_below_alpha():
    # 5 constant paired differences: the smallest two-sided sign-test p is 0.0625 >= 0.05
    five = V.compare([1.0] * 5, [2.0] * 5, "less")
    assert five.verdict == V.INCONCLUSIVE and five.p == pytest.approx(0.0625)
    assert "5 seeds: the smallest possible p is 0.0312 (two-sided 0.0625); more seeds needed" in five.test
    assert "more seeds needed" not in V.compare([1.0] * 6, [2.0] * 6, "less").test
    # 4 constant pairs in a TOST: the smallest one-sided p is 0.0625
    tost4 = V.equivalent([1.0] * 4, [1.0] * 4, 0.1, margin_source="m")
    assert tost4.verdict == V.INCONCLUSIVE and "more seeds needed" in tost4.test
    # two constant unpaired arms, 4 vs 3: the smallest two-sided permutation p is 2/35 = 0.0571
    un = V.compare({i: 1.0 for i in range(4)}, {10 + i: 2.0 for i in range(3)}, "less")
    assert un.verdict == V.INCONCLUSIVE and un.p == pytest.approx(2 / 35)
    assert "4 vs 3 seeds: the smallest possible p is 0.0286 (two-sided 0.0571); more seeds needed" in un.test
    # 3 vs 3 in a permutation TOST: the smallest one-sided p is 1/20 = 0.05, not below ALPHA
    un_tost = V.equivalent({i: 1.0 for i in range(3)}, {10 + i: 1.0 for i in range(3)}, 0.1, margin_source="m")
    assert un_tost.verdict == V.INCONCLUSIVE and un_tost.p == pytest.approx(0.05)
    assert "3 vs 3 seeds: the smallest possible p is 0.05 (two-sided 0.1); more seeds needed" in un_tost.test


# ================================================================ 95% CIs, computed by hand
def test_paired_and_one_sample_cis_are_95_percent():
    a, b = np.array([1.0, 2.0, 4.0, 3.5, 2.2]), np.array([0.0, 0.5, 1.0, 1.4, 1.9])
    d = V.compare(list(a), list(b), "greater")
    assert d.ci == pytest.approx(_t_ci_by_hand(a - b, 0.95)) and d.effect_ci == pytest.approx(d.ci)
    e = V.exceeds(list(a), 1.0, "greater")
    assert e.ci == pytest.approx(_t_ci_by_hand(a, 0.95))
    assert e.effect_ci == pytest.approx(_t_ci_by_hand(a - 1.0, 0.95))


def test_welch_ci_is_95_percent():
    x, y = np.array([1.0, 1.4, 0.9, 1.2, 1.6]), np.array([2.0, 2.6, 1.7])
    d = V.compare(list(x), list(y), "less", paired=False)
    assert d.ci == pytest.approx(_welch_ci_by_hand(x, y, 0.95)) and d.effect_ci == pytest.approx(d.ci)


def test_hedges_g_ci_uses_the_95_percent_normal_quantile():
    x, y = np.array([1.0, 1.4, 0.9, 1.2, 1.6]), np.array([2.0, 2.6, 1.7, 2.2])
    d = V.compare(list(x), list(y), "less", paired=False)
    n1, n2 = x.size, y.size
    se = math.sqrt((n1 + n2) / (n1 * n2) + d.g ** 2 / (2 * (n1 + n2)))
    z = stats.norm.ppf(0.975)  # 1.95996
    assert d.g_ci == pytest.approx((d.g - z * se, d.g + z * se))


def test_proportion_ci_is_95_percent_clopper_pearson():
    k, n = 14, 20
    d = V.proportion(k, n, 0.5, "greater")
    lo, hi = stats.beta.ppf(0.025, k, n - k + 1), stats.beta.ppf(0.975, k + 1, n - k)  # Clopper-Pearson
    assert d.ci == pytest.approx((lo, hi))
    assert d.effect_ci == pytest.approx((lo - 0.5, hi - 0.5))


def test_sign_test_ci_is_95_percent():
    """The order-statistic CI of the median at 95%: [s_(k), s_(n-k+1)] with k the largest such that
    P(B <= k - 1) <= 0.025, B ~ Bin(n, 1/2); none when even k = 1 is too wide for 95% (n < 6)."""
    s = np.arange(1.0, 9.0)  # n = 8: P(B <= 0) = 0.0039, P(B <= 1) = 0.035 > 0.025 -> k = 1
    assert V._sign_ci(s) == (1.0, 8.0)  # at 90% k would be 2: (2, 7); at 99% k = 1 as well
    s12 = np.arange(1.0, 13.0)  # n = 12: P(B <= 1) = 0.0032, P(B <= 2) = 0.0193 -> k = 3 at 95%, 2 at 99%
    assert V._sign_ci(s12) == (3.0, 10.0)
    # through the public rule: constant paired differences give the sign test's CI, which needs n >= 6
    assert V.compare([1.0] * 5, [2.0] * 5, "less").effect_ci is None  # n = 5: P(B <= 0) = 0.031 > 0.025
    assert V.compare([1.0] * 6, [2.0] * 6, "less").effect_ci == pytest.approx((-1.0, -1.0))


# ================================================================ 90% CIs of the equivalence and no-trend bounds
def test_paired_equivalence_reports_95_and_flips_at_the_90_percent_bound():
    a = np.array([1.00, 1.03, 0.98, 1.02, 1.01])
    b = np.array([1.00, 1.00, 1.00, 1.01, 0.99])
    d = V.equivalent(list(a), list(b), 0.1, margin_source="m")
    assert d.effect_ci == pytest.approx(_t_ci_by_hand(a - b, 0.95))
    lo, hi = _t_ci_by_hand(a - b, 0.90)
    assert d.flip_margin == pytest.approx(max(abs(lo), abs(hi)))
    assert V.equivalent(list(a), list(b), d.flip_margin * 0.99, margin_source="m").verdict != V.HOLDS
    assert V.equivalent(list(a), list(b), d.flip_margin * 1.01, margin_source="m").verdict == V.HOLDS


def test_welch_equivalence_reports_95_and_flips_at_the_90_percent_bound():
    x = np.array([1.0, 1.3, 0.8, 1.1, 0.9])
    y = np.array([1.05, 0.7, 1.4, 1.0])
    xs, ys = {i: v for i, v in enumerate(x)}, {10 + i: v for i, v in enumerate(y)}
    d = V.equivalent(xs, ys, 1.0, margin_source="m")
    assert "Welch" in d.test and d.verdict == V.HOLDS
    assert d.effect_ci == pytest.approx(_welch_ci_by_hand(x, y, 0.95))
    lo, hi = _welch_ci_by_hand(x, y, 0.90)
    assert d.flip_margin == pytest.approx(max(abs(lo), abs(hi)))
    assert V.equivalent(xs, ys, d.flip_margin * 0.99, margin_source="m").verdict != V.HOLDS
    assert V.equivalent(xs, ys, d.flip_margin * 1.01, margin_source="m").verdict == V.HOLDS


def test_no_trend_reports_95_and_flips_at_the_90_percent_bound():
    x = np.arange(5.0)
    wiggle = np.array([1.0, -2.0, 0.0, 2.0, -1.0])
    slopes = np.array([0.02, -0.01, 0.03, 0.0, 0.015, -0.005])
    runs = {s: k * x + wiggle for s, k in enumerate(slopes)}
    d = V.no_trend(x, runs, 1.0, margin_source="m")
    assert d.effect == pytest.approx(slopes.mean())
    assert d.effect_ci == pytest.approx(_t_ci_by_hand(slopes, 0.95))
    lo, hi = _t_ci_by_hand(slopes, 0.90)
    assert d.flip_margin == pytest.approx(max(abs(lo), abs(hi)))
    assert V.no_trend(x, runs, d.flip_margin * 0.99, margin_source="m").verdict != V.HOLDS
    assert V.no_trend(x, runs, d.flip_margin * 1.01, margin_source="m").verdict == V.HOLDS
