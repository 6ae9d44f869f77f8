"""T4.2 ``colourise``: colour grayscale images with a U-Net trained on MAE and with a conditional
GAN (pix2pix: U-Net generator, patch discriminator, L1 + adversarial loss); compare test MAE with
measures of how vivid the colours are (reference Figure 7 and its text).

Run it::

    dltour run colourise                   # demo: embedded CIFAR-10 subset, U-Net and cGAN x 1 seed
    dltour run colourise --profile full    # CIFAR-100 (downloaded), 3 seeds, GPU
    dltour run colourise --set data.path=DIR --set train_limit=5000   # any [train|test]/<class>/ folder

Measured (2 CPU cores shared with four other jobs, load average 10-12, ``OMP_NUM_THREADS=1``;
a quiet machine is several times faster, the user CPU time is the better guide):

- ``demo`` (embedded CIFAR-10: 900 training images, 1000 test images, 8 epochs; generator
  width 8, depth 2: 29,490 parameters, discriminator ndf 16: 43,217): 57 s wall, 25 s user CPU.
  Test MAE U-Net 0.0465, cGAN 0.0686 (gray input 0.0480); colourfulness U-Net 9.4, cGAN 36.4,
  ground truth 30.3.
- the same on the CIFAR-10 JPEGs of ``../shared/data`` (extracted to a folder), 4500 training
  images, all 10,000 test images (``--set data.path=.../CIFAR-10-images --set train_limit=5000``):
  660 s wall, 105 s user CPU. Test MAE U-Net 0.0445, cGAN 0.0581 (gray input 0.0485; reference
  0.045 and 0.046); colourfulness U-Net 14.1, cGAN 33.4, ground truth 30.6; saturation-histogram
  overlap with the truth U-Net 0.82, cGAN 0.97. Both of the reference's claims hold; the cGAN's
  MAE gap is larger than the reference's.

Setup (the reference states the two models, MAE for the U-Net, the cGAN of Mirza and Osindero,
CIFAR-100 as in T3.2 and the test MAE: 0.045 U-Net, 0.046 cGAN; the rest is ours and follows
pix2pix, Isola et al. 2017, where the reference is silent):

- data: as T3.2 (``dltour.experiments.denoise_losses.load_images``): CIFAR-100 in ``full``, the
  embedded CIFAR-10 subset in ``demo``, any image folder via ``--set data.path=...``;
- input: the luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, what PIL's ``convert("L")``
  computes) as one channel in [0, 1]; target: the RGB image in [0, 1];
- output: the U-Net (``UNet(1, 2, width, depth)``) predicts the chroma U, V (YUV, BT.601) and the
  RGB image is assembled from the input Y and them (``Colouriser``), so brightness is kept exactly
  and an untrained model outputs the gray image (the reference does not say how its models
  output colour; predicting RGB directly made our small demo models worse than the gray input);
- ``unet``: the ``Colouriser`` trained on MAE (RGB, [0, 1]) with Adam (lr 1e-3);
- ``cgan``: the same ``Colouriser`` as generator, ``PatchDiscriminator`` (conditioned on the gray input,
  2 stride-2 layers, ``ndf`` filters, 6x6 logits of 34x34-pixel patches on 32x32 images); pix2pix's
  objective ``BCE(D(x, G(x)), 1) + lambda * L1`` with ``lambda = l1_weight`` = 100, D's loss
  halved, one D step then one G step per batch, Adam lr 2e-4, betas (0.5, 0.999), no noise input
  (pix2pix relies on dropout for stochasticity; our generator is deterministic);
- both train for ``epochs`` epochs with the same batches; no early stopping (the reference does
  not mention one for T4.2);
- metrics on the test set: MAE (and MSE) on [0, 1]; vividness: Hasler-Suesstrunk colourfulness
  (0..255 scale), per-image colour variance (mean squared distance of each pixel from its gray
  level), mean HSV saturation and the saturation histogram, each also for the ground truth; the
  intersection of each model's saturation histogram with the ground truth's (1 = same).
  ``gray-input`` (Y copied to R, G, B) is the MAE floor row: it has zero colourfulness.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import Field
from torch import nn

from dltour import DltourError
from dltour.experiments.denoise_losses import (ImageDataConfig, data_kind, load_images, panel_indices, random_crop,
                                               source_label, split_indices, test_indices, to_float, to_uint8_nhwc)
from dltour.losses import gan_discriminator_loss, gan_generator_loss, mae_loss
from dltour.metrics.image import (colour_variance, colourfulness, histogram_intersection, saturation,
                                  saturation_histogram)
from dltour.models.patchgan import PatchDiscriminator
from dltour.models.unet import UNet
from dltour.plots import new_figure, save
from dltour.registry import Finding, Ref, RunResult, Study, Summary, by_variant, register
from dltour.train import fit, iterate_minibatches

VARIANTS = ("unet", "cgan")
SAT_BINS = 20
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601


# YUV (BT.601, analogue form): U = 0.492 (B - Y), V = 0.877 (R - Y); their ranges for RGB in [0, 1]
U_MAX, V_MAX = 0.436, 0.615


def to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma."""
    w = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * w).sum(dim=1, keepdim=True)


