"""The science of ``colourise``: its config, data, model, loss, training step and what a run
returns, top to bottom. The study (its setup, what we assumed, its profiles) is the package's
``__init__``; what the runs mean (claims, findings, tables, figures) is ``findings``."""

from __future__ import annotations

import contextlib
from typing import Literal

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from dltour.bench import Trainer
from dltour.config import StudyConfig
from dltour.data.images import ImageData, images_for, panel_indices, split_indices, test_indices
from dltour.device import device_constant
from dltour.losses import gan_discriminator_loss, gan_generator_loss, mae_loss
from dltour.metrics.image import (colour_variance, colourfulness, distribution_distance, histogram_intersection,
                                  hue_error, saturation, saturation_histogram)
from dltour.models.patchgan import PatchDiscriminator
from dltour.models.unet import UNet
from dltour.registry import Study
from dltour.train import fit, iterate_minibatches
from dltour.train.augment import random_crop, to_float, to_uint8_nhwc
from dltour.train.optim import adam

VARIANTS = ("unet", "cgan")
SAT_BINS = 20
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601


# YUV (BT.601, analogue form): U = 0.492 (B - Y), V = 0.877 (R - Y); their ranges for RGB in [0, 1]
U_MAX, V_MAX = 0.436, 0.615


class Config(StudyConfig):
    data: ImageData = Field(default_factory=ImageData)
    """Where the images come from and how many of them are used."""
    models: list[Literal["unet", "cgan"]] = Field(default_factory=lambda: list(VARIANTS), min_length=1)
    """Which models to train: ``unet`` (MAE) and/or ``cgan`` (pix2pix)."""
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    """Share of the (cut) training images left out, as T3.2 holds them out for validation (unused here),
    so both studies train on the same images when it is the same."""
    width: int = Field(64, ge=1)
    """U-Net channels at the first level (doubling at each level down)."""
    depth: int = Field(3, ge=1, le=5)
    """U-Net down-sampling steps (32x32 inputs reach 4x4 at depth 3)."""
    epochs: int = Field(20, ge=1)
    """Training epochs of both models (the reference does not state its budget)."""
    batch_size: int = Field(128, ge=1)
    """Training images per step."""
    train_crop: int | None = Field(None, ge=4)
    """Train on random square crops of this side (one offset per batch) instead of whole images:
    the U-Net is fully convolutional (demo only; test images are always scored whole)."""
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

    @field_validator("models")
    @classmethod
    def _no_repeats(cls, models: list[str]) -> list[str]:
        if len(set(models)) != len(models):
            raise ValueError(f"models must not repeat a model, got {models}")
        return models


