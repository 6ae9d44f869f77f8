"""Action selection (epsilon-greedy and softmax/Boltzmann) and the decay schedules.

Every random choice takes its uniform numbers as arguments, so an episode's randomness is one
array drawn up front from the run's generator (reproducible, and checkpointable between episodes).
"""

from __future__ import annotations

import math

import numpy as np


def log_decay(episode: int, start: float, floor: float, divisor: float) -> float:
    """``start * clip(1 - log10((episode + 1) / divisor), floor / start, 1)``.

    Constant at ``start`` for the first ``divisor - 1`` episodes, then falls by ``start`` per
    decade of episodes until it reaches ``floor`` (the schedule of the well-known tabular
    CartPole recipe with (1, 1, 6, 12) bins). ``episode`` counts from 0.
    """
    frac = 1.0 - math.log10((episode + 1) / divisor)
    return max(floor, start * min(1.0, frac))


def greedy(q0: float, q1: float) -> int:
    """Greedy action of a 2-action row; ties go to action 0 (as ``np.argmax``)."""
    return 1 if q1 > q0 else 0


def epsilon_greedy(q_row, epsilon: float, u_explore: float, u_action: float) -> int:
    """With probability ``epsilon`` a uniformly random action (the greedy one included),
    otherwise the greedy action. ``u_explore``, ``u_action``: uniform numbers in [0, 1)."""
    if u_explore < epsilon:
        return min(int(u_action * len(q_row)), len(q_row) - 1)
    return int(np.argmax(q_row))


def softmax_probs(q_row, temperature: float) -> np.ndarray:
    """Boltzmann probabilities ``exp(Q(s, a) / T) / sum_b exp(Q(s, b) / T)``, computed with the
    maximum subtracted so large Q / T does not overflow."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(q_row, dtype=np.float64) / temperature
    z = np.exp(z - z.max())
    return z / z.sum()


def softmax_action(q_row, temperature: float, u: float) -> int:
    """Sample an action from ``softmax_probs`` by inverting the cumulative distribution at ``u``."""
    cdf = np.cumsum(softmax_probs(q_row, temperature))
    return min(int(np.searchsorted(cdf, u, side="right")), len(cdf) - 1)


def softmax_p1(q0: float, q1: float, temperature: float) -> float:
    """P(action 1) of a 2-action softmax: the logistic of ``(q1 - q0) / T``, overflow-safe.
    (The hot path's form of ``softmax_probs``; tested equal.)"""
    z = (q1 - q0) / temperature
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
