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

Pretraining recipe (ours; run once by ``build_demo``, at pack-build time, not in the demo): SGD,
momentum 0.9, weight decay 5e-4, batch 64, one-cycle learning rate (peak ``PRETRAIN_LR``),
``PRETRAIN_EPOCHS`` epochs, random crop (reflect padding 4) and horizontal flip, seed 0, one
thread. The weights file holds both state dicts (float32, torchvision's module names) and is pinned
by its sha256 (``PRETRAINED_SHA256``), checked on every load.
"""

from __future__ import annotations

import io
import json
import math
import time
from importlib import resources
from pathlib import Path

import numpy as np

from dltour.data.source import DataUnavailable, file_hash, read_pinned

PRETRAINED_FILE = "vgg_demo_pretrained.pt"
PRETRAINED_INFO = "vgg_demo_pretrained.json"
#: sha256 of the shipped ``vgg_demo_pretrained.pt`` (printed by ``build_demo``)
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
width (4-32 channels, 128-wide head), pretrained by `dltour.data.vgg_pretrain.build_demo` on the CIFAR-10 classes
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


# ---------------------------------------------------------------- pretraining (pack-build time)
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


def pretrain(arch: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
             epochs: int = PRETRAIN_EPOCHS, lr: float = PRETRAIN_LR, batch: int = PRETRAIN_BATCH,
             seed: int = 0, log=print) -> tuple[dict, dict]:
    """Train the demo-sized ``arch`` on the source task; returns (state dict, info)."""
    import torch

    from dltour.train.augment import random_crop_flip
    from dltour.models.vgg import VGGTransfer, normalize_uint8

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    n_cls = int(y_train.max()) + 1
    model = VGGTransfer(arch + ("_bn" if BATCH_NORM else ""), n_cls, SIZE, width=WIDTH, fc_width=FC_WIDTH)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    steps = epochs * math.ceil(len(y_train) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    X, Y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    Xt, Yt = torch.from_numpy(x_test), torch.from_numpy(y_test)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    hist = []
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(Y), generator=g)
        tot, correct = 0.0, 0
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            out = model(random_crop_flip(normalize_uint8(X[idx]), 4, g))
            loss = torch.nn.functional.cross_entropy(out, Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
            correct += int((out.argmax(1) == Y[idx]).sum())
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(normalize_uint8(Xt[i:i + 500])).argmax(1) for i in range(0, len(Yt), 500)])
        test_acc = float((pred == Yt).float().mean())
        hist.append({"epoch": ep + 1, "train_loss": tot / len(Y), "train_acc": correct / len(Y), "test_acc": test_acc})
        log(f"vgg_pretrain {arch}: epoch {ep + 1}/{epochs} train loss {tot / len(Y):.3f} acc {correct / len(Y):.3f}, "
            f"source test acc {test_acc:.3f} ({time.perf_counter() - t0:.0f} s)")
    info = {"arch": arch, "batch_norm": BATCH_NORM, "width": WIDTH, "fc_width": FC_WIDTH, "input_size": SIZE,
            "source_classes": list(SOURCE_CLASSES),
            "n_train": int(len(Y)), "n_test": int(len(Yt)), "epochs": epochs, "lr": lr, "batch": batch, "seed": seed,
            "source_test_acc": hist[-1]["test_acc"], "history": hist, "seconds": time.perf_counter() - t0}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, info


def _pretrain_job(arch: str, shared_data: str) -> tuple[dict, dict]:
    from dltour.data.images import load_image_folder

    d = source_split(load_image_folder(Path(shared_data) / "cifar10" / "CIFAR-10-images_jpg.tar.gz", size=SIZE))
    return pretrain(arch, *d["train"], *d["test"])


def build_demo(shared_data: Path, demo_dir: Path) -> list[Path]:
    """Pretrain both demo nets on the source classes (in two processes when there are two cores)
    and write the weights file and its info; prints the sha256 to pin."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    import torch

    src = Path(shared_data) / "cifar10" / "CIFAR-10-images_jpg.tar.gz"
    if not src.exists():
        raise DataUnavailable(f"{src} not found: the demo's pretrained VGG weights are trained on CIFAR-10")
    workers = min(len(ARCHS), os.cpu_count() or 1)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        done = dict(zip(ARCHS, pool.map(_pretrain_job, ARCHS, [str(shared_data)] * len(ARCHS))))
    buf = io.BytesIO()
    torch.save({a: done[a][0] for a in ARCHS}, buf)
    demo_dir.mkdir(parents=True, exist_ok=True)
    out = demo_dir / PRETRAINED_FILE
    out.write_bytes(buf.getvalue())
    info = {a: done[a][1] for a in ARCHS}
    info["sha256"] = file_hash(out)
    (demo_dir / PRETRAINED_INFO).write_text(json.dumps(info, indent=1) + "\n")
    print("vgg_pretrain: source test accuracy " + ", ".join(f"{a} {info[a]['source_test_acc']:.3f}" for a in ARCHS)
          + f"; sha256 {info['sha256']} (pin it as PRETRAINED_SHA256 in dltour/data/vgg_pretrain.py)")
    return [out, demo_dir / PRETRAINED_INFO]
