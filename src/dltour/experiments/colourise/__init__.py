"""T4.2 ``colourise``: colour grayscale images with a U-Net trained on MAE and with a conditional
GAN (pix2pix: U-Net generator, patch discriminator, L1 + adversarial loss); compare test MAE with
measures of how vivid and how realistic the colours are (reference Figure 7 and its text).

Run it::

    dltour run colourise                   # demo: embedded CIFAR-10 subset, U-Net and cGAN x 3 seeds
    dltour run colourise --profile full    # CIFAR-100 (downloaded), 3 seeds, GPU
    dltour run colourise --set data.path=DIR --set data.train_subset=5000   # any [train|test]/<class>/ folder

The reference states the two models, MAE for the U-Net, the cGAN of Mirza and Osindero, CIFAR-100
as in T3.2 and the test MAE. Where it is silent we follow pix2pix (Isola et al. 2017) and assume:

- data: as T3.2 (``dltour.data.images``; the same training images when ``val_fraction`` is the
  same); ``demo`` trains on random ``train_crop`` crops and scores test images spread over the
  classes, whole;
- input: the luma ``Y = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, what PIL's ``convert("L")``
  computes) as one channel in [0, 1]; target: the RGB image in [0, 1];
- output: the U-Net (``UNet(1, 2, width, depth)``) predicts the chroma U, V (YUV, BT.601) and the
  RGB image is assembled from the input Y and them (``Colouriser``), so brightness is kept exactly
  and an untrained model outputs the gray image (predicting RGB directly made our small demo
  models worse than the gray input);
- ``unet``: the ``Colouriser`` trained on MAE (RGB, [0, 1]) with Adam (lr 1e-3);
- ``cgan``: the same ``Colouriser`` as generator, ``PatchDiscriminator`` (conditioned on the gray input,
  ``d_layers`` stride-2 layers, ``ndf`` filters); pix2pix's objective ``BCE(D(x, G(x)), 1) + lambda * L1``
  with ``lambda = l1_weight`` = 100, D's loss halved, one D step then one G step per batch, Adam
  lr 2e-4, betas (0.5, 0.999), no noise input (our generator is deterministic);
- both train for ``epochs`` epochs with the same batches; no early stopping (the reference does
  not mention one for T4.2);

What each metric measures and how each claim is decided: ``findings``.
"""

from __future__ import annotations

from dltour.data.images import images_for
from dltour.experiments.colourise import findings
from dltour.experiments.colourise import science
from dltour.experiments.colourise.science import Config
from dltour.registry import register


@register
class Colourise(science.Science):
    name = "colourise"
    task = "T4.2"
    title = "Colourising grayscale images: U-Net on MAE vs conditional GAN (pix2pix); MAE vs vividness and realism"
    version = 2
    small_runs = True
    profiles = {
        "smoke": {"data.source": "embedded", "data.train_subset": 48, "data.test_subset": 16, "width": 4, "depth": 1,
                  "ndf": 4, "epochs": 2, "batch_size": 64, "seeds": 1},
        "demo": {"data.source": "embedded", "data.train_subset": 500, "data.test_subset": 300, "width": 8, "depth": 2,
                 "ndf": 16, "epochs": 6, "batch_size": 32, "train_crop": 16, "seeds": 3},
        "full": {"data.source": "download", "width": 64, "depth": 3, "ndf": 64, "epochs": 20, "batch_size": 128,
                 "seeds": 3},
    }
    check_offline = {"data.source": "embedded"}  # the model check on the embedded images
    reference = findings.REFERENCE
    headline_metrics = ["test_mae", "colourfulness", "colour_variance", "colourfulness_distance", "hue_error"]

    # what the runs mean (findings, table, figures; comparable with the reference?): findings.py
    summarize = findings.summarize
    comparison = findings.comparison

    # ------------------------------------------------------------------ runs and checks
    sweep = ("models",)

    def variants(self, cfg: Config) -> list[str]:
        return list(cfg.models)  # checked by Config

    def bench_default(self, cfg: Config) -> str:
        return "cgan" if "cgan" in cfg.models else cfg.models[0]  # by default the costlier variant

    def unused_keys(self, cfg: Config, variant: str) -> tuple[str, ...]:
        """The U-Net does not depend on the GAN's settings, nor the cGAN on the U-Net's lr."""
        return ("lr_gan", "l1_weight", "ndf", "d_layers") if variant == "unet" else ("lr_unet",)

    def check_data(self, cfg: Config) -> None:
        images_for(cfg.data)  # the archive or folder decodes (into its provenance-checked cache)
