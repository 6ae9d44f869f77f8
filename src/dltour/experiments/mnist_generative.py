"""T4.1 ``mnist-generative``: VAEs (latent 2 or 20, with or without an extra hidden layer) and GANs
(random input 1 or 10) generating MNIST digits, compared by Inception Score and, for the VAEs,
test reconstruction MAE (reference Section 4, Table 6).

Run it::

    dltour run mnist-generative                  # demo: embedded 10k/2k subset, 1 seed
    dltour run mnist-generative --profile full   # the whole MNIST, 50 VAE / 100 GAN epochs, 3 seeds (GPU)
    dltour run mnist-generative --set data.path=../shared/data/mnist

Inception Score on MNIST: the ImageNet Inception network is meaningless on digits, so the score
uses a small CNN trained once on the 60k MNIST training digits (``dltour.models.mnist_classifier``,
29k parameters, test accuracy in ``demo_data/mnist_classifier.json``), shipped in the demo pack
and pinned by sha256. The score's signature (classifier hash, images scored, splits) is saved with
every run and shown in the summary; scores with different signatures are not comparable. The real
test digits, scored the same way, give the ceiling row ``real-test``.

What the reference states: the six variants and Table 6 (IS and MAE). What we chose:

- VAE (Keras VAE example): encoder 784 -> 512 (ReLU) -> mu, log sigma^2; decoder mirrored with a
  sigmoid output; the "extra layer" is a 256-unit ReLU layer in both (784 -> 512 -> 256 -> z);
  loss = binary cross-entropy summed over pixels + KL; Adam 1e-3, batch 128, 50 epochs (``full``);
- GAN (Keras MLP GAN style): G: z ~ N(0, I) -> 256 -> 512 -> 784 (LeakyReLU 0.2, sigmoid),
  D: 784 -> 512 -> 256 -> 1 (LeakyReLU 0.2, dropout 0.3, input centred); non-saturating loss,
  real labels smoothed to 0.9; Adam 2e-4 (beta1 0.5), batch 128, one D step per G step, 100
  epochs (``full``);
- MAE: mean absolute pixel error on the test set of the decoder's output at the posterior mean
  (z = mu), pixels in [0, 1];
- IS: 10,000 generated images (VAE: decoder means for z ~ N(0, I); GAN: G(z)), 10 splits; the
  sample grids use the same fixed noise (seed 1234) for every variant of a latent size.

Demo: 10k training / 2k test digits, 8 VAE epochs, 6 GAN epochs at batch 32 (1,875 steps), 1
seed, IS on 2,000 images in 10 splits (as the 2k real test digits); not comparable with the
reference, and far too short for the GANs to converge. Measured: 41 s on 2 CPU cores (load average
about 1.8 from other jobs); IS vae-z2 2.71, vae-z20 3.75, vae-z2-extra 2.62, vae-z20-extra 3.76,
gan-z1 1.00 (collapsed to one stroke), gan-z10 2.04, real test digits 9.50; MAE 0.111 / 0.051 /
0.106 / 0.072. On the full MNIST (``--set data.path=../shared/data/mnist --set vae_epochs=3 --set
gan_epochs=2 --set gan_batch_size=32``, IS on 10,000 images): IS 3.00 / 4.36 / 3.81 / 5.02, GANs
1.01 / 2.66, real 9.71; MAE 0.106 / 0.040 / 0.100 / 0.052 (reference 0.101 / 0.041 / 0.091 / 0.043).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from dltour import DltourError
from dltour.config import StudyConfig
from dltour.data import mnist
from dltour.data.mnist import MnistData
from dltour.metrics.inception import inception_score, signature
from dltour.models.gan import GAN, discriminator_loss, generator_loss
from dltour.models.mnist_classifier import predict_proba
from dltour.models.vae import VAE, vae_loss
from dltour.plots import new_figure, save
from dltour.registry import Finding, Ref, RunResult, Study, Summary, by_variant, register
from dltour.train import fit, iterate_minibatches, minibatch_epoch

GRID_SEED = 1234
VAES = ["vae-z2", "vae-z20", "vae-z2-extra", "vae-z20-extra"]
GANS = ["gan-z1", "gan-z10"]


class Config(StudyConfig):
    vae_epochs: int = Field(50, ge=1)
    """Training epochs of each VAE."""
    gan_epochs: int = Field(100, ge=1)
    """Training epochs of each GAN (one discriminator and one generator step per batch)."""
    vae_batch_size: int = Field(128, ge=1)
    gan_batch_size: int = Field(128, ge=1)
    vae_lr: float = Field(1e-3, gt=0)
    """Adam learning rate of the VAEs."""
    gan_lr: float = Field(2e-4, gt=0)
    """Adam learning rate of both GAN networks (betas 0.5, 0.999)."""
    is_samples: int = Field(10_000, ge=10)
    """Generated images scored by the Inception Score."""
    is_splits: int = Field(10, ge=1)
    """Equal parts the scored images are cut into (IS mean and sd over parts)."""
    grid: int = Field(8, ge=2, le=16)
    """Sample grids are grid x grid images."""
    models: list[str] = Field(default_factory=lambda: VAES + GANS)
    """Which of vae-z2, vae-z20, vae-z2-extra, vae-z20-extra, gan-z1, gan-z10 to run (the variants)."""
    data: MnistData = Field(default_factory=MnistData)


def parse_variant(v: str) -> tuple[str, int, bool]:
    """'vae-z20-extra' -> ('vae', 20, True)."""
    parts = v.split("-")
    if len(parts) not in (2, 3) or parts[0] not in ("vae", "gan") or not parts[1].startswith("z") \
            or not parts[1][1:].isdigit() or (len(parts) == 3 and (parts[2] != "extra" or parts[0] != "vae")):
        raise DltourError(f"unknown variant {v!r}: use vae-z<N>[-extra] or gan-z<N> (e.g. {', '.join(VAES + GANS)})")
    if int(parts[1][1:]) < 1:
        raise DltourError(f"variant {v!r}: the latent size must be >= 1")
    return parts[0], int(parts[1][1:]), len(parts) == 3


_SCORER: dict = {}


def scorer(device) -> tuple[torch.nn.Module, str]:
    """The pinned IS classifier on ``device`` (loaded once per process) and its sha256."""
    key = str(device)
    if key not in _SCORER:
        model, digest = mnist.load_classifier()
        _SCORER.clear()
        _SCORER[key] = (model.to(device), digest)
    return _SCORER[key]


@register
class MnistGenerative(Study):
    name = "mnist-generative"
    task = "T4.1"
    title = "MNIST generation: VAE latent 2/20 x extra layer, GAN noise 1/10, by Inception Score and MAE"
    Config = Config
    profiles = {
        "smoke": {"vae_epochs": 1, "gan_epochs": 1, "seeds": 1, "is_samples": 300, "is_splits": 3,
                  "data.source": "embedded", "data.train_subset": 1000, "data.test_subset": 300},
        # demo: a GAN needs optimizer steps more than data: batch 32 gives 313 steps an epoch on 10k images
        "demo": {"vae_epochs": 8, "gan_epochs": 6, "gan_batch_size": 32, "seeds": 1, "is_samples": 2000,
                 "data.source": "embedded"},
        "full": {"seeds": 3},
    }
    reference = [
        Ref("Table 6", "vae-z2", "inception_score", 4.42), Ref("Table 6", "vae-z2", "test_mae", 0.101),
        Ref("Table 6", "vae-z20", "inception_score", 5.88), Ref("Table 6", "vae-z20", "test_mae", 0.041),
        Ref("Table 6", "vae-z2-extra", "inception_score", 6.23), Ref("Table 6", "vae-z2-extra", "test_mae", 0.091),
        Ref("Table 6", "vae-z20-extra", "inception_score", 6.84), Ref("Table 6", "vae-z20-extra", "test_mae", 0.043),
        Ref("Table 6", "gan-z1", "inception_score", 2.43), Ref("Table 6", "gan-z10", "inception_score", 8.33),
    ]
    headline_metrics = ["inception_score", "test_mae", "inception_score_std"]

    def variants(self, cfg: Config) -> list[str]:
        for v in cfg.models:
            parse_variant(v)
        if cfg.is_splits > cfg.is_samples:
            raise DltourError(f"is_splits ({cfg.is_splits}) must not exceed is_samples ({cfg.is_samples})")
        return list(cfg.models)

    def run_key(self, cfg: Config, variant: str) -> dict:
        d = super().run_key(cfg, variant)
        d.pop("models")  # the sweep list: adding a model reuses the others
        kind = parse_variant(variant)[0]
        for k in [k for k in d if k.startswith("gan_" if kind == "vae" else "vae_")]:
            d.pop(k)  # a GAN's result does not depend on the VAE settings and vice versa
        return d

    def comparable(self, cfg: Config) -> bool:
        return mnist.is_full(cfg.data)

    def build_model(self, cfg: Config, variant: str):
        kind, z, extra = parse_variant(variant)
        return VAE(z, extra) if kind == "vae" else GAN(z)

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        kind, z, extra = parse_variant(variant)
        dev = ctx.device.device
        d = mnist.tensors_for(cfg.data, dev)
        model = self.build_model(cfg, variant).to(dev)
        if kind == "vae":
            metrics = self._train_vae(cfg, model, d, seed, ctx)
            sample = model.decode
        else:
            metrics = self._train_gan(cfg, model, d, seed, ctx)
            sample = model.generator
        model.eval()
        g = torch.Generator().manual_seed(10_000 + seed)
        with torch.no_grad():
            imgs = torch.cat([sample(torch.randn(min(2000, cfg.is_samples - i), z, generator=g).to(dev)).float()
                              for i in range(0, cfg.is_samples, 2000)])  # (is_samples, 784)
            grid = sample(torch.randn(cfg.grid ** 2, z, generator=torch.Generator().manual_seed(GRID_SEED))
                          .to(dev)).float().cpu().numpy()
        clf, digest = scorer(dev)
        probs = predict_proba(clf, imgs).numpy()
        is_mean, is_std = inception_score(probs, cfg.is_splits)
        counts = np.bincount(probs.argmax(1), minlength=10)
        ctx.save_json("inception", {"signature": signature(digest, cfg.is_samples, cfg.is_splits),
                                    "classifier_sha256": digest, "n_samples": cfg.is_samples,
                                    "splits": cfg.is_splits, "predicted_class_counts": counts.tolist()})
        arrays = {"grid": grid.astype(np.float32)}
        if kind == "vae":
            with torch.no_grad():
                arrays["recon10"] = model.decode(model.encode(d["test_x"][:10])[0]).float().cpu().numpy()
        ctx.save_arrays(**arrays)
        metrics.update({"inception_score": is_mean, "inception_score_std": is_std,
                        "classes_covered": int((counts >= 0.01 * len(probs)).sum()),
                        "params": sum(p.numel() for p in model.parameters())})
        return metrics

    def _train_vae(self, cfg: Config, model: VAE, d: dict, seed: int, ctx) -> dict:
        X, Xte, dev = d["train_x"], d["test_x"], ctx.device.device
        opt = torch.optim.Adam(model.parameters(), lr=cfg.vae_lr)

        def batch_loss(idx: torch.Tensor) -> torch.Tensor:
            xb = X[idx]
            with ctx.device.autocast():
                recon, mu, logvar = model(xb)
            return vae_loss(recon.float(), xb, mu.float(), logvar.float())[0]

        def train_epoch(epoch: int) -> dict:
            return {"train_loss": minibatch_epoch(model, opt, len(X), cfg.vae_batch_size, seed, epoch, batch_loss, dev)}

        def evaluate(epoch: int) -> dict:
            return {"test_mae": self._vae_mae(model, Xte)}

        fit(ctx, {"model": model, "opt": opt}, cfg.vae_epochs, train_epoch, evaluate, checkpoint_every=5)
        model.eval()
        with torch.no_grad():
            recon, mu, logvar = model(Xte[:2000])
            _, parts = vae_loss(recon, Xte[:2000], mu, logvar)
        return {"test_mae": self._vae_mae(model, Xte), "test_recon_bce": float(parts["recon"]),
                "test_kl": float(parts["kl"])}

    @staticmethod
    @torch.no_grad()
    def _vae_mae(model: VAE, X: torch.Tensor) -> float:
        """Mean absolute pixel error of the reconstruction at the posterior mean (z = mu)."""
        model.eval()
        err = sum(float((model.decode(model.encode(X[i:i + 2000])[0]).float() - X[i:i + 2000]).abs().sum())
                  for i in range(0, len(X), 2000))
        return err / X.numel()

    def _train_gan(self, cfg: Config, model: GAN, d: dict, seed: int, ctx) -> dict:
        X, dev = d["train_x"], ctx.device.device
        G, D = model.generator, model.discriminator
        opt_g = torch.optim.Adam(G.parameters(), lr=cfg.gan_lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg.gan_lr, betas=(0.5, 0.999))

        def train_epoch(epoch: int) -> dict:
            G.train()
            D.train()
            ld = torch.zeros((), device=dev)
            lg = torch.zeros((), device=dev)
            n = 0
            for idx in iterate_minibatches(len(X), cfg.gan_batch_size, seed, epoch, device=dev):
                real = X[idx]
                noise = torch.randn(len(idx), G.noise, device=dev)
                # D step: real -> 1, fake -> 0 (fake detached: G is not updated here)
                opt_d.zero_grad(set_to_none=True)
                with ctx.device.autocast():
                    fake = G(noise)
                    loss_d = discriminator_loss(D(real).float(), D(fake.detach()).float())
                loss_d.backward()
                opt_d.step()
                # G step: make D call the same fakes real (non-saturating loss)
                opt_g.zero_grad(set_to_none=True)
                with ctx.device.autocast():
                    loss_g = generator_loss(D(fake).float())
                loss_g.backward()
                opt_g.step()
                ld += loss_d.detach()
                lg += loss_g.detach()
                n += 1
            return {"d_loss": float(ld) / n, "g_loss": float(lg) / n}

        hist = fit(ctx, {"model": model, "opt_g": opt_g, "opt_d": opt_d}, cfg.gan_epochs, train_epoch,
                   checkpoint_every=5).history
        return {"final_d_loss": hist[-1]["d_loss"], "final_g_loss": hist[-1]["g_loss"]}

    # ------------------------------------------------------------------ summary
    def summarize(self, cfg: Config, results: list[RunResult], out_dir: Path) -> Summary:
        s = Summary()
        if not results:
            return s
        by_v = by_variant(results)
        mean = {v: {m: float(np.mean([r.metrics[m] for r in rs])) for m in rs[0].metrics} for v, rs in by_v.items()}
        sigs = sorted({r.json("inception")["signature"] for r in results})

        # the ceiling: the real test digits scored the same way
        a = mnist.arrays_for(cfg.data)
        real = torch.from_numpy(a["test_x"].reshape(len(a["test_x"]), 784)).float() / 255  # (N, 784)
        n_real = min(cfg.is_samples, len(real))
        clf, digest = scorer(torch.device("cpu"))
        real_is, real_sd = inception_score(predict_proba(clf, real[:n_real]).numpy(), min(cfg.is_splits, n_real))
        s.extra_metrics["real-test"] = {"inception_score": [real_is], "inception_score_std": [real_sd]}
        real_sig = signature(digest, n_real, min(cfg.is_splits, n_real))
        info = mnist.classifier_info()

        # Table 6
        ref = {(r.variant, r.metric): r.value for r in self.reference}
        rows = ["| model | latent (random input) | extra layer | IS ours (sd over splits) | IS reference | "
                "MAE ours | MAE reference | classes covered |", "|---|---|---|---|---|---|---|---|"]
        for v in [v for v in VAES + GANS if v in mean] + [v for v in mean if v not in VAES + GANS]:
            kind, z, extra = parse_variant(v)
            m = mean[v]
            mae = f"{m['test_mae']:.3f}" if "test_mae" in m else "n/a"
            rows.append(f"| {kind.upper()} | {z} | {('yes' if extra else 'no') if kind == 'vae' else 'n/a'} | "
                        f"{m['inception_score']:.2f} ({m['inception_score_std']:.2f}) | "
                        f"{ref.get((v, 'inception_score'), '')} | {mae} | {ref.get((v, 'test_mae'), 'n/a')} | "
                        f"{int(round(m['classes_covered']))}/10 |")
        rows.append(f"| real test digits (ceiling) | | | {real_is:.2f} ({real_sd:.2f}) | | | | |")
        s.tables.append({"title": "Table 6: Inception Score and test MAE per generator", "markdown": "\n".join(rows)})
        s.notes.append(f"Inception Score signature: generators {', '.join(sigs)}; real test digits {real_sig}. "
                       f"Classifier MnistCNN sha256 {digest}, test accuracy "
                       f"{100 * info.get('test_accuracy', float('nan')):.2f}% on the 10k MNIST test digits "
                       f"(trained {info.get('epochs', '?')} epochs on {info.get('train_images', '?')} images).")
        s.notes.append(f"Data: {len(a['train_x']):,} training / {len(a['test_x']):,} test digits "
                       f"({'full MNIST' if mnist.is_full(cfg.data) else 'embedded demo subset: not comparable'}); "
                       f"{cfg.vae_epochs} VAE epochs, {cfg.gan_epochs} GAN epochs.")

        # sample grids (fixed noise) and VAE reconstructions, seed 0
        shown = [v for v in VAES + GANS if v in by_v] + [v for v in by_v if v not in VAES + GANS]
        cols = 3
        nrows = (len(shown) + cols - 1) // cols
        fig, axes = new_figure(3.2 * cols, 3.7 * nrows, ncols=cols, nrows=nrows, squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        k = cfg.grid
        for ax, v in zip(axes.flat, shown):
            g = by_v[v][0].arrays()["grid"].reshape(k, k, 28, 28).transpose(0, 2, 1, 3).reshape(k * 28, k * 28)
            ax.imshow(g, cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{v}: IS {mean[v]['inception_score']:.2f}", fontsize=9)
        fig.suptitle(f"T4.1 samples, fixed noise (seed {GRID_SEED}) per latent size", fontsize=10)
        s.figures.append(save(fig, out_dir, "samples_fixed_noise.png"))
        vaes = [v for v in VAES if v in by_v]
        if vaes:
            fig, axes = new_figure(8, 0.85 * (len(vaes) + 1) + 0.4, ncols=10, nrows=len(vaes) + 1, squeeze=False)
            rows_img = [("original", a["test_x"][:10] / 255.0)] + [(v, by_v[v][0].arrays()["recon10"]) for v in vaes]
            for i, (name, imgs) in enumerate(rows_img):
                for j in range(10):
                    axes[i][j].imshow(np.asarray(imgs[j]).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
                    axes[i][j].axis("off")
                axes[i][0].set_title(name, fontsize=7, loc="left")
            fig.suptitle("T4.1 VAE test reconstructions (z = posterior mean)", fontsize=9)
            s.figures.append(save(fig, out_dir, "vae_reconstructions.png"))
        fig, ax = new_figure(7, 3.6)
        xs = np.arange(len(shown))
        ax.bar(xs - 0.2, [mean[v]["inception_score"] for v in shown], 0.4, label="ours",
               yerr=[mean[v]["inception_score_std"] for v in shown])
        ax.bar(xs + 0.2, [ref.get((v, "inception_score"), np.nan) for v in shown], 0.4, label="reference")
        ax.axhline(real_is, color="gray", ls=":", label=f"real test digits ({real_is:.2f})")
        ax.set_xticks(xs, shown, fontsize=8)
        ax.set_ylabel("Inception Score (MNIST classifier)")
        ax.set_title("T4.1 Inception Score per generator (cf. reference Table 6)")
        ax.legend(fontsize=7)
        s.figures.append(save(fig, out_dir, "inception_scores.png"))

        # Findings
        IS = {v: mean[v]["inception_score"] for v in mean}
        MAE = {v: mean[v]["test_mae"] for v in mean if "test_mae" in mean[v]}
        if all(v in IS for v in VAES):
            layer = ((IS["vae-z2-extra"] - IS["vae-z2"]) + (IS["vae-z20-extra"] - IS["vae-z20"])) / 2
            latent = ((IS["vae-z20"] - IS["vae-z2"]) + (IS["vae-z20-extra"] - IS["vae-z2-extra"])) / 2
            s.findings.append(Finding(
                "extra-layer-raises-is-more", "For the VAEs, the extra hidden layer raises the Inception Score more "
                "than the bigger latent", layer > latent,
                f"mean IS gain from the extra layer {layer:+.2f} vs from latent 2->20 {latent:+.2f} "
                f"(reference +1.39 vs +1.04)"))
            lay_m = ((MAE["vae-z2"] - MAE["vae-z2-extra"]) + (MAE["vae-z20"] - MAE["vae-z20-extra"])) / 2
            lat_m = ((MAE["vae-z2"] - MAE["vae-z20"]) + (MAE["vae-z2-extra"] - MAE["vae-z20-extra"])) / 2
            s.findings.append(Finding(
                "latent-lowers-mae-more", "For the VAEs, the bigger latent lowers the test MAE more than the extra layer",
                lat_m > lay_m, f"mean MAE drop from latent 2->20 {lat_m:.4f} vs from the extra layer {lay_m:.4f} "
                               f"(reference 0.054 vs 0.004)"))
        if all(v in IS for v in GANS):
            s.findings.append(Finding(
                "gan10-far-above-gan1", "The GAN with 10 random inputs scores far above the one with 1 "
                "(criterion: at least 1.5 times its IS)", IS["gan-z10"] >= 1.5 * IS["gan-z1"],
                f"gan-z10 {IS['gan-z10']:.2f} vs gan-z1 {IS['gan-z1']:.2f} (reference 8.33 vs 2.43)"))
            if all(v in IS for v in VAES):
                s.findings.append(Finding(
                    "gan10-above-vaes", "The GAN with 10 random inputs scores higher than every VAE",
                    all(IS["gan-z10"] > IS[v] for v in VAES),
                    f"gan-z10 {IS['gan-z10']:.2f}; VAEs " + ", ".join(f"{v} {IS[v]:.2f}" for v in VAES)))
        return s

    # ------------------------------------------------------------------ bench
    def bench(self, cfg: Config, ctx) -> dict:
        """Training throughput of the largest VAE (vae-z20-extra), one optimizer step per batch."""
        from dltour.bench import measure_training

        dev = ctx.device.device
        X = mnist.tensors_for(cfg.data, dev)["train_x"]
        model = VAE(20, True).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.vae_lr)
        bs = cfg.vae_batch_size

        def step(xb):
            opt.zero_grad(set_to_none=True)
            recon, mu, logvar = model(xb)
            vae_loss(recon.float(), xb, mu.float(), logvar.float())[0].backward()
            opt.step()

        def real_batches():
            epoch = 0
            while True:
                for idx in iterate_minibatches(len(X), bs, 0, epoch, device=dev):
                    if len(idx) == bs:
                        yield (X[idx],)
                epoch += 1

        return measure_training(step, real_batches(), (torch.rand(bs, 784, device=dev),), bs, ctx.device,
                                variant="vae-z20-extra", note="MNIST held as one float tensor on the device; "
                                "batches are index slices")
