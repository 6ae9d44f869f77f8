"""T1.1 ``vgg-transfer``: VGG-16 and VGG-19 on Tiny-ImageNet from (a) random init, (b) ImageNet
weights with every layer trained, (c) ImageNet conv layers frozen and the fully connected head
trained, and (d) inputs upsampled to 224x224 so that ImageNet's fc1/fc2 load too and only the last
layer is trained (reference Tables 1 and 7, Figures 1 and 9-12); plus ``tuned`` (ours), a
batch-norm from-scratch recipe that separates "what the reference's random init got" from "what
the architecture can do".

Run it::

    dltour run vgg-transfer                    # demo: CPU, offline, the pretrain-then-transfer analogue below
    dltour run vgg-transfer --profile full     # Tiny-ImageNet, VGG-16/19, ImageNet weights, 20 epochs (a GPU)
    dltour run vgg-transfer --profile full --set data.imagenet_weights_dir=WEIGHTS --set data.path=tiny-imagenet-200.zip
    dltour describe vgg-transfer --profile full --json   # parameter counts (trainable: frozen / frozen224)

Variants are ``<arch>-<init>``: arch ``vgg16``/``vgg19``, init ``random``, ``imagenet`` (b),
``frozen`` (c), ``frozen224`` (d), ``tuned`` (ours: ``vgg16_bn``/``vgg19_bn``, SGD + nesterov,
warm-up then cosine, weight decay, dropout, crop + flip).

Assumptions where the reference is silent: the official Tiny-ImageNet ``val`` (labels from
``val_annotations.txt``) is the test set, 50 images per class of ``train`` (a fixed permutation)
are the validation set; inputs are normalised with ImageNet's mean/std; the faithful recipe is SGD
lr 1e-3, momentum 0.9, batch 64, no augmentation, schedule, weight decay or dropout (Keras' VGG
top has none), 20 epochs, final-epoch accuracy; training accuracy is the running accuracy over an
epoch's batches (as Keras reports it); at 64x64 the conv output flattens to 2048, so fc1/fc2 are
new in (b) and (c). Frozen variants compute their frozen part once per split and train only the
head on it. Inference time (``dltour.metrics.classification.time_inference``) is forward-only per
image, batched and at batch 1; the reference's batch size and GPU are unknown.

Demo (``--profile demo``: CPU, offline): no ImageNet weights can travel in the demo pack, so the
demo keeps the experiment's structure at CPU size. Its "ImageNet" weights are VGG-16 and VGG-19
layer lists at 1/16 of the channels with a 128-wide head, pretrained at pack-build time on five
CIFAR-10 classes (airplane, automobile, bird, cat, deer), shipped as ``vgg_demo_pretrained.pt`` and
pinned by sha256 (``dltour.data.vgg_pretrain``). The demo transfers them to the five *other*
classes (dog, frog, horse, ship, truck) of the demo pack's CIFAR-10 subset, 32x32: random init vs
pretrained (all trainable) vs conv frozen (head trained), and, as the analogue of the 224-input
variant, pretrained conv + fc1 + fc2 frozen and only the last layer trained (the demo's pretrained
fc1 already fits the target's input size, so nothing is upsampled: it reproduces the smaller
trainable capacity, not the larger input). Same recipe for every demo variant, with lr 0.01 (the
reference's 1e-3 barely moves these narrow nets in 6 epochs), 3 seeds; ``tuned`` is not run in the
demo. The demo checks the reference's claims on an analogue, not on its data.

What the runs mean (the claims, how each is measured and decided, Tables 1 and 7, the figures, and
whether a run is comparable with the reference): :mod:`dltour.experiments.vgg_transfer.findings`.
"""

from __future__ import annotations

import numpy as np

from dltour.data import vgg_pretrain
from dltour.data.imagenet_weights import find_local_weights
from dltour.data.images import ImageSet
from dltour.data.tinyimagenet import count_classes
from dltour.experiments.vgg_transfer import findings
from dltour.experiments.vgg_transfer import science
from dltour.experiments.vgg_transfer.findings import NEEDS_WEIGHTS
from dltour.experiments.vgg_transfer.science import Config
from dltour.registry import register

