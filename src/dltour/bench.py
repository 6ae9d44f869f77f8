"""``dltour bench``: training samples/s end to end (the study's real data pipeline) and
compute-only (one synthetic batch already on the device), and their ratio.

A ratio near 1 means the device never waits for data. Both loops run the same ``step`` function
(forward, backward, optimizer step) for the same number of steps after the same warm-up, with
device synchronisation before each clock read. ``step`` is the very function the study's ``run``
trains with (a study defines its training step once, at module level, and both call it), and
:func:`endless` turns the study's own epoch of batches into the endless stream the loop reads.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator

from dltour.device import DeviceInfo


def endless(epoch_batches: Callable[[int], Iterable]) -> Iterator:
    """Batches without end: ``epoch_batches(0)``, then ``epoch_batches(1)``, ... (each call is one
    epoch of the study's training pipeline, e.g. shuffled by (seed, epoch))."""
    epoch = 0
    while True:
        empty = True
        for batch in epoch_batches(epoch):
            empty = False
            yield batch
        if empty:
            raise ValueError("an epoch yielded no batch (is the batch larger than the data?)")
        epoch += 1


def _timed(step: Callable, batches: Callable[[], Any], steps: int, warmup: int, dev: DeviceInfo) -> float:
    for _ in range(warmup):
        with dev.autocast():
            step(*batches())
    dev.sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        with dev.autocast():
            step(*batches())
    dev.sync()
    return time.perf_counter() - t0


def measure_training(step: Callable, real: Iterator, synthetic: tuple, batch_size: int, dev: DeviceInfo,
                     steps: int = 50, warmup: int = 5, variant: str = "", note: str = "") -> dict[str, Any]:
    """Return samples/s end to end and compute-only, their ratio, the device and dtype."""
    t_real = _timed(step, lambda: next(real), steps, warmup, dev)
    t_syn = _timed(step, lambda: synthetic, steps, warmup, dev)
    e2e = steps * batch_size / t_real
    comp = steps * batch_size / t_syn
    return {"variant": variant, "batch_size": batch_size, "steps": steps, "warmup": warmup,
            "end_to_end_samples_per_s": e2e, "compute_only_samples_per_s": comp, "ratio": e2e / comp,
            "device": dev.name, "dtype": dev.dtype_name, "note": note}
