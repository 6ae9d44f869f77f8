"""The science of ``mnist-autoencoder``: its config, data, model, loss, training step and what a run
returns, top to bottom. The study (its setup, what we assumed, its profiles) is the package's
``__init__``; what the runs mean (claims, findings, tables, figures) is ``findings``."""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal

import numpy as np
import torch
from annotated_types import Ge, Le
from pydantic import Field, field_validator

from dltour.bench import Trainer
from dltour.config import StudyConfig
from dltour.data import mnist
from dltour.errors import DltourError
from dltour.experiments.mnist_autoencoder.findings import BASELINES, BEST, DEC, REF_EPOCHS, TUTORIAL
from dltour.metrics.clustering import embed_2d, kmeans_cluster_accuracy, knn_accuracy, manifold_clusters
from dltour.models.autoencoder import MLPAutoencoder, depth_sizes
from dltour.registry import Study
from dltour.train import fit, iterate_minibatches
from dltour.train.optim import make_optimizer

TUTORIAL_LR = {"adam": ("adam", 1e-3), "adadelta": ("adadelta", 1.0), "adadelta-tf": ("adadelta", 1e-3)}


class Config(StudyConfig):
    data: mnist.MnistData = Field(default_factory=mnist.MnistData)
    """Where the MNIST digits come from and how many of them are used."""
    depths: list[Annotated[int, Ge(1), Le(8)]] = Field(default_factory=lambda: [1, 2, 3, 4])
    """Encoder depths of the non-linear sweep (variants ``depth<N>``, each 1..8); 3 is the reference's best."""
    code: int = Field(50, ge=2, lt=784)
    """Code (representation) size of the depth sweep (Table 4: 50)."""
    codes: list[int] = Field(default_factory=lambda: [2, 10, 32])
    """Other code sizes tried at depth 3 (variants ``depth3-code<N>``): the code-size sweep."""
    linear_code: int = Field(32, ge=2)
    """Code size of the linear baselines (variants ``linear`` and ``tutorial``)."""
    tutorial_optimizer: Literal["adam", "adadelta", "adadelta-tf"] = "adam"
    """Optimiser of the ``tutorial`` variant: adam (lr 1e-3), adadelta (Keras 2's lr 1.0), adadelta-tf (lr 1e-3)."""
    baseline: Literal["linear", "tutorial"] = "tutorial"
    """Which reading of the reference's "linear model from the tutorial" R27 and R28 compare Table 4's with."""
    epochs: int = Field(REF_EPOCHS, ge=1)
    """Training epochs of every autoencoder (Table 4: 49)."""
    batch_size: int = Field(256, ge=1)
    """Training images per optimiser step."""
    lr: float | None = Field(None, gt=0)
    """Learning rate of ``optimizer``; None: its usual one (adam, rmsprop 1e-3; adadelta 1.0 as in Keras 2)."""
    loss: Literal["mse", "bce"] = "mse"
    """Training loss of the non-linear autoencoders: ``mse`` (the reference's) or ``bce`` (the Keras tutorial's)."""
    code_activation: Literal["relu", "linear"] = "relu"
    """Code-layer activation of the non-linear autoencoders: ``relu`` (Keras ``Dense(50, "relu")``) or ``linear``."""
    init: Literal["torch", "glorot"] = "torch"
    """Weight initialisation: ``torch`` (``nn.Linear``'s default) or ``glorot`` (Keras ``Dense``'s)."""
    optimizer: Literal["adam", "adadelta", "rmsprop"] = "adam"
    """Optimiser of every autoencoder but ``tutorial`` (the reference names none)."""
    val_size: int = Field(0, ge=0)
    """Validation split: the last N training images, held out (0: none, as the reference); runs report ``val_*``."""
    kmeans_restarts: int = Field(10, ge=1)
    """K-Means restarts (``n_init``)."""
    kmeans_every: bool = True
    """K-Means on the codes of every variant; False: only depth3 and linear (what R28 compares)."""
    tsne_points: int = Field(2000, ge=50)
    """Test codes embedded in 2-D by PCA and t-SNE (Figures 6, 15 and the R29 measure)."""
    clustering: bool = False
    """Also run ``dec``, DEC's autoencoder, its test codes clustered by K-Means and N2D's manifold step (issue 19)."""

    @field_validator("codes")
    @classmethod
    def _codes_below_pixels(cls, codes: list[int]) -> list[int]:
        if any(not 2 <= c < 784 for c in codes):
            raise ValueError(f"code sizes {codes} must be in 2..783 (fewer than the 784 pixels)")
        return codes


