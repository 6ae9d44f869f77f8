"""Known-answer tests for behaviour that mutation testing (mutmut 3) showed no test pinned:
``no_trend`` (tie rule, sign-test branch, fields of every branch), ``all_of`` with parts,
``hedges_g``'s small-sample and zero-sd rules, ``budget_gate`` / ``_curve_state``,
``_perm_test``'s exact vs Monte Carlo switch, ``near_reference``'s pairing, ``fmt``'s ranges, the
default ``k = 10`` of the neighbour functions and ``CharNgramLM``.

Every expected value is worked out by hand (in a comment) or with scipy / numpy formulas written
out here, never by asking the function under test for its own answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dltour import verdicts as V
from dltour.metrics import text as tx

Z975 = stats.norm.ppf(0.975)  # 1.959964


def _t_ci(d, level):
    d = np.asarray(d, float)
    h = stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return (d.mean() - h, d.mean() + h)


def _g_one_sample(d):
    """Hedges' g of d against 0 and its 95% CI: J = 1 - 3 / (4 (n - 1) - 1), se = sqrt(1/n + g^2 / 2n)."""
    d = np.asarray(d, float)
    n = d.size
    g = (1 - 3 / (4 * (n - 1) - 1)) * d.mean() / d.std(ddof=1)
    se = math.sqrt(1 / n + g * g / (2 * n))
    return g, (g - Z975 * se, g + Z975 * se)


def _tost_p(d, margin):
    """One-sample TOST p: the larger of the two one-sided t-tests against -margin and +margin."""
    return max(stats.ttest_1samp(d, -margin, alternative="greater").pvalue,
               stats.ttest_1samp(d, margin, alternative="less").pvalue)


def _lines(x, intercept, slopes):
    """seed -> intercept + slope * x: every run's OLS slope is exactly its slope."""
    return {s: intercept + k * np.asarray(x, float) for s, k in enumerate(slopes)}


# ================================================================ no_trend
def test_no_trend_unit_defaults_to_the_quantity_per_x_level():
    x = np.arange(5.0)
    wiggle = np.array([1.0, -2.0, 0.0, 2.0, -1.0])  # orthogonal to 1 and x: slopes unchanged
    runs = {s: k * x + wiggle for s, k in enumerate([0.01, -0.02, 0.015])}
    d = V.no_trend(x, runs, 1.0, margin_source="m", name="loss", xname="epoch")
    assert d.unit == "loss per epoch"  # no unit given: the quantity's name
    assert V.no_trend(x, runs, 1.0, margin_source="m", name="loss", xname="epoch", unit="dB").unit == "dB per epoch"
    assert d.n == (3,) and d.n_runs == 3 and d.margin == 1.0 and d.margin_source == "m"
    assert d.evidence.startswith("3 run(s) of (epoch, loss) over 5 levels") and "per-run slope" in d.evidence
    assert "[" not in d.evidence  # no `what`: no "[...]" tag
    assert "(m) [lr sweep]; per-run slope" in V.no_trend(x, runs, 1.0, margin_source="m", what="lr sweep").evidence


def test_no_trend_decides_two_runs_and_leaves_one_run_undecided():
    x = np.arange(5.0)
    wiggle = np.array([1.0, -2.0, 0.0, 2.0, -1.0])
    two = {0: 0.5 * x + wiggle, 1: 0.501 * x + wiggle}  # slopes 0.5 and 0.501
    d = V.no_trend(x, two, 1.0, margin_source="m")
    s = np.array([0.5, 0.501])
    # df = 1 (Cauchy): mean 0.5005, se 0.0005; t against +1 = -999, against -1 = 3001
    assert d.p == pytest.approx(_tost_p(s, 1.0)) and d.p < 1e-3
    assert d.verdict == V.HOLDS and d.n == (2,) and d.n_runs == 2
    one = V.no_trend(x, {0: 0.5 * x + wiggle}, 1.0, margin_source="m", unit="dB")
    assert one.verdict == V.INCONCLUSIVE and one.p is None
    assert one.n == (1,) and one.n_runs == 1 and one.margin == 1.0 and one.unit == "dB per x"


