"""Inception Score (Salimans et al. 2016) from class probabilities.

IS = exp( E_x KL( p(y|x) || p(y) ) ), with p(y) the mean of p(y|x) over the scored images. As
usual, the images are cut into ``splits`` equal parts, the score is computed on each part and the
mean and standard deviation over parts are reported. It lies between 1 (every image gets the same
class distribution) and the number of classes (each image confidently one class, classes equally
frequent).

On MNIST the probabilities come from a digit classifier rather than the ImageNet Inception
network, and a score depends on that classifier: it is only comparable with another computed with
the same classifier (its sha256), the same number of images and the same number of splits:
``signature`` records all three.
"""

from __future__ import annotations

import numpy as np


def inception_score(probs, splits: int = 10, eps: float = 1e-12) -> tuple[float, float]:
    """(mean, std) of the Inception Score over ``splits`` equal parts of ``probs`` (N, C)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"probs must be (N, C) with N > 0, got shape {p.shape}")
    if splits < 1 or splits > p.shape[0]:
        raise ValueError(f"splits must be in 1..N ({p.shape[0]}), got {splits}")
    if (p < -1e-6).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("each row of probs must be a probability distribution (non-negative, summing to 1)")
    n = (p.shape[0] // splits) * splits  # equal parts: drop the remainder
    scores = []
    for part in np.split(p[:n], splits):
        py = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + eps) - np.log(py + eps))).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def class_entropy(counts) -> float:
    """Entropy (nats) of the predicted class counts: ln 10 when every class is equally frequent, 0
    when every image is one class (how uniform p(y) is)."""
    c = np.asarray(counts, dtype=np.float64)
    p = c[c > 0] / c.sum()
    return max(0.0, float(-(p * np.log(p)).sum()))


def judged(probs, splits: int) -> dict:
    """One judge's view of a set of images from its class probabilities ``probs`` (N, C): ``is``
    and ``sd``, the Inception Score's mean and standard deviation over ``splits`` parts
    (:func:`inception_score`); ``counts``, how many images each class wins (argmax), as a list of C
    ints; ``entropy``, their :func:`class_entropy`."""
    p = np.asarray(probs)
    m, sd = inception_score(p, splits)
    counts = np.bincount(p.argmax(1), minlength=p.shape[1])
    return {"is": m, "sd": sd, "counts": counts.tolist(), "entropy": class_entropy(counts)}


def signature(classifier_sha256: str, n_samples: int, splits: int, judge: str = "cnn") -> str:
    """What an IS value depends on besides the images: ``mnist-<judge>:<sha[:12]>/n=<N>/splits=<S>``
    (``judge``: which classifier architecture scored it, e.g. ``cnn`` or ``mlp``)."""
    return f"mnist-{judge}:{classifier_sha256[:12]}/n={n_samples}/splits={splits}"
