"""VGGTransfer: parameter counts, ImageNet weights in torchvision's format, freezing, the
frozen-part/head split, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from dltour import DltourError
from dltour.data.source import DataUnavailable
from dltour.data.imagenet_weights import (find_local_weights, get_imagenet_state_dict, load_state_dict_file,
                                          weights_filename)
from dltour.models.vgg import VGGTransfer, count_params, normalize_uint8

# conv parameters of VGG-16 / VGG-19: sum of 3*3*cin*cout + cout over the 13 / 16 conv layers
VGG16_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
               (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
VGG19_CONVS = VGG16_CONVS[:7] + [(256, 256)] + VGG16_CONVS[7:10] + [(512, 512)] + VGG16_CONVS[10:] + [(512, 512)]


def conv_params(convs):
    return sum(9 * a * b + b for a, b in convs)


@pytest.fixture(scope="module")
def tv_vgg16_file(tmp_path_factory):
    """A VGG-16 state dict in torchvision's format (the real ImageNet file is not available here):
    torchvision's own model with its random init, saved with torch.save like the published .pth."""
    torch.manual_seed(123)
    tv = torchvision.models.vgg16(weights=None).eval()
    folder = tmp_path_factory.mktemp("weights")
    path = folder / weights_filename("vgg16")
    torch.save(tv.state_dict(), path)
    return tv, path


@pytest.mark.parametrize("arch,convs", [("vgg16", VGG16_CONVS), ("vgg19", VGG19_CONVS)])
def test_trainable_counts_match_the_reference(arch, convs):
    head64 = (2 * 2 * 512) * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 200 + 200
    assert head64 == 25_993_416  # the reference's count for its frozen variant, by hand
    with torch.device("meta"):  # shapes only: no memory, no init time
        m = VGGTransfer(arch, 200, 64).freeze("features")
        m224 = VGGTransfer(arch, 200, 64, upsample_to=224).freeze("all_but_last")
        full = VGGTransfer(arch, 200, 64)
    assert count_params(m) == (conv_params(convs) + head64, 25_993_416)
    total224 = conv_params(convs) + 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 200 + 200
    assert count_params(m224) == (total224, 4096 * 200 + 200) == (total224, 819_400)
    assert count_params(full)[1] == conv_params(convs) + head64  # nothing frozen


def test_conv_count_matches_torchvision():
    with torch.device("meta"):
        tv = torchvision.models.vgg16(weights=None)
    assert sum(p.numel() for p in tv.features.parameters()) == conv_params(VGG16_CONVS) == 14_714_688


