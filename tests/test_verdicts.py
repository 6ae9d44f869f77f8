"""Known answers for the one decision rule (``dltour.verdicts``): each rule gives each of its
outcomes on hand-made data, and its statistics equal scipy's / statsmodels' own."""

import math
import re

import numpy as np
import pytest
from scipy import stats

from dltour import verdicts as V
from dltour.summary import Finding


# ---------------------------------------------------------------- compare
def test_paired_compare_matches_scipy_and_has_three_outcomes():
    a = {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}
    b = {0: 1.5, 1: 2.6, 2: 3.4, 3: 4.7}  # a lower in every seed, differences vary
    d = V.compare(a, b, "less")
    r = stats.ttest_rel([1, 2, 3, 4], [1.5, 2.6, 3.4, 4.7])
    assert d.p == pytest.approx(r.pvalue) and d.stat == pytest.approx(r.statistic)
    assert d.verdict == V.HOLDS and "paired t-test" in d.test and d.n == (4, 4)
    assert V.compare(a, b, "greater").verdict == V.FAILS  # significant the other way
    noisy = {0: 1.0, 1: 3.0, 2: 2.0, 3: 4.5}  # differences of both signs
    assert V.compare(noisy, b, "less").verdict == V.INCONCLUSIVE


def test_paired_ci_is_student_t_on_differences():
    a, b = [1.0, 2.0, 4.0], [0.0, 0.5, 1.0]
    d = V.compare(a, b, "greater")
    diff = np.subtract(a, b)
    h = stats.t.ppf(0.975, 2) * diff.std(ddof=1) / math.sqrt(3)
    assert d.ci == pytest.approx((diff.mean() - h, diff.mean() + h))


def test_unpaired_compare_is_welch():
    a = {0: 1.0, 1: 1.1, 2: 0.9}
    b = {10: 2.0, 11: 2.3, 12: 1.9, 13: 2.1}  # no shared seeds: Welch
    d = V.compare(a, b, "less")
    r = stats.ttest_ind([1.0, 1.1, 0.9], [2.0, 2.3, 1.9, 2.1], equal_var=False)
    assert "Welch" in d.test and d.p == pytest.approx(r.pvalue) and d.verdict == V.HOLDS
    assert V.compare(a, b, "less", paired=False).verdict == V.HOLDS


def test_single_seed_is_never_decided_unless_deterministic():
    d = V.compare([1.0], [5.0], "less")
    assert d.verdict == V.INCONCLUSIVE and "single seed" in d.test
    det = V.compare([1.0], [5.0], "less", deterministic=True)
    assert det.verdict == V.HOLDS and "deterministic" in det.test
    assert V.compare([6.0], [5.0], "less", deterministic=True).verdict == V.FAILS


def test_nan_runs_are_excluded_and_counted():
    d = V.compare({0: 1.0, 1: float("nan"), 2: 1.2}, {0: 2.0, 1: 2.1, 2: 2.2}, "less")
    assert "1 NaN run(s) excluded" in d.evidence
    assert d.n == (2, 2)  # paired over the two seeds with finite values in both arms


def test_constant_differences_go_to_the_exact_sign_test():
    d = V.compare([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], "less")  # every difference -1 over 3 seeds
    assert d.verdict == V.INCONCLUSIVE and d.p == pytest.approx(0.25) and "sign test" in d.test
    assert "3 seeds: the smallest possible p is 0.125 (two-sided 0.25); more seeds needed" in d.test
    assert V.compare([1.0, 2.0], [1.0, 2.0], "less").verdict == V.INCONCLUSIVE


# ---------------------------------------------------------------- exceeds
def test_exceeds_one_sample_t():
    vals = [0.97, 0.99, 0.98]
    d = V.exceeds(vals, 0.95, "greater")
    r = stats.ttest_1samp(vals, 0.95)
    assert d.p == pytest.approx(r.pvalue) and d.verdict == V.HOLDS
    assert V.exceeds([0.90, 0.91, 0.92], 0.95, "greater").verdict == V.FAILS
    assert V.exceeds([0.90, 0.99, 0.96], 0.95, "greater").verdict == V.INCONCLUSIVE
    assert V.exceeds([0.99], 0.95, "greater").verdict == V.INCONCLUSIVE


