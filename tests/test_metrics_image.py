"""Image metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dltour.metrics.image import (colour_variance, colourfulness, histogram_intersection, psnr, psnr_from_mse,
                                  saturation, saturation_histogram)


def test_psnr_by_hand():
    a = np.zeros((2, 2, 3))
    b = a + 0.1  # MSE 0.01 -> 20 dB
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr_from_mse(0.0015) == pytest.approx(10 * math.log10(1 / 0.0015))  # 28.24 dB
    assert psnr(a, a) == math.inf
    assert psnr(a * 255, b * 255, data_range=255) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="shape"):
        psnr(a, b[:1])


def test_colourfulness_gray_is_zero_and_pure_red_by_hand():
    rng = np.random.default_rng(0)
    gray = np.repeat(rng.random((4, 8, 8, 1)), 3, axis=-1)  # any contrast, no colour
    assert np.allclose(colourfulness(gray), 0.0)
    red = np.zeros((8, 8, 3))
    red[..., 0] = 1.0
    # rg = 255, yb = 127.5 everywhere: std 0, mean sqrt(255^2 + 127.5^2)
    assert colourfulness(red)[0] == pytest.approx(0.3 * math.hypot(255, 127.5))  # 85.53


def test_colourfulness_half_red_half_green_by_hand():
    img = np.zeros((2, 2, 3))
    img[0, :, 0] = 1.0  # red row: rg = 255, yb = 127.5
    img[1, :, 1] = 1.0  # green row: rg = -255, yb = 127.5
    # std(rg) = 255, std(yb) = 0; mean(rg) = 0, mean(yb) = 127.5
    assert colourfulness(img)[0] == pytest.approx(255 + 0.3 * 127.5)


def test_colour_variance_and_saturation_by_hand():
    rng = np.random.default_rng(1)
    gray = np.repeat(rng.random((3, 4, 4, 1)), 3, axis=-1)
    assert np.allclose(colour_variance(gray), 0.0)
    assert np.allclose(saturation(gray), 0.0)
    px = np.array([[[[0.5, 0.25, 0.0]]]])  # mean 0.25: deviations 0.25, 0, -0.25
    assert colour_variance(px)[0] == pytest.approx((0.0625 + 0 + 0.0625) / 3)
    assert saturation(px)[0, 0, 0] == pytest.approx(1.0)  # (0.5 - 0) / 0.5
    assert saturation(np.array([[[0.8, 0.4, 0.4]]]))[0, 0, 0] == pytest.approx(0.5)
    assert saturation(np.zeros((1, 1, 3)))[0, 0, 0] == 0.0  # black: defined as 0


def test_saturation_histogram_and_intersection():
    img = np.zeros((1, 2, 2, 3))
    img[0, 0, 0] = [1, 0, 0]  # saturation 1
    img[0, 0, 1] = [0.8, 0.4, 0.4]  # 0.5
    dens, edges = saturation_histogram(img, bins=4)
    assert np.allclose(edges, [0, 0.25, 0.5, 0.75, 1])
    assert np.allclose(dens * 0.25, [0.5, 0.0, 0.25, 0.25])  # two gray pixels in bin 0
    assert histogram_intersection(dens, dens) == pytest.approx(1.0)
    assert histogram_intersection([1, 0], [0, 1]) == 0.0
    assert histogram_intersection([1, 1], [1, 3]) == pytest.approx(0.75)


def test_bad_image_shapes():
    with pytest.raises(ValueError, match="RGB"):
        colourfulness(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="RGB"):
        saturation(np.zeros((1, 8, 8, 4)))


def test_chroma_and_hue_error_by_hand():
    from dltour.metrics.image import chroma, hue_error

    gray = np.full((1, 2, 2, 3), 0.5)
    assert np.allclose(chroma(gray), 0.0)
    red = np.zeros((1, 2, 2, 3))
    red[..., 0] = 0.8
    blue = np.zeros((1, 2, 2, 3))
    blue[..., 2] = 0.8
    assert hue_error(red, red)[0] == pytest.approx(0.0)
    # a faint version of the right colour is still the right hue
    assert hue_error(0.5 * red + 0.25, red)[0] == pytest.approx(0.0, abs=1e-9)
    # red vs blue in the (U, V) plane: U_red = -0.492*0.299*0.8, V_red = 0.877*0.701*0.8; blue: U>0, V<0
    ur, vr = -0.492 * 0.299 * 0.8, 0.877 * 0.701 * 0.8
    ub, vb = 0.492 * 0.886 * 0.8, -0.877 * 0.114 * 0.8
    want = math.degrees(abs(math.atan2(vr, ur) - math.atan2(vb, ub)))
    want = 360 - want if want > 180 else want
    assert hue_error(blue, red)[0] == pytest.approx(want)
    # gray truth has no hue: NaN; a gray prediction has no weight: NaN
    assert math.isnan(hue_error(red, gray)[0]) and math.isnan(hue_error(gray, red)[0])
    with pytest.raises(ValueError, match="shape"):
        hue_error(red, red[:, :1])


def test_distribution_distance_by_hand():
    from dltour.metrics.image import distribution_distance

    assert distribution_distance([1, 2, 3], [1, 2, 3]) == 0.0
    assert distribution_distance([0, 0], [10, 20]) == pytest.approx(15.0)  # gray vs truth: the truth's mean
    assert distribution_distance([1, 2], [3, 4]) == pytest.approx(2.0)