def yuv_to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) each -> (B, 3, H, W), the exact inverse of Y = 0.299 R + 0.587 G + 0.114 B,
    U = 0.492 (B - Y), V = 0.877 (R - Y); clipped to [0, 1]."""
    r = y + v / 0.877
    b = y + u / 0.492
    g = (y - LUMA[0] * r - LUMA[2] * b) / LUMA[1]
    return torch.cat([r, g, b], dim=1).clamp(0.0, 1.0)


class Colouriser(nn.Module):
    """A U-Net that predicts the two chroma channels (U, V) of an image from its luma Y; the RGB
    output is assembled from the given Y and the predicted U, V, so brightness is the input's and the
    network only has to find colours. Chroma 0 (the sigmoid's midpoint, where training starts) is the
    gray image."""

    def __init__(self, width: int, depth: int):
        super().__init__()
        self.unet = UNet(1, 2, width, depth)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        s = self.unet(y).float()  # (B, 2, H, W) in [0, 1]
        u = (2 * s[:, :1] - 1) * U_MAX
        v = (2 * s[:, 1:] - 1) * V_MAX
        return yuv_to_rgb(y.float(), u, v)


class Config(ImageDataConfig):
    models: list[str] = Field(default_factory=lambda: list(VARIANTS))
    """Which models to train: ``unet`` (MAE) and/or ``cgan`` (pix2pix)."""
    epochs: int = Field(20, ge=1)
    lr_unet: float = Field(1e-3, gt=0)
    """Adam learning rate of the MAE U-Net."""
    lr_gan: float = Field(2e-4, gt=0)
    """Adam learning rate of the cGAN's generator and discriminator (pix2pix; betas 0.5, 0.999)."""
    l1_weight: float = Field(100.0, ge=0)
    """lambda of pix2pix: weight of the L1 term against the adversarial term."""
    ndf: int = Field(64, ge=1)
    """Discriminator filters in its first layer."""
    d_layers: int = Field(2, ge=1, le=4)
    """Stride-2 layers of the patch discriminator."""


@register
class Colourise(Study):
    name = "colourise"
    task = "T4.2"
    title = "Colourising grayscale images: U-Net on MAE vs conditional GAN (pix2pix); MAE vs vividness"
    Config = Config
    profiles = {
        "smoke": {"data_source": "embedded", "train_limit": 48, "test_limit": 16, "width": 4, "depth": 1,
                  "ndf": 4, "epochs": 2, "batch_size": 64, "seeds": 1},
        "demo": {"data_source": "embedded", "train_limit": 1000, "width": 8, "depth": 2, "ndf": 16,
                 "epochs": 8, "batch_size": 32, "seeds": 1},
        "full": {"data_source": "download", "width": 64, "depth": 3, "ndf": 64, "epochs": 20, "batch_size": 128,
                 "seeds": 3},
    }
    reference = [
        Ref("Section 4.2", "unet", "test_mae", 0.045, "the reference's text; its Figure 7 shows the images"),
        Ref("Section 4.2", "cgan", "test_mae", 0.046, "the reference's text; its Figure 7 shows the images"),
    ]
    headline_metrics = ["test_mae", "colourfulness", "colour_variance", "mean_saturation"]

    def variants(self, cfg: Config) -> list[str]:
        bad = [m for m in cfg.models if m not in VARIANTS]
        if bad or not cfg.models or len(set(cfg.models)) != len(cfg.models):
            raise DltourError(f"models must be a non-empty subset of {list(VARIANTS)}, got {cfg.models}")
        return list(cfg.models)

    def run_key(self, cfg: Config, variant: str) -> dict:
        d = super().run_key(cfg, variant)
        d.pop("models")
        if variant == "unet":  # the U-Net does not depend on the GAN's settings
            for k in ("lr_gan", "l1_weight", "ndf", "d_layers"):
                d.pop(k)
        else:
            d.pop("lr_unet")
        return d

    def build_model(self, cfg: Config, variant: str):
        gen = Colouriser(cfg.width, cfg.depth)
        if variant == "unet":
            return gen
        return torch.nn.ModuleDict({"generator": gen, "discriminator": PatchDiscriminator(1, 3, cfg.ndf, cfg.d_layers)})

    def comparable(self, cfg: Config) -> bool:
        return data_kind(cfg.data_source, cfg.data.path) == "cifar100"

    # ------------------------------------------------------------------ data
    def _data(self, cfg: Config, dev: torch.device):
        train, test, kind = load_images(cfg.data_source, cfg.data.path, cfg.image_size)
        tr_idx, _ = split_indices(len(train), cfg.train_limit, cfg.val_fraction)  # same training images as T3.2
        te_idx = test_indices(len(test), cfg.test_limit)
        as_dev = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dev)  # noqa: E731
        return as_dev(train.x[tr_idx]), as_dev(test.x[te_idx]), kind

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        dev = ctx.device.device
        cl = dev.type == "cuda"
        Xtr, Xte, kind = self._data(cfg, dev)
        fmt = torch.channels_last if cl else torch.contiguous_format
        gen = Colouriser(cfg.width, cfg.depth).to(dev, memory_format=fmt)
        bs = cfg.batch_size
        if variant == "unet":
            opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr_unet)
            state = {"model": gen, "opt": opt}
        else:
            disc = PatchDiscriminator(1, 3, cfg.ndf, cfg.d_layers).to(dev, memory_format=fmt)
            opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr_gan, betas=(0.5, 0.999))
            opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_gan, betas=(0.5, 0.999))
            state = {"model": gen, "disc": disc, "opt": opt, "opt_d": opt_d}

        def train_epoch(epoch: int) -> dict:
            gen.train()
            sums = {"train_l1": torch.zeros((), device=dev)}
            if variant == "cgan":
                disc.train()
                sums.update(d_loss=torch.zeros((), device=dev), g_adv=torch.zeros((), device=dev))
            for idx in iterate_minibatches(len(Xtr), bs, seed, epoch, device=dev):
                rgb = to_float(random_crop(Xtr[idx], cfg.train_crop), cl)
                gray = to_gray(rgb)
                n = len(idx)
                if variant == "unet":
                    opt.zero_grad(set_to_none=True)
                    with ctx.device.autocast():
                        out = gen(gray)
                    loss = mae_loss(out.float(), rgb)
                    loss.backward()
                    opt.step()
                    sums["train_l1"] += loss.detach() * n
                    continue
                with ctx.device.autocast():
                    fake = gen(gray)
                # discriminator: real pairs -> 1, generated pairs -> 0 (G's output detached)
                opt_d.zero_grad(set_to_none=True)
                with ctx.device.autocast():
                    d_real, d_fake = disc(gray, rgb), disc(gray, fake.detach())
                d_loss = gan_discriminator_loss(d_real, d_fake)
                d_loss.backward()
                opt_d.step()
                # generator: fool D and stay near the target in L1
                opt.zero_grad(set_to_none=True)
                with ctx.device.autocast():
                    d_fake = disc(gray, fake)
                g_loss, adv, l1 = gan_generator_loss(d_fake, fake, rgb, cfg.l1_weight)
                g_loss.backward()
                opt.step()
                sums["train_l1"] += l1.detach() * n
                sums["d_loss"] += d_loss.detach() * n
                sums["g_adv"] += adv.detach() * n
            return {k: float(v) / len(Xtr) for k, v in sums.items()}

        fit(ctx, state, cfg.epochs, train_epoch, checkpoint_every=max(1, cfg.epochs // 5))

        # test: MAE and vividness over every test image
        gen.eval()
        preds, truths, grays = [], [], []
        with torch.no_grad():
            for i in range(0, len(Xte), 256):
                rgb = to_float(Xte[i:i + 256], cl)
                gray = to_gray(rgb)
                with ctx.device.autocast():
                    out = gen(gray).float()
                preds.append(out.permute(0, 2, 3, 1).cpu().numpy())  # (B, H, W, 3)
                truths.append(rgb.permute(0, 2, 3, 1).cpu().numpy())
                grays.append(gray.permute(0, 2, 3, 1).cpu().numpy())  # (B, H, W, 1)
        pred, true, gray = np.concatenate(preds), np.concatenate(truths), np.concatenate(grays)
        gray3 = np.repeat(gray, 3, axis=-1)
        h_pred, edges = saturation_histogram(pred, SAT_BINS)
        h_true, _ = saturation_histogram(true, SAT_BINS)
        pi = panel_indices(len(pred)).numpy()  # images spread over the (class-sorted) test set
        ctx.save_arrays("panel", gray=(gray[pi, ..., 0] * 255).round().astype(np.uint8),
                        pred=to_uint8_nhwc(torch.from_numpy(pred[pi]).permute(0, 3, 1, 2)),
                        true=to_uint8_nhwc(torch.from_numpy(true[pi]).permute(0, 3, 1, 2)),
                        sat_hist=h_pred, sat_hist_true=h_true, sat_edges=edges,
                        colourfulness=colourfulness(pred), colourfulness_true=colourfulness(true))
        return {"test_mae": float(np.abs(pred - true).mean()), "test_mse": float(((pred - true) ** 2).mean()),
                "colourfulness": float(colourfulness(pred).mean()), "colour_variance": float(colour_variance(pred).mean()),
                "mean_saturation": float(saturation(pred).mean()),
                "saturation_overlap": histogram_intersection(h_pred, h_true),
                "gt_colourfulness": float(colourfulness(true).mean()), "gt_colour_variance": float(colour_variance(true).mean()),
                "gt_mean_saturation": float(saturation(true).mean()),
                "gray_input_mae": float(np.abs(gray3 - true).mean()), "n_train": len(Xtr), "n_test": len(Xte)}

    # ------------------------------------------------------------------ summary
    def summarize(self, cfg: Config, results: list[RunResult], out_dir: Path) -> Summary:
        s = Summary()
        if not results:
            return s
        by = by_variant(results)
        names = [v for v in cfg.models if v in by]
        mean = lambda v, k: float(np.mean([r.metrics[k] for r in by[v]]))  # noqa: E731
        m0 = results[0].metrics  # ground truth and gray input: the same test images in every run
        gt = {"colourfulness": m0["gt_colourfulness"], "colour_variance": m0["gt_colour_variance"],
              "mean_saturation": m0["gt_mean_saturation"]}
        s.extra_metrics["ground-truth"] = {k: [v] for k, v in gt.items()} | {"test_mae": [0.0], "saturation_overlap": [1.0]}
        s.extra_metrics["gray-input"] = {"test_mae": [m0["gray_input_mae"]], "colourfulness": [0.0],
                                         "colour_variance": [0.0], "mean_saturation": [0.0]}

        ref = {(r.variant, r.metric): r.value for r in self.reference}
        rows = ["| model | test MAE | ref. test MAE | colourfulness | colour variance | mean saturation | saturation-histogram overlap with truth |",
                "|---|---|---|---|---|---|---|"]
        for v in names:
            rows.append(f"| {v} | {mean(v, 'test_mae'):.4f} | {ref.get((v, 'test_mae'), '-')} | {mean(v, 'colourfulness'):.2f} | "
                        f"{mean(v, 'colour_variance'):.5f} | {mean(v, 'mean_saturation'):.3f} | {mean(v, 'saturation_overlap'):.3f} |")
        rows.append(f"| ground truth | 0 | - | {gt['colourfulness']:.2f} | {gt['colour_variance']:.5f} | {gt['mean_saturation']:.3f} | 1 |")
        rows.append(f"| gray input (Y in R, G, B) | {m0['gray_input_mae']:.4f} | - | 0 | 0 | 0 | - |")
        s.tables.append({"title": "T4.2: U-Net (MAE) vs cGAN: test MAE and vividness (mean over seeds; "
                                  "colourfulness of Hasler and Suesstrunk on the 0..255 scale)", "markdown": "\n".join(rows)})

        # Figure 7: gray input, U-Net, cGAN, ground truth (seed 0), and the saturation histograms
        first = {v: min(by[v], key=lambda r: r.seed).arrays("panel") for v in names}
        a0 = first[names[0]]
        k = len(a0["true"])
        rows_img = [("gray input", a0["gray"])] + [(v, first[v]["pred"]) for v in names] + [("ground truth", a0["true"])]
        fig, axes = new_figure(1.1 * k + 1.4, 1.15 * len(rows_img), ncols=k, nrows=len(rows_img), squeeze=False)
        for i, (label, imgs) in enumerate(rows_img):
            for j in range(k):
                ax = axes[i][j]
                ax.imshow(imgs[j], cmap="gray" if imgs.ndim == 3 else None, vmin=0, vmax=255, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
            axes[i][0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
        fig.suptitle("T4.2 (cf. reference Figure 7): gray input, U-Net (MAE), cGAN, ground truth (seed 0)", fontsize=9)
        s.figures.append(save(fig, out_dir, "fig7_colourisation.png"))

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
        fig.suptitle("T4.2 vividness: saturation histogram and Hasler-Suesstrunk colourfulness (seed 0)", fontsize=9)
        s.figures.append(save(fig, out_dir, "fig7b_vividness.png"))

        if "unet" in by and "cgan" in by:
            mu, mg = mean("unet", "test_mae"), mean("cgan", "test_mae")
            s.findings.append(Finding("unet-mae-le-cgan", "By test MAE the U-Net is at least as good as the cGAN "
                                      "(reference: 0.045 vs 0.046)", mu <= mg, f"U-Net {mu:.4f}, cGAN {mg:.4f}"))
            cu, cg = mean("unet", "colourfulness"), mean("cgan", "colourfulness")
            s.findings.append(Finding(
                "cgan-colourfulness-closer", "The cGAN's colours are more vivid: its colourfulness is closer to the "
                "ground truth's than the U-Net's", abs(cg - gt["colourfulness"]) < abs(cu - gt["colourfulness"]),
                f"colourfulness: ground truth {gt['colourfulness']:.2f}, U-Net {cu:.2f}, cGAN {cg:.2f}"))
            ou, og = mean("unet", "saturation_overlap"), mean("cgan", "saturation_overlap")
            s.findings.append(Finding(
                "cgan-saturation-closer", "The cGAN's saturation histogram overlaps the ground truth's more than the "
                "U-Net's (our check)", og > ou, f"overlap with truth: U-Net {ou:.3f}, cGAN {og:.3f}; mean saturation "
                f"truth {gt['mean_saturation']:.3f}, U-Net {mean('unet', 'mean_saturation'):.3f}, "
                f"cGAN {mean('cgan', 'mean_saturation'):.3f}"))
        maes = {v: mean(v, "test_mae") for v in names}
        s.findings.append(Finding(
            "beats-gray-input", "Every model's test MAE is below that of the gray input copied to R, G, B (our check: "
            "the floor a colouriser must beat)", all(m < m0["gray_input_mae"] for m in maes.values()),
            f"gray input {m0['gray_input_mae']:.4f}; " + ", ".join(f"{v} {m:.4f}" for v, m in maes.items())))
        kind = data_kind(cfg.data_source, cfg.data.path)
        s.notes.append(f"Data: {source_label(kind)}, {int(m0['n_train'])} training images, {int(m0['n_test'])} test "
                       f"images; U-Net width {cfg.width}, depth {cfg.depth}; {cfg.epochs} epochs; cGAN lambda "
                       f"{cfg.l1_weight:g}, discriminator ndf {cfg.ndf}, {cfg.d_layers} stride-2 layers.")
        return s

    # ------------------------------------------------------------------ bench
    def bench(self, cfg: Config, ctx) -> dict:
        from dltour.bench import measure_training

        dev = ctx.device.device
        cl = dev.type == "cuda"
        Xtr, _, _ = self._data(cfg, dev)
        fmt = torch.channels_last if cl else torch.contiguous_format
        gen = Colouriser(cfg.width, cfg.depth).to(dev, memory_format=fmt)
        disc = PatchDiscriminator(1, 3, cfg.ndf, cfg.d_layers).to(dev, memory_format=fmt)
        opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr_gan, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_gan, betas=(0.5, 0.999))
        bs = min(cfg.batch_size, len(Xtr))

        def step(gray, rgb):  # one cGAN step (D then G), the costlier variant
            fake = gen(gray)
            opt_d.zero_grad(set_to_none=True)
            gan_discriminator_loss(disc(gray, rgb), disc(gray, fake.detach())).backward()
            opt_d.step()
            opt.zero_grad(set_to_none=True)
            gan_generator_loss(disc(gray, fake), fake, rgb, cfg.l1_weight)[0].backward()
            opt.step()

        def real_batches():
            epoch = 0
            while True:
                for idx in iterate_minibatches(len(Xtr), bs, 0, epoch, device=dev):
                    if len(idx) < bs:
                        continue
                    rgb = to_float(random_crop(Xtr[idx], cfg.train_crop), cl)
                    yield to_gray(rgb), rgb
                epoch += 1

        rgb = to_float(random_crop(Xtr[:bs], cfg.train_crop), cl)
        return measure_training(step, real_batches(), (to_gray(rgb), rgb), bs, ctx.device, variant="cgan",
                                note="uint8 images live on the device; conversion to float and gray happens there")

