"""The pix2pix conditional discriminator (Isola et al., "Image-to-image translation with
conditional adversarial networks", CVPR 2017): a "PatchGAN" that classifies each overlapping patch
of the (condition, image) pair as real or fake, giving a map of logits.

pix2pix's default (70x70 patches) has three stride-2 convs and is made for 256x256 images; for
32x32 images we keep its structure with ``n_layers`` stride-2 convs (default 2): C(ndf) - C(2ndf)
[stride 2] - C(4ndf) [stride 1] - conv to 1 logit [stride 1], all 4x4 kernels, LeakyReLU(0.2),
BatchNorm on all but the first and last convs. With ``n_layers=2`` a 32x32 input gives a 6x6 logit
map whose patches are 34x34 pixels (``receptive_field()``), i.e. each logit sees almost the whole
image, as the 70x70 patches do on pix2pix's 256x256 images at a coarser scale.
"""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """``(cond (N, cond_channels, H, W), image (N, image_channels, H, W)) -> logits (N, 1, h, w)``."""

    def __init__(self, cond_channels: int = 1, image_channels: int = 3, ndf: int = 64, n_layers: int = 2):
        super().__init__()
        if ndf < 1 or n_layers < 1:
            raise ValueError("PatchDiscriminator needs ndf >= 1 and n_layers >= 1")
        self.cond_channels, self.image_channels, self.ndf, self.n_layers = cond_channels, image_channels, ndf, n_layers
        layers: list[nn.Module] = [nn.Conv2d(cond_channels + image_channels, ndf, 4, 2, 1),
                                   nn.LeakyReLU(0.2, inplace=True)]
        c = ndf
        for i in range(1, n_layers):
            c_out = ndf * min(2 ** i, 8)
            layers += [nn.Conv2d(c, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]
            c = c_out
        c_out = ndf * min(2 ** n_layers, 8)
        layers += [nn.Conv2d(c, c_out, 4, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True),
                   nn.Conv2d(c_out, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, cond: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([cond, image], dim=1))  # (N, cond+image channels, H, W) -> (N, 1, h, w)

    def receptive_field(self) -> int:
        """Side in pixels of the input patch each output logit sees."""
        r = 1
        for m in reversed([m for m in self.net if isinstance(m, nn.Conv2d)]):
            r = (r - 1) * m.stride[0] + m.kernel_size[0]
        return r