# ---------------------------------------------------------------- equivalence
def test_equivalence_tost_three_outcomes():
    a = [1.00, 1.01, 0.99, 1.00]
    b = [1.00, 1.00, 1.00, 1.01]
    d = V.equivalent(a, b, 0.1, margin_source="test")
    from statsmodels.stats.weightstats import ttost_paired

    assert d.p == pytest.approx(ttost_paired(np.array(a), np.array(b), -0.1, 0.1)[0])
    assert d.verdict == V.HOLDS
    far = V.equivalent([2.0, 2.1, 1.9, 2.05], b, 0.1, margin_source="test")
    assert far.verdict == V.FAILS
    # no significant difference is NOT equivalence: wide noise stays inconclusive
    wide = V.equivalent([0.5, 1.6, 0.7, 1.4], b, 0.1, margin_source="test")
    assert wide.verdict == V.INCONCLUSIVE


def test_near_reference_is_tost_against_the_constant_relative_margin():
    from statsmodels.stats.weightstats import ttost_paired

    ours = {0: 58.0, 1: 59.5, 2: 58.9}
    d = V.near_reference(ours, 58.7, 0.1)
    x = np.array(list(ours.values()))
    assert d.p == pytest.approx(ttost_paired(x, np.full(3, 58.7), -5.87, 5.87)[0])  # margin 10% of 58.7
    assert d.verdict == V.HOLDS
    assert V.near_reference({0: 80.0, 1: 81.0, 2: 79.5}, 58.7, 0.1).verdict == V.FAILS
    assert V.near_reference({0: 40.0, 1: 75.0, 2: 60.0}, 58.7, 0.1).verdict == V.INCONCLUSIVE
    assert V.near_reference({0: 58.7}, 58.7, 0.1).verdict == V.INCONCLUSIVE  # one seed is never decided


# ---------------------------------------------------------------- deprecated pooled rules (kept while studies migrate)
def test_proportion_binomial():
    assert V.proportion(19, 20, 0.5, "greater").verdict == V.HOLDS
    assert V.proportion(1, 20, 0.5, "greater").verdict == V.FAILS
    assert V.proportion(11, 20, 0.5, "greater").verdict == V.INCONCLUSIVE
    assert V.proportion(19, 20, 0.5, "greater").p == pytest.approx(stats.binomtest(19, 20, 0.5).pvalue)


def test_all_of_and_best_of():
    h = V.Decision(V.HOLDS, "e", "t")
    f = V.Decision(V.FAILS, "e", "t")
    i = V.Decision(V.INCONCLUSIVE, "e", "t")
    assert V.all_of([h, h]).verdict == V.HOLDS
    assert V.all_of([h, i]).verdict == V.INCONCLUSIVE
    assert V.all_of([h, i, f]).verdict == V.FAILS
    vals = {"a": [1.0, 1.1, 1.2], "b": [2.0, 2.2, 2.3], "c": [3.0, 3.3, 3.1]}
    assert V.best_of(vals, "a", "less").verdict == V.HOLDS
    assert V.best_of(vals, "c", "less").verdict == V.FAILS
    assert V.best_of({"a": [1.0, 2.0, 1.5], "b": [1.4, 1.6, 1.5]}, "a", "less").verdict == V.INCONCLUSIVE
    assert V.best_of(vals, "zzz", "less").verdict == V.NOT_CHECKED


def test_gate_turns_a_failed_run_into_inconclusive():
    vals = {"s1": [0.002, 0.0021, 0.0022], "s2": [0.08, 0.081, 0.079]}
    failed = V.did_not_learn(vals, 0.0093, "less")  # noisy input's MSE
    assert list(failed) == ["s2"]
    d = V.compare(vals["s1"], vals["s2"], "less")
    assert d.verdict == V.HOLDS
    g = V.gate(d, failed, ["s1", "s2"])
    assert g.verdict == V.INCONCLUSIVE and "did not learn" in g.test
    assert V.gate(d, failed, ["s1"]).verdict == V.HOLDS


