"""Known-answer tests that kill mutants mutmut found surviving in ``dltour.verdicts`` (issue #23
item 8; scripts/mutation.sh). The expected values come from textbook tables and exact binomial
arithmetic worked out by hand, not from the implementation's output."""

from __future__ import annotations

import numpy as np
import pytest

from dltour import verdicts as V


# ---------------------------------------------------------------- distribution-free CI of the median
@pytest.mark.parametrize("n, k", [
    (6, 1),    # P(B <= 0) = 1/64 = 0.016 <= 0.025 < P(B <= 1) = 7/64
    (10, 2),   # P(B <= 1) = 11/1024 = 0.011 <= 0.025 < P(B <= 2) = 56/1024
    (20, 6),   # the textbook 95% interval for n = 20: the 6th and 15th order statistics
])
def test_sign_ci_order_statistics(n, k):
    rng = np.random.default_rng(n)
    d = rng.permutation(np.arange(1.0, n + 1) * 1.5)  # shuffled, so the function must sort
    s = np.sort(d)
    assert V._sign_ci(d) == (s[k - 1], s[n - k])


def test_sign_ci_none_below_six_at_95_percent():
    assert V._sign_ci(np.arange(5.0)) is None  # P(B <= 0) = 1/32 = 0.031 > 0.025
    assert V._sign_ci(np.arange(6.0)) == (0.0, 5.0)


# ---------------------------------------------------------------- exact sign test
def test_sign_test_counts_only_values_beyond_the_tolerance():
    # |d| > tol: the two values exactly at +-0.5 are ties -> 2 positive, 0 negative; p = 2 * (1/2)^2
    assert V._sign_test(np.array([0.5, -0.5, 1.0, 1.0]), 0.5) == (pytest.approx(0.5), 2, 0)
    assert V._sign_test(np.zeros(4), 0.0) == (1.0, 0, 0)
    # one of each sign: p = 1 and both counted
    assert V._sign_test(np.array([1.0, -1.0]), 0.0) == (pytest.approx(1.0), 1, 1)


def test_sign_test_exact_p_values():
    d = np.arange(1.0, 7.0)  # 6 positive, 0 negative
    assert V._sign_test(d, 0.0)[0] == pytest.approx(2 / 64)
    assert V._sign_test(d, 0.0, "greater")[0] == pytest.approx(1 / 64)
    assert V._sign_test(d, 0.0, "less")[0] == pytest.approx(1.0)


# ---------------------------------------------------------------- digits shown for a mean
@pytest.mark.parametrize("mean, spread, digits", [
    (0.0, 0.5, 1),          # zero: one decimal
    (123.456, 0.012, 5),    # 1.23456e2: decimals down to the spread's second digit (1e-3)
    (1.0, 0.001, 4),        # 1.0000e0
    (-5.0, 0.2, 2),         # -5.00e0
    (1.0, 10.0, 1),         # never fewer than one
])
def test_digits_known_answers(mean, spread, digits):
    assert V._digits(mean, spread) == digits


# ---------------------------------------------------------------- "more seeds needed" lines
def test_min_p_line_two_sided_and_one_sided():
    # 5 runs: smallest one-sided p = 1/32 = 0.03125 < 0.05 decides one-sided, two-sided 0.0625 cannot
    line = V._min_p_line(5)
    assert "smallest possible p is 0.0312" in line and "two-sided 0.0625" in line
    assert V._min_p_line(5, one_sided=True) == ""
    assert V._min_p_line(6) == ""  # two-sided 1/32 < 0.05
    # no informative run: p can only be 1
    assert "smallest possible p is 1 (two-sided 1)" in V._min_p_line(0)


def test_smallest_p_line_caps_two_sided_at_one():
    assert "(two-sided 1)" in V._smallest_p_line(0.75, "3 seeds", False)


# ---------------------------------------------------------------- Decision serialisation
def test_decision_as_dict_and_stats_carry_every_interval():
    d = V.Decision(V.HOLDS, "e", "t", p=0.01, ci=(1, 2), effect=0.5, effect_ci=(0.25, 0.75), g=1.0,
                   g_ci=(0.5, 1.5), n=(3, 4))
    a = d.as_dict()
    assert (a["ci"], a["effect_ci"], a["g_ci"], a["n"]) == ([1.0, 2.0], [0.25, 0.75], [0.5, 1.5], [3, 4])
    s = d.stats()
    assert (s["effect_ci"], s["g_ci"]) == ([0.25, 0.75], [0.5, 1.5])
    assert V.Decision(V.HOLDS, "e", "t").as_dict()["ci"] is None


# ---------------------------------------------------------------- trivial combinations
def test_all_of_nothing_is_not_checked():
    d = V.all_of([])
    assert (d.verdict, d.evidence, d.test) == (V.NOT_CHECKED, "nothing to decide", "no parts")


def test_best_of_without_the_claimed_arm_or_anything_to_compare():
    d = V.best_of({"a": [1.0, 2.0]}, "b", "less")
    assert (d.verdict, d.evidence, d.test) == (V.NOT_CHECKED, "b was not run", "not run")
    d = V.best_of({"a": [1.0, 2.0]}, "a", "less")
    assert (d.verdict, d.evidence, d.test) == (V.NOT_CHECKED, "only a was run", "nothing to compare with")


