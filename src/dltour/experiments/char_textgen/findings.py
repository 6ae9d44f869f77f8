"""T2.3 ``char-textgen``: what the runs mean. The reference's claims (R21-R23) decided from each
run's sample measures, the margins and their sources, Table 3 and the Figure 4 figure and data, the
study's ``summarize``, and ``comparison`` (is a run comparable with the reference). The science
(data, model, training step, what a run measures) is in ``science.py``; nothing here imports it.

The sample measures a run records (``samples.json``; the findings below decide on them):

- beyond the reference, per temperature over the 50 samples: distinct-2 (distinct word bigrams
  over all bigrams), the bits per character of the samples under a character 3-gram model fitted
  on the training text (an independent judge of how surprising they are), and over their words
  (lower-cased letter runs): mean length, the share among the 100 most frequent training words
  ("common words") and the share that occur in the training text at all ("real words", our
  proxy for meaningfulness).

How the claims are decided (seeds, i.e. independent runs, are the unit: each run's measures over
the temperatures are reduced to one number per run before any test):

- R21 (low T: predictable, shorter, more common words): 3-gram bits/char and mean word length rise
  with T and the common-word share falls, all three (``per_run_trend``: per seed, Spearman's rho
  over the temperatures; a one-sample t-test of the per-seed rhos against 0, the exact sign test
  when they tie, e.g. every seed perfectly monotone; Holm within the three);
- R22 (high T: more surprising, richer vocabulary, less meaningful): 3-gram bits/char and
  distinct-2 rise with T, the real-word share falls (three findings, each ``per_run_trend``);
- R23 (BLEU shows no correlation with T; the reference's Figure 4 plots corpus BLEU): per seed, the
  OLS slope of the corpus BLEU (one per temperature) on T, in BLEU points per unit of T; TOST of the
  mean slope within ±margin (``no_trend``). The margin: a change of less than 1 BLEU point across
  the temperatures swept (differences of 1-2 BLEU points often disagree with human judgements of
  MT systems, Mathur et al. 2020, "Tangled up in BLEU"). A BLEU constant within every run (e.g.
  all zero) measures nothing, and a BLEU that never reaches 1 point sits at its floor, where it
  cannot move by the margin: both are undecided, never "no correlation".

Each finding is declared once in ``FINDINGS`` with its rule (``dltour.rules``): ``findings`` only
assembles :class:`SweepRuns` (each measure per temperature and run, the held-out bits per character
against the unigram baseline, and the temperatures swept) and ``decide_declared`` decides them all.
The shapes ``dltour.rules`` lacks are small rules here: :class:`Trend` (a per-run trend over the
temperatures), :class:`NoTrend` (R23's equivalence of the per-run slope with a margin, undecided
at BLEU's floor) and :class:`AtLevels` (two temperatures paired by run, not checked unless every
run has both). A model worse than the unigram baseline carries no verdict (``LEARNED``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dltour import rules as R
from dltour.data import corpora
from dltour.plots import new_figure, save
from dltour.summary import Comparison, Declared, declare, decide_declared, Finding, RunResult, Summary, Table
from dltour.verdicts import INCONCLUSIVE, Decision, compare, fmt, no_trend, not_checked, per_run_trend

COMMON_WORDS = 100  # "common words": the 100 most frequent words of the training text
BLEU_CHANGE = 1.0  # R23: "no correlation" read as: corpus BLEU changes by less than 1 point across the sweep
BLEU_MARGIN_SOURCE = ("1 BLEU point across the temperatures swept: differences of 1-2 BLEU points often disagree "
                      "with human judgements (Mathur et al. 2020, 'Tangled up in BLEU')")
MEASURES = ("bleu", "distinct2", "ngram_bpc", "mean_word_len", "common_words", "in_vocab_words")


@dataclass(frozen=True)
class SweepRuns(R.Runs):
    """:class:`dltour.rules.Runs` over a sweep: ``metrics[measure][arm]`` holds each run's value at
    one temperature, ``sweep`` is (temperature, arm), by temperature, and ``seeds`` every run (the
    position of its samples), in order: a run may lack a temperature, or every one."""

    sweep: tuple[tuple[float, str], ...] = ()
    seeds: tuple[int, ...] = ()

    def curves(self, metric: str) -> tuple[list[float], dict[int, list[float]]]:
        """(the temperatures, run -> ``metric`` at each of them; NaN where the run lacks one)."""
        return ([t for t, _ in self.sweep],
                {i: [self.of(metric, arm).get(i, math.nan) for _, arm in self.sweep] for i in self.seeds})


def _level_means(temps: list[float], y: dict[int, list[float]]) -> str:
    """``T: mean over runs`` at each temperature."""
    return ", ".join(f"{t:g}: {fmt(float(np.nanmean([ys[j] for ys in y.values()])))}" for j, t in enumerate(temps))


@dataclass(frozen=True)
class Trend:
    """``metric`` rises (``greater``) / falls (``less``) with temperature, seeds as the unit
    (:func:`dltour.verdicts.per_run_trend`); its evidence shows the mean over runs at each
    temperature."""

    metric: str
    direction: str
    name: str
    unit: str

    def applies(self, runs: SweepRuns) -> bool:
        return True

    def decide(self, runs: SweepRuns) -> Decision:
        temps, y = runs.curves(self.metric)
        return per_run_trend(temps, y, self.direction, name=self.name, xname="unit of temperature", unit=self.unit,
                             what="mean over seeds by T: " + _level_means(temps, y))


@dataclass(frozen=True)
class NoTrend:
    """``metric`` changes by less than ``change`` across the temperatures swept: per run the OLS
    slope on T, TOST of the mean slope within ±change / (the sweep's span) (:func:`dltour.verdicts.no_trend`).
    A ``metric`` that never reaches ``change`` sits at its floor, where it cannot move by the margin:
    undecided. The decision's evidence starts with ``means``: the mean over runs at each temperature."""

    metric: str
    change: float
    margin_source: str
    name: str
    unit: str
    what: str
    means: str

    def applies(self, runs: SweepRuns) -> bool:
        return True

    def decide(self, runs: SweepRuns) -> Decision:
        temps, y = runs.curves(self.metric)
        span = (max(temps) - min(temps)) if len(temps) > 1 else 1.0
        top = max((v for ys in y.values() for v in ys if math.isfinite(v)), default=math.nan)
        d = no_trend(temps, y, self.change / span, margin_source=self.margin_source, name=self.name,
                     xname="unit of temperature", unit=self.unit, what=self.what)
        if d.verdict != INCONCLUSIVE and not top >= self.change:
            d = replace(d, verdict=INCONCLUSIVE,
                        test=f"not decided: {self.name} never reaches {fmt(self.change)} point (its largest value is "
                             f"{fmt(top)}): at its floor it cannot change by the margin, so a flat line says nothing "
                             f"about a correlation; the test alone said {d.verdict!r}: {d.test}",
                        reasons=d.reasons + [f"{self.name} at its floor (at most {fmt(top)} < {fmt(self.change)})"])
        return replace(d, evidence=f"{self.means}: {_level_means(temps, y)}; {d.evidence}")


@dataclass(frozen=True)
class AtLevels:
    """``metric`` at temperature ``at`` is ``direction`` than at ``than``, paired by run
    (:func:`dltour.verdicts.compare`); not checked (``missing``) unless every run has both."""

    metric: str
    at: float
    than: float
    direction: str
    names: tuple[str, str]
    unit: str
    missing: str

    def applies(self, runs: SweepRuns) -> bool:
        return True

    def decide(self, runs: SweepRuns) -> Decision:
        arms = {t: arm for t, arm in runs.sweep}
        a, b = runs.of(self.metric, arms.get(self.at, "")), runs.of(self.metric, arms.get(self.than, ""))
        if not runs.seeds or not all(i in a and i in b for i in runs.seeds):
            return not_checked(self.missing)
        return compare({i: a[i] for i in runs.seeds}, {i: b[i] for i in runs.seeds}, self.direction, names=self.names,
                       unit=self.unit)


#: how a run shows it learned: its held-out bits per character below the character-unigram baseline's
LEARNED = (R.Learned("lstm", "val_bpc", "unigram_bpc", "less"),)
_BPC = Trend("ngram_bpc", "greater", "3-gram bits/char", "bits/char")
SEC = "§2.3, Table 3"

#: the study's findings, declared once with their rules (dltour.rules and the rules above): the study supplies
#: the runs' values
FINDINGS = declare("T2.3", [
    Declared("low-temp-predictable-common-words",
             f"Lower temperature gives predictable text with shorter, more common words (3-gram bits/char and word "
             f"length rise with T, the share of the {COMMON_WORDS} most common training words falls; per seed, over "
             f"the temperatures)", "R21", SEC,
             rule=R.Gated(R.AllOf((_BPC, Trend("mean_word_len", "greater", "mean word length", "characters"),
                                   Trend("common_words", "less", f"share of the {COMMON_WORDS} most common words",
                                         "share of words")),
                                  labels=("predictable: 3-gram bits/char rise with T",
                                          "shorter: word length rises with T",
                                          "more common: the common-word share falls with T")), ("lstm",))),
    Declared("ngram-bpc-tracks-temperature",
             "Higher temperature gives more surprising text: bits per character under a character 3-gram model of "
             "the training text rise with T", "R22", SEC, rule=R.Gated(_BPC, ("lstm",))),
    Declared("distinct2-tracks-temperature",
             "Higher temperature gives a richer vocabulary: distinct-2 (distinct word bigrams over all) rises with T",
             "R22", SEC, rule=R.Gated(Trend("distinct2", "greater", "distinct-2", "distinct-2"), ("lstm",))),
    Declared("high-temp-less-meaningful",
             "Higher temperature gives less meaningful text: the share of generated words that are real words (occur "
             "in the training text) falls with T", "R22", SEC,
             rule=R.Gated(Trend("in_vocab_words", "less", "real-word share", "share of words"), ("lstm",))),
    # R23: BLEU shows no correlation with temperature (corpus BLEU per seed and temperature, as Figure 4)
    Declared("bleu-no-correlation",
             f"BLEU shows no correlation with temperature: corpus BLEU changes by less than {BLEU_CHANGE:g} point "
             f"across the temperatures swept (per seed, the slope of corpus BLEU on T; equivalence test)", "R23",
             "§2.3, Figure 4",
             rule=R.Gated(NoTrend("bleu", BLEU_CHANGE, BLEU_MARGIN_SOURCE, "corpus BLEU", "BLEU points",
                                  "per seed: corpus BLEU of its samples at each temperature",
                                  "corpus BLEU by temperature (mean over seeds)"), ("lstm",))),
    # ours: greedy decoding repeats itself
    Declared("greedy-loops",
             "Greedy sampling (T = 0) repeats itself: fewer distinct word bigrams than at T = 1 (paired by seed)",
             rule=R.Gated(AtLevels("distinct2", 0.0, 1.0, "less", ("distinct-2 at T=0", "at T=1"), "distinct-2",
                                   "temperatures 0 and 1 not both in the sweep"), ("lstm",))),
])

reference = []  # Table 3 is text and Figure 4 gives no numbers; the claims are checked as findings


def comparison(study, cfg) -> Comparison:
    """The reference's data: the Game of Thrones scripts (identified by their columns and eight
    seasons: no checksum is pinned). Its budget: the reference states none, so only the data
    can differ."""
    if cfg.data.corpus != "got":
        return Comparison(False, True, f"corpus {cfg.data.corpus} instead of the Game of Thrones scripts; the reference "
                                       "states no training budget")
    ok, why = corpora.got_identity(cfg.data.path)
    seen = f"data: {corpora.got_label(cfg.data.path)}" if ok else why
    return Comparison(ok, True, "; ".join([w for w in (seen, "the reference states no training budget") if w]))


def sweep_points(samples: list[dict], key: str) -> tuple[list[float], list[float]]:
    """(temperature, value) points: one per seed and temperature, from each run's ``samples.json``
    (for figures and tables only: the findings reduce per run, :func:`per_seed`)."""
    xs, ys = [], []
    for smp in samples:
        for row in smp["sweep"]:
            xs.append(row["temperature"])
            ys.append(row[key])
    return xs, ys


def runs_of(samples: list[dict], val_bpc: dict[int, float], unigram_bpc: float) -> SweepRuns:
    """What the findings decide on: each measure of :data:`MEASURES` per temperature (an arm
    ``T=<temperature>``) and run (numbered 0.. in the order given), the held-out bits per character
    (``val_bpc`` of ``lstm``, by seed) and the unigram baseline."""
    temps = sorted({row["temperature"] for smp in samples for row in smp["sweep"]})
    arms = {t: f"T={t}" for t in temps}
    metrics: dict[str, dict[str, dict[int, float]]] = {k: {a: {} for a in arms.values()} for k in MEASURES}
    for i, smp in enumerate(samples):
        for row in smp["sweep"]:
            for k in MEASURES:
                metrics[k][arms[row["temperature"]]][i] = float(row[k])
    metrics["val_bpc"] = {"lstm": val_bpc}
    return SweepRuns(metrics, {"unigram_bpc": unigram_bpc}, sweep=tuple(arms.items()), seeds=tuple(range(len(samples))))


def findings(samples: list[dict], val_bpc: dict[int, float], unigram_bpc: float) -> list[Finding]:
    """Every finding of T2.3 from each seed's sample measures (``samples.json`` of each run, in seed
    order), its held-out bits per character and the unigram baseline (hand-made in the tests), by
    the rules declared in ``FINDINGS``. Seeds are the unit: each run's measures over the
    temperatures are reduced per run first."""
    runs = runs_of(samples, val_bpc, unigram_bpc)
    return decide_declared(FINDINGS, replace(runs, failed=R.not_learned(LEARNED, runs)))


def summarize(study, cfg, results: list[RunResult], out_dir: Path) -> Summary:
    s = Summary()
    if not results:
        return s
    runs = sorted(results, key=lambda r: r.seed)
    samples = [r.json("samples") for r in runs]
    temps = [row["temperature"] for row in samples[0]["sweep"]]
    per = {k: np.array([[row[k] for row in smp["sweep"]] for smp in samples]) for k in MEASURES}  # (seeds, T)

    # Figure 4: BLEU against temperature, with the measures that do track it (each seed a thin line)
    fig, axes = new_figure(10, 3.4, ncols=3)
    for ax, k, lab, c in ((axes[0], "bleu", "corpus BLEU vs held-out continuation", "C0"),
                          (axes[1], "distinct2", "distinct-2 (word bigrams)", "C1"),
                          (axes[2], "ngram_bpc", "bits/char under a char 3-gram model", "C2")):
        for row in per[k]:
            ax.plot(temps, row, color=c, alpha=0.35, lw=0.8)
        ax.plot(temps, per[k].mean(axis=0), marker="o", color=c, label=f"mean of {len(samples)} seeds")
        ax.set_ylabel(lab)
        ax.set_xlabel("temperature")
        ax.legend(fontsize=7)
    axes[0].set_title("BLEU (cf. reference Figure 4)", fontsize=9)
    axes[1].set_title("diversity (beyond the reference)", fontsize=9)
    axes[2].set_title("surprise (beyond the reference)", fontsize=9)
    s.figures.append(save(fig, out_dir, "fig4_bleu_vs_temperature.png"))

    # Table 3 (lowest seed) and the Figure 4 data
    lowest = samples[0]
    rows = [["seed text", lowest["seed_text"].replace("\n", " / ")]]
    rows += [[t, txt.replace("\n", " / ")] for t, txt in lowest["table"].items()]
    s.tables.append(Table(f"Table 3: text generated at different temperatures (seed {runs[0].seed})",
                          ["temperature", "generated text (' / ' is a line break)"], rows))

    def cell(k, j):
        col = per[k][:, j]
        return f"{fmt(float(col.mean()))} ± {fmt(float(col.std(ddof=1)))}" if len(col) > 1 else fmt(float(col[0]))

    s.tables.append(Table(
        f"Figure 4 data: sample measures by temperature (mean ± sd over {len(samples)} seeds)",
        ["temperature", "corpus BLEU", "distinct-2", "3-gram bits/char", "mean word length",
         f"share of the {COMMON_WORDS} most common words", "real-word share"],
        [[f"{t:g}"] + [cell(k, j) for k in MEASURES] for j, t in enumerate(temps)]))

    vb = {r.seed: r.metrics["val_bpc"] for r in runs}
    uni = float(np.mean([r.metrics["unigram_bpc"] for r in runs]))
    s.findings.extend(findings(samples, vb, uni))
    m = runs[0].metrics
    s.notes.append(f"Corpus {cfg.data.corpus}: {int(m['train_chars'])} training and {int(m['val_chars'])} held-out "
                   f"characters, {int(m['vocab_chars'])} distinct; model {int(m['params'])} parameters. Held-out "
                   f"loss {np.mean(list(vb.values())) * math.log(2):.3f} nats = {np.mean(list(vb.values())):.3f} "
                   f"bits per character (mean of {len(vb)} seeds; the character-unigram baseline: {uni:.3f} bits; "
                   "nanoGPT's character transformer: about 1.47 nats = 2.12 bits on Tiny Shakespeare).")
    s.notes.append(f"BLEU protocol: {cfg.bleu_prompts} held-out prompts of {cfg.prompt_len} characters, "
                   f"{cfg.gen_length}-character continuations scored against the true continuations, as one corpus "
                   f"BLEU per temperature and seed (Figure 4 and R23) and one sentence BLEU per sample (kept in "
                   f"samples.json, effective order); sacrebleu signature of the corpus BLEU "
                   f"{samples[0]['signature']}.")
    return s
