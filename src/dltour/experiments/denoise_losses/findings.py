"""T3.2 ``denoise-losses``: what the runs mean. The reference's Table 5 (``REFERENCE``) and whether
a config can be set beside it (``comparison``: its data, and the budget of 15 epochs on every image,
whole), the findings R30-R35 (``decide``), and Table 5 beside the reference, the example panel and
the validation curves (``summarize``). What is trained, and how: ``denoise_losses``.

How each claim is measured and decided:

- correntropy's two readings: the findings ``bandwidth-reproduces-table5`` and
  ``precision-reproduces-table5`` say which reading gives the reference's ordering; its claims about
  sigma (R31-R35) are decided on the precision reading, the bandwidth rows shown beside them. A run
  that does not learn (test MSE not below the noisy input's) carries no verdict about *how* it
  learned;
- metrics: the noisy input is the floor row a denoiser must beat; the mean gradient norm of the
  first epoch checks "larger sigma, larger gradients"; the validation MSE after epoch 1 ("trains
  faster") and the best epoch ("overfits sooner") check R35;
- decisions: per-seed values through ``dltour.verdicts``, seeds as the unit (issue 18): paired by
  seed; a trend over sigma is Spearman's rho *per run* (one run = one seed's losses at every sigma),
  the runs' rhos tested against 0 (``per_run_trend``; when every run is perfectly monotone the rhos
  tie and the exact sign test decides, so 3 seeds give at best p = 0.25: inconclusive); "followed
  closely" (R31) is a TOST with a margin of ``CLOSE_FRACTION`` = 10% of MAE's gain over the noisy
  input (noisy-input MSE - MAE's test MSE): a loss that keeps 90% of the best loss's denoising
  follows it closely. The margin comes from the task (how much denoising there is to share), not
  from the reference's gaps (its earlier 30% of MAE's MSE was set from them). The findings about
  test MSE, epochs and best epochs (R30-R33, R35) declare the per-epoch validation MSE as their
  budget: a "does not hold" from runs below the reference's 15 epochs whose validation MSE was
  still falling or had its minimum at the last epoch is inconclusive (``verdicts.budget_gate``).

Each finding is declared once in ``FINDINGS`` with its rule (``dltour.rules``): ``decide`` only
assembles :class:`SigmaRuns` (the per-seed values, the noisy input's MSE and the epoch budget as
constants, the losses that did not learn, and the sigma sweep of one reading) and decides each
declaration with its budget and fills. The shapes ``dltour.rules`` lacks are small rules here:
:class:`Trend` (a per-run trend over the sweep's sigmas), :class:`BestOf`, :class:`Close` (the
equivalence with a margin from MAE's gain), :class:`Each` / :class:`AllOfEach` (a part per loss or
per sigma, Holm within) and :class:`SweepGated` (the learned-gate on arms named by their place in
the sweep: :data:`LOWEST`, :data:`HIGHEST`, :data:`SWEPT`).

The study reaches nothing here but through its arguments (``study.parse_loss``, ``study.reference``,
``cfg``): this file does not import ``denoise_losses``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dltour import rules as R
from dltour import verdicts as V
from dltour.data.images import data_kind, reference_data, source_label
from dltour.metrics.image import psnr_from_mse
from dltour.plots import image_grid, new_figure, save
from dltour.summary import Comparison, Declared, declare, Finding, Ref, RunResult, Summary, Table
from dltour.summary import Results

READINGS = {"bw": "bandwidth", "prec": "precision"}  # correntropy's readings of sigma, by variant infix
REF_EPOCHS = 15
CLOSE_FRACTION = 0.1  # "followed closely": within 10% of MAE's gain over the noisy input (see the docstring)

# arms named by their place in the sweep of one reading (:meth:`SigmaRuns.arms`)
LOWEST, HIGHEST, SWEPT, EVERY = "<lowest sigma>", "<highest sigma>", "<every sigma>", "<every loss>"


@dataclass(frozen=True)
class SigmaRuns(R.Runs):
    """:class:`dltour.rules.Runs` with the sigma sweep of one correntropy reading: ``sweep`` is
    (log10 sigma, variant), by sigma."""

    sweep: tuple[tuple[float, str], ...] = ()

    def arms(self, name: str, metric: str = "test_mse") -> list[str]:
        """The variants ``name`` stands for: :data:`LOWEST` / :data:`HIGHEST` (the sweep's first / last),
        :data:`SWEPT` (the sweep's), :data:`EVERY` (every variant that has ``metric``); any other name
        itself."""
        if name == LOWEST:
            return [self.sweep[0][1]] if self.sweep else []
        if name == HIGHEST:
            return [self.sweep[-1][1]] if self.sweep else []
        if name == SWEPT:
            return [v for _, v in self.sweep]
        if name == EVERY:
            return list(self.metrics.get(metric, {}))
        return [name]


def _mean(vals: dict[int, float]) -> float:
    f = [x for x in vals.values() if math.isfinite(x)]
    return float(np.mean(f)) if f else float("nan")


@dataclass(frozen=True)
class Trend:
    """``metric`` rises (``greater``) / falls (``less``) with log10 sigma over the sweep, seeds as the
    unit (:func:`dltour.verdicts.per_run_trend`: one run = one seed's values at every sigma, NaN
    where a sigma lacks that seed). Needs two sigmas."""

    metric: str
    direction: str
    name: str
    unit: str

    def applies(self, runs: SigmaRuns) -> bool:
        return len(runs.sweep) >= 2

    def decide(self, runs: SigmaRuns) -> V.Decision:
        table = runs.metrics.get(self.metric, {})
        x = [lx for lx, _ in runs.sweep]
        seeds = sorted({sd for _, v in runs.sweep for sd in table.get(v, {})})
        ys = {sd: [table.get(v, {}).get(sd, float("nan")) for _, v in runs.sweep] for sd in seeds}
        return V.per_run_trend(x, ys, self.direction, name=self.name, xname="log10 sigma", unit=self.unit)


@dataclass(frozen=True)
class Close:
    """Each of ``others`` is equivalent to ``best`` by ``metric`` (TOST, Holm within) with a margin of
    ``fraction`` of ``best``'s gain over the constant ``baseline`` (baseline - mean of ``best``);
    no gain: inconclusive (``why``). ``source`` (the margin's source) and ``why`` are templates of
    ``fraction``, ``keep`` (1 - fraction), ``baseline``, ``mean`` and ``gain``; the decision's
    evidence starts with the margin and its source."""

    metric: str
    best: str
    others: tuple[str, ...]
    fraction: float
    baseline: str
    source: str
    why: str
    what: str = ""
    unit: str = ""

    def applies(self, runs: SigmaRuns) -> bool:
        arms = [self.best] + [a for o in self.others for a in runs.arms(o)]
        return len(arms) == 1 + len(self.others) and all(runs.has(self.metric, a) for a in arms)

    def decide(self, runs: SigmaRuns) -> V.Decision:
        best, base = runs.of(self.metric, self.best), runs.const(self.baseline)
        mean = _mean(best)
        gain = base - mean
        margin = self.fraction * gain
        fill = dict(fraction=self.fraction, keep=1 - self.fraction, baseline=V.fmt(base), mean=V.fmt(mean),
                    gain=V.fmt(gain))
        src = self.source.format(**fill)
        if gain > 0:
            others = [a for o in self.others for a in runs.arms(o)]
            parts = [V.equivalent(runs.of(self.metric, o), best, margin, margin_source=src, names=(o, self.best),
                                  what=self.what, unit=self.unit) for o in others]
            d = V.all_of(parts, labels=[f"{o} vs {self.best}" for o in others])
            flips = [x.flip_margin for x in parts if x.flip_margin is not None]  # all must be inside the margin
            d = replace(d, margin=margin, margin_source=src, flip_margin=max(flips) if flips else None)
        else:
            d = V.inconclusive(self.why.format(**fill))
        return replace(d, evidence=f"margin {V.fmt(margin)} = {src}; {d.evidence}")


@dataclass(frozen=True)
class Each:
    """``rule`` (a :class:`dltour.rules.Exceeds`) once for each variant ``rule.arm`` stands for
    (:meth:`SigmaRuns.arms`), its ``name`` a template of ``{arm}``; ``label`` (a template of
    ``{arm}`` and the constants) labels each part in :class:`AllOfEach`."""

    rule: R.Exceeds
    label: str = "{arm}"

    def applies(self, runs: SigmaRuns) -> bool:
        return self.rule.arm in (SWEPT, EVERY) or bool(runs.arms(self.rule.arm, self.rule.metric))

    def parts(self, runs: SigmaRuns) -> list[tuple[R.Exceeds, str]]:
        return [(replace(self.rule, arm=a, name=self.rule.name.format(arm=a)),
                 self.label.format_map({**runs.consts, "arm": a}))
                for a in runs.arms(self.rule.arm, self.rule.metric)]


@dataclass(frozen=True)
class AllOfEach:
    """Every part holds, Holm-adjusted (:func:`dltour.verdicts.all_of`); a part is a rule (labelled
    by ``labels``, templates of the constants) or an :class:`Each` (a part per variant)."""

    parts: tuple
    labels: tuple[str, ...] = ()

    def applies(self, runs: SigmaRuns) -> bool:
        return all(p.applies(runs) for p in self.parts)

    def decide(self, runs: SigmaRuns) -> V.Decision:
        ds, labels = [], []
        for i, p in enumerate(self.parts):
            for rule, lab in (p.parts(runs) if isinstance(p, Each) else [(p, self.labels[i].format_map(runs.consts))]):
                ds.append(rule.decide(runs))
                labels.append(lab)
        return V.all_of(ds, labels=labels)


@dataclass(frozen=True)
class SweepGated:
    """:class:`dltour.rules.Gated` with ``involved`` named by their place in the sweep too
    (:meth:`SigmaRuns.arms`): no verdict when one of them did not learn."""

    rule: object
    involved: tuple[str, ...]

    def applies(self, runs: SigmaRuns) -> bool:
        return self.rule.applies(runs)

    def decide(self, runs: SigmaRuns) -> V.Decision:
        return V.gate(self.rule.decide(runs), runs.failed, [a for n in self.involved for a in runs.arms(n)])


_LEARNED = Each(R.Exceeds("test_mse", SWEPT, "noisy_mse", "less", what="test MSE vs the noisy input's",
                          unit="test MSE"), "{arm} learned")
_EPOCHS_FALL = Trend("epochs_trained", "less", "epochs trained", "epochs")
_MSE_RISES = Trend("test_mse", "greater", "test MSE", "test MSE")
SEC = "§3.2, Table 5"

#: the study's findings, declared once with their rules (dltour.rules and the rules above): the study supplies
#: the runs' values. The sigma claims (R31-R35) are decided on the precision reading's sweep.
FINDINGS = declare("T3.2", [
    Declared("mae-lowest-mse", "MAE gives the lowest test MSE of every loss in Table 5", "R30", SEC,
             rule=R.Gated(R.BestOf("test_mse", "mae", "less", what="test MSE", unit="test MSE", least=1), ("mae",))),
    Declared("mae-closely-followed",
             f"MSE and correntropy with the smallest sigma ({{lowest}}) follow MAE closely: their test MSE is within "
             f"{CLOSE_FRACTION:.0%} of MAE's gain over the noisy input", "R31", SEC,
             rule=SweepGated(Close("test_mse", "mae", ("mse", LOWEST), CLOSE_FRACTION, "noisy_mse",
                                   "{fraction:.0%} of MAE's gain over the noisy input ({baseline} - {mean} = "
                                   "{gain}): a loss that keeps {keep:.0%} of the best loss's denoising follows it "
                                   "closely",
                                   "MAE's test MSE {mean} is not below the noisy input's {baseline}: no denoising "
                                   "gain to set the margin from", what="test MSE", unit="test MSE"),
                             ("mae", "mse", LOWEST))),
    Declared("{reading}-reproduces-table5",
             "The {reading} reading of correntropy reproduces the reference's Table 5 ordering: every sigma learns "
             "(test MSE below the noisy input's), epochs trained fall and test MSE rises with sigma (reference: 15, "
             "9, 5 epochs; 0.0018, 0.0023, 0.0063)", None, SEC,
             rule=AllOfEach((_LEARNED, _EPOCHS_FALL, _MSE_RISES),
                            ("", "epochs fall with sigma", "test MSE rises with sigma"))),
    # R32: a run that did not learn counts as harmed, so no gate
    Declared("sigma-harms-training",
             "Increasing correntropy's sigma harms training: test MSE rises with sigma (precision reading)", "R32",
             SEC, rule=_MSE_RISES),
    Declared("sigma-stops-earlier",
             "A larger sigma makes early stopping end training sooner, before the {epochs}-epoch budget (reference: "
             "15, 9, 5 epochs for sigma 1e2, 1e4, 1e6; precision reading)", "R33", SEC,
             rule=SweepGated(AllOfEach((_EPOCHS_FALL,
                                        Each(R.Exceeds("epochs_trained", HIGHEST, "epochs", "less", name="{arm} epochs",
                                                       what="the epoch budget", unit="epochs"),
                                             "{arm} stops before {epochs} epochs")),
                                       ("epochs fall with sigma", "")), (SWEPT,))),
    Declared("sigma-larger-gradients",
             "A larger sigma gives larger gradients (mean gradient L2 norm in epoch 1; precision reading)", "R34",
             SEC, rule=Trend("first_epoch_grad_norm", "greater", "gradient norm", "gradient L2 norm")),
    Declared("sigma-faster-overfits-sooner",
             "With a larger sigma the network trains faster (lower validation MSE after epoch 1) and overfits sooner "
             "(its best validation epoch comes earlier; precision reading)", "R35", SEC,
             rule=SweepGated(R.AllOf((Trend("val_mse_first", "less", "validation MSE after epoch 1", "validation MSE"),
                                      Trend("best_epoch", "less", "best epoch", "epochs")),
                                     labels=("trains faster (epoch-1 validation MSE falls with sigma)",
                                             "overfits sooner (the best validation epoch comes earlier)")),
                             (SWEPT,))),
    Declared("beats-noisy-input", "Every loss denoises: its test MSE is below the noisy input's", None, SEC,
             rule=AllOfEach((Each(R.Exceeds("test_mse", EVERY, "noisy_mse", "less", unit="test MSE")),)),
             evidence="noisy input {noisy_mse}"),
])

REFERENCE = [
    Ref("Table 5", f"corr-{r}-{s}", m, val, "the reference's correntropy row; it does not say which reading")
    for r in READINGS for s, e, t in (("1e2", 15, 0.0018), ("1e4", 9, 0.0023), ("1e6", 5, 0.0063))
    for m, val in (("epochs_trained", e), ("test_mse", t))
] + [
    Ref("Table 5", "mse", "epochs_trained", 15), Ref("Table 5", "mse", "test_mse", 0.0019),
    Ref("Table 5", "mae", "epochs_trained", 15), Ref("Table 5", "mae", "test_mse", 0.0015),
]


def budget(cfg) -> tuple[bool, str]:
    """Whether the config trains the reference's budget: every image, whole, for 15 epochs."""
    diff = [] if cfg.epochs == REF_EPOCHS else [f"{cfg.epochs} epochs (reference {REF_EPOCHS})"]
    diff += cfg.data.cuts()
    if cfg.train_crop is not None:
        diff.append(f"{cfg.train_crop}x{cfg.train_crop} training crops (reference: whole images)")
    return not diff, ("budget: " + "; ".join(diff)) if diff else "budget: the reference's"


def comparison(study, cfg) -> Comparison:
    """Whether ``cfg`` has the reference's data (CIFAR-100, checksum-checked) and budget."""
    data, why_d = reference_data(cfg.data)
    ok_b, why_b = budget(cfg)
    return Comparison(data, ok_b, f"{why_d}; {why_b}")


def sigma_variants(study, names, reading: str) -> list[tuple[float, str]]:
    """(sigma, variant) of one reading (``bandwidth``/``precision``), by sigma."""
    out = []
    for v in names:
        kind, sigma, scaling = study.parse_loss(v)
        if kind == "correntropy" and scaling == reading:
            out.append((sigma, v))
    return sorted(out)


def decide(study, metrics: dict[str, dict[str, dict[int, float]]], noisy_mse: float,
           epochs: int = REF_EPOCHS, curves: dict[str, dict[int, list[float]]] | None = None) -> list[Finding]:
    """The findings of T3.2 from plain per-seed values (``study``: the study, for its loss names), by
    the rules declared in ``FINDINGS``.

    ``metrics[name][variant] = {seed: value}`` for ``test_mse``, ``epochs_trained``,
    ``first_epoch_grad_norm``, ``val_mse_first`` (validation MSE after epoch 1) and ``best_epoch``;
    ``noisy_mse``: the noisy input's test MSE (the trivial baseline, the same for every run);
    ``epochs``: the epoch budget; ``curves[variant][seed]``: the per-epoch validation MSE (the
    budget of the findings about training; None: not checked). The reference's sigma claims are
    decided on the precision reading.
    """
    mse = metrics["test_mse"]
    names = list(mse)

    def sweep(reading):
        return tuple((math.log10(sigma), v) for sigma, v in sigma_variants(study, names, reading))

    def budget(variants):
        cs = {v: curves[v] for v in variants if curves and curves.get(v)}
        return V.Budget(cs, "lower", epochs, REF_EPOCHS, name="validation MSE") if cs else None

    runs = SigmaRuns(metrics, {"noisy_mse": noisy_mse, "epochs": epochs}, V.did_not_learn(mse, noisy_mse, "less"),
                     sweep("precision"))
    prec = runs.arms(SWEPT)
    lowest = prec[0] if prec else None
    decided = [("mae-lowest-mse", runs, dict(budget=budget(names))),
               ("mae-closely-followed", runs, dict(lowest=lowest, budget=budget(["mae", "mse", lowest])))]
    decided += [("{reading}-reproduces-table5", replace(runs, sweep=sweep(r)), dict(reading=r))
                for r in ("bandwidth", "precision")]
    decided += [("sigma-harms-training", runs, dict(budget=budget(prec))),
                ("sigma-stops-earlier", runs, dict(epochs=epochs, budget=budget(prec))),
                ("sigma-larger-gradients", runs, {}),  # epoch 1: no budget
                ("sigma-faster-overfits-sooner", runs, dict(budget=budget(prec))),
                ("beats-noisy-input", runs, {})]
    out = [FINDINGS[fid].decide(r, **kw) for fid, r, kw in decided]
    return [f for f in out if f is not None]


def summarize(study, cfg, results: list[RunResult], out_dir: Path) -> Summary:
    s = Summary()
    if not results:
        return s
    res = Results(results)
    names = [v for v in cfg.losses if v in res]
    floor_mse = results[0].metrics["noisy_input_mse"]  # the same fixed test noise in every run
    s.extra_metrics["noisy-input"] = {"test_mse": [floor_mse], "test_psnr": [psnr_from_mse(floor_mse)]}
    keys = ("test_mse", "epochs_trained", "first_epoch_grad_norm", "val_mse_first", "best_epoch")
    metrics = {k: res.table(k, names) for k in keys}
    failed = V.did_not_learn(metrics["test_mse"], floor_mse, "less")

    # Table 5 beside the reference, both correntropy readings as rows of one table
    ref = {(r.variant, r.metric): r.value for r in study.reference}
    rows, bold = [], []
    for v in names:
        _, sigma, scaling = study.parse_loss(v)
        rows.append([v, scaling or "-", v.split("-", 2)[2] if sigma else "-",
                     V.describe("", res.values(v, "epochs_trained")).strip(),
                     ref.get((v, "epochs_trained"), "-"), V.describe("", res.values(v, "test_mse")).strip(),
                     ref.get((v, "test_mse"), "-"), res.mean(v, "test_psnr"), res.mean(v, "first_epoch_grad_norm"),
                     "no" if v in failed else "yes"])
    means = res.means("test_mse", names)
    if means:
        bold.append((names.index(min(means, key=means.get)), 5))
    rows.append(["noisy input (floor)", "-", "-", "-", "-", floor_mse, "-", psnr_from_mse(floor_mse), "-", "-"])
    s.tables.append(Table(
        f"Table 5 (T3.2): test MSE by training loss, both readings of correntropy; noise std {cfg.noise_std}; "
        "mean ± sd over seeds",
        ["loss", "correntropy reading", "sigma", "epochs trained", "ref. epochs", "test MSE", "ref. test MSE",
         "test PSNR (dB)", "first-epoch grad norm", "learned (below the noisy input)"], rows, bold=bold,
        note="bandwidth: 1 - exp(-e^2/(2 sigma^2)), correntropy's definition; precision: 1 - exp(-sigma e^2), "
             "the reading of the reference's 'a larger sigma scales up the error terms'. The reference's sigma "
             "rows are set beside both readings; it does not say which it used."))

    # Example panel (lowest seed of each loss): noisy, denoised per loss, clean
    first = {v: res.first(v).arrays("panel") for v in names}
    p0 = first[names[0]]
    s.figures.append(image_grid([("noisy", p0["noisy"])] + [(v, first[v]["denoised"]) for v in names]
                                + [("clean", p0["clean"])], out_dir, "t3_2_denoise_panel.png",
                                "T3.2 test images: noisy input, U-Net output per training loss, clean"))

    # validation curves: where early stopping acted
    fig, axes = new_figure(10, 3.6, ncols=2)
    for v in names:
        h = res.first(v).history()
        ep = [row["epoch"] for row in h]
        ls = "--" if study.parse_loss(v)[2] == "bandwidth" else "-"
        axes[0].plot(ep, [row["val_mse"] for row in h], marker=".", ls=ls, label=v)
        axes[1].plot(ep, [row["grad_norm"] for row in h], marker=".", ls=ls, label=v)
    axes[0].axhline(floor_mse, color="gray", ls=":", lw=1, label="noisy input")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("validation MSE")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("mean gradient L2 norm")
    axes[0].legend(fontsize=6)
    fig.suptitle("T3.2 validation MSE and gradient size per loss (lowest seed; dashed: bandwidth reading)",
                 fontsize=9)
    s.figures.append(save(fig, out_dir, "t3_2_curves.png"))

    s.findings.extend(decide(study, metrics, floor_mse, cfg.epochs, {v: res.curves(v, "val_mse") for v in names}))
    kind = data_kind(cfg.data)
    n_tr, n_te = int(results[0].metrics["n_train"]), int(results[0].metrics["n_test"])
    s.notes.append(f"Data: {source_label(kind)}, {n_tr} training images (+ validation), {n_te} test images; "
                   f"U-Net width {cfg.width}, depth {cfg.depth}; early stopping on val_loss, patience {cfg.patience}.")
    if failed:
        s.notes.append("Did not learn (test MSE not below the noisy input's; no verdict about how they learned): "
                       + "; ".join(failed.values()) + ".")
    s.notes.append("Under the bandwidth reading (the definition) 1 - exp(-e^2/(2 sigma^2)) is MSE/(2 sigma^2) for "
                   "|e| << sigma: a larger sigma gives a flatter loss and smaller gradients, and with Adam the "
                   "gradients of large sigmas fall below its epsilon, so the steps shrink. The reference's "
                   "'larger sigma, larger gradients' fits the precision reading 1 - exp(-sigma e^2).")
    return s
