"""The science of ``vgg-transfer``: its config, data, model, loss, training step and what a run
returns, top to bottom. The study (its setup, what we assumed, its profiles) is the package's
``__init__``; what the runs mean (claims, findings, tables, figures) is ``findings``."""

from __future__ import annotations

import contextlib
import math
import time
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from dltour.bench import Trainer
from dltour.config import StudyConfig
from dltour.data import vgg_pretrain
from dltour.data.imagenet_weights import get_imagenet_state_dict
from dltour.data.images import ImageSet
from dltour.data.tinyimagenet import ImageClassData, count_classes, load_splits
from dltour.errors import DltourError
from dltour.experiments.vgg_transfer.findings import ARCHS, INITS, NEEDS_WEIGHTS
from dltour.metrics.classification import accuracy, predict, time_inference
from dltour.models.vgg import VGGTransfer, count_params, normalize_uint8
from dltour.registry import Study
from dltour.seeding import generator
from dltour.train import fit, iterate_minibatches
from dltour.train.augment import random_crop_flip
from dltour.train.schedules import warmup_cosine


class Config(StudyConfig):
    archs: list[Literal["vgg16", "vgg19"]] = Field(default_factory=lambda: list(ARCHS), min_length=1)
    """Architectures (torchvision's VGG-16 / VGG-19 layer definitions)."""
    inits: list[Literal["random", "imagenet", "frozen", "frozen224", "tuned"]] = Field(
        default_factory=lambda: list(INITS), min_length=1)
    """Initialisations; each arch x init is one variant ``<arch>-<init>``."""
    image_size: int = Field(64, ge=32, multiple_of=32)
    """Images are resized to this on load (a multiple of 32: VGG's five 2x2 poolings; Tiny-ImageNet's: 64)."""
    width: float = Field(1.0, gt=0, le=1)
    """Channel-count scale of the conv layers (1: torchvision's VGG; the demo's nets: 1/16)."""
    fc_width: int = Field(4096, ge=1)
    """Width of fc1 and fc2 (4096: VGG's)."""
    batch_norm: bool = False
    """Batch-norm layer lists (``vgg16_bn``/``vgg19_bn``) in the reference's variants (the demo's nets need them)."""
    pretrained: Literal["imagenet", "demo-cifar5"] = "imagenet"
    """Pretrained weights: torchvision's ImageNet, or the demo's, on 5 CIFAR-10 classes (width 1/16, fc_width 128)."""
    large_input: int = Field(224, ge=32, multiple_of=32)
    """Input size of ``frozen224``: where the pretrained fc1 fits (ImageNet's: 224; the demo's: 32, no upsampling)."""
    epochs: int = Field(20, ge=1)
    """Training epochs (the reference: 20); test accuracy is the final epoch's."""
    batch_size: int = Field(64, ge=1)
    """Images per training batch of the faithful recipe."""
    lr: float = Field(1e-3, gt=0)
    """SGD learning rate of the faithful recipe."""
    momentum: float = Field(0.9, ge=0, lt=1)
    """SGD momentum (both recipes)."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout after fc1 and fc2 in the faithful recipe (Keras' VGG top has none)."""
    tuned_lr: float = Field(0.05, gt=0)
    """Peak learning rate of the tuned recipe (after a 1-epoch linear warm-up; cosine decay to 0)."""
    tuned_batch_size: int = Field(128, ge=1)
    """Images per training batch of the tuned recipe."""
    tuned_weight_decay: float = Field(5e-4, ge=0)
    """Weight decay of the tuned recipe."""
    tuned_dropout: float = Field(0.5, ge=0, lt=1)
    """Dropout after fc1 and fc2 in the tuned recipe."""
    imagenet: Literal["if-available", "download"] = "download"
    """'download': ImageNet variants run and fetch weights (error offline); 'if-available': they run only with a
    local copy (``data.imagenet_weights_dir`` or torch's hub cache), else they are left out."""
    eval_batch: int = Field(256, ge=1)
    """Images per forward pass when evaluating (and when precomputing frozen features)."""
    checkpoint_every: int = Field(5, ge=0)
    """Epochs between checkpoints (0: none). The checkpoint is deleted when the run ends (it is 0.3-1 GB)."""
    infer_batch: int = Field(256, ge=1)
    """Batch size of the batched inference timing."""
    infer_iters: int = Field(20, ge=1)
    """Timed forward passes of the inference timing."""
    infer_warmup: int = Field(5, ge=0)
    """Untimed warm-up passes before the inference timing."""
    bench_steps: int = Field(30, ge=1)
    """Not read any more (``dltour bench`` times its own window); kept so that configs that set it stay valid."""
    channels_last: bool = True
    """Use channels_last memory format on CUDA (ignored on the CPU)."""
    data: ImageClassData = Field(default_factory=ImageClassData)
    """The images, the classes and images per class used, and where ImageNet weights are found."""