# ---------------------------------------------------------------- Finding
def test_finding_from_decision_and_source():
    d = V.compare([1.0, 2.0, 3.0, 4.0], [2.0, 3.1, 4.3, 5.2], "less")
    f = Finding.of("test-x-lower", "x is lower", d, ref="R30", section="Table 5")
    assert f.source == "reference" and f.verdict == V.HOLDS and f.test == d.test
    assert Finding.of("test-ours", "ours", d).source == "ours"
    with pytest.raises(ValueError, match="unknown reference claim"):
        Finding.of("bad", "bad", d, ref="R99")
    with pytest.raises(ValueError, match="needs the test"):
        Finding("bad", "bad", V.HOLDS, "evidence")
    with pytest.raises(ValueError, match="verdict must be one of"):
        Finding("bad", "bad", True, "evidence", "a bare bool is no verdict")


def test_describe_single_seed_has_no_plus_minus():
    assert "±" not in V.describe("a", [0.5]) and "(n=1)" in V.describe("a", [0.5])
    assert "±" in V.describe("a", [0.5, 0.6])


# ================================================================ issue 18: the reworked rule
def _runs(rng, slope, n_runs, x, noise=1.0, slope_sd=0.0):
    """Simulated runs: per seed, y = (slope + a run's own slope deviation) * x + noise."""
    return {s: (slope + rng.normal(0, slope_sd)) * x + rng.normal(0, noise, x.size) for s in range(n_runs)}


# ---------------------------------------------------------------- the rule's constants
def test_alpha_and_ci_levels_are_fixed():
    """Fails if ALPHA moves from 0.05 or a CI level from 95% / 90%."""
    assert V.ALPHA == 0.05 and V.CI_LEVEL == 0.95
    near = [0.5, 1.0, 0.2, 1.2]  # one-sample p just above 0.05
    p_near = stats.ttest_1samp(near, 0).pvalue
    assert 0.05 < p_near < 0.07
    assert V.exceeds(near, 0.0, "greater").verdict == V.INCONCLUSIVE
    below = [0.5, 1.0, 0.5, 1.2]
    assert 0.01 < stats.ttest_1samp(below, 0).pvalue < 0.05
    assert V.exceeds(below, 0.0, "greater").verdict == V.HOLDS
    # a case with p = 0.07 must be inconclusive, one with p = 0.03 decided
    assert V.all_of([V.Decision(V.HOLDS, "e", "t", p=0.07)]).verdict == V.INCONCLUSIVE
    assert V.all_of([V.Decision(V.HOLDS, "e", "t", p=0.03)]).verdict == V.HOLDS


def test_welch_and_one_sample_cis_by_hand():
    a, b = np.array([1.0, 1.4, 0.9, 1.2]), np.array([2.0, 2.6, 1.7])
    d = V.compare(a, b, "less", paired=False)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))  # Welch-Satterthwaite
    h = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    diff = a.mean() - b.mean()
    assert d.effect == pytest.approx(diff)
    assert d.effect_ci == pytest.approx((diff - h, diff + h)) and d.ci == pytest.approx(d.effect_ci)
    assert d.n_runs == 7
    x = np.array([0.97, 0.99, 0.98, 0.96])
    e = V.exceeds(x, 0.95, "greater")
    h1 = stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2
    assert e.effect_ci == pytest.approx((x.mean() - 0.95 - h1, x.mean() - 0.95 + h1))


def test_equivalence_flip_margin_is_the_90_percent_bound():
    a = [1.00, 1.03, 0.98, 1.02, 1.01]
    b = [1.00, 1.00, 1.00, 1.01, 0.99]
    d = V.equivalent(a, b, 0.1, margin_source="test margin")
    diff = np.subtract(a, b)
    h = stats.t.ppf(0.95, 4) * diff.std(ddof=1) / math.sqrt(5)
    assert d.flip_margin == pytest.approx(max(abs(diff.mean() - h), abs(diff.mean() + h)))
    assert d.margin == 0.1 and d.margin_source == "test margin" and d.verdict == V.HOLDS
    # just below the flip margin it is not shown; just above it is
    assert V.equivalent(a, b, d.flip_margin * 0.99, margin_source="m").verdict != V.HOLDS
    assert V.equivalent(a, b, d.flip_margin * 1.01, margin_source="m").verdict == V.HOLDS


