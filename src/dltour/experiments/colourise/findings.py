"""T4.2 ``colourise``: what the runs mean: the reference's numbers, the findings (R42-R46) and how
each is decided, the table and the figures (reference Figure 7), and whether a run is comparable with
the reference. The science (data, model, loss, training step, what a run returns) is in
``science.py``; this module never imports it and gets what it needs from its arguments.

How each claim is measured and decided:

- metrics on the test set, per seed: MAE on [0, 1]; *vividness*: Hasler-Suesstrunk colourfulness
  (0..255 scale) and colour variance (mean squared distance of each pixel from its gray level);
  *realism* of the colours as a distribution: the Wasserstein-1 distance between the per-image
  colourfulness of a model's images and of the ground truth, and the intersection of the HSV
  saturation histograms (1 = same); *wrong colours*: the hue error, the angle between predicted
  and true chroma, weighted by the predicted chroma (``dltour.metrics.image.hue_error``).
  ``gray-input`` (Y copied to R, G, B) is the trivial baseline: the U-Net must beat its MAE, the
  cGAN its colourfulness distance to the truth (a run that does not carries no verdict about how
  it colours);
- decisions: per-seed values through ``dltour.verdicts`` (paired by seed). R46 ("the U-Net
  learns a conservative colouring") has a control that can fail (issue 18): "less colourful than
  the truth" holds for any L1 model that is not perfect, so the claim is read as *nearer no colour
  than the truth's colour*: the U-Net's colourfulness below half the ground truth's, half-way
  between the gray input (colourfulness 0, the no-colour control) and the truth. The reference
  states no epochs for T4.2, so no finding here has a reference budget to be short of.
"""

from __future__ import annotations

from pathlib import Path

from dltour import rules as R
from dltour import verdicts as V
from dltour.data.images import data_kind, reference_data, source_label
from dltour.plots import image_grid, new_figure, save
from dltour.summary import (Comparison, Declared, declare, decide_declared, Finding, Ref, Results, RunResult,
                            Summary, Table)

#: how a run shows it learned: the U-Net's MAE below the gray input's, the cGAN's colourfulness distribution
#: nearer the truth's than the gray input's (a verdict about a model that did not learn is not made)
LEARNED = (
    R.Learned("unet", "test_mae", "gray_mae", "less", " (test MAE)"),
    R.Learned("cgan", "colourfulness_distance", "gray_distance", "less",
              " (colourfulness distance to the truth: the gray input's)"),
)
BOTH = ("unet", "cgan")
_MAE = R.Compare("test_mae", "unet", "cgan", "less", what="test MAE", unit="test MAE")
_REAL = R.AllOf((R.Compare("colourfulness_distance", "cgan", "unet", "less",
                           what="Wasserstein-1 distance of per-image colourfulness to the truth's",
                           unit="W1 distance of colourfulness"),
                 R.Compare("saturation_overlap", "cgan", "unet", "greater",
                           what="saturation-histogram overlap with the truth", unit="histogram overlap")),
                labels=("colourfulness distribution closer to the truth", "saturation distribution closer to the truth"))
SEC = "§4.2, Figure 7"