def test_loading_a_torchvision_weights_file(tv_vgg16_file, tmp_path, monkeypatch):
    tv, path = tv_vgg16_file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no hub cache to fall back on
    assert find_local_weights("vgg16", path.parent) == path
    sd = get_imagenet_state_dict("vgg16", path.parent, download=False)
    # 224 layout: conv + fc1 + fc2 load; the last layer (1000 classes) cannot
    m = VGGTransfer("vgg16", 7, 64, upsample_to=224).freeze("all_but_last")
    loaded = m.load_imagenet(sd)
    assert "classifier.0.weight" in loaded and "classifier.3.weight" in loaded
    assert "classifier.6.weight" not in loaded
    m.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():  # our frozen part == torchvision's model up to fc2 on the upsampled input
        x224 = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
        want = tv.classifier[:6](torch.flatten(tv.avgpool(tv.features(x224)), 1))
        got = m.frozen_features(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    # 64 layout: only the conv layers (the fc layers are new, as Keras' include_top=False)
    m64 = VGGTransfer("vgg16", 7, 64)
    before = m64.classifier[3].weight.clone()
    loaded64 = m64.load_imagenet(sd)
    assert all(k.startswith("features.") for k in loaded64) and len(loaded64) == 26
    torch.testing.assert_close(m64.features[0].weight, tv.features[0].weight)
    assert torch.equal(m64.classifier[3].weight, before)


def test_wrong_weights_files_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    m = VGGTransfer("vgg16", 10, 32)
    sd19 = {k: v for k, v in VGGTransfer("vgg19", 10, 32).state_dict().items()}
    with pytest.raises(DltourError, match="does not fit vgg16"):
        m.load_imagenet(sd19)
    bad = tmp_path / "vgg16.pth"
    torch.save({"not": "tensors"}, bad)
    with pytest.raises(DltourError, match="not a state dict"):
        load_state_dict_file(bad)
    with pytest.raises(DltourError, match="does not exist"):
        load_state_dict_file(tmp_path / "missing.pth")
    with pytest.raises(DataUnavailable, match="data.imagenet_weights_dir .*empty.* is not a folder.*vgg19-dcbb9e9d.pth"):
        get_imagenet_state_dict("vgg19", tmp_path / "empty", download=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailable, match="vgg19-dcbb9e9d.pth"):
        get_imagenet_state_dict("vgg19", tmp_path / "empty", download=False)


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    from torchvision.models._api import WeightsEnum

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(self, *a, **k):
        import urllib.error

        raise urllib.error.URLError("no network")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(DataUnavailable, match="download.pytorch.org/models/vgg16-397923af.pth.*data.imagenet_weights_dir"):
        get_imagenet_state_dict("vgg16", None, download=True)


@pytest.mark.parametrize("mode,frozen_prefixes", [("features", ["features."]),
                                                  ("all_but_last", ["features.", "classifier.0.", "classifier.3."])])
def test_frozen_parameters_do_not_change_after_an_optimiser_step(mode, frozen_prefixes):
    torch.manual_seed(0)
    m = VGGTransfer("vgg16", 5, 32, dropout=0.5).freeze(mode)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    # an optimiser over *all* parameters, with momentum and weight decay, as a careless user would write
    opt = torch.optim.SGD(m.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    m.train()
    loss = torch.nn.functional.cross_entropy(m(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    opt.step()
    after = m.state_dict()
    for k in before:
        frozen = any(k.startswith(p) for p in frozen_prefixes)
        assert torch.equal(before[k], after[k]) == frozen, k


def test_frozen_part_is_deterministic_in_train_mode_and_head_split_is_exact():
    torch.manual_seed(0)
    m = VGGTransfer("vgg16", 5, 32, upsample_to=64, dropout=0.5).freeze("all_but_last")
    m.train()  # the frozen fc1/fc2 dropout must stay off
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        f1, f2 = m.frozen_features(x), m.frozen_features(x)
        assert torch.equal(f1, f2) and f1.shape == (3, 4096)
        m.eval()
        torch.testing.assert_close(m.head()(m.frozen_features(x)), m(x))
    m2 = VGGTransfer("vgg19", 5, 64).freeze("features").eval()
    with torch.no_grad():
        f = m2.frozen_features(torch.randn(2, 3, 64, 64))
    assert f.shape == (2, 2048)  # (N, 512, 2, 2) flattened


def test_frozen_outputs_are_the_frozen_features_of_normalised_batches():
    torch.manual_seed(0)
    m = VGGTransfer("vgg16", 5, 32, width=1 / 16, fc_width=16).freeze("features").eval()
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8))
    entered = []

    def autocast():  # counts the batches
        entered.append(1)
        return torch.autocast("cpu", enabled=False)

    out = m.frozen_outputs(x, 2, autocast)
    assert len(entered) == 3 and out.shape == (5, 32) and out.dtype == torch.float32  # 5 = 2 + 2 + 1; 32 channels
    assert not out.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(out, m.frozen_features(normalize_uint8(x)))
    torch.testing.assert_close(m.frozen_outputs(x, 5, channels_last=True), out)


def test_bad_model_arguments():
    with pytest.raises(DltourError, match="multiple of 32"):
        VGGTransfer("vgg16", 10, 48)
    with pytest.raises(DltourError, match="unknown VGG arch"):
        VGGTransfer("vgg11", 10, 32)
    with pytest.raises(DltourError, match="unknown freeze mode"):
        VGGTransfer("vgg16", 10, 32).freeze("conv")
    with pytest.raises(DltourError, match="frozen model"):
        VGGTransfer("vgg16", 10, 32).frozen_features(torch.randn(1, 3, 32, 32))


def test_normalize_uint8_by_hand():
    x = np.zeros((1, 2, 2, 3), dtype=np.uint8)
    x[0, 0, 1] = [255, 0, 51]
    y = normalize_uint8(torch.from_numpy(x))
    assert y.shape == (1, 3, 2, 2) and y.dtype == torch.float32
    assert y[0, 0, 0, 1].item() == pytest.approx((1 - 0.485) / 0.229, rel=1e-6)
    assert y[0, 1, 0, 1].item() == pytest.approx((0 - 0.456) / 0.224, rel=1e-6)
    assert y[0, 2, 0, 1].item() == pytest.approx((0.2 - 0.406) / 0.225, rel=1e-5)
    assert normalize_uint8(torch.from_numpy(x), channels_last=True).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("arch,convs", [("vgg16", VGG16_CONVS), ("vgg19", VGG19_CONVS)])
def test_narrow_nets_keep_the_layer_list_at_a_fraction_of_the_channels(arch, convs):
    m = VGGTransfer(arch, 5, 32, width=1 / 16, fc_width=128)
    narrow = [(max(1, round(a / 16)) if a != 3 else 3, round(b / 16)) for a, b in convs]
    head = 32 * 128 + 128 + 128 * 128 + 128 + 128 * 5 + 5  # 32 channels x 1 x 1 at 32x32 inputs
    assert count_params(m) == (conv_params(narrow) + head,) * 2
    full = VGGTransfer(arch, 5, 32)
    assert [k for k in m.state_dict()] == [k for k in full.state_dict()]  # torchvision's module names
    assert len([x for x in m.features if isinstance(x, torch.nn.Conv2d)]) == len(convs)
    with pytest.raises(DltourError, match="width"):
        VGGTransfer(arch, 5, 32, width=2)


def test_the_last_layer_is_never_loaded_and_fc_can_be_left_new():
    torch.manual_seed(0)
    src = VGGTransfer("vgg16", 5, 32, width=1 / 16, fc_width=128)  # same shapes everywhere, the last layer too
    dst = VGGTransfer("vgg16", 5, 32, width=1 / 16, fc_width=128)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    loaded = dst.load_imagenet(src.state_dict())
    assert "classifier.0.weight" in loaded and "classifier.3.bias" in loaded
    assert torch.equal(dst.classifier[6].weight, before["classifier.6.weight"])
    dst2 = VGGTransfer("vgg16", 5, 32, width=1 / 16, fc_width=128)
    conv_only = dst2.load_imagenet(src.state_dict(), fc=False)
    assert conv_only and all(k.startswith("features.") for k in conv_only)
    torch.testing.assert_close(dst2.features[0].weight, src.features[0].weight)


def test_layers_point_one_way():
    """The model never fetches (no import of the data layer); the weights module never imports a model."""
    from pathlib import Path

    import dltour.data.imagenet_weights as iw
    import dltour.models.vgg as vgg

    assert "dltour.data" not in Path(vgg.__file__).read_text()
    assert "dltour.models" not in Path(iw.__file__).read_text()
