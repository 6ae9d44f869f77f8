"""One decision rule for every finding: per-run values in, a verdict with its test and effect out.

A *claim* is decided from per-seed values (or, for deterministic quantities such as parameter
counts and closed-form baselines, from exact values). Every function here returns a
:class:`Decision`: ``verdict`` (one of :data:`VERDICTS`), ``evidence`` (the numbers, with n per
arm), ``test`` (what decided it: test name, statistic, p-value, CI) and the numbers the report
lists (``p``, ``effect`` with its 95% CI in ``unit``, Hedges' ``g`` with its 95% CI, ``n_runs``,
the equivalence ``margin`` with its ``margin_source`` and ``flip_margin``, ``reasons``). The tests
come from scipy and statsmodels; none is written by hand.

The rule (``ALPHA = 0.05``; CIs at ``CI_LEVEL = 0.95``; p-values two-sided unless said):

- **Seeds (independent runs) are the unit of replication.** Every ``n`` in a test line and every
  ``n_runs`` counts independent runs (a pair of runs sharing a seed counts once). Quantities
  measured many times within one run (levels of a sweep, epochs, prompts) are reduced per run
  first (:func:`per_run_trend`, :func:`no_trend`); points of one run are never pooled as if they
  were independent, which would narrow the CI below what the runs support.
- **directional** (``compare``: "A is lower than B"): paired t-test by seed where both arms ran
  the same seeds (>= 2 pairs), Welch's t-test otherwise. ``holds`` when the difference lies in the
  claimed direction at p < 0.05, ``does not hold`` when it is significant the other way,
  ``inconclusive`` otherwise. One run in an arm is never decided (no uncertainty estimate).
- **exact tests where the t-test has nothing to say.** Per-seed differences that are constant
  (equal within a *relative* tolerance ``RTOL = 1e-9`` of the values' scale, never an absolute
  one) leave the t statistic undefined: they go to an exact sign test (``scipy.stats.binomtest``
  on the signs of the non-zero differences); two unpaired arms that are each constant go to an
  exact permutation test (``scipy.stats.permutation_test``); constant values against a threshold
  go to the sign test too. With 3 seeds the smallest one-sided p is 0.125 (two-sided 0.25), so such
  a claim is ``inconclusive`` and the test line says more seeds are needed.
- **deterministic quantities** (``deterministic=True``: parameter counts, closed forms) are
  compared exactly, with no test.
- **against a threshold** (``exceeds``): one-sample t-test.
- **no difference / no trend, in the metric's units** (``equivalent``, ``near_reference``,
  ``no_trend``): two one-sided tests (TOST) of a difference or of the mean per-run slope against
  ``±margin`` in the metric's own units, with the margin's source written in the finding
  (``margin_source``). ``holds`` when equivalence is shown at p < 0.05 (the 90% CI inside the
  margin), ``does not hold`` when the 95% CI lies wholly outside the margin, ``inconclusive``
  otherwise; ``flip_margin`` is the margin at which the verdict would flip (the largest |bound|
  of the 90% CI). Absence of significance is never taken as "no difference", and no equivalence
  is tested on a correlation coefficient (run noise shrinks it toward 0).
- **trend** (``per_run_trend``): Spearman's rho per run, one-sample t-test of the per-run rhos
  against 0 (n = runs; the exact sign test when they tie); the effect is the mean per-run OLS slope.
- **effect sizes.** Every comparison reports ``effect`` (a difference, or a slope, in ``unit``)
  with its 95% CI and Hedges' g with a 95% CI (see :func:`hedges_g`).
- **multiplicity.** Composites (``all_of``, ``best_of``) Holm-adjust their parts' p-values
  (statsmodels ``multipletests(method="holm")``) and decide each part on its adjusted p; the
  combined p is the largest adjusted p when all parts hold (intersection-union), the smallest
  adjusted p of the failing parts when it fails. Across the reference claims of one report the
  *report* adjusts the findings' ``p`` with Benjamini-Hochberg; this module does not.
- **budget** (``Budget``, ``budget_gate``; applied centrally by ``Finding.of(..., budget=...)``):
  a "does not hold" from arms trained with fewer epochs than the reference's becomes
  ``inconclusive`` when some arm's curve was still improving at the end (the mean per-run OLS
  slope over the last epochs points the better way) or its best epoch is the last one in at least
  half of its runs (a censored maximum); ``reasons`` says which arm and why.
- **learned-gate** (``did_not_learn``): a run worse than its trivial baseline (chance
  accuracy, the noisy input, the mean predictor) cannot carry a verdict about *how* it learned:
  ``gate`` turns such a decision into ``inconclusive`` and says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

import numpy as np

ALPHA = 0.05
CI_LEVEL = 0.95  # every CI reported as "95% CI"; equivalence uses the 1 - 2 * ALPHA = 90% CI
RTOL = 1e-9  # relative tolerance (of the values' scale) under which per-seed values count as tied
HOLDS, FAILS, INCONCLUSIVE, NOT_CHECKED = "holds", "does not hold", "inconclusive", "not checked"
#: a reference claim on data that are not what it is about (e.g. MNIST digits, given Fashion-MNIST):
#: shown, never counted (set by :func:`dltour.registry.data_gate`, never by a rule)
NOT_APPLICABLE = "not applicable"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_CHECKED, NOT_APPLICABLE)

Values = Mapping[int, float] | Sequence[float]


@dataclass
class Decision:
    """The outcome of one decision rule.

    ``p`` is the p-value of the test that decided (two-sided for t-tests and exact tests, the TOST p
    for an equivalence that holds or is inconclusive, the p of the test against the nearer margin
    bound for one that does not hold). ``effect`` is in ``unit`` with its 95% CI ``effect_ci``;
    ``g`` is Hedges' g with its 95% CI ``g_ci``; ``n_runs`` counts independent runs (a pair counts
    once)."""

    verdict: str
    evidence: str
    test: str
    p: float | None = None
    stat: float | None = None
    ci: tuple[float, float] | None = None
    n: tuple[int, ...] = ()
    effect: float | None = None  # mean difference (a - b), a slope, or the statistic the claim is about
    effect_ci: tuple[float, float] | None = None
    unit: str = ""
    g: float | None = None
    g_ci: tuple[float, float] | None = None
    n_runs: int | None = None
    margin: float | None = None
    margin_source: str = ""
    flip_margin: float | None = None
    reasons: list[str] = field(default_factory=list)
    direction: str = ""  # "less" / "greater": the sign of ``effect`` the claim predicts; "" for equivalence

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.margin is not None and not self.margin_source:
            raise ValueError("a decision with an equivalence margin needs its margin_source")

    def stats(self) -> dict:
        """The numbers a finding records (``Finding.stats``)."""
        return {"p": self.p, "effect": self.effect, "effect_ci": _pair(self.effect_ci), "unit": self.unit,
                "g": self.g, "g_ci": _pair(self.g_ci), "n_runs": self.n_runs, "margin": self.margin,
                "margin_source": self.margin_source, "flip_margin": self.flip_margin,
                "reasons": list(self.reasons), "direction": self.direction}

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "evidence": self.evidence, "test": self.test, "p": self.p,
                "stat": self.stat, "ci": _pair(self.ci), "n": list(self.n), "effect": self.effect,
                "effect_ci": _pair(self.effect_ci), "unit": self.unit, "g": self.g, "g_ci": _pair(self.g_ci),
                "n_runs": self.n_runs, "margin": self.margin, "margin_source": self.margin_source,
                "flip_margin": self.flip_margin, "reasons": list(self.reasons), "direction": self.direction}


def _directed(fn):
    """Record the claimed direction on the Decision a directional rule returns (the report's forest
    plot draws every effect with the claimed direction to the right)."""
    import functools
    import inspect

    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        d = fn(*args, **kwargs)
        d.direction = sig.bind(*args, **kwargs).arguments["direction"]
        return d

    return wrapper


def _pair(ci) -> list[float] | None:
    return [float(ci[0]), float(ci[1])] if ci is not None else None


# ---------------------------------------------------------------- helpers
def _as_map(v: Values) -> dict[int, float]:
    if isinstance(v, Mapping):
        return {int(k): float(x) for k, x in v.items()}
    return {i: float(x) for i, x in enumerate(v)}


def finite_or_none(x) -> float | None:
    """``x`` as a finite float, or None (NaN, infinite, missing, not a number): how summaries and
    the report write a value that may be missing."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _finite(m: dict[int, float]) -> dict[int, float]:
    return {k: x for k, x in m.items() if x is not None and math.isfinite(x)}


