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
:mod:`dltour.experiments.cartpole_td.findings`.
"""

from __future__ import annotations

import time

from dltour.experiments.cartpole_td import findings
from dltour.experiments.cartpole_td import science
from dltour.experiments.cartpole_td.science import Config
from dltour.registry import register
from dltour.rl import make_env


@register
class CartPoleTD(science.Science):
    name = "cartpole-td"
    task = "T5.1"
    title = "Tabular Q-learning vs SARSA, epsilon-greedy vs softmax, on CartPole-v1"
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

    # ------------------------------------------------------------------ declarations
    sweep = ("agents",)  # adding an agent reuses the others
    not_in_results = ("checkpoint_every",)  # checkpointing does not change results (resume is exact)

    def variants(self, cfg: Config) -> list[str]:
        return list(cfg.agents)

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
            science.train(variant, e, disc, episodes, cfg.gamma, sched, 0)

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
