"""Image batches on the device: layout conversion, crops and augmentation, shared by training
loops and the demo-pack pretraining."""

from __future__ import annotations

import numpy as np
import torch

from dltour.device import to_device


def to_float(xb: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1]. The permuted view of NHWC memory already
    has channels_last strides (what cuDNN wants); on the CPU plain NCHW is faster (measured)."""
    x = xb.permute(0, 3, 1, 2).float().div_(255.0)
    return x if channels_last else x.contiguous()


def to_uint8_nhwc(x: torch.Tensor) -> np.ndarray:
    """float (B, C, H, W) in [0, 1] -> uint8 (B, H, W, C) NumPy."""
    return (x.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def random_crop(xb: torch.Tensor, crop: int | None) -> torch.Tensor:
    """The same random ``crop`` x ``crop`` window of every image of a uint8 (B, H, W, C) batch
    (global RNG, so resume stays exact); the whole batch when ``crop`` is None or too large."""
    h, w = xb.shape[1], xb.shape[2]
    if crop is None or (crop >= h and crop >= w):
        return xb
    y0 = int(torch.randint(0, max(h - crop, 0) + 1, ()))
    x0 = int(torch.randint(0, max(w - crop, 0) + 1, ()))
    return xb[:, y0:y0 + crop, x0:x0 + crop]


def centre_crop(xb: torch.Tensor, crop: int | None) -> torch.Tensor:
    """The centre ``crop`` x ``crop`` window of a uint8 (B, H, W, C) batch (fixed, for validation)."""
    h, w = xb.shape[1], xb.shape[2]
    if crop is None or (crop >= h and crop >= w):
        return xb
    y0, x0 = max(h - crop, 0) // 2, max(w - crop, 0) // 2
    return xb[:, y0:y0 + crop, x0:x0 + crop]


def random_crop_flip(x: torch.Tensor, pad: int, g: torch.Generator, channels_last: bool = False) -> torch.Tensor:
    """Per-image random crop (reflect padding of ``pad``) and horizontal flip, on ``x``'s device.

    x: (N, C, H, W) float. The offsets/flips are drawn on the CPU from ``g`` (a few bytes) and the
    crop is one gather, so nothing per image runs in Python.
    """
    n, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")  # (N, C, H+2p, W+2p)
    oy = to_device(torch.randint(0, 2 * pad + 1, (n,), generator=g), x.device)  # no host wait on CUDA
    ox = to_device(torch.randint(0, 2 * pad + 1, (n,), generator=g), x.device)
    flip = to_device(torch.rand(n, generator=g) < 0.5, x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]  # (N, H)
    cols = ox[:, None] + torch.arange(w, device=x.device)[None, :]  # (N, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # a flip reverses the column order
    out = xp[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, H, W)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out