def test_no_trend_of_a_constant_y_measures_a_zero_effect_and_keeps_its_fields():
    x = np.arange(4.0)
    d = V.no_trend(x, {0: [0.0] * 4, 1: [0.0] * 4}, 0.5, margin_source="m", unit="BLEU")
    assert d.verdict == V.INCONCLUSIVE and d.effect == 0.0
    assert d.n == (2,) and d.n_runs == 2 and d.margin == 0.5 and d.unit == "BLEU per x"


def test_no_trend_tied_slopes_within_the_margin_hold_by_the_exact_sign_tost():
    x = np.arange(5.0)
    d = V.no_trend(x, _lines(x, 1.0, [0.1] * 5), 1.0, margin_source="m", unit="dB")
    # 5 slopes inside +-1: each one-sided sign test has 5 of 5 on its side, p = 0.5^5 = 0.03125 < 0.05
    assert d.verdict == V.HOLDS and d.p == pytest.approx(0.5 ** 5)
    assert d.effect == pytest.approx(0.1) and d.flip_margin == pytest.approx(0.1)
    assert d.g is None and d.ci is None  # no t statistic on tied slopes
    assert d.n == (5,) and d.n_runs == 5 and d.margin == 1.0 and d.unit == "dB per x"
    assert "more seeds needed" not in d.test  # 0.03125 one-sided can decide a TOST


def test_no_trend_tied_slopes_outside_the_margin_do_not_hold():
    x = np.arange(5.0)
    d = V.no_trend(x, _lines(x, 3.0, [2.0] * 6), 1.0, margin_source="m")
    # every slope 2 > 1: two-sided sign test against +1 with 6 of 6 above, p = 2 * 0.5^6 = 0.03125
    assert d.verdict == V.FAILS and d.p == pytest.approx(2 * 0.5 ** 6)
    assert d.effect == pytest.approx(2.0) and d.flip_margin == pytest.approx(2.0)
    assert "outside the margin p = 0.0312" in d.test


def test_no_trend_three_tied_runs_cannot_decide_and_say_more_runs_are_needed():
    x = np.arange(4.0)
    d = V.no_trend(x, _lines(x, 0.0, [0.2] * 3), 1.0, margin_source="m")
    # the smallest one-sided sign-test p with 3 runs is 0.5^3 = 0.125 >= 0.05
    assert d.verdict == V.INCONCLUSIVE and d.p == pytest.approx(0.125)
    assert "3 runs: the smallest possible p is 0.125" in d.test


@pytest.mark.parametrize("x, intercept, spread, tied", [
    # x range 10, max|y| = 100 + 0.5 * 10 = 105: slopes tie within 1e-9 * 105 / 10 = 1.05e-8
    (np.array([0.0, 5.0, 10.0]), 100.0, 1e-7, False),
    (np.array([0.0, 5.0, 10.0]), 100.0, 1e-10, True),
    # x range 0.2, max|y| = 1.1: slopes tie within 1e-9 * 1.1 / 0.2 = 5.5e-9 (not 1e-9 * 1.1)
    (np.array([0.0, 0.1, 0.2]), 1.0, 3e-9, True),
])
def test_no_trend_ties_slopes_within_rtol_of_y_scale_per_unit_of_x(x, intercept, spread, tied):
    slopes = 0.5 + spread * np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    d = V.no_trend(x, _lines(x, intercept, slopes), 1.0, margin_source="m")
    assert d.verdict == V.HOLDS
    if tied:  # exact sign-test TOST: p = 0.5^5
        assert d.p == pytest.approx(0.5 ** 5) and d.g is None
    else:  # t-test TOST on nearly equal slopes far inside the margin: p ~ 0
        assert d.p < 1e-6 and d.g is not None


