"""T5.1 ``cartpole-td``: what the runs mean. The reference's numbers and our margins (the claim
constants and ``REFERENCE``), whether a run is comparable with the reference (``comparison``), the
per-run measures the findings use (``after_learning``, the IQM), the decisions (``decide_stability``,
``decide_reach``, ``findings``) and ``summarize`` (figures 8 and 16, the table, the findings and
the notes). The setup (environment, discretisation, learning, seeds) is in
:mod:`dltour.experiments.cartpole_td`, which binds ``summarize``, ``comparison`` and ``REFERENCE``
to its study; these functions take the study, the config and the results as arguments.

How each claim is measured and decided:

- R47 / R48 "Q-learning is more stable than SARSA" is decided after the learning phase, on measures
  that do not saturate at the 500 cap. Per run, from the first episode at which its 100-episode
  average reaches 195 (gym's "solved" level of CartPole-v0, which every agent reaches in the demo;
  475 is not reached by SARSA-softmax in most seeds): the *relapse rate*, the share of the later
  episodes whose return falls below 195 again, and the *largest drop* of the 100-episode average
  from its running peak from that episode on. A run that never reaches 195, or reaches it with fewer
  than 100 episodes left, has no post-learning phase to measure (left out, and counted). The
  learning phase itself is not compared: a curve still climbing is not unstable. Seeds are the
  unit; as the reinforcement-learning field reports it (Agarwal et al. 2021, rliable), each agent's
  runs are summarised by the interquartile mean (IQM, ``scipy.stats.trim_mean(x, 0.25)``) with a
  95% percentile bootstrap CI of the IQM difference that resamples each agent's runs separately
  (stratified over agents; ``scipy.stats.bootstrap``), and decided by an exact permutation test of
  the IQM difference (``scipy.stats.permutation_test``; unpaired: a seed gives both agents the same
  initial states, but their runs part after the first episode). The old measures (sd of the
  100-episode average over the last half, its largest drop over the whole run) are 0 for an agent
  sitting at the cap and mix in the learning phase; they stay in the table as description. An
  agent whose final 100-episode average is no better than the random policy's mean return did not
  learn, and its stability says nothing;
- R49 (the off-policy max vs SARSA's "estimate of an estimate") is an explanation, not checked;
- ``qlearning-475-within-300`` (ours, the issue's reference point): more than half of Q-learning +
  epsilon-greedy's seeds reach a 475 average within 350 episodes (exact binomial test against 1/2;
  5 seeds cannot decide it, ``full`` has 10).

Each finding is declared once in ``FINDINGS`` with its rule (:mod:`dltour.rules`, and the rules below:
the IQM comparison of a post-learning measure, the share of seeds reaching 475 in time);
:func:`findings` only assembles the per-seed values (``dltour.rules.Runs``: each agent an arm of the
metrics ``relapse_rate``, ``drop_after``, ``final_avg100`` and ``episodes_to_475``; the random
policy's mean return and each agent's seed spread as constants) and decides them. Whether the
configuration can check the 475 reference point at all is the study's (``reach_not_checkable``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dltour import rules as R
from dltour.plots import band, new_figure, save
from dltour.rl import (AGENTS, MAX_STEPS, episodes_to_reach, make_env, max_drop, moving_average, parse_agent,
                       random_returns)
from dltour.summary import Comparison, Declared, declare, decide_declared, Finding, Ref, RunResult, Summary, Table
from dltour.summary import Results
from dltour.verdicts import (ALPHA, FAILS, HOLDS, INCONCLUSIVE, Decision, describe, fmt, fmt_p, hedges_g,
                             proportion)

# WINDOW, THRESHOLDS and COARSE_BINS are the science file's too (cartpole_td imports them from here)
WINDOW = 100  # episodes in the moving average (the reference's "last 100 episode rewards")
THRESHOLDS = (195.0, 475.0)  # gym's "solved" levels of CartPole-v0 and -v1
COARSE_BINS = [1, 1, 6, 12]
REACH_WITHIN = 350  # the "within about 300 episodes", read as <= 350
RANDOM_EPISODES, RANDOM_SEED = 200, 999_999  # the random-policy baseline of the learned-gate
STABLE_FROM = THRESHOLDS[0]  # R47/R48: stability is measured from the first episode the average reaches 195
MIN_AFTER = WINDOW  # ... in runs with at least this many episodes left after it
IQM_TRIM = 0.25  # the interquartile mean: the 25% trimmed mean (rliable's IQM)
N_BOOT = 9999
REF_EPISODES, REF_SEEDS = 2000, 10  # the full profile: the scale the report calls the reference's (the reference states none)

#: the per-run values the findings read: each agent an arm of each
METRICS = ("final_avg100", "episodes_to_475", "relapse_rate", "drop_after")
#: how an agent shows it learned: its final 100-episode average above the random policy's mean return (a
#: stability verdict about an agent that did not learn is not made)
LEARNED = tuple(R.Learned(a, "final_avg100", "random_return", "greater") for a in AGENTS)


# ---------------------------------------------------------------------- the rules of this study's claims
# (the same protocol as dltour.rules: ``applies(runs)`` and ``decide(runs)``)
@dataclass(frozen=True)
class MoreStable:
    """R47/R48 on one post-learning ``metric`` (lower = more stable): Q-learning's runs below SARSA's with
    the policy ``pol`` (:func:`decide_stability`: IQM difference, exact permutation test over runs); ``what``
    names the measure in the evidence, ``unit`` its unit."""

    metric: str
    pol: str
    what: str
    unit: str

    @property
    def arms(self) -> tuple[str, str]:
        return f"qlearning-{self.pol}", f"sarsa-{self.pol}"

    def applies(self, runs: R.Runs) -> bool:
        return all(runs.has(self.metric, a) for a in self.arms)

    def decide(self, runs: R.Runs) -> Decision:
        q, s = self.arms
        return decide_stability(runs.of(self.metric, q), runs.of(self.metric, s), self.what, self.pol, self.unit)


@dataclass(frozen=True)
class Reaches:
    """More than half of ``arm``'s seeds reach a 475 average within ``within`` episodes (``metric``: the
    episodes each took; :func:`decide_reach`, exact binomial test)."""

    metric: str
    arm: str
    within: int

    def applies(self, runs: R.Runs) -> bool:
        return runs.has(self.metric, self.arm)

    def decide(self, runs: R.Runs) -> Decision:
        return decide_reach(runs.of(self.metric, self.arm), self.within)


@dataclass(frozen=True)
class SeedSpread:
    """Evidence: the two agents' seed spread (the constants ``spread:<agent>``), when the summary gave any."""

    arms: tuple[str, str]

    def __call__(self, runs: R.Runs) -> str:
        if not any(k.startswith("spread:") for k in runs.consts):
            return ""
        q, s = (runs.consts.get(f"spread:{a}") for a in self.arms)
        return f"seed spread {_fmt(q)} vs {_fmt(s)}"