# ---------------------------------------------------------------- exact tests, relative tolerance
def test_tiny_differences_are_not_decided():
    """Issue 18: paired differences [1e-9, -1e-9, 2e-9] were 'every difference equals 1e-09, p = 0'."""
    d = np.array([1e-9, -1e-9, 2e-9])
    for a, b in [(1.0 + d, np.ones(3)), (d, np.zeros(3)), (1e3 + d, np.full(3, 1e3))]:
        for direction in ("less", "greater"):
            r = V.compare(list(a), list(b), direction)
            assert r.verdict == V.INCONCLUSIVE and r.p is not None and r.p > 0.05, r.test
    # tied at the values' scale: 1e-12 relative differences count as ties, not as a signal
    r = V.compare([1.0 + 1e-12, 1.0, 1.0 - 1e-12], [1.0, 1.0, 1.0], "greater")
    assert r.verdict == V.INCONCLUSIVE and "sign test" in r.test and r.p == 1.0


def test_identical_integer_outcomes_need_more_than_three_seeds():
    """Best epochs 5 vs 3 in every seed: an exact sign test, p = 0.25 (one-sided 0.125) with 3 seeds."""
    three = V.compare([5, 5, 5], [3, 3, 3], "greater")
    assert three.verdict == V.INCONCLUSIVE and three.p >= 0.125 and not re.search(r"p = 0(?![.\d])", three.test)
    assert "3 seeds: the smallest possible p is 0.125 (two-sided 0.25); more seeds needed" in three.test
    eight = V.compare([5] * 8, [3] * 8, "greater")
    assert eight.verdict == V.HOLDS and eight.p == pytest.approx(stats.binomtest(8, 8, 0.5).pvalue)
    assert V.compare([5] * 8, [3] * 8, "less").verdict == V.FAILS
    assert eight.n_runs == 8 and eight.effect == 2
    # two unpaired constant arms: exact permutation test
    un3 = V.compare({0: 5, 1: 5, 2: 5}, {10: 3, 11: 3, 12: 3}, "greater")
    assert un3.verdict == V.INCONCLUSIVE and "permutation" in un3.test and un3.p == pytest.approx(0.1)
    un4 = V.compare({i: 5 for i in range(4)}, {10 + i: 3 for i in range(4)}, "greater")
    assert un4.verdict == V.HOLDS and un4.p == pytest.approx(2 / math.comb(8, 4))
    # a constant value against a threshold: the sign test
    ex3 = V.exceeds([1.0, 1.0, 1.0], 0.9, "greater")
    assert ex3.verdict == V.INCONCLUSIVE and "more seeds needed" in ex3.test
    assert V.exceeds([1.0] * 8, 0.9, "greater").verdict == V.HOLDS
    # deterministic quantities stay decided exactly
    assert V.compare([5], [3], "greater", deterministic=True).verdict == V.HOLDS
    assert V.exceeds([1.0], 0.9, "greater", deterministic=True).verdict == V.HOLDS


