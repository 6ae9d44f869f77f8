"""One decision rule for every finding: per-seed values in, a verdict with its test out.

A *claim* is decided from per-seed values (or, for deterministic quantities such as parameter
counts and closed-form baselines, from exact values). Every function here returns a
:class:`Decision`: ``verdict`` (one of :data:`VERDICTS`), ``evidence`` (the numbers, with n per
arm) and ``test`` (what decided it: test name, statistic, p-value or CI). The tests come from
scipy and statsmodels; none is written by hand.

The rule (``ALPHA = 0.05``, two-sided):

- **directional** (``compare``: "A is lower than B"): per-seed values, *paired by seed* where
  both arms share at least two seeds (paired t-test), otherwise Welch's t-test. ``holds`` when
  the difference is in the claimed direction with p < 0.05, ``does not hold`` when it is
  significant the other way, ``inconclusive`` otherwise. n < 2 in an arm gives
  ``inconclusive`` (a single seed carries no uncertainty estimate), unless the quantity is
  declared deterministic.
- **no difference / no correlation** (``equivalent``, ``no_correlation``): an equivalence test
  with a stated margin (TOST, statsmodels). ``holds`` when equivalence is shown at p < 0.05,
  ``does not hold`` when the 95% CI lies wholly outside the margin, ``inconclusive`` otherwise.
  Absence of significance is never taken as "no difference".
- **against a threshold** (``exceeds``): one-sample t-test.
- **trend** (``trend``): Spearman's rho over all (x, per-seed value) points.
- **conjunctions** (``all_of``, ``best_of``): every part must hold; any part that significantly
  fails makes the whole fail; otherwise inconclusive.
- **learned-gate** (``did_not_learn``): a run worse than its trivial baseline (chance
  accuracy, the noisy input, the mean predictor) cannot carry a verdict about *how* it learned:
  ``gate`` turns such a decision into ``inconclusive`` and says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

ALPHA = 0.05
HOLDS, FAILS, INCONCLUSIVE, NOT_CHECKED = "holds", "does not hold", "inconclusive", "not checked"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_CHECKED)

Values = Mapping[int, float] | Sequence[float]


@dataclass
class Decision:
    """The outcome of one decision rule."""

    verdict: str
    evidence: str
    test: str
    p: float | None = None
    stat: float | None = None
    ci: tuple[float, float] | None = None
    n: tuple[int, ...] = ()
    effect: float | None = None  # mean difference (a - b) or the statistic the claim is about

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "evidence": self.evidence, "test": self.test, "p": self.p,
                "stat": self.stat, "ci": list(self.ci) if self.ci else None, "n": list(self.n),
                "effect": self.effect}


# ---------------------------------------------------------------- helpers
def _as_map(v: Values) -> dict[int, float]:
    if isinstance(v, Mapping):
        return {int(k): float(x) for k, x in v.items()}
    return {i: float(x) for i, x in enumerate(v)}


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


def fmt_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "p n/a"
    return "p < 1e-4" if p < 1e-4 else f"p = {p:.3g}"


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
    return f"{name} {fmt(float(a.mean()))} ± {fmt(float(a.std(ddof=1)))} (sd, n={a.size}{tail})"


def _sign_verdict(effect: float, p: float, direction: str) -> str:
    """direction 'less': the claim is a < b (effect = a - b < 0)."""
    if math.isnan(p) or p >= ALPHA or effect == 0:
        return INCONCLUSIVE
    claimed = effect < 0 if direction == "less" else effect > 0
    return HOLDS if claimed else FAILS


# ---------------------------------------------------------------- directional comparison of two arms
def compare(a: Values, b: Values, direction: str, *, names: tuple[str, str] = ("A", "B"),
            paired: bool | None = None, deterministic: bool = False, what: str = "") -> Decision:
    """Decide the claim ``a < b`` (``direction='less'``) or ``a > b`` (``'greater'``).

    ``a`` and ``b`` map seed -> value (or are lists, taken as seeds 0..n-1). Paired by seed
    (``scipy.stats.ttest_rel``) where both arms share >= 2 seeds and ``paired`` is not False;
    Welch's ``ttest_ind(equal_var=False)`` otherwise. ``deterministic=True`` decides exact
    quantities (no sampling variance) by their values alone.
    """
    from scipy import stats

    if direction not in ("less", "greater"):
        raise ValueError("direction must be 'less' or 'greater'")
    ra, rb = _as_map(a), _as_map(b)
    ma, mb = _finite(ra), _finite(rb)
    same_seeds = set(ra) == set(rb)  # both arms ran the same seeds (NaN runs are then dropped in pairs)
    ev = f"{describe(names[0], a)} vs {describe(names[1], b)}" + (f" [{what}]" if what else "")
    na, nb = len(ma), len(mb)
    if na == 0 or nb == 0:
        return Decision(INCONCLUSIVE, ev, "no finite values in an arm", n=(na, nb))
    mean_a, mean_b = float(np.mean(list(ma.values()))), float(np.mean(list(mb.values())))
    effect = mean_a - mean_b
    if deterministic:
        v = HOLDS if (effect < 0 if direction == "less" else effect > 0) else FAILS
        return Decision(v, ev, "deterministic quantities compared exactly (no sampling variance)",
                        n=(na, nb), effect=effect)
    shared = sorted(set(ma) & set(mb))
    if paired is not False and len(shared) >= 2 and (paired or same_seeds):
        x = np.array([ma[s] for s in shared])
        y = np.array([mb[s] for s in shared])
        d = x - y
        ci = _t_ci(d)
        if np.allclose(d, d[0]):  # constant differences: t is undefined; exact when all equal
            p = 0.0 if d[0] != 0 else 1.0
            return Decision(_sign_verdict(float(d.mean()), p, direction), ev,
                            f"paired by seed (n={len(d)}): every difference equals {fmt(float(d[0]))}",
                            p=p, n=(len(d), len(d)), effect=float(d.mean()), ci=ci)
        r = stats.ttest_rel(x, y)
        t, p = float(r.statistic), float(r.pvalue)
        return Decision(_sign_verdict(float(d.mean()), p, direction), ev,
                        f"paired t-test by seed (n={len(d)} pairs): mean difference {fmt(float(d.mean()))}, "
                        f"95% CI [{fmt(ci[0])}, {fmt(ci[1])}], t = {t:.2f}, {fmt_p(p)}",
                        p=p, stat=t, ci=ci, n=(len(d), len(d)), effect=float(d.mean()))
    if na < 2 or nb < 2:
        return Decision(INCONCLUSIVE, ev, f"n = {na} vs {nb}: a single seed has no uncertainty estimate; "
                        "not decided", n=(na, nb), effect=effect)
    x, y = np.array(list(ma.values())), np.array(list(mb.values()))
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        p = 0.0 if effect != 0 else 1.0
        return Decision(_sign_verdict(effect, p, direction), ev, f"both arms constant over seeds (n={na}, {nb})",
                        p=p, n=(na, nb), effect=effect)
    r = stats.ttest_ind(x, y, equal_var=False)
    t, p = float(r.statistic), float(r.pvalue)
    ci_obj = r.confidence_interval(0.95)
    ci = (float(ci_obj.low), float(ci_obj.high))
    return Decision(_sign_verdict(effect, p, direction), ev,
                    f"Welch t-test (n={na}, {nb}): difference {fmt(effect)}, 95% CI [{fmt(ci[0])}, {fmt(ci[1])}], "
                    f"t = {t:.2f}, {fmt_p(p)}", p=p, stat=t, ci=ci, n=(na, nb), effect=effect)


def _t_ci(d: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    from scipy import stats

    n = d.size
    if n < 2:
        return (float("nan"), float("nan"))
    se = float(d.std(ddof=1)) / math.sqrt(n)
    h = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    return (float(d.mean()) - h, float(d.mean()) + h)


# ---------------------------------------------------------------- one arm against a threshold
def exceeds(values: Values, threshold: float, direction: str, *, name: str = "value",
            deterministic: bool = False, what: str = "") -> Decision:
    """Decide ``mean(values) > threshold`` (``'greater'``) or ``< threshold`` (``'less'``) with a
    one-sample t-test (``scipy.stats.ttest_1samp``)."""
    from scipy import stats

    m = _finite(_as_map(values))
    ev = f"{describe(name, values)} vs {fmt(threshold)}" + (f" [{what}]" if what else "")
    n = len(m)
    if n == 0:
        return Decision(INCONCLUSIVE, ev, "no finite values", n=(0,))
    x = np.array(list(m.values()))
    effect = float(x.mean()) - threshold
    if deterministic:
        v = HOLDS if (effect < 0 if direction == "less" else effect > 0) else FAILS
        return Decision(v, ev, "deterministic quantity compared exactly", n=(n,), effect=effect)
    if n < 2:
        return Decision(INCONCLUSIVE, ev, "n = 1: a single seed has no uncertainty estimate; not decided",
                        n=(1,), effect=effect)
    if np.ptp(x) == 0:
        p = 0.0 if effect != 0 else 1.0
        return Decision(_sign_verdict(effect, p, direction), ev, f"constant over {n} seeds", p=p, n=(n,),
                        effect=effect)
    r = stats.ttest_1samp(x, threshold)
    ci_obj = r.confidence_interval(0.95)
    ci = (float(ci_obj.low), float(ci_obj.high))
    return Decision(_sign_verdict(effect, float(r.pvalue), direction), ev,
                    f"one-sample t-test against {fmt(threshold)} (n={n}): mean 95% CI [{fmt(ci[0])}, {fmt(ci[1])}], "
                    f"t = {float(r.statistic):.2f}, {fmt_p(float(r.pvalue))}",
                    p=float(r.pvalue), stat=float(r.statistic), ci=ci, n=(n,), effect=effect)


# ---------------------------------------------------------------- no difference: equivalence (TOST)
def equivalent(a: Values, b: Values, margin: float, *, names: tuple[str, str] = ("A", "B"),
               paired: bool | None = None, what: str = "") -> Decision:
    """Decide "A and B do not differ by more than ``margin``" with two one-sided tests
    (statsmodels ``ttost_paired`` / ``ttost_ind``)."""
    from statsmodels.stats.weightstats import ttost_ind, ttost_paired

    ra, rb = _as_map(a), _as_map(b)
    ma, mb = _finite(ra), _finite(rb)
    ev = (f"{describe(names[0], a)} vs {describe(names[1], b)}; equivalence margin ±{fmt(margin)}"
          + (f" [{what}]" if what else ""))
    shared = sorted(set(ma) & set(mb))
    if paired is not False and len(shared) >= 2 and (paired or set(ra) == set(rb)):
        x = np.array([ma[s] for s in shared])
        y = np.array([mb[s] for s in shared])
        d = x - y
        if np.ptp(d) == 0:
            inside = abs(float(d[0])) < margin
            return Decision(HOLDS if inside else FAILS, ev,
                            f"paired by seed (n={len(d)}): every difference equals {fmt(float(d[0]))}",
                            p=0.0, n=(len(d), len(d)), effect=float(d[0]))
        p, _, _ = ttost_paired(x, y, -margin, margin)
        ci = _t_ci(d)
        name = f"TOST, paired by seed (n={len(d)} pairs)"
        effect = float(d.mean())
        n = (len(d), len(d))
    else:
        if len(ma) < 2 or len(mb) < 2:
            return Decision(INCONCLUSIVE, ev, f"n = {len(ma)} vs {len(mb)}: equivalence needs >= 2 seeds per arm",
                            n=(len(ma), len(mb)))
        x, y = np.array(list(ma.values())), np.array(list(mb.values()))
        p, _, _ = ttost_ind(x, y, -margin, margin, usevar="unequal")
        from scipy import stats

        ci_obj = stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
        ci = (float(ci_obj.low), float(ci_obj.high))
        name = f"TOST, Welch (n={len(x)}, {len(y)})"
        effect = float(x.mean() - y.mean())
        n = (len(x), len(y))
    p = float(p)
    if p < ALPHA:
        verdict = HOLDS
    elif ci[0] > margin or ci[1] < -margin:
        verdict = FAILS
    else:
        verdict = INCONCLUSIVE
    return Decision(verdict, ev, f"{name}: difference {fmt(effect)}, 95% CI [{fmt(ci[0])}, {fmt(ci[1])}], "
                    f"margin ±{fmt(margin)}, equivalence {fmt_p(p)}", p=p, ci=ci, n=n, effect=effect)


def near_reference(values: Values, reference: float, rel_margin: float, *, name: str = "ours",
                   what: str = "") -> Decision:
    """Decide "our per-seed values equal the reference's ``reference`` within ±``rel_margin`` of
    it" (TOST paired with the constant, so one seed is never decided)."""
    vals = _as_map(values)
    return equivalent(vals, {s: reference for s in vals}, rel_margin * abs(reference), names=(name, "the reference"),
                      paired=True, what=what)


