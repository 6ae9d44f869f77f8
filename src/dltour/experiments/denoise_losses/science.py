"""The science of ``denoise-losses``: its config, data, model, loss, training step and what a run
returns, top to bottom. The study (its setup, what we assumed, its profiles) is the package's
``__init__``; what the runs mean (claims, findings, tables, figures) is ``findings``."""

from __future__ import annotations

import contextlib
import math
from typing import Callable

import numpy as np
import torch
from pydantic import Field, field_validator

from dltour.bench import Trainer
from dltour.config import StudyConfig
from dltour.data.images import ImageData, images_for, panel_indices, split_indices, test_indices
from dltour.errors import DltourError
from dltour.experiments.denoise_losses.findings import READINGS, REF_EPOCHS
from dltour.losses import correntropy_loss, mae_loss, mse_loss
from dltour.metrics.image import psnr_from_mse
from dltour.models.unet import UNet
from dltour.registry import Study
from dltour.train import EarlyStopping, fit, iterate_minibatches
from dltour.train.augment import centre_crop, random_crop, to_float, to_uint8_nhwc
from dltour.train.optim import adam

VAL_NOISE_SEED, TEST_NOISE_SEED, PANEL_NOISE_SEED = 1001, 2002, 3003


# ================================================================ the data: noisy images
def fixed_noise(shape: tuple[int, ...], seed: int, start: int) -> torch.Tensor:
    """Noise for images ``start..start+B`` of a fixed evaluation set: generated on the CPU from
    (seed, start) so every device, loss and seed sees the same noisy images."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + start)
    return torch.randn(shape, generator=g)


def add_noise(clean: torch.Tensor, noise: torch.Tensor, std: float) -> torch.Tensor:
    """The noisy image: ``clean + std * noise``, clipped to [0, 1]."""
    return (clean + std * noise).clamp_(0.0, 1.0)


# ================================================================ the loss
def parse_loss(name: str, error: type[Exception] = DltourError) -> tuple[str, float | None, str | None]:
    """``"mse" -> ("mse", None, None)``, ``"corr-prec-1e4" -> ("correntropy", 1e4, "precision")``;
    an unknown name raises ``error`` (the config's validator asks for ``ValueError``)."""
    if name in ("mse", "mae"):
        return name, None, None
    parts = name.split("-", 2)
    if len(parts) == 3 and parts[0] == "corr" and parts[1] in READINGS:
        try:
            sigma = float(parts[2])
        except ValueError:
            sigma = -1.0
        if sigma > 0 and math.isfinite(sigma):
            return "correntropy", sigma, READINGS[parts[1]]
    raise error(f"unknown loss {name!r}: use mse, mae, corr-bw-<sigma> or corr-prec-<sigma> "
                      "(e.g. corr-prec-1e2)")


def make_loss(name: str):
    kind, sigma, scaling = parse_loss(name)
    if kind == "mse":
        return mse_loss
    if kind == "mae":
        return mae_loss
    return lambda pred, target: correntropy_loss(pred, target, sigma, scaling)


class Config(StudyConfig):
    data: ImageData = Field(default_factory=ImageData)
    """Where the images come from and how many of them are used."""
    losses: list[str] = Field(default_factory=lambda: [
        "mse", "mae", "corr-bw-1e2", "corr-bw-1e4", "corr-bw-1e6", "corr-prec-1e2", "corr-prec-1e4", "corr-prec-1e6"])
    """Training losses, one variant each: ``mse``, ``mae``, ``corr-bw-<sigma>`` (correntropy's
    definition, sigma a bandwidth: 1 - exp(-e^2 / (2 sigma^2))) or ``corr-prec-<sigma>`` (sigma a
    precision: 1 - exp(-sigma e^2), the reading of the reference's explanation)."""
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    """Share of the (cut) training images held out as the validation set early stopping watches."""
    noise_std: float = Field(0.1, gt=0, le=1)
    """Std of the additive Gaussian noise on the [0, 1] scale (the noisy image is clipped to [0, 1])."""
    width: int = Field(64, ge=1)
    """U-Net channels at the first level (doubling at each level down)."""
    depth: int = Field(3, ge=1, le=5)
    """U-Net down-sampling steps (32x32 inputs reach 4x4 at depth 3)."""
    epochs: int = Field(REF_EPOCHS, ge=1)
    """Epoch budget (the reference: 15)."""
    patience: int = Field(3, ge=1)
    """Early stopping: epochs without a lower validation loss before training stops."""
    batch_size: int = Field(128, ge=1)
    """Training images per step."""
    lr: float = Field(1e-3, gt=0)
    """Adam learning rate."""
    adam_eps: float = Field(1e-7, gt=0)
    """Adam's epsilon (Keras' default 1e-7; it bounds the step size when gradients are tiny)."""
    train_crop: int | None = Field(None, ge=4)
    """Train on random square crops of this side (one offset per batch) instead of whole images:
    the U-Net is fully convolutional, so a 16-pixel crop costs a quarter of a 32x32 image (demo only)."""
    val_crop: int | None = Field(None, ge=4)
    """Validate on the centre crop of this side of each validation image (demo only; test images
    are always scored whole)."""

    @field_validator("losses")
    @classmethod
    def _known_losses(cls, losses: list[str]) -> list[str]:
        if not losses or len(set(losses)) != len(losses):
            raise ValueError("losses must be a non-empty list without repeats")
        for name in losses:
            parse_loss(name, error=ValueError)
        return losses


# ================================================================ the training step (run, bench, model check)
def batch_loss(model: torch.nn.Module, loss_fn: Callable, noisy: torch.Tensor, clean: torch.Tensor,
               autocast=contextlib.nullcontext) -> torch.Tensor:
    """The training loss of one batch: the U-Net's output (under ``autocast``) against the clean
    images, in float32."""
    with autocast():
        out = model(noisy)
    return loss_fn(out.float(), clean)


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable, noisy: torch.Tensor,
               clean: torch.Tensor, autocast=contextlib.nullcontext) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on a batch; returns the loss and the global gradient L2 norm (the
    reference explains the sigma effect by gradient size), both as device scalars."""
    opt.zero_grad(set_to_none=True)
    loss = batch_loss(model, loss_fn, noisy, clean, autocast)
    loss.backward()
    gnorm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    opt.step()
    return loss.detach(), gnorm


def train_batches(X: torch.Tensor, cfg: Config, seed: int, epoch: int, channels_last: bool):
    """One epoch of (noisy, clean) float batches from uint8 images on the device: shuffled by
    (seed, epoch), randomly cropped, fresh noise (global RNG)."""
    for idx in iterate_minibatches(len(X), cfg.batch_size, seed, epoch, device=X.device):
        clean = to_float(random_crop(X[idx], cfg.train_crop), channels_last)
        yield add_noise(clean, torch.randn_like(clean), cfg.noise_std), clean


class Science(Study):
    """What one run of DenoiseLosses does (the study's declarations: the package's ``__init__``)."""
    Config = Config

    def build_model(self, cfg: Config, variant: str):
        return UNet(3, 3, cfg.width, cfg.depth)

    # ------------------------------------------------------------------ data on the device
    def _data(self, cfg: Config, dev: torch.device):
        train, test, kind = images_for(cfg.data)
        tr_idx, va_idx = split_indices(len(train), cfg.data.train_subset, cfg.val_fraction)
        te_idx = test_indices(len(test), cfg.data.test_subset)
        # uint8 NHWC on the device: 4x smaller than float, converted per batch there
        as_dev = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(dev)  # noqa: E731
        return as_dev(train.x[tr_idx]), as_dev(train.x[va_idx]), as_dev(test.x[te_idx]), kind

    def trainer(self, cfg: Config, variant: str, seed: int, device) -> Trainer:
        """The U-Net (channels_last on CUDA) and its Adam, trained on loss ``variant`` over the
        training images (uint8 on the device) in batches shuffled by (seed, epoch), randomly cropped,
        with fresh noise: what ``run``, ``dltour bench`` and the model check use."""
        dev = device.device
        cl = dev.type == "cuda"
        Xtr, Xva, Xte, _ = self._data(cfg, dev)
        model = self.build_model(cfg, variant).to(dev)
        if cl:
            model = model.to(memory_format=torch.channels_last)
        # fused: one kernel per step instead of a few per parameter (15% of a tiny CPU model's step)
        opt = adam(model.parameters(), cfg.lr, dev, eps=cfg.adam_eps)
        loss_fn = make_loss(variant)
        return Trainer(lambda noisy, clean: train_step(model, opt, loss_fn, noisy, clean, device.autocast),
                       lambda epoch: train_batches(Xtr, cfg, seed, epoch, cl), min(cfg.batch_size, len(Xtr)),
                       loss=lambda noisy, clean: batch_loss(model, loss_fn, noisy, clean, device.autocast),
                       modules=(model,),
                       state={"model": model, "opt": opt, "loss_fn": loss_fn, "train": Xtr, "val": Xva, "test": Xte},
                       note="uint8 images live on the device; conversion and noise happen there per batch")

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        dev = ctx.device.device
        cl = dev.type == "cuda"
        tr = self.trainer(cfg, variant, seed, ctx.device)
        model, opt, loss_fn = tr.state["model"], tr.state["opt"], tr.state["loss_fn"]
        Xtr, Xte = tr.state["train"], tr.state["test"]
        Xva = centre_crop(tr.state["val"], cfg.val_crop)

        def train_epoch(epoch: int) -> dict:
            model.train()
            total, gnorm, steps = torch.zeros((), device=dev), torch.zeros((), device=dev), 0
            for noisy, clean in tr.epoch_batches(epoch):
                loss, norm = tr.step(noisy, clean)
                gnorm += norm
                total += loss * len(clean)
                steps += 1
            return {"train_loss": float(total) / len(Xtr), "grad_norm": float(gnorm) / max(steps, 1)}

        def evaluate_set(X: torch.Tensor, noise_seed: int):
            model.eval()
            sums = {"loss": 0.0, "mse": 0.0, "mae": 0.0, "noisy_mse": 0.0}
            with torch.no_grad():
                for i in range(0, len(X), 256):
                    clean = to_float(X[i:i + 256], cl)
                    noisy = add_noise(clean, fixed_noise(tuple(clean.shape), noise_seed, i).to(dev), cfg.noise_std)
                    with ctx.device.autocast():
                        out = model(noisy).float()
                    n = clean.numel()
                    sums["loss"] += float(loss_fn(out, clean)) * len(clean)
                    sums["mse"] += float(((out - clean) ** 2).sum()) / n * len(clean)
                    sums["mae"] += float((out - clean).abs().sum()) / n * len(clean)
                    sums["noisy_mse"] += float(((noisy - clean) ** 2).sum()) / n * len(clean)
            return {k: v / len(X) for k, v in sums.items()}

        def evaluate(epoch: int) -> dict:
            m = evaluate_set(Xva, VAL_NOISE_SEED)
            return {"val_loss": m["loss"], "val_mse": m["mse"]}

        es = EarlyStopping(monitor="val_loss", patience=cfg.patience)
        res = fit(ctx, {"model": model, "opt": opt}, cfg.epochs, train_epoch, evaluate,
                  early_stopping=es, restore_best=True, checkpoint_every=5)
        test = evaluate_set(Xte, TEST_NOISE_SEED)
        with torch.no_grad():  # the example panel: images spread over the (class-sorted) test set
            clean = to_float(Xte[torch.from_numpy(panel_indices(len(Xte)))], cl)
            noisy = add_noise(clean, fixed_noise(tuple(clean.shape), PANEL_NOISE_SEED, 0).to(dev), cfg.noise_std)
            with ctx.device.autocast():
                out = model(noisy).float()
        ctx.save_arrays("panel", clean=to_uint8_nhwc(clean), noisy=to_uint8_nhwc(noisy), denoised=to_uint8_nhwc(out))
        return {"test_mse": test["mse"], "test_psnr": psnr_from_mse(test["mse"]), "test_mae": test["mae"],
                "noisy_input_mse": test["noisy_mse"], "noisy_input_psnr": psnr_from_mse(test["noisy_mse"]),
                "epochs_trained": res.epochs_trained, "best_epoch": res.best_epoch,
                "stopped_early": float(res.stopped_early), "first_epoch_grad_norm": res.history[0]["grad_norm"],
                "val_mse_first": res.history[0]["val_mse"], "n_train": len(Xtr), "n_test": len(Xte)}
