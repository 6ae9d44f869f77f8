"""Known answers for the one decision rule (``dltour.verdicts``): each rule gives each of its
outcomes on hand-made data, and its statistics equal scipy's / statsmodels' own."""

import math

import numpy as np
import pytest
from scipy import stats

from dltour import verdicts as V
from dltour.registry import Finding


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


def test_constant_differences_decided_exactly():
    assert V.compare([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], "less").verdict == V.HOLDS
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
    d = V.equivalent(a, b, 0.1)
    from statsmodels.stats.weightstats import ttost_paired

    assert d.p == pytest.approx(ttost_paired(np.array(a), np.array(b), -0.1, 0.1)[0])
    assert d.verdict == V.HOLDS
    far = V.equivalent([2.0, 2.1, 1.9, 2.05], b, 0.1)
    assert far.verdict == V.FAILS
    # no significant difference is NOT equivalence: wide noise stays inconclusive
    wide = V.equivalent([0.5, 1.6, 0.7, 1.4], b, 0.1)
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


# ---------------------------------------------------------------- correlation
def test_trend_spearman():
    x = [1, 2, 3, 4, 5, 6]
    d = V.trend(x, [1, 2, 3, 4, 5, 7], "greater")
    assert d.verdict == V.HOLDS and d.stat == pytest.approx(1.0)
    assert V.trend(x, [7, 5, 4, 3, 2, 1], "greater").verdict == V.FAILS
    assert V.trend(x, [1, 3, 2, 2, 3, 1], "greater").verdict == V.INCONCLUSIVE
    assert V.trend(x, [0, 0, 0, 0, 0, 0], "greater").verdict == V.INCONCLUSIVE


def test_no_correlation_needs_equivalence_and_refuses_constant_input():
    rng = np.random.default_rng(0)
    x = np.repeat(np.arange(5), 60)
    y = rng.normal(size=x.size)
    assert V.no_correlation(x, y, 0.3).verdict == V.HOLDS  # n=300 of independent noise
    assert V.no_correlation(x, x + rng.normal(scale=0.1, size=x.size), 0.3).verdict == V.FAILS
    assert V.no_correlation([1, 2, 3, 4, 5], [2, 1, 3, 5, 4], 0.3).verdict == V.INCONCLUSIVE  # too few points
    zeros = V.no_correlation(x, np.zeros(x.size), 0.3)  # BLEU all zero measures nothing
    assert zeros.verdict == V.INCONCLUSIVE and "constant" in zeros.test


# ---------------------------------------------------------------- proportion, combinations, gate
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
    d = V.compare([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], "less")
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
