"""Training losses for the image-to-image studies: MSE, MAE, correntropy (T3.2) and the
conditional-GAN losses of pix2pix (T4.2). All take tensors and return a scalar tensor (mean over
every element), so they can be backpropagated.

Correntropy
-----------
Correntropy (Santamaria, Pokharel and Principe, "Generalized correlation function: definition,
properties, and application to blind equalization", IEEE TSP 54(6), 2006; Liu, Pokharel and
Principe, "Correntropy: properties and applications in non-Gaussian signal processing", IEEE TSP
55(11), 2007) between X and Y is ``V_sigma(X, Y) = E[k_sigma(X - Y)]`` with the Gaussian kernel
``k_sigma(e) = exp(-e**2 / (2 sigma**2))``. The papers' kernel also carries the normaliser
``1/(sqrt(2 pi) sigma)``; we leave it out (as the correntropy-induced loss below does). That choice
is *not* immaterial here: Adam divides each step by ``sqrt(v) + eps``, so it ignores a constant
factor on the loss only while the gradients are far above ``eps`` (1e-7, Keras' default). For
sigma >= 1e2 the bandwidth form's gradients are already near or below ``eps``, and any constant
factor (the normaliser would shrink them by another ``sqrt(2 pi) sigma``) changes how far the
weights move, i.e. the result. It is a similarity, so the loss to minimise is the
correntropy-induced loss (Singh and Principe, "A loss function for classification based on a
robust similarity metric", IJCNN 2010)::

    L_sigma(e) = mean(1 - exp(-e**2 / (2 sigma**2)))            scaling="bandwidth" (the definition)

whose gradient with respect to the prediction is ``e / sigma**2 * exp(-e**2 / (2 sigma**2))``. For
errors |e| << sigma (images in [0, 1], sigma >= 100) this is ``MSE / (2 sigma**2)``: a *larger*
sigma makes the loss *flatter* (gradients 5e-5, 5e-9, 5e-13 times MSE's for sigma 1e2, 1e4, 1e6).
With plain SGD that would only rescale the learning rate; with Adam the rescaling is undone while
the gradients exceed ``eps`` and decides everything once they fall below it (the updates shrink
to about ``lr * g / eps``), which is why the definition's sigma 1e4 and 1e6 barely train.

The reference (T3.2) says "a larger sigma scales up the error terms, leading to larger gradients".
That describes sigma used as a multiplier of the squared error (a precision, not a bandwidth)::

    L_sigma(e) = mean(1 - exp(-sigma * e**2))                   scaling="precision"

Its gradient ``2 sigma e exp(-sigma e**2)`` grows with sigma near e = 0 but vanishes once
|e| >> 1/sqrt(sigma) (1e-3 for sigma = 1e6), so large sigmas stop learning early. Both forms are
here so the study can say which one reproduces the reference's behaviour; ``-expm1(-x)`` computes
``1 - exp(-x)`` without the float32 cancellation that would round tiny losses to exactly 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CORRENTROPY_SCALINGS = ("bandwidth", "precision")


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred - target) ** 2)


def mae_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.abs(pred - target))


def correntropy_loss(pred: torch.Tensor, target: torch.Tensor, sigma: float,
                     scaling: str = "bandwidth") -> torch.Tensor:
    """Correntropy-induced loss ``mean(1 - k(pred - target))`` (see the module docstring)."""
    if sigma <= 0:
        raise ValueError(f"correntropy sigma must be > 0, got {sigma}")
    e2 = (pred.float() - target.float()) ** 2  # float32 even under bf16 autocast
    if scaling == "bandwidth":
        x = e2 / (2.0 * sigma ** 2)
    elif scaling == "precision":
        x = sigma * e2
    else:
        raise ValueError(f"unknown correntropy scaling {scaling!r}; use one of {CORRENTROPY_SCALINGS}")
    return torch.mean(-torch.expm1(-x))


# ---------------------------------------------------------------- conditional GAN (pix2pix)
def gan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the (patch) discriminator: real patches -> 1, fake -> 0; the sum
    of the two halves is halved, as in pix2pix ("we divide the objective by 2 while optimizing D")."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32))
    return 0.5 * (real + fake)


def gan_generator_loss(fake_logits: torch.Tensor, fake: torch.Tensor, target: torch.Tensor,
                       l1_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """pix2pix generator objective ``BCE(D(x, G(x)), 1) + lambda * L1(G(x), y)`` (non-saturating
    form). Returns (total, adversarial part, L1 part)."""
    adv = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float32))
    l1 = mae_loss(fake.float(), target.float())
    return adv + l1_weight * l1, adv, l1
