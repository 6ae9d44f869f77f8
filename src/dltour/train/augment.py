"""Augmentation on the device, shared by training loops and the demo-pack pretraining."""

from __future__ import annotations

import torch


def random_crop_flip(x: torch.Tensor, pad: int, g: torch.Generator, channels_last: bool = False) -> torch.Tensor:
    """Per-image random crop (reflect padding of ``pad``) and horizontal flip, on ``x``'s device.

    x: (N, C, H, W) float. The offsets/flips are drawn on the CPU from ``g`` (a few bytes) and the
    crop is one gather, so nothing per image runs in Python.
    """
    n, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")  # (N, C, H+2p, W+2p)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(x.device)
    flip = (torch.rand(n, generator=g) < 0.5).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]  # (N, H)
    cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]  # (N, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # a flip reverses the column order
    out = xp[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, H, W)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out