def fmt(x: float | None) -> str:
    """A number for reports: 4 significant digits, 1 decimal from 100, scientific below 1e-3 and
    from 1e6."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e6):
        return f"{x:.3g}"
    if ax >= 100:
        return f"{x:.1f}"
    return f"{x:.4g}"


def fmt_pm(mean: float | None, spread: float | None) -> str:
    """``mean ± spread`` rounded by the uncertainty: the spread to 2 significant digits, the mean to
    the same decimal place (``68.2 ± 4.4``, ``60.00 ± 0.20``); no ``±`` when the spread is missing
    or zero (a deterministic value, or identical runs): then :func:`fmt` alone."""
    if mean is None or (isinstance(mean, float) and not math.isfinite(mean)):
        return "n/a"
    if spread is None or not math.isfinite(spread) or spread == 0:
        return fmt(mean)
    spread = abs(float(spread))
    if spread < 1e-3 or spread >= 1e6 or abs(mean) >= 1e6 or (mean != 0 and abs(mean) < 1e-3):
        return f"{mean:.{max(1, _digits(mean, spread))}e} ± {spread:.1e}"
    dec = 1 - math.floor(math.log10(spread))  # decimals that keep 2 significant digits of the spread
    s_rounded = round(spread, dec)
    if s_rounded >= 10 ** (2 - dec):  # 9.96 -> 10.0: one digit fewer
        dec -= 1
    d = max(dec, 0)
    m = round(mean, dec)
    sp = round(spread, dec)
    return f"{m:.{d}f} ± {sp:.{d}f}"


def fmt_effect(effect: float | None, ci, unit: str = "") -> str:
    """``+0.12 (95% CI 0.05 to 0.19) unit``, the three numbers rounded alike: to 2 significant
    digits of the CI's half-width (:func:`fmt_pm`'s rule); without a CI (or a zero-width one, a
    deterministic value) the effect alone."""
    if effect is None or not math.isfinite(effect):
        return "n/a"
    u = f" {unit}" if unit else ""
    lo, hi = (ci or (None, None))[:2] if ci else (None, None)
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or hi == lo:
        return f"{'+' if effect > 0 else ''}{fmt(effect)}{u}"
    half = abs(hi - lo) / 2
    if half < 1e-3 or half >= 1e6:
        return f"{effect:+.2g} (95% CI {lo:.2g} to {hi:.2g}){u}"
    dec = 1 - math.floor(math.log10(half))
    d = max(dec, 0)
    r = lambda x: f"{round(x, dec):.{d}f}"  # noqa: E731
    return f"{'+' if round(effect, dec) > 0 else ''}{r(effect)} (95% CI {r(lo)} to {r(hi)}){u}"


def _digits(mean: float, spread: float) -> int:
    """Mantissa decimals of ``mean`` in scientific notation that match a 2-digit spread."""
    if mean == 0:
        return 1
    return max(1, math.floor(math.log10(abs(mean))) - math.floor(math.log10(spread)) + 1)


def fmt_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "p n/a"
    return "p < 1e-4" if p < 1e-4 else f"p = {p:.3g}"


def _fmt_ci(ci) -> str:
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci is not None else "n/a"


def describe(name: str, v: Values) -> str:
    """``name 0.123 ± 0.004 (sd, n=3)``; a single value without ±; NaN runs counted."""
    m = _as_map(v)
    f = _finite(m)
    nan = len(m) - len(f)
    tail = f", {nan} NaN run(s) excluded" if nan else ""
    if not f:
        return f"{name} n/a (n=0{tail})"
    a = np.array(list(f.values()))
    if a.size == 1:
        return f"{name} {fmt(float(a[0]))} (n=1{tail})"
    sd = float(a.std(ddof=1))
    if sd == 0:
        return f"{name} {fmt(float(a.mean()))} (all {a.size} runs equal{tail})"
    return f"{name} {fmt_pm(float(a.mean()), sd)} (sd, n={a.size}{tail})"


def _sign_verdict(effect: float, p: float, direction: str) -> str:
    """direction 'less': the claim is a < b (effect = a - b < 0)."""
    if p is None or math.isnan(p) or p >= ALPHA or effect == 0:
        return INCONCLUSIVE
    claimed = effect < 0 if direction == "less" else effect > 0
    return HOLDS if claimed else FAILS


def _check_direction(direction: str) -> None:
    if direction not in ("less", "greater"):
        raise ValueError("direction must be 'less' or 'greater'")


def _tol(*arrays) -> float:
    """``RTOL`` of the values' scale (the largest |value| involved): differences within it are ties."""
    scale = max((float(np.max(np.abs(np.asarray(a, float)))) for a in arrays if np.size(a)), default=0.0)
    return RTOL * scale


def _tied(d: np.ndarray, tol: float) -> bool:
    """All values equal within ``tol``: a t statistic is undefined (zero spread)."""
    return d.size > 0 and float(np.ptp(d)) <= tol


def _t_ci(d: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """Student-t CI of the mean of ``d``: mean ± t_{(1+level)/2, n-1} · sd / sqrt(n)."""
    from scipy import stats

    n = d.size
    if n < 2:
        return (float("nan"), float("nan"))
    se = float(d.std(ddof=1)) / math.sqrt(n)
    h = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    return (float(d.mean()) - h, float(d.mean()) + h)


def _welch_ci(x: np.ndarray, y: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    from scipy import stats

    c = stats.ttest_ind(x, y, equal_var=False).confidence_interval(level)
    return (float(c.low), float(c.high))


def _z(level: float = CI_LEVEL) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + level / 2))