def test_equivalence_with_constant_differences_is_an_exact_test():
    three = V.equivalent([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.1, margin_source="m")
    assert three.verdict == V.INCONCLUSIVE and three.p == pytest.approx(0.125)
    assert not re.search(r"p = 0(?![.\d])", three.test) and "every difference equals 0" in three.test
    five = V.equivalent([1.0] * 5, [1.0] * 5, 0.1, margin_source="m")
    assert five.verdict == V.HOLDS and five.p == pytest.approx(0.5 ** 5)
    far = V.equivalent([2.0] * 6, [1.0] * 6, 0.1, margin_source="m")
    assert far.verdict == V.FAILS and far.p < 0.05
    un = V.equivalent({i: 2.0 for i in range(4)}, {10 + i: 1.0 for i in range(4)}, 0.1, margin_source="m")
    assert un.verdict == V.FAILS and "permutation" in un.test


# ---------------------------------------------------------------- effect sizes
def test_hedges_g_known_answers():
    a, b = [1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 4.0, 5.0, 6.0, 8.0]
    # textbook (Hedges & Olkin): s_pooled^2 = ((n1-1) s1^2 + (n2-1) s2^2) / (n1+n2-2)
    s1, s2 = 2.5, 3.7  # sample variances of a and b
    sp = math.sqrt((4 * s1 + 4 * s2) / 8)
    d = (3.0 - 5.2) / sp
    g = (1 - 3 / (4 * 10 - 9)) * d
    se = math.sqrt(10 / 25 + g * g / 20)
    r = V.compare(a, b, "less", paired=False)
    assert r.g == pytest.approx(g) and r.g_ci == pytest.approx((g - 1.959964 * se, g + 1.959964 * se), rel=1e-6)
    assert r.g == pytest.approx(-1.1286, abs=1e-4)  # the hand computation, as a number
    # paired: d_z on the differences [-2, -2, -2, -2, -3] + correction J = 1 - 3 / (4 * 4 - 1)
    rp = V.compare(a, b, "less")
    diff = np.subtract(a, b)
    gz = (1 - 3 / 15) * diff.mean() / diff.std(ddof=1)
    assert rp.g == pytest.approx(gz) and rp.g_ci == pytest.approx(
        (gz - 1.959964 * math.sqrt(1 / 5 + gz ** 2 / 10), gz + 1.959964 * math.sqrt(1 / 5 + gz ** 2 / 10)), rel=1e-6)
    # one sample against a threshold: (mean - threshold) / sd, corrected
    ex = V.exceeds(a, 2.0, "greater")
    assert ex.g == pytest.approx((1 - 3 / 15) * (3.0 - 2.0) / math.sqrt(2.5))


def test_every_comparison_fills_its_effect_and_runs():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1, 0.1, 5), rng.normal(1.3, 0.1, 5)
    for d in (V.compare(list(a), list(b), "less", unit="test MSE"),
              V.compare(list(a), list(b), "less", paired=False, unit="test MSE"),
              V.exceeds(list(a), 0.5, "greater", unit="test MSE"),
              V.equivalent(list(a), list(b), 0.5, margin_source="m", unit="test MSE")):
        assert d.effect is not None and d.effect_ci is not None and d.g is not None and d.g_ci is not None
        assert d.unit == "test MSE" and d.n_runs in (5, 10)
        assert d.effect_ci[0] <= d.effect <= d.effect_ci[1]
        assert set(d.as_dict()) >= {"effect_ci", "unit", "g", "g_ci", "n_runs", "margin", "margin_source",
                                    "flip_margin", "reasons"}


def test_near_reference_states_its_margin_source():
    d = V.near_reference({0: 58.0, 1: 59.5, 2: 58.9}, 58.7, 0.1)
    assert d.margin == pytest.approx(5.87) and d.margin_source == "±10% of the reference's 58.7"
    assert "±10% of the reference's 58.7" in d.evidence
    assert V.near_reference([58.0, 59.0], 58.7, 0.1, margin_source="printed").margin_source == "printed"


