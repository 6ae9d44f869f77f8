"""The science of ``cartpole-td``: its config, the episode loop in which a tabular Q-learning or SARSA
agent learns (``train``; the update rules, schedules and environments are :mod:`dltour.rl`), and what
a run returns, top to bottom. The study (its setup, what we assumed, its profiles) is the package's
``__init__``; what the runs mean (claims, findings, tables, figures) is ``findings``."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from dltour.config import StudyConfig
from dltour.experiments.cartpole_td.findings import COARSE_BINS, THRESHOLDS, WINDOW
from dltour.registry import Study
from dltour.rl import (AGENTS, Discretiser, Schedule, episodes_to_reach, greedy_returns, make_env, max_drop,
                       moving_average, parse_agent, softmax_p1)


class Config(StudyConfig):
    agents: list[str] = Field(default_factory=lambda: list(AGENTS))
    """Agents to compare (variants): {qlearning,sarsa}-{egreedy,softmax}."""
    episodes: int = Field(1000, ge=1)
    """Training episodes per run."""
    version: Literal["v1", "v0"] = "v1"
    """CartPole version: v1 caps episodes at 500 steps, v0 at 200."""
    env: Literal["fast", "gymnasium"] = "fast"
    """'fast': pure-Python copy of gymnasium's dynamics (identical trajectories); 'gymnasium': gym.make."""
    bins: list[int] = Field(default_factory=lambda: list(COARSE_BINS))
    """Bins per state variable (x, x_dot, theta, theta_dot)."""
    low: list[float] = Field(default_factory=lambda: [-2.4, -3.0, -math.radians(12), -math.radians(50)])
    """Lower clipping bound per state variable."""
    high: list[float] = Field(default_factory=lambda: [2.4, 3.0, math.radians(12), math.radians(50)])
    """Upper clipping bound per state variable."""
    gamma: float = Field(0.99, gt=0, le=1)
    """Discount factor."""
    alpha_floor: float = Field(0.1, gt=0, le=1)
    """Learning rate: log-decay from 1 to this floor."""
    epsilon_floor: float = Field(0.01, ge=0, le=1)
    """Epsilon-greedy: log-decay of epsilon from 1 to this floor."""
    temperature_start: float = Field(100.0, gt=0)
    """Softmax: initial temperature: 1 / (1 - gamma), the largest Q-value (set it anew if you change gamma)."""
    temperature_floor: float = Field(1.0, gt=0)
    """Softmax: the temperature's floor."""
    decay_divisor: float = Field(25.0, gt=0)
    """Episodes before the log-decay schedules start falling (the '25' of the schedule)."""
    eval_episodes: int = Field(20, ge=0)
    """Greedy evaluation episodes after training (no exploration, no learning)."""
    checkpoint_every: int = Field(200, ge=0)
    """Save the Q-table, rewards and RNG states every N episodes (0: never); a killed run resumes."""

    @field_validator("agents")
    @classmethod
    def _known_agents(cls, v: list[str]) -> list[str]:
        for a in v:
            parse_agent(a)
        if not v:
            raise ValueError("at least one agent")
        return v

    @model_validator(mode="after")
    def _four_variables(self) -> "Config":
        for k in ("bins", "low", "high"):
            if len(getattr(self, k)) != 4:
                raise ValueError(f"{k} needs 4 entries (x, x_dot, theta, theta_dot), got {getattr(self, k)}")
        Discretiser(tuple(self.bins), tuple(self.low), tuple(self.high))  # bins >= 1, low < high
        return self


# ---------------------------------------------------------------------- the agent learning: the episode loop
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
    # Hot path: within an episode the table is a list of [q0, q1] rows (Python floats are several times
    # faster to index than NumPy scalars), copied back to the array at every episode end, so the array
    # is the agent's state between episodes and in checkpoints.
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



