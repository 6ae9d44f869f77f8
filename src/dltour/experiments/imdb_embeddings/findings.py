"""What the T2.2 ``imdb-embeddings`` runs mean: the reference's claims R14-R20 read as tests (the
reference's numbers, our margins and their sources), every finding decided from the runs' metrics
and curves, Figure 3 (accuracy per epoch), Table 2 (the ten nearest words to "action") beside the
reference's, the study's summary, and whether a run is comparable with the reference (its data by
checksum, its budget). The study itself (data, model, loss, training step, what a run returns) is
``science.py``; this module never imports it: what it needs of the study
comes from its arguments (``study``, ``cfg``, the runs' ``Results``).

The measures behind the findings (per run, so every claim is decided over seeds):

- R14 overfitting: the highest training accuracy over the epochs; "~perfect" read as >= 0.95;
- R15 the peak: the epoch of best validation accuracy; per seed, its mean over the initialisations
  run (the three runs of a seed share the data order), equivalent to 3.5 within ±1 epoch (TOST,
  seeds as the unit); undecided when fewer than 5 epochs were run;
- R16 smoothness: the sd of the epoch-to-epoch changes of validation accuracy (lower = smoother);
- R18 human-readable neighbourhoods: overlap@10 of each embedding's nearest words with GloVe's
  nearest words (GloVe as the human-readable reference), over the 200 most frequent vocabulary
  words GloVe covers, against a chance control: the same run's embedding *before* training (for
  random: its U(-0.05, 0.05) rows, a random embedding of the same vocabulary, whose overlap is the
  vocabulary's chance level 10 / (N - 1), about 0.001 for N = 10-20k words). "None" read as: the
  trained overlap is within 0.01 of the control (TOST paired by seed; one GloVe neighbour in 100
  neighbour slots beyond chance, ten times the chance level: a random-initialised model that picks
  up co-occurrence structure can miss it);
- R19 "performs well": validation accuracy above the majority class, and no more than 0.05 below
  each GloVe variant (a non-inferiority margin: a paired t-test of random + 0.05 > GloVe);
- R20 domain-specific similarities: how much neighbourhoods follow the reviews' sentiment, i.e.
  Pearson's r between a word's log-odds of occurring in positive vs negative training reviews and
  the mean log-odds of its 10 nearest words, over the 200 most polar words (in at least 10 training
  reviews; neighbours among words in at least 5), fine-tuned vs the same GloVe rows before training.

Decisions: each finding is declared once in ``FINDINGS`` with its rule, built from
:mod:`dltour.rules` and the shapes defined here (``Needs``: "not checked" when its arms did not run;
``BestOf``; ``Versus`` and ``Within``: an arm after training against the same runs before it, directional
or an equivalence; ``NotWorse``: non-inferiority with a margin; ``PeakEpoch``: R15). :func:`findings`
only supplies the runs' values (``R.Runs``: per-seed metrics, each validation set's majority class, the
epochs run, and the variants that did not learn: peak validation accuracy not above the majority
class, ``LEARNED``), the budget of each finding and the evidence in the study's own words; a verdict
about a variant that did not learn is not made (``R.Gated``).

Budget: every finding declares the curves it depends on (training accuracy for R14, validation
accuracy for the others: ``Budget``) with the epochs run against the reference's 10, so the central rule
(:func:`dltour.verdicts.budget_gate`) makes a "does not hold" from a short run inconclusive when a
curve was still improving or its best epoch was the last (a censored maximum).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dltour import rules as R
from dltour.data import glove, imdb
from dltour.data.source import file_hash
from dltour.plots import new_figure, save
from dltour.summary import Comparison, Declared, declare, Finding, RunResult, Summary, Table
from dltour.summary import Results
from dltour.verdicts import (INCONCLUSIVE, Budget, Decision, compare, equivalent, fmt, near_reference)

VARIANTS = ("random", "glove", "glove-frozen")
REFERENCE_TABLE2 = {
    "random": ["a", "i", "br", "and"],
    "glove": ["actions", "taken", "result", "should", "way", "kind", "similar", "example", "taking", "take"],
    "glove-frozen": ["actions", "taken", "take", "result", "taking", "moves", "instead", "which", "but", "yet"],
}
REF_EPOCHS = 10  # the reference's curves (and R14's "within 10 epochs")
OVERFIT_ACC = 0.95  # R14: "~perfect" training accuracy
PEAK_EPOCH, PEAK_MARGIN = 3.5, 1.0  # R15: "peaks after 3-4 epochs", read as 3.5 +- 1
PEAK_MARGIN_SOURCE = ("the reference's '3-4 epochs' (3.5 ± 0.5) widened by one epoch: the peak is read off a curve "
                      "sampled once per epoch")
READABLE_MARGIN = 0.01  # R18: "no human-readable neighbourhood": overlap@10 within 0.01 of the chance control
READABLE_MARGIN_SOURCE = ("one GloVe neighbour in 100 neighbour slots beyond the chance control: ten times the "
                          "vocabulary's chance level 10 / (N - 1) at N = 10k words; below the 1 in 10 (0.1) that one "
                          "query of Table 2 can show")
WELL_MARGIN = 0.05  # R19: "performs well", read as no more than 0.05 below GloVe
N_QUERIES, K = 200, 10

# ---------------------------------------------------------------- rule shapes dltour.rules lacks
@dataclass(frozen=True)
class Within:
    """One (metric, arm)'s values equal another's within ±``margin`` (in the metric's units), paired
    by seed (TOST, :func:`dltour.verdicts.equivalent`); ``margin_source`` says where the margin comes
    from."""

    a: tuple[str, str]
    b: tuple[str, str]
    margin: float
    margin_source: str
    names: tuple[str, str]
    unit: str = ""

    def applies(self, runs: R.Runs) -> bool:
        return runs.has(*self.a) and runs.has(*self.b)

    def decide(self, runs: R.Runs) -> Decision:
        return equivalent(runs.of(*self.a), runs.of(*self.b), self.margin, margin_source=self.margin_source,
                          paired=True, names=self.names, unit=self.unit)


@dataclass(frozen=True)
class NotWorse:
    """Non-inferiority: ``arm``'s ``metric`` (higher is better) is no more than ``margin`` below
    ``other``'s, i.e. ``arm`` + ``margin`` > ``other``, paired by seed (:func:`dltour.verdicts.compare`)."""

    metric: str
    arm: str
    other: str
    margin: float
    unit: str = ""

    def applies(self, runs: R.Runs) -> bool:
        return runs.has(self.metric, self.arm) and runs.has(self.metric, self.other)

    def decide(self, runs: R.Runs) -> Decision:
        shifted = {sd: x + self.margin for sd, x in runs.of(self.metric, self.arm).items()}
        return compare(shifted, runs.of(self.metric, self.other), "greater",
                       names=(f"{self.arm} + {self.margin:g}", self.other), unit=self.unit,
                       what=f"non-inferiority: {self.arm} no more than {self.margin:g} below {self.other}")


@dataclass(frozen=True)
class PeakEpoch:
    """R15 (:func:`decide_peak_epoch`): the ``arms``' best epochs (``metric``, per run) near 3.5,
    given the epochs run (the constant ``epochs``); applies when one of the arms ran."""

    metric: str = "best_epoch"
    arms: tuple[str, ...] = VARIANTS

    def applies(self, runs: R.Runs) -> bool:
        return any(runs.has(self.metric, v) for v in self.arms)

    def decide(self, runs: R.Runs) -> Decision:
        return decide_peak_epoch({v: runs.of(self.metric, v) for v in self.arms if runs.has(self.metric, v)},
                                 runs.consts["epochs"])


#: a run learned when its peak validation accuracy is above its validation set's majority class
#: (``majority@<variant>``); a verdict about how a variant that did not learn learned is not made
LEARNED = tuple(R.Learned(v, "peak_val_acc", f"majority@{v}", "greater") for v in VARIANTS)
SEC = "§2.2, Figure 3"
VAL = "validation accuracy"

#: the study's findings, declared once with their rules (dltour.rules and the shapes above): the study supplies
#: the runs' values
FINDINGS = declare("T2.2", [
    Declared("overfit-train-acc",
             f"All models overfit: training accuracy reaches ~1 (>= {OVERFIT_ACC}) within {REF_EPOCHS} epochs", "R14",
             SEC, rule=R.Needs(R.Gated(R.AllOf(tuple(R.Exceeds("max_train_acc", v, OVERFIT_ACC, "greater",
                                                             unit="training accuracy") for v in VARIANTS),
                                             labels=tuple(f"{v} highest training accuracy" for v in VARIANTS),
                                             present=True), VARIANTS), "no runs")),
    Declared("val-peak-epoch-3-4",
             f"Validation accuracy peaks after 3-4 epochs (the epoch of best validation accuracy, averaged over the "
             f"initialisations per seed, is {PEAK_EPOCH:g} ± {PEAK_MARGIN:g})", "R15", SEC,
             rule=R.Needs(R.Gated(PeakEpoch(), VARIANTS), "no runs")),
    Declared("frozen-glove-smoothest",
             "Frozen GloVe has the smoothest validation curve (the smallest sd of its epoch-to-epoch changes, paired "
             "by seed)", "R16", SEC,
             rule=R.Gated(R.BestOf("val_roughness", "glove-frozen", "less",
                                 what="sd of epoch-to-epoch changes of validation accuracy",
                                 unit="sd of epoch-to-epoch change of validation accuracy"), VARIANTS)),
    Declared("frozen-glove-best-val", "Frozen GloVe embeddings reach the highest validation accuracy", "R17", SEC,
             rule=R.Gated(R.BestOf("peak_val_acc", "glove-frozen", "greater", what="peak validation accuracy",
                                 unit=VAL), VARIANTS)),
    Declared("random-neighbours-noise",
             f"Random-initialised embeddings learn no human-readable neighbourhood (their nearest words share no "
             f"more with GloVe's than a random embedding does, within ±{READABLE_MARGIN:g} overlap@10 over the "
             f"{N_QUERIES} most frequent words)", "R18", "§2.2, Table 2",
             rule=R.Needs(R.Gated(Within(("glove_overlap", "random"), ("glove_overlap_init", "random"), READABLE_MARGIN,
                                       READABLE_MARGIN_SOURCE,
                                       names=("random overlap@10 with GloVe's neighbours after training",
                                              "the same run's random rows before training (chance control)"),
                                       unit="overlap@10"), ("random",)),
                        "random was not run (or its vocabulary has too few GloVe words)")),
    Declared("random-performs-well",
             f"The random-embedding model nonetheless performs well on validation (above the majority class and no "
             f"more than {WELL_MARGIN:g} below the GloVe models)", "R19", "§2.2",
             rule=R.Needs(R.AllOf((R.Exceeds("peak_val_acc", "random", "majority@random", "greater",
                                           name="random peak validation accuracy",
                                           what="majority class of the validation set", unit=VAL),
                                 NotWorse("peak_val_acc", "random", "glove", WELL_MARGIN, unit=VAL),
                                 NotWorse("peak_val_acc", "random", "glove-frozen", WELL_MARGIN, unit=VAL)),
                                labels=("above the majority class", f"not worse than glove by more than {WELL_MARGIN:g}",
                                        f"not worse than glove-frozen by more than {WELL_MARGIN:g}"), present=True),
                        "random was not run")),
    Declared("finetuned-glove-domain-neighbours",
             "Fine-tuned GloVe learns domain-specific (movie-review) similarities: its neighbourhoods follow the "
             "reviews' sentiment more than GloVe's did before training", "R20", "§2.2, Table 2",
             rule=R.Needs(R.Gated(R.Versus(("polarity_align", "glove"), ("polarity_align_init", "glove"), "greater",
                                       names=("fine-tuned GloVe", "the same rows before training"),
                                       what="sentiment alignment of neighbourhoods",
                                       unit="Pearson r (sentiment alignment)"), ("glove",)),
                        "the fine-tuned GloVe variant was not run")),
])

REFERENCE: list = []  # Figure 3 and Table 2 carry no numbers; Table 2's words are shown beside ours


# ---------------------------------------------------------------- findings
def decide_peak_epoch(best: dict[str, dict[int, float]], epochs: int) -> Decision:
    """R15: per seed, the mean over the initialisations of the epoch of best validation accuracy,
    equivalent to 3.5 within ±1 epoch (TOST against the constant, seeds as the unit: the runs of a
    seed share the data order, so they are not independent of each other)."""
    per = "; ".join(f"{v}: {[int(x) for x in b.values()]}" for v, b in best.items())
    seeds = sorted(set.intersection(*(set(b) for b in best.values()))) if best else []
    if epochs < 5:
        return Decision(INCONCLUSIVE, f"best epoch per run ({per})", f"only {epochs} epochs: a peak at 3-4 cannot be "
                        "told from a curve still rising", n=(len(seeds),), n_runs=len(seeds), unit="epochs")
    mean = {s: float(np.mean([best[v][s] for v in best])) for s in seeds}
    d = near_reference(mean, PEAK_EPOCH, PEAK_MARGIN / PEAK_EPOCH, margin_source=PEAK_MARGIN_SOURCE,
                       name="best epoch (mean over the initialisations, per seed)", unit="epochs")
    tied = len(set(mean.values())) == 1 and len(mean) > 1
    d.evidence = (f"best epoch per run ({per}); " + d.evidence
                  + ("; the per-seed values are identical, so an exact sign test decides, and with "
                     f"{len(mean)} seeds its smallest one-sided p is {0.5 ** len(mean):.3g}" if tied else ""))
    return d


def findings(res: Results, epochs: int) -> list[Finding]:
    """Every finding of T2.2 from per-seed run metrics and each run's curves (``history.csv``;
    hand-made ``Results`` in the tests), by the rules declared in ``FINDINGS``. ``epochs``: the epochs
    each run trained. The study supplies only the values (``R.Runs``), the budgets (the curves each
    finding depends on) and the evidence in its own words."""
    vs = [v for v in VARIANTS if v in res]
    metrics = {k: res.table(k, vs) for k in ("peak_val_acc", "best_epoch", "val_roughness", "glove_overlap",
                                             "glove_overlap_init", "polarity_align", "polarity_align_init")}
    metrics["max_train_acc"] = {v: res.values(v, "max_train_acc") for v in vs}  # every variant run: R14's parts
    consts = {f"majority@{v}": res.mean(v, "val_majority") if res.values(v, "val_majority") else 0.5 for v in vs}
    consts["epochs"] = epochs
    runs = R.Runs(metrics, consts)
    runs = R.Runs(metrics, consts, R.not_learned(LEARNED, runs))

    val_curves = {v: res.curves(v, "val_acc") for v in vs}

    def val_budget(arms):
        return Budget({v: val_curves[v] for v in arms if v in vs}, "higher", epochs, REF_EPOCHS,
                      name="validation accuracy")

    # R14: a short run that has not got there while its training accuracy still rises is left undecided
    # by the central budget rule
    train_budget = Budget({v: res.curves(v, "train_acc") for v in vs}, "higher", epochs, REF_EPOCHS,
                          name="training accuracy")
    # R15: a peak at the last epoch is censored
    best = metrics["best_epoch"]
    last = sum(int(x) >= epochs for b in best.values() for x in b.values())
    n_best = sum(len(b) for b in best.values())
    return [
        FINDINGS["overfit-train-acc"].decide(runs, note=f"highest training accuracy over {epochs} epochs per run",
                                             budget=train_budget),
        FINDINGS["val-peak-epoch-3-4"].decide(runs, note=f"{last} of {n_best} runs peak at the last epoch ({epochs})",
                                              budget=val_budget(vs)),
        FINDINGS["frozen-glove-smoothest"].decide(runs, budget=val_budget(vs)),
        FINDINGS["frozen-glove-best-val"].decide(runs, budget=val_budget(vs)),
        FINDINGS["random-neighbours-noise"].decide(runs, note=_overlap_context(res, vs), budget=val_budget(["random"])),
        FINDINGS["random-performs-well"].decide(runs, budget=val_budget(vs)),
        FINDINGS["finetuned-glove-domain-neighbours"].decide(runs, note=_domain_context(res),
                                                             budget=val_budget(["glove"])),
    ]


def _overlap_context(res: Results, vs: list[str]) -> str:
    """R18's context: the vocabulary's chance level and the other variants' overlap (when R18 is decided)."""
    if not (res.values("random", "glove_overlap") and res.values("random", "glove_overlap_init")):
        return ""
    found = [x for v in vs for x in res.values(v, "glove_words_found").values()]
    chance = (f"the vocabulary's chance level 10 / (N - 1) = {fmt(K / (found[0] - 1))} for the N = "
              f"{int(found[0])} words GloVe covers; ") if found and found[0] > 1 else ""
    others = "; ".join(f"{v} {fmt(float(np.mean(list(x.values()))))}" for v, x in res.table("glove_overlap", vs)
                       .items() if v != "random")
    return chance + (f"mean overlap of the other variants: {others}" if others else "")


def _domain_context(res: Results) -> str:
    """R20's context: how much of GloVe's neighbourhoods the fine-tuned ones keep, and what random
    embeddings pick up (when R20 is decided)."""
    if not (res.values("glove", "polarity_align") and res.values("glove", "polarity_align_init")):
        return ""
    ovg = res.values("glove", "glove_overlap")
    extra = (f"the fine-tuned neighbourhoods keep {fmt(float(np.mean(list(ovg.values()))))} of GloVe's "
             "(overlap@10)") if ovg else ""
    if res.values("random", "polarity_align"):  # context: how much any trained embedding picks up
        extra += f"; random embeddings after training: sentiment alignment {fmt(res.mean('random', 'polarity_align'))}"
    return extra


def neighbour_table(res: Results, glove_dim: int) -> Table:
    """Table 2: the ten nearest words to "action" (each variant's lowest seed) beside the reference's."""
    rows: list[list[str]] = []
    initial: list[str] = []
    for v in [v for v in VARIANTS if v in res]:
        nb = res.first(v).json("neighbours")
        if "trained" in nb:
            rows.append([v, "ours (trained)", ", ".join(w for w, _ in nb["trained"])])
        if "initial" in nb and not initial:
            initial = [w for w, _ in nb["initial"]]
        rows.append([v, "reference", ", ".join(REFERENCE_TABLE2[v])])
    if initial:
        rows.append([f"GloVe {glove_dim}d before training", "ours", ", ".join(initial)])
    return Table("Table 2: most similar words to \"action\" (cosine; lowest seed of each variant)",
                 ["initialisation", "source", "ten nearest words to \"action\""], rows,
                 note="The reference's random row lists four words only.")


# ---------------------------------------------------------------- comparable with the reference?
@functools.lru_cache(maxsize=8)
def _md5(path: str) -> str:
    return file_hash(path, "md5")


def _is_pinned(path: str | None, source: str, spec) -> tuple[bool, str]:
    """Whether a data file is the reference's (its md5 equals the spec's pinned one)."""
    if path is None:
        if source == "download":
            return True, ""  # fetched into the cache and verified against the pinned checksum
        return False, f"the embedded demo subset instead of {spec.filename}"
    p = Path(path).expanduser()
    if not p.is_file():
        return False, f"{path} is not {spec.filename} (a folder cannot be checked by checksum)"
    if _md5(str(p)) != spec.known_hash.partition(":")[2]:
        return False, f"{path} does not match the checksum of {spec.filename}"
    return True, ""


def comparison(study, cfg) -> Comparison:
    """The reference's data: the IMDB archive and GloVe 6B at 300d (by checksum, or our verified
    download); its budget: 10 epochs over all 25k/25k reviews."""
    ok_i, why_i = _is_pinned(cfg.data.path, cfg.data.source, imdb.IMDB)
    ok_g, why_g = _is_pinned(cfg.data.glove_path, cfg.data.source, glove.GLOVE_6B)
    why = [w for w in (why_i, why_g) if w]
    if cfg.glove_dim != 300:
        why.append(f"GloVe {cfg.glove_dim}d instead of 300d")
    short = [f"epochs {cfg.epochs} < {REF_EPOCHS}"] if cfg.epochs < REF_EPOCHS else []
    short += [f"data.{k} {getattr(cfg.data, k)} instead of all reviews" for k in ("train_subset", "test_subset")
              if getattr(cfg.data, k) is not None]
    data_ok = ok_i and ok_g and cfg.glove_dim == 300
    why += ["budget differs: " + ", ".join(short)] if short else []
    return Comparison(data_ok, not short, "; ".join(why))


# ---------------------------------------------------------------- summary
def summarize(study, cfg, results: list[RunResult], out_dir: Path) -> Summary:
    s = Summary()
    if not results:
        return s
    res = Results(results)
    vs = [v for v in VARIANTS if v in res]

    # Figure 3: training (dashed) and validation (solid) accuracy per epoch, mean over seeds
    fig, ax = new_figure(7, 4)
    n_ep = 1
    for i, v in enumerate(vs):
        for key, ls, lab in (("train_acc", "--", "train"), ("val_acc", "-", "validation")):
            cs = list(res.curves(v, key).values())
            if not cs:
                continue
            n = min(len(c) for c in cs)
            n_ep = max(n_ep, n)
            m = np.mean([c[:n] for c in cs], axis=0)
            ax.plot(np.arange(1, n + 1), m, ls=ls, marker="o" if key == "val_acc" else None, ms=3, color=f"C{i}",
                    label=f"{v} {lab} (mean of {len(cs)})")
    ax.set_xticks(np.arange(1, n_ep + 1))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("T2.2 accuracy per epoch by embedding initialisation (cf. reference Figure 3)")
    ax.legend(fontsize=7, ncol=2)
    s.figures.append(save(fig, out_dir, "fig3_accuracy_curves.png"))

    s.tables.append(neighbour_table(res, cfg.glove_dim))
    s.findings.extend(findings(res, cfg.epochs))

    m0 = results[0].metrics
    cov = next((r.metrics for r in results if "glove_coverage" in r.metrics), None)
    s.notes.append(f"Data: {int(m0['n_train'])} training, {int(m0['n_val'])} validation and {int(m0['n_test'])} "
                   f"test reviews; vocabulary {int(m0['vocab_size'])} entries (padding and unknown included); "
                   f"last {cfg.max_len} tokens per review; <br /> "
                   f"{'kept as the token br' if cfg.keep_br else 'dropped'}; "
                   f"embeddings {cfg.glove_dim}d."
                   + (f" GloVe covers {cov['glove_coverage']:.1%} of the vocabulary's words." if cov else ""))
    s.notes.append("Test accuracy uses the weights of the epoch with the best validation accuracy. A BiLSTM with "
                   "GloVe usually reaches 87-89% test accuracy on the full IMDB data (not a number of the report).")
    return s
