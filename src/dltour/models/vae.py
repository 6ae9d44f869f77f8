"""A fully connected variational autoencoder for 28x28 digits (Kingma & Welling 2014), as in the
Keras VAE example the course followed: 784 -> 512 (ReLU) -> (mu, log sigma^2) of a ``latent``-d
Gaussian; decoder latent -> 512 (ReLU) -> 784 (sigmoid). ``extra_layer`` adds a 256-unit ReLU
layer to both (784 -> 512 -> 256 -> latent; latent -> 256 -> 512 -> 784)."""

from __future__ import annotations

import torch
from torch import nn


class VAE(nn.Module):
    def __init__(self, latent: int = 2, extra_layer: bool = False, hidden: int = 512, extra: int = 256):
        super().__init__()
        self.latent = latent
        widths = [784, hidden] + ([extra] if extra_layer else [])
        enc = []
        for a, b in zip(widths[:-1], widths[1:]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc)
        self.mu = nn.Linear(widths[-1], latent)
        self.logvar = nn.Linear(widths[-1], latent)
        rev = [latent] + widths[::-1][:-1]
        dec = []
        for a, b in zip(rev[:-1], rev[1:]):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.decoder = nn.Sequential(*dec, nn.Linear(rev[-1], 784), nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)  # (B, 784) -> (B, H)
        return self.mu(h), self.logvar(h)  # (B, latent) each

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent) -> (B, 784) pixel logits (the decoder before its sigmoid)."""
        return self.decoder[:-1](z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, latent) -> (B, 784) pixel means in [0, 1]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 784) -> (B, 784): the decoder's pixel means at the posterior mean (z = mu), no sampling."""
        return self.decode(self.encode(x)[0])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pixel logits, mu, logvar): the loss takes logits, because a sigmoid saturates to exactly
        0 or 1 in float32 (logits beyond about +-17 and -88), where log(p) has no usable gradient."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # reparameterisation
        return self.decode_logits(z), mu, logvar


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, exp(logvar)) || N(0, I) ) per sample, summed over latent dims: (B, L) -> (B,).
    Closed form: -1/2 * sum(1 + logvar - mu^2 - exp(logvar))."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the pixels ``x`` under the decoder's Bernoulli means
    ``sigmoid(logits)``, summed over pixels: (B, D) -> (B,).

    Computed from the logits (``F.binary_cross_entropy_with_logits``), finite with a finite
    gradient everywhere. The earlier form, ``log(sigmoid(logits))`` clamped at -100, gave NaN
    gradients once a pixel's sigmoid rounded to exactly 1 (logit > ~17): the clamp's zero gradient
    times log's infinite one; a full-MNIST VAE hit it at epoch 12."""
    return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), x, reduction="none").sum(dim=1)


def vae_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor,
             logvar: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Negative ELBO per sample, batch mean: binary cross-entropy summed over the 784 pixels (a
    Bernoulli decoder with means ``sigmoid(logits)``, as in the Keras example) plus the KL term. The
    parts are returned as detached tensors (no device sync inside the training loop)."""
    rec = bernoulli_nll(logits, x)  # (B,)
    kl = kl_divergence(mu, logvar)  # (B,)
    return (rec + kl).mean(), {"recon": rec.detach().mean(), "kl": kl.detach().mean()}


@torch.no_grad()
def reconstruction_mae(model: VAE, x: torch.Tensor, chunk: int = 2000) -> float:
    """Mean absolute pixel error of ``model.reconstruct(x)`` (z = mu) over all of ``x`` (N, 784),
    reconstructed ``chunk`` rows at a time, the error summed per chunk on the host; puts the model
    in eval mode."""
    model.eval()
    err = sum(float((model.reconstruct(x[i:i + chunk]).float() - x[i:i + chunk]).abs().sum())
              for i in range(0, len(x), chunk))
    return err / x.numel()