# ---------------------------------------------------------------- input, loss, training step, metrics
def model_input(xb: torch.Tensor, channels_last: bool, pad: int = 0, aug: torch.Generator | None = None) -> torch.Tensor:
    """(B, H, W, 3) uint8 images -> the model's (B, 3, H, W) float input: ImageNet-normalised, and
    with ``aug`` (the tuned recipe) randomly cropped (``pad``) and flipped."""
    x = normalize_uint8(xb, channels_last)
    return random_crop_flip(x, pad, aug, channels_last) if aug is not None else x


def batch_loss(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
               autocast=contextlib.nullcontext) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss of one batch: (cross-entropy of ``net(x)`` against ``y`` in fp32, the logits)."""
    with autocast():
        logits = net(x)
    return torch.nn.functional.cross_entropy(logits.float(), y), logits


def train_step(net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               sched=None, autocast=contextlib.nullcontext) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step (the trainer's: ``run``, ``bench`` and ``check_model`` use it): ``net`` (the whole model,
    or the trainable head of a frozen one on precomputed features ``x``), cross-entropy in fp32,
    backward, SGD step, then the learning-rate schedule's step (the tuned recipe). Returns the
    detached loss and logits."""
    opt.zero_grad(set_to_none=True)
    loss, logits = batch_loss(net, x, y, autocast)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()
    return loss.detach(), logits.detach()


def curve_metrics(hist: list[dict]) -> dict[str, float]:
    """Per-run curve measures from the epoch history (only those defined for its length):
    ``val_acc_epoch1``; ``val_acc_auc`` (mean validation accuracy over epochs); ``val_acc_change_sd``
    (sd of the epoch-to-epoch changes of validation accuracy, >= 3 epochs); ``train_acc_rise``
    (last minus first epoch's training accuracy, >= 2 epochs)."""
    val = np.array([h["val_acc"] for h in hist], dtype=float)
    tr = np.array([h["train_acc"] for h in hist], dtype=float)
    out = {"val_acc_epoch1": float(val[0]), "val_acc_auc": float(val.mean())}
    if len(val) >= 3:
        out["val_acc_change_sd"] = float(np.std(np.diff(val), ddof=1))
    if len(tr) >= 2:
        out["train_acc_rise"] = float(tr[-1] - tr[0])
    return out