# ---------------------------------------------------------------- trends, seeds as the unit
def test_per_run_trend_three_outcomes_on_simulated_runs():
    x = np.arange(6.0)
    rising = _runs(np.random.default_rng(0), 0.5, 5, x)
    d = V.per_run_trend(x, rising, "greater", name="MSE", xname="sigma", unit="MSE")
    assert d.verdict == V.HOLDS and d.n_runs == 5 and "n=5 runs" in d.test and d.unit == "MSE per sigma"
    rhos = [stats.spearmanr(x, y).statistic for y in rising.values()]
    assert d.p == pytest.approx(stats.ttest_1samp(rhos, 0).pvalue)
    slopes = [stats.linregress(x, y).slope for y in rising.values()]
    assert d.effect == pytest.approx(np.mean(slopes)) and d.effect_ci[0] < 0.5 < d.effect_ci[1]
    assert V.per_run_trend(x, rising, "less").verdict == V.FAILS
    null = _runs(np.random.default_rng(1), 0.0, 5, x)
    assert V.per_run_trend(x, null, "greater").verdict == V.INCONCLUSIVE
    one = {0: rising[0]}
    few = V.per_run_trend(x, one, "greater")
    assert few.verdict == V.INCONCLUSIVE and few.n_runs == 1
    # perfectly monotone in each of 3 runs: tied rhos -> exact sign test, not decided
    mono = {s: x * (s + 1) for s in range(3)}
    m3 = V.per_run_trend(x, mono, "greater")
    assert m3.verdict == V.INCONCLUSIVE and "sign test" in m3.test and "more seeds needed" in m3.test
    assert V.per_run_trend(x, {s: x * (s + 1) for s in range(6)}, "greater").verdict == V.HOLDS
    # NaN levels are dropped per run; a run with < 2 points is left out and said
    nan = {0: np.r_[rising[0][:5], np.nan], 1: rising[1], 2: np.full(6, np.nan)}
    dn = V.per_run_trend(x, nan, "greater")
    assert dn.n_runs == 2 and "left out" in dn.evidence


def test_no_trend_three_outcomes_on_simulated_runs():
    x = np.arange(8.0)
    flat = _runs(np.random.default_rng(2), 0.0, 10, x, noise=0.2)
    d = V.no_trend(x, flat, 0.1, margin_source="10% of the reference's RMSE per window", name="RMSE",
                   xname="window")
    assert d.verdict == V.HOLDS and d.n_runs == 10 and d.margin == 0.1 and d.flip_margin < 0.1
    assert d.margin_source.startswith("10% of")
    assert V.no_trend(x, flat, d.flip_margin * 0.99, margin_source="m").verdict != V.HOLDS
    steep = _runs(np.random.default_rng(3), 0.5, 5, x, noise=0.2)
    assert V.no_trend(x, steep, 0.1, margin_source="m").verdict == V.FAILS
    few = _runs(np.random.default_rng(4), 0.0, 3, x, noise=1.0)
    assert V.no_trend(x, few, 0.1, margin_source="m").verdict == V.INCONCLUSIVE
    assert V.no_trend(x, {0: flat[0]}, 0.1, margin_source="m").verdict == V.INCONCLUSIVE
    # a floor (all zero) measures nothing: never "no trend"
    zeros = V.no_trend(x, {s: np.zeros(8) for s in range(10)}, 0.1, margin_source="m")
    assert zeros.verdict == V.INCONCLUSIVE and "constant" in zeros.test


def test_pooling_points_of_a_run_never_narrows_the_ci():
    """Runs that each have their own slope (points within a run are correlated): a regression over
    the pooled points gives a narrower CI than the runs support; no_trend uses the per-run one."""
    x = np.arange(10.0)
    for seed in range(5):
        runs = _runs(np.random.default_rng(seed), 0.0, 5, x, noise=0.1, slope_sd=0.3)
        slopes = np.array([stats.linregress(x, y).slope for y in runs.values()])
        per_run_h = stats.t.ppf(0.95, 4) * slopes.std(ddof=1) / math.sqrt(5)
        pooled = stats.linregress(np.tile(x, 5), np.concatenate(list(runs.values())))
        pooled_h = stats.t.ppf(0.95, 5 * 10 - 2) * pooled.stderr
        assert per_run_h > pooled_h  # pooling 50 points of 5 runs would claim a narrower CI
        d = V.no_trend(x, runs, 1.0, margin_source="m")
        m = slopes.mean()
        assert d.flip_margin == pytest.approx(max(abs(m - per_run_h), abs(m + per_run_h)))
        assert d.n_runs == 5 and "n=5 runs" in d.test
        # a margin between the pooled and the per-run bound: pooled TOST would say "holds", no_trend does not
        margin = (max(abs(m - pooled_h), abs(m + pooled_h)) + d.flip_margin) / 2
        assert V.no_trend(x, runs, margin, margin_source="m").verdict != V.HOLDS


