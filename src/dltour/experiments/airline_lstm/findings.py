"""T2.1 ``airline-lstm``: what the runs mean. The reference's claims about the window size and the
average error, decided over seeds (the science, what one run trains and returns, is in
``science.py``); the figures and the table; whether a run is comparable with the reference.

How each claim is measured and decided (per seed, so every claim is decided over seeds):

- windows are compared on the same months: a window of w months is scored on the test months from
  1957-01 + w on, so every comparison *between windows* is made on ``LSTM RMSE / SARIMA RMSE`` on
  that window's own months, per seed (the baselines are deterministic; the mean predictor is the
  learned-gate: a window whose mean RMSE is no better than it makes every finding about windows
  inconclusive);
- R10 "no pattern" read as: no trend of the same-month relative error with the window, seeds as
  the unit: per seed, the OLS slope of LSTM / SARIMA on the window (relative-error units per month
  of window); TOST of the mean slope against ±margin (``no_trend``). The margin: a trend that moves
  the relative error by less than R13's tolerance on the reference's average (10% of 58.7 = 5.87
  passengers, in relative units: divided by SARIMA's mean same-month RMSE) across the windows run
  is no pattern (see :func:`trend_margin`). R10's other part, "larger windows start later", is true
  by construction (window w's first prediction is test month w + 1): a note, not a verdict;
- R11: windows 12 and 18-22 beat the others on the relative error (per seed, the mean over each
  group's windows; paired t-test by seed); R13: the "average MSE" 58.7 read as an RMSE in
  passengers (an MSE of 58.7 would be an RMSE of 7.7, far better than any model of this series),
  our per-seed average over the windows run within ±10% of it (TOST; the margin's source in
  ``AVERAGE_MARGIN_SOURCE``).
- ours, beyond the reference (issue 19; only with ``tutorial_check_window=W``): window W's mean test
  RMSE over seeds at or below the Keras tutorial's best single run, 47.53 (window 1, 67/33 split,
  scaled over the whole series), one-sample t-test by seed, beside SARIMA and the seasonal-naive
  forecast on W's months. The recipe and its choice on validation: ``docs/results/airline-lstm/beyond``.

Each finding is declared once in ``FINDINGS`` with its rule (:mod:`dltour.rules`, and the window rules
below: a trend over the windows, the two window groups, the check window); :func:`findings` only
assembles the per-window values (``dltour.rules.Runs``: ``test_rmse`` and ``rel`` per window arm
``w<window>``, their per-seed means over the windows, SARIMA's and the seasonal-naive forecast's RMSE
on each window's months as constants, the windows that did not learn) and decides them. R13's
comparison with the reference (not on AirPassengers: not checked; the evidence says whether the run is
comparable) is the study's, from the configuration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from dltour import rules as R
from dltour.data import airline
from dltour.metrics.regression import mse, rmse
from dltour.plots import new_figure, save
from dltour.summary import Comparison, Declared, declare, Finding, Ref, Results, RunResult, Summary, Table
from dltour.verdicts import (Decision, compare, describe, did_not_learn, exceeds, fmt, gate, inconclusive, no_trend,
                             not_checked)

REF_AVERAGE = 58.7  # Figure 13's "average MSE"
REF_EPOCHS, REF_BATCH = 100, 1  # the Keras tutorial's budget, which the reference's Figure 2 matches
GOOD_WINDOWS = (12, 18, 19, 20, 21, 22)  # "windows of 12 months or in the range 18-22 months"
AVERAGE_MARGIN = 0.10  # R13: within ±10% of 58.7
# R13's margin, with its reasoning: the reference prints one average of unstated runs and no spread; our own
# full-budget average moves by about 5% (1 sd) from seed to seed (docs/results/airline-lstm), so a margin much
# narrower than 10% could not be met by a faithful rerun, and a much wider one would accept averages a reader
# of Figure 13 would call different
AVERAGE_MARGIN_SOURCE = ("±10% of the reference's 58.7: a stated fraction (the reference gives no spread; our "
                         "full-budget average varies by about 5% (1 sd) over seeds)")
REL_UNIT = "LSTM / SARIMA RMSE ratio"
# Our own check beyond the reference (issue 19): the Keras tutorial's own best single run, window 1 on the 67/33
# split, printed a test RMSE of 47.53 (passengers, with its scaling over the whole series)
TUTORIAL_BEST = 47.53


# ---------------------------------------------------------------------- the rules of this study's claims
# (the same protocol as dltour.rules: ``applies(runs)`` and ``decide(runs)``; the windows run are the arms
# ``w<window>`` of a metric, SARIMA's RMSE on a window's months the constant ``sarima_w<window>``)
def _by_window(runs: R.Runs, metric: str) -> dict[int, Mapping[int, float]]:
    """window -> seed -> value of ``metric``, from its arms ``w<window>``."""
    return {int(arm[1:]): v for arm, v in runs.metrics.get(metric, {}).items()}


@dataclass(frozen=True)
class NoWindowTrend:
    """R10: no trend of ``metric`` (the same-month relative error) with the window (:func:`decide_no_pattern`,
    its margin from the windows' SARIMA RMSE, the constants ``sarima_w<window>``)."""

    metric: str

    def applies(self, runs: R.Runs) -> bool:
        return bool(runs.metrics.get(self.metric))

    def decide(self, runs: R.Runs) -> Decision:
        rel = _by_window(runs, self.metric)
        return decide_no_pattern(rel, {w: runs.consts[f"sarima_w{w}"] for w in rel})


@dataclass(frozen=True)
class GoodWindows:
    """R11: ``metric`` of windows 12 and 18-22 below the other windows' (:func:`decide_windows`; not checked
    without windows of both groups)."""

    metric: str

    def applies(self, runs: R.Runs) -> bool:
        return bool(runs.metrics.get(self.metric))

    def decide(self, runs: R.Runs) -> Decision:
        return decide_windows(_by_window(runs, self.metric))


@dataclass(frozen=True)
class CheckWindow:
    """Ours (issue 19): the window of the constant ``window`` (``tutorial_check_window``; the rule applies
    only when it is set) at or below the Keras tutorial's best run (:func:`decide_tutorial_best`), unless
    that window did not learn; not checked when it was not run."""

    metric: str
    window: str

    def applies(self, runs: R.Runs) -> bool:
        return self.window in runs.consts

    def decide(self, runs: R.Runs) -> Decision:
        w = int(runs.consts[self.window])
        if not runs.has(self.metric, f"w{w}"):
            return not_checked(f"window {w} was not run")
        return gate(decide_tutorial_best(runs.of(self.metric, f"w{w}")), runs.failed, [f"w{w}"])


def _same_months(runs: R.Runs) -> str:
    """The check window's months, and the baselines' RMSE on them (constants ``sarima_w<window>``,
    ``naive_w<window>``) when known."""
    w = int(runs.consts["check_window"])
    same = [f"{name} {fmt(float(runs.consts[k]))}" for name, k in (("SARIMA(0,1,1)(0,1,1)12", f"sarima_w{w}"),
                                                                  ("seasonal naive", f"naive_w{w}"))
            if k in runs.consts]
    return (f"window {w} is scored on the test months after the first {w}"
            + (f"; on the same months: {', '.join(same)}" if same else ""))


#: the study's findings, declared once with their rules (dltour.rules and the window rules above):
#: :func:`findings` supplies the runs' values
FINDINGS = declare("T2.1", [
    Declared("no-window-pattern",
             "No pattern of the error with the window size: the same-month relative error (LSTM / SARIMA) shows no "
             "trend with the window (per seed, the OLS slope over the windows; equivalence of the mean slope to 0 "
             "within ±{margin} per month of window)", "R10", "§2, Task 2.1, Figure 2",
             rule=R.GatedEvery(NoWindowTrend("rel"), "rel")),
    Declared("windows-12-18-22",
             "Windows of 12 months or 18-22 months give lower test error than the other windows (decided on the "
             "same-month relative error LSTM / SARIMA, so that windows scored on different months compare)", "R11",
             "§2, Task 2.1, Figure 13", rule=R.GatedEvery(GoodWindows("rel"), "rel")),
    Declared("average-error-58.7",
             f"The average test error over window sizes is 58.7 (Figure 13's 'average MSE', read as an RMSE in "
             f"passengers): our per-seed average test RMSE over the windows run is within ±{AVERAGE_MARGIN:.0%} of it",
             "R13", "Appendix 7.2, Figure 13",
             rule=R.GatedEvery(R.NearReference("mean_test_rmse", "windows", REF_AVERAGE, AVERAGE_MARGIN,
                                           AVERAGE_MARGIN_SOURCE, "our average test RMSE over windows",
                                           unit="passengers (RMSE)"), "rel")),
    Declared("lstm-vs-sarima",
             "The LSTM beats SARIMA(0,1,1)(0,1,1)12 on the same test months (our check, not the reference's): mean "
             "relative error over the windows below 1",
             rule=R.GatedEvery(R.Exceeds("mean_rel", "windows", 1.0, "less",
                                       name="LSTM / SARIMA RMSE, same months, mean over windows", what="per seed",
                                       unit=REL_UNIT), "rel")),
    Declared("tutorial-best-47.53",
             f"Window {{window}} reaches the Keras tutorial's best single run (our check, beyond the reference): our "
             f"mean test RMSE over seeds is at or below {TUTORIAL_BEST} passengers (the tutorial: window 1, 67/33 "
             f"split, one run, scaled over the whole series)",
             rule=R.Noted(CheckWindow("test_rmse", "check_window"), _same_months)),
])

#: the reference's numbers beside ours (the study's ``reference``)
REFERENCE = [
    Ref("Figure 13", "average", "test_rmse", REF_AVERAGE,
        "the reference labels it 'average MSE'; its size matches an RMSE in passengers"),
]
#: what the reference's claims are about (a summary on another series decides none of them)
CLAIMS_ABOUT = "the AirPassengers series"


# ---------------------------------------------------------------------- comparable with the reference?
def comparison(study, cfg) -> Comparison:
    """Data: AirPassengers by the series' checksum. Budget: the tutorial's 100 epochs at batch 1
    (the reference states none; its Figure 2 matches the tutorial)."""
    why = []
    try:
        _, y = study._series(cfg)
        data = airline.is_airpassengers(y)
        if not data:
            why.append(f"data: {cfg.data.path or 'the series'} is not AirPassengers ({len(y)} values; the "
                       f"checksum of the counts differs)")
    except Exception as e:  # an unreadable file is reported by the run itself
        data = False
        why.append(f"data: cannot read the series ({e})")
    budget = cfg.epochs == REF_EPOCHS and cfg.batch_size == REF_BATCH
    if not budget:
        why.append(f"budget: {cfg.epochs} epochs at batch {cfg.batch_size} (lr {cfg.lr:g}) vs the tutorial's "
                   f"{REF_EPOCHS} epochs at batch {REF_BATCH} (lr 1e-3) that the reference's Figure 2 matches")
    return Comparison(data, budget, "; ".join(why), about=data,
                      about_why="" if data else (why[0].removeprefix("data: ") if why else "not AirPassengers"))


# ---------------------------------------------------------------------- the summary: figures, table, findings
def summarize(study, cfg, results: list[RunResult], out_dir: Path) -> Summary:
    s = Summary()
    if not results:
        return s
    res = Results(results)
    months, y = study._series(cfg)
    n_train = int(len(y) * cfg.train_fraction)
    ws = sorted(int(v[1:]) for v in res.variants)
    sarima = study.sarima_one_step(y, n_train)
    true_test = y[n_train:]
    for name, pred in (("seasonal-naive", study.seasonal_naive(y, n_train)), ("sarima", sarima)):
        s.extra_metrics[name] = {"test_rmse": [rmse(true_test, pred)], "test_mse": [mse(true_test, pred)]}
    base = study.same_month_baselines(y, n_train, ws, sarima)
    lstm = {w: res.values(f"w{w}", "test_rmse") for w in ws}
    rel = relative_errors(lstm, base["sarima"])
    for w in ws:  # the baselines on exactly the months this window is scored on
        m = s.extra_metrics.setdefault(f"w{w}", {})
        m["sarima_rmse_same_months"] = [base["sarima"][w]]
        m["rel_sarima_same_months"] = list(rel[w].values())
    avg = average_over_windows(lstm)
    s.extra_metrics["average"] = {"test_rmse": list(avg.values()),
                                  "test_mse": list(average_over_windows(
                                      {w: res.values(f"w{w}", "test_mse") for w in ws}).values())}
    starts = {w: float(res.first(f"w{w}").arrays()["test_start"]) for w in ws}

    # Figure 2: test predictions of several windows over the true series (lowest seed)
    fig, ax = new_figure(8, 4)
    ax.plot(np.arange(len(y)), y, color="black", lw=1.5, label="true")
    ax.axvline(n_train - 0.5, color="gray", ls=":", lw=1)
    show = [w for w in ws if w in (1, 6, 12, 18, 24)] or ws[:4]
    if cfg.tutorial_check_window in ws and cfg.tutorial_check_window not in show:  # the window our check is on
        show.append(cfg.tutorial_check_window)
    for w in show:
        a = res.first(f"w{w}").arrays()
        start = int(a["test_start"])
        ax.plot(np.arange(start, start + len(a["pred_test"])), a["pred_test"], lw=1, label=f"window {w}")
    ax.plot(np.arange(n_train, len(y)), sarima, color="gray", ls="--", lw=1, label="SARIMA")
    ticks = np.arange(0, len(y), 24)
    ax.set_xticks(ticks, [months[i][:4] for i in ticks])
    ax.set_ylabel("passengers (thousands)")
    ax.set_title("T2.1 test predictions by window size (cf. reference Figure 2)")
    ax.legend(fontsize=7, ncol=2)
    s.figures.append(save(fig, out_dir, "fig2_test_predictions.png"))

    # Figure 13: test error against window size (left, as the reference) and on the same months (right)
    fig, (ax, ax2) = new_figure(11, 3.8, ncols=2)
    mean_rmse = res.means("test_rmse", [f"w{w}" for w in ws])
    sd = [np.std(list(lstm[w].values()), ddof=1) if len(lstm[w]) > 1 else 0.0 for w in ws]
    avg_rmse = float(np.mean(list(avg.values()))) if avg else math.nan
    ax.errorbar(ws, [mean_rmse[f"w{w}"] for w in ws], yerr=sd, marker="o", capsize=3,
                label="LSTM test RMSE (mean ± sd over seeds)")
    ax.axhline(avg_rmse, color="C0", ls="--", lw=1, label=f"average ({avg_rmse:.1f})")
    ax.axhline(REF_AVERAGE, color="C3", ls=":", lw=1, label=f"reference average ({REF_AVERAGE})")
    ax.plot(ws, [base["sarima"][w] for w in ws], color="gray", marker=".", lw=1, label="SARIMA, same months")
    ax.plot(ws, [base["seasonal-naive"][w] for w in ws], color="gray", marker="x", ls=":", lw=1,
            label="seasonal naive, same months")
    ax.set_xlabel("window size (months)")
    ax.set_ylabel("test RMSE (thousands of passengers)")
    ax.set_title("T2.1 test error by window (cf. reference Figure 13)", fontsize=10)
    ax.legend(fontsize=7)
    for w in ws:
        ax2.scatter([w] * len(rel[w]), list(rel[w].values()), color="C0", s=10, alpha=0.6)
    ax2.plot(ws, [float(np.mean(list(rel[w].values()))) for w in ws], color="C0", marker="o",
             label="LSTM / SARIMA RMSE, same months (seeds, mean)")
    for w in GOOD_WINDOWS:
        if w in ws:
            ax2.axvspan(w - 0.4, w + 0.4, color="C2", alpha=0.12, lw=0)
    ax2.set_xlabel("window size (months)  (shaded: the reference's 12 and 18-22)")
    ax2.set_ylabel("relative error")
    ax2.set_title("same-month relative error", fontsize=10)
    ax2.legend(fontsize=7)
    s.figures.append(save(fig, out_dir, "fig13_error_by_window.png"))

    # The table: every window on its own months, beside the baselines on the same months
    rows = []
    for w in ws:
        scored = y[n_train + w:]
        rows.append([f"w{w}", f"{months[n_train + w]}..{months[-1]} ({len(scored)})",
                     describe("", lstm[w]).strip(), describe("", rel[w]).strip(), base["sarima"][w],
                     base["seasonal-naive"][w], base["mean"][w]])
    s.tables.append(Table(
        "T2.1 test RMSE by window, each on the months it is scored on, beside baselines on the same months",
        ["window", "test months scored (n)", "LSTM RMSE (mean ± sd, n)", "LSTM / SARIMA (mean ± sd, n)",
         "SARIMA", "seasonal naive", "mean predictor"], rows,
        note="RMSE in thousands of passengers. The relative error LSTM / SARIMA is per seed, on the window's "
             "own months: the measure the window findings compare."))

    cmp = study.comparison(cfg)
    s.findings.extend(findings(lstm, base, cmp, check_window=cfg.tutorial_check_window))
    s.notes.append(start_later_note(starts, months))

    # which of our units is of the reference's magnitude (a note, not a verdict about the reference)
    avg_mse = float(np.mean(s.extra_metrics["average"]["test_mse"]))
    scale = float(y[:n_train].max() - y[:n_train].min())
    units = {"RMSE (passengers)": avg_rmse, "MSE (passengers^2)": avg_mse, "MSE (scaled 0-1)": avg_mse / scale ** 2}
    closest = min(units, key=lambda k: abs(math.log(max(units[k], 1e-12) / REF_AVERAGE)))
    s.notes.append("Units of the reference's 'average MSE' 58.7: our averages over the windows run are "
                   + ", ".join(f"{k} {fmt(v)}" for k, v in units.items())
                   + f"; the closest to 58.7 in ratio is the {closest} ({units[closest] / REF_AVERAGE:.2g} x 58.7). "
                   "This is about our units only: it cannot tell what the reference computed.")
    s.notes.append(f"Test part: the last {len(y) - n_train} months ({months[n_train]}..{months[-1]}); each "
                   f"window is scored on the test months after its first window, so larger windows are scored "
                   f"on fewer, later (larger) months, and windows are compared on the relative error to SARIMA "
                   f"on the same months. Seeds pair across windows: "
                   + ("seed s gives every window the same initial weights." if cfg.input_layout == "steps" else
                      "seed s is the same random stream for every window (the window enters as features, so "
                      "the input weights' shape depends on it)."))
    if not cmp.budget:
        s.notes.append(f"Not the reference's budget ({cmp.why}); the findings describe this budget.")
    return s

# ---------------------------------------------------------------------- decisions (plain per-seed values in)
PerWindow = Mapping[int, Mapping[int, float]]  # window -> seed -> value


def _ratio(v: float, base: float) -> float:
    """LSTM RMSE / baseline RMSE; a baseline with zero error (a perfectly periodic series: seasonal
    naive and SARIMA are exact) gives 1 when the LSTM is exact too and +inf otherwise (dropped and
    counted as a non-finite run by the decision rules), never a ZeroDivisionError."""
    v, base = float(v), float(base)
    if base == 0.0:
        return 1.0 if v == 0.0 else math.inf
    return v / base


def relative_errors(lstm: PerWindow, baseline: Mapping[int, float]) -> dict[int, dict[int, float]]:
    """window -> seed -> LSTM RMSE / the baseline's RMSE on the same months (see :func:`_ratio`)."""
    return {w: {s: _ratio(v, baseline[w]) for s, v in by_seed.items()} for w, by_seed in lstm.items()}


def _shared_seeds(per_window: PerWindow, windows) -> list[int]:
    sets = [set(per_window[w]) for w in windows]
    return sorted(set.intersection(*sets)) if sets else []


def average_over_windows(per_window: PerWindow, windows=None) -> dict[int, float]:
    """seed -> mean over the windows (those given, else all) of the value, over seeds every window has."""
    windows = sorted(per_window) if windows is None else list(windows)
    seeds = _shared_seeds(per_window, windows)
    return {s: float(np.mean([per_window[w][s] for w in windows])) for s in seeds}


def decide_windows(rel: PerWindow) -> Decision:
    """R11: the same-month relative error of windows 12 and 18-22 is lower than the other windows',
    per seed (mean over each group), paired by seed."""
    good = [w for w in sorted(rel) if w in GOOD_WINDOWS]
    other = [w for w in sorted(rel) if w not in GOOD_WINDOWS]
    if not good or not other:
        return not_checked(f"needs windows in 12 or 18-22 and others; ran {sorted(rel)}")
    a, b = average_over_windows(rel, good), average_over_windows(rel, other)
    d = compare(a, b, "less", names=(f"windows {', '.join(map(str, good))}", f"windows {', '.join(map(str, other))}"),
                what="LSTM / SARIMA RMSE on each window's own months, mean over the group's windows per seed",
                unit=REL_UNIT)
    per = ", ".join(f"w{w} {fmt(float(np.mean(list(rel[w].values()))))}" for w in sorted(rel))
    d.evidence += f"; per window (mean over seeds): {per}"
    return d


def trend_margin(sarima: Mapping[int, float], windows) -> tuple[float, str]:
    """R10's equivalence margin on the per-seed slope of the relative error (LSTM / SARIMA) per month
    of window, and its source.

    "No pattern" is read at the precision R13 grants the reference's own average: a trend that moves
    the error by less than 10% of the reference's 58.7 (5.87 passengers) across the whole range of
    windows run is no pattern. In relative units that is 5.87 / SARIMA's mean RMSE on the windows'
    own months, spread over the range (max window - min window)."""
    ws = sorted(windows)
    span = max(ws) - min(ws) if len(ws) > 1 else 1
    level = float(np.mean([float(sarima[w]) for w in ws]))
    if not level > 0:  # SARIMA exact on these months (a perfectly periodic series): no relative scale
        return math.nan, "undefined: SARIMA's RMSE on the windows' months is 0"
    total = AVERAGE_MARGIN * REF_AVERAGE / level
    src = (f"a change of less than {fmt(total)} over windows {ws[0]}-{ws[-1]}: R13's tolerance "
           f"{AVERAGE_MARGIN:.0%} of 58.7 = {fmt(AVERAGE_MARGIN * REF_AVERAGE)} passengers over SARIMA's mean "
           f"same-month RMSE {fmt(level)}")
    return total / span, src


def decide_no_pattern(rel: PerWindow, sarima: Mapping[int, float]) -> Decision:
    """R10: no trend of the same-month relative error with the window, seeds as the unit: per seed,
    the OLS slope of LSTM / SARIMA on the window; TOST of the mean slope within ±:func:`trend_margin`."""
    ws = sorted(rel)
    seeds = _shared_seeds(rel, ws)
    if not all(float(sarima[w]) > 0 for w in ws):
        exact = [w for w in ws if not float(sarima[w]) > 0]
        return inconclusive(f"SARIMA forecasts the months of windows {', '.join(map(str, exact))} exactly (RMSE 0): "
                            "the relative error is undefined there, so no pattern can be measured")
    margin, src = trend_margin(sarima, ws)
    y = {s: [rel[w][s] for w in ws] for s in seeds}
    return no_trend(ws, y, margin, margin_source=src, name="LSTM / SARIMA RMSE on the same months",
                    xname="month of window", unit=REL_UNIT, what="per seed: one slope over the windows run")


def start_later_note(starts: Mapping[int, float], months: list[str] | None = None) -> str:
    """R10's structural part, as a note: larger windows make the test predictions start later. True
    by construction (a window of w months predicts the test months from the (w + 1)-th on), so it
    carries no verdict; the note shows the first predicted month of each window."""
    ws = sorted(starts)

    def month(w):
        i = int(starts[w])
        return months[i] if months is not None and 0 <= i < len(months) else f"month {i}"

    later = all(starts[b] > starts[a] for a, b in zip(ws, ws[1:]))
    return ("R10's structural part, 'larger window sizes force the prediction curve to start later', holds by "
            "construction (a window of w months has its first test prediction w months into the test part), so it "
            "is shown here, not decided: first predicted month "
            + ", ".join(f"w{w} {month(w)}" for w in ws)
            + ("" if later else " (NOT later for every larger window: the run's saved start months disagree)") + ".")


def decide_tutorial_best(values: Mapping[int, float]) -> Decision:
    """Ours (issue 19): the mean over seeds of one window's test RMSE is at or below the Keras
    tutorial's best single run, 47.53 (one-sample t-test, seeds as the unit)."""
    return exceeds(values, TUTORIAL_BEST, "less", name="our test RMSE (one window, per seed)",
                   what="per seed, against the Keras tutorial's best single run (window 1)",
                   unit="passengers (RMSE)")


def findings(lstm: PerWindow, base: Mapping[str, Mapping[int, float]],
             cmp: Comparison | None = None, check_window: int | None = None) -> list[Finding]:
    """The study's findings from plain values, by the rules declared in ``FINDINGS``: ``lstm`` window ->
    seed -> test RMSE, ``base`` baseline -> window -> RMSE on that window's months (``sarima`` and
    ``mean`` are used, ``seasonal-naive`` shown beside our check), ``cmp`` the comparison with the
    reference, ``check_window`` the window of our check against the Keras tutorial's 47.53
    (``tutorial_check_window``; ``None``: not made). (R10's "larger windows start later" is true by
    construction: :func:`start_later_note`, not a finding.)"""
    ws = sorted(lstm)
    rel = relative_errors(lstm, base["sarima"])
    consts = {f"sarima_w{w}": float(v) for w, v in base["sarima"].items()}
    consts |= {f"naive_w{w}": float(v) for w, v in base.get("seasonal-naive", {}).items()}
    if check_window is not None:
        consts["check_window"] = check_window
    runs = R.Runs({"test_rmse": {f"w{w}": lstm[w] for w in ws}, "rel": {f"w{w}": rel[w] for w in ws},
                   "mean_test_rmse": {"windows": average_over_windows(lstm)},
                   "mean_rel": {"windows": average_over_windows(rel)}}, consts,
                  did_not_learn({f"w{w}": lstm[w] for w in ws}, {f"w{w}": base["mean"][w] for w in ws}, "less"))
    margin, _ = trend_margin(base["sarima"], ws)
    out = [FINDINGS["no-window-pattern"].decide(runs, margin=fmt(margin)), FINDINGS["windows-12-18-22"].decide(runs)]
    # R13 is about AirPassengers: on other data it is not checked; the evidence says whether the run is comparable
    avg = FINDINGS["average-error-58.7"]
    comp = ("" if cmp is None else
            "comparable with the reference" if cmp.ok else f"not comparable with the reference: {cmp.why}")
    out.append(avg.decide(runs, unless=f"the data is not AirPassengers ({cmp.why})" if cmp is not None and not cmp.data
                          else None, note=f"averaged over windows {', '.join(map(str, ws))}" + (f"; {comp}" if comp else "")))
    out.append(FINDINGS["lstm-vs-sarima"].decide(runs))
    if check_window is not None:
        out.append(FINDINGS["tutorial-best-47.53"].decide(runs, window=check_window))
    return [f for f in out if f is not None]
