"""T4.1 mnist-generative: VAE loss terms against their formulas, variants, and a smoke run."""

import math

import pytest
import torch
from torch.nn import functional as F

from dltour import DltourError
from dltour.config import resolve_config
from dltour.models.gan import GAN, discriminator_loss, generator_loss
from dltour.models.vae import VAE, bernoulli_nll, kl_divergence, vae_loss
from dltour.registry import get_study


def test_kl_term_against_its_formula_by_hand():
    # one sample, 2 latent dims: mu = (1, 0), sigma^2 = (1, e): KL = 1/2 sum(sigma^2 + mu^2 - 1 - log sigma^2)
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, 1.0]])
    expected = 0.5 * ((1 + 1 - 1 - 0) + (math.e + 0 - 1 - 1))
    assert float(kl_divergence(mu, logvar)[0]) == pytest.approx(expected, rel=1e-6)


def test_kl_term_against_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 20), torch.randn(5, 20)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    ref = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl_divergence(mu, logvar), ref, atol=1e-5)
    assert torch.allclose(kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3))


def test_reconstruction_term_is_summed_bce():
    torch.manual_seed(0)
    recon = torch.rand(4, 784).clamp(1e-4, 1 - 1e-4)
    x = torch.rand(4, 784)
    ref = F.binary_cross_entropy(recon, x, reduction="none").sum(1)
    assert torch.allclose(bernoulli_nll(recon, x), ref, rtol=1e-5)
    # saturated outputs are clamped like F.binary_cross_entropy (log >= -100), not infinite
    assert float(bernoulli_nll(torch.zeros(1, 2), torch.ones(1, 2))[0]) == pytest.approx(200.0)
    loss, parts = vae_loss(recon, x, torch.zeros(4, 2), torch.zeros(4, 2))
    assert float(loss) == pytest.approx(float(ref.mean()), rel=1e-5) and float(parts["kl"]) == 0.0


def test_gan_losses_at_chance():
    zeros = torch.zeros(8)  # D outputs 0.5 everywhere
    assert float(discriminator_loss(zeros, zeros)) == pytest.approx(2 * math.log(2))
    assert float(generator_loss(zeros)) == pytest.approx(math.log(2))


def test_variant_shapes_and_extra_layer():
    x = torch.rand(3, 784)
    for z, extra in [(2, False), (20, True)]:
        m = VAE(z, extra)
        with torch.no_grad():
            recon, mu, logvar = m(x)
        assert recon.shape == (3, 784) and mu.shape == logvar.shape == (3, z)
    assert len([l for l in VAE(2, True).encoder if isinstance(l, torch.nn.Linear)]) == 2
    assert len([l for l in VAE(2, False).encoder if isinstance(l, torch.nn.Linear)]) == 1
    g = GAN(1).generator
    with torch.no_grad():
        assert g(torch.randn(4, 1)).shape == (4, 784)


def test_describe_counts_each_variant():
    study = get_study("mnist-generative")
    cfg = resolve_config(study, "demo")
    assert study.variants(cfg) == ["vae-z2", "vae-z20", "vae-z2-extra", "vae-z20-extra", "gan-z1", "gan-z10"]
    counts = {v: sum(p.numel() for p in study.build_model(cfg, v).parameters()) for v in study.variants(cfg)}
    # vae-z2: 784*512+512 + 2*(512*2+2) + 2*512+512 + 512*784+784
    assert counts["vae-z2"] == 784 * 512 + 512 + 2 * (512 * 2 + 2) + 2 * 512 + 512 + 512 * 784 + 784
    assert counts["gan-z10"] - counts["gan-z1"] == 9 * 256


@pytest.mark.parametrize("bad", ["vae-2", "gan-z1-extra", "vae-z0", "flow-z2", "vae-z2-more"])
def test_bad_variants_are_user_errors(bad):
    study = get_study("mnist-generative")
    with pytest.raises(DltourError, match="variant"):
        study.variants(resolve_config(study, "demo", {"models": [bad]}))


def test_more_splits_than_samples_is_a_user_error():
    study = get_study("mnist-generative")
    with pytest.raises(DltourError, match="is_splits"):
        study.variants(resolve_config(study, "demo", {"is_samples": 10, "is_splits": 11}))


def test_smoke_run(tmp_path):
    from dltour.runs import run_study

    study = get_study("mnist-generative")
    cfg = resolve_config(study, "smoke", {"data.train_subset": 300, "data.test_subset": 200,
                                          "is_samples": 200, "is_splits": 2})
    doc = run_study(study, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)
    m = doc["metrics"]
    for v in study.variants(cfg):
        assert 1.0 <= m[v]["inception_score"]["mean"] <= 10.0
    assert 0 < m["vae-z2"]["test_mae"]["mean"] < 1 and "test_mae" not in m["gan-z1"]
    assert m["real-test"]["inception_score"]["mean"] > 5  # the pinned classifier on real digits
    for r in doc["reference"]:
        assert r["metric"] in m[r["variant"]], r
    assert {f["id"] for f in doc["findings"]} == {"extra-layer-raises-is-more", "latent-lowers-mae-more",
                                                  "gan10-far-above-gan1", "gan10-above-vaes"}
    assert any("signature" in n and "n=200/splits=2" in n for n in doc["notes"])
    names = {p.rsplit("/", 1)[-1] for p in doc["figures"]}
    assert names == {"samples_fixed_noise.png", "vae_reconstructions.png", "inception_scores.png"}