#: the demo's nets (``dltour.data.vgg_pretrain``: pretrained on five CIFAR-10 classes) and its five other classes
DEMO_NETS = {"pretrained": "demo-cifar5", "batch_norm": vgg_pretrain.BATCH_NORM, "width": vgg_pretrain.WIDTH,
             "fc_width": vgg_pretrain.FC_WIDTH,
             "large_input": vgg_pretrain.SIZE, "data.class_names": list(vgg_pretrain.TARGET_CLASSES)}


@register
class VGGTransferStudy(science.Science):
    name = "vgg-transfer"
    task = "T1.1"
    title = "VGG-16/VGG-19 on Tiny-ImageNet: random vs ImageNet vs frozen (64 and 224) initialisation"
    version = 2  # v2: demo = pretrain-then-transfer analogue; curve metrics; 3 seeds
    small_runs = True  # the demo's nets are tiny: one process per core beats intra-op threads
    profiles = {
        "smoke": {"data.source": "embedded", "image_size": 32, **DEMO_NETS,
                  "data.class_names": list(vgg_pretrain.TARGET_CLASSES[:2]), "data.train_per_class": 4,
                  "data.val_per_class": 2, "data.test_per_class": 4, "epochs": 1, "batch_size": 8, "tuned_batch_size": 8,
                  "archs": ["vgg16"], "inits": ["random", "frozen"], "seeds": 1, "imagenet": "if-available",
                  "checkpoint_every": 0, "eval_batch": 64, "infer_batch": 4, "infer_iters": 1, "infer_warmup": 0,
                  "bench_steps": 1},
        "demo": {"data.source": "embedded", "image_size": 32, **DEMO_NETS,
                 "inits": ["random", "imagenet", "frozen", "frozen224"], "data.train_per_class": 200,
                 "data.val_per_class": 50, "data.test_per_class": 100, "epochs": 6, "batch_size": 32, "lr": 0.01,
                 "seeds": 3, "imagenet": "if-available", "checkpoint_every": 0, "eval_batch": 500,
                 "infer_batch": 32, "infer_iters": 2, "infer_warmup": 1, "bench_steps": 3},
        "full": {"seeds": 3},
    }
    reference = findings.reference
    headline_metrics = ["test_acc", "test_loss", "val_acc_epoch1", "best_val_acc", "final_train_acc", "infer_us",
                        "trainable_params"]
    # what the runs mean: findings.py
    label = staticmethod(findings.label)
    comparison = findings.comparison
    summarize = findings.summarize

    # ------------------------------------------------------------------ variants, models
    sweep = ("archs", "inits")
    # where weights are found, and settings that do not change a run's result
    not_in_results = ("imagenet", "bench_steps", "checkpoint_every", "data.imagenet_weights_dir")

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
        if cfg.pretrained == "demo-cifar5":
            return arch in vgg_pretrain.ARCHS and vgg_pretrain.pretrained_path().exists()
        return find_local_weights(arch, cfg.data.imagenet_weights_dir) is not None

    def bench_default(self, cfg: Config) -> str:
        return f"{cfg.archs[0]}-random"

    def benchable(self, variant: str) -> bool:  # a whole network trained with the plain SGD recipe
        return self.parse(variant)[1] in ("random", "imagenet")

    def check_model(self, cfg: Config, variant: str) -> float:
        """The generic check (the trainer's loss on two images, backpropagated) on made-up images and
        random weights: nothing is read or downloaded (the full profile's data and weights need not be here)."""
        from dltour.bench import check_trainer
        from dltour.device import resolve_device

        x = np.random.default_rng(0).integers(0, 256, (2, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
        classes = [str(c) for c in range(count_classes(cfg.data, cfg.image_size))]
        made_up = {"train": ImageSet(x, np.array([0, 1]), classes)}
        return check_trainer(self.trainer(cfg, variant, 0, resolve_device("cpu"), made_up, pretrained=False))

    def check_data(self, cfg: Config) -> None:
        """A Tiny-ImageNet zip given by path: every member's CRC (decoding 110k JPEGs here would
        cost what a run costs; the runs decode them into the cache)."""
        p = cfg.data.path
        if p and str(p).endswith(".zip") and "://" not in str(p):
            import zipfile

            from dltour.data.source import reading

            with reading(p, "tiny-imagenet"), zipfile.ZipFile(p) as z:
                bad = z.testzip()
            if bad:
                from dltour.errors import DltourError

                raise DltourError(f"{p}: member {bad} is damaged (CRC mismatch); fetch the archive again "
                                  "(`dltour data fetch tiny-imagenet`)")