def _stability(pol: str, metric: str, what: str, unit: str):
    """R47/R48 on ``metric``, unless one of the two agents did not learn; the seed spread beside it."""
    rule = MoreStable(metric, pol, f"{what} after reaching {STABLE_FROM:.0f}, per run", unit)
    return R.Noted(R.Gated(rule, rule.arms), SeedSpread(rule.arms))


#: the study's findings, declared once with their rules (dltour.rules and the rules above): :func:`findings`
#: supplies the runs' values
FINDINGS = declare("T5.1", [
    *[d for pol, name, ref in (("egreedy", "epsilon-greedy", "R47"), ("softmax", "softmax", "R48")) for d in (
        Declared(f"qlearning-more-stable-{pol}",
                 f"With {name} selection, Q-learning learns more stably than SARSA (reference Figures 8/16): once "
                 f"its {WINDOW}-episode average has reached {STABLE_FROM:.0f}, fewer of its later episodes fall "
                 f"below {STABLE_FROM:.0f} again (relapse rate; IQM over runs)", ref,
                 "§5, Task 5.1, Figures 8 and 16",
                 rule=_stability(pol, "relapse_rate", "relapse rate", "share of episodes"),
                 evidence=f"final avg100 {{final_avg100@qlearning-{pol}}} vs {{final_avg100@sarsa-{pol}}}"),
        Declared(f"qlearning-smaller-drops-{pol}",
                 f"With {name} selection, Q-learning's {WINDOW}-episode average falls back less than SARSA's after "
                 f"reaching {STABLE_FROM:.0f} (the same claim on a second measure: the largest fall from a running "
                 f"peak; IQM over runs)", ref, "§5, Task 5.1, Figures 8 and 16",
                 rule=_stability(pol, "drop_after", "largest drop of avg100", "reward (100-episode average)"),
                 evidence=f"final avg100 {{final_avg100@qlearning-{pol}}} vs {{final_avg100@sarsa-{pol}}}"))],
    Declared("qlearning-475-within-300",
             f"Tabular Q-learning with (1, 1, 6, 12) bins and decaying epsilon on CartPole-v1 usually reaches a 475 "
             f"average within about 300 episodes (the issue's reference point, not the report's; 'about 300' read as "
             f"<= {REACH_WITHIN}, 'usually' as in more than half the seeds)",
             rule=Reaches("episodes_to_475", "qlearning-egreedy", REACH_WITHIN)),
])

