"""The demo's stand-in for ImageNet weights: CPU-sized VGG-16 and VGG-19 pretrained on five
CIFAR-10 classes, for ``vgg-transfer`` to transfer to the five others.

ImageNet weights (528 / 548 MB, a download) cannot travel in the demo pack, and a full-width VGG
does not train on two CPU cores in seconds. So the demo keeps the *structure* of the reference's
experiment and shrinks its size: the same torchvision VGG-16 / VGG-19 layer lists
(``models/vgg.py``: 13 / 16 conv layers, 5 poolings, fc1 -> fc2 -> last layer), with batch
norm (``vgg16_bn``/``vgg19_bn``: at this size the plain VGG-19 did not train), at 1/16 of the
channels (4 ... 32) and a 128-wide head, pretrained here on a *source* task and fine-tuned by the
demo on a disjoint *target* task:

- source task: CIFAR-10 classes ``airplane, automobile, bird, cat, deer`` (indices 0-4), all
  25,000 training images of the mirrored CIFAR-10 (``cifar10/CIFAR-10-images_jpg.tar.gz``),
  32x32; its 5,000 test images give the reported source accuracy;
- target task (the demo): ``dog, frog, horse, ship, truck`` (5-9), from the demo pack's
  ``cifar10_demo.zip``: no image and no class of the target was seen in pretraining.

Pretraining recipe (ours; run once by ``scripts/build_demo_pack.py --only vgg_pretrain``, at
pack-build time, not in the demo): SGD, momentum 0.9, weight decay 5e-4, batch 64, one-cycle
learning rate (peak ``PRETRAIN_LR``), ``PRETRAIN_EPOCHS`` epochs, random crop (reflect padding 4)
and horizontal flip, seed 0, one thread. The weights file holds both state dicts (float32,
torchvision's module names) and is pinned by its sha256 (``PRETRAINED_SHA256``), checked on every
load. This module holds the recipe's constants, the source-class subset (``source_data``) and the
reader (``load_pretrained``: state dicts only); the training itself is in the pack-building script.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path

import numpy as np

from dltour.data.source import DataUnavailable, read_pinned

PRETRAINED_FILE = "vgg_demo_pretrained.pt"
PRETRAINED_INFO = "vgg_demo_pretrained.json"
#: sha256 of the shipped ``vgg_demo_pretrained.pt`` (printed by ``scripts/build_demo_pack.py``)
PRETRAINED_SHA256 = "241b45b3735fd9f1515817dc75feaef1fe78f8ba6bc2093e7c1c24148f59a914"
#: the demo nets: torchvision's VGG layer lists at 1/16 of the channels, a 128-wide head, 32x32 inputs
WIDTH, FC_WIDTH, SIZE = 1 / 16, 128, 32
#: torchvision's batch-norm layer lists (vgg16_bn / vgg19_bn): at 1/16 width the plain VGG-19 does not
#: train from torchvision's init (loss stayed at ln 5 for 3 epochs at lr 0.03, 0.01 and 0.003)
BATCH_NORM = True
SOURCE_CLASSES = ("airplane", "automobile", "bird", "cat", "deer")
TARGET_CLASSES = ("dog", "frog", "horse", "ship", "truck")
ARCHS = ("vgg16", "vgg19")
PRETRAIN_EPOCHS, PRETRAIN_LR, PRETRAIN_BATCH = 12, 0.03, 64

DEMO_NOTICE = f"""`{PRETRAINED_FILE}` (+ `{PRETRAINED_INFO}`): batch-norm VGG-16 and VGG-19 layer lists at 1/16
width (4-32 channels, 128-wide head), pretrained by `scripts/build_demo_pack.py` on the CIFAR-10 classes
{', '.join(SOURCE_CLASSES)} (all 25,000 training images of the mirrored CIFAR-10 JPEGs, 32x32), the demo's stand-in for
ImageNet weights in `vgg-transfer`, which transfers them to the other five classes. Weights derived from CIFAR-10
(Krizhevsky 2009; https://www.cs.toronto.edu/~kriz/cifar.html, free for research use); pinned by sha256."""


def pretrained_path() -> Path:
    return Path(str(resources.files("dltour") / "demo_data" / PRETRAINED_FILE))


def load_pretrained(arch: str, path: str | Path | None = None, expected_sha256: str | None = None) -> dict:
    """The pinned demo state dict of ``arch`` (torchvision's module names, float32, CPU).

    Raises ``DataUnavailable`` when the file is missing or its sha256 is not the pinned one."""
    import torch

    if arch not in ARCHS:
        raise DataUnavailable(f"the demo pack has pretrained weights for {', '.join(ARCHS)}, not {arch!r}")
    path = Path(path) if path is not None else pretrained_path()
    expected = expected_sha256 if expected_sha256 is not None else PRETRAINED_SHA256
    data, _ = read_pinned(path, expected, "the demo's pretrained VGG weights (PRETRAINED_SHA256)",
                          "`python scripts/build_demo_pack.py --only vgg_pretrain` (needs CIFAR-10)")
    sds = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return {k: v.float() for k, v in sds[arch].items()}


def pretrained_info() -> dict:
    p = pretrained_path().with_name(PRETRAINED_INFO)
    return json.loads(p.read_text()) if p.exists() else {}


# ---------------------------------------------------------------- the source task's data (pack-build time)
#: the mirrored CIFAR-10 JPEGs the demo nets are pretrained on, relative to the shared data folder
SOURCE_ARCHIVE = Path("cifar10") / "CIFAR-10-images_jpg.tar.gz"


def source_split(data: dict) -> dict:
    """uint8 images and 0..4 labels of the source classes, from ``load_image_folder``'s output."""
    classes = data["train"].classes
    idx = [classes.index(c) for c in SOURCE_CLASSES]
    out = {}
    for split in ("train", "test"):
        s = data[split]
        keep = np.isin(s.y, idx)
        out[split] = (s.x[keep], np.searchsorted(np.array(idx), s.y[keep]))
    return out


def source_data(shared_data: str | Path) -> dict:
    """The source task, ``{"train": (x, y), "test": (x, y)}``: the source classes of the mirrored
    CIFAR-10 JPEGs under ``shared_data`` at ``SIZE`` x ``SIZE``."""
    from dltour.data.images import load_image_folder

    src = Path(shared_data) / SOURCE_ARCHIVE
    if not src.exists():
        raise DataUnavailable(f"{src} not found: the demo's pretrained VGG weights are trained on CIFAR-10")
    return source_split(load_image_folder(src, size=SIZE))