#: the study's findings, declared once with their rules (dltour.rules): the study supplies the runs' values
FINDINGS = declare("T4.2", [
    Declared("unet-mae-le-cgan",
             "By test MAE the U-Net is (slightly) better than the cGAN (reference: 0.045 vs 0.046)", "R42", SEC,
             rule=R.Gated(_MAE, ("unet",))),
    Declared("cgan-more-vivid",
             "The cGAN's colours are more vivid than the U-Net's: higher colourfulness (Hasler and Suesstrunk)", "R43",
             SEC, rule=R.Gated(R.Compare("colourfulness", "cgan", "unet", "greater", what="colourfulness",
                                         unit="colourfulness (0..255)"), BOTH),
             evidence="ground truth {gt_colourfulness}"),
    Declared("cgan-more-realistic",
             "The cGAN's colours are more realistic than the U-Net's: their colourfulness and saturation "
             "distributions are closer to the ground truth's", "R43", SEC, rule=R.Gated(_REAL, BOTH)),
    Declared("cgan-wrong-colours",
             "The cGAN pays for its vividness with wrong colours: its hue error (angle between predicted and true "
             "chroma, weighted by predicted chroma) is larger than the U-Net's", "R44", SEC,
             rule=R.Gated(R.Compare("hue_error", "cgan", "unet", "greater", what="hue error, degrees",
                                    unit="degrees"), BOTH)),
    Declared("mae-misses-quality",
             "MAE does not capture the quality difference: it ranks the U-Net better while the colour distributions "
             "rank the cGAN more realistic (colour variance reported beside)", "R45", SEC,
             rule=R.Gated(R.AllOf((_MAE, _REAL), labels=("MAE ranks the U-Net better",
                                                         "the colour distributions rank the cGAN more realistic")),
                          BOTH),
             evidence="colour variance {colour_variance@unet} vs {colour_variance@cgan}, ground truth "
                      "{gt_colour_variance}"),
    Declared("unet-conservative",
             "The U-Net learns a conservative, smooth, uniform colouring: its colours are nearer no colour than the "
             "truth's (colourfulness below half the ground truth's)", "R46", SEC,
             rule=R.Gated(R.Requires(
                 R.Exceeds("colourfulness", "unet", 0.5, "less", per="gt_colourfulness",
                           name="unet colourfulness / the truth's", unit="fraction of the truth's colourfulness",
                           what="'conservative' read as nearer no colour than the truth's: below half the truth's "
                                "colourfulness, half-way between the gray input (0) and the truth"),
                 "gt_colourfulness", "the ground truth has no colour (colourfulness {gt_colourfulness}): nothing "
                                     "to be conservative against"), ("unet",)),
             evidence="ground truth colourfulness {gt_colourfulness}, gray input 0; colour variance "
                      "{colour_variance@unet} vs the truth's {gt_colour_variance}"),
    Declared("beats-gray-input",
             "Both models learned: the U-Net's MAE is below the gray input's, the cGAN's colourfulness distribution "
             "is closer to the truth's than the gray input's", None, SEC,
             rule=R.AllOf((R.Exceeds("test_mae", "unet", "gray_mae", "less", what="test MAE vs the gray input's",
                                     unit="test MAE"),
                           R.Exceeds("colourfulness_distance", "cgan", "gray_distance", "less",
                                     what="colourfulness distance to the truth vs the gray input's",
                                     unit="W1 distance of colourfulness")),
                          labels=("U-Net MAE below the gray input's",
                                  "cGAN colours closer to the truth's than no colour at all"), present=True)),
])

#: the reference's test MAE of the two models (Section 4.2)
REFERENCE = [
    Ref("Section 4.2", "unet", "test_mae", 0.045, "the reference's text; its Figure 7 shows the images"),
    Ref("Section 4.2", "cgan", "test_mae", 0.046, "the reference's text; its Figure 7 shows the images"),
]


def budget(cfg) -> tuple[bool, str]:
    """Whether the config trains on every image, whole (the reference does not state its epochs)."""
    diff = cfg.data.cuts()
    if cfg.train_crop is not None:
        diff.append(f"{cfg.train_crop}x{cfg.train_crop} training crops (reference: whole images)")
    return not diff, ("budget: " + "; ".join(diff)) if diff else "budget: the reference's"


def comparison(study, cfg) -> Comparison:
    """Is a run of ``cfg`` comparable with the reference: its data and its budget."""
    data, why_d = reference_data(cfg.data)
    ok_b, why_b = budget(cfg)
    return Comparison(data, ok_b, f"{why_d}; {why_b} (the reference does not state its epochs)")


def decide(metrics: dict[str, dict[str, dict[int, float]]], gray_mae: float, gray_distance: float,
           gt_colourfulness: float, gt_colour_variance: float) -> list[Finding]:
    """The findings of T4.2 from plain per-seed values, by the rules declared in ``FINDINGS``.

    ``metrics[name][variant] = {seed: value}`` for ``test_mae``, ``colourfulness``,
    ``colour_variance``, ``colourfulness_distance`` (Wasserstein-1 to the truth's per-image
    colourfulness), ``saturation_overlap`` and ``hue_error``; the rest are the same for every run
    (one test set): the gray input's MAE and colourfulness distance (the trivial baselines) and the
    ground truth's mean colourfulness and colour variance.
    """
    runs = R.Runs(metrics, {"gray_mae": gray_mae, "gray_distance": gray_distance,
                            "gt_colourfulness": gt_colourfulness, "gt_colour_variance": gt_colour_variance})
    return decide_declared(FINDINGS, R.Runs(runs.metrics, runs.consts, R.not_learned(LEARNED, runs)))


