"""``dltour bench``: training samples/s end to end (the study's real data pipeline) and
compute-only (one synthetic batch already on the device), and their ratio.

A ratio near 1 means the device never waits for data. Both loops run the same ``step`` function
(forward, backward, optimizer step) for the same number of steps after the same warm-up, with
device synchronisation before each clock read. ``step`` is the very function the study's ``run``
trains with, called as ``run`` calls it (its own mixed precision inside: bench adds no autocast
around it, so a loss kept in fp32 stays so); a study's :class:`Trainer` holds it with the run's own
batches, and :func:`endless` turns an epoch of them into the endless stream the loop reads.
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from dltour.device import DeviceInfo


@dataclass
class Trainer:
    """One variant's training exactly as the study's ``run`` does it, built by ``Study.trainer``;
    ``run``, ``dltour bench`` and the model check all use it, so a study writes its set-up once.

    - ``step(*batch)``: one optimisation step on a batch (the very function ``run`` trains with);
    - ``epoch_batches(epoch)``: the run's own pipeline, one epoch of batches (shuffled as the run
      shuffles them); bench's end-to-end loop reads it through :func:`endless`;
    - ``batch_size``: samples per step (whole batches: bench times no short last batch);
    - ``loss(*batch)``: the training loss of a batch without a step (for the model check);
    - ``modules``: the trainable modules the step updates (the model check asks each for a finite
      gradient on every trainable weight);
    - ``synthetic``: one batch already on the device for the compute-only loop (None: a copy of
      the pipeline's first batch, so both loops see the same shapes);
    - ``note``: what bench's reader should know about the pipeline.
    """

    step: Callable[..., Any]
    epoch_batches: Callable[[int], Iterable[tuple]]
    batch_size: int
    loss: Callable[..., Any] | None = None
    modules: tuple = ()
    synthetic: tuple | None = None
    note: str = ""
    state: dict = field(default_factory=dict)  # what else ``run`` needs of the set-up (its model, optimizer, tensors)

    def first_batch(self) -> tuple:
        return tuple(next(endless(self.epoch_batches)))  # (an empty epoch: endless's ValueError)


def bench_trainer(trainer: Trainer, dev: DeviceInfo, variant: str) -> dict[str, Any]:
    """``dltour bench`` of any study: the trainer's step over its own pipeline and over one
    synthetic batch on the device (:func:`measure_training`)."""
    synthetic = trainer.synthetic if trainer.synthetic is not None else trainer.first_batch()
    return measure_training(trainer.step, endless(trainer.epoch_batches), synthetic, trainer.batch_size, dev,
                            variant=variant, note=trainer.note)


def check_trainer(trainer: Trainer, rows: int = 2) -> float:
    """The model check of any study: the training loss of the first ``rows`` samples of the
    pipeline's first batch, backpropagated; every trainable weight of ``trainer.modules`` must get a
    finite gradient (:func:`dltour.train.loop.backward_check`). Returns the loss."""
    from dltour.train.loop import backward_check

    if trainer.loss is None:
        raise ValueError("this trainer has no loss to check")
    batch = tuple(b[:rows] if hasattr(b, "__getitem__") and getattr(b, "ndim", 1) > 0 else b
                  for b in trainer.first_batch())
    return backward_check(trainer.loss(*batch), *trainer.modules)


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
        step(*batches())
    dev.sync()
    samples = 0
    t0 = time.perf_counter()
    for _ in range(steps):
        batch = batches()
        samples += len(batch[0])
        step(*batch)
    dev.sync()
    return time.perf_counter() - t0, samples


#: the timed window: at least ``seconds`` long (the steps are scaled up to reach it) and measured
#: ``repeats`` times per loop, the rate being the median and the spread min..max. ``dltour bench``
#: sets 3 s x 3 (50 steps of the MNIST autoencoder last 0.25 s on 2 CPU cores, and such a short
#: window's rate moved by a third between runs); the default (one window of ``steps``) is for tests.
WINDOW = {"seconds": 0.0, "repeats": 1}


@contextmanager
def timing_window(seconds: float, repeats: int):
    """Within the block, :func:`measure_training` times windows of at least ``seconds``,
    ``repeats`` times per loop."""
    before = dict(WINDOW)
    WINDOW.update(seconds=float(seconds), repeats=max(1, int(repeats)))
    try:
        yield
    finally:
        WINDOW.update(before)


def _rates(step: Callable, batches: Callable[[], Any], steps: int, warmup: int, dev: DeviceInfo) -> tuple[list[float], int]:
    """Samples/s of ``WINDOW["repeats"]`` windows, each at least ``WINDOW["seconds"]`` long, and
    the steps per window (``steps``, scaled up when one window of ``steps`` is shorter)."""
    seconds, repeats = WINDOW["seconds"], WINDOW["repeats"]
    t, n = _timed(step, batches, steps, warmup, dev)
    rates = []
    if seconds > 0 and t < seconds:
        steps = max(steps, math.ceil(steps * seconds / max(t, 1e-9)))
    else:
        rates.append(n / t)
    while len(rates) < repeats:
        t, n = _timed(step, batches, steps, 0, dev)
        rates.append(n / t)
    return rates, steps


def measure_training(step: Callable, real: Iterator, synthetic: tuple, batch_size: int, dev: DeviceInfo,
                     steps: int = 50, warmup: int = 5, variant: str = "", note: str = "") -> dict[str, Any]:
    """Return samples/s end to end and compute-only (medians over the windows, with their
    min..max spread), their ratio, the device and dtype."""
    real_rates, steps_real = _rates(step, lambda: next(real), steps, warmup, dev)
    syn_rates, steps_syn = _rates(step, lambda: synthetic, steps, warmup, dev)
    e2e = statistics.median(real_rates)
    comp = statistics.median(syn_rates)
    return {"variant": variant, "batch_size": batch_size, "steps": max(steps_real, steps_syn), "warmup": warmup,
            "windows": len(real_rates), "end_to_end_samples_per_s": e2e, "compute_only_samples_per_s": comp,
            "ratio": e2e / comp, "end_to_end_spread": [min(real_rates), max(real_rates)],
            "compute_only_spread": [min(syn_rates), max(syn_rates)],
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
                step(*next(real))
        finally:
            torch.cuda.set_sync_debug_mode(before)
    dev.sync()
    return sum("synchroniz" in str(w.message) for w in caught) / steps
