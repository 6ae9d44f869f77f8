"""CartPole environments with one small interface: ``reset() -> obs`` and
``step(action) -> (obs, reward, terminated, truncated)``, observations as tuples of 4 floats.

- ``CartPole``: a pure-Python copy of gymnasium's ``CartPoleEnv`` dynamics (Euler integration,
  float64 state, the same constants and termination test, the time limit of ``CartPole-v1`` =
  500 steps or ``-v0`` = 200). Its resets draw ``uniform(-0.05, 0.05, 4)`` from
  ``np.random.default_rng(seed)``, which is what gymnasium's ``reset(seed=seed)`` seeds, so the
  same seed and actions give the same episodes (tested against gymnasium step by step). It
  exists for speed: one step is a few float operations instead of a NumPy array and three
  wrapper layers.
- ``GymCartPole``: gymnasium's own ``gym.make("CartPole-v1")`` behind the same interface.

Two differences from gymnasium, both deliberate: observations are the float64 state (gymnasium
returns it cast to float32; the discretiser sees the same bins except within ~1e-8 of a bin edge),
and the state is not re-wrapped in arrays each step.
"""

from __future__ import annotations

import math

import numpy as np

from dltour.errors import DltourError

#: episode cap of each CartPole version (gymnasium's TimeLimit)
MAX_STEPS = {"v0": 200, "v1": 500}


def _max_steps(version: str) -> int:
    if version not in MAX_STEPS:
        raise DltourError(f"unknown CartPole version {version!r}: choose one of {', '.join(MAX_STEPS)}")
    return MAX_STEPS[version]


class CartPole:
    """Gymnasium's CartPole dynamics in plain Python floats (see the module docstring)."""

    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masscart + masspole
    length = 0.5  # half the pole's length
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(self, version: str = "v1", seed: int = 0):
        self.max_steps = _max_steps(version)
        self.rng = np.random.default_rng(seed)
        self.state: tuple[float, float, float, float] | None = None
        self.t = 0

    def reset(self) -> tuple[float, float, float, float]:
        self.state = tuple(float(v) for v in self.rng.uniform(-0.05, 0.05, size=4))
        self.t = 0
        return self.state

    def step(self, action: int) -> tuple[tuple[float, float, float, float], float, bool, bool]:
        x, x_dot, theta, theta_dot = self.state
        force = _FORCE_MAG if action == 1 else -_FORCE_MAG
        costheta = _cos(theta)
        sintheta = _sin(theta)
        # the same expressions, in the same order, as gymnasium's CartPoleEnv.step (np.square(v) is
        # (v * v): the parentheses keep the rounding identical, so trajectories match bit for bit);
        # the constants are module globals (the class attributes' values): faster than self.<name>
        temp = (force + _POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / _TOTAL_MASS
        thetaacc = (_GRAVITY * sintheta - costheta * temp) / (
            _LENGTH * (4.0 / 3.0 - _MASSPOLE * (costheta * costheta) / _TOTAL_MASS))
        xacc = temp - _POLEMASS_LENGTH * thetaacc * costheta / _TOTAL_MASS
        x = x + _TAU * x_dot
        x_dot = x_dot + _TAU * xacc
        theta = theta + _TAU * theta_dot
        theta_dot = theta_dot + _TAU * thetaacc
        self.state = state = (x, x_dot, theta, theta_dot)
        self.t = t = self.t + 1
        terminated = x < -_X_THRESHOLD or x > _X_THRESHOLD or theta < -_THETA_THRESHOLD or theta > _THETA_THRESHOLD
        truncated = not terminated and t >= self.max_steps
        return state, 1.0, terminated, truncated

    # checkpointing: the reset stream is the only randomness
    def get_state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def set_state(self, d: dict) -> None:
        self.rng.bit_generator.state = d["rng"]


_cos, _sin = math.cos, math.sin
_GRAVITY, _MASSPOLE, _TOTAL_MASS, _LENGTH = CartPole.gravity, CartPole.masspole, CartPole.total_mass, CartPole.length
_POLEMASS_LENGTH, _FORCE_MAG, _TAU = CartPole.polemass_length, CartPole.force_mag, CartPole.tau
_THETA_THRESHOLD, _X_THRESHOLD = CartPole.theta_threshold, CartPole.x_threshold


class GymCartPole:
    """``gymnasium.make(f"CartPole-{version}")`` behind the ``CartPole`` interface."""

    def __init__(self, version: str = "v1", seed: int = 0):
        import gymnasium as gym

        self.max_steps = _max_steps(version)
        self.env = gym.make(f"CartPole-{version}")
        self._seed: int | None = seed  # gymnasium seeds its reset stream on the first reset

    def reset(self) -> tuple[float, float, float, float]:
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None
        return tuple(float(v) for v in obs)

    def step(self, action: int):
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return tuple(float(v) for v in obs), float(reward), bool(terminated), bool(truncated)

    def get_state(self) -> dict:
        if self._seed is not None:  # not reset yet: the stream is still just the seed
            return {"seed": self._seed}
        return {"rng": self.env.unwrapped.np_random.bit_generator.state}

    def set_state(self, d: dict) -> None:
        if "seed" in d:
            self._seed = d["seed"]
            return
        self.env.reset(seed=0)  # create the generator, then overwrite its state
        self.env.unwrapped.np_random.bit_generator.state = d["rng"]
        self._seed = None


def make_env(impl: str, version: str = "v1", seed: int = 0):
    """``impl``: ``"fast"`` (``CartPole``) or ``"gymnasium"`` (``GymCartPole``)."""
    if impl == "fast":
        return CartPole(version, seed)
    if impl == "gymnasium":
        return GymCartPole(version, seed)
    raise DltourError(f"unknown env implementation {impl!r}: choose 'fast' or 'gymnasium'")
