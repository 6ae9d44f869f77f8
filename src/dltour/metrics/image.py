"""Image metrics as pure functions over NumPy arrays: PSNR, and measures of how vivid colours are
(colourfulness, colour variance, saturation). Images are float arrays in [0, 1], channels last:
``(H, W, 3)`` for one image or ``(N, H, W, 3)`` for a batch (per-image measures then return ``(N,)``).
"""

from __future__ import annotations

import numpy as np


def _batch(img) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) RGB images, got shape {a.shape}")
    return a


def psnr(y_true, y_pred, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all elements: ``10 log10(range**2 / MSE)`` (inf if equal)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"shape mismatch: {y_true.shape} vs {y_pred.shape}")
    return psnr_from_mse(float(np.mean((y_true - y_pred) ** 2)), data_range)


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    if mse < 0:
        raise ValueError("MSE must be >= 0")
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range ** 2 / mse))


def colourfulness(img) -> np.ndarray:
    """Hasler and Suesstrunk's colourfulness M (Proc. SPIE 5007, 2003, "Measuring colourfulness in
    natural images"), per image, on the 0..255 scale of the paper::

        rg = R - G,  yb = (R + G) / 2 - B
        M = sqrt(std(rg)**2 + std(yb)**2) + 0.3 * sqrt(mean(rg)**2 + mean(yb)**2)

    0 for any gray image; about 85.5 for a uniform pure red image. The paper's scale: 15 "slightly
    colourful", 33 "moderately", 45 "averagely", 59 "quite", 82 "highly", 109 "extremely" colourful.
    """
    a = _batch(img) * 255.0
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    rg = (r - g).reshape(len(a), -1)
    yb = (0.5 * (r + g) - b).reshape(len(a), -1)
    std = np.sqrt(rg.var(axis=1) + yb.var(axis=1))
    mean = np.sqrt(rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2)
    return std + 0.3 * mean


def colour_variance(img) -> np.ndarray:
    """Per image, the mean squared distance of each pixel from its own gray level
    ``mean_c (x_c - mean(x))**2`` averaged over pixels: how far colours spread away from gray
    (0 for any gray image, whatever its contrast, so the luminance the model is given does not count)."""
    a = _batch(img)
    chroma = a - a.mean(axis=-1, keepdims=True)  # (N, H, W, 3)
    return (chroma ** 2).mean(axis=(1, 2, 3))


def saturation(img) -> np.ndarray:
    """HSV saturation ``(max - min) / max`` per pixel (0 where max is 0), shape ``(N, H, W)``."""
    a = _batch(img)
    mx, mn = a.max(axis=-1), a.min(axis=-1)
    return np.where(mx > 0, (mx - mn) / np.where(mx > 0, mx, 1.0), 0.0)


def saturation_histogram(img, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(density, bin edges) of HSV saturation over every pixel of the images, on [0, 1]."""
    dens, edges = np.histogram(saturation(img).ravel(), bins=bins, range=(0.0, 1.0), density=True)
    return dens, edges


def histogram_intersection(p: np.ndarray, q: np.ndarray) -> float:
    """Overlap of two histograms normalised to sum 1: 1 for equal distributions, 0 for disjoint."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.shape != q.shape:
        raise ValueError(f"shape mismatch: {p.shape} vs {q.shape}")
    p, q = p / p.sum(), q / q.sum()
    return float(np.minimum(p, q).sum())


def _chroma_uv(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YUV (ITU-R BT.601) chroma of RGB in [0, 1]: U = 0.492 (B - Y), V = 0.877 (R - Y)."""
    y = 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]
    return 0.492 * (a[..., 2] - y), 0.877 * (a[..., 0] - y)


def chroma(img) -> np.ndarray:
    """Per pixel, the length of the YUV chroma vector ``sqrt(U**2 + V**2)`` (0 for gray), ``(N, H, W)``."""
    u, v = _chroma_uv(_batch(img))
    return np.hypot(u, v)


def hue_error(pred, true, min_chroma: float = 0.03) -> np.ndarray:
    """Per image, how wrong the predicted *colours* are, apart from how strong they are: the
    absolute angle (degrees, 0..180) between the predicted and the true chroma vector (U, V) of
    each pixel, averaged with the predicted chroma as weight (a faint colour counts little, a vivid
    wrong one a lot), over the pixels whose true chroma is at least ``min_chroma`` (a gray pixel has
    no hue). NaN for an image with no such pixel or no predicted colour there."""
    p, t = _batch(pred), _batch(true)
    if p.shape != t.shape:
        raise ValueError(f"shape mismatch: {p.shape} vs {t.shape}")
    up, vp = _chroma_uv(p)
    ut, vt = _chroma_uv(t)
    ang = np.abs(np.angle(np.exp(1j * (np.arctan2(vp, up) - np.arctan2(vt, ut)))))  # wrapped to [0, pi]
    cp = np.hypot(up, vp)
    w = np.where(cp > 1e-9, cp, 0.0) * (np.hypot(ut, vt) >= min_chroma)  # float dust of a gray pixel: no hue
    wsum = w.reshape(len(p), -1).sum(axis=1)
    num = (w * np.degrees(ang)).reshape(len(p), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum > 0, num / np.where(wsum > 0, wsum, 1.0), np.nan)


def distribution_distance(a, b) -> float:
    """Wasserstein-1 (earth mover's) distance between two samples of a scalar (e.g. per-image
    colourfulness of a model's images and of the ground truth): 0 for equal distributions, in the
    scalar's own units (``scipy.stats.wasserstein_distance``)."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(np.ravel(a), np.ravel(b)))
