"""Tabular TD agents (Q-learning and SARSA) and the episode loop that trains one of them.

Q is a NumPy array of shape (n_states, 2). The update rules (Sutton & Barto, 2nd ed., 6.4-6.5):

- Q-learning (off-policy): ``Q[s,a] += alpha * (r + gamma * max_b Q[s',b] - Q[s,a])``
- SARSA (on-policy):       ``Q[s,a] += alpha * (r + gamma * Q[s',a'] - Q[s,a])``, with ``a'`` the
  action the behaviour policy actually takes next in ``s'``;

with the bootstrap term dropped when ``s'`` is terminal (the pole fell or the cart left the
track) and kept when the episode was only cut by the time limit (truncation is not failure).
Both follow the book's control loops exactly: Q-learning chooses its action in ``s`` from the
table *after* the previous update; SARSA chooses ``a'`` *before* updating ``Q[s,a]``.

Hot path: within an episode the table is a list of ``[q0, q1]`` rows (Python floats are several
times faster to index than NumPy scalars); it is copied back to the array at every episode end,
so the array is the agent's state between episodes and in checkpoints. The update functions
index ``Q[s][a]`` so they work on either form (tested on both).
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


@dataclass
class TrainState:
    """Everything a run needs to continue exactly after the last finished episode."""

    episode: int  # episodes finished
    Q: np.ndarray  # (n_states, 2)
    rewards: list[float]
    env_state: dict
    rng_state: dict

    def as_dict(self) -> dict:
        return {"episode": self.episode, "Q": self.Q.copy(), "rewards": list(self.rewards),
                "env_state": self.env_state, "rng_state": self.rng_state}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainState":
        return cls(int(d["episode"]), np.asarray(d["Q"], dtype=np.float64).copy(), list(d["rewards"]),
                   d["env_state"], d["rng_state"])


def train(agent: str, env, disc: Discretiser, episodes: int, gamma: float, schedule: Schedule, seed: int,
          state: TrainState | dict | None = None, checkpoint_every: int = 0,
          save: Callable[[dict], None] | None = None,
          on_episode: Callable[[int, float], None] | None = None) -> TrainState:
    """Train ``agent`` (e.g. ``"qlearning-egreedy"``) for ``episodes`` episodes on ``env``.

    The exploration randomness comes from ``np.random.default_rng([seed, 1])`` (the env's reset
    stream is seeded separately), drawn as one (max_steps + 1, 2) block of uniforms per episode.
    ``state`` (a ``TrainState`` or its dict) continues a previous call; every ``checkpoint_every``
    episodes ``save(state.as_dict())`` is called. ``on_episode(episode, reward)`` is called after
    each episode (progress; an exception there stops training like a kill would).
    """
    method, policy = parse_agent(agent)
    rng = np.random.default_rng([seed, 1])
    if state is None:
        state = TrainState(0, np.zeros((disc.n_states, 2)), [], env.get_state(), rng.bit_generator.state)
    elif isinstance(state, dict):
        state = TrainState.from_dict(state)
    env.set_state(state.env_state)
    rng.bit_generator.state = state.rng_state
    index = disc.indexer()
    step = env.step
    sarsa = method == "sarsa"
    egreedy = policy == "egreedy"
    max_steps = env.max_steps
    # The hot loop has the policy and the update written out (the same arithmetic, in the same
    # order, as ``_chooser``, ``q_learning_update`` and ``sarsa_update``: tested equal): a Python
    # call per step for each of them was a third of a run's time.
    for ep in range(state.episode, episodes):
        alpha = schedule.alpha(ep)
        par = schedule.explore(policy, ep)
        u = rng.random((max_steps + 1, 2))
        u1, u2 = u[:, 0].tolist(), u[:, 1].tolist()
        q = state.Q.tolist()
        s = index(env.reset())
        qs = q[s]
        if egreedy:
            a = (1 if u2[0] >= 0.5 else 0) if u1[0] < par else (1 if qs[1] > qs[0] else 0)
        else:
            a = 0 if u1[0] < softmax_p1(qs[1], qs[0], par) else 1
        total = 0.0
        for t in range(1, max_steps + 1):
            obs, r, terminated, truncated = step(a)
            total += r
            s2 = index(obs)
            q2 = q[s2]
            if sarsa:  # a' first: the target uses the action the policy will really take
                if egreedy:
                    a2 = (1 if u2[t] >= 0.5 else 0) if u1[t] < par else (1 if q2[1] > q2[0] else 0)
                else:
                    a2 = 0 if u1[t] < softmax_p1(q2[1], q2[0], par) else 1
                target = r if terminated else r + gamma * q2[a2]
                qs[a] += alpha * (target - qs[a])
            else:  # update first: the next action is chosen from the updated table
                target = r if terminated else r + gamma * max(q2[0], q2[1])
                qs[a] += alpha * (target - qs[a])
                if egreedy:
                    a2 = (1 if u2[t] >= 0.5 else 0) if u1[t] < par else (1 if q2[1] > q2[0] else 0)
                else:
                    a2 = 0 if u1[t] < softmax_p1(q2[1], q2[0], par) else 1
            s, a, qs = s2, a2, q2
            if terminated or truncated:
                break
        state.Q[:] = q
        state.rewards.append(total)
        state.episode = ep + 1
        state.env_state = env.get_state()
        state.rng_state = rng.bit_generator.state
        if on_episode is not None:
            on_episode(ep, total)
        if save is not None and checkpoint_every and state.episode % checkpoint_every == 0 \
                and state.episode < episodes:
            save(state.as_dict())
    return state


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