def test_no_trend_falling_slopes_report_ci_g_and_the_90_percent_flip_by_hand():
    x = np.arange(5.0)
    wiggle = np.array([1.0, -2.0, 0.0, 2.0, -1.0])
    slopes = np.array([-0.02, -0.03, -0.01, -0.025, -0.015])
    d = V.no_trend(x, {s: k * x + wiggle for s, k in enumerate(slopes)}, 0.1, margin_source="m")
    assert d.verdict == V.HOLDS and d.p == pytest.approx(_tost_p(slopes, 0.1))
    assert d.ci == pytest.approx(_t_ci(slopes, 0.95)) and d.effect_ci == pytest.approx(d.ci)
    lo90, hi90 = _t_ci(slopes, 0.90)
    assert abs(lo90) > abs(hi90) and d.flip_margin == pytest.approx(abs(lo90))  # the lower bound is the far one
    g, g_ci = _g_one_sample(slopes)  # J = 1 - 3 / 15 = 0.8
    assert d.g == pytest.approx(g) and d.g_ci == pytest.approx(g_ci)


# ================================================================ all_of with parts
def _part(verdict, p=None, **kw):
    return V.Decision(verdict, kw.pop("evidence", "e"), kw.pop("test", "t"), p=p, **kw)


def test_all_of_that_holds_reports_its_weakest_part_and_every_run():
    a = _part(V.HOLDS, 0.001, evidence="e1", effect=-1.0, effect_ci=(-1.5, -0.5), unit="s", g=-2.0,
              g_ci=(-3.0, -1.0), n=(3, 3), n_runs=3, reasons=["r1"], direction="less")
    b = _part(V.HOLDS, 0.03, evidence="e2", effect=0.5, effect_ci=(0.1, 0.9), unit="ms", g=1.0,
              g_ci=(0.2, 1.8), n=(5,), n_runs=5, reasons=["r2"], direction="greater")
    d = V.all_of([a, b])
    # Holm: sorted 0.001, 0.03 -> 0.001 * 2 = 0.002, 0.03 * 1 = 0.03; both < 0.05; combined p = max = 0.03
    assert d.verdict == V.HOLDS and d.p == pytest.approx(0.03)
    assert (d.effect, d.effect_ci, d.unit, d.g, d.g_ci, d.direction) == (0.5, (0.1, 0.9), "ms", 1.0, (0.2, 1.8),
                                                                          "greater")
    assert d.n == (3, 3, 5) and d.n_runs == 5 and d.reasons == ["r1", "r2"]
    assert d.evidence == "part 1: e1; part 2: e2"


def test_all_of_that_fails_is_decided_by_its_most_significant_failing_part():
    f1 = _part(V.FAILS, 0.01, test="t1", effect=1.0, g=0.5)
    f2 = _part(V.FAILS, 0.001, test="t2", effect=2.0, g=1.5)
    h = _part(V.HOLDS, 0.2, test="t3", effect=-1.0)
    d = V.all_of([f1, f2, h], labels=["x", "y", "z"])
    # Holm over 3: 0.001 * 3 = 0.003, 0.01 * 2 = 0.02, 0.2 * 1 = 0.2; z's 0.2 >= 0.05 -> inconclusive
    assert d.verdict == V.FAILS and d.p == pytest.approx(0.003) and d.effect == 2.0 and d.g == 1.5
    assert "x: does not hold (t1, Holm-adjusted p = 0.02)" in d.test  # unchanged: no arrow
    assert "z: holds -> inconclusive after Holm (t3, Holm-adjusted p = 0.2)" in d.test


def test_all_of_part_at_an_adjusted_p_of_exactly_alpha_is_not_decided():
    assert V.all_of([_part(V.HOLDS, 0.05)]).verdict == V.INCONCLUSIVE  # p < 0.05 is needed
    assert V.all_of([_part(V.FAILS, 0.05)]).verdict == V.INCONCLUSIVE


