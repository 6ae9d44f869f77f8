#!/usr/bin/env python
"""Build the embedded demo pack ``src/dltour/demo_data/`` from the mirrored real datasets.

Every module under ``dltour.data`` that defines ``build_demo(shared_data: Path, demo_dir: Path)``
contributes its data files (and a ``DEMO_NOTICE`` string: source, licence, subset). The networks
the pack ships are trained here, not in the data layer (which only reads them, sha256 pinned):
the two MNIST Inception-Score judges (``build_mnist_judges``, with ``--only mnist``) and the demo's
pretrained VGG nets (``build_vgg_pretrained``, with ``--only vgg_pretrain``). The script writes
``NOTICE.md`` from the notices and checks the pack's 20 MB budget.

    python scripts/build_demo_pack.py [--shared ../shared/data] [--only airline,mnist]
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import pkgutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import dltour.data as data_pkg
from dltour.data import mnist
from dltour.data.source import DataUnavailable, file_hash
from dltour.data.vgg_pretrain import (ARCHS, BATCH_NORM, FC_WIDTH, PRETRAIN_BATCH, PRETRAIN_EPOCHS, PRETRAIN_LR,
                                      PRETRAINED_FILE, PRETRAINED_INFO, SIZE, SOURCE_ARCHIVE, SOURCE_CLASSES, WIDTH,
                                      source_data)
from dltour.models.mnist_classifier import ARCHITECTURES, predict_proba
from dltour.models.vgg import VGGTransfer, normalize_uint8
from dltour.train.augment import random_crop_flip

BUDGET = 20_000_000
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "dltour" / "demo_data"


# ---------------------------------------------------------------- MNIST Inception-Score judges
def train_classifier(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                     epochs: int = 6, batch_size: int = 128, lr: float = 3e-3, architecture: str = "MnistCNN",
                     seed: int = 0, shift: int = 2) -> tuple[nn.Module, dict]:
    """Train ``architecture`` (``MnistCNN`` or ``MnistMLP``) on uint8 images (N, 28, 28): Adam with
    a one-cycle schedule, small random shifts (+-2 px) as augmentation, weights and batch order from
    ``seed``; return the model (eval mode) and its test accuracy (the test digits are only
    measured, never used to choose anything)."""
    X = torch.from_numpy(train_x).float().div_(255).unsqueeze(1)  # (N, 1, 28, 28)
    Y = torch.from_numpy(train_y.astype(np.int64))
    Xt = torch.from_numpy(test_x).float().div_(255).unsqueeze(1)
    torch.manual_seed(seed)
    model = ARCHITECTURES[architecture]()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(X) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), batch_size):
            idx = perm[i:i + batch_size]
            xb = X[idx]
            if shift:
                dx, dy = torch.randint(-shift, shift + 1, (2,), generator=g).tolist()  # one shift per batch
                xb = torch.roll(xb, shifts=(dx, dy), dims=(2, 3))
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(xb), Y[idx]).backward()
            opt.step()
            sched.step()
        acc = float((predict_proba(model, Xt).argmax(1).numpy() == test_y).mean())
        print(f"classifier epoch {epoch + 1}/{epochs}: test accuracy {acc:.4f} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    return model, {"architecture": architecture, "seed": seed, "shift_augmentation": shift, "lr": lr, "params": n_params, "epochs": epochs, "train_images": len(X),
                   "test_images": len(Xt), "test_accuracy": acc, "seconds": round(time.perf_counter() - t0, 1)}


def build_mnist_judges(shared_data: Path, demo_dir: Path, classifier_epochs: int = 6) -> list[Path]:
    """Both Inception-Score judges, trained on the full MNIST training set (``shared_data/mnist``):
    judge 1 ``MnistCNN`` (seed 0, +-2 px shifts) and judge 2 (``build_judge2``)."""
    d = mnist.load(shared_data / "mnist")
    torch.manual_seed(0)
    model, info = train_classifier(d["train_x"], d["train_y"], d["test_x"], d["test_y"], epochs=classifier_epochs)
    judge1 = _save_judge(model, info, demo_dir, mnist.CLASSIFIER_FILE, mnist.CLASSIFIER_INFO, "CLASSIFIER_SHA256")
    return judge1 + build_judge2(d, demo_dir)


def build_judge2(d: dict[str, np.ndarray], demo_dir: Path, epochs: int = 8) -> list[Path]:
    """Inception-Score judge 2: ``MnistMLP`` (fully connected, not judge 1's CNN), seed 1 (judge 1:
    seed 0), trained on the full 60k training digits (Adam, one-cycle, no shift augmentation: a
    fully connected net has no translation bias to teach); its test accuracy is measured on the 10k
    test digits and written beside it."""
    model, info = train_classifier(d["train_x"], d["train_y"], d["test_x"], d["test_y"], epochs=epochs,
                                   lr=2e-3, architecture="MnistMLP", seed=1, shift=0)
    return _save_judge(model, info, demo_dir, mnist.JUDGE2_FILE, mnist.JUDGE2_INFO, "JUDGE2_SHA256")


def _save_judge(model, info: dict, demo_dir: Path, fname: str, info_name: str, pin: str) -> list[Path]:
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, buf)
    demo_dir.mkdir(parents=True, exist_ok=True)
    f = demo_dir / fname
    f.write_bytes(buf.getvalue())
    info["sha256"] = file_hash(f)
    (demo_dir / info_name).write_text(json.dumps(info, indent=2) + "\n")
    print(f"mnist: {info['architecture']} test accuracy {info['test_accuracy']:.4f}; sha256 {info['sha256']} "
          f"(pin it as {pin} in dltour/data/mnist.py)")
    return [f, demo_dir / info_name]


# ---------------------------------------------------------------- the demo's pretrained VGG nets
def pretrain(arch: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
             epochs: int = PRETRAIN_EPOCHS, lr: float = PRETRAIN_LR, batch: int = PRETRAIN_BATCH,
             seed: int = 0, log=print) -> tuple[dict, dict]:
    """Train the demo-sized ``arch`` on the source task; returns (state dict, info)."""
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
    d = source_data(shared_data)
    return pretrain(arch, *d["train"], *d["test"])


def build_vgg_pretrained(shared_data: Path, demo_dir: Path) -> list[Path]:
    """Pretrain both demo nets on the source classes (in two processes when there are two cores)
    and write the weights file and its info; prints the sha256 to pin."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    src = Path(shared_data) / SOURCE_ARCHIVE
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


