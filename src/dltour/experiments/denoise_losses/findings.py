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

The study reaches nothing here but through its arguments (``study.parse_loss``, ``study.reference``,
``cfg``): this file does not import ``denoise_losses``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from dltour import verdicts as V
from dltour.data.images import data_kind, reference_data, source_label
from dltour.metrics.image import psnr_from_mse
from dltour.plots import image_grid, new_figure, save
from dltour.summary import Comparison, Declared, declare, Finding, Ref, RunResult, Summary, Table
from dltour.summary import Results

READINGS = {"bw": "bandwidth", "prec": "precision"}  # correntropy's readings of sigma, by variant infix
REF_EPOCHS = 15
CLOSE_FRACTION = 0.1  # "followed closely": within 10% of MAE's gain over the noisy input (see the docstring)

#: the study's findings, declared once (the decision code below supplies each one's decision)
FINDINGS = declare("T3.2", [
    Declared("mae-lowest-mse", "MAE gives the lowest test MSE of every loss in Table 5", "R30", "§3.2, Table 5"),
    Declared("mae-closely-followed",
             f"MSE and correntropy with the smallest sigma ({{lowest}}) follow MAE closely: their test MSE is within "
             f"{CLOSE_FRACTION:.0%} of MAE's gain over the noisy input", "R31", "§3.2, Table 5"),
    Declared("{reading}-reproduces-table5",
             "The {reading} reading of correntropy reproduces the reference's Table 5 ordering: every sigma learns "
             "(test MSE below the noisy input's), epochs trained fall and test MSE rises with sigma (reference: 15, "
             "9, 5 epochs; 0.0018, 0.0023, 0.0063)", None, "§3.2, Table 5"),
    Declared("sigma-harms-training",
             "Increasing correntropy's sigma harms training: test MSE rises with sigma (precision reading)", "R32",
             "§3.2, Table 5"),
    Declared("sigma-stops-earlier",
             "A larger sigma makes early stopping end training sooner, before the {epochs}-epoch budget (reference: "
             "15, 9, 5 epochs for sigma 1e2, 1e4, 1e6; precision reading)", "R33", "§3.2, Table 5"),
    Declared("sigma-larger-gradients",
             "A larger sigma gives larger gradients (mean gradient L2 norm in epoch 1; precision reading)", "R34",
             "§3.2, Table 5"),
    Declared("sigma-faster-overfits-sooner",
             "With a larger sigma the network trains faster (lower validation MSE after epoch 1) and overfits sooner "
             "(its best validation epoch comes earlier; precision reading)", "R35", "§3.2, Table 5"),
    Declared("beats-noisy-input", "Every loss denoises: its test MSE is below the noisy input's", None,
             "§3.2, Table 5"),
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


def _by_seed(table: dict[str, dict[int, float]], sig: list[tuple[float, str]]):
    """The levels log10 sigma and, per seed, its values at them (NaN where a sigma lacks that
    seed): the runs of a per-run trend over sigma."""
    x = [math.log10(sigma) for sigma, _ in sig]
    seeds = sorted({sd for _, v in sig for sd in table.get(v, {})})
    return x, {sd: [table.get(v, {}).get(sd, float("nan")) for _, v in sig] for sd in seeds}


def _trend(table, sig, direction, name, unit):
    x, ys = _by_seed(table, sig)
    return V.per_run_trend(x, ys, direction, name=name, xname="log10 sigma", unit=unit)


def _mean(vals: dict[int, float]) -> float:
    f = [x for x in vals.values() if math.isfinite(x)]
    return float(np.mean(f)) if f else float("nan")


def decide(study, metrics: dict[str, dict[str, dict[int, float]]], noisy_mse: float,
           epochs: int = REF_EPOCHS, curves: dict[str, dict[int, list[float]]] | None = None) -> list[Finding]:
    """The findings of T3.2 from plain per-seed values (``study``: the study, for its loss names).

    ``metrics[name][variant] = {seed: value}`` for ``test_mse``, ``epochs_trained``,
    ``first_epoch_grad_norm``, ``val_mse_first`` (validation MSE after epoch 1) and ``best_epoch``;
    ``noisy_mse``: the noisy input's test MSE (the trivial baseline, the same for every run);
    ``epochs``: the epoch budget; ``curves[variant][seed]``: the per-epoch validation MSE (the
    budget of the findings about training; None: not checked). The reference's sigma claims are
    decided on the precision reading.
    """
    mse = metrics["test_mse"]
    names = list(mse)
    failed = V.did_not_learn(mse, noisy_mse, "less")
    out: list[Finding] = []

    def budget(variants):
        cs = {v: curves[v] for v in variants if curves and curves.get(v)}
        return V.Budget(cs, "lower", epochs, REF_EPOCHS, name="validation MSE") if cs else None

    # R30: MAE gives the best test MSE
    if "mae" in mse:
        d = V.best_of(mse, "mae", "less", what="test MSE", unit="test MSE")
        out.append(FINDINGS["mae-lowest-mse"].of(V.gate(d, failed, ["mae"]), budget=budget(names)))
    prec = sigma_variants(study, names, "precision")
    lowest = prec[0][1] if prec else None
    # R31: followed closely by correntropy sigma 1e2 and MSE
    if "mae" in mse and "mse" in mse and lowest:
        gain = noisy_mse - _mean(mse["mae"])
        margin = CLOSE_FRACTION * gain
        src = (f"{CLOSE_FRACTION:.0%} of MAE's gain over the noisy input ({V.fmt(noisy_mse)} - "
               f"{V.fmt(_mean(mse['mae']))} = {V.fmt(gain)}): a loss that keeps {1 - CLOSE_FRACTION:.0%} of the best loss's denoising follows "
               "it closely")
        if gain > 0:
            parts = [V.equivalent(mse[o], mse["mae"], margin, margin_source=src, names=(o, "mae"), what="test MSE",
                                  unit="test MSE") for o in ("mse", lowest)]
            d = V.all_of(parts, labels=[f"{o} vs mae" for o in ("mse", lowest)])
            flips = [x.flip_margin for x in parts if x.flip_margin is not None]  # both must be inside the margin
            d = replace(d, margin=margin, margin_source=src, flip_margin=max(flips) if flips else None)
        else:
            d = V.inconclusive(f"MAE's test MSE {V.fmt(_mean(mse['mae']))} is not below the noisy input's "
                               f"{V.fmt(noisy_mse)}: no denoising gain to set the margin from")
        out.append(FINDINGS["mae-closely-followed"].of(
            V.gate(d, failed, ["mae", "mse", lowest]), lowest=lowest,
            evidence=f"margin {V.fmt(margin)} = {src}", budget=budget(["mae", "mse", lowest])))
    for reading in ("bandwidth", "precision"):
        sig = sigma_variants(study, names, reading)
        if len(sig) < 2:
            continue
        parts = [V.exceeds(mse[v], noisy_mse, "less", name=v, what="test MSE vs the noisy input's", unit="test MSE")
                 for _, v in sig]
        parts += [_trend(metrics["epochs_trained"], sig, "less", "epochs trained", "epochs"),
                  _trend(mse, sig, "greater", "test MSE", "test MSE")]
        labels = [f"{v} learned" for _, v in sig] + ["epochs fall with sigma", "test MSE rises with sigma"]
        out.append(FINDINGS["{reading}-reproduces-table5"].of(V.all_of(parts, labels=labels), reading=reading))
    if len(prec) >= 2:
        involved = [v for _, v in prec]
        # R32: increasing sigma harms training. A run that did not learn counts as harmed, so no gate.
        out.append(FINDINGS["sigma-harms-training"].of(_trend(mse, prec, "greater", "test MSE", "test MSE"),
                                                       budget=budget(involved)))
        # R33: larger sigma -> early stopping before the budget
        top = prec[-1][1]
        d = V.all_of([_trend(metrics["epochs_trained"], prec, "less", "epochs trained", "epochs"),
                      V.exceeds(metrics["epochs_trained"][top], epochs, "less", name=f"{top} epochs",
                                what="the epoch budget", unit="epochs")],
                     labels=["epochs fall with sigma", f"{top} stops before {epochs} epochs"])
        out.append(FINDINGS["sigma-stops-earlier"].of(V.gate(d, failed, involved), epochs=epochs,
                                                      budget=budget(involved)))
        # R34: larger sigma -> larger gradients (epoch 1: no budget)
        out.append(FINDINGS["sigma-larger-gradients"].of(
            _trend(metrics["first_epoch_grad_norm"], prec, "greater", "gradient norm", "gradient L2 norm")))
        # R35: ...so the network trains faster and overfits sooner
        d = V.all_of([_trend(metrics["val_mse_first"], prec, "less", "validation MSE after epoch 1", "validation MSE"),
                      _trend(metrics["best_epoch"], prec, "less", "best epoch", "epochs")],
                     labels=["trains faster (epoch-1 validation MSE falls with sigma)",
                             "overfits sooner (the best validation epoch comes earlier)"])
        out.append(FINDINGS["sigma-faster-overfits-sooner"].of(V.gate(d, failed, involved), budget=budget(involved)))
    parts = [V.exceeds(mse[v], noisy_mse, "less", name=v, unit="test MSE") for v in names]
    out.append(FINDINGS["beats-noisy-input"].of(V.all_of(parts, labels=names),
                                                evidence=f"noisy input {V.fmt(noisy_mse)}"))
    return out


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
