"""The science of ``mnist-generative``: its config, data, model, loss, training step and what a run
returns, top to bottom. The study (its setup, what we assumed, its profiles) is the package's
``__init__``; what the runs mean (claims, findings, tables, figures) is ``findings``."""

from __future__ import annotations

import contextlib
from typing import Literal

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator

from dltour.bench import Trainer
from dltour.config import StudyConfig
from dltour.data import mnist
from dltour.data.mnist import MnistData
from dltour.errors import DltourError
from dltour.experiments.mnist_generative.findings import GANS, GRID_SEED, JUDGES, VAES, entropy_key, is_key
from dltour.metrics.inception import judged, signature
from dltour.models.gan import GAN, gan_d_loss, gan_g_loss, gan_train_step
from dltour.models.mnist_classifier import load_judge, predict_proba
from dltour.models.vae import VAE, reconstruction_mae, vae_loss
from dltour.registry import Study
from dltour.train import adam, fit, iterate_minibatches


class Config(StudyConfig):
    data: MnistData = Field(default_factory=MnistData)
    """Where the MNIST digits come from and how many of them are used."""
    vae_epochs: int = Field(50, ge=1)
    """Training epochs of each VAE."""
    gan_epochs: int = Field(100, ge=1)
    """Training epochs of each GAN (one discriminator and one generator step per batch)."""
    vae_batch_size: int = Field(128, ge=1)
    """Training images per VAE optimiser step."""
    gan_batch_size: int = Field(128, ge=1)
    """Real images per GAN step (one discriminator and one generator update)."""
    vae_lr: float = Field(1e-3, gt=0)
    """Adam learning rate of the VAEs."""
    gan_lr: float = Field(2e-4, gt=0)
    """Adam learning rate of both GAN networks (the DCGAN recipe's 2e-4)."""
    gan_beta1: float = Field(0.5, ge=0, lt=1)
    """Adam beta1 of both GAN networks (DCGAN recipe: 0.5; Adam's usual default: 0.9); beta2 0.999."""
    gan_real_label: float = Field(0.9, ge=0.5, le=1.0)
    """Discriminator target for real images: 0.9 is one-sided label smoothing (Salimans et al.
    2016), 1.0 the original GAN loss."""
    gan_arch: Literal["mlp", "mlp-bn"] = "mlp"
    """GAN networks (``dltour.models.gan``): ``mlp`` (G z -> 256 -> 512 -> 784, sigmoid output) or ``mlp-bn``
    (the Keras-GAN collection's recipe: G z -> 256 -> 512 -> 1024 -> 784, batch norm after each hidden
    layer); D 784 -> 512 -> 256 -> 1 in both, LeakyReLU 0.2 throughout. No tanh output on [-1, 1] data: D
    already sees its input centred to [-1, 1], and (tanh(a) + 1) / 2 = sigmoid(2a), the same family."""
    gan_d_dropout: float = Field(0.3, ge=0, lt=1)
    """Dropout after each hidden layer of the discriminator (0: none, as in the Keras-GAN recipe)."""
    is_samples: int = Field(10_000, ge=10)
    """Generated images scored by the Inception Score."""
    is_splits: int = Field(10, ge=1)
    """Equal parts the scored images are cut into (IS mean and sd over parts)."""
    grid: int = Field(8, ge=2, le=16)
    """Sample grids are grid x grid images."""
    models: list[str] = Field(default_factory=lambda: VAES + GANS)
    """Which of vae-z2, vae-z20, vae-z2-extra, vae-z20-extra, gan-z1, gan-z10 to run (the variants)."""

    @field_validator("models")
    @classmethod
    def _known_models(cls, models: list[str]) -> list[str]:
        for v in models:
            try:
                parse_variant(v)
            except DltourError as e:
                raise ValueError(str(e)) from None
        return models

    @field_validator("is_splits")
    @classmethod
    def _splits_fit(cls, splits: int, info: ValidationInfo) -> int:
        samples = info.data.get("is_samples")  # declared (and checked) before is_splits
        if samples is not None and splits > samples:
            raise ValueError(f"is_splits ({splits}) must not exceed is_samples ({samples})")
        return splits


def parse_variant(v: str) -> tuple[str, int, bool]:
    """'vae-z20-extra' -> ('vae', 20, True)."""
    parts = v.split("-")
    if len(parts) not in (2, 3) or parts[0] not in ("vae", "gan") or not parts[1].startswith("z") \
            or not parts[1][1:].isdigit() or (len(parts) == 3 and (parts[2] != "extra" or parts[0] != "vae")):
        raise DltourError(f"unknown variant {v!r}: use vae-z<N>[-extra] or gan-z<N> (e.g. {', '.join(VAES + GANS)})")
    if int(parts[1][1:]) < 1:
        raise DltourError(f"variant {v!r}: the latent size must be >= 1")
    return parts[0], int(parts[1][1:]), len(parts) == 3


