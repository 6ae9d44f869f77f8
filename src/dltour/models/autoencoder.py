"""Fully connected autoencoders for 28x28 digits (flattened to 784 values in [0, 1])."""

from __future__ import annotations

import math

import torch
from torch import nn


def depth_sizes(depth: int, inputs: int = 784, code: int = 50) -> list[int]:
    """Encoder feature sizes for ``depth`` layers, evenly spaced from ``inputs`` down to ``code``
    and rounded up: ``ceil(linspace(784, 50, depth + 1))``. For depth 3 this is the reference's
    [784, 540, 295, 50] (Table 4), which is how we infer the rule for the other depths."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    step = (inputs - code) / depth
    return [inputs] + [math.ceil(inputs - i * step - 1e-9) for i in range(1, depth)] + [code]


class MLPAutoencoder(nn.Module):
    """Encoder ``sizes`` (e.g. [784, 540, 295, 50]) and its mirror image as decoder.

    ``nonlinear=True``: ReLU after every layer but the last, sigmoid on the output (the
    reference's "ReLu, Sigmoid (output)"); the code layer has a ReLU too unless
    ``code_activation="linear"`` (a linear bottleneck: the code is the last encoder layer's affine
    output). ``nonlinear=False``: no activation anywhere (a linear autoencoder, which at best spans
    the PCA subspace; ``code_activation`` is then irrelevant).

    ``init="torch"``: PyTorch's ``nn.Linear`` default (uniform, variance 1/(3 fan_in), so a ReLU
    stack's signal shrinks layer by layer at the start); ``init="glorot"``: Keras' ``Dense``
    default (Glorot uniform, variance 2/(fan_in + fan_out), zero biases)."""

    def __init__(self, sizes: list[int], nonlinear: bool = True, code_activation: str = "relu",
                 init: str = "torch"):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes needs an input and a code size, got {sizes}")
        if code_activation not in ("relu", "linear"):
            raise ValueError(f"code_activation must be 'relu' or 'linear', got {code_activation!r}")
        if init not in ("torch", "glorot"):
            raise ValueError(f"init must be 'torch' or 'glorot', got {init!r}")
        self.sizes = list(sizes)
        self.nonlinear = nonlinear
        self.code_activation = code_activation
        enc, dec = [], []
        n_enc = len(sizes) - 1
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            act = nonlinear and (i < n_enc - 1 or code_activation == "relu")
            enc += [nn.Linear(a, b)] + ([nn.ReLU()] if act else [])
        rev = sizes[::-1]
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            last = i == len(rev) - 2
            dec += [nn.Linear(a, b)] + ([nn.Sigmoid() if last else nn.ReLU()] if nonlinear else [])
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)
        self.init = init
        if init == "glorot":  # Keras Dense defaults: glorot_uniform kernels, zero biases
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, 784) -> (B, code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))  # (B, 784) -> (B, 784)