# ================================================================ the data and the model
def to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma."""
    w = device_constant(LUMA, rgb.device, rgb.dtype).view(1, 3, 1, 1)  # made once per device: no copy per step
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
    network only has to find colours. Chroma 0 (the sigmoid's midpoint) is the gray image, and the
    U-Net's last 1x1 convolution starts at zero, so training starts from the gray image exactly (a
    random head would start from random colours, worse than gray; its gradients still flow: the
    head's weight gradients are the features times the error)."""

    def __init__(self, width: int, depth: int):
        super().__init__()
        self.unet = UNet(1, 2, width, depth)
        nn.init.zeros_(self.unet.head.weight)
        nn.init.zeros_(self.unet.head.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        s = self.unet(y).float()  # (B, 2, H, W) in [0, 1]
        u = (2 * s[:, :1] - 1) * U_MAX
        v = (2 * s[:, 1:] - 1) * V_MAX
        return yuv_to_rgb(y.float(), u, v)


# ================================================================ the training step (run, bench, model check)
def new_models(cfg: Config, variant: str, dev: torch.device) -> dict:
    """The training state of a variant, as ``Colourise.trainer`` builds it: the ``Colouriser`` and its
    Adam; for ``cgan`` also the discriminator and its Adam (pix2pix: lr 2e-4, betas 0.5, 0.999)."""
    fmt = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    gen = Colouriser(cfg.width, cfg.depth).to(dev, memory_format=fmt)
    if variant == "unet":
        return {"model": gen, "opt": adam(gen.parameters(), cfg.lr_unet, dev)}
    disc = PatchDiscriminator(1, 3, cfg.ndf, cfg.d_layers).to(dev, memory_format=fmt)
    return {"model": gen, "disc": disc,
            "opt": adam(gen.parameters(), cfg.lr_gan, dev, betas=(0.5, 0.999)),
            "opt_d": adam(disc.parameters(), cfg.lr_gan, dev, betas=(0.5, 0.999))}


def unet_loss(gen: nn.Module, gray: torch.Tensor, rgb: torch.Tensor, autocast=contextlib.nullcontext) -> torch.Tensor:
    """The U-Net's training loss: MAE of its colouring (under ``autocast``) against the target, in float32."""
    with autocast():
        out = gen(gray)
    return mae_loss(out.float(), rgb)


def discriminator_loss(disc: nn.Module, gray, rgb, fake, autocast=contextlib.nullcontext) -> torch.Tensor:
    """D's loss: real pairs -> 1, generated pairs -> 0 (G's output detached), halved."""
    with autocast():
        d_real, d_fake = disc(gray, rgb), disc(gray, fake.detach())
    return gan_discriminator_loss(d_real, d_fake)


def generator_loss(disc: nn.Module, gray, rgb, fake, l1_weight: float, autocast=contextlib.nullcontext):
    """G's loss (total, adversarial, L1): fool D and stay near the target in L1."""
    with autocast():
        d_fake = disc(gray, fake)
    return gan_generator_loss(d_fake, fake, rgb, l1_weight)


def train_step(state: dict, gray: torch.Tensor, rgb: torch.Tensor, l1_weight: float,
               autocast=contextlib.nullcontext) -> dict[str, torch.Tensor]:
    """One training step on a batch (the U-Net: one Adam step on MAE; the cGAN: one D step, then
    one G step); returns its losses as device scalars."""
    gen, opt = state["model"], state["opt"]
    if "disc" not in state:
        opt.zero_grad(set_to_none=True)
        loss = unet_loss(gen, gray, rgb, autocast)
        loss.backward()
        opt.step()
        return {"train_l1": loss.detach()}
    disc, opt_d = state["disc"], state["opt_d"]
    with autocast():
        fake = gen(gray)
    opt_d.zero_grad(set_to_none=True)
    d_loss = discriminator_loss(disc, gray, rgb, fake, autocast)
    d_loss.backward()
    opt_d.step()
    opt.zero_grad(set_to_none=True)
    g_loss, adv, l1 = generator_loss(disc, gray, rgb, fake, l1_weight, autocast)
    g_loss.backward()
    opt.step()
    return {"train_l1": l1.detach(), "d_loss": d_loss.detach(), "g_adv": adv.detach()}


def train_batches(X: torch.Tensor, cfg: Config, seed: int, epoch: int, channels_last: bool):
    """One epoch of (gray, rgb) float batches from uint8 images on the device: shuffled by (seed,
    epoch), randomly cropped."""
    for idx in iterate_minibatches(len(X), cfg.batch_size, seed, epoch, device=X.device):
        rgb = to_float(random_crop(X[idx], cfg.train_crop), channels_last)
        yield to_gray(rgb), rgb


class Science(Study):
    """What one run of Colourise does (the study's declarations: the package's ``__init__``)."""
    Config = Config

    # ------------------------------------------------------------------ data
    def _data(self, cfg: Config, dev: torch.device):
        train, test, kind = images_for(cfg.data)
        tr_idx, _ = split_indices(len(train), cfg.data.train_subset, cfg.val_fraction)  # T3.2's training images
        te_idx = test_indices(len(test), cfg.data.test_subset)
        as_dev = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dev)  # noqa: E731
        return as_dev(train.x[tr_idx]), as_dev(test.x[te_idx]), kind

    def trainer(self, cfg: Config, variant: str, seed: int, device) -> Trainer:
        """The ``Colouriser`` and its Adam (``cgan``: also the discriminator and its Adam) trained on
        (gray, RGB) batches of the training images (uint8 on the device) shuffled by (seed, epoch)
        and randomly cropped: what ``run``, ``dltour bench`` and the model check use. ``state``: the
        models and optimizers (what ``run`` checkpoints) and the test images."""
        dev = device.device
        cl = dev.type == "cuda"
        Xtr, Xte, _ = self._data(cfg, dev)
        state = new_models(cfg, variant, dev)
        gen, disc = state["model"], state.get("disc")

        def loss(gray, rgb):  # the U-Net's MAE; the cGAN's D loss + G loss (on one generated batch)
            if disc is None:
                return unet_loss(gen, gray, rgb, device.autocast)
            with device.autocast():
                fake = gen(gray)
            return (discriminator_loss(disc, gray, rgb, fake, device.autocast)
                    + generator_loss(disc, gray, rgb, fake, cfg.l1_weight, device.autocast)[0])

        return Trainer(lambda gray, rgb: train_step(state, gray, rgb, cfg.l1_weight, device.autocast),
                       lambda epoch: train_batches(Xtr, cfg, seed, epoch, cl), min(cfg.batch_size, len(Xtr)),
                       loss=loss, modules=(gen,) if disc is None else (gen, disc),
                       state={"models": state, "train": Xtr, "test": Xte},
                       note="uint8 images live on the device; conversion to float and gray happens there")

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        dev = ctx.device.device
        cl = dev.type == "cuda"
        tr = self.trainer(cfg, variant, seed, ctx.device)
        state, Xtr, Xte = tr.state["models"], tr.state["train"], tr.state["test"]
        gen = state["model"]

        def train_epoch(epoch: int) -> dict:
            for m in state.values():
                if isinstance(m, nn.Module):
                    m.train()
            sums = {}
            for gray, rgb in tr.epoch_batches(epoch):
                for k, v in tr.step(gray, rgb).items():
                    sums[k] = sums.get(k, 0) + v * len(rgb)
            return {k: float(v) / len(Xtr) for k, v in sums.items()}

        fit(ctx, state, cfg.epochs, train_epoch, checkpoint_every=max(1, cfg.epochs // 2))

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
        c_pred, c_true = colourfulness(pred), colourfulness(true)
        pi = panel_indices(len(pred))  # images spread over the (class-sorted) test set
        ctx.save_arrays("panel", gray=(gray[pi, ..., 0] * 255).round().astype(np.uint8),
                        pred=to_uint8_nhwc(torch.from_numpy(pred[pi]).permute(0, 3, 1, 2)),
                        true=to_uint8_nhwc(torch.from_numpy(true[pi]).permute(0, 3, 1, 2)),
                        mae=np.abs(pred[pi] - true[pi]).mean(axis=(1, 2, 3)), colour_variance=colour_variance(pred[pi]),
                        mae_gray=np.abs(gray3[pi] - true[pi]).mean(axis=(1, 2, 3)),
                        colour_variance_true=colour_variance(true[pi]),
                        sat_hist=h_pred, sat_hist_true=h_true, sat_edges=edges,
                        colourfulness=c_pred, colourfulness_true=c_true)
        return {"test_mae": float(np.abs(pred - true).mean()), "test_mse": float(((pred - true) ** 2).mean()),
                "colourfulness": float(c_pred.mean()), "colour_variance": float(colour_variance(pred).mean()),
                "mean_saturation": float(saturation(pred).mean()),
                "saturation_overlap": histogram_intersection(h_pred, h_true),
                "colourfulness_distance": distribution_distance(c_pred, c_true),
                "hue_error": float(np.nanmean(hue_error(pred, true))),
                "gt_colourfulness": float(c_true.mean()), "gt_colour_variance": float(colour_variance(true).mean()),
                "gt_mean_saturation": float(saturation(true).mean()),
                "gray_input_mae": float(np.abs(gray3 - true).mean()),
                "gray_colourfulness_distance": distribution_distance(np.zeros_like(c_true), c_true),
                "n_train": len(Xtr), "n_test": len(Xte)}

    def build_model(self, cfg: Config, variant: str):
        gen = Colouriser(cfg.width, cfg.depth)
        if variant == "unet":
            return gen
        return torch.nn.ModuleDict({"generator": gen, "discriminator": PatchDiscriminator(1, 3, cfg.ndf, cfg.d_layers)})
