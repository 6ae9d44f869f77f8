"""A fully connected GAN for 28x28 digits (Goodfellow et al. 2014), in the style of the Keras
MLP GAN examples: generator z (``noise`` dims, standard normal) -> 256 -> 512 -> 784 (LeakyReLU 0.2,
sigmoid output); discriminator 784 -> 512 -> 256 -> 1 logit (LeakyReLU 0.2)."""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    def __init__(self, noise: int = 10, hidden: tuple[int, int] = (256, 512)):
        super().__init__()
        self.noise = noise
        h1, h2 = hidden
        self.net = nn.Sequential(nn.Linear(noise, h1), nn.LeakyReLU(0.2), nn.Linear(h1, h2), nn.LeakyReLU(0.2),
                                 nn.Linear(h2, 784), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)  # (B, noise) -> (B, 784)


class Discriminator(nn.Module):
    def __init__(self, hidden: tuple[int, int] = (512, 256)):
        super().__init__()
        h1, h2 = hidden
        self.net = nn.Sequential(nn.Linear(784, h1), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(h1, h2),
                                 nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(h2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).squeeze(-1)  # (B, 784) in [0, 1] -> (B,) logits


class GAN(nn.Module):
    """Both networks in one module (for parameter counts and checkpoints)."""

    def __init__(self, noise: int = 10):
        super().__init__()
        self.generator = Generator(noise)
        self.discriminator = Discriminator()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 0.9) -> torch.Tensor:
    """-[t log D(x) + (1 - t) log(1 - D(x)) + log(1 - D(G(z)))] with real target t (0.9: one-sided
    label smoothing; 1.0: the original GAN loss), batch mean (BCE with logits)."""
    bce = nn.functional.binary_cross_entropy_with_logits
    return bce(real_logits, torch.full_like(real_logits, real_label)) + bce(fake_logits, torch.zeros_like(fake_logits))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)), batch mean."""
    return nn.functional.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