def hedges_g(x: Sequence[float], y: Sequence[float] | None = None, *, paired: bool = False,
             mu: float = 0.0) -> tuple[float | None, tuple[float, float] | None]:
    """Hedges' g and its 95% CI (Hedges & Olkin 1985; normal approximation of g's sampling
    distribution).

    - two independent arms: d = (mean(x) - mean(y)) / s_pooled with s_pooled² =
      ((n1-1) s1² + (n2-1) s2²) / (n1 + n2 - 2); g = J · d with J = 1 - 3 / (4 (n1 + n2) - 9);
      se(g) = sqrt((n1 + n2) / (n1 n2) + g² / (2 (n1 + n2))).
    - paired (``paired=True``): g on the differences x - y, i.e. d_z = mean(d) / sd(d), and
    - one arm against a value ``mu`` (``y`` None): d = (mean(x) - mu) / sd(x);
      for both g = J · d with J = 1 - 3 / (4 (n - 1) - 1), se(g) = sqrt(1/n + g² / (2n)).

    CI = g ± z_{0.975} · se(g). Returns (None, None) when the sd is 0 or there are too few
    values (df < 2) for the correction.
    """
    x = np.asarray(x, float)
    z = _z()
    if y is not None and not paired:
        y = np.asarray(y, float)
        n1, n2 = x.size, y.size
        if n1 < 2 or n2 < 2 or n1 + n2 - 2 < 2:
            return None, None
        sp = math.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
        if not sp > 0:
            return None, None
        g = (1 - 3 / (4 * (n1 + n2) - 9)) * float(x.mean() - y.mean()) / sp
        se = math.sqrt((n1 + n2) / (n1 * n2) + g * g / (2 * (n1 + n2)))
        return g, (g - z * se, g + z * se)
    d = x - np.asarray(y, float) if y is not None else x - mu
    n = d.size
    if n < 3:
        return None, None
    sd = float(d.std(ddof=1))
    if not sd > 0:
        return None, None
    g = (1 - 3 / (4 * (n - 1) - 1)) * float(d.mean()) / sd
    se = math.sqrt(1 / n + g * g / (2 * n))
    return g, (g - z * se, g + z * se)


# ---------------------------------------------------------------- exact tests
def _smallest_p_line(one: float, runs: str, one_sided: bool) -> str:
    """``; {runs}: the smallest possible p is ... more seeds needed`` when even the most extreme
    outcome of an exact test (one-sided p ``one``) cannot decide; "" when it can."""
    two = min(1.0, 2 * one)
    if (one if one_sided else two) < ALPHA:
        return ""
    return f"; {runs}: the smallest possible p is {one:.3g} (two-sided {two:.3g}); more seeds needed"


def _min_p_line(m: int, what: str = "seeds", *, one_sided: bool = False) -> str:
    """For m informative runs of a sign test: the smallest p it can give, when that can't decide
    (``one_sided``: the decision compares the one-sided p with ALPHA, as a TOST does)."""
    return _smallest_p_line(0.5 ** m if m else 1.0, f"{m} {what}", one_sided)


def _sign_test(d: np.ndarray, tol: float, alternative: str = "two-sided") -> tuple[float, int, int]:
    """Exact sign test (``scipy.stats.binomtest``) on the signs of the non-zero values of ``d``
    (|d| > tol). Returns (p, n positive, n negative)."""
    from scipy import stats

    pos, neg = int((d > tol).sum()), int((d < -tol).sum())
    if pos + neg == 0:
        return 1.0, 0, 0
    return float(stats.binomtest(pos, pos + neg, 0.5, alternative=alternative).pvalue), pos, neg


def _sign_ci(d: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float] | None:
    """Distribution-free CI of the median of ``d`` (order statistics, the sign test's CI); None
    when n is too small for the level (n < 6 at 95%)."""
    from scipy import stats

    s = np.sort(d)
    n = s.size
    k = int(stats.binom.ppf((1 - level) / 2, n, 0.5))  # P(B <= k-1) <= alpha/2
    while k > 0 and stats.binom.cdf(k - 1, n, 0.5) > (1 - level) / 2:
        k -= 1
    if k < 1:
        return None
    return (float(s[k - 1]), float(s[n - k]))