# ---------------------------------------------------------------------- the metric: Inception Score under each judge
_SCORER: dict = {}


def scorer(device, judge: str = "cnn") -> tuple[torch.nn.Module, str]:
    """A pinned IS judge on ``device`` (loaded once per process) and its sha256."""
    key = (str(device), judge)
    if key not in _SCORER:
        state, digest = mnist.load_judge_weights(judge)
        model = load_judge(judge, state)
        _SCORER[key] = (model.to(device), digest)
    return _SCORER[key]


def score(images: torch.Tensor, device, n: int, splits: int) -> dict:
    """IS (mean, sd over splits), predicted class counts and their entropy under every judge."""
    out = {}
    for j in JUDGES:
        clf, digest = scorer(device, j)
        out[j] = judged(predict_proba(clf, images[:n]).numpy(), splits) | {
            "sha256": digest, "signature": signature(digest, n, splits, j)}
    return out


# ---------------------------------------------------------------------- the training steps (the trainer's; the
# GAN's, gan_train_step: one discriminator then one generator update, is dltour.models.gan's)
def vae_batch_loss(model: VAE, xb: torch.Tensor, autocast=contextlib.nullcontext) -> torch.Tensor:
    """The VAE loss of a batch (BCE summed over pixels + KL): the forward pass under ``autocast``,
    the loss in fp32."""
    with autocast():
        logits, mu, logvar = model(xb)
    return vae_loss(logits.float(), xb, mu.float(), logvar.float())[0]


def vae_train_step(model: VAE, opt: torch.optim.Optimizer, xb: torch.Tensor,
                   autocast=contextlib.nullcontext) -> torch.Tensor:
    """One VAE optimiser step (``run`` and ``bench`` both train with it); returns the detached loss."""
    opt.zero_grad(set_to_none=True)
    loss = vae_batch_loss(model, xb, autocast)
    loss.backward()
    opt.step()
    return loss.detach()