def test_all_of_not_checked_parts_only_is_not_checked():
    d = V.all_of([V.not_checked("a"), V.not_checked("b")])
    assert d.verdict == V.NOT_CHECKED and d.p is None


def test_all_of_combined_p_with_parts_that_have_no_p():
    det = _part(V.HOLDS)  # deterministic: no p
    # holds: the largest adjusted p of the tested parts (Holm over the one tested part: 0.01)
    assert V.all_of([det, _part(V.HOLDS, 0.01)]).p == pytest.approx(0.01)
    # inconclusive with an untested part: no combined p (the untested part has none to take the max over)
    d = V.all_of([_part(V.INCONCLUSIVE, 0.3), V.not_checked("later")])
    assert d.verdict == V.INCONCLUSIVE and d.p is None


# ================================================================ hedges_g
def test_hedges_g_two_arms_of_two_is_the_smallest_computed_case():
    # s1^2 = s2^2 = 2, s_pooled = sqrt((2 + 2) / 2) = sqrt(2); J = 1 - 3 / (4 * 4 - 9) = 4/7
    g = 4 / 7 * (2.0 - 1.0) / math.sqrt(2)  # 0.40406
    se = math.sqrt(4 / 4 + g * g / 8)
    got, ci = V.hedges_g([1.0, 3.0], [0.0, 2.0])
    assert got == pytest.approx(g) and ci == pytest.approx((g - Z975 * se, g + Z975 * se))
    assert V.hedges_g([1.0], [0.0, 2.0, 4.0]) == (None, None)


def test_hedges_g_one_arm_defaults_to_mu_zero_from_three_values():
    # mean 7/3, sd sqrt(7/3), J = 1 - 3 / (4 * 2 - 1) = 4/7: g = 4/7 * sqrt(7/3) = 0.8729
    g = 4 / 7 * math.sqrt(7 / 3)
    se = math.sqrt(1 / 3 + g * g / 6)
    got, ci = V.hedges_g([1.0, 2.0, 4.0])
    assert got == pytest.approx(g) and ci == pytest.approx((g - Z975 * se, g + Z975 * se))
    assert V.hedges_g([1.0, 2.0]) == (None, None)  # n = 2: df too small for the correction


def test_hedges_g_is_none_when_the_sd_is_zero():
    assert V.hedges_g([2.0, 2.0, 2.0]) == (None, None)
    assert V.hedges_g([1.0, 1.0, 1.0], [2.0, 2.0]) == (None, None)


# ================================================================ _perm_test
def test_perm_test_is_exact_up_to_50000_relabellings():
    # 8 vs 8: C(16, 8) = 12,870 relabellings, only one puts every 1 in x: p = 1/12870
    assert V._perm_test(np.ones(8), np.zeros(8), "greater") == pytest.approx(1 / 12870)
    assert V._perm_test(np.ones(3), np.zeros(3)) == pytest.approx(2 / 20)  # two-sided by default: 2/C(6,3)


def test_perm_test_beyond_50000_relabellings_draws_9999_at_random():
    # 10 vs 10: C(20, 10) = 184,756 > 50,000. A Monte Carlo p is (k + 1) / (9999 + 1) >= 1e-4, while the
    # exact p would be 1/184756 = 5.4e-6; an extreme relabelling has chance 5.4e-6 per draw, so k is ~0.
    p = V._perm_test(np.ones(10), np.zeros(10), "greater")
    assert 1e-4 <= p < 1e-3


def test_perm_test_monte_carlo_p_is_reproducible():
    x, y = np.arange(10.0), np.arange(10.0) + 1.5  # overlapping arms: p far from 0 and 1
    ps = [V._perm_test(x, y) for _ in range(3)]
    assert 0.05 < ps[0] < 0.95 and ps[0] == ps[1] == ps[2]