REFERENCE = [
    Ref("reference point (the issue's, not the report's)", "qlearning-egreedy", "episodes_to_475", 300.0,
        "tabular Q-learning with (1, 1, 6, 12) bins and decaying epsilon on CartPole-v1 'usually reaches "
        "a 475 average within about 300 episodes'; the report itself gives no number for T5.1 "
        "(Figures 8 and 16 only). Our mean is over the seeds that reached 475."),
]


# ---------------------------------------------------------------------- is the run comparable
def comparison(study, cfg) -> Comparison:
    """Data: the reference's environment is CartPole (gymnasium's, or the bit-identical ``fast``
    copy; the version is not stated, both count). Budget: the reference states no episode count
    (its Figures 8 and 16 plot the 100-episode average against the episodes trained); we take the
    ``full`` profile's 2,000 episodes and 10 seeds as the reference's scale (the budget the issue
    that set the profile names), so the demo's 1,000 episodes and 5 seeds are an analogue."""
    short = {k: (ours, ref) for k, ours, ref in (("episodes", cfg.episodes, REF_EPISODES),
                                                 ("seeds", cfg.seeds, REF_SEEDS)) if ours < ref}
    why = "" if not short else ("budget differs: " + ", ".join(f"{k} {o} < {r}" for k, (o, r) in short.items())
                                + " (the reference states none; the full profile's budget is taken as its scale)")
    return Comparison(True, not short, why)


def _nanmean(x) -> float:
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else math.nan


