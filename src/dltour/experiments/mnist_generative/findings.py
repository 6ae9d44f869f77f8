"""T4.1 ``mnist-generative``, what the runs mean: the reference's numbers (Table 6) and budget, the
Inception Score judges' metric names, whether a run is comparable with the reference, the summary
(Table 6, the judges' note, the sample grids, reconstructions and IS figures) and every finding.
The science (models, losses, training steps, scoring, runs) is ``science.py``, which binds
``summarize`` and ``comparison`` from here; these functions take the study as their first argument.

How each claim is measured and decided:

- IS, by two judges (judge 1 ``MnistCNN``, judge 2 ``MnistMLP``): an IS verdict holds (or fails)
  only where both agree (``agree``); the real test digits give the ceiling row ``real-test``,
  uniform-noise images the floor ``noise``; on data that is not MNIST no IS claim is decided;
- R36 ("MAE is impacted more by the latent size than by the extra layer", a claim about
  magnitude): per seed, the size |effect| of latent 2 -> 20 (its mean effect over both depths) vs
  the size of the extra layer's effect (over both latents), paired by seed; R38 ("IS rises more
  with the extra layer"): the signed IS gains compared the same way; R39 "much higher" read as at
  least 1.5 times; R41 "p(y) more uniform": the entropy of the judge's predicted class counts;
- decisions: each finding is declared once in ``FINDINGS`` with its rule, built from
  :mod:`dltour.rules` and the shapes defined here (``Versus``: two derived arms compared by seed;
  ``BestOf``; ``Judged``: one rule per judge, each gated on that judge's learned checks, combined by
  ``agree``); :func:`findings` only supplies the runs' values (``R.Runs``: the metrics, the factorial
  effects and log IS ratios per seed, each judge's noise floor, the learned checks: a VAE's test MAE
  below the mean image's, a generator's IS above the judge's floor by ``LEARNED_IS_SHARE`` of the way
  to the real digits' with no class above ``MAX_CLASS_SHARE``), the budgets and the evidence in its
  own words;
- budget (issue 18): a "does not hold" from VAEs trained below ``REF_VAE_EPOCHS`` whose test MAE
  was still falling at the end is not a verdict (``verdicts.budget_gate``, applied by
  ``Finding.of``); the GANs save no per-epoch quality measure (their history holds only the two
  adversarial losses, which do not track sample quality), so a GAN's budget is stated, not tested;
- budget for ``comparison`` (the reference gives none): our ``full`` profile's epochs and 10,000
  scored images, on the canonical MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dltour import rules as R
from dltour.data import mnist
from dltour.plots import new_figure, save
from dltour.summary import Comparison, Declared, declare, Finding, Ref, RunResult, Summary, Table
from dltour.summary import Results
from dltour.verdicts import (FAILS, HOLDS, INCONCLUSIVE, Budget, Decision, did_not_learn, fmt,
                             inconclusive)

GRID_SEED = 1234
VAES = ["vae-z2", "vae-z20", "vae-z2-extra", "vae-z20-extra"]
GANS = ["gan-z1", "gan-z10"]
JUDGES = ["cnn", "mlp"]  # judge 1 (MnistCNN), judge 2 (MnistMLP): dltour.data.mnist.JUDGES
REF_VAE_EPOCHS, REF_GAN_EPOCHS, REF_IS_SAMPLES = 50, 100, 10_000  # our full budget: the reference gives none


def is_key(judge: str) -> str:
    """The metric name of the IS under ``judge`` (judge 1 keeps the plain name, as in Table 6)."""
    return "inception_score" if judge == "cnn" else f"inception_score_{judge}"


def entropy_key(judge: str) -> str:
    return "py_entropy" if judge == "cnn" else f"py_entropy_{judge}"


# ---------------------------------------------------------------------- rule shapes dltour.rules lacks
@dataclass(frozen=True)
class Judged:
    """An Inception Score claim: each judge's part (``parts``: (judge, rule), the rule gated on the
    learned checks under that judge) decided and combined by :func:`agree` (holds or fails only where
    every judge agrees). A judge takes part when its uniform-noise floor is given (the constant
    ``noise_is@<judge>``). Made when every variant of ``ran`` was run (every judge's IS is there for
    it); ``involved``: the variants the claim is about (their budget, the GANs' stated one)."""

    parts: tuple[tuple[str, Any], ...]
    involved: tuple[str, ...]
    ran: tuple[str, ...]

    def _judges(self, runs: R.Runs) -> list[tuple[str, Any]]:
        return [(j, p) for j, p in self.parts if f"noise_is@{j}" in runs.consts]

    def applies(self, runs: R.Runs) -> bool:
        return (all(runs.has(is_key(j), v) for j, _ in self.parts for v in self.ran)
                and all(p.applies(runs) for _, p in self._judges(runs)))

    def decide(self, runs: R.Runs) -> Decision:
        return agree({j: p.decide(runs) for j, p in self._judges(runs)})


def _judged(part, involved, ran=None) -> Judged:
    """An IS claim whose rule under judge ``j`` is ``part(j)``, gated on the learned checks of the
    ``involved`` variants under ``j`` (``failed["<variant>@<judge>"]``)."""
    return Judged(tuple((j, R.Gated(part(j), tuple(f"{v}@{j}" for v in involved))) for j in JUDGES),
                  tuple(involved), tuple(ran or involved))


#: a VAE learned when its test MAE is below the mean training image's (the generators' learned checks are
#: per judge, with a margin and a class-share check: :func:`findings` supplies them)
LEARNED = tuple(R.Learned(v, "test_mae", "mae_baseline", "less") for v in VAES)
_OTHERS = [v for v in VAES + GANS if v != "gan-z10"]
SEC = "§4.1, Table 6"

#: the study's findings, declared once with their rules (dltour.rules and the shapes above): the study supplies
#: the runs' values (the factorial effects per seed, the log IS ratio) and the learned checks
FINDINGS = declare("T4.1", [
    Declared("mae-depends-more-on-latent",
             "For the VAEs, the reconstruction MAE is impacted more by the latent size than by the extra layer (the "
             "size of the latent's effect on MAE is larger than the extra layer's)", "R36", SEC,
             rule=R.Gated(R.Versus(("|test_mae effect|", "latent"), ("|test_mae effect|", "extra layer"), "greater",
                                 names=("|MAE change from latent 2 -> 20|", "|MAE change from the extra layer|"),
                                 unit="test MAE",
                                 what="per seed, the size of each factor's mean effect on the test MAE (the "
                                      "reference: latent -0.054, extra layer -0.004)"), tuple(VAES))),
    Declared("extra-layer-raises-is-more",
             "For the VAEs, the Inception Score rises more with the extra layer than with the latent size", "R38", SEC,
             rule=_judged(lambda j: R.Versus((f"is_gain@{j}", "extra layer"), (f"is_gain@{j}", "latent"), "greater",
                                           names=("IS gain from the extra layer", "IS gain from latent 2 -> 20"),
                                           unit="IS"), VAES)),
    Declared("gan10-far-above-gan1",
             "The GAN with 10 random inputs has a much higher Inception Score than the one with 1", "R39", SEC,
             rule=_judged(lambda j: R.Exceeds(f"log_is_ratio@{j}", "gan-z10/gan-z1", float(np.log(1.5)), "greater",
                                              name="log(IS gan-z10 / IS gan-z1)", unit="log IS ratio",
                                              what="'much higher' read as at least 1.5 times: log ratio above log "
                                                   "1.5 = 0.405"), GANS)),
    Declared("gan10-above-vaes", "The GAN with 10 random inputs has a higher Inception Score than every VAE", "R40",
             SEC, rule=_judged(lambda j: R.BestOf(is_key(j), "gan-z10", "greater", what="IS", unit="IS",
                                                arms=("gan-z10", *VAES)), ["gan-z10"] + VAES, ran=GANS + VAES)),
    Declared("gan10-py-more-uniform",
             "The GAN with 10 random inputs has a more uniform p(y) (more diverse samples) than the other generators",
             "R41", SEC,
             rule=_judged(lambda j: R.BestOf(entropy_key(j), "gan-z10", "greater",
                                           what="entropy of the predicted class counts", unit="nats",
                                           arms=("gan-z10", *_OTHERS)), ["gan-z10"] + _OTHERS, ran=GANS + VAES)),
])
#: the reference's numbers: Table 6, the Inception Score of every generator and the test MAE of every VAE
REFERENCE = [
    Ref("Table 6", "vae-z2", "inception_score", 4.42), Ref("Table 6", "vae-z2", "test_mae", 0.101),
    Ref("Table 6", "vae-z20", "inception_score", 5.88), Ref("Table 6", "vae-z20", "test_mae", 0.041),
    Ref("Table 6", "vae-z2-extra", "inception_score", 6.23), Ref("Table 6", "vae-z2-extra", "test_mae", 0.091),
    Ref("Table 6", "vae-z20-extra", "inception_score", 6.84), Ref("Table 6", "vae-z20-extra", "test_mae", 0.043),
    Ref("Table 6", "gan-z1", "inception_score", 2.43), Ref("Table 6", "gan-z10", "inception_score", 8.33),
]


def comparison(study, cfg) -> Comparison:
    """The reference's data (the canonical MNIST) and budget (our ``full`` profile's), each checked."""
    return Comparison.check(*mnist.is_reference_data(cfg.data), {"vae_epochs": (cfg.vae_epochs, REF_VAE_EPOCHS),
                                       "gan_epochs": (cfg.gan_epochs, REF_GAN_EPOCHS),
                                       "is_samples": (cfg.is_samples, REF_IS_SAMPLES)},
                            about=mnist.is_mnist(cfg.data))


# ---------------------------------------------------------------------- summary
def summarize(study, cfg, results: list[RunResult], out_dir: Path) -> Summary:
    """Table 6, the judges' and data notes, the figures and the findings of the runs ``results``."""
    s = Summary()
    if not results:
        return s
    res = Results(results)
    order = [v for v in VAES + GANS if v in res] + [v for v in res.variants if v not in VAES + GANS]
    sigs = sorted({sc["signature"] for r in results for sc in r.json("inception").get("judges", {}).values()}
                  or {r.json("inception")["signature"] for r in results})

    # the ceiling (real test digits), the floor (uniform noise) and the mean-image MAE: the study's baselines
    a = mnist.arrays_for(cfg.data)
    real_sc, noise_sc, mae_base = study.baselines(cfg)
    for name, sc in (("real-test", real_sc), ("noise", noise_sc)):
        s.extra_metrics[name] = {}
        for j in JUDGES:
            s.extra_metrics[name].update({is_key(j): [sc[j]["is"]], is_key(j) + "_std": [sc[j]["sd"]],
                                          entropy_key(j): [sc[j]["entropy"]]})
    s.extra_metrics["mean-image"] = {"test_mae": [mae_base]}
    is_mnist, why_not = mnist.is_mnist(cfg.data)
    digits = "digits" if is_mnist else "images (not MNIST)"

    # Table 6
    ref = {(r.variant, r.metric): r.value for r in study.reference}
    rows = []
    for v in order:
        kind, z, extra = study.parse_variant(v)
        row = [kind.upper(), z, ("yes" if extra else "no") if kind == "vae" else "n/a"]
        for j in JUDGES:
            row.append(f"{res.mean(v, is_key(j)):.2f}")
        row += [ref.get((v, "inception_score"), ""), _f3(res.mean(v, "test_mae")), ref.get((v, "test_mae"), "n/a")]
        row += [f"{res.mean(v, entropy_key(j)):.2f}" for j in JUDGES] + [res.n(v)]
        rows.append(row)
    for name, sc in ((f"real test {digits} (ceiling)", real_sc), ("uniform noise (floor)", noise_sc)):
        rows.append([name, "", ""] + [f"{sc[j]['is']:.2f}" for j in JUDGES] + ["", "", ""]
                    + [f"{sc[j]['entropy']:.2f}" for j in JUDGES] + [1])
    rows.append(["mean training image (MAE baseline)", "", "", "", "", "", _f3(mae_base), "", "", "", 1])
    s.tables.append(Table("Table 6: Inception Score under two judges, test MAE, and the entropy of p(y) (means "
                          "over seeds)", ["model", "latent (random input)", "extra layer", "IS judge 1 (CNN)",
                                          "IS judge 2 (MLP)", "IS reference", "MAE ours", "MAE reference",
                                          "H(p(y)) judge 1", "H(p(y)) judge 2", "n"], rows,
                          note="H(p(y)): entropy (nats) of the predicted class counts; ln 10 = 2.30 is uniform"))
    info = {j: mnist.classifier_info(j) for j in JUDGES}
    s.notes.append("Inception Score judges: " + "; ".join(
        f"judge {i + 1} {info[j].get('architecture', j)} sha256 {real_sc[j]['sha256'][:12]}..., test accuracy "
        f"{100 * info[j].get('test_accuracy', float('nan')):.2f}% on the 10k MNIST test digits (seed "
        f"{info[j].get('seed', 0)}, {info[j].get('epochs', '?')} epochs)" for i, j in enumerate(JUDGES))
        + f". Signatures: generators {', '.join(sigs)}; real test {digits} {real_sc['cnn']['signature']}. "
        "An IS verdict holds or fails only where both judges agree.")
    if not is_mnist:
        s.notes.append(f"These data are not MNIST ({why_not}): the Inception Score is judged by MNIST-digit "
                       "classifiers, so on other data it is not meaningful; no IS claim is decided.")
    cmp = study.comparison(cfg)
    s.notes.append(f"Data: {mnist.data_label(cfg.data)}; {len(a['train_x']):,} training / {len(a['test_x']):,} test {digits}; {cfg.vae_epochs} VAE "
                   f"epochs, {cfg.gan_epochs} GAN epochs, IS on {cfg.is_samples:,} images. "
                   + ("Comparable with the reference." if cmp.ok else f"Not comparable with the reference: {cmp.why}."))
    if res.nan_runs():
        s.notes.append("Runs with NaN metrics: " + "; ".join(res.nan_runs()))

    # sample grids (fixed noise) and VAE reconstructions, lowest seed
    cols = 3
    nrows = (len(order) + cols - 1) // cols
    fig, axes = new_figure(3.2 * cols, 3.7 * nrows, ncols=cols, nrows=nrows, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    k = cfg.grid
    for ax, v in zip(axes.flat, order):
        g = res.first(v).arrays()["grid"].reshape(k, k, 28, 28).transpose(0, 2, 1, 3).reshape(k * 28, k * 28)
        ax.imshow(g, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{v}: IS {res.mean(v, is_key('cnn')):.2f} / {res.mean(v, is_key('mlp')):.2f}", fontsize=9)
    fig.suptitle(f"T4.1 samples, fixed noise (seed {GRID_SEED}) per latent size; IS judge 1 / judge 2", fontsize=10)
    s.figures.append(save(fig, out_dir, "samples_fixed_noise.png"))
    vaes = [v for v in VAES if v in res]
    if vaes:
        fig, axes = new_figure(8, 0.85 * (len(vaes) + 1) + 0.4, ncols=10, nrows=len(vaes) + 1, squeeze=False)
        rows_img = [("original", a["test_x"][:10] / 255.0)] + [(v, res.first(v).arrays()["recon10"]) for v in vaes]
        for i, (name, imgs) in enumerate(rows_img):
            for j in range(10):
                axes[i][j].imshow(np.asarray(imgs[j]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
                axes[i][j].axis("off")
            axes[i][0].set_title(name, fontsize=7, loc="left")
        fig.suptitle("T4.1 VAE test reconstructions (z = posterior mean)", fontsize=9)
        s.figures.append(save(fig, out_dir, "vae_reconstructions.png"))
    fig, ax = new_figure(7.5, 3.6)
    xs = np.arange(len(order))
    for i, j in enumerate(JUDGES):
        ax.bar(xs - 0.27 + 0.27 * i, [res.mean(v, is_key(j)) for v in order], 0.27, label=f"ours, judge {i + 1} ({j})",
               yerr=[np.std(list(res.values(v, is_key(j)).values())) for v in order])
        ax.axhline(real_sc[j]["is"], color=f"C{i}", ls=":", lw=1)
    ax.bar(xs + 0.27, [ref.get((v, "inception_score"), np.nan) for v in order], 0.27, label="reference", color="C2")
    ax.set_xticks(xs, order, fontsize=8)
    ax.set_ylabel("Inception Score (MNIST judges)")
    ax.set_title(f"T4.1 Inception Score per generator, two judges (dotted: real test {digits})", fontsize=9)
    ax.legend(fontsize=7)
    s.figures.append(save(fig, out_dir, "inception_scores.png"))

    s.findings.extend(findings(res, mae_base, {j: noise_sc[j]["is"] for j in JUDGES},
                               None if is_mnist else why_not, epochs=(cfg.vae_epochs, cfg.gan_epochs),
                               ceiling_is={j: real_sc[j]["is"] for j in JUDGES}, class_share=class_shares(results)))
    return s


def _f3(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.3f}"


# ---------------------------------------------------------------------- findings
def agree(decisions: dict[str, Decision]) -> Decision:
    """One IS verdict from every judge's: holds (fails) only when every judge's test holds (fails);
    inconclusive when they disagree or any is undecided. Both must agree, so the combined p is the
    largest of the judges' (intersection-union); the effect and its CI are judge 1's."""
    vs = {j: d.verdict for j, d in decisions.items()}
    v = next(iter(vs.values())) if len(set(vs.values())) == 1 and next(iter(vs.values())) in (HOLDS, FAILS) \
        else INCONCLUSIVE
    ev = "; ".join(f"judge {j}: {d.evidence}" for j, d in decisions.items())
    test = ("both judges must agree — " if v != INCONCLUSIVE or len(set(vs.values())) == 1 else
            "not decided: the judges disagree — ") + "; ".join(f"judge {j}: {d.verdict} ({d.test})"
                                                            for j, d in decisions.items())
    ps = [d.p for d in decisions.values() if d.p is not None]
    first = next(iter(decisions.values()))
    return Decision(v, ev, test, p=max(ps) if len(ps) == len(decisions) else None, effect=first.effect,
                    effect_ci=first.effect_ci, unit=(f"{first.unit} (judge 1)" if first.unit else ""), g=first.g,
                    g_ci=first.g_ci, n_runs=first.n_runs, n=first.n)


def _factorial(res: Results, metric: str) -> tuple[dict[int, float], dict[int, float]]:
    """Per seed: the mean effect of latent 2 -> 20 (over both depths) and of the extra layer (over
    both latents) on ``metric`` (value at the larger setting minus value at the smaller)."""
    v = {k: res.values(k, metric) for k in VAES}
    seeds = sorted(set.intersection(*(set(x) for x in v.values())))
    latent = {sd: ((v["vae-z20"][sd] - v["vae-z2"][sd]) + (v["vae-z20-extra"][sd] - v["vae-z2-extra"][sd])) / 2
              for sd in seeds}
    layer = {sd: ((v["vae-z2-extra"][sd] - v["vae-z2"][sd]) + (v["vae-z20-extra"][sd] - v["vae-z20"][sd])) / 2
             for sd in seeds}
    return latent, layer


def _budget(res: Results, arms: list[str], epochs_run: int | None, ref_epochs: int) -> Budget | None:
    """The VAE arms' per-epoch test MAE (the only held-out curve the runs save; lower is better)
    as the budget of a finding about them; None when no run saved one. ``epochs_run`` None: the
    longest saved history."""
    curves = {v: c for v in arms if v.startswith("vae-") and (c := res.curves(v, "test_mae"))}
    if not curves:
        return None
    if epochs_run is None:
        epochs_run = max(len(c) for cs in curves.values() for c in cs.values())
    return Budget(curves, "lower", int(epochs_run), ref_epochs, name="test MAE")


#: a generator learned, under a judge, when its IS is above the uniform-noise floor by this share of the
#: distance from the floor to the ceiling (the real test digits' IS under the same judge) ...
LEARNED_IS_SHARE = 0.10
#: ... and that judge puts no more than this share of its samples in one class (MNIST's most frequent
#: class is 11.2% of the test digits; the demo's collapsed GANs put 99.7-100% in one)
MAX_CLASS_SHARE = 0.5


def class_shares(results) -> dict[str, dict[str, dict[int, float]]]:
    """judge -> variant -> seed -> the share of the run's scored samples in the judge's most
    frequent predicted class (from each run's ``inception.json``)."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for r in results:
        for j, sc in (r.json("inception").get("judges") or {}).items():
            c = np.asarray(sc.get("counts") or [], dtype=np.float64)
            if c.sum() > 0:
                out.setdefault(j, {}).setdefault(r.variant, {})[r.seed] = float(c.max() / c.sum())
    return out


def findings(res: Results, mae_baseline: float, noise_is: dict[str, float], not_mnist: str | None = None,
             epochs: tuple[int, int] | None = None, *, ceiling_is: dict[str, float] | None = None,
             class_share: dict[str, dict[str, dict[int, float]]] | None = None) -> list[Finding]:
    """Every finding of T4.1 from per-seed results, by the rules declared in ``FINDINGS``:
    ``mae_baseline`` is the mean-image MAE (a VAE no better did not learn), ``noise_is`` each judge's
    IS of uniform noise, ``ceiling_is`` the real test digits' (a run learned under a judge when its IS
    is above the floor by ``LEARNED_IS_SHARE`` of the floor-to-ceiling distance; without
    ``ceiling_is``, merely above the floor), ``class_share`` judge -> variant -> seed -> the top
    predicted class's share of the samples (a run above ``MAX_CLASS_SHARE`` did not learn: it draws
    one digit), ``not_mnist`` why the data are not MNIST (then no IS claim is decided), ``epochs`` the
    (VAE, GAN) epochs trained (None: read from the runs' histories). The study supplies the values
    (``R.Runs``: the metrics, the factorial effects and log IS ratios per seed, the learned checks),
    the budgets and the evidence in its own words."""
    vae_ep, gan_ep = epochs if epochs is not None else (None, None)
    gan_budget = (f"the GANs trained {gan_ep if gan_ep is not None else '?'} of our full budget's {REF_GAN_EPOCHS} "
                  "epochs (the reference states none) and save no per-epoch quality measure, so whether they were "
                  "still improving is not tested")
    ran = [v for v in VAES + GANS if v in res]
    metrics: dict[str, dict[str, dict[int, float]]] = {"test_mae": res.table("test_mae", VAES)}
    for j in JUDGES:
        metrics[is_key(j)] = {v: res.values(v, is_key(j)) for v in ran}
        metrics[entropy_key(j)] = {v: res.values(v, entropy_key(j)) for v in ran}
    if all(v in res for v in VAES):
        lat, lay = _factorial(res, "test_mae")
        metrics["|test_mae effect|"] = {"latent": {k: abs(x) for k, x in lat.items()},
                                        "extra layer": {k: abs(x) for k, x in lay.items()}}
        for j in JUDGES:
            lat_j, lay_j = _factorial(res, is_key(j))
            metrics[f"is_gain@{j}"] = {"latent": lat_j, "extra layer": lay_j}
    if all(v in res for v in GANS):
        for j in JUDGES:  # R39: "much higher" as a ratio, per seed where both IS are positive
            a, b = res.values("gan-z10", is_key(j)), res.values("gan-z1", is_key(j))
            metrics[f"log_is_ratio@{j}"] = {"gan-z10/gan-z1": {sd: float(np.log(a[sd] / b[sd]))
                                                               for sd in sorted(set(a) & set(b))
                                                               if a[sd] > 0 and b[sd] > 0}}
    consts = {"mae_baseline": mae_baseline} | {f"noise_is@{j}": floor for j, floor in noise_is.items()}
    failed = R.not_learned(LEARNED, R.Runs(metrics, consts))
    if not not_mnist:  # a generator's learned check, per judge: "<variant>@<judge>"
        for j, floor in noise_is.items():
            ceil = (ceiling_is or {}).get(j)
            margin = LEARNED_IS_SHARE * (ceil - floor) if ceil is not None and ceil > floor else 0.0
            src = (f"{LEARNED_IS_SHARE:.0%} of the distance from the uniform-noise floor {fmt(floor)} to the real "
                   f"test digits' {fmt(ceil)} under judge {j}") if margin else ""
            also = {v: {sd: f"judge {j} puts {sh:.1%} of its samples in one class (more than "
                            f"{MAX_CLASS_SHARE:.0%})" for sd, sh in (class_share or {}).get(j, {}).get(v, {}).items()
                        if sh > MAX_CLASS_SHARE} for v in ran}
            why = did_not_learn({v: res.values(v, is_key(j)) for v in ran}, floor, "greater", margin=margin,
                                margin_source=src, also=also)
            failed.update({f"{v}@{j}": w for v, w in why.items()})
    runs = R.Runs(metrics, consts, failed)

    out = []
    for fid, decl in FINDINGS.items():
        if not decl.rule.applies(runs):
            continue
        involved = list(decl.rule.involved)
        if isinstance(decl.rule, Judged):
            evidence = gan_budget if any(v.startswith("gan-") for v in involved) else ""
            d = (inconclusive(f"not MNIST ({not_mnist}): an IS judged by MNIST-digit classifiers is not meaningful "
                              "on other data", "not decided") if not_mnist else decl.rule.decide(runs))
        else:  # R36: the signed effects per seed beside their sizes
            evidence = "signed effects on the test MAE: " + ", ".join(
                f"seed {sd}: latent {lat[sd]:+.4f}, layer {lay[sd]:+.4f}" for sd in sorted(lat))
            d = decl.rule.decide(runs)
        out.append(decl.of(d, evidence=evidence, budget=_budget(res, involved, vae_ep, REF_VAE_EPOCHS)))
    return out