# ================================================================ near_reference, paired against the constant
def test_near_reference_pairs_every_seed_with_the_reference():
    ours = {0: 58.0, 1: 59.5, 2: 58.9, 3: 58.2}
    d = V.near_reference(ours, 58.7, 0.1, unit="%", what="top-1")
    diff = np.array(list(ours.values())) - 58.7
    m = 0.1 * 58.7  # 5.87
    assert d.verdict == V.HOLDS and d.p == pytest.approx(_tost_p(diff, m)) and d.margin == pytest.approx(m)
    assert d.n_runs == 4  # a pair counts once: the reference is no run
    g, g_ci = _g_one_sample(diff)  # paired g on the differences, J = 1 - 3 / 11
    assert d.g == pytest.approx(g) and d.g_ci == pytest.approx(g_ci)
    assert d.unit == "%"
    assert "equivalence margin ±5.87" in d.evidence and d.evidence.endswith(" [top-1]")
    assert "[" not in V.near_reference(ours, 58.7, 0.1).evidence


# ================================================================ fmt
@pytest.mark.parametrize("x, text", [
    (None, "n/a"), (float("nan"), "n/a"),
    (0, "0"), (0.0, "0"),
    (12.3456, "12.35"), (0.12345, "0.1235"), (99.99, "99.99"),   # 4 significant digits
    (100.0, "100.0"), (123.456, "123.5"), (-250.04, "-250.0"),   # 1 decimal from 100
    (999999.0, "999999.0"),
    (1e6, "1e+06"), (2.5e7, "2.5e+07"),                           # scientific from 1e6
    (1.2345e-5, "1.23e-05"), (-0.0005, "-0.0005"),                # and below 1e-3
])
def test_fmt_known_answers(x, text):
    assert V.fmt(x) == text


# ================================================================ budget_gate / _curve_state
FAILS = V.Decision(V.FAILS, "e", "t", p=0.01)


@pytest.mark.parametrize("better, sign, extreme", [("lower", 1.0, "minimum"), ("higher", -1.0, "maximum")])
def test_budget_censored_in_exactly_half_of_the_runs_is_inconclusive(better, sign, extreme):
    # run 0 ends on its best epoch (0.9 < 1); run 1's best is its first (lower) or second (higher).
    # Slopes over the last 3 epochs: [2, 3, 0.9] -> -0.55, [3, 4, 5] -> +1: mean +0.225, not improving
    curves = {0: sign * np.array([3, 2, 1, 2, 3, 0.9]), 1: sign * np.array([1, 6, 2, 3, 4, 5.0])}
    b = V.Budget({"a": curves}, better, 6, 20)
    assert V._curve_state(b, "a") == (pytest.approx(sign * 0.225), 3, 1, 2)
    d = V.budget_gate(FAILS, b)
    assert d.verdict == V.INCONCLUSIVE  # 1 of 2 runs censored: at least half
    assert f"in 1 of 2 runs (a censored {extreme})" in d.reasons[-1]


def test_budget_window_defaults_to_a_third_of_the_epochs():
    # 12 epochs: window max(3, 12 // 3) = 4. Last 4 [3, 1, 1.2, 1.1]: OLS slope -2.75 / 5 = -0.55
    # (still falling); the last 3 alone [1, 1.2, 1.1] rise (+0.05). Best epoch 9, not the last.
    y = [10, 9, 8, 7, 6, 5, 4, 3.5, 3, 1, 1.2, 1.1]
    b = V.Budget({"a": {0: y}}, "lower", 12, 49)
    assert V._curve_state(b, "a") == (pytest.approx(-0.55), 4, 0, 1)
    d = V.budget_gate(FAILS, b)
    assert d.verdict == V.INCONCLUSIVE and "over the last 4" in d.reasons[-1]


def test_budget_a_two_epoch_curve_counts():
    b = V.Budget({"a": {0: [2.0, 1.0]}}, "lower", 2, 20)  # window min(2, 3) = 2: slope -1, best at the end
    assert V._curve_state(b, "a") == (pytest.approx(-1.0), 2, 1, 1)
    assert V.budget_gate(FAILS, b).verdict == V.INCONCLUSIVE


