"""Classification metrics and an inference-timing harness.

``accuracy`` and ``top_k_accuracy`` take labels and either predicted labels (1-D) or scores
(N, C); they return a fraction in [0, 1].

``predict`` runs a model over a dataset in batches (no gradients, the device's autocast).

``time_inference`` measures forward passes only (eval mode, ``torch.no_grad``) on a synthetic
input that is already on the device, so it excludes data loading and host-to-device copies. It
states what it measured: device, dtype (fp32 or the autocast dtype), memory format, warm-up
iterations, timed iterations, and device synchronisation before every clock read. It reports both
batch-1 latency (median over iterations, microseconds) and batched throughput as microseconds
per image at ``batch_size`` (total time / images). The reference's "inference time" is per image
at an unknown batch size, so both are shown beside it.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np


def _np(a) -> np.ndarray:
    try:
        import torch

        if isinstance(a, torch.Tensor):
            return a.detach().float().cpu().numpy() if a.is_floating_point() else a.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(a)


def accuracy(pred_or_scores, labels) -> float:
    """Share of correct predictions; ``pred_or_scores`` is (N,) labels or (N, C) scores (argmax)."""
    p, y = _np(pred_or_scores), _np(labels).reshape(-1)
    if p.ndim == 2:
        p = p.argmax(axis=1)
    if p.shape != y.shape:
        raise ValueError(f"predictions {p.shape} and labels {y.shape} differ in length")
    if y.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((p == y).mean())


def top_k_accuracy(scores, labels, k: int = 5) -> float:
    """Share of labels among the k highest scores (ties broken by index order)."""
    s, y = _np(scores), _np(labels).reshape(-1)
    if s.ndim != 2 or s.shape[0] != y.size:
        raise ValueError(f"scores must be (N, C) with N = {y.size}, got {s.shape}")
    if not 1 <= k <= s.shape[1]:
        raise ValueError(f"k must be in 1..{s.shape[1]}, got {k}")
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return float((top == y[:, None]).any(axis=1).mean())


def predict(forward, n: int, batch_size: int, dev):
    """``forward(idx)`` over the indices 0..n-1, ``batch_size`` at a time (``idx`` a tensor on
    ``dev.device``), without gradients and under ``dev.autocast``: the outputs concatenated, as float32
    (e.g. (n, classes) logits of a dataset resident on the device). ``dev`` is a ``DeviceInfo``."""
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            idx = torch.arange(i, min(n, i + batch_size), device=dev.device)
            with dev.autocast():
                outs.append(forward(idx).float())
    return torch.cat(outs)


def time_inference(model, input_shape: tuple[int, int, int], dev, batch_size: int = 256, warmup: int = 3,
                   iters: int = 10, iters_b1: int | None = None, channels_last: bool = False) -> dict[str, Any]:
    """Forward-pass timing of ``model`` on synthetic (N, *input_shape) float inputs on ``dev``.

    ``dev`` is a ``dltour.device.DeviceInfo`` (device, autocast dtype, ``sync``). Returns
    ``latency_b1_us`` (median of ``iters_b1`` single-image passes), ``us_per_image_batched`` and
    ``images_per_s_batched`` (``iters`` passes at ``batch_size``), and what was measured.
    """
    import torch

    if batch_size < 1 or iters < 1 or warmup < 0:
        raise ValueError("batch_size and iters must be >= 1, warmup >= 0")
    iters_b1 = iters if iters_b1 is None else iters_b1
    was_training = model.training
    model.eval()
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def run(bs: int, n: int) -> list[float]:
        x = torch.randn(bs, *input_shape, device=dev.device).contiguous(memory_format=fmt)
        times = []
        with torch.no_grad(), dev.autocast():
            for _ in range(warmup):
                model(x)
            dev.sync()
            for _ in range(n):
                t0 = time.perf_counter()
                model(x)
                dev.sync()
                times.append(time.perf_counter() - t0)
        return times

    try:
        b1 = run(1, iters_b1)
        bt = run(batch_size, iters)
    finally:
        model.train(was_training)
    per_image = sum(bt) / (iters * batch_size)
    return {"latency_b1_us": statistics.median(b1) * 1e6, "us_per_image_batched": per_image * 1e6,
            "images_per_s_batched": 1.0 / per_image, "batch_size": batch_size, "warmup": warmup,
            "iters": iters, "iters_b1": iters_b1, "device": dev.name, "dtype": dev.dtype_name,
            "memory_format": "channels_last" if channels_last else "contiguous",
            "what": "forward only, eval mode, no_grad, synthetic input already on the device, "
                    "device synchronised before each clock read"}