# ---------------------------------------------------------------- the pack
#: data module -> the networks trained for it here, after its own ``build_demo`` (if any)
TRAINED = {"mnist": build_mnist_judges, "vgg_pretrain": build_vgg_pretrained}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--only", default="", help="comma-separated data modules to rebuild")
    args = ap.parse_args()
    if not args.shared.exists():
        print(f"{args.shared} not found: pass --shared DIR (the folder with airline/, mnist/, ...)", file=sys.stderr)
        return 2
    only = {s for s in args.only.split(",") if s}
    notices = []
    for mod in sorted(pkgutil.iter_modules(data_pkg.__path__), key=lambda m: m.name):
        m = importlib.import_module(f"dltour.data.{mod.name}")
        steps = [step for step in (getattr(m, "build_demo", None), TRAINED.get(mod.name)) if step is not None]
        if not steps:
            continue
        if not only or mod.name in only:
            for step in steps:
                for f in step(args.shared, DEMO):
                    print(f"{mod.name}: {f.relative_to(ROOT)} {f.stat().st_size / 1e6:.2f} MB")
        notices.append(f"## {mod.name}\n\n{(getattr(m, 'DEMO_NOTICE', '') or m.__doc__ or '').strip()}\n")
    (DEMO / "NOTICE.md").write_text("# Demo pack: sources and licences\n\nBuilt by `scripts/build_demo_pack.py` "
                                    "from the canonical datasets.\n\n" + "\n".join(notices))
    total = sum(f.stat().st_size for f in DEMO.rglob("*") if f.is_file())
    print(f"demo pack: {total / 1e6:.2f} MB (budget {BUDGET / 1e6:.0f} MB)")
    return 0 if total <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