def test_budget_skips_short_runs_and_empty_arms_but_checks_the_rest():
    # seed 0 has one finite epoch (left out); seed 1 falls: [3, 2, 1] -> slope -1, best at the end
    b = V.Budget({"a": {0: [np.nan, 1.0], 1: [3.0, 2.0, 1.0]}}, "lower", 3, 20)
    assert V._curve_state(b, "a") == (pytest.approx(-1.0), 3, 1, 1)
    empty_first = V.Budget({"empty": {0: [np.nan, np.nan, 1.0]}, "b": {0: [3.0, 2.0, 1.0]}}, "lower", 3, 20)
    assert V._curve_state(empty_first, "empty") == (None, 0, 0, 0)
    d = V.budget_gate(FAILS, empty_first)
    assert d.verdict == V.INCONCLUSIVE and "b's" in d.reasons[-1] and "empty's" not in d.reasons[-1]
    only_empty = V.Budget({"empty": {0: [np.nan, 1.0]}}, "lower", 3, 20)
    assert V.budget_gate(FAILS, only_empty) is FAILS  # nothing measured: the decision stands


@pytest.mark.parametrize("better", ["lower", "higher"])
def test_budget_a_flat_curve_at_zero_is_not_still_improving(better):
    b = V.Budget({"a": {0: [0.0] * 4, 1: [0.0] * 4}}, better, 4, 20)  # slope 0, best epoch the first
    assert V.budget_gate(FAILS, b) is FAILS


@pytest.mark.parametrize("better, sign", [("lower", 1.0), ("higher", -1.0)])
def test_budget_float_noise_on_a_plateau_is_not_improvement(better, sign):
    # the best epoch is the first; over the last 3 the curve moves 1e-9 per epoch in the better
    # direction, below RTOL * max|y| = 1e-9 * 100 = 1e-7: a plateau, not a curve still improving
    y = [99.5, 100.0, 100.0 - 1e-9, 100.0 - 2e-9] if better == "lower" else [100.5, 100.0, 100.0 + 1e-9,
                                                                              100.0 + 2e-9]
    b = V.Budget({"a": {0: y}}, better, 4, 20)
    assert V._curve_state(b, "a")[0] == pytest.approx(-sign * 1e-9, rel=1e-3)
    assert V.budget_gate(FAILS, b) is FAILS


# ================================================================ text: default k = 10
def _fan(n=12):
    """n unit vectors at 0, 10, 20, ... degrees: cosine order = angular distance."""
    a = np.deg2rad(10.0 * np.arange(n))
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def test_nearest_words_default_k_is_10():
    words = [f"w{i}" for i in range(12)]
    got = tx.nearest_words(_fan(), words, "w0")
    assert [w for w, _ in got] == [f"w{i}" for i in range(1, 11)]  # w11 (110 degrees) is the 11th
    assert [s for _, s in got] == pytest.approx(np.cos(np.deg2rad(10.0 * np.arange(1, 11))))


def test_neighbour_sets_default_k_is_10():
    nb = tx.neighbour_sets(_fan(), [0, 11], list(range(12)))
    assert nb.tolist() == [list(range(1, 11)), list(range(10, 0, -1))]


def test_polarity_alignment_default_k_is_10():
    s = np.arange(12.0)
    # 10 nearest of query 0 and of query 11: rows 1..10; of query 5 (50 deg): all but 5 and 11 (60 deg away)
    y = [np.mean(s[1:11]), np.mean(s[[0, 1, 2, 3, 4, 6, 7, 8, 9, 10]]), np.mean(s[1:11])]  # 5.5, 5.0, 5.5
    want = np.corrcoef([0.0, 5.0, 11.0], y)[0, 1]  # 0.0524
    assert tx.polarity_alignment(_fan(), s, [0, 5, 11], list(range(12))) == pytest.approx(want)


