"""T1.1 ``vgg-transfer``: VGG-16 and VGG-19 on Tiny-ImageNet with random, ImageNet (all layers
trainable), ImageNet with frozen conv layers, and frozen conv + fc1 + fc2 at 224x224 inputs
(reference Table 1, Table 7, Figures 1 and 9-12), plus a well-tuned from-scratch recipe.

Run it::

    dltour run vgg-transfer                    # demo: CPU, see below
    dltour run vgg-transfer --profile full     # Tiny-ImageNet, 20 epochs, all 10 variants (a GPU)
    dltour run vgg-transfer --set data.path=../shared/data/cifar10/CIFAR-10-images_jpg.tar.gz \\
        --profile full --set seeds=1           # any [train|test]/<class>/<image> folder, resized to 64x64
    dltour describe vgg-transfer --profile full --json   # 25,993,416 / 819,400 trainable (frozen / frozen224)

Variants (``<arch>-<init>``, arch ``vgg16``/``vgg19``):

- ``random``: torchvision's init, everything trained (reference (a));
- ``imagenet``: ImageNet conv weights, everything trained (b); the fc layers are new because the
  64x64 input flattens to 2x2x512 = 2048, not ImageNet's 25088;
- ``frozen``: ImageNet conv weights frozen, the 2048 -> 4096 -> 4096 -> 200 head trained
  (25,993,416 trainable parameters, as the reference's (c));
- ``frozen224``: inputs upsampled (bilinear) to 224x224, ImageNet conv + fc1 + fc2 frozen, only
  the last layer (4096 -> 200, 819,400 parameters) trained (d);
- ``tuned`` (ours, not in the reference): batch-norm VGG (``vgg16_bn``/``vgg19_bn``) from scratch
  with SGD + nesterov, 1-epoch warm-up then cosine decay, weight decay 5e-4, dropout 0.5 in the
  head, random crop (reflect padding of size/8) + horizontal flip on the device. It separates
  "what the reference got" (random init at about 3%, an optimisation failure) from "what the
  architecture can do".

Setup, where the reference is silent (our assumptions):

- data protocol: the official Tiny-ImageNet ``val`` (50 per class, labels from
  ``val_annotations.txt``) is the **test** set; 50 images per class of ``train`` (a fixed
  permutation, the same for every variant and seed) are held out as **validation**; training uses
  the other 450 per class. The unlabelled ``test`` folder is not used.
- inputs: uint8 images scaled to [0, 1] and normalised with ImageNet's mean/std for every variant.
- the faithful recipe (random, imagenet, frozen, frozen224): SGD lr 1e-3, momentum 0.9, no weight
  decay, batch 64, no augmentation, no schedule, no dropout in the head (Keras' VGG top has none),
  cross-entropy, 20 epochs; reported accuracy is the final epoch's (no early stopping).
- training accuracy per epoch is the running accuracy over the epoch's batches in train mode (as
  Keras reports it); validation and test accuracy are computed in eval mode.
- frozen variants: nothing random happens before the frozen part, so its output is computed once
  per split and only the head is trained on it (``precompute_s`` in the metrics; the saving is
  shown by ``dltour bench``). The frozen layers run in eval mode.
- inference time: see ``dltour.metrics.classification.time_inference``: forward only, synthetic
  input on the device, warm-up, synchronisation; ``infer_us`` is microseconds per image at
  ``infer_batch`` (batched), ``infer_us_b1`` the batch-1 latency. The reference's figures are per
  image at an unknown batch size and on an unknown GPU.
- ImageNet weights: torchvision's ``VGG16_Weights.IMAGENET1K_V1`` / ``VGG19_Weights.IMAGENET1K_V1``
  (download checks the sha256 prefix, cached under ``$TORCH_HOME``) or a local file
  (``--set weights_dir=FOLDER`` holding ``vgg16-397923af.pth`` / ``vgg16.pth``). With
  ``imagenet=if-available`` (demo, smoke) the variants that need them are left out when no local
  copy exists, and the summary says so; with ``imagenet=download`` (full) they are run and a
  failed download raises ``DataUnavailable`` for that run.

Demo profile (CPU, offline): the embedded CIFAR-10 JPEG subset, 4 classes (airplane, automobile,
bird, cat), 100 training + 10 validation images per class, 50 test images per class, 32x32 inputs
(the smallest size VGG's five poolings allow), 6 epochs, batch 32, one seed, and only the variants
that need no download (random and tuned for both archs, unless ImageNet weights are cached).
The numbers are a check that everything runs and learns, not a reproduction: CIFAR-10 at 32x32 is
not Tiny-ImageNet (``comparable`` is False). Measured with ``/usr/bin/time dltour run vgg-transfer``
on a quiet 2-core machine: 97 s wall; test accuracy vgg16-random 35.5%, vgg16-tuned 41.0%,
vgg19-random 34.5%, vgg19-tuned 28.5% (chance 25%). With the earlier, smaller demo (40 images per
class, 3 epochs) the faithful random-init recipe stayed at chance, as the reference's random rows did.
Smoke (``--profile smoke``): one vgg16-random step on 8 images, 7 CPU-seconds (19 s wall under load).

GPU path (written, not verified on a GPU in this session): the uint8 dataset is moved to the
device once, batches are sliced there, converted/normalised and augmented on the device, the
model runs in ``channels_last`` with bf16 autocast (``ctx.device.autocast()``). The issue's
H100 figures (about 24k images/s compute-only VGG-16 training at 64x64, 12-14 us per image batched
inference) were not measured here; note that ``dltour.seeding`` puts cuDNN in deterministic,
non-benchmark mode for every run, which may cost convolution speed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from dltour import DltourError
from dltour.config import DataConfig, StudyConfig
from dltour.data.images import ImageSet, demo_path
from dltour.data.tinyimagenet import is_tinyimagenet, load_classification
from dltour.metrics.classification import accuracy, time_inference
from dltour.models.vgg import (VGGTransfer, count_params, find_local_weights, get_imagenet_state_dict,
                               normalize_uint8, weights_filename)
from dltour.plots import new_figure, save
from dltour.registry import Finding, Ref, RunResult, Study, Summary, by_variant, register
from dltour.seeding import generator
from dltour.train import fit, iterate_minibatches

ARCHS = ("vgg16", "vgg19")
INITS = ("random", "imagenet", "frozen", "frozen224", "tuned")
NEEDS_WEIGHTS = ("imagenet", "frozen", "frozen224")
INIT_LABEL = {"random": "Random", "imagenet": "ImageNet", "frozen": "Fine-tuned ImageNet (conv frozen)",
              "frozen224": "Fine-tuned ImageNet (224, all but last frozen)", "tuned": "Random, tuned recipe (ours)"}
# Table 7: test accuracy (%), inference time (us per image)
REF_TABLE7 = {
    "vgg16-random": (3.82, 298), "vgg16-imagenet": (58.42, 283), "vgg16-frozen": (40.95, 284),
    "vgg16-frozen224": (41.76, 1879), "vgg19-random": (3.14, 339), "vgg19-imagenet": (54.30, 343),
    "vgg19-frozen": (41.63, 340), "vgg19-frozen224": (42.49, 2104),
}


class Config(StudyConfig):
    archs: list[Literal["vgg16", "vgg19"]] = Field(default_factory=lambda: list(ARCHS))
    """Architectures (torchvision's VGG-16 / VGG-19 layer definitions)."""
    inits: list[Literal["random", "imagenet", "frozen", "frozen224", "tuned"]] = Field(
        default_factory=lambda: list(INITS))
    """Initialisations; each arch x init is one variant ``<arch>-<init>``."""
    dataset: Literal["tiny-imagenet", "cifar10-demo"] = "tiny-imagenet"
    """What to load when ``data.path`` is not given: Tiny-ImageNet (cache or download) or the embedded demo subset."""
    image_size: int = Field(64, ge=32)
    """Images are resized to this (a multiple of 32) on load; Tiny-ImageNet is 64x64 natively."""
    classes: int | None = Field(None, ge=2)
    """Keep only the first N classes (sorted names); None: all."""
    train_per_class: int | None = Field(None, ge=1)
    """Training images per class (after the validation hold-out); None: all."""
    val_per_class: int = Field(50, ge=1)
    """Images per class held out of train as the validation set."""
    test_per_class: int | None = Field(None, ge=1)
    """Test images per class; None: all."""
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    """SGD learning rate of the faithful recipe."""
    momentum: float = Field(0.9, ge=0, lt=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout after fc1 and fc2 in the faithful recipe (Keras' VGG top has none)."""
    tuned_lr: float = Field(0.05, gt=0)
    """Peak learning rate of the tuned recipe (after a 1-epoch linear warm-up; cosine decay to 0)."""
    tuned_batch_size: int = Field(128, ge=1)
    tuned_weight_decay: float = Field(5e-4, ge=0)
    tuned_dropout: float = Field(0.5, ge=0, lt=1)
    imagenet: Literal["if-available", "download"] = "download"
    """'download': ImageNet variants run and fetch weights (error offline); 'if-available': they run
    only when a local copy exists (``weights_dir`` or torch's hub cache), else they are left out."""
    weights_dir: str | None = None
    """Folder with ImageNet weights files (torchvision's names, e.g. vgg16-397923af.pth, or vgg16.pth)."""
    eval_batch: int = Field(256, ge=1)
    checkpoint_every: int = Field(5, ge=0)
    """Epochs between checkpoints (0: none). The checkpoint is deleted when the run ends (it is 0.3-1 GB)."""
    infer_batch: int = Field(256, ge=1)
    infer_iters: int = Field(20, ge=1)
    infer_warmup: int = Field(5, ge=0)
    bench_steps: int = Field(30, ge=1)
    channels_last: bool = True
    """Use channels_last memory format on CUDA (ignored on the CPU)."""
    data: DataConfig = Field(default_factory=DataConfig)


@register
class VGGTransferStudy(Study):
    name = "vgg-transfer"
    task = "T1.1"
    title = "VGG-16/VGG-19 on Tiny-ImageNet: random vs ImageNet vs frozen (64 and 224) initialisation"
    Config = Config
    profiles = {
        "smoke": {"dataset": "cifar10-demo", "image_size": 32, "classes": 2, "train_per_class": 4,
                  "val_per_class": 2, "test_per_class": 4, "epochs": 1, "batch_size": 8, "tuned_batch_size": 8,
                  "archs": ["vgg16"], "inits": ["random", "frozen"], "seeds": 1, "imagenet": "if-available",
                  "checkpoint_every": 0, "infer_batch": 4, "infer_iters": 1, "infer_warmup": 0, "bench_steps": 1},
        "demo": {"dataset": "cifar10-demo", "image_size": 32, "classes": 4, "train_per_class": 100,
                 "val_per_class": 10, "test_per_class": 50, "epochs": 6, "batch_size": 32,
                 "tuned_batch_size": 32, "seeds": 1, "imagenet": "if-available", "checkpoint_every": 0,
                 "infer_batch": 32, "infer_iters": 2, "infer_warmup": 1, "bench_steps": 3},
        "full": {"seeds": 1},
    }
    reference = [r for v, (acc, us) in REF_TABLE7.items() for r in (
        Ref("Table 7", v, "test_acc", acc, "test accuracy, %"),
        Ref("Table 7", v, "infer_us", us, "us per image, batch size and GPU not stated"))]
    headline_metrics = ["test_acc", "best_val_acc", "final_train_acc", "infer_us", "infer_us_b1",
                        "trainable_params"]

    # ------------------------------------------------------------------ variants, models
    def variants(self, cfg: Config) -> list[str]:
        out = []
        for a in cfg.archs:
            for i in cfg.inits:
                if i in NEEDS_WEIGHTS and cfg.imagenet == "if-available" and not self.weights_available(cfg, a):
                    continue
                out.append(f"{a}-{i}")
        return out

    def skipped_variants(self, cfg: Config) -> list[str]:
        return [f"{a}-{i}" for a in cfg.archs for i in cfg.inits if f"{a}-{i}" not in self.variants(cfg)]

    @staticmethod
    def weights_available(cfg: Config, arch: str) -> bool:
        return find_local_weights(arch, cfg.weights_dir) is not None

    @staticmethod
    def parse(variant: str) -> tuple[str, str]:
        arch, _, init = variant.partition("-")
        if arch not in ARCHS or init not in INITS:
            raise DltourError(f"unknown variant {variant!r}: expected <{'|'.join(ARCHS)}>-<{'|'.join(INITS)}>")
        return arch, init

    def run_key(self, cfg: Config, variant: str) -> dict:
        d = super().run_key(cfg, variant)
        # the sweep lists, where weights are found, and settings that do not change a run's result
        for k in ("archs", "inits", "imagenet", "weights_dir", "bench_steps", "checkpoint_every"):
            d.pop(k)
        return d

    def _n_classes(self, cfg: Config) -> int:
        if cfg.classes is not None:
            return cfg.classes
        if cfg.data.path is None:
            return 200 if cfg.dataset == "tiny-imagenet" else 10
        return len(self._load(cfg)["train"].classes)

    def make_model(self, cfg: Config, variant: str, n_classes: int) -> VGGTransfer:
        """The variant's model with its freezing applied, without weights (random init)."""
        arch, init = self.parse(variant)
        if init == "tuned":
            return VGGTransfer(arch + "_bn", n_classes, cfg.image_size, dropout=cfg.tuned_dropout)
        up = 224 if init == "frozen224" else None
        m = VGGTransfer(arch, n_classes, cfg.image_size, upsample_to=up, dropout=cfg.dropout)
        return m.freeze({"frozen": "features", "frozen224": "all_but_last"}.get(init, "none"))

    def build_model(self, cfg: Config, variant: str):
        return self.make_model(cfg, variant, self._n_classes(cfg))

    def comparable(self, cfg: Config) -> bool:
        if cfg.classes is not None or cfg.train_per_class is not None or cfg.test_per_class is not None:
            return False
        if cfg.image_size != 64 or cfg.val_per_class != 50:
            return False
        if cfg.data.path is None:
            return cfg.dataset == "tiny-imagenet"
        try:
            return Path(cfg.data.path).expanduser().exists() and is_tinyimagenet(cfg.data.path)
        except Exception:
            return False

    # ------------------------------------------------------------------ data
    def _load(self, cfg: Config) -> dict[str, ImageSet]:
        if cfg.image_size % 32:
            raise DltourError(f"image_size must be a multiple of 32 for VGG (five 2x2 poolings), got {cfg.image_size}")
        lt = None if cfg.train_per_class is None else cfg.train_per_class + cfg.val_per_class
        if cfg.data.path is None and cfg.dataset == "cifar10-demo":
            return load_classification(demo_path(), cfg.image_size, cfg.classes, lt, cfg.test_per_class,
                                       fetcher=lambda spec, p: Path(p))
        return load_classification(cfg.data.path, cfg.image_size, cfg.classes, lt, cfg.test_per_class)

    def splits(self, cfg: Config) -> dict[str, ImageSet]:
        """train / val (held out of train per class, fixed permutation) / test."""
        d = self._load(cfg)
        tr = d["train"]
        perm = np.random.default_rng(20191).permutation(len(tr))  # fixed: same split for every run
        val_idx, train_idx = [], []
        for c in range(len(tr.classes)):
            idx = perm[tr.y[perm] == c]
            if len(idx) <= cfg.val_per_class:
                raise DltourError(f"class {tr.classes[c]!r} has {len(idx)} training images; val_per_class="
                                  f"{cfg.val_per_class} leaves none to train on")
            val_idx.append(idx[:cfg.val_per_class])
            train_idx.append(idx[cfg.val_per_class:])
        return {"train": tr.take(np.sort(np.concatenate(train_idx))), "val": tr.take(np.sort(np.concatenate(val_idx))),
                "test": d["test"]}

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        arch, init = self.parse(variant)
        data = self.splits(cfg)
        n_classes = len(data["train"].classes)
        dev = ctx.device
        cl = cfg.channels_last and dev.device.type == "cuda"
        model = self.make_model(cfg, variant, n_classes)
        if init in NEEDS_WEIGHTS:
            sd = get_imagenet_state_dict(arch, cfg.weights_dir, download=cfg.imagenet == "download",
                                         progress=ctx.progress)
            model.load_imagenet(sd)
            del sd
        model.to(dev.device)
        if cl:
            model.to(memory_format=torch.channels_last)
        # the whole uint8 dataset lives on the device; batches are sliced and converted there
        X = {s: torch.from_numpy(ds.x).to(dev.device) for s, ds in data.items()}  # (N, H, W, 3) uint8
        Y = {s: torch.from_numpy(ds.y).to(dev.device) for s, ds in data.items()}  # (N,) int64
        tuned = init == "tuned"
        frozen = model.freeze_mode != "none"
        bs = cfg.tuned_batch_size if tuned else cfg.batch_size
        pad = max(1, cfg.image_size // 8)

        precompute_s = 0.0
        if frozen:  # the frozen part is deterministic: compute its output once per split
            t0 = time.perf_counter()
            model.eval()
            F = {s: self._frozen_outputs(model, X[s], cfg.eval_batch, dev, cl) for s in X}  # (N, D) float32
            dev.sync()
            precompute_s = time.perf_counter() - t0
            net = model.head()
            forward = {s: (lambda idx, s=s: net(F[s][idx])) for s in X}
            state = {"head": net}
            params = list(net.parameters())
        else:
            net = model

            def forward_split(s, idx, aug_gen=None):
                x = normalize_uint8(X[s][idx], cl)  # (B, 3, H, W)
                if aug_gen is not None:
                    x = random_crop_flip(x, pad, aug_gen, cl)
                return model(x)

            forward = {s: (lambda idx, s=s: forward_split(s, idx)) for s in X}
            state = {"model": model}
            params = list(model.parameters())
        trainable = [p for p in params if p.requires_grad]
        if tuned:
            opt = torch.optim.SGD(trainable, lr=cfg.tuned_lr, momentum=cfg.momentum, nesterov=True,
                                  weight_decay=cfg.tuned_weight_decay)
            steps_per_epoch = math.ceil(len(Y["train"]) / bs)
            total = cfg.epochs * steps_per_epoch
            warm = min(steps_per_epoch, total)

            def lr_at(step: int) -> float:  # linear warm-up over 1 epoch, then cosine to 0
                if step < warm:
                    return (step + 1) / warm
                return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
            state["sched"] = sched
        else:
            opt = torch.optim.SGD(trainable, lr=cfg.lr, momentum=cfg.momentum)
            sched = None
        state["opt"] = opt
        loss_fn = torch.nn.CrossEntropyLoss()

        def train_epoch(epoch: int) -> dict:
            net.train()
            tot_loss = torch.zeros((), device=dev.device)
            correct = torch.zeros((), device=dev.device)
            n = len(Y["train"])
            for b, idx in enumerate(iterate_minibatches(n, bs, seed, epoch, device=dev.device)):
                opt.zero_grad(set_to_none=True)
                with dev.autocast():
                    if frozen:
                        logits = forward["train"](idx)
                    else:
                        logits = forward_split("train", idx, generator(seed, epoch, b) if tuned else None)
                loss = loss_fn(logits.float(), Y["train"][idx])
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                tot_loss += loss.detach() * len(idx)
                correct += (logits.argmax(1) == Y["train"][idx]).sum()
            return {"train_loss": tot_loss.item() / n, "train_acc": 100.0 * correct.item() / n}

        def evaluate_split(s: str) -> tuple[float, float, torch.Tensor]:
            net.eval()
            logits = self._predict(forward[s], len(Y[s]), cfg.eval_batch, dev)
            return (float(loss_fn(logits, Y[s]).item()), 100.0 * accuracy(logits, Y[s]), logits)

        def evaluate(epoch: int) -> dict:
            vl, va, _ = evaluate_split("val")
            return {"val_loss": vl, "val_acc": va}

        t0 = time.perf_counter()
        res = fit(ctx, state, cfg.epochs, train_epoch, evaluate, checkpoint=cfg.checkpoint_every > 0,
                  checkpoint_every=max(1, cfg.checkpoint_every))
        train_s = time.perf_counter() - t0
        test_loss, test_acc, test_logits = evaluate_split("test")
        if ctx.checkpoint_path.exists():  # only for resuming; 0.3-1 GB per run
            ctx.checkpoint_path.unlink()
        timing = time_inference(model, (3, cfg.image_size, cfg.image_size), dev, batch_size=cfg.infer_batch,
                                warmup=cfg.infer_warmup, iters=cfg.infer_iters, channels_last=cl)
        total_p, trainable_p = count_params(model)
        hist = res.history
        pred = test_logits.argmax(1).cpu().numpy()
        ctx.save_arrays(test_pred=pred, test_true=data["test"].y, classes=np.array(data["test"].classes))
        ctx.save_json("timing", timing)
        return {
            "test_acc": test_acc, "test_loss": test_loss,
            "final_train_acc": hist[-1]["train_acc"], "final_val_acc": hist[-1]["val_acc"],
            "best_val_acc": max(h["val_acc"] for h in hist),
            "infer_us": timing["us_per_image_batched"], "infer_us_b1": timing["latency_b1_us"],
            "trainable_params": trainable_p, "total_params": total_p,
            "precompute_s": precompute_s, "train_s": train_s, "epochs": len(hist),
            "n_train": len(Y["train"]), "n_classes": n_classes, "input_size": cfg.image_size,
        }

    @staticmethod
    def _frozen_outputs(model: VGGTransfer, X: torch.Tensor, bs: int, dev, cl: bool) -> torch.Tensor:
        outs = []
        with torch.no_grad():
            for i in range(0, len(X), bs):
                with dev.autocast():
                    outs.append(model.frozen_features(normalize_uint8(X[i:i + bs], cl)).float())
        return torch.cat(outs)  # (N, D): D = 512*(s/32)^2 (frozen) or 4096 (frozen224)

    @staticmethod
    def _predict(forward, n: int, bs: int, dev) -> torch.Tensor:
        outs = []
        with torch.no_grad():
            for i in range(0, n, bs):
                idx = torch.arange(i, min(n, i + bs), device=dev.device)
                with dev.autocast():
                    outs.append(forward(idx).float())
        return torch.cat(outs)  # (n, classes)

    # ------------------------------------------------------------------ summary
    def summarize(self, cfg: Config, results: list[RunResult], out_dir: Path) -> Summary:
        s = Summary()
        skipped = self.skipped_variants(cfg)
        if skipped:
            s.notes.append(
                f"Left out (no local ImageNet weights and imagenet=if-available): {', '.join(skipped)}. "
                f"Put {', '.join(weights_filename(a) for a in cfg.archs)} in a folder and pass "
                f"--set weights_dir=FOLDER, or use --set imagenet=download where the internet is reachable.")
        if not results:
            return s
        by_v = by_variant(results)

        def mean(v: str, k: str) -> float | None:
            rs = by_v.get(v)
            return float(np.mean([r.metrics[k] for r in rs])) if rs else None

        # ---- curves (Figures 1, 10, 11, 9/12)
        def curves(variants: list[str], name: str, title: str, only_val: bool = False) -> None:
            variants = [v for v in variants if v in by_v]
            if not variants:
                return
            fig, axes = new_figure(11 if not only_val else 6, 4, ncols=1 if only_val else 2)
            axes = [axes] if only_val else list(axes)
            keys = ["val_acc"] if only_val else ["train_acc", "val_acc"]
            for ax, key in zip(axes, keys):
                for v in variants:
                    hs = [r.history() for r in by_v[v]]
                    n = min(len(h) for h in hs)
                    if n == 0:
                        continue
                    y = np.mean([[row[key] for row in h[:n]] for h in hs], axis=0)
                    ax.plot(np.arange(1, n + 1), y, marker=".", color=f"C{INITS.index(self.parse(v)[1])}",
                            ls="-" if v.startswith("vgg16") else "--", label=v)  # colour: init, line: arch
                ax.set_xlabel("epoch")
                ax.xaxis.get_major_locator().set_params(integer=True)
                ax.set_ylabel(f"{'training' if key == 'train_acc' else 'validation'} accuracy (%)")
                ax.legend(fontsize=7)
            fig.suptitle(title, fontsize=10)
            s.figures.append(save(fig, out_dir, name))

        allv = self.variants(cfg)
        curves(allv, "fig1_accuracy_all.png", "T1.1 training and validation accuracy (cf. reference Figure 1)")
        curves([v for v in allv if v.startswith("vgg16")], "fig10_vgg16.png", "T1.1 VGG-16 (cf. reference Figure 10)")
        curves([v for v in allv if v.startswith("vgg19")], "fig11_vgg19.png", "T1.1 VGG-19 (cf. reference Figure 11)")
        large = [v for v in allv if v.endswith("frozen224")]
        curves(large, "fig9_large_input_val.png", "T1.1 large input, validation (cf. reference Figure 9)", only_val=True)
        curves(large, "fig12_large_input.png", "T1.1 large input (cf. reference Figure 12)")
        if not large:
            s.notes.append("Figures 9 and 12 (224x224 inputs) need the frozen224 variants, which did not run here.")

        # ---- Table 7 and Table 1
        def fmt(x, d=2):
            return "-" if x is None else f"{x:,.{d}f}"

        rows = ["| variant | init | input | test acc % (ours) | ref | infer us/img batched (ours) | "
                "batch-1 latency us (ours) | ref us | trainable params |", "|---|---|---|---|---|---|---|---|---|"]
        for v in [v for v in allv if v in by_v]:
            _, init = self.parse(v)
            ref = REF_TABLE7.get(v, (None, None))
            size = f"{cfg.image_size}->224" if init == "frozen224" else str(cfg.image_size)
            rows.append(f"| {v} | {INIT_LABEL[init]} | {size} | {fmt(mean(v, 'test_acc'))} | {fmt(ref[0])} | "
                        f"{fmt(mean(v, 'infer_us'), 0)} | {fmt(mean(v, 'infer_us_b1'), 0)} | {fmt(ref[1], 0)} | "
                        f"{int(mean(v, 'trainable_params')):,} |")
        timing = by_v[next(iter(by_v))][0].json("timing")
        s.tables.append({"title": "Table 7: test accuracy and inference time per variant", "markdown": "\n".join(rows)
                         + f"\n\nTiming: {timing['what']}; batch {timing['batch_size']}, warm-up {timing['warmup']}, "
                           f"{timing['iters']} timed passes, {timing['device']}, {timing['dtype']}, "
                           f"{timing['memory_format']}."})
        rows = ["| arch | best by test accuracy | test acc % | ref best (acc %) | fastest (batched) | us/img |",
                "|---|---|---|---|---|---|"]
        for a in cfg.archs:
            vs = [v for v in by_v if v.startswith(a)]
            if not vs:
                continue
            best = max(vs, key=lambda v: mean(v, "test_acc"))
            fast = min(vs, key=lambda v: mean(v, "infer_us"))
            rows.append(f"| {a} | {best} | {fmt(mean(best, 'test_acc'))} | {a}-imagenet "
                        f"({REF_TABLE7[a + '-imagenet'][0]}) | {fast} | {fmt(mean(fast, 'infer_us'), 0)} |")
        s.tables.append({"title": "Table 1: best model per architecture", "markdown": "\n".join(rows)})

        # ---- findings
        for a in cfg.archs:
            acc = {i: mean(f"{a}-{i}", "test_acc") for i in ("imagenet", "frozen", "random")}
            ok = None if None in acc.values() else acc["imagenet"] > acc["frozen"] > acc["random"]
            s.findings.append(Finding(
                f"{a}-imagenet-gt-frozen-gt-random", f"{a}: ImageNet (all trainable) > frozen conv > random "
                f"init in test accuracy after {cfg.epochs} epochs",
                ok, ", ".join(f"{i} {fmt(x)}%" for i, x in acc.items()) if ok is not None else
                "needs the imagenet, frozen and random variants; missing: "
                + ", ".join(i for i, x in acc.items() if x is None)))
        pairs = [(i, mean(f"vgg16-{i}", "test_acc"), mean(f"vgg19-{i}", "test_acc")) for i in INITS]
        pairs = [(i, x, y) for i, x, y in pairs if x is not None and y is not None]
        s.findings.append(Finding(
            "vgg16-ge-vgg19", "VGG-16 >= VGG-19 in test accuracy for every initialisation",
            all(x >= y for _, x, y in pairs) if pairs else None,
            "; ".join(f"{i}: {x:.2f} vs {y:.2f}" for i, x, y in pairs) or "needs both archs"))
        ft = [(a, mean(f"{a}-imagenet", "final_train_acc")) for a in cfg.archs]
        ft = [(a, x) for a, x in ft if x is not None]
        s.findings.append(Finding(
            "finetune-overfits", "Full fine-tuning from ImageNet reaches near 100% training accuracy (>= 95%)",
            all(x >= 95 for _, x in ft) if ft else None,
            "; ".join(f"{a}-imagenet final training accuracy {x:.1f}%, test "
                      f"{mean(a + '-imagenet', 'test_acc'):.1f}%" for a, x in ft) or "needs the imagenet variants"))
        fr = [(a, mean(f"{a}-frozen224", "test_acc"), mean(f"{a}-frozen", "test_acc")) for a in cfg.archs]
        fr = [t for t in fr if None not in t[1:]]
        s.findings.append(Finding(
            "frozen224-ge-frozen", "Keeping ImageNet's fc1/fc2 at 224x224 inputs (819,400 trainable) gives a test "
            "accuracy at least that of the frozen-conv 64x64 variant (Table 7: +0.8 to +0.9 points)",
            all(x >= y for _, x, y in fr) if fr else None,
            "; ".join(f"{a}: {x:.2f} vs {y:.2f}" for a, x, y in fr) or "needs the frozen and frozen224 variants"))
        chance = 100.0 / max(1, int(mean(next(iter(by_v)), "n_classes")))
        tr = [(a, mean(f"{a}-tuned", "test_acc"), mean(f"{a}-random", "test_acc")) for a in cfg.archs]
        tr = [t for t in tr if None not in t[1:]]
        s.findings.append(Finding(
            "tuned-beats-faithful-random", "(ours) The random-init result is a recipe failure: batch-norm VGG with a "
            "schedule and augmentation beats the faithful random-init recipe",
            all(x > y for _, x, y in tr) if tr else None,
            "; ".join(f"{a}: tuned {x:.2f}% vs faithful random {y:.2f}%" for a, x, y in tr)
            + f" (chance {chance:.1f}%)" if tr else "needs the tuned and random variants"))

        pre = [(v, mean(v, "precompute_s"), mean(v, "train_s")) for v in by_v if mean(v, "precompute_s")]
        if pre:
            s.notes.append("Frozen variants computed the frozen part's output once per split, then trained only the "
                           "head: " + "; ".join(f"{v}: precompute {p:.1f} s, head training {t:.1f} s"
                                                for v, p, t in pre)
                           + ". `dltour bench vgg-transfer` estimates the saving against running the frozen part "
                             "every epoch.")
        s.notes.append("Protocol: the source's test split is our test set (for Tiny-ImageNet, the official val "
                       f"with labels from val_annotations.txt); {cfg.val_per_class} images per class held out of "
                       "train (a fixed permutation) = validation. Test accuracy is "
                       "the final epoch's. The reference's inference times are per image at an unknown batch "
                       "size on an unknown GPU; ours are stated in the Table 7 footnote.")
        if not self.comparable(cfg):
            s.notes.append(f"This profile's data ({cfg.dataset if cfg.data.path is None else cfg.data.path}, "
                           f"{self._n_classes(cfg)} classes, {cfg.image_size}x{cfg.image_size}, "
                           f"{cfg.train_per_class or 'all'} train/class, {cfg.epochs} epochs) is not the "
                           "reference's Tiny-ImageNet setup: the numbers check that the code runs, not the claims.")
        return s

    # ------------------------------------------------------------------ bench
    def bench(self, cfg: Config, ctx) -> dict:
        """Training samples/s of ``<arch>-random`` end to end (uint8 dataset on the device, batches
        sliced, normalised there) vs compute-only (one fixed uint8 batch), plus the frozen-variant
        saving: one head step on precomputed features vs the frozen forward + head step it replaces."""
        from dltour.bench import measure_training

        arch = cfg.archs[0]
        data = self.splits(cfg)
        dev = ctx.device
        cl = cfg.channels_last and dev.device.type == "cuda"
        n_classes = len(data["train"].classes)
        X = torch.from_numpy(data["train"].x).to(dev.device)  # (N, H, W, 3) uint8 on the device
        Y = torch.from_numpy(data["train"].y).to(dev.device)
        bs = cfg.batch_size
        model = self.make_model(cfg, f"{arch}-random", n_classes).to(dev.device)
        if cl:
            model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)

        def step(xb, yb):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(normalize_uint8(xb, cl)).float(), yb).backward()
            opt.step()

        def real_batches():
            epoch = 0
            while True:
                for idx in iterate_minibatches(len(X), bs, 0, epoch, device=dev.device):
                    yield X[idx], Y[idx]
                epoch += 1

        synthetic = (X[:bs].clone(), Y[:bs].clone())
        warm = 1 if cfg.bench_steps < 5 else 5
        res = measure_training(step, real_batches(), synthetic, bs, dev, steps=cfg.bench_steps, warmup=warm,
                               variant=f"{arch}-random",
                               note="uint8 dataset resident on the device, batches sliced and normalised there")

        # frozen: per training step, precompute removes the frozen forward pass
        fm = self.make_model(cfg, f"{arch}-frozen", n_classes).to(dev.device)
        if cl:
            fm.to(memory_format=torch.channels_last)
        fm.eval()
        head = fm.head()
        hopt = torch.optim.SGD([p for p in head.parameters() if p.requires_grad], lr=cfg.lr, momentum=cfg.momentum)
        xb, yb = synthetic

        def frozen_forward():
            with torch.no_grad():
                return fm.frozen_features(normalize_uint8(xb, cl)).float()

        feats = frozen_forward()

        def head_step(f):
            hopt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(head(f).float(), yb).backward()
            hopt.step()

        def timed(fn, n):
            for _ in range(warm):
                with dev.autocast():
                    fn()
            dev.sync()
            t0 = time.perf_counter()
            for _ in range(n):
                with dev.autocast():
                    fn()
            dev.sync()
            return (time.perf_counter() - t0) / n

        t_head = timed(lambda: head_step(feats), cfg.bench_steps)
        t_full = timed(lambda: head_step(frozen_forward()), cfg.bench_steps)
        E, n = cfg.epochs, len(X)
        steps = math.ceil(n / bs)
        t_pre = (t_full - t_head) * steps  # one pass of the frozen part over the training set
        with_pre = t_pre + E * steps * t_head
        without = E * steps * t_full
        res.update({
            "frozen_head_step_samples_per_s": bs / t_head,
            "frozen_forward_plus_head_samples_per_s": bs / t_full,
            "frozen_epochs": E,
            "frozen_train_time_saving": without / with_pre,
            "note": res["note"] + f"; frozen ({arch}-frozen, {E} epochs): precomputing the frozen features once "
                    f"makes training {without / with_pre:.1f}x faster than running the frozen layers every step "
                    f"(estimated from the two step rates)"})
        return res


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