# ---------------------------------------------------------------------- the models: variant -> architecture
def code_variant(code: int) -> str:
    return f"{BEST}-code{code}"


def parse_variant(v: str, cfg: Config) -> tuple[list[int], bool]:
    """variant -> (encoder sizes, nonlinear)."""
    if v == "linear":
        return [784, cfg.linear_code], False
    if v == TUTORIAL:
        return [784, cfg.linear_code], True
    if v == DEC:  # DEC's (Xie et al. 2016) encoder: d-500-500-2000-10
        return [784, 500, 500, 2000, 10], True
    if v.startswith("depth"):
        head, _, code = v.partition("-code")
        if head[5:].isdigit() and (not code or code.isdigit()) and (code or not _):
            c = int(code) if code else cfg.code
            if 2 <= c < 784 and int(head[5:]) >= 1:
                return depth_sizes(int(head[5:]), 784, c), True
    raise DltourError(f"unknown variant {v!r}: depth<N>, depth3-code<N>, linear, tutorial or dec")


# ---------------------------------------------------------------------- the loss
def bce_loss(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the sigmoid outputs ``out`` against pixels ``x`` in [0, 1], mean
    over pixels and images (Keras ``binary_crossentropy``); logs clamped at -100 as in
    ``F.binary_cross_entropy``."""
    return torch.nn.functional.binary_cross_entropy(out, x)


def recon_loss(name: str):
    """The training loss by name: ``mse`` or ``bce`` (both batch means over pixels)."""
    if name == "mse":
        return torch.nn.functional.mse_loss
    if name == "bce":
        return bce_loss
    raise DltourError(f"unknown loss {name!r}: mse or bce")


# ---------------------------------------------------------------------- the training step (the trainer's)
def batch_loss(model: torch.nn.Module, loss_fn, xb: torch.Tensor, autocast=contextlib.nullcontext) -> torch.Tensor:
    """The reconstruction loss of a batch: the forward pass under ``autocast``, the loss in fp32
    outside it (BCE is not autocast-safe)."""
    with autocast():
        out = model(xb)
    return loss_fn(out.float(), xb)


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, loss_fn, xb: torch.Tensor,
               autocast=contextlib.nullcontext) -> torch.Tensor:
    """One optimiser step on a batch (``run`` and ``bench`` both train with it); returns the
    detached loss (a device scalar)."""
    opt.zero_grad(set_to_none=True)
    loss = batch_loss(model, loss_fn, xb, autocast)
    loss.backward()
    opt.step()
    return loss.detach()


class Science(Study):
    """What one run of MnistAutoencoder does (the study's declarations: the package's ``__init__``)."""
    Config = Config

    def build_model(self, cfg: Config, variant: str) -> MLPAutoencoder:
        sizes, nonlinear = parse_variant(variant, cfg)
        if variant == TUTORIAL:  # Keras Dense(32, relu) -> Dense(784, sigmoid), Keras's init
            return MLPAutoencoder(sizes, nonlinear=True, code_activation="relu", init="glorot")
        if variant == DEC:  # DEC's: ReLU hidden layers, a linear code
            return MLPAutoencoder(sizes, nonlinear=True, code_activation="linear", init=cfg.init)
        return MLPAutoencoder(sizes, nonlinear=nonlinear, code_activation=cfg.code_activation, init=cfg.init)

    @staticmethod
    def training_recipe(cfg: Config, variant: str) -> tuple[str, str, float | None]:
        """(loss, optimiser, lr) a variant trains with: the tutorial variant its own (binary
        cross-entropy and ``tutorial_optimizer``), the linear one MSE, the deep ones ``cfg``'s."""
        if variant == TUTORIAL:
            return ("bce", *TUTORIAL_LR[cfg.tutorial_optimizer])
        if variant == DEC:
            return "mse", cfg.optimizer, cfg.lr
        return (cfg.loss if parse_variant(variant, cfg)[1] else "mse"), cfg.optimizer, cfg.lr

    # ------------------------------------------------------------------ one run
    def trainer(self, cfg: Config, variant: str, seed: int, device) -> Trainer:
        """The variant's autoencoder and its optimiser (``training_recipe``), trained on the training
        images (less the validation split) on the device in minibatches shuffled by (seed, epoch):
        what ``run``, ``dltour bench`` and the model check use."""
        dev = device.device
        d = mnist.tensors_for(cfg.data, dev)
        X, Xval, yval = d["train_x"], None, None
        if cfg.val_size:
            if cfg.val_size >= len(X):
                raise DltourError(f"val_size {cfg.val_size} leaves no training images (of {len(X)})")
            X, Xval, yval = X[:-cfg.val_size], X[-cfg.val_size:], d["train_y"][-cfg.val_size:]
        model = self.build_model(cfg, variant).to(dev)
        loss_name, opt_name, lr = self.training_recipe(cfg, variant)
        opt = make_optimizer(model.parameters(), opt_name, lr, dev)
        loss_fn = recon_loss(loss_name)

        def epoch_batches(epoch: int):
            for idx in iterate_minibatches(len(X), cfg.batch_size, seed, epoch, device=dev):
                yield (X[idx],)

        return Trainer(lambda xb: train_step(model, opt, loss_fn, xb, device.autocast), epoch_batches,
                       min(cfg.batch_size, len(X)), loss=lambda xb: batch_loss(model, loss_fn, xb, device.autocast),
                       modules=(model,), state={"model": model, "opt": opt, "train_x": X, "val": (Xval, yval),
                                                "test": (d["test_x"], d["test_y"])},
                       note="MNIST held as one float tensor on the device; batches are index slices")

    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        dev = ctx.device.device
        tr = self.trainer(cfg, variant, seed, ctx.device)
        model, X = tr.state["model"], tr.state["train_x"]
        (Xte, yte), (Xval, yval) = tr.state["test"], tr.state["val"]

        def train_epoch(epoch: int) -> dict:
            model.train()
            total = torch.zeros((), device=dev)  # summed on the device: one host sync per epoch
            for (xb,) in tr.epoch_batches(epoch):
                total += tr.step(xb) * len(xb)
            return {"train_mse": float(total) / len(X)}

        def evaluate(epoch: int) -> dict:
            ev = {"test_mse": float(self._recon_mse(model, Xte).mean())}
            if Xval is not None:
                ev["val_mse"] = float(self._recon_mse(model, Xval).mean())
            return ev

        fit(ctx, {"model": model, "opt": tr.state["opt"]}, cfg.epochs, train_epoch, evaluate, checkpoint_every=5)
        per_image = self._recon_mse(model, Xte)
        with torch.no_grad():
            codes = torch.cat([model.encode(Xte[i:i + 2000]) for i in range(0, len(Xte), 2000)]).cpu().numpy()
            recon = model(Xte[:10]).cpu().numpy()
        labels = yte.cpu().numpy()
        acc = (kmeans_cluster_accuracy(codes, labels, k=10, seed=seed, n_init=cfg.kmeans_restarts)
               if cfg.kmeans_every or variant in (BEST, DEC, *BASELINES) else {})
        if variant == DEC:  # ours beyond the reference: N2D's manifold step on the codes
            acc.update(manifold_clusters(codes.astype(np.float64), labels, seed))
        arrays = {"labels": labels.astype(np.uint8), "recon10": recon.astype(np.float32)}
        out = {"test_mse": float(per_image.mean()), **acc,
               "params": sum(p.numel() for p in model.parameters()), "code_size": codes.shape[1]}
        if Xval is not None:  # the split settings are chosen by
            out["val_mse"] = float(self._recon_mse(model, Xval).mean())
            if cfg.kmeans_every or variant in (BEST, *BASELINES):
                with torch.no_grad():
                    vcodes = torch.cat([model.encode(Xval[i:i + 2000]) for i in range(0, len(Xval), 2000)])
                vacc = kmeans_cluster_accuracy(vcodes.cpu().numpy(), yval.cpu().numpy(), k=10, seed=seed,
                                               n_init=cfg.kmeans_restarts)
                out.update({f"val_{k}": v for k, v in vacc.items()})
        if variant == BEST:  # R29: how clearly each 2-D view separates the digits
            n = min(cfg.tsne_points, len(codes))
            views = embed_2d(codes[:n].astype(np.float64), seed)
            for k, xy in views.items():
                out[f"knn2d_{k}"] = knn_accuracy(xy, labels[:n], seed)
                arrays[f"{k}2d"] = xy.astype(np.float32)
        ctx.save_arrays(**arrays)
        return out

    @staticmethod
    @torch.no_grad()
    def _recon_mse(model, X: torch.Tensor) -> torch.Tensor:
        """Per-image MSE over the 784 pixels: (N,)."""
        model.eval()
        return torch.cat([((model(X[i:i + 2000]).float() - X[i:i + 2000]) ** 2).mean(1)
                          for i in range(0, len(X), 2000)])
