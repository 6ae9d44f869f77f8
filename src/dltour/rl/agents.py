"""Tabular TD agents (Q-learning and SARSA): their update rules, schedules and measures. The episode
loop that trains one (``train``) is the science of ``cartpole-td``: :mod:`dltour.experiments.cartpole_td.science`.

Q is a NumPy array of shape (n_states, 2). The update rules (Sutton & Barto, 2nd ed., 6.4-6.5):

- Q-learning (off-policy): ``Q[s,a] += alpha * (r + gamma * max_b Q[s',b] - Q[s,a])``
- SARSA (on-policy):       ``Q[s,a] += alpha * (r + gamma * Q[s',a'] - Q[s,a])``, with ``a'`` the
  action the behaviour policy actually takes next in ``s'``;

with the bootstrap term dropped when ``s'`` is terminal (the pole fell or the cart left the
track) and kept when the episode was only cut by the time limit (truncation is not failure).
Both follow the book's control loops exactly: Q-learning chooses its action in ``s`` from the
table *after* the previous update; SARSA chooses ``a'`` *before* updating ``Q[s,a]``.

The update functions index ``Q[s][a]`` so they work on a NumPy table or a list of ``[q0, q1]`` rows
(tested on both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dltour.errors import DltourError
from dltour.rl.discretise import Discretiser
from dltour.rl.policies import log_decay, softmax_p1

METHODS = ("qlearning", "sarsa")
POLICIES = ("egreedy", "softmax")
AGENTS = [f"{m}-{p}" for m in METHODS for p in POLICIES]


def parse_agent(name: str) -> tuple[str, str]:
    """``"sarsa-softmax"`` -> ``("sarsa", "softmax")``."""
    method, _, policy = name.partition("-")
    if method not in METHODS or policy not in POLICIES:
        raise DltourError(f"unknown agent {name!r}: choose one of {', '.join(AGENTS)}")
    return method, policy


def q_learning_update(Q, s: int, a: int, r: float, s2: int, terminal: bool, alpha: float, gamma: float) -> float:
    """One Q-learning update of ``Q[s][a]`` in place; returns the TD error."""
    target = r if terminal else r + gamma * max(Q[s2][0], Q[s2][1])
    delta = target - Q[s][a]
    Q[s][a] += alpha * delta
    return delta


def sarsa_update(Q, s: int, a: int, r: float, s2: int, a2: int, terminal: bool, alpha: float,
                 gamma: float) -> float:
    """One SARSA update of ``Q[s][a]`` in place (``a2``: the next action taken); returns the TD error."""
    target = r if terminal else r + gamma * Q[s2][a2]
    delta = target - Q[s][a]
    Q[s][a] += alpha * delta
    return delta


@dataclass
class Schedule:
    """Per-episode values of the learning rate and the exploration parameter (epsilon or T)."""

    alpha_floor: float = 0.1
    alpha_divisor: float = 25.0
    epsilon_floor: float = 0.1
    epsilon_divisor: float = 25.0
    temperature_start: float = 1.0
    temperature_floor: float = 0.05
    temperature_divisor: float = 25.0

    def alpha(self, episode: int) -> float:
        return log_decay(episode, 1.0, self.alpha_floor, self.alpha_divisor)

    def explore(self, policy: str, episode: int) -> float:
        if policy == "egreedy":
            return log_decay(episode, 1.0, self.epsilon_floor, self.epsilon_divisor)
        return log_decay(episode, self.temperature_start, self.temperature_floor, self.temperature_divisor)


def _chooser(policy: str) -> Callable[[list, float, float, float], int]:
    """The 2-action hot-path form of the policy: (q_row, epsilon or T, u1, u2) -> action.
    Equal to ``policies.epsilon_greedy`` / ``policies.softmax_action`` (tested)."""
    if policy == "egreedy":
        def choose(q, eps, u1, u2):
            if u1 < eps:
                return 1 if u2 >= 0.5 else 0
            return 1 if q[1] > q[0] else 0
    else:
        def choose(q, temp, u1, u2):
            # softmax_action inverts the CDF [p0, 1]: action 0 iff u1 < p0
            return 0 if u1 < softmax_p1(q[1], q[0], temp) else 1
    return choose


def greedy_returns(Q: np.ndarray, env, disc: Discretiser, episodes: int) -> np.ndarray:
    """Returns of the greedy policy of ``Q`` (no learning, no exploration), one per episode."""
    out = []
    for _ in range(episodes):
        s = disc.index(env.reset())
        total = 0.0
        while True:
            obs, r, terminated, truncated = env.step(int(Q[s, 1] > Q[s, 0]))
            total += r
            s = disc.index(obs)
            if terminated or truncated:
                break
        out.append(total)
    return np.asarray(out)


def random_returns(env, episodes: int, seed: int = 0) -> np.ndarray:
    """Returns of the uniformly random policy (each action with probability 1/2), one per episode:
    the trivial baseline a learning agent must beat. Deterministic for a given env seed and ``seed``."""
    rng = np.random.default_rng([seed, 2])
    out = []
    for _ in range(episodes):
        env.reset()
        total = 0.0
        while True:
            _, r, terminated, truncated = env.step(int(rng.random() < 0.5))
            total += r
            if terminated or truncated:
                break
        out.append(total)
    return np.asarray(out)


# ------------------------------------------------------------------ curve statistics
def moving_average(rewards, window: int = 100) -> np.ndarray:
    """Trailing mean of the last ``min(t, window)`` rewards at each episode t (1-based), the
    quantity on the reference's Figure 8 y-axis; shape (n,)."""
    x = np.asarray(rewards, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(x)])
    t = np.arange(1, len(x) + 1)
    lo = np.maximum(0, t - window)
    return (c[t] - c[lo]) / (t - lo)


def episodes_to_reach(rewards, threshold: float, window: int = 100) -> float:
    """Episodes trained when the average of the last ``window`` rewards first reaches
    ``threshold`` (only full windows count, as in gym's "solved" rule); NaN if never."""
    ma = moving_average(rewards, window)
    full = np.arange(1, len(ma) + 1) >= window
    hit = np.flatnonzero(full & (ma >= threshold))
    return float(hit[0] + 1) if hit.size else math.nan


def max_drop(curve) -> float:
    """Largest fall of a curve from a running peak to a later point (0 if it never falls)."""
    c = np.asarray(curve, dtype=np.float64)
    if c.size == 0:
        return 0.0
    return float(np.max(np.maximum.accumulate(c) - c))
