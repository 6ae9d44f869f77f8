"""T5.1 ``cartpole-td``: on-policy vs off-policy TD control. Four tabular agents (Q-learning and
SARSA, each with epsilon-greedy and softmax action selection) learn to balance gymnasium's
CartPole-v1; the study compares their learning curves (the average of the last 100 episode
rewards, reference Figures 8 and 16) and their stability over seeds.

Run it::

    dltour run cartpole-td                   # demo: 4 agents x 5 seeds x 1000 episodes
    dltour run cartpole-td --profile full    # 4 agents x 10 seeds x 2000 episodes on gymnasium's own env
    dltour bench cartpole-td                 # env steps/s and episodes/s; agent vs environment time

The reference states only "four RL agents", CartPole, Q-learning vs SARSA, epsilon-greedy vs
softmax, and plots the 100-episode average. Everything below is ours:

- environment: gymnasium's ``CartPole-v1`` (+1 per step, episodes cut at 500 steps; ``version=v0``
  gives the 200-step cap). ``env=fast`` (smoke, demo) is a pure-Python copy of gymnasium's dynamics
  with bit-identical trajectories for the same seed and actions (tested step by step against
  ``gym.make("CartPole-v1")``); ``env=gymnasium`` (full) steps gymnasium's own environment;
- discretisation: (cart position, cart velocity, pole angle, pole angular velocity) into
  (1, 1, 6, 12) equal-width bins over [-2.4, 2.4], [-3, 3], [-12 deg, 12 deg], [-50 deg/s, 50 deg/s],
  values outside going to the edge bins (the coarse tabular CartPole recipe): 72 states x 2 actions;
- learning: Q initialised to 0, gamma = 0.99; the learning rate, epsilon and the softmax temperature
  follow the recipe's schedule ``max(floor, start * min(1, 1 - log10((e + 1) / 25)))`` over episodes
  e: alpha 1 -> 0.1, epsilon 1 -> 0.01, temperature 1 / (1 - gamma) = 100 -> 1. The bootstrap is
  dropped on termination and kept on the 500-step truncation. Two values were set after a trial,
  for all four agents alike and before looking at the stability comparison: the recipe's epsilon
  floor of 0.1 (made for v0) let no seed reach a 475 average in 1000 episodes, so 0.01; a softmax
  temperature starting at 1 made the policy greedy after the first updates, so it starts on the
  Q-values' scale;
- update order as in Sutton & Barto: Q-learning chooses its next action after updating; SARSA
  chooses a' first and uses it in the target;
- seeds: run seed s seeds the environment's reset stream with s and the exploration with
  ``default_rng([s, 1])``; the greedy evaluation (``eval_episodes``, no exploration, no learning)
  uses an environment seeded with s + 1_000_003.

What the runs mean (the claims, how each is measured and decided, the table, the figures) is in
:mod:`dltour.experiments.cartpole_td_findings`.
"""

from __future__ import annotations

import math
import time
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from dltour.config import StudyConfig
from dltour.experiments import cartpole_td_findings as findings
from dltour.experiments.cartpole_td_findings import COARSE_BINS, THRESHOLDS, WINDOW
from dltour.registry import register, Study
from dltour.rl import (AGENTS, Discretiser, Schedule, episodes_to_reach, greedy_returns, make_env, max_drop,
                       moving_average, parse_agent, train)


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


@register
class CartPoleTD(Study):
    name = "cartpole-td"
    task = "T5.1"
    title = "Tabular Q-learning vs SARSA, epsilon-greedy vs softmax, on CartPole-v1"
    Config = Config
    profiles = {
        "smoke": {"seeds": 1, "episodes": 40, "eval_episodes": 2, "checkpoint_every": 20},
        "demo": {"seeds": 5, "episodes": 1000},
        "full": {"seeds": 10, "episodes": 2000, "env": "gymnasium", "checkpoint_every": 250},
    }
    reference = findings.REFERENCE
    # small_runs stays False: a run is short pure Python, and spawned workers' imports (torch included)
    # cost about as much as they save
    headline_metrics = ["final_avg100", "episodes_to_195", "episodes_to_475", "avg100_sd_last_half",
                        "largest_drop", "greedy_return"]
    summarize = findings.summarize
    comparison = findings.comparison

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

    # ------------------------------------------------------------------ declarations
    sweep = ("agents",)  # adding an agent reuses the others
    not_in_results = ("checkpoint_every",)  # checkpointing does not change results (resume is exact)

    def variants(self, cfg: Config) -> list[str]:
        return list(cfg.agents)


    def build_model(self, cfg: Config, variant: str):
        return None  # a Q-table, not a neural network (72 states x 2 actions with the default bins)

    # ------------------------------------------------------------------ bench
    # (its own: tabular agents learn by episodes, so the study has no trainer of steps and batches)
    def bench(self, cfg: Config, ctx, variant: str | None = None) -> dict:
        """Steps/s of the learning loop (end to end), of the agent alone (the same loop replaying the
        recorded transitions: discretise, choose, update) and of the environment alone (the same
        actions, no agent), on the same episodes; ``compute_only`` is the agent alone."""
        from types import SimpleNamespace as Env

        variant = self.bench_variant(cfg, variant, cfg.agents[0])
        episodes, disc, sched = min(cfg.episodes, 300), self.discretiser(cfg), self.schedule(cfg)
        env, tape, actions = make_env(cfg.env, cfg.version, 0), [], []  # every reset's and step's output

        def reset():
            actions.append([])
            tape.append(env.reset())
            return tape[-1]

        def step(a):
            actions[-1].append(a)
            tape.append(env.step(a))
            return tape[-1]

        def seconds(fn, *args) -> float:
            t0 = time.perf_counter()
            fn(*args)
            return time.perf_counter() - t0

        def learn(e) -> None:
            train(variant, e, disc, episodes, cfg.gamma, sched, 0)

        def env_only(impl: str) -> None:  # the recorded actions on a fresh env
            e = make_env(impl, cfg.version, 0)
            for acts in actions:
                e.reset()
                for a in acts:
                    e.step(a)

        learn(Env(max_steps=env.max_steps, reset=reset, step=step, get_state=env.get_state, set_state=env.set_state))
        played, steps = iter(tape), sum(map(len, actions))  # what the timed runs repeat
        t_e2e = seconds(learn, make_env(cfg.env, cfg.version, 0))
        t_agent = seconds(learn, Env(max_steps=env.max_steps, reset=played.__next__, step=lambda a: next(played),
                                     get_state=dict, set_state=lambda d: None))  # the tape, whatever the actions
        other = "gymnasium" if cfg.env == "fast" else "fast"
        t_env, t_other = seconds(env_only, cfg.env), seconds(env_only, other)
        return {"variant": variant, "episodes": episodes, "env_steps": steps,
                "end_to_end_samples_per_s": steps / t_e2e, "compute_only_samples_per_s": steps / t_agent,
                "ratio": t_agent / t_e2e, "env_only_samples_per_s": steps / t_env,
                f"{other}_env_only_samples_per_s": steps / t_other,
                "episodes_per_s": episodes / t_e2e, "agent_share_of_time": t_agent / t_e2e,
                "env_share_of_time": t_env / t_e2e,
                "device": "cpu (NumPy / pure Python; the accelerator is not used)", "dtype": "float64",
                "note": f"samples = environment steps of {episodes} training episodes of {variant} (env={cfg.env}); "
                        "compute_only = the agent alone (discretise + choose + TD update) replaying the same "
                        "transitions; ratio = agent time / end-to-end time"}