# ---------------------------------------------------------------- multiplicity within a composite
def test_holm_within_all_of():
    parts = [V.Decision(V.HOLDS, "e", "t", p=0.03) for _ in range(3)]
    d = V.all_of(parts)
    assert d.verdict == V.INCONCLUSIVE and d.p == pytest.approx(0.09) and "Holm" in d.test
    ok = V.all_of([V.Decision(V.HOLDS, "e", "t", p=p) for p in (0.001, 0.01, 0.02)])
    assert ok.verdict == V.HOLDS and ok.p == pytest.approx(0.02)  # intersection-union: the largest adjusted p
    fail = V.all_of([V.Decision(V.HOLDS, "e", "t", p=0.001), V.Decision(V.FAILS, "e", "t", p=0.004),
                     V.Decision(V.INCONCLUSIVE, "e", "t", p=0.5)])
    assert fail.verdict == V.FAILS and fail.p == pytest.approx(0.008)
    weak_fail = V.all_of([V.Decision(V.FAILS, "e", "t", p=0.03), V.Decision(V.HOLDS, "e", "t", p=0.03),
                          V.Decision(V.HOLDS, "e", "t", p=0.03)])
    assert weak_fail.verdict == V.INCONCLUSIVE  # 0.03 -> 0.09 after Holm: neither holds nor fails
    # Holm's step-down: [0.03, 0.001, 0.02] -> [0.04, 0.003, 0.04], the failing part still fails
    step = V.all_of([V.Decision(V.FAILS, "e", "t", p=0.03), V.Decision(V.HOLDS, "e", "t", p=0.001),
                     V.Decision(V.HOLDS, "e", "t", p=0.02)])
    assert step.verdict == V.FAILS and step.p == pytest.approx(0.04)
    # parts without a p (deterministic) keep their verdict
    det = V.compare([5], [3], "greater", deterministic=True)
    assert V.all_of([det, V.Decision(V.HOLDS, "e", "t", p=0.01)]).verdict == V.HOLDS
    assert V.all_of([V.compare([6], [3], "less", deterministic=True)]).verdict == V.FAILS


def test_best_of_is_holm_adjusted():
    from statsmodels.stats.multitest import multipletests

    a = np.array([1.0, 1.1, 1.2, 1.05])
    # each rival is worse than a at p = 0.02-0.04 alone (paired by seed), not after Holm over 3 rivals
    close = {"a": list(a), "b": list(a + [0.12, 0.18, 0.03, 0.14]), "c": list(a + [0.13, 0.17, 0.04, 0.15]),
             "d": list(a + [0.11, 0.19, 0.04, 0.13])}
    raw = [V.compare(close["a"], close[k], "less").p for k in "bcd"]
    assert all(0.02 < p < 0.05 for p in raw)
    d = V.best_of(close, "a", "less")
    assert d.verdict == V.INCONCLUSIVE and "Holm" in d.test
    assert d.p == pytest.approx(max(multipletests(raw, method="holm")[1]))
    clear = {"a": list(a), "b": list(a + [0.1, 0.2, 0.1, 0.15]), "c": list(a + [0.3, 0.31, 0.29, 0.3])}
    h = V.best_of(clear, "a", "less", unit="MSE")
    assert h.verdict == V.HOLDS and h.n_runs == 4 and h.unit == "MSE"
    assert h.effect == pytest.approx(-0.1375)  # the deciding part: the closest rival (largest adjusted p)


# ---------------------------------------------------------------- budget
def _curves(rng, shape, n_runs=3, epochs=6):
    e = np.arange(epochs, dtype=float)
    return {s: shape(e) + rng.normal(0, 0.002, epochs) for s in range(n_runs)}