def test_decision_as_dict_and_stats_name_each_value_after_its_field():
    """The summary files store ``as_dict()`` / ``stats()``; each key is the Decision field it holds
    (the report and ``dltour compare`` read them back by those names)."""
    import dataclasses

    d = V.Decision(V.FAILS, "ev", "a test", p=0.011, stat=2.5, ci=(1, 2), n=(3, 4), effect=-0.5,
                   effect_ci=(-1, 0), unit="dB", g=-0.7, g_ci=(-1.2, -0.2), n_runs=7, margin=0.3,
                   margin_source="claim", flip_margin=0.45, reasons=["r1"])
    pairs = {"ci", "effect_ci", "g_ci"}
    for name, out in (("as_dict", d.as_dict()), ("stats", d.stats())):
        for f in dataclasses.fields(V.Decision):
            if f.name not in out:
                assert name == "stats", f"as_dict() lacks {f.name}"
                continue
            want = getattr(d, f.name)
            if f.name in pairs:
                want = [float(want[0]), float(want[1])]
            elif isinstance(want, (tuple, list)):
                want = list(want)
            assert out[f.name] == want, (name, f.name)
        assert set(out) <= {f.name for f in dataclasses.fields(V.Decision)}, name
    # stats() is the numbers of as_dict() without the verdict and its wording
    assert {"verdict", "evidence", "test"}.isdisjoint(d.stats())
    assert {"p", "effect", "effect_ci", "g", "g_ci", "n_runs", "margin", "flip_margin", "reasons"} <= set(d.stats())


# ---------------------------------------------------------------- mean ± spread
@pytest.mark.parametrize("mean, spread, text", [
    (68.23, 4.41, "68.2 ± 4.4"),          # the docstring's examples: spread to 2 significant digits,
    (60.0, 0.2, "60.00 ± 0.20"),          # the mean to the same decimal place
    (50.0, 9.96, "50 ± 10"),              # 9.96 rounds up to 10: one decimal fewer
    (1234.6, 56.7, "1235 ± 57"),
    (1234.6, 150.0, "1230 ± 150"),        # rounding to tens
    (5.0, -0.25, "5.00 ± 0.25"),          # the size of the spread counts, not its sign
    (1.234e-4, 5.6e-6, "1.234e-04 ± 5.6e-06"),  # tiny: scientific, mantissa to the spread's 2nd digit
    (2.0e6, 3.0e4, "2.000e+06 ± 3.0e+04"),      # huge: scientific
    # each switch to scientific notation on its own, at and beside its threshold
    (5.0, 5e-4, "5.00000e+00 ± 5.0e-04"),       # spread < 1e-3
    (5.0, 1e-3, "5.0000 ± 0.0010"),             # spread = 1e-3: still fixed
    (0.0, 1e6, "0.0e+00 ± 1.0e+06"),            # spread >= 1e6
    (1e6, 10.0, "1.000000e+06 ± 1.0e+01"),      # |mean| >= 1e6
    (1e-3, 2e-3, "0.0010 ± 0.0020"),            # |mean| = 1e-3: still fixed
    (0.0, 0.5, "0.00 ± 0.50"),                  # a zero mean is not "tiny"
    (0.5, 0.1, "0.50 ± 0.10"),
    (2.0e6, 3.0e6, "2.0e+06 ± 3.0e+06"),        # at least one mantissa decimal, no more than needed
])
def test_fmt_pm_known_answers(mean, spread, text):
    assert V.fmt_pm(mean, spread) == text


def test_fmt_pm_without_a_usable_spread_or_mean():
    assert V.fmt_pm(None, 1.0) == "n/a"
    assert V.fmt_pm(float("nan"), 1.0) == "n/a"
    for spread in (None, 0.0, float("inf"), float("nan")):
        assert V.fmt_pm(1.5, spread) == "1.5"  # the value alone, as fmt gives it (4 significant digits)


# ---------------------------------------------------------------- equivalence, paired, constant differences
def test_equivalent_paired_constant_difference_uses_the_exact_sign_tost():
    # 6 seeds, every difference A - B is exactly 0.1, margin 0.5: each one-sided sign test has all 6
    # signs on its side -> p = (1/2)^6 = 1/64 < 0.05 -> equivalence holds
    a = {s: 1.0 + s for s in range(6)}
    b = {s: 0.9 + s for s in range(6)}
    d = V.equivalent(a, b, 0.5, margin_source="test")
    assert d.verdict == V.HOLDS
    assert "exact sign-test TOST, paired by seed (n=6 pairs)" in d.test
    assert d.p == pytest.approx(1 / 64)
    assert d.effect == pytest.approx(0.1) and d.flip_margin == pytest.approx(0.1)
    assert d.ci == pytest.approx((0.1, 0.1)) and d.effect_ci == pytest.approx((0.1, 0.1))
    assert d.n == (6, 6) and d.n_runs == 6
    assert d.evidence.startswith("A ") and " vs B " in d.evidence


def test_equivalent_pairs_only_the_shared_seeds():
    a = {s: 1.0 + s for s in range(7)}  # seed 6 has no partner in B
    b = {s: 0.9 + s for s in range(6)}
    d = V.equivalent(a, b, 0.5, margin_source="test", paired=True)
    assert "paired by seed (n=6 pairs)" in d.test and d.n == (6, 6)
    # two shared seeds are enough to pair (and too few for the sign test to decide)
    d2 = V.equivalent({0: 1.0, 1: 2.0}, {0: 0.9, 1: 1.9}, 0.5, margin_source="test")
    assert "paired by seed (n=2 pairs)" in d2.test and d2.verdict == V.INCONCLUSIVE
