"""Each loss against its formula on hand-made tensors."""

from __future__ import annotations

import math

import pytest
import torch

from dltour.losses import correntropy_loss, gan_discriminator_loss, gan_generator_loss, mae_loss, mse_loss

PRED = torch.tensor([[0.0, 0.5], [1.0, 0.25]])
TRUE = torch.tensor([[0.1, 0.5], [0.6, 0.75]])
ERR = [-0.1, 0.0, 0.4, -0.5]  # PRED - TRUE, by hand


def test_mse_and_mae_by_hand():
    assert mse_loss(PRED, TRUE).item() == pytest.approx(sum(e * e for e in ERR) / 4)  # 0.105
    assert mse_loss(PRED, TRUE).item() == pytest.approx(0.105)
    assert mae_loss(PRED, TRUE).item() == pytest.approx(0.25)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 1e2])
def test_correntropy_bandwidth_formula(sigma):
    want = sum(1 - math.exp(-e * e / (2 * sigma * sigma)) for e in ERR) / 4
    got = correntropy_loss(PRED.double(), TRUE.double(), sigma).item()
    assert got == pytest.approx(want, rel=1e-6)


def test_correntropy_precision_formula():
    sigma = 10.0
    want = sum(1 - math.exp(-sigma * e * e) for e in ERR) / 4
    assert correntropy_loss(PRED, TRUE, sigma, "precision").item() == pytest.approx(want, rel=1e-5)


def test_correntropy_is_mse_over_2sigma2_for_large_sigma_and_not_rounded_to_zero():
    # float32: 1 - exp(-x) would round to exactly 0 for x ~ 1e-14; expm1 keeps the value
    for sigma in (1e2, 1e4, 1e6):
        got = correntropy_loss(PRED, TRUE, sigma).item()
        assert got > 0
        assert got == pytest.approx(0.105 / (2 * sigma ** 2), rel=1e-4)


def test_correntropy_gradient_shrinks_with_sigma_bandwidth_and_grows_near_zero_precision():
    grads = {}
    for scaling in ("bandwidth", "precision"):
        for sigma in (1e2, 1e4):
            p = torch.tensor([0.51], requires_grad=True)
            correntropy_loss(p, torch.tensor([0.5]), sigma, scaling).backward()
            grads[scaling, sigma] = p.grad.item()
    # bandwidth: d/dp = e / sigma^2 * exp(..) = 0.01 / sigma^2
    assert grads["bandwidth", 1e2] == pytest.approx(0.01 / 1e4, rel=1e-3)
    assert grads["bandwidth", 1e4] < grads["bandwidth", 1e2]
    # precision: 2 sigma e exp(-sigma e^2) = 2 * 100 * 0.01 * exp(-0.01)
    assert grads["precision", 1e2] == pytest.approx(2 * 100 * 0.01 * math.exp(-0.01), rel=1e-3)


def test_correntropy_bad_inputs():
    with pytest.raises(ValueError, match="sigma"):
        correntropy_loss(PRED, TRUE, 0.0)
    with pytest.raises(ValueError, match="scaling"):
        correntropy_loss(PRED, TRUE, 1.0, "kernel")


def test_gan_losses_by_hand():
    real = torch.tensor([2.0, 0.0])
    fake = torch.tensor([-1.0, 3.0])
    sp = lambda x: math.log1p(math.exp(x))  # softplus: BCE(logit z, 1) = softplus(-z), BCE(z, 0) = softplus(z)
    want_d = 0.5 * ((sp(-2.0) + sp(0.0)) / 2 + (sp(-1.0) + sp(3.0)) / 2)
    assert gan_discriminator_loss(real, fake).item() == pytest.approx(want_d, rel=1e-6)
    total, adv, l1 = gan_generator_loss(fake, PRED, TRUE, l1_weight=100.0)
    assert adv.item() == pytest.approx((sp(1.0) + sp(-3.0)) / 2, rel=1e-6)
    assert l1.item() == pytest.approx(0.25)
    assert total.item() == pytest.approx(adv.item() + 25.0, rel=1e-6)