def summarize(study, cfg, results: list[RunResult], out_dir: Path) -> Summary:
    """The table, Figure 7 and its vividness panel, and the findings of the runs of ``cfg``."""
    s = Summary()
    if not results:
        return s
    res = Results(results)
    names = [v for v in cfg.models if v in res]
    m0 = results[0].metrics  # ground truth and gray input: the same test images in every run
    gt = {"colourfulness": m0["gt_colourfulness"], "colour_variance": m0["gt_colour_variance"],
          "mean_saturation": m0["gt_mean_saturation"]}
    s.extra_metrics["ground-truth"] = {k: [v] for k, v in gt.items()} | {
        "test_mae": [0.0], "saturation_overlap": [1.0], "colourfulness_distance": [0.0], "hue_error": [0.0]}
    s.extra_metrics["gray-input"] = {"test_mae": [m0["gray_input_mae"]], "colourfulness": [0.0],
                                     "colour_variance": [0.0], "mean_saturation": [0.0],
                                     "colourfulness_distance": [m0["gray_colourfulness_distance"]]}

    ref = {(r.variant, r.metric): r.value for r in study.reference}
    cols = ["test_mae", "colourfulness", "colour_variance", "colourfulness_distance", "saturation_overlap",
            "hue_error"]
    rows = [[v, V.describe("", res.values(v, "test_mae")).strip(), ref.get((v, "test_mae"), "-")]
            + [res.mean(v, k) for k in cols[1:]] for v in names]
    rows.append(["ground truth", 0.0, "-", gt["colourfulness"], gt["colour_variance"], 0.0, 1.0, 0.0])
    rows.append(["gray input (Y in R, G, B)", m0["gray_input_mae"], "-", 0.0, 0.0,
                 m0["gray_colourfulness_distance"], "-", "-"])
    s.tables.append(Table(
        "T4.2: U-Net (MAE) vs cGAN: test MAE, vividness and realism of the colours (mean over seeds)",
        ["model", "test MAE", "ref. test MAE", "colourfulness", "colour variance",
         "colourfulness distance to truth (W1)", "saturation overlap with truth", "hue error (deg)"], rows,
        note="colourfulness: Hasler and Suesstrunk, 0..255 scale; W1: Wasserstein-1 distance between the "
             "per-image colourfulness of the model's images and the truth's; hue error: angle between predicted "
             "and true chroma, weighted by the predicted chroma."))

    # Figure 7: gray input, U-Net, cGAN, ground truth (lowest seed), per-image MAE and colour variance
    first = {v: res.first(v).arrays("panel") for v in names}
    a0 = first[names[0]]
    rows_img = [("gray input", a0["gray"])] + [(v, first[v]["pred"]) for v in names] + [("ground truth", a0["true"])]
    caps = {0: [f"MAE {e:.3f}\nvar 0" for e in a0["mae_gray"]]}
    for i, v in enumerate(names, start=1):
        caps[i] = [f"MAE {e:.3f}\nvar {c:.4f}" for e, c in zip(first[v]["mae"], first[v]["colour_variance"])]
    caps[len(names) + 1] = [f"MAE 0\nvar {c:.4f}" for c in a0["colour_variance_true"]]
    s.figures.append(image_grid(rows_img, out_dir, "fig7_colourisation.png",
                                "T4.2 (cf. reference Figure 7): gray input, U-Net (MAE), cGAN, ground truth "
                                "(lowest seed); per image: MAE and colour variance", captions=caps))

    # what MAE does not show: saturation histograms and per-image colourfulness
    fig, (ax1, ax2) = new_figure(10, 3.6, ncols=2)
    edges = a0["sat_edges"]
    centers = 0.5 * (edges[1:] + edges[:-1])
    ax1.plot(centers, a0["sat_hist_true"], color="black", lw=2, label="ground truth")
    for v in names:
        ax1.plot(centers, first[v]["sat_hist"], marker=".", label=v)
    ax1.set_yscale("log")
    ax1.set_xlabel("HSV saturation")
    ax1.set_ylabel("density (all test pixels)")
    ax1.legend(fontsize=7)
    data = [a0["colourfulness_true"]] + [first[v]["colourfulness"] for v in names]
    ax2.boxplot(data, showfliers=False)
    ax2.set_xticks(range(1, len(data) + 1), ["ground truth"] + names)
    ax2.set_ylabel("colourfulness per test image (0..255 scale)")
    fig.suptitle("T4.2 vividness: saturation histogram and Hasler-Suesstrunk colourfulness (lowest seed)",
                 fontsize=9)
    s.figures.append(save(fig, out_dir, "fig7b_vividness.png"))

    keys = ("test_mae", "colourfulness", "colour_variance", "colourfulness_distance", "saturation_overlap",
            "hue_error")
    metrics = {k: res.table(k, names) for k in keys}
    s.findings.extend(decide(metrics, m0["gray_input_mae"], m0["gray_colourfulness_distance"],
                             gt["colourfulness"], gt["colour_variance"]))
    kind = data_kind(cfg.data)
    s.notes.append(f"Data: {source_label(kind)}, {int(m0['n_train'])} training images, {int(m0['n_test'])} test "
                   f"images; U-Net width {cfg.width}, depth {cfg.depth}; {cfg.epochs} epochs; cGAN lambda "
                   f"{cfg.l1_weight:g}, discriminator ndf {cfg.ndf}, {cfg.d_layers} stride-2 layers.")
    s.notes.append("R45 is checked for MAE; colour variance is reported beside it: a higher colour variance is "
                   "not by itself more realistic (random vivid colours have a high variance too).")
    return s
