"""Optimiser construction shared by the studies: every study builds its Adam here, and
:func:`make_optimizer` builds Keras-2-like optimisers by name."""

from __future__ import annotations

import torch

from dltour.errors import DltourError


def adam(params, lr: float, dev, *, fused: bool | None = None, **kw) -> torch.optim.Adam:
    """Adam with the fused kernel where the device has one (CPU, CUDA): the same update in one
    kernel, about half the cost of the per-tensor loop for small-batch runs.

    ``fused=False`` keeps PyTorch's default (foreach) kernel: the studies whose published results
    were computed with it (char-textgen, imdb-embeddings) pass it, so their runs stay bit-identical
    to those results (the two kernels agree to rounding, not bit for bit)."""
    if fused is None:
        fused = torch.device(dev).type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=lr, fused=fused or None, **kw)


#: the usual learning rate of each optimiser ``make_optimizer`` knows (Keras 2's defaults)
DEFAULT_LR = {"adam": 1e-3, "rmsprop": 1e-3, "adadelta": 1.0}


def make_optimizer(params, name: str, lr: float | None, dev) -> torch.optim.Optimizer:
    """An optimiser by name, as Keras 2 sets it up: ``adam`` (:func:`adam`, fused where the device
    has it), ``adadelta`` (rho 0.95, eps 1e-7) or ``rmsprop`` (rho 0.9, eps 1e-7), at ``lr`` or,
    when it is None, the optimiser's usual default (:data:`DEFAULT_LR`: adam and rmsprop 1e-3,
    adadelta 1.0 as Keras 2's ``Adadelta``; ``tf.keras``'s defaults to 1e-3)."""
    if name not in DEFAULT_LR:
        raise DltourError(f"unknown optimizer {name!r}: adam, adadelta or rmsprop")
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "adam":
        return adam(params, lr, dev)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=0.95, eps=1e-7)
    return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)
