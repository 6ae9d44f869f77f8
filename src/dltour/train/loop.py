"""The shared epoch loop: checkpoint every epoch, resume, early stopping, best-weights restore.

``fit`` knows nothing of the model's task: the study gives it ``train_epoch(epoch) -> dict`` and
``evaluate(epoch) -> dict`` closures, and the objects whose state must survive a crash (models,
optimizers, schedulers). What is truly specific (a GAN's alternation, a TD update) stays visible
in the study's file; what every study repeats (resume, history, early stopping) lives here.

Resume is exact on the CPU: the checkpoint holds the states, the history, the early-stopping
counters and every RNG state, and per-epoch shuffling uses a generator seeded by (seed, epoch),
so an interrupted run repeated ends with the same metrics as an uninterrupted one (tested).
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from dltour.device import to_device
from dltour.seeding import generator, rng_state, set_rng_state


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    monitor: str = "val_loss"
    patience: int = 3
    mode: str = "min"
    min_delta: float = 0.0
    best: float = field(default=math.inf)
    best_epoch: int = -1
    bad_epochs: int = 0

    def __post_init__(self):
        if self.mode not in ("min", "max"):
            raise ValueError("mode must be 'min' or 'max'")
        if self.mode == "max" and self.best == math.inf:
            self.best = -math.inf

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float, epoch: int) -> bool:
        """Record one epoch's value; return True when training should stop."""
        if self.improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, d: dict) -> None:
        self.best, self.best_epoch, self.bad_epochs = d["best"], d["best_epoch"], d["bad_epochs"]


@dataclass
class FitResult:
    history: list[dict[str, float]]
    epochs_trained: int
    best_epoch: int | None
    stopped_early: bool
    resumed_from: int  # epochs already done when this call started (0: fresh)


def iterate_minibatches(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool = True,
                        device: torch.device | None = None) -> Iterator[torch.Tensor]:
    """Index batches for in-memory tensors; shuffling depends only on (seed, epoch)."""
    idx = torch.randperm(n, generator=generator(seed, epoch)) if shuffle else torch.arange(n)
    if device is not None:
        idx = to_device(idx, device)
    for i in range(0, n, batch_size):
        yield idx[i:i + batch_size]


def bucketed_batches(lengths: torch.Tensor, batch_size: int, seed: int, epoch: int, shuffle: bool = True,
                     pool: int = 50) -> list[torch.Tensor]:
    """Index batches of similar lengths: shuffle, sort within pools of ``pool`` batches by length,
    cut into batches, shuffle the batch order (less padding for variable-length sequences, as
    torchtext's ``BucketIterator`` did). Depends only on (seed, epoch)."""
    n = len(lengths)
    g = generator(seed, epoch)
    idx = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    batches = []
    step = batch_size * pool
    for s in range(0, n, step):
        chunk = idx[s:s + step]
        chunk = chunk[torch.argsort(lengths[chunk], descending=True, stable=True)]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
    return batches


def minibatch_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, n: int, batch_size: int, seed: int,
                    epoch: int, batch_loss: Callable[[torch.Tensor], torch.Tensor], dev) -> float:
    """One epoch of plain minibatch training over in-memory tensors; returns the mean loss.

    ``batch_loss(idx)`` returns the (fp32) loss of the batch with indices ``idx`` (already on the
    device); it wraps its own forward pass in ``ctx.device.autocast()`` where that is safe. The loss
    sum stays on the device: one host sync per epoch, not one per step.
    """
    model.train()
    total = torch.zeros((), device=dev)
    for idx in iterate_minibatches(n, batch_size, seed, epoch, device=dev):
        opt.zero_grad(set_to_none=True)
        loss = batch_loss(idx)
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
    return float(total) / n


def fit(ctx, state: dict[str, Any], epochs: int, train_epoch: Callable[[int], dict],
        evaluate: Callable[[int], dict] | None = None, early_stopping: EarlyStopping | None = None,
        restore_best: bool = False, checkpoint: bool = True, checkpoint_every: int = 1,
        desc: str | None = None) -> FitResult:
    """Train for ``epochs`` epochs, resuming from ``ctx``'s checkpoint when there is one.

    ``state``: name -> object with ``state_dict``/``load_state_dict`` (models, optimizers, ...).
    ``restore_best``: at the end, load the weights of the epoch that was best for
    ``early_stopping.monitor`` (requires ``early_stopping``).
    ``checkpoint_every``: epochs between checkpoints (the last epoch is always saved); a crash
    loses at most that many epochs, and resume stays exact.
    """
    history: list[dict[str, float]] = []
    start = 0
    best_weights = None
    stopped = False
    ck = ctx.load_checkpoint() if (checkpoint and ctx is not None) else None
    if ck is not None:
        for name, obj in state.items():
            obj.load_state_dict(ck["state"][name])
        history, start, stopped = ck["history"], ck["epoch"], ck.get("stopped", False)
        best_weights = ck.get("best_weights")
        if early_stopping is not None and ck.get("early_stopping"):
            early_stopping.load_state_dict(ck["early_stopping"])
        set_rng_state(ck["rng"])
    progress = Progress(epochs, desc or (ctx.label if ctx else "fit"), enabled=bool(ctx and ctx.progress))
    progress.advance_to(start)
    epoch = start
    while epoch < epochs and not stopped:
        row: dict[str, float] = {"epoch": epoch + 1}
        row.update(train_epoch(epoch))
        if evaluate is not None:
            row.update(evaluate(epoch))
        history.append({k: float(v) for k, v in row.items()})
        epoch += 1
        if early_stopping is not None:
            value = row[early_stopping.monitor]
            if restore_best and early_stopping.improved(value):
                best_weights = {n: copy.deepcopy(o.state_dict()) for n, o in state.items()
                                if isinstance(o, torch.nn.Module)}
            stopped = early_stopping.step(value, epoch)
        if ctx is not None:
            last = epoch >= epochs or stopped
            if checkpoint and (last or epoch % checkpoint_every == 0):
                ctx.write_history(history)
                ctx.save_checkpoint({"state": {n: o.state_dict() for n, o in state.items()}, "epoch": epoch,
                                     "history": history, "stopped": stopped, "best_weights": best_weights,
                                     "early_stopping": early_stopping.state_dict() if early_stopping else None,
                                     "rng": rng_state()})
            elif not checkpoint:
                ctx.write_history(history)
        progress.update(epoch, row)
    progress.close()
    if restore_best and best_weights is not None:
        for n, sd in best_weights.items():
            state[n].load_state_dict(sd)
    return FitResult(history, len(history), early_stopping.best_epoch if early_stopping else None,
                     stopped, start)


class Progress:
    """A rich progress bar over epochs when stderr is a terminal; silent otherwise."""

    def __init__(self, total: int, desc: str, enabled: bool):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(desc, total=total, info="")

    def advance_to(self, n: int) -> None:
        if self.bar:
            self.bar.update(self.task, completed=n)

    def update(self, n: int, row: dict) -> None:
        if self.bar:
            info = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")[:60]
            self.bar.update(self.task, completed=n, info=info)

    def close(self) -> None:
        if self.bar:
            self.bar.stop()


def backward_check(loss: torch.Tensor, *models: torch.nn.Module) -> float:
    """For ``Study.check_model``: backpropagate ``loss`` and check that every trainable parameter
    of ``models`` got a finite gradient; returns the loss as a float."""
    loss.backward()
    for m in models:
        for name, p in m.named_parameters():
            if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all()):
                raise AssertionError(f"{type(m).__name__}.{name}: no finite gradient")
    return float(loss.detach())
