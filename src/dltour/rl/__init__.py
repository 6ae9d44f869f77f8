"""Tabular reinforcement learning for T5.1 (``cartpole-td``): CartPole environments
(``envs``), the state discretiser (``discretise``), exploration policies and schedules
(``policies``), and the Q-learning / SARSA update rules (``agents``; the episode loop is cartpole-td's science).
NumPy and the standard library only; no neural network."""

from dltour.rl.agents import (AGENTS, Schedule, episodes_to_reach, greedy_returns, max_drop,
                              moving_average, parse_agent, q_learning_update, random_returns, sarsa_update)
from dltour.rl.discretise import Discretiser
from dltour.rl.envs import MAX_STEPS, CartPole, GymCartPole, make_env
from dltour.rl.policies import epsilon_greedy, log_decay, softmax_action, softmax_p1, softmax_probs

__all__ = ["AGENTS", "MAX_STEPS", "CartPole", "Discretiser", "GymCartPole", "Schedule",
           "episodes_to_reach", "epsilon_greedy", "greedy_returns", "log_decay", "make_env", "max_drop",
           "moving_average", "parse_agent", "q_learning_update", "random_returns", "sarsa_update", "softmax_action",
           "softmax_p1", "softmax_probs"]