class Science(Study):
    """What one run of MnistGenerative does (the study's declarations: the package's ``__init__``)."""
    Config = Config

    def build_model(self, cfg: Config, variant: str):
        kind, z, extra = parse_variant(variant)
        return VAE(z, extra) if kind == "vae" else GAN(z, cfg.gan_arch, cfg.gan_d_dropout)

    # ------------------------------------------------------------------ one run
    def trainer(self, cfg: Config, variant: str, seed: int, device) -> Trainer:
        """The variant's VAE and its Adam, or its GAN and one Adam per network (a step: a discriminator
        and a generator update on fresh noise), trained on the training images on the device in
        minibatches shuffled by (seed, epoch): what ``run``, ``dltour bench`` and the model check use."""
        dev = device.device
        d = mnist.tensors_for(cfg.data, dev)
        X = d["train_x"]
        model = self.build_model(cfg, variant).to(dev)
        if isinstance(model, VAE):
            opt = adam(model.parameters(), cfg.vae_lr, dev)
            bs, modules, opts = cfg.vae_batch_size, (model,), {"opt": opt}

            def step(xb):
                return vae_train_step(model, opt, xb, device.autocast)

            def loss(xb):
                return vae_batch_loss(model, xb, device.autocast)
        else:
            G, D = model.generator, model.discriminator
            betas = (cfg.gan_beta1, 0.999)
            opt_g = adam(G.parameters(), cfg.gan_lr, dev, betas=betas)
            opt_d = adam(D.parameters(), cfg.gan_lr, dev, betas=betas)
            bs, modules, opts = cfg.gan_batch_size, (G, D), {"opt_g": opt_g, "opt_d": opt_d}

            def step(xb):
                noise = torch.randn(len(xb), G.noise, device=dev)
                return gan_train_step(G, D, opt_g, opt_d, xb, noise, cfg.gan_real_label, device.autocast)

            def loss(xb):  # the discriminator's loss plus the generator's, as the step computes them
                loss_d, fake = gan_d_loss(G, D, xb, torch.randn(len(xb), G.noise, device=dev), cfg.gan_real_label,
                                          device.autocast)
                return loss_d + gan_g_loss(D, fake, device.autocast)

        def epoch_batches(epoch: int):
            for idx in iterate_minibatches(len(X), bs, seed, epoch, device=dev):
                yield (X[idx],)

        return Trainer(step, epoch_batches, min(bs, len(X)), loss=loss, modules=modules,
                       state={"model": model, "data": d, "opts": opts},
                       note="MNIST held as one float tensor on the device; batches are index slices")

    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        kind, z, extra = parse_variant(variant)
        dev = ctx.device.device
        tr = self.trainer(cfg, variant, seed, ctx.device)
        model, d = tr.state["model"], tr.state["data"]
        if kind == "vae":
            metrics = self._train_vae(cfg, tr, ctx)
            sample = model.decode
        else:
            metrics = self._train_gan(cfg, tr, ctx)
            sample = model.generator
        model.eval()
        g = torch.Generator().manual_seed(10_000 + seed)
        with torch.no_grad():
            imgs = torch.cat([sample(torch.randn(min(2000, cfg.is_samples - i), z, generator=g).to(dev)).float()
                              for i in range(0, cfg.is_samples, 2000)])  # (is_samples, 784)
            grid = sample(torch.randn(cfg.grid ** 2, z, generator=torch.Generator().manual_seed(GRID_SEED))
                          .to(dev)).float().cpu().numpy()
        sc = score(imgs, dev, cfg.is_samples, cfg.is_splits)
        ctx.save_json("inception", {"signature": sc["cnn"]["signature"], "n_samples": cfg.is_samples,
                                    "splits": cfg.is_splits, "judges": sc,
                                    "predicted_class_counts": sc["cnn"]["counts"]})
        arrays = {"grid": grid.astype(np.float32)}
        if kind == "vae":
            with torch.no_grad():
                arrays["recon10"] = model.reconstruct(d["test_x"][:10]).float().cpu().numpy()
        ctx.save_arrays(**arrays)
        for j in JUDGES:
            metrics.update({is_key(j): sc[j]["is"], is_key(j) + "_std": sc[j]["sd"], entropy_key(j): sc[j]["entropy"]})
        counts = np.asarray(sc["cnn"]["counts"])
        metrics.update({"classes_covered": int((counts >= 0.01 * counts.sum()).sum()),
                        "params": sum(p.numel() for p in model.parameters())})
        return metrics

    def _train_vae(self, cfg: Config, tr: Trainer, ctx) -> dict:
        model, d, dev = tr.state["model"], tr.state["data"], ctx.device.device
        X, Xte = d["train_x"], d["test_x"]

        def train_epoch(epoch: int) -> dict:
            model.train()
            total = torch.zeros((), device=dev)  # summed on the device: one host sync per epoch
            for (xb,) in tr.epoch_batches(epoch):
                total += tr.step(xb) * len(xb)
            return {"train_loss": float(total) / len(X)}

        def evaluate(epoch: int) -> dict:
            return {"test_mae": reconstruction_mae(model, Xte)}

        fit(ctx, {"model": model, **tr.state["opts"]}, cfg.vae_epochs, train_epoch, evaluate, checkpoint_every=5)
        model.eval()
        with torch.no_grad():
            logits, mu, logvar = model(Xte[:2000])
            _, parts = vae_loss(logits, Xte[:2000], mu, logvar)
        return {"test_mae": reconstruction_mae(model, Xte), "test_recon_bce": float(parts["recon"]),
                "test_kl": float(parts["kl"])}

    def _train_gan(self, cfg: Config, tr: Trainer, ctx) -> dict:
        model, dev = tr.state["model"], ctx.device.device
        G, D = model.generator, model.discriminator

        def train_epoch(epoch: int) -> dict:
            G.train()
            D.train()
            ld = torch.zeros((), device=dev)
            lg = torch.zeros((), device=dev)
            n = 0
            for (xb,) in tr.epoch_batches(epoch):
                loss_d, loss_g = tr.step(xb)
                ld += loss_d
                lg += loss_g
                n += 1
            return {"d_loss": float(ld) / n, "g_loss": float(lg) / n}

        hist = fit(ctx, {"model": model, **tr.state["opts"]}, cfg.gan_epochs, train_epoch, checkpoint_every=5).history
        return {"final_d_loss": hist[-1]["d_loss"], "final_g_loss": hist[-1]["g_loss"]}

    # ------------------------------------------------------------------ baselines (for the summary)
    def baselines(self, cfg: Config) -> tuple[dict, dict, float]:
        """What the generators are measured against, scored as they are: the real test digits (the IS
        ceiling, ``score`` of each judge), uniform noise (the IS floor) and the mean training image's
        test MAE."""
        a = mnist.arrays_for(cfg.data)
        real = torch.from_numpy(a["test_x"].reshape(len(a["test_x"]), 784)).float() / 255  # (N, 784)
        n_real = min(cfg.is_samples, len(real))
        sp = min(cfg.is_splits, n_real)
        real_sc = score(real, torch.device("cpu"), n_real, sp)
        noise = torch.rand(cfg.is_samples, 784, generator=torch.Generator().manual_seed(GRID_SEED))
        noise_sc = score(noise, torch.device("cpu"), cfg.is_samples, cfg.is_splits)
        train = a["train_x"].reshape(len(a["train_x"]), 784).astype(np.float64) / 255
        test = a["test_x"].reshape(len(a["test_x"]), 784).astype(np.float64) / 255
        return real_sc, noise_sc, float(np.abs(test - train.mean(0)).mean())