def _fmt(x: float, nd: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


# ---------------------------------------------------------------------- decisions (plain per-seed values in)
def reach_not_checkable(cfg) -> str | None:
    """Why the issue's reference point cannot be checked under ``cfg`` (None when it can)."""
    if list(cfg.bins) != COARSE_BINS or cfg.version != "v1" or cfg.episodes < REACH_WITHIN:
        return (f"not checkable with this config (needs bins {COARSE_BINS}, CartPole-v1 and >= {REACH_WITHIN} "
                f"episodes; have bins {list(cfg.bins)}, {cfg.version}, {cfg.episodes} episodes)")
    return None


def after_learning(rewards, threshold: float = STABLE_FROM, window: int = WINDOW,
                   min_after: int = MIN_AFTER) -> dict[str, float]:
    """One run's stability after its learning phase: from the first episode at which its
    ``window``-episode average reaches ``threshold`` (``episodes_to_reach``), ``relapse_rate`` = the
    share of the later episodes whose return is below ``threshold`` again, and ``drop_after`` = the
    largest fall of the ``window``-episode average from its running peak from that episode on.
    NaN (both) when the run never reaches the threshold or has fewer than ``min_after`` episodes
    left after it. Neither saturates at the cap: an agent at 500 has relapse rate 0 because no
    episode fell below 195, not because the cap hides its spread."""
    r = np.asarray(rewards, dtype=float)
    e = episodes_to_reach(r, threshold, window)
    left = len(r) - e if not math.isnan(e) else 0
    if math.isnan(e) or left < min_after:
        return {"reached_at": e, "episodes_after": float(left), "relapse_rate": math.nan, "drop_after": math.nan}
    k = int(e)
    ma = moving_average(r, window)
    return {"reached_at": e, "episodes_after": float(left), "relapse_rate": float(np.mean(r[k:] < threshold)),
            "drop_after": max_drop(ma[k - 1:])}


def _iqm(x, axis=-1):
    """The interquartile mean (rliable's IQM): the mean of the middle half, ``scipy.stats.trim_mean(x, 0.25)``."""
    from scipy.stats import trim_mean

    return trim_mean(x, IQM_TRIM, axis=axis)


def decide_stability(q, s, measure: str, pol: str, unit: str) -> Decision:
    """R47/R48 on one post-learning ``measure`` (lower = more stable): Q-learning's runs below
    SARSA's. Seeds are the unit (NaN = a run with no post-learning phase, left out). Effect: the
    IQM difference (Q-learning - SARSA) with a 95% percentile bootstrap CI that resamples each
    agent's runs separately (stratified, rliable's interval estimate); decided by an exact
    permutation test of the IQM difference over runs (two-sided, ``scipy.stats.permutation_test``).
    Not paired by seed: a seed gives both agents the same initial states, but their runs part after
    the first episode."""
    from scipy import stats

    qa, sa = f"qlearning-{pol}", f"sarsa-{pol}"
    x = np.array([v for v in q.values() if not math.isnan(v)], dtype=float)
    y = np.array([v for v in s.values() if not math.isnan(v)], dtype=float)
    left_out = (f"; runs with a post-learning phase: {qa} {x.size} of {len(q)}, {sa} {y.size} of {len(s)} (the others "
                f"never reached {STABLE_FROM:.0f} with {MIN_AFTER} episodes left)")
    ev = (f"{measure}: {qa} " + (", ".join(fmt(float(v)) for v in sorted(x)) or "none")
          + f" vs {sa} " + (", ".join(fmt(float(v)) for v in sorted(y)) or "none") + left_out)
    n = (int(x.size), int(y.size))
    if x.size < 2 or y.size < 2:
        return Decision(INCONCLUSIVE, ev, f"n = {x.size} vs {y.size} runs with a post-learning phase: needs >= 2 per "
                        "agent; not decided", n=n, unit=unit, n_runs=int(x.size + y.size))
    effect = float(_iqm(x) - _iqm(y))

    def stat(a, b, axis=-1):
        return _iqm(a, axis) - _iqm(b, axis)

    n_perm = math.comb(x.size + y.size, x.size)
    perm = stats.permutation_test((x, y), stat, permutation_type="independent", vectorized=True,
                                  alternative="two-sided", n_resamples=np.inf if n_perm <= 50_000 else N_BOOT,
                                  rng=np.random.default_rng(0))
    p = float(perm.pvalue)
    boot = stats.bootstrap((x, y), stat, vectorized=True, paired=False, method="percentile", n_resamples=N_BOOT,
                           confidence_level=0.95, rng=np.random.default_rng(0))
    ci = (float(boot.confidence_interval.low), float(boot.confidence_interval.high))
    g, g_ci = hedges_g(x, y)
    verdict = INCONCLUSIVE if p >= ALPHA or effect == 0 else (HOLDS if effect < 0 else FAILS)
    floor = 2 / n_perm if n_perm <= 50_000 else 0.0
    few = (f"; {x.size} vs {y.size} runs: the smallest possible p is {min(1.0, floor):.3g}; more seeds needed"
           if floor >= ALPHA else "")
    test = (f"IQM over runs (25% trimmed mean) {fmt(float(_iqm(x)))} ({qa}) vs {fmt(float(_iqm(y)))} ({sa}): "
            f"difference {fmt(effect)} {unit}, 95% stratified-bootstrap CI [{fmt(ci[0])}, {fmt(ci[1])}] (each "
            f"agent's runs resampled, {N_BOOT} resamples); exact permutation test of the IQM difference "
            f"(n={x.size}, {y.size} runs, unpaired), {fmt_p(p)}" + few
            + (f"; Hedges' g = {g:.2f}, 95% CI [{g_ci[0]:.2f}, {g_ci[1]:.2f}]" if g is not None else ""))
    return Decision(verdict, ev, test, p=p, stat=effect, ci=ci, n=n, effect=effect, effect_ci=ci, unit=unit, g=g,
                    g_ci=g_ci, n_runs=int(x.size + y.size))


def decide_reach(episodes_to_475, within: int = REACH_WITHIN) -> Decision:
    """'Usually reaches a 475 average within about 300 episodes': the share of seeds that reach it
    within ``within`` episodes is above one half (exact binomial test; never reaching it counts as
    not within)."""
    e = [float(v) for v in (episodes_to_475.values() if isinstance(episodes_to_475, dict) else episodes_to_475)]
    k = sum(1 for v in e if not math.isnan(v) and v <= within)
    d = proportion(k, len(e), 0.5, "greater", what=f"seeds reaching a 475 average within {within} episodes")
    d.evidence += "; per seed: " + ", ".join("never" if math.isnan(v) else f"{v:.0f}" for v in e)
    return d


def findings(values, random_return: float, *, reach_why: str | None = None,
             spread: dict[str, float] | None = None) -> list[Finding]:
    """The study's findings from plain values, by the rules declared in ``FINDINGS``: ``values[agent][metric]``
    = {seed: value} for the metrics ``relapse_rate`` and ``drop_after`` (:func:`after_learning`; NaN for a
    run with no post-learning phase), ``final_avg100`` and ``episodes_to_475``; ``random_return`` the random
    policy's mean return (the learned-gate's baseline: an agent whose final 100-episode average is no better
    did not learn, and its stability says nothing); ``reach_why`` why the 475 reference point cannot be
    checked (None: it can); ``spread`` each agent's seed spread, shown beside the stability findings."""
    consts = {"random_return": random_return} | {f"spread:{a}": x for a, x in (spread or {}).items()}
    runs = R.Runs({m: {a: v.get(m, {}) for a, v in values.items()} for m in METRICS}, consts)
    runs = R.Runs(runs.metrics, runs.consts, R.not_learned(LEARNED, runs))
    out = decide_declared({k: d for k, d in FINDINGS.items() if k != "qlearning-475-within-300"}, runs)
    # the configuration may not be able to check the reach (reach_why)
    reach = FINDINGS["qlearning-475-within-300"].decide(runs, unless=reach_why)
    return out + ([reach] if reach is not None else [])


# ---------------------------------------------------------------------- summary
def summarize(study, cfg, results: list[RunResult], out_dir: Path) -> Summary:
    s = Summary()
    if not results:
        return s
    agents = [a for a in cfg.agents if any(r.variant == a for r in results)]
    curves: dict[str, dict[int, np.ndarray]] = {a: {} for a in agents}
    for r in results:
        curves[r.variant][r.seed] = r.arrays()["avg100"]
    cap = MAX_STEPS[cfg.version]
    colors = {a: f"C{i}" for i, a in enumerate(AGENTS)}
    styles = {"egreedy": "-", "softmax": "--"}

    # seed spread: across-seed sd of the moving average, averaged over the last half of training
    spread: dict[str, float] = {}
    for a in agents:
        mat = np.stack([curves[a][k] for k in sorted(curves[a])])  # (seeds, episodes)
        spread[a] = float(mat[:, mat.shape[1] // 2:].std(axis=0, ddof=1).mean()) if len(mat) > 1 else math.nan
        s.extra_metrics.setdefault(a, {})["seed_spread_last_half"] = [spread[a]]

    # Figure 8: mean over seeds with a +-sd band
    fig, ax = new_figure(8, 4.2)
    for a in agents:
        mat = np.stack([curves[a][k] for k in sorted(curves[a])])
        x = np.arange(1, mat.shape[1] + 1)
        band(ax, x, mat.mean(0), mat.std(0), label=f"{a} (n={len(mat)})", color=colors[a],
             ls=styles[parse_agent(a)[1]], lw=1.3)
    for th in THRESHOLDS:
        if th <= cap:
            ax.axhline(th, color="gray", ls=":", lw=0.8)
    ax.set_xlabel("episodes trained")
    ax.set_ylabel(f"average reward of the last {WINDOW} episodes")
    ax.set_ylim(0, cap * 1.03)
    ax.set_title(f"T5.1 CartPole-{cfg.version}: mean +- sd over seeds (cf. reference Figure 8)")
    ax.legend(fontsize=8, loc="lower right")
    s.figures.append(save(fig, out_dir, "fig8_learning_curves.png"))

    # Figure 16: one panel per seed
    seeds = sorted({r.seed for r in results})
    ncols = min(len(seeds), 5)
    nrows = math.ceil(len(seeds) / ncols)
    fig, axes = new_figure(3.2 * ncols, 2.6 * nrows, ncols=ncols, nrows=nrows, squeeze=False, sharey=True)
    for i, seed in enumerate(seeds):
        ax = axes[i // ncols][i % ncols]
        for a in agents:
            if seed in curves[a]:
                ax.plot(np.arange(1, len(curves[a][seed]) + 1), curves[a][seed], color=colors[a],
                        ls=styles[parse_agent(a)[1]], lw=1, label=a)
        ax.set_title(f"seed {seed}", fontsize=9)
        ax.set_ylim(0, cap * 1.03)
        ax.tick_params(labelsize=7)
    for j in range(len(seeds), nrows * ncols):
        axes[j // ncols][j % ncols].axis("off")
    axes[0][0].legend(fontsize=6, loc="lower right")
    fig.suptitle(f"T5.1 {WINDOW}-episode average per seed (cf. reference Figure 16)", fontsize=10)
    s.figures.append(save(fig, out_dir, "fig16_curves_per_seed.png"))

    # The table
    res = Results(results)

    def col(a: str, k: str) -> np.ndarray:
        return np.array(list(res.values(a, k).values()), dtype=float)

    post = {a: {r.seed: after_learning(r.arrays()["rewards"]) for r in res.by_variant.get(a, [])} for a in agents}
    rows = []
    for a in agents:
        n = res.n(a)
        cells = [a, n]
        for th in THRESHOLDS:
            e = col(a, f"episodes_to_{th:.0f}")
            hit = e[~np.isnan(e)]
            cells.append(f"{_fmt(float(np.median(hit)), 0) if hit.size else '-'} ({hit.size}/{n})")
        cells.append(describe("", res.values(a, "final_avg100")).strip())
        cells.append(_fmt(float(np.mean(col(a, "avg100_sd_last_half")))))
        cells.append(_fmt(_nanmean(col(a, "largest_drop"))))
        cells.append(_fmt(spread[a]))
        cells.append(_fmt(_nanmean(col(a, "greedy_return"))))
        for k, nd in (("relapse_rate", 3), ("drop_after", 1)):
            v = np.array([m[k] for m in post[a].values()], dtype=float)
            v = v[~np.isnan(v)]
            cells.append(f"{_fmt(float(_iqm(v)), nd) if v.size else '-'} ({v.size}/{n})")
        rows.append(cells)
    header = ["agent", "seeds", "episodes to avg 195: median (reached)", "episodes to avg 475: median (reached)",
              "final avg100: mean ± sd over seeds", "sd of avg100 over last half (mean)",
              "largest drop of avg100 (mean)", "seed spread over last half", "greedy return (mean)",
              f"relapse rate after reaching {STABLE_FROM:.0f}: IQM (runs measured)",
              f"largest drop of avg100 after reaching {STABLE_FROM:.0f}: IQM (runs measured)"]
    s.tables.append(Table(f"T5.1 learning speed, final level and stability ({cfg.episodes} episodes, "
                          f"CartPole-{cfg.version}, env={cfg.env})", header, rows))

    # Findings: Q-learning more stable than SARSA (R47, R48), and the reference point (ours)
    rand = random_returns(make_env(cfg.env, cfg.version, RANDOM_SEED), RANDOM_EPISODES)
    values = {a: {k: res.values(a, k) for k in ("final_avg100", "episodes_to_475")} for a in agents}
    for a in agents:
        for k in ("relapse_rate", "drop_after"):
            values[a][k] = {seed: m[k] for seed, m in post[a].items()}
            s.extra_metrics.setdefault(a, {})[f"{k}_{STABLE_FROM:.0f}"] = [
                m[k] for m in post[a].values() if not math.isnan(m[k])]
    why = reach_not_checkable(cfg)
    s.findings.extend(findings(values, float(rand.mean()), reach_why=why, spread=spread))
    s.extra_metrics["random-policy"] = {"final_avg100": [float(rand.mean())]}

    secs = [r.metrics.get("steps_per_s", math.nan) for r in results]
    s.notes.append(
        f"This summary: {cfg.episodes} episodes x {len(seeds)} seed(s) per agent on CartPole-{cfg.version} "
        f"(env={cfg.env}, bins {cfg.bins}); commands: `dltour run cartpole-td` (demo: 1000 episodes x 5 seeds), "
        f"`dltour run cartpole-td --profile full` (2000 x 10, gymnasium's env). The learning loop ran at a "
        f"median {float(np.median([x for x in secs if not math.isnan(x)] or [math.nan])):,.0f} environment "
        f"steps/s per run on this machine.")
    s.notes.append(
        "The reference explains Q-learning's stability by the off-policy max in its target (SARSA's target "
        "uses the explored next action). The findings check the stability itself, not the explanation. "
        "'greedy return' is what each final table achieves with exploration and learning switched off; "
        "'sd of avg100 over last half' is low both for a curve that stays at 500 and for one stuck at a "
        "plateau, so read it beside the final average and the seed spread.")
    s.notes.append(
        f"Stability findings (R47, R48) are measured after the learning phase: per run, from the first episode at "
        f"which its {WINDOW}-episode average reaches {STABLE_FROM:.0f}, the share of later episodes below "
        f"{STABLE_FROM:.0f} (relapse rate) and the largest drop of the average from its running peak; runs that "
        f"never get there with {MIN_AFTER} episodes left are not measured. Seeds are the unit: each agent's runs "
        f"are summarised by the interquartile mean with a stratified bootstrap CI (rliable's convention, "
        f"computed with scipy), and the IQM difference is decided by an exact permutation test over runs (not "
        f"paired: a seed gives both agents the same initial states, but their exploration and learning part "
        f"after the first episode). Learned-gate: the random policy averages {rand.mean():.1f} steps an episode "
        f"({RANDOM_EPISODES} episodes); an agent whose final 100-episode average is no better carries no "
        f"stability verdict.")
    return s
