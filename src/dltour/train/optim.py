"""Optimiser construction shared by the studies: every study builds its Adam here."""

from __future__ import annotations

import torch


def adam(params, lr: float, dev, *, fused: bool | None = None, **kw) -> torch.optim.Adam:
    """Adam with the fused kernel where the device has one (CPU, CUDA): the same update in one
    kernel, about half the cost of the per-tensor loop for small-batch runs.

    ``fused=False`` keeps PyTorch's default (foreach) kernel: the studies whose published results
    were computed with it (char-textgen, imdb-embeddings) pass it, so their runs stay bit-identical
    to those results (the two kernels agree to rounding, not bit for bit)."""
    if fused is None:
        fused = torch.device(dev).type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=lr, fused=fused or None, **kw)
