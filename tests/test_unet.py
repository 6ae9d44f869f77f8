"""U-Net and PatchGAN shapes, parameter counts and bad inputs."""

from __future__ import annotations

import pytest
import torch

from dltour.models.patchgan import PatchDiscriminator
from dltour.models.unet import UNet


@pytest.fixture(autouse=True)
def _one_thread():
    # shared 2-core test machine: a second OpenMP thread only spin-waits on these tiny convs
    torch.set_num_threads(1)
    yield


@pytest.mark.parametrize("h,w", [(32, 32), (31, 33), (17, 20), (9, 9)])
@pytest.mark.parametrize("cin,cout", [(3, 3), (1, 3)])
def test_unet_keeps_size_for_odd_and_even_sizes(h, w, cin, cout):
    m = UNet(cin, cout, width=4, depth=2).eval()
    with torch.no_grad():
        y = m(torch.rand(2, cin, h, w))
    assert y.shape == (2, cout, h, w)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0  # sigmoid head


def test_unet_parameter_count_by_hand():
    # width 2, depth 1, 3 -> 3: block(3,2) = conv 3*2*9 + BN 4 + conv 2*2*9 + BN 4 = 54 + 4 + 36 + 4 = 98
    # bottleneck block(2,4) = 2*4*9 + 8 + 4*4*9 + 8 = 72 + 8 + 144 + 8 = 232
    # up ConvTranspose(4 -> 2, k2) = 4*2*4 + 2 = 34; dec block(4,2) = 4*2*9 + 4 + 2*2*9 + 4 = 72 + 4 + 36 + 4 = 116
    # head 1x1 conv 2 -> 3 = 6 + 3 = 9
    m = UNet(3, 3, width=2, depth=1)
    assert sum(p.numel() for p in m.parameters()) == 98 + 232 + 34 + 116 + 9


def test_unet_channels_last_matches():
    torch.manual_seed(0)
    m = UNet(3, 3, width=4, depth=2).eval()
    x = torch.rand(2, 3, 16, 16)
    a = m(x)
    b = m.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(a, b, atol=1e-5)


def test_unet_bad_inputs():
    with pytest.raises(ValueError, match="width"):
        UNet(3, 3, width=0)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        UNet(1, 3, width=4, depth=1)(torch.rand(2, 3, 8, 8))


def test_patch_discriminator_shape_and_receptive_field():
    d = PatchDiscriminator(1, 3, ndf=8, n_layers=2)
    out = d(torch.rand(2, 1, 32, 32), torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 1, 6, 6)  # 32 -> 16 -> 8 -> 7 -> 6
    assert d.receptive_field() == 34
    # pix2pix's default (3 stride-2 layers) is the 70x70 PatchGAN
    assert PatchDiscriminator(3, 3, ndf=8, n_layers=3).receptive_field() == 70