# ---------------------------------------------------------------- correlation
def _rank_corr_ci(x: np.ndarray, y: np.ndarray, level: float):
    """Spearman's rho with its Fisher-z CI: Pearson's r on ranks (scipy's ``pearsonr`` and its
    ``confidence_interval``)."""
    from scipy import stats

    r = stats.pearsonr(stats.rankdata(x), stats.rankdata(y))
    ci = r.confidence_interval(level)
    return float(r.statistic), float(r.pvalue), (float(ci.low), float(ci.high))


def _finite_points(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _no_rank_correlation(x: np.ndarray, y: np.ndarray, min_n: int, name: str) -> str | None:
    """Why no rank correlation can be measured on these points (too few, or a constant series),
    or None."""
    if x.size < min_n or np.ptp(x) == 0:
        return f"n = {x.size}: too few points for a rank correlation"
    if np.ptp(y) == 0:
        return f"{name} is constant over the points (e.g. all zero): no correlation or trend can be measured"
    return None


def trend(x: Sequence[float], y: Sequence[float], direction: str, *, name: str = "y", xname: str = "x",
          what: str = "") -> Decision:
    """Decide "y rises (``'greater'``) / falls (``'less'``) with x" by Spearman's rho over all
    points (one point per seed and level), ``scipy.stats.spearmanr``."""
    from scipy import stats

    x, y = _finite_points(x, y)
    n = int(x.size)
    ev = f"{n} points of ({xname}, {name})" + (f" [{what}]" if what else "")
    why = _no_rank_correlation(x, y, 3, name)
    if why:
        return Decision(INCONCLUSIVE, ev, why, n=(n,))
    r = stats.spearmanr(x, y)
    rho, p = float(r.statistic), float(r.pvalue)
    return Decision(_sign_verdict(rho, p, direction), ev, f"Spearman rho = {rho:+.2f} (n={n}), {fmt_p(p)}",
                    p=p, stat=rho, n=(n,), effect=rho)


def no_correlation(x: Sequence[float], y: Sequence[float], margin: float = 0.3, *, name: str = "y",
                   xname: str = "x", what: str = "") -> Decision:
    """Decide "y shows no correlation with x": equivalence of Spearman's rho to 0 within
    ±``margin`` (TOST: the 90% CI of rho inside the margin). A constant ``y`` is *not* taken as
    "no correlation": it is inconclusive (nothing was measured)."""
    x, y = _finite_points(x, y)
    n = int(x.size)
    ev = f"{n} points of ({xname}, {name}); margin |rho| < {margin}" + (f" [{what}]" if what else "")
    why = _no_rank_correlation(x, y, 4, name)
    if why:
        return Decision(INCONCLUSIVE, ev, why, n=(n,))
    rho, p, ci90 = _rank_corr_ci(x, y, 0.90)
    _, _, ci95 = _rank_corr_ci(x, y, 0.95)
    if -margin < ci90[0] and ci90[1] < margin:
        verdict = HOLDS
    elif ci95[0] > margin or ci95[1] < -margin:
        verdict = FAILS
    else:
        verdict = INCONCLUSIVE
    return Decision(verdict, ev, f"Spearman rho = {rho:+.2f} (n={n}); 90% CI [{ci90[0]:+.2f}, {ci90[1]:+.2f}] "
                    f"(TOST at 0.05 against ±{margin}); 95% CI [{ci95[0]:+.2f}, {ci95[1]:+.2f}]",
                    p=p, stat=rho, ci=ci90, n=(n,), effect=rho)


# ---------------------------------------------------------------- proportions
def proportion(successes: int, n: int, p0: float, direction: str, *, what: str = "") -> Decision:
    """Decide "the success rate is above (``'greater'``) / below p0" by an exact binomial test."""
    from scipy import stats

    ev = f"{successes}/{n} vs {p0:g}" + (f" [{what}]" if what else "")
    if n == 0:
        return Decision(INCONCLUSIVE, ev, "n = 0", n=(0,))
    r = stats.binomtest(successes, n, p0)
    ci = r.proportion_ci(0.95)
    effect = successes / n - p0
    return Decision(_sign_verdict(effect, float(r.pvalue), direction), ev,
                    f"exact binomial test against {p0:g} (n={n}): rate {successes / n:.3f}, 95% CI "
                    f"[{ci.low:.3f}, {ci.high:.3f}], {fmt_p(float(r.pvalue))}",
                    p=float(r.pvalue), ci=(float(ci.low), float(ci.high)), n=(n,), effect=effect)


# ---------------------------------------------------------------- combining decisions
def all_of(parts: Sequence[Decision], *, labels: Sequence[str] | None = None) -> Decision:
    """A conjunction: holds when every part holds, does not hold when any part does not hold,
    inconclusive otherwise."""
    if not parts:
        return Decision(NOT_CHECKED, "nothing to decide", "no parts")
    labels = list(labels or [f"part {i + 1}" for i in range(len(parts))])
    vs = [d.verdict for d in parts]
    if FAILS in vs:
        v = FAILS
    elif all(x == HOLDS for x in vs):
        v = HOLDS
    elif all(x == NOT_CHECKED for x in vs):
        v = NOT_CHECKED
    else:
        v = INCONCLUSIVE
    ev = "; ".join(f"{lab}: {d.evidence}" for lab, d in zip(labels, parts))
    test = "all parts must hold — " + "; ".join(f"{lab}: {d.verdict} ({d.test})" for lab, d in zip(labels, parts))
    return Decision(v, ev, test, n=tuple(x for d in parts for x in d.n))


def best_of(values: Mapping[str, Values], claimed: str, direction: str, *, what: str = "",
            deterministic: bool = False) -> Decision:
    """Decide "``claimed`` has the lowest (``'less'``) / highest (``'greater'``) value of all":
    ``claimed`` against every other arm with :func:`compare`, combined with :func:`all_of`."""
    if claimed not in values:
        return Decision(NOT_CHECKED, f"{claimed} was not run", "not run")
    others = [k for k in values if k != claimed]
    if not others:
        return Decision(NOT_CHECKED, f"only {claimed} was run", "nothing to compare with")
    parts = [compare(values[claimed], values[o], direction, names=(claimed, o), deterministic=deterministic)
             for o in others]
    d = all_of(parts, labels=[f"{claimed} vs {o}" for o in others])
    if what:
        d.evidence = f"[{what}] " + d.evidence
    return d


def not_checked(why: str) -> Decision:
    return Decision(NOT_CHECKED, why, "not checked")


def inconclusive(why: str, test: str = "not decided") -> Decision:
    return Decision(INCONCLUSIVE, why, test)


# ---------------------------------------------------------------- learned gate
def did_not_learn(values: Mapping[str, Values], baseline: float | Mapping[str, float], direction: str,
                  ) -> dict[str, str]:
    """Variants whose mean is not better than their trivial baseline. ``direction='less'``: lower
    is better (errors), ``'greater'``: higher is better (accuracy). Returns variant -> reason."""
    out = {}
    for k, v in values.items():
        f = list(_finite(_as_map(v)).values())
        base = baseline[k] if isinstance(baseline, Mapping) else baseline
        if not f:
            out[k] = "no finite result"
            continue
        m = float(np.mean(f))
        worse = m >= base if direction == "less" else m <= base
        if worse:
            out[k] = f"{k} {fmt(m)} is no better than its trivial baseline {fmt(base)}"
    return out


def gate(decision: Decision, failed: Mapping[str, str], involved: Iterable[str]) -> Decision:
    """Make a decision about how models learned ``inconclusive`` when one it involves did not
    learn at all (its verdict would describe a failed run, not the claim)."""
    bad = [failed[k] for k in involved if k in failed]
    if not bad or decision.verdict == NOT_CHECKED:
        return decision
    return Decision(INCONCLUSIVE, decision.evidence + "; " + "; ".join(bad),
                    "not decided: a run it involves did not learn (" + "; ".join(bad) + "); the test alone said "
                    f"{decision.verdict!r}: {decision.test}", p=decision.p, stat=decision.stat, ci=decision.ci,
                    n=decision.n, effect=decision.effect)


__all__ = ["ALPHA", "HOLDS", "FAILS", "INCONCLUSIVE", "NOT_CHECKED", "VERDICTS", "Decision", "compare", "exceeds",
           "equivalent", "trend", "no_correlation", "proportion", "all_of", "best_of", "not_checked", "inconclusive",
           "did_not_learn", "gate", "describe", "fmt", "fmt_p"]
