"""A U-Net (Ronneberger, Fischer and Brox, 2015, arXiv:1505.04597) for image-to-image tasks, and
the pix2pix discriminator lives in ``patchgan.py``.

One class serves denoising (3 -> 3 channels) and colourisation (1 -> 3 channels):

- encoder: ``depth`` levels of [conv3x3-BN-ReLU] x 2 then 2x2 max-pool, widths
  ``width * 2**level``; a bottleneck block of ``width * 2**depth`` channels;
- decoder: 2x2 transposed conv (halves the channels), concatenation with the encoder's feature
  map of the same level (the skip connection), [conv3x3-BN-ReLU] x 2;
- head: 1x1 conv to ``out_channels`` and a sigmoid (targets are images in [0, 1]).

Differences from the paper, because the inputs are 32x32 and not 572x572: 'same' padding (the
paper's unpadded convs would shrink a 32x32 input to nothing), and batch normalisation after each
conv (common in modern re-implementations; it makes the small-batch CPU runs train reliably).
Odd sizes work: pooling floors the size and the decoder pads the upsampled map back to the skip's
size, so the output always has the input's height and width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """``(N, in_channels, H, W) -> (N, out_channels, H, W)`` in [0, 1] (sigmoid head)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, depth: int = 3):
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError("UNet needs width >= 1 and depth >= 1")
        self.in_channels, self.out_channels, self.width, self.depth = in_channels, out_channels, width, depth
        widths = [width * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c = in_channels
        for w in widths[:-1]:
            self.down.append(_block(c, w))
            c = w
        self.bottleneck = _block(c, widths[-1])
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w_skip, w_low in zip(reversed(widths[:-1]), reversed(widths[1:])):
            self.up.append(nn.ConvTranspose2d(w_low, w_skip, 2, stride=2))
            self.dec.append(_block(2 * w_skip, w_skip))  # skip concat doubles the channels
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)  # floors odd sizes
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = up(x)
            dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
            if dh or dw:  # odd size at this level: pad right/bottom to the skip's size
                x = F.pad(x, (0, dw, 0, dh))
            x = dec(torch.cat([skip, x], dim=1))  # (N, 2*w_skip, h, w)
        return torch.sigmoid(self.head(x))

    def extra_repr(self) -> str:
        return f"in={self.in_channels}, out={self.out_channels}, width={self.width}, depth={self.depth}"
