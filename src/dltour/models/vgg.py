"""VGG-16/VGG-19 for transfer learning at small inputs, on torchvision's layer definitions.

``VGGTransfer`` keeps torchvision's module names (``features.*``, ``classifier.{0,3,6}``) so an
ImageNet state dict loads by name. Two head layouts:

- ``input_size`` s (a multiple of 32, no upsampling): the conv output is 512 x (s/32) x (s/32);
  it is flattened (as Keras' ``Flatten`` does; no adaptive pooling) into fc 4096 -> fc 4096 -> n.
  At s = 64 that is 2048 -> 4096 -> 4096 -> 200: 25,993,416 parameters, the reference's trainable
  count for its frozen-convolutions variant. Only the conv layers can take ImageNet weights.
- ``upsample_to=224``: inputs are resized (bilinear) to 224 x 224, the conv output is 512 x 7 x 7 =
  25088, exactly torchvision's ImageNet classifier input, so fc1 and fc2 (4096 each) load too and
  only the last layer (4096 -> n: 819,400 parameters at n = 200) is new.

``width`` scales every conv layer's channel count and ``fc_width`` the two hidden fc layers (the
demo's CPU-sized nets: 1/16 and 128); the layer list, module names
and init are torchvision's (the fc init std scales as 0.01 * sqrt(4096 / fc_width): torchvision's
0.01 at 4096, the same per-layer gain when narrower).

The model takes float NCHW images already normalised with ImageNet's mean and std
(``normalize_uint8``). ``frozen_part``/``head`` split the model where its frozen layers end, so a
study can compute the frozen part's features once and train the head on them (valid when the
frozen part is deterministic: no augmentation before it, and it runs in eval mode);
``frozen_outputs`` computes it over a whole uint8 image set in batches.

The model never fetches weights: a study gets a state dict from the data layer (its
``imagenet_weights`` module for ImageNet's) and hands it to ``load_imagenet``.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from dltour.errors import DltourError
from dltour.device import device_constant

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ARCHS = ("vgg16", "vgg19", "vgg16_bn", "vgg19_bn")
FREEZE = ("none", "features", "all_but_last")


def conv_widths(arch: str, width: float = 1.0) -> list:
    """torchvision's layer list for ``arch`` (``cfgs['D']`` / ``cfgs['E']``: channel counts and
    ``'M'`` poolings) with every channel count scaled by ``width`` (at least 1)."""
    from torchvision.models.vgg import cfgs

    if arch not in ARCHS:
        raise DltourError(f"unknown VGG arch {arch!r}; choose one of {', '.join(ARCHS)}")
    if not 0 < width <= 1:
        raise DltourError(f"width must be in (0, 1], got {width}")
    return [v if v == "M" else max(1, round(v * width)) for v in cfgs["D" if arch.startswith("vgg16") else "E"]]


def make_features(arch: str, width: float = 1.0) -> nn.Sequential:
    """torchvision's VGG conv stack (same module indices as ``torchvision.models.<arch>().features``)
    with torchvision's init, without building its 25088 -> 4096 ImageNet classifier. ``width``
    scales every layer's channel count (1: torchvision's VGG; the demo's CPU-sized nets use 1/16:
    the same 13 / 16 conv layers and 5 poolings, 4 to 32 channels)."""
    from torchvision.models.vgg import make_layers

    feats = make_layers(conv_widths(arch, width), batch_norm=arch.endswith("_bn"))
    for m in feats.modules():  # as torchvision.models.VGG.__init__
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return feats


class VGGTransfer(nn.Module):
    def __init__(self, arch: str = "vgg16", num_classes: int = 200, input_size: int = 64,
                 upsample_to: int | None = None, dropout: float = 0.0, width: float = 1.0,
                 fc_width: int = 4096):
        super().__init__()
        if input_size < 32 or input_size % 32:
            raise DltourError(f"VGG needs an input size that is a multiple of 32 (five 2x2 poolings), got {input_size}")
        if upsample_to is not None and (upsample_to < 32 or upsample_to % 32):
            raise DltourError(f"upsample_to must be a multiple of 32, got {upsample_to}")
        if num_classes < 2:
            raise DltourError(f"num_classes must be >= 2, got {num_classes}")
        if fc_width < 1:
            raise DltourError(f"fc_width must be >= 1, got {fc_width}")
        self.arch, self.input_size, self.upsample_to = arch, input_size, upsample_to
        self.width, self.fc_width = width, fc_width
        self.features = make_features(arch, width)
        side = (upsample_to or input_size) // 32
        channels = conv_widths(arch, width)[-2]  # the last conv layer's (512 at width 1)
        flat = channels * side * side  # (N, channels, side, side) -> (N, flat)
        self.classifier = nn.Sequential(
            nn.Linear(flat, fc_width), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_width, fc_width), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_width, num_classes))
        std = 0.01 * (4096 / fc_width) ** 0.5  # torchvision's 0.01 at 4096; the same per-layer gain when narrower
        for m in self.classifier:
            if isinstance(m, nn.Linear):  # as torchvision's VGG
                nn.init.normal_(m.weight, 0, std)
                nn.init.zeros_(m.bias)
        self.freeze_mode = "none"

    # ------------------------------------------------------------------ forward, split
    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample_to is not None and x.shape[-1] != self.upsample_to:
            x = nn.functional.interpolate(x, size=(self.upsample_to, self.upsample_to), mode="bilinear",
                                          align_corners=False)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self._resize(x))
        return self.classifier(torch.flatten(x, 1))  # (N, 512, s, s) -> (N, 512*s*s)

    def split_index(self) -> int:
        """How many classifier modules belong to the frozen part."""
        return {"none": 0, "features": 0, "all_but_last": 6}[self.freeze_mode]

    def frozen_features(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen part's output: (N, 512*s*s) after the conv layers, or (N, 4096) after fc2."""
        if self.freeze_mode == "none":
            raise DltourError("frozen_features needs a frozen model (freeze_mode 'features' or 'all_but_last')")
        x = torch.flatten(self.features(self._resize(x)), 1)
        for m in self.classifier[: self.split_index()]:
            x = m(x)
        return x

    def frozen_outputs(self, images: torch.Tensor, batch_size: int, autocast=contextlib.nullcontext,
                       channels_last: bool = False) -> torch.Tensor:
        """:meth:`frozen_features` of uint8 NHWC ``images`` (normalised by :func:`normalize_uint8`),
        ``batch_size`` at a time, each batch under ``autocast``, without gradients: (N, D) float32
        (D = channels * (s/32)^2 with the conv layers frozen, ``fc_width`` with all but the last).
        Call it in eval mode."""
        outs = []
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                with autocast():
                    outs.append(self.frozen_features(normalize_uint8(images[i:i + batch_size], channels_last)).float())
        return torch.cat(outs)

    def head(self) -> nn.Sequential:
        """The trainable part after the frozen one (shares parameters with the model)."""
        return nn.Sequential(*list(self.classifier)[self.split_index():])

    # ------------------------------------------------------------------ freezing, weights
    def freeze(self, mode: str) -> "VGGTransfer":
        """'features': conv layers frozen; 'all_but_last': everything but the last linear layer."""
        if mode not in FREEZE:
            raise DltourError(f"unknown freeze mode {mode!r}; choose one of {', '.join(FREEZE)}")
        self.freeze_mode = mode
        n = self.split_index()
        for p in self.features.parameters():
            p.requires_grad_(mode == "none")
        for i, m in enumerate(self.classifier):
            for p in m.parameters():
                p.requires_grad_(mode == "none" or i >= n)
        return self

    def train(self, mode: bool = True) -> "VGGTransfer":
        """Frozen layers stay in eval mode (no dropout or batch-norm updates in the frozen part)."""
        super().train(mode)
        if mode and self.freeze_mode != "none":
            self.features.eval()
            for m in list(self.classifier)[: self.split_index()]:
                m.eval()
        return self

    def load_imagenet(self, state_dict: dict[str, torch.Tensor], fc: bool = True) -> list[str]:
        """Copy the conv layers of a pretrained VGG state dict (torchvision's names: ImageNet's, or
        the demo's CIFAR-pretrained nets) and, with ``fc`` and when the flatten size is the
        pretrained one (224 inputs for ImageNet's 25088), fc1 and fc2. The last layer is never
        copied: the target's classes are not the source's. At 64x64 with ImageNet weights the fc
        layers stay new, as with Keras' ``include_top=False``. Returns the names loaded. The conv
        layers must all match."""
        own = self.state_dict()
        feats = [k for k in own if k.startswith("features.")]
        bad = [k for k in feats if k not in state_dict or state_dict[k].shape != own[k].shape]
        if bad:
            raise DltourError(f"the weights file does not fit {self.arch}: {len(bad)} conv tensor(s) missing or "
                              f"of another shape, e.g. {bad[0]}")
        fc_fits = fc and state_dict.get("classifier.0.weight") is not None and \
            state_dict["classifier.0.weight"].shape == own["classifier.0.weight"].shape
        loaded = []
        with torch.no_grad():
            for k, v in own.items():
                src = state_dict.get(k)
                if k.startswith("classifier.") and (not fc_fits or k.startswith("classifier.6.")):
                    continue
                if src is not None and src.shape == v.shape:
                    v.copy_(src)
                    loaded.append(k)
        return loaded


def normalize_uint8(x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """uint8 NHWC (N, H, W, 3) -> float NCHW (N, 3, H, W), scaled to [0, 1] and normalised with
    ImageNet's mean/std, on ``x``'s device."""
    mean = device_constant(IMAGENET_MEAN, x.device).view(1, 3, 1, 1)  # made once per device: no copy per step
    std = device_constant(IMAGENET_STD, x.device).view(1, 3, 1, 1)
    y = (x.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    return y.contiguous(memory_format=torch.channels_last) if channels_last else y.contiguous()


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for p in model.parameters() if p.requires_grad)
