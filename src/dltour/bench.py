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


def _timed(step: Callable, batches: Callable[[], Any], steps: int, warmup: int, dev: DeviceInfo) -> tuple[float, int]:
    """Seconds for ``steps`` steps after ``warmup`` untimed ones, and the samples they trained on
    (the first tensor's length per batch: a short last batch counts as what it holds)."""
    for _ in range(warmup):
        with dev.autocast():
            step(*batches())
    dev.sync()
    samples = 0
    t0 = time.perf_counter()
    for _ in range(steps):
        with dev.autocast():
            batch = batches()
            samples += len(batch[0])
            step(*batch)
    dev.sync()
    return time.perf_counter() - t0, samples


def measure_training(step: Callable, real: Iterator, synthetic: tuple, batch_size: int, dev: DeviceInfo,
                     steps: int = 50, warmup: int = 5, variant: str = "", note: str = "") -> dict[str, Any]:
    """Return samples/s end to end and compute-only, their ratio, the device and dtype."""
    t_real, n_real = _timed(step, lambda: next(real), steps, warmup, dev)
    t_syn, n_syn = _timed(step, lambda: synthetic, steps, warmup, dev)
    e2e = n_real / t_real
    comp = n_syn / t_syn
    return {"variant": variant, "batch_size": batch_size, "steps": steps, "warmup": warmup,
            "end_to_end_samples_per_s": e2e, "compute_only_samples_per_s": comp, "ratio": e2e / comp,
            "host_syncs_per_step": host_syncs_per_step(step, real, dev), "device": dev.name,
            "dtype": dev.dtype_name, "note": note}


def host_syncs_per_step(step: Callable, real: Iterator, dev: DeviceInfo, steps: int = 5) -> float | None:
    """On CUDA: how many times per end-to-end step (batch and step) the host waited for the GPU
    (PyTorch's sync debug mode flags each synchronising call: ``.item()``, a copy from pageable
    memory, a device-to-host copy). Each one drains the GPU's queue, so the GPU idles while Python
    prepares what follows: 0 is the goal. None elsewhere (there is nothing to wait for)."""
    if dev.device.type != "cuda":
        return None
    import warnings

    import torch

    before = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                with dev.autocast():
                    step(*next(real))
        finally:
            torch.cuda.set_sync_debug_mode(before)
    dev.sync()
    return sum("synchroniz" in str(w.message) for w in caught) / steps