def test_budget_gate_turns_a_short_budget_failure_into_inconclusive():
    rng = np.random.default_rng(0)
    fails = V.compare([0.80, 0.82, 0.81, 0.83], [0.85, 0.86, 0.88, 0.87], "greater")
    assert fails.verdict == V.FAILS
    rising = V.Budget({"random": _curves(rng, lambda e: 0.5 + 0.05 * e),
                       "glove": _curves(rng, lambda e: 0.85 - 0.3 * np.exp(-3 * e))}, "higher", 6, 20,
                      name="validation accuracy")
    g = V.budget_gate(fails, rising)
    assert g.verdict == V.INCONCLUSIVE and g.p == fails.p and g.effect == fails.effect
    assert "only 6 of the reference's 20 epochs" in g.reasons[0] and "random's validation accuracy still rising" in g.test
    assert "glove" not in g.reasons[0]
    # a censored maximum: best epoch at the last epoch in at least half the runs, even if the slope is flat
    censored = {0: [0.1, 0.5, 0.5, 0.5, 0.51], 1: [0.1, 0.5, 0.5, 0.5, 0.52], 2: [0.1, 0.52, 0.5, 0.5, 0.5]}
    b = V.Budget({"a": censored}, "higher", 5, 20, window=5, name="accuracy")
    assert V.budget_gate(fails, b).verdict == V.INCONCLUSIVE and "censored" in V.budget_gate(fails, b).test
    # the reference's budget, a flat curve, or a decision that holds: unchanged
    assert V.budget_gate(fails, V.Budget(rising.curves, "higher", 20, 20)) is fails
    flat = V.Budget({"a": {s: [0.9, 0.5, 0.4, 0.4, 0.4, 0.4] for s in range(3)}}, "lower", 6, 20)
    assert V.budget_gate(fails, flat) is fails
    holds = V.compare([0.80, 0.82, 0.81, 0.83], [0.85, 0.86, 0.88, 0.87], "less")
    assert V.budget_gate(holds, rising) is holds
    # a loss still falling
    falling = V.Budget({"a": _curves(rng, lambda e: 1.0 - 0.1 * e)}, "lower", 6, 49, name="validation loss")
    assert "still falling" in V.budget_gate(fails, falling).test


def test_finding_applies_the_budget_centrally_and_records_stats():
    fails = V.compare([0.80, 0.82, 0.81, 0.83], [0.85, 0.86, 0.88, 0.87], "greater", unit="accuracy")
    b = V.Budget({"random": {s: [0.5, 0.6, 0.7, 0.8] for s in range(3)}}, "higher", 4, 20, name="accuracy")
    f = Finding.of("test-budget", "x", fails, budget=b, scale_note="4 of 20 epochs")
    assert f.verdict == V.INCONCLUSIVE and f.stats["reasons"] and f.stats["scale_note"] == "4 of 20 epochs"
    plain = Finding.of("test-budget", "x", fails)
    assert plain.verdict == V.FAILS
    st = plain.as_dict()["stats"]
    assert st["p"] == fails.p and st["effect"] == fails.effect and st["unit"] == "accuracy"
    assert st["effect_ci"] == list(fails.effect_ci) and st["n_runs"] == 4 and st["g"] == fails.g
    assert set(st) >= {"g_ci", "margin", "margin_source", "flip_margin", "reasons"}
    e = Finding.of("test-eq", "x", V.equivalent([1.0, 1.01, 0.99], [1.0, 1.0, 1.01], 0.1, margin_source="src"))
    assert e.stats["margin"] == 0.1 and e.stats["margin_source"] == "src" and e.stats["flip_margin"] is not None
    with pytest.raises(ValueError, match="margin_source"):
        V.Decision(V.HOLDS, "e", "t", margin=0.1)


def test_holm_adjust_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from dltour.verdicts import holm_adjust

    rng = np.random.default_rng(3)
    for m in (1, 2, 3, 7, 20):
        p = rng.uniform(0, 0.2, m)
        p[0] = p[-1]  # a tie
        assert np.allclose(holm_adjust(p), multipletests(p, method="holm")[1])
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_an_equivalence_margin_needs_its_source():
    with pytest.raises(TypeError):
        V.equivalent([1.0, 1.1], [1.0, 1.2], 0.1)  # noqa: the margin's source is required
    with pytest.raises(TypeError):
        V.no_trend([1, 2, 3], {0: [1, 2, 3], 1: [1, 2, 3]}, 0.1)
