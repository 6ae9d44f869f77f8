"""Learning-rate schedules shared by the studies."""

from __future__ import annotations

import math

import torch


def warmup_cosine_factor(step: int, warmup: int, total: int) -> float:
    """The learning rate's factor (of the peak) at 0-based ``step``: a linear warm-up ``(step + 1) /
    warmup`` over the first ``warmup`` steps, then a cosine decay from 1 to 0 over the other ``total -
    warmup`` (``warmup`` is clipped to ``total``)."""
    warmup = min(warmup, total)
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def warmup_cosine(opt: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A scheduler of :func:`warmup_cosine_factor` for ``opt`` (step it once per optimiser step)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine_factor(step, warmup, total))