class Science(Study):
    """What one run of CartPoleTD does (the study's declarations: the package's ``__init__``)."""
    Config = Config

    # ------------------------------------------------------------------ the agent's pieces: state bins, schedules
    @staticmethod
    def discretiser(cfg: Config) -> Discretiser:
        return Discretiser(tuple(cfg.bins), tuple(cfg.low), tuple(cfg.high))

    @staticmethod
    def schedule(cfg: Config) -> Schedule:
        return Schedule(alpha_floor=cfg.alpha_floor, alpha_divisor=cfg.decay_divisor,
                        epsilon_floor=cfg.epsilon_floor, epsilon_divisor=cfg.decay_divisor,
                        temperature_start=cfg.temperature_start, temperature_floor=cfg.temperature_floor,
                        temperature_divisor=cfg.decay_divisor)

    @staticmethod
    def curve_metrics(rewards: np.ndarray) -> dict[str, float]:
        """The per-run learning-curve metrics: ``final_avg100`` (mean reward of the last 100 episodes),
        ``avg100_sd_last_half`` (sd of the 100-episode average over the last half: the stability
        measure), ``largest_drop`` (its largest fall from a running peak, from episode 100 on),
        ``episodes_to_195/475`` (episodes trained when the 100-episode average first reaches the
        level; NaN when never) and ``reached_195/475``."""
        ma = moving_average(rewards, WINDOW)
        n = len(rewards)
        last_half = ma[n // 2:]
        out = {"final_avg100": float(np.mean(rewards[-WINDOW:])),
               "avg100_sd_last_half": float(np.std(last_half)),
               "largest_drop": max_drop(ma[WINDOW - 1:]) if n >= WINDOW else math.nan,
               "mean_reward": float(np.mean(rewards))}
        for th in THRESHOLDS:
            e = episodes_to_reach(rewards, th, WINDOW)
            out[f"episodes_to_{th:.0f}"] = e
            out[f"reached_{th:.0f}"] = 0.0 if math.isnan(e) else 1.0
        return out

    # ------------------------------------------------------------------ one run
    def run(self, cfg: Config, variant: str, seed: int, ctx) -> dict[str, float]:
        from dltour.train.loop import Progress

        disc = self.discretiser(cfg)
        sched = self.schedule(cfg)
        env = make_env(cfg.env, cfg.version, seed)
        resume = ctx.load_checkpoint()
        bar = Progress(cfg.episodes, ctx.label, enabled=ctx.progress)
        if resume:
            bar.advance_to(int(resume["episode"]))

        def on_episode(ep: int, reward: float) -> None:
            if (ep + 1) % 20 == 0:
                bar.update(ep + 1, {"reward": reward})

        t0 = time.perf_counter()
        state = train(variant, env, disc, cfg.episodes, cfg.gamma, sched, seed, state=resume,
                      checkpoint_every=cfg.checkpoint_every, save=ctx.save_checkpoint, on_episode=on_episode)
        seconds = time.perf_counter() - t0
        bar.close()
        rewards = np.asarray(state.rewards)
        done_here = len(rewards) - (int(resume["episode"]) if resume else 0)
        steps_here = float(rewards[len(rewards) - done_here:].sum())
        greedy = greedy_returns(state.Q, make_env(cfg.env, cfg.version, seed + 1_000_003), disc,
                                cfg.eval_episodes) if cfg.eval_episodes else np.zeros(0)
        _, policy = parse_agent(variant)
        ctx.save_arrays(rewards=rewards, avg100=moving_average(rewards, WINDOW), Q=state.Q, greedy=greedy,
                        explore=np.array([sched.explore(policy, e) for e in range(cfg.episodes)]))
        ctx.write_history([{"episode": e + 1, "reward": float(r), "avg100": float(m)}
                           for e, (r, m) in enumerate(zip(rewards, moving_average(rewards, WINDOW)))])
        m = self.curve_metrics(rewards)
        m.update({"greedy_return": float(greedy.mean()) if greedy.size else math.nan,
                  "env_steps": float(rewards.sum()),
                  "steps_per_s": steps_here / seconds if seconds > 0 else math.nan})
        return m

    def build_model(self, cfg: Config, variant: str):
        return None  # a Q-table, not a neural network (72 states x 2 actions with the default bins)