# ================================================================ CharNgramLM
def test_char_ngram_defaults_are_order_3_and_alpha_0_1():
    lm = tx.CharNgramLM("abcab")
    # vocab {a, b, c} + unseen: V = 4. Trigrams abc, bca, cab once each; contexts (from "abca") ab, bc, ca once
    assert lm.bits_per_char("abc") == pytest.approx(-math.log2((1 + 0.1) / (1 + 0.1 * 4)))  # a sample of length n
    # every trigram of the training text, the last in code order (cab, context ca) included
    assert lm.bits_per_char("abcab") == pytest.approx(-math.log2(1.1 / 1.4))
    # 'z' unseen shares no count with 'c', the last character of the vocabulary: abz never occurred
    assert lm.bits_per_char("abz") == pytest.approx(-math.log2(0.1 / 1.4))


def test_char_ngram_order_1_is_add_alpha_unigrams():
    lm = tx.CharNgramLM("aab", n=1, alpha=0.1)  # counts a 2, b 1 of 3; V = 3
    want = -(math.log2(2.1 / 3.3) + math.log2(1.1 / 3.3)) / 2
    assert lm.bits_per_char("ab") == pytest.approx(want)


def test_char_ngram_order_2_conditions_on_the_previous_character():
    lm = tx.CharNgramLM("abab", n=2, alpha=0.1)  # bigrams ab 2, ba 1; contexts (from "aba") a 2, b 1; V = 3
    want = -(math.log2((1 + 0.1) / (1 + 0.3)) + math.log2((2 + 0.1) / (2 + 0.3))) / 2  # ba, ab
    assert lm.bits_per_char("bab") == pytest.approx(want)


@pytest.mark.parametrize("i", [500, 620, 740, 860, 980])
def test_char_ngram_codes_stay_exact_with_a_large_alphabet(i):
    """1000 distinct characters, order 6: codes up to 1001^6 ~ 1e18, beyond float64's exact
    integers. A 6-gram one character away from a training 6-gram is still unseen."""
    chars = [chr(0x4E00 + t) for t in range(1000)]
    lm = tx.CharNgramLM("".join(chars), n=6, alpha=0.1)  # every 6-gram and its 5-gram context once; V = 1001
    last_off = "".join(chars[i:i + 5]) + chars[i + 6]  # context seen once, 6-gram unseen
    assert lm.bits_per_char(last_off) == pytest.approx(-math.log2(0.1 / (1 + 0.1 * 1001)))
    first_off = chars[i + 1] + "".join(chars[i + 1:i + 6])  # neither context nor 6-gram seen
    assert lm.bits_per_char(first_off) == pytest.approx(-math.log2(0.1 / (0 + 0.1 * 1001)))


def test_char_ngram_model_refuses_a_training_text_shorter_than_its_order():
    """Found by the mutation search: a text shorter than n fitted silently and crashed later in
    bits_per_char with an IndexError; it is refused at fit time with the reason."""
    from dltour.metrics.text import CharNgramLM

    with pytest.raises(ValueError, match="at least 3 characters, got 2"):
        CharNgramLM("ab", n=3)
    with pytest.raises(ValueError, match="at least 1 characters, got 0"):
        CharNgramLM("", n=1)
    assert CharNgramLM("abc", n=3).bits_per_char("abc") > 0  # exactly n characters is enough


def test_char_ngram_model_refuses_an_order_whose_codes_overflow_int64():
    """101 distinct characters + the unseen one: 102**9 < 2**63 <= 102**10, so n=10 would wrap."""
    from dltour.metrics.text import CharNgramLM

    text = "".join(chr(0x4E00 + i) for i in range(101)) * 2
    assert 102 ** 9 < 2 ** 63 <= 102 ** 10
    CharNgramLM(text, n=9)
    with pytest.raises(ValueError, match="overflow"):
        CharNgramLM(text, n=10)