def _perm_test(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided") -> float:
    """Exact permutation test of the difference of means of two independent arms
    (``scipy.stats.permutation_test``; all relabellings when there are at most 50 000)."""
    from scipy import stats

    n_perm = math.comb(x.size + y.size, x.size)
    r = stats.permutation_test((x, y), lambda a, b, axis=-1: np.mean(a, axis=axis) - np.mean(b, axis=axis),
                               permutation_type="independent", vectorized=True, alternative=alternative,
                               n_resamples=np.inf if n_perm <= 50_000 else 9999, rng=np.random.default_rng(0))
    return float(r.pvalue)


def _perm_min_line(na: int, nb: int, *, one_sided: bool = False) -> str:
    """The same for an exact permutation test of na vs nb runs."""
    return _smallest_p_line(1 / math.comb(na + nb, na), f"{na} vs {nb} seeds", one_sided)


# ---------------------------------------------------------------- directional comparison of two arms
@_directed
def compare(a: Values, b: Values, direction: str, *, names: tuple[str, str] = ("A", "B"),
            paired: bool | None = None, deterministic: bool = False, what: str = "", unit: str = "") -> Decision:
    """Decide the claim ``a < b`` (``direction='less'``) or ``a > b`` (``'greater'``).

    ``a`` and ``b`` map seed -> value (or are lists, taken as seeds 0..n-1). Paired by seed
    (``scipy.stats.ttest_rel``) where both arms share >= 2 seeds and ``paired`` is not False;
    Welch's ``ttest_ind(equal_var=False)`` otherwise. Constant differences (within ``RTOL``) go to
    the exact sign test, two constant arms to the exact permutation test. ``deterministic=True``
    decides exact quantities (no sampling variance) by their values alone. The effect is
    mean(a) - mean(b) in ``unit`` with its 95% CI, and Hedges' g (:func:`hedges_g`).
    """
    from scipy import stats

    _check_direction(direction)
    ra, rb = _as_map(a), _as_map(b)
    ma, mb = _finite(ra), _finite(rb)
    same_seeds = set(ra) == set(rb)  # both arms ran the same seeds (NaN runs are then dropped in pairs)
    ev = f"{describe(names[0], a)} vs {describe(names[1], b)}" + (f" [{what}]" if what else "")
    na, nb = len(ma), len(mb)
    if na == 0 or nb == 0:
        return Decision(INCONCLUSIVE, ev, "no finite values in an arm", n=(na, nb), unit=unit, n_runs=0)
    mean_a, mean_b = float(np.mean(list(ma.values()))), float(np.mean(list(mb.values())))
    effect = mean_a - mean_b
    shared = sorted(set(ma) & set(mb))
    if deterministic:
        v = HOLDS if (effect < 0 if direction == "less" else effect > 0) else FAILS
        return Decision(v, ev, "deterministic quantities compared exactly (no sampling variance)",
                        n=(na, nb), effect=effect, effect_ci=(effect, effect), unit=unit,
                        n_runs=len(set(ma) | set(mb)))
    if paired is not False and len(shared) >= 2 and (paired or same_seeds):
        x = np.array([ma[s] for s in shared])
        y = np.array([mb[s] for s in shared])
        d = x - y
        n = int(d.size)
        eff = float(d.mean())
        if _tied(d, _tol(x, y)):
            p, pos, neg = _sign_test(d, _tol(x, y))
            eff = float(np.median(d))
            ci = _sign_ci(d)
            return Decision(_sign_verdict(eff if pos + neg else 0.0, p, direction), ev,
                            f"exact sign test, paired by seed (n={n} pairs): every difference equals {fmt(eff)} "
                            f"({pos} positive, {neg} negative), {fmt_p(p)}" + _min_p_line(pos + neg),
                            p=p, ci=ci, n=(n, n), effect=eff, effect_ci=ci, unit=unit, n_runs=n)
        ci = _t_ci(d)
        r = stats.ttest_rel(x, y)
        t, p = float(r.statistic), float(r.pvalue)
        g, g_ci = hedges_g(x, y, paired=True)
        return Decision(_sign_verdict(eff, p, direction), ev,
                        f"paired t-test by seed (n={n} pairs): mean difference {fmt(eff)}, "
                        f"95% CI {_fmt_ci(ci)}, t = {t:.2f}, {fmt_p(p)}" + _g_text(g, g_ci),
                        p=p, stat=t, ci=ci, n=(n, n), effect=eff, effect_ci=ci, unit=unit, g=g, g_ci=g_ci,
                        n_runs=n)
    if na < 2 or nb < 2:
        return Decision(INCONCLUSIVE, ev, f"n = {na} vs {nb}: a single seed has no uncertainty estimate; "
                        "not decided", n=(na, nb), effect=effect, unit=unit, n_runs=na + nb)
    x, y = np.array(list(ma.values())), np.array(list(mb.values()))
    tol = _tol(x, y)
    if _tied(x, tol) and _tied(y, tol):
        p = _perm_test(x, y) if abs(effect) > tol else 1.0
        return Decision(_sign_verdict(effect if abs(effect) > tol else 0.0, p, direction), ev,
                        f"exact permutation test (both arms constant over seeds, n={na}, {nb}): difference "
                        f"{fmt(effect)}, {fmt_p(p)}" + _perm_min_line(na, nb), p=p, n=(na, nb), effect=effect,
                        unit=unit, n_runs=na + nb)
    r = stats.ttest_ind(x, y, equal_var=False)
    t, p = float(r.statistic), float(r.pvalue)
    ci = _welch_ci(x, y)
    g, g_ci = hedges_g(x, y)
    return Decision(_sign_verdict(effect, p, direction), ev,
                    f"Welch t-test (n={na}, {nb}): difference {fmt(effect)}, 95% CI {_fmt_ci(ci)}, "
                    f"t = {t:.2f}, {fmt_p(p)}" + _g_text(g, g_ci), p=p, stat=t, ci=ci, n=(na, nb), effect=effect,
                    effect_ci=ci, unit=unit, g=g, g_ci=g_ci, n_runs=na + nb)


def _g_text(g, g_ci) -> str:
    return f"; Hedges' g = {g:.2f}, 95% CI [{g_ci[0]:.2f}, {g_ci[1]:.2f}]" if g is not None else ""


# ---------------------------------------------------------------- one arm against a threshold
@_directed
def exceeds(values: Values, threshold: float, direction: str, *, name: str = "value",
            deterministic: bool = False, what: str = "", unit: str = "") -> Decision:
    """Decide ``mean(values) > threshold`` (``'greater'``) or ``< threshold`` (``'less'``) with a
    one-sample t-test (``scipy.stats.ttest_1samp``); values constant over seeds (within ``RTOL``)
    go to the exact sign test. The effect is mean - threshold in ``unit``."""
    from scipy import stats

    _check_direction(direction)
    m = _finite(_as_map(values))
    ev = f"{describe(name, values)} vs {fmt(threshold)}" + (f" [{what}]" if what else "")
    n = len(m)
    if n == 0:
        return Decision(INCONCLUSIVE, ev, "no finite values", n=(0,), unit=unit, n_runs=0)
    x = np.array(list(m.values()))
    effect = float(x.mean()) - threshold
    if deterministic:
        v = HOLDS if (effect < 0 if direction == "less" else effect > 0) else FAILS
        return Decision(v, ev, "deterministic quantity compared exactly", n=(n,), effect=effect,
                        effect_ci=(effect, effect), unit=unit, n_runs=n)
    if n < 2:
        return Decision(INCONCLUSIVE, ev, "n = 1: a single seed has no uncertainty estimate; not decided",
                        n=(1,), effect=effect, unit=unit, n_runs=1)
    tol = _tol(x, [threshold])
    if _tied(x, tol):
        d = x - threshold
        p, pos, neg = _sign_test(d, tol)
        ci = _sign_ci(d)
        return Decision(_sign_verdict(effect if pos + neg else 0.0, p, direction), ev,
                        f"exact sign test against {fmt(threshold)}: constant {fmt(float(x[0]))} over {n} seeds "
                        f"({pos} above, {neg} below), {fmt_p(p)}" + _min_p_line(pos + neg), p=p, ci=ci, n=(n,),
                        effect=effect, effect_ci=ci, unit=unit, n_runs=n)
    r = stats.ttest_1samp(x, threshold)
    ci = _t_ci(x - threshold)
    g, g_ci = hedges_g(x, mu=threshold)
    return Decision(_sign_verdict(effect, float(r.pvalue), direction), ev,
                    f"one-sample t-test against {fmt(threshold)} (n={n}): mean {fmt(float(x.mean()))}, "
                    f"95% CI {_fmt_ci(_t_ci(x))}, t = {float(r.statistic):.2f}, {fmt_p(float(r.pvalue))}"
                    + _g_text(g, g_ci),
                    p=float(r.pvalue), stat=float(r.statistic), ci=_t_ci(x), n=(n,), effect=effect, effect_ci=ci,
                    unit=unit, g=g, g_ci=g_ci, n_runs=n)


# ---------------------------------------------------------------- no difference: equivalence (TOST)
def _tost_1samp(d: np.ndarray, margin: float) -> tuple[float, float | None]:
    """One-sample TOST of mean(d) within ±margin (``scipy.stats.ttest_1samp``, one-sided each way),
    and the two-sided p of the test against the nearer bound when the mean lies outside it."""
    from scipy import stats

    p_lo = float(stats.ttest_1samp(d, -margin, alternative="greater").pvalue)
    p_hi = float(stats.ttest_1samp(d, margin, alternative="less").pvalue)
    m = float(d.mean())
    p_out = None
    if abs(m) > margin:
        p_out = float(stats.ttest_1samp(d, math.copysign(margin, m)).pvalue)
    return max(p_lo, p_hi), p_out


def _sign_tost(d: np.ndarray, margin: float, tol: float) -> tuple[float, float | None]:
    """TOST by exact sign tests: signs of d + margin (> 0) and of d - margin (< 0); and the
    two-sided sign test against the nearer bound when the median lies outside the margin."""
    p_lo, _, _ = _sign_test(d + margin, tol, "greater")
    p_hi, _, _ = _sign_test(d - margin, tol, "less")
    med = float(np.median(d))
    p_out = None
    if abs(med) > margin:
        p_out, _, _ = _sign_test(d - math.copysign(margin, med), tol)
    return max(p_lo, p_hi), p_out


def _out_text(p_out: float | None) -> str:
    return f", outside the margin {fmt_p(p_out)}" if p_out is not None else ""


def _equivalence_verdict(p_tost: float, p_out: float | None) -> tuple[str, float]:
    if p_tost < ALPHA:
        return HOLDS, p_tost
    if p_out is not None and p_out < ALPHA:
        return FAILS, p_out
    return INCONCLUSIVE, p_tost


def equivalent(a: Values, b: Values, margin: float, *, margin_source: str, names: tuple[str, str] = ("A", "B"),
               paired: bool | None = None, what: str = "", unit: str = "") -> Decision:
    """Decide "A and B do not differ by more than ``margin``" (in the metric's units, ``unit``) with
    two one-sided tests: paired by seed (one-sample TOST of the differences, as statsmodels
    ``ttost_paired``) or Welch (statsmodels ``ttost_ind(usevar='unequal')``). Constant differences
    (within ``RTOL``) go to the exact sign-test TOST, two constant arms to permutation tests.

    ``holds`` when equivalence is shown at p < 0.05; ``does not hold`` when the difference lies
    outside the margin at p < 0.05 (the 95% CI wholly outside); ``inconclusive`` otherwise.
    ``margin_source`` says where the margin comes from (required: a decided equivalence without
    it raises); ``flip_margin`` is the largest |bound| of the 90% CI, the margin at which the
    verdict would flip.
    """
    from scipy import stats
    from statsmodels.stats.weightstats import ttost_ind

    ra, rb = _as_map(a), _as_map(b)
    ma, mb = _finite(ra), _finite(rb)
    src = margin_source or "margin source not stated"
    ev = (f"{describe(names[0], a)} vs {describe(names[1], b)}; equivalence margin ±{fmt(margin)} ({src})"
          + (f" [{what}]" if what else ""))
    common = dict(unit=unit, margin=float(margin), margin_source=src)
    shared = sorted(set(ma) & set(mb))
    if paired is not False and len(shared) >= 2 and (paired or set(ra) == set(rb)):
        x = np.array([ma[s] for s in shared])
        y = np.array([mb[s] for s in shared])
        d = x - y
        n = int(d.size)
        tol = _tol(x, y)
        if _tied(d, tol):
            p_tost, p_out = _sign_tost(d, margin, tol)
            verdict, p = _equivalence_verdict(p_tost, p_out)
            eff = float(np.median(d))
            ci = _sign_ci(d)
            m_inform = n  # every pair is informative for at least one side of the TOST when |d| != margin
            return Decision(verdict, ev,
                            f"exact sign-test TOST, paired by seed (n={n} pairs): every difference equals {fmt(eff)}, "
                            f"margin ±{fmt(margin)}, equivalence {fmt_p(p_tost)}" + _out_text(p_out)
                            + _min_p_line(m_inform, one_sided=True),
                            p=p, ci=ci, n=(n, n), effect=eff, effect_ci=ci, n_runs=n, flip_margin=abs(eff),
                            **common)
        p_tost, p_out = _tost_1samp(d, margin)
        ci, ci90 = _t_ci(d), _t_ci(d, 1 - 2 * ALPHA)
        g, g_ci = hedges_g(x, y, paired=True)
        name = f"TOST, paired by seed (n={n} pairs)"
        effect = float(d.mean())
        nn = (n, n)
        n_runs = n
    else:
        if len(ma) < 2 or len(mb) < 2:
            return Decision(INCONCLUSIVE, ev, f"n = {len(ma)} vs {len(mb)}: equivalence needs >= 2 seeds per arm",
                            n=(len(ma), len(mb)), n_runs=len(ma) + len(mb), **common)
        x, y = np.array(list(ma.values())), np.array(list(mb.values()))
        effect = float(x.mean() - y.mean())
        nn = (len(x), len(y))
        n_runs = len(x) + len(y)
        tol = _tol(x, y)
        if _tied(x, tol) and _tied(y, tol):
            p_tost = max(_perm_test(x + margin, y, "greater"), _perm_test(x - margin, y, "less"))
            p_out = (_perm_test(x - math.copysign(margin, effect), y) if abs(effect) > margin + tol else None)
            verdict, p = _equivalence_verdict(p_tost, p_out)
            return Decision(verdict, ev, f"exact permutation TOST (both arms constant over seeds, n={nn[0]}, "
                            f"{nn[1]}): difference {fmt(effect)}, margin ±{fmt(margin)}, equivalence {fmt_p(p_tost)}"
                            + _out_text(p_out) + _perm_min_line(*nn, one_sided=True), p=p, n=nn, effect=effect,
                            n_runs=n_runs, flip_margin=abs(effect),
                            **common)
        p_tost = float(ttost_ind(x, y, -margin, margin, usevar="unequal")[0])
        p_out = None
        if abs(effect) > margin:
            p_out = float(stats.ttest_ind(x - math.copysign(margin, effect), y, equal_var=False).pvalue)
        ci, ci90 = _welch_ci(x, y), _welch_ci(x, y, 1 - 2 * ALPHA)
        g, g_ci = hedges_g(x, y)
        name = f"TOST, Welch (n={nn[0]}, {nn[1]})"
    verdict, p = _equivalence_verdict(p_tost, p_out)
    flip = max(abs(ci90[0]), abs(ci90[1]))
    return Decision(verdict, ev, f"{name}: difference {fmt(effect)}, 95% CI {_fmt_ci(ci)}, 90% CI {_fmt_ci(ci90)}, "
                    f"margin ±{fmt(margin)} ({src}), equivalence {fmt_p(p_tost)}"
                    + _out_text(p_out)
                    + f"; it would flip at a margin of ±{fmt(flip)}" + _g_text(g, g_ci),
                    p=p, ci=ci, n=nn, effect=effect, effect_ci=ci, g=g, g_ci=g_ci, n_runs=n_runs, flip_margin=flip,
                    **common)


def near_reference(values: Values, reference: float, rel_margin: float, *, margin_source: str | None = None,
                   name: str = "ours", what: str = "", unit: str = "") -> Decision:
    """Decide "our per-seed values equal the reference's ``reference`` within ±``rel_margin`` of
    it" (one-sample TOST against the constant, so one seed is never decided). ``margin_source``
    defaults to "±10% of the reference's 58.7"."""
    vals = _as_map(values)
    src = margin_source if margin_source is not None else f"±{rel_margin:.0%} of the reference's {reference}"
    d = equivalent(vals, {s: reference for s in vals}, rel_margin * abs(reference), margin_source=src,
                   names=(name, "the reference"), paired=True, what=what, unit=unit)
    d.evidence = (f"{describe(name, values)} vs the reference's {fmt(reference)}; equivalence margin "
                  f"±{fmt(rel_margin * abs(reference))} ({src})" + (f" [{what}]" if what else ""))
    return d


# ---------------------------------------------------------------- trends, seeds as the unit
def _per_run(x: Sequence[float], y_by_seed: Mapping[int, Sequence[float]]):
    """Per run: (seed, x, y) of its finite points; runs with < 2 points or one x level are listed
    apart (seed -> why)."""
    xa = np.asarray(x, float)
    runs, skipped = [], {}
    for seed, ys in y_by_seed.items():
        ya = np.asarray(ys, float)
        if ya.shape != xa.shape:
            raise ValueError(f"seed {seed}: {ya.size} values for {xa.size} levels of x")
        ok = np.isfinite(xa) & np.isfinite(ya)
        if ok.sum() < 2 or np.ptp(xa[ok]) == 0:
            skipped[seed] = f"{int(ok.sum())} finite point(s)"
            continue
        runs.append((seed, xa[ok], ya[ok]))
    return runs, skipped


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (Pearson's r on ranks); 0 for a run whose y is constant (no monotone trend)."""
    from scipy import stats

    if np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    from scipy import stats

    return float(stats.linregress(x, y).slope)


def _skipped_text(skipped: Mapping[int, str]) -> str:
    return f"; {len(skipped)} run(s) left out (too few finite points: seeds {sorted(skipped)})" if skipped else ""


@_directed
def per_run_trend(x: Sequence[float], y_by_seed: Mapping[int, Sequence[float]], direction: str, *,
                  name: str = "y", xname: str = "x", unit: str = "", what: str = "") -> Decision:
    """Decide "y rises (``'greater'``) / falls (``'less'``) with x", seeds as the unit.

    ``x``: the levels; ``y_by_seed``: seed -> y at those levels (NaN allowed). Per run: Spearman's
    rho of y on x (0 for a run whose y is constant) and the OLS slope (``scipy.stats.linregress``).
    Test: one-sample t-test of the per-run rhos against 0 (n = runs), the exact sign test when
    the rhos tie (e.g. every run perfectly monotone). The effect is the mean per-run slope in
    ``unit`` per ``xname`` with its 95% CI over runs; g is Hedges' g of the rhos against 0.
    Fewer than 2 runs: inconclusive.
    """
    from scipy import stats

    _check_direction(direction)
    runs, skipped = _per_run(x, y_by_seed)
    n = len(runs)
    u = f"{unit or name} per {xname}"
    ev = (f"{n} run(s) of ({xname}, {name}) over {len(list(x))} levels" + _skipped_text(skipped)
          + (f" [{what}]" if what else ""))
    if n < 2:
        return Decision(INCONCLUSIVE, ev, f"n = {n} run(s): a trend needs >= 2 independent runs (seeds); "
                        "not decided", n=(n,), unit=u, n_runs=n)
    rhos = np.array([_rho(xs, ys) for _, xs, ys in runs])
    slopes = np.array([_slope(xs, ys) for _, xs, ys in runs])
    ev += f"; per-run rho {', '.join(f'{r:+.2f}' for r in rhos)}; per-run slope {', '.join(fmt(s) for s in slopes)}"
    if np.all([np.ptp(ys) == 0 for _, _, ys in runs]):
        return Decision(INCONCLUSIVE, ev, f"{name} is constant within every run: no trend can be measured",
                        n=(n,), effect=0.0, unit=u, n_runs=n)
    eff, eff_ci = float(slopes.mean()), _t_ci(slopes)
    mrho = float(rhos.mean())
    if _tied(rhos, RTOL):
        p, pos, neg = _sign_test(rhos, RTOL)
        return Decision(_sign_verdict(mrho if pos + neg else 0.0, p, direction), ev,
                        f"exact sign test of the per-run Spearman rho (n={n} runs): every rho = {mrho:+.2f} "
                        f"({pos} positive, {neg} negative), {fmt_p(p)}; mean slope {fmt(eff)} {u}"
                        + _min_p_line(pos + neg), p=p, stat=mrho, n=(n,), effect=eff, effect_ci=eff_ci, unit=u,
                        n_runs=n)
    r = stats.ttest_1samp(rhos, 0.0)
    t, p = float(r.statistic), float(r.pvalue)
    ci = _t_ci(rhos)
    g, g_ci = hedges_g(rhos)
    return Decision(_sign_verdict(mrho, p, direction), ev,
                    f"one-sample t-test of the per-run Spearman rho against 0 (n={n} runs): mean rho {mrho:+.2f}, "
                    f"95% CI [{ci[0]:+.2f}, {ci[1]:+.2f}], t = {t:.2f}, {fmt_p(p)}; mean slope {fmt(eff)} {u}, "
                    f"95% CI {_fmt_ci(eff_ci)}" + _g_text(g, g_ci),
                    p=p, stat=t, ci=ci, n=(n,), effect=eff, effect_ci=eff_ci, unit=u, g=g, g_ci=g_ci, n_runs=n)


def no_trend(x: Sequence[float], y_by_seed: Mapping[int, Sequence[float]], margin: float, *, margin_source: str,
             name: str = "y", xname: str = "x", unit: str = "", what: str = "") -> Decision:
    """Decide "y shows no trend with x", seeds as the unit, in y's own units.

    Per run: the OLS slope of y on x (``unit`` per ``xname``). TOST of the mean slope within
    ±``margin`` (one-sample, n = runs; the exact sign-test TOST when the slopes tie). ``holds``
    when the 90% CI of the mean slope lies inside the margin, ``does not hold`` when the 95% CI
    lies wholly outside it, ``inconclusive`` otherwise; ``flip_margin`` is the largest |bound| of
    the 90% CI. A y constant over every point measures nothing (a floor, e.g. BLEU 0):
    inconclusive. Fewer than 2 runs: inconclusive.
    """
    runs, skipped = _per_run(x, y_by_seed)
    n = len(runs)
    u = f"{unit or name} per {xname}"
    src = margin_source or "margin source not stated"
    ev = (f"{n} run(s) of ({xname}, {name}) over {len(list(x))} levels; margin ±{fmt(margin)} {u} ({src})"
          + _skipped_text(skipped) + (f" [{what}]" if what else ""))
    common = dict(unit=u, n_runs=n, margin=float(margin), margin_source=src, n=(n,))
    if n < 2:
        return Decision(INCONCLUSIVE, ev, f"n = {n} run(s): no trend needs >= 2 independent runs (seeds); "
                        "not decided", **common)
    if np.all([np.ptp(ys) == 0 for _, _, ys in runs]):
        return Decision(INCONCLUSIVE, ev, f"{name} is constant within every run (e.g. at a floor): nothing was "
                        "measured, so no trend is not shown", effect=0.0, **common)
    slopes = np.array([_slope(xs, ys) for _, xs, ys in runs])
    ev += f"; per-run slope {', '.join(fmt(s) for s in slopes)}"
    eff = float(slopes.mean())
    xs_all = np.concatenate([xs for _, xs, _ in runs])
    ys_all = np.concatenate([ys for _, _, ys in runs])
    tol = RTOL * float(np.max(np.abs(ys_all))) / max(float(np.ptp(xs_all)), 1e-300)
    if _tied(slopes, tol):
        p_tost, p_out = _sign_tost(slopes, margin, tol)
        verdict, p = _equivalence_verdict(p_tost, p_out)
        return Decision(verdict, ev, f"exact sign-test TOST of the per-run OLS slope (n={n} runs): every slope = "
                        f"{fmt(eff)} {u}, margin ±{fmt(margin)}, equivalence {fmt_p(p_tost)}"
                        + _out_text(p_out) + _min_p_line(n, "runs", one_sided=True), p=p, effect=eff,
                        flip_margin=abs(eff), **common)
    p_tost, p_out = _tost_1samp(slopes, margin)
    verdict, p = _equivalence_verdict(p_tost, p_out)
    ci, ci90 = _t_ci(slopes), _t_ci(slopes, 1 - 2 * ALPHA)
    flip = max(abs(ci90[0]), abs(ci90[1]))
    g, g_ci = hedges_g(slopes)
    return Decision(verdict, ev, f"TOST of the mean per-run OLS slope (n={n} runs): mean slope {fmt(eff)} {u}, "
                    f"95% CI {_fmt_ci(ci)}, 90% CI {_fmt_ci(ci90)}, margin ±{fmt(margin)} ({src}), equivalence "
                    f"{fmt_p(p_tost)}" + _out_text(p_out)
                    + f"; it would flip at a margin of ±{fmt(flip)}" + _g_text(g, g_ci),
                    p=p, ci=ci, effect=eff, effect_ci=ci, g=g, g_ci=g_ci, flip_margin=flip, **common)


# ---------------------------------------------------------------- proportions
@_directed
def proportion(successes: int, n: int, p0: float, direction: str, *, what: str = "") -> Decision:
    """Decide "the success rate is above (``'greater'``) / below p0" by an exact binomial test
    (``n`` independent trials); the effect is rate - p0 with its Clopper-Pearson 95% CI."""
    from scipy import stats

    ev = f"{successes}/{n} vs {p0:g}" + (f" [{what}]" if what else "")
    if n == 0:
        return Decision(INCONCLUSIVE, ev, "n = 0", n=(0,), n_runs=0, unit="rate")
    r = stats.binomtest(successes, n, p0)
    ci = r.proportion_ci(CI_LEVEL)
    effect = successes / n - p0
    return Decision(_sign_verdict(effect, float(r.pvalue), direction), ev,
                    f"exact binomial test against {p0:g} (n={n}): rate {successes / n:.3f}, 95% CI "
                    f"[{ci.low:.3f}, {ci.high:.3f}], {fmt_p(float(r.pvalue))}",
                    p=float(r.pvalue), ci=(float(ci.low), float(ci.high)), n=(n,), effect=effect,
                    effect_ci=(float(ci.low) - p0, float(ci.high) - p0), unit="rate", n_runs=n)


# ---------------------------------------------------------------- combining decisions
def holm_adjust(pvals: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjusted p-values: sorted ascending, p_(i) * (m - i + 1), made
    monotone by a running maximum and capped at 1. The same numbers as statsmodels'
    ``multipletests(method="holm")`` (the tests check it), without its ``gc.collect()`` per call
    (0.1 s a call with torch imported, on a 2-core EPYC), which every composite finding would pay."""
    p = np.asarray(pvals, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(m, 0, -1)))
    out = np.empty(m)
    out[order] = adj
    return [float(x) for x in out]


def _holm(parts: Sequence[Decision]) -> list[float | None]:
    """Holm-adjusted p-values of the parts that have a p; None for the others."""
    idx = [i for i, d in enumerate(parts) if d.p is not None and not math.isnan(d.p)]
    out: list[float | None] = [None] * len(parts)
    for i, q in zip(idx, holm_adjust([parts[i].p for i in idx])):
        out[i] = q
    return out


def all_of(parts: Sequence[Decision], *, labels: Sequence[str] | None = None) -> Decision:
    """A conjunction, Holm-adjusted within: each part's p is adjusted over the parts that have one
    (statsmodels ``multipletests(method="holm")``), and a part holds / does not hold only when its
    adjusted p < 0.05 (else it counts as inconclusive); parts without a p (deterministic, not
    checked) keep their verdict. Holds when every part holds, does not hold when any part does not
    hold, inconclusive otherwise. The combined ``p`` is the largest adjusted p when it holds, or when
    it is inconclusive and every part has a p (intersection-union); None when it is inconclusive
    and some part has no p (that part's evidence cannot be put in a p); the smallest adjusted p of
    the failing parts when it fails (None when no failing part has one).
    ``effect``, its CI, unit and g are those of the deciding part (the weakest holding part, or
    the most significant failing one); ``n_runs`` the largest of the parts'."""
    if not parts:
        return Decision(NOT_CHECKED, "nothing to decide", "no parts")
    labels = list(labels or [f"part {i + 1}" for i in range(len(parts))])
    adj = _holm(parts)
    vs = []
    for d, q in zip(parts, adj):
        if q is not None and d.verdict in (HOLDS, FAILS) and q >= ALPHA:
            vs.append(INCONCLUSIVE)
        else:
            vs.append(d.verdict)
    if FAILS in vs:
        v = FAILS
    elif all(x == HOLDS for x in vs):
        v = HOLDS
    elif all(x == NOT_CHECKED for x in vs):
        v = NOT_CHECKED
    else:
        v = INCONCLUSIVE
    with_p = [i for i, q in enumerate(adj) if q is not None]
    p = key = None
    if v == FAILS:
        failing = [i for i in range(len(parts)) if vs[i] == FAILS]
        fp = [i for i in failing if adj[i] is not None]
        key = min(fp, key=lambda i: adj[i]) if fp else failing[0]
        p = adj[key] if fp else None
    elif with_p:
        key = max(with_p, key=lambda i: adj[i])
        p = adj[key] if (v == HOLDS or len(with_p) == len(parts)) else None
    ev = "; ".join(f"{lab}: {d.evidence}" for lab, d in zip(labels, parts))

    def part_line(lab, d, verdict, q):
        changed = f" -> {verdict} after Holm" if verdict != d.verdict else ""
        holm = f", Holm-adjusted {fmt_p(q)}" if q is not None else ""
        return f"{lab}: {d.verdict}{changed} ({d.test}{holm})"

    test = (f"all parts must hold (Holm-adjusted over {len(with_p)} tested part(s)) — "
            + "; ".join(part_line(lab, d, x, q) for lab, d, x, q in zip(labels, parts, vs, adj)))
    runs = [d.n_runs for d in parts if d.n_runs is not None]
    k = parts[key] if key is not None else None
    reasons = [r for d in parts for r in d.reasons]
    return Decision(v, ev, test, p=p, n=tuple(x for d in parts for x in d.n),
                    effect=k.effect if k else None, effect_ci=k.effect_ci if k else None, unit=k.unit if k else "",
                    g=k.g if k else None, g_ci=k.g_ci if k else None, n_runs=max(runs) if runs else None,
                    reasons=reasons, direction=k.direction if k else "")


def best_of(values: Mapping[str, Values], claimed: str, direction: str, *, what: str = "",
            deterministic: bool = False, unit: str = "") -> Decision:
    """Decide "``claimed`` has the lowest (``'less'``) / highest (``'greater'``) value of all":
    ``claimed`` against every other arm with :func:`compare`, combined with :func:`all_of` (Holm
    within)."""
    if claimed not in values:
        return Decision(NOT_CHECKED, f"{claimed} was not run", "not run")
    others = [k for k in values if k != claimed]
    if not others:
        return Decision(NOT_CHECKED, f"only {claimed} was run", "nothing to compare with")
    parts = [compare(values[claimed], values[o], direction, names=(claimed, o), deterministic=deterministic,
                     unit=unit) for o in others]
    d = all_of(parts, labels=[f"{claimed} vs {o}" for o in others])
    if what:
        d.evidence = f"[{what}] " + d.evidence
    return d


def not_checked(why: str) -> Decision:
    return Decision(NOT_CHECKED, why, "not checked")


def inconclusive(why: str, test: str = "not decided") -> Decision:
    return Decision(INCONCLUSIVE, why, test)


# ---------------------------------------------------------------- budget: no verdict that a short budget made
@dataclass
class Budget:
    """The training curves a claim depends on, and the budget they had.

    ``curves``: arm -> seed -> per-epoch values of the quantity the claim is about (a validation
    loss, an accuracy...); ``better``: ``"lower"`` or ``"higher"``; ``epochs_run`` against the
    reference's ``reference_epochs``; ``window``: the last epochs whose OLS slope says whether a
    curve was still improving (default max(3, len // 3)); ``name``: the quantity, for the reason
    line ("validation accuracy")."""

    curves: Mapping[str, Mapping[int, Sequence[float]]]
    better: str
    epochs_run: float
    reference_epochs: float
    window: int | None = None
    name: str = "curve"

    def __post_init__(self):
        if self.better not in ("lower", "higher"):
            raise ValueError("Budget.better must be 'lower' or 'higher'")


def _curve_state(budget: Budget, arm: str) -> tuple[float | None, int, int, int]:
    """(mean over runs of the OLS slope over the last window epochs, window, runs whose best epoch is
    the last, runs)."""
    slopes, censored, n, w_used = [], 0, 0, 0
    for ys in budget.curves[arm].values():
        y = np.asarray(ys, float)
        y = y[np.isfinite(y)]  # NaN epochs (not evaluated) dropped
        if y.size < 2:
            continue
        n += 1
        w = min(y.size, budget.window or max(3, y.size // 3))
        w_used = max(w_used, w)
        slopes.append(_slope(np.arange(w, dtype=float), y[-w:]))
        best = int(np.argmin(y) if budget.better == "lower" else np.argmax(y))
        censored += best == y.size - 1
    return (float(np.mean(slopes)) if slopes else None), w_used, censored, n


def budget_gate(decision: Decision, budget: Budget | None) -> Decision:
    """Make a "does not hold" that a short budget may have made ``inconclusive``.

    Applies when ``decision.verdict`` is "does not hold" and ``epochs_run < reference_epochs``: for
    each arm, the curve was still improving at the end (the mean over runs of the OLS slope over
    the last ``window`` epochs points in the ``better`` direction), or its best epoch is the last
    epoch in at least half of its runs (a censored maximum). The reasons name the arm and why.
    Otherwise the decision is returned unchanged."""
    if budget is None or decision.verdict != FAILS or not budget.epochs_run < budget.reference_epochs:
        return decision
    why = []
    for arm in budget.curves:
        slope, w, censored, n = _curve_state(budget, arm)
        if n == 0:
            continue
        word = "falling" if budget.better == "lower" else "rising"
        scale = max((float(np.nanmax(np.abs(np.asarray(c, float)))) for c in budget.curves[arm].values()
                     if np.isfinite(np.asarray(c, float)).any()), default=0.0)
        improving = slope is not None and (slope < -RTOL * scale if budget.better == "lower" else slope > RTOL * scale)
        if improving:
            why.append(f"{arm}'s {budget.name} still {word} ({slope:+.3g} per epoch over the last {w})")
        if 2 * censored >= n:
            extreme = "minimum" if budget.better == "lower" else "maximum"
            why.append(f"{arm}'s best {budget.name} at the last epoch in {censored} of {n} runs (a censored {extreme})")
    if not why:
        return decision
    reason = f"only {budget.epochs_run:g} of the reference's {budget.reference_epochs:g} epochs; " + "; ".join(why)
    return replace(decision, verdict=INCONCLUSIVE,
                   test=f"not decided: {reason}; the test alone said {decision.verdict!r}: {decision.test}",
                   reasons=list(decision.reasons) + [reason])


# ---------------------------------------------------------------- learned gate
def did_not_learn(values: Mapping[str, Values], baseline: float | Mapping[str, float], direction: str,
                  *, margin: float | Mapping[str, float] = 0.0, margin_source: str = "",
                  also: Mapping[str, Mapping[int, str]] | None = None) -> dict[str, str]:
    """Variants with a run that did not learn. A run learned when it beats its trivial
    ``baseline`` by more than ``margin`` (in the metric's units; per variant when a mapping; its
    ``margin_source`` must say where it comes from when it is not 0): ``direction='less'``, lower
    is better (errors): value < baseline - margin; ``'greater'``: value > baseline + margin. A NaN
    run did not learn. ``also``: variant -> seed -> reason for runs that failed another learned
    check (e.g. one class taking most of a generator's samples). Returns variant -> reason (which
    runs, their values, the baseline and the margin); a verdict about how these variants learned
    is then made inconclusive by :func:`gate`."""
    _check_direction(direction)
    if isinstance(margin, Mapping) or margin:
        if not margin_source:
            raise ValueError("did_not_learn: a margin needs its margin_source")
    out = {}
    for k, v in values.items():
        m = _as_map(v)
        base = baseline[k] if isinstance(baseline, Mapping) else baseline
        mg = float(margin[k] if isinstance(margin, Mapping) else margin)
        bar = base - mg if direction == "less" else base + mg
        bad = []
        for sd, x in sorted(m.items()):
            if x is None or not math.isfinite(x):
                bad.append(f"seed {sd}: no finite result")
            elif (x >= bar if direction == "less" else x <= bar):
                bad.append(f"seed {sd}: {fmt(x)}")
        for sd, why in sorted((also or {}).get(k, {}).items()):
            bad.append(f"seed {sd}: {why}")
        if not m:
            out[k] = f"{k}: no run"
        elif bad:
            need = (f"{'below' if direction == 'less' else 'above'} {fmt(bar)} (its trivial baseline {fmt(base)}"
                    + (f" {'-' if direction == 'less' else '+'} a margin of {fmt(mg)}, {margin_source})" if mg else ")"))
            out[k] = (f"{k} did not learn in {len(set(b.split(':')[0] for b in bad))} of {len(m)} runs "
                      f"({'; '.join(bad)}; a learned run is {need}")
    return out


def gate(decision: Decision, failed: Mapping[str, str], involved: Iterable[str]) -> Decision:
    """Make a decision about how models learned ``inconclusive`` when one it involves did not
    learn at all (its verdict would describe a failed run, not the claim)."""
    bad = [failed[k] for k in involved if k in failed]
    if not bad or decision.verdict == NOT_CHECKED:
        return decision
    return replace(decision, verdict=INCONCLUSIVE, evidence=decision.evidence + "; " + "; ".join(bad),
                   test="not decided: a run it involves did not learn (" + "; ".join(bad) + "); the test alone said "
                   f"{decision.verdict!r}: {decision.test}", reasons=list(decision.reasons) + bad)


__all__ = ["ALPHA", "CI_LEVEL", "RTOL", "HOLDS", "FAILS", "INCONCLUSIVE", "NOT_CHECKED", "NOT_APPLICABLE", "VERDICTS", "Decision",
           "compare", "exceeds", "equivalent", "near_reference", "per_run_trend", "no_trend",
           "proportion", "all_of", "best_of", "Budget", "budget_gate", "hedges_g", "not_checked",
           "inconclusive", "did_not_learn", "gate", "describe", "fmt", "fmt_p", "finite_or_none"]
