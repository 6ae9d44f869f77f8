"""A fully connected GAN for 28x28 digits (Goodfellow et al. 2014), in the style of the Keras
MLP GAN examples: generator z (``noise`` dims, standard normal) -> 256 -> 512 -> 784 (LeakyReLU 0.2,
sigmoid output); discriminator 784 -> 512 -> 256 -> 1 logit (LeakyReLU 0.2).

``arch="mlp-bn"`` is the other common Keras MLP GAN recipe (the Keras-GAN collection's ``gan.py``):
generator z -> 256 -> 512 -> 1024 -> 784 with LeakyReLU 0.2 and batch normalisation (Keras
momentum 0.8, i.e. PyTorch momentum 0.2) after each hidden layer; the discriminator is the same
784 -> 512 -> 256 -> 1 network, with its dropout set by ``d_dropout`` (that recipe has none)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


ARCHS = ("mlp", "mlp-bn")


class Generator(nn.Module):
    def __init__(self, noise: int = 10, hidden: tuple[int, ...] = (256, 512), batchnorm: bool = False):
        super().__init__()
        self.noise = noise
        layers, a = [], noise
        for b in hidden:
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)] + ([nn.BatchNorm1d(b, momentum=0.2)] if batchnorm else [])
            a = b
        self.net = nn.Sequential(*layers, nn.Linear(a, 784), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)  # (B, noise) -> (B, 784)


class Discriminator(nn.Module):
    def __init__(self, hidden: tuple[int, int] = (512, 256), dropout: float = 0.3):
        super().__init__()
        h1, h2 = hidden
        def drop() -> list[nn.Module]:
            return [nn.Dropout(dropout)] if dropout > 0 else []

        self.net = nn.Sequential(nn.Linear(784, h1), nn.LeakyReLU(0.2), *drop(), nn.Linear(h1, h2),
                                 nn.LeakyReLU(0.2), *drop(), nn.Linear(h2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).squeeze(-1)  # (B, 784) in [0, 1] -> (B,) logits


class GAN(nn.Module):
    """Both networks in one module (for parameter counts and checkpoints)."""

    def __init__(self, noise: int = 10, arch: str = "mlp", d_dropout: float = 0.3):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
        self.generator = (Generator(noise) if arch == "mlp"
                          else Generator(noise, (256, 512, 1024), batchnorm=True))
        self.discriminator = Discriminator(dropout=d_dropout)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 0.9) -> torch.Tensor:
    """-[t log D(x) + (1 - t) log(1 - D(x)) + log(1 - D(G(z)))] with real target t (0.9: one-sided
    label smoothing; 1.0: the original GAN loss), batch mean (BCE with logits)."""
    bce = nn.functional.binary_cross_entropy_with_logits
    return bce(real_logits, torch.full_like(real_logits, real_label)) + bce(fake_logits, torch.zeros_like(fake_logits))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)), batch mean."""
    return nn.functional.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def gan_d_loss(G, D, real: torch.Tensor, noise: torch.Tensor, real_label: float,
               autocast=contextlib.nullcontext) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's loss (real -> ``real_label``, fake -> 0; the fakes detached, so G is not
    updated by it) and the fakes ``G(noise)``: the forward passes under ``autocast``, the loss in fp32."""
    with autocast():
        fake = G(noise)
        loss_d = discriminator_loss(D(real).float(), D(fake.detach()).float(), real_label)
    return loss_d, fake


def gan_g_loss(D, fake: torch.Tensor, autocast=contextlib.nullcontext) -> torch.Tensor:
    """The generator's non-saturating loss: make D call the same fakes real."""
    with autocast():
        return generator_loss(D(fake).float())


def gan_train_step(G, D, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, real: torch.Tensor,
                   noise: torch.Tensor, real_label: float, autocast=contextlib.nullcontext
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """One GAN step: a discriminator update (:func:`gan_d_loss`), then a generator update on the
    same fakes (:func:`gan_g_loss`); returns both detached losses."""
    opt_d.zero_grad(set_to_none=True)
    loss_d, fake = gan_d_loss(G, D, real, noise, real_label, autocast)
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    loss_g = gan_g_loss(D, fake, autocast)
    loss_g.backward()
    opt_g.step()
    return loss_d.detach(), loss_g.detach()