class Science(Study):
    """What one run of VGGTransferStudy does (the study's declarations: the package's ``__init__``)."""
    Config = Config

    @staticmethod
    def pretrained_state_dict(cfg: Config, arch: str, progress: bool = False) -> dict:
        if cfg.pretrained == "demo-cifar5":
            return vgg_pretrain.load_pretrained(arch)  # sha256 checked
        return get_imagenet_state_dict(arch, cfg.data.imagenet_weights_dir, download=cfg.imagenet == "download", progress=progress)

    @staticmethod
    def parse(variant: str) -> tuple[str, str]:
        arch, _, init = variant.partition("-")
        if arch not in ARCHS or init not in INITS:
            raise DltourError(f"unknown variant {variant!r}: expected <{'|'.join(ARCHS)}>-<{'|'.join(INITS)}>")
        return arch, init

    def make_model(self, cfg: Config, variant: str, n_classes: int) -> VGGTransfer:
        """The variant's model with its freezing applied, without weights (random init)."""
        arch, init = self.parse(variant)
        if init == "tuned":
            return VGGTransfer(arch + "_bn", n_classes, cfg.image_size, dropout=cfg.tuned_dropout, width=cfg.width,
                               fc_width=cfg.fc_width)
        up = cfg.large_input if init == "frozen224" and cfg.large_input != cfg.image_size else None
        m = VGGTransfer(arch + ("_bn" if cfg.batch_norm else ""), n_classes, cfg.image_size, upsample_to=up,
                        dropout=cfg.dropout, width=cfg.width, fc_width=cfg.fc_width)
        return m.freeze({"frozen": "features", "frozen224": "all_but_last"}.get(init, "none"))

    def build_model(self, cfg: Config, variant: str):
        return self.make_model(cfg, variant, count_classes(cfg.data, cfg.image_size))

    def splits(self, cfg: Config) -> dict[str, ImageSet]:
        """train / val (held out of train per class, fixed permutation) / test."""
        return load_splits(cfg.data, cfg.image_size)

    # ------------------------------------------------------------------ one run
    def trainer(self, cfg: Config, variant: str, seed: int, device, data: dict[str, ImageSet] | None = None,
                pretrained: bool = True, progress: bool = False) -> Trainer:
        """The variant's model (its init's pretrained weights loaded unless ``pretrained`` is False),
        its SGD (and the tuned recipe's schedule), the uint8 splits (``data``; None: :meth:`splits`)
        resident on ``device`` and, for a frozen variant, the frozen part's outputs computed once;
        batches shuffled by (seed, epoch) and normalised (``tuned``: cropped and flipped) on the device:
        what ``run``, ``dltour bench`` and the model check use."""
        arch, init = self.parse(variant)
        data = self.splits(cfg) if data is None else data
        dev = device
        cl = cfg.channels_last and dev.device.type == "cuda"
        model = self.make_model(cfg, variant, len(data["train"].classes))
        if pretrained and init in NEEDS_WEIGHTS:  # conv layers; fc1/fc2 too for frozen224 (where they fit)
            sd = self.pretrained_state_dict(cfg, arch, progress=progress)
            model.load_imagenet(sd, fc=init == "frozen224")
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

        F, precompute_s = {}, 0.0
        if frozen:  # the frozen part is deterministic: compute its output once per split
            t0 = time.perf_counter()
            model.eval()
            F = {s: model.frozen_outputs(X[s], cfg.eval_batch, dev.autocast, cl) for s in X}  # (N, D) float32
            dev.sync()
            precompute_s = time.perf_counter() - t0
            net = model.head()
            ckpt = {"head": net}
        else:
            net = model
            ckpt = {"model": model}
        trainable = [p for p in net.parameters() if p.requires_grad]
        if tuned:
            opt = torch.optim.SGD(trainable, lr=cfg.tuned_lr, momentum=cfg.momentum, nesterov=True,
                                  weight_decay=cfg.tuned_weight_decay)
            steps_per_epoch = math.ceil(len(Y["train"]) / bs)  # linear warm-up over 1 epoch, then cosine to 0
            sched = warmup_cosine(opt, steps_per_epoch, cfg.epochs * steps_per_epoch)
            ckpt["sched"] = sched
        else:
            opt = torch.optim.SGD(trainable, lr=cfg.lr, momentum=cfg.momentum)
            sched = None
        ckpt["opt"] = opt
        net.train()

        def epoch_batches(epoch: int):
            for b, idx in enumerate(iterate_minibatches(len(Y["train"]), bs, seed, epoch, device=dev.device)):
                x = F["train"][idx] if frozen else model_input(X["train"][idx], cl, pad,
                                                               generator(seed, epoch, b) if tuned else None)
                yield x, Y["train"][idx]

        return Trainer(lambda x, y: train_step(net, opt, x, y, sched, dev.autocast), epoch_batches,
                       min(bs, len(Y["train"])), loss=lambda x, y: batch_loss(net, x, y, dev.autocast)[0],
                       modules=(net,), note="uint8 dataset resident on the device, batches sliced and normalised there",
                       state={"data": data, "model": model, "net": net, "X": X, "Y": Y, "F": F, "cl": cl,
                              "checkpoint": ckpt, "precompute_s": precompute_s})

    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        dev = ctx.device
        tr = self.trainer(cfg, variant, seed, dev, progress=ctx.progress)
        data, model, net, X, Y, F, cl = (tr.state[k] for k in ("data", "model", "net", "X", "Y", "F", "cl"))
        n_classes = len(data["train"].classes)
        if model.freeze_mode != "none":  # the head on the precomputed outputs
            forward = {s: (lambda idx, s=s: net(F[s][idx])) for s in X}
        else:
            forward = {s: (lambda idx, s=s: model(model_input(X[s][idx], cl))) for s in X}
        loss_fn = torch.nn.CrossEntropyLoss()  # evaluation

        def train_epoch(epoch: int) -> dict:
            net.train()
            tot_loss = torch.zeros((), device=dev.device)
            correct = torch.zeros((), device=dev.device)
            n = len(Y["train"])
            for x, y in tr.epoch_batches(epoch):
                loss, logits = tr.step(x, y)
                tot_loss += loss * len(y)
                correct += (logits.argmax(1) == y).sum()
            return {"train_loss": tot_loss.item() / n, "train_acc": 100.0 * correct.item() / n}

        def evaluate_split(s: str) -> tuple[float, float, torch.Tensor]:
            net.eval()
            logits = predict(forward[s], len(Y[s]), cfg.eval_batch, dev)
            return (float(loss_fn(logits, Y[s]).item()), 100.0 * accuracy(logits, Y[s]), logits)

        def evaluate(epoch: int) -> dict:
            vl, va, _ = evaluate_split("val")
            return {"val_loss": vl, "val_acc": va}

        t0 = time.perf_counter()
        res = fit(ctx, tr.state["checkpoint"], cfg.epochs, train_epoch, evaluate, checkpoint=cfg.checkpoint_every > 0,
                  checkpoint_every=max(1, cfg.checkpoint_every))
        train_s = time.perf_counter() - t0
        test_loss, test_acc, test_logits = evaluate_split("test")
        if ctx.checkpoint_path.exists():  # only for resuming; 0.3-1 GB per run
            ctx.checkpoint_path.unlink()
        timing = time_inference(model, (3, cfg.image_size, cfg.image_size), dev, batch_size=cfg.infer_batch,
                                warmup=cfg.infer_warmup, iters=cfg.infer_iters, channels_last=cl)
        both = {}
        if dev.device.type == "cuda":  # Table 7 beside the reference's (fp32) times: both precisions
            for prec in ("fp32", "bf16"):
                t = time_inference(model, (3, cfg.image_size, cfg.image_size), dev.with_precision(prec),
                                   batch_size=cfg.infer_batch, warmup=cfg.infer_warmup, iters=cfg.infer_iters,
                                   channels_last=cl)
                both.update({f"infer_us_{prec}": t["us_per_image_batched"], f"infer_us_b1_{prec}": t["latency_b1_us"]})
        total_p, trainable_p = count_params(model)
        hist = res.history
        pred = test_logits.argmax(1).cpu().numpy()
        ctx.save_arrays(test_pred=pred, test_true=data["test"].y, classes=np.array(data["test"].classes))
        ctx.save_json("timing", timing)
        return {
            **curve_metrics(hist),
            "test_acc": test_acc, "test_loss": test_loss, "chance_acc": 100.0 / n_classes,
            "final_train_acc": hist[-1]["train_acc"], "final_val_acc": hist[-1]["val_acc"],
            "best_val_acc": max(h["val_acc"] for h in hist),
            "infer_us": timing["us_per_image_batched"], "infer_us_b1": timing["latency_b1_us"], **both,
            "trainable_params": trainable_p, "total_params": total_p,
            "precompute_s": tr.state["precompute_s"], "train_s": train_s, "epochs": len(hist),
            "n_train": len(Y["train"]), "n_classes": n_classes, "input_size": cfg.image_size,
        }
