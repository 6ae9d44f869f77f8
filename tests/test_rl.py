"""The tabular RL pieces of T5.1: updates, policies, schedules, discretiser, environments, the
training loop (against a slow reference loop), seeding and resume, and the curve statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dltour import DltourError
from dltour.rl import (AGENTS, CartPole, Discretiser, GymCartPole, Schedule, episodes_to_reach, epsilon_greedy,
                       greedy_returns, log_decay, make_env, max_drop, moving_average, parse_agent,
                       q_learning_update, sarsa_update, softmax_action, softmax_p1, softmax_probs)
from dltour.experiments.cartpole_td.science import train
from dltour.rl.agents import _chooser

COARSE = Discretiser((1, 1, 6, 12), (-2.4, -3.0, -math.radians(12), -math.radians(50)),
                     (2.4, 3.0, math.radians(12), math.radians(50)))
SCHED = Schedule(epsilon_floor=0.01, temperature_start=100.0, temperature_floor=1.0)


# ------------------------------------------------------------------ updates (hand-worked)
@pytest.mark.parametrize("as_list", [False, True])
def test_q_learning_update_by_hand(as_list):
    Q = np.array([[0.5, 1.0], [2.0, 3.0]])
    Q = Q.tolist() if as_list else Q
    # target = 1 + 0.9 * max(2, 3) = 3.7; delta = 3.7 - 1.0 = 2.7; Q[0][1] = 1.0 + 0.5 * 2.7 = 2.35
    delta = q_learning_update(Q, 0, 1, 1.0, 1, False, 0.5, 0.9)
    assert delta == pytest.approx(2.7)
    assert Q[0][1] == pytest.approx(2.35)
    assert Q[0][0] == 0.5 and list(Q[1]) == [2.0, 3.0]
    # terminal: no bootstrap; target = 1; Q[0][0] = 0.5 + 0.5 * (1 - 0.5) = 0.75
    q_learning_update(Q, 0, 0, 1.0, 1, True, 0.5, 0.9)
    assert Q[0][0] == pytest.approx(0.75)


@pytest.mark.parametrize("as_list", [False, True])
def test_sarsa_update_by_hand(as_list):
    Q = np.array([[0.5, 1.0], [2.0, 3.0]])
    Q = Q.tolist() if as_list else Q
    # the next action is 0 (not the greedy 1): target = 1 + 0.9 * Q[1][0] = 2.8; Q[0][1] = 1 + 0.5 * 1.8 = 1.9
    delta = sarsa_update(Q, 0, 1, 1.0, 1, 0, False, 0.5, 0.9)
    assert delta == pytest.approx(1.8)
    assert Q[0][1] == pytest.approx(1.9)
    # Q-learning from the same start would give 2.35: the two rules differ exactly by the next action
    sarsa_update(Q, 0, 0, 1.0, 1, 1, True, 0.5, 0.9)
    assert Q[0][0] == pytest.approx(0.75)


# ------------------------------------------------------------------ policies and schedules
def test_softmax_probabilities_known_values():
    # Q = (0, ln 3), T = 1: exp = (1, 3) -> (1/4, 3/4)
    assert softmax_probs([0.0, math.log(3)], 1.0) == pytest.approx([0.25, 0.75])
    # the temperature scales Q: (0, 2 ln 3) at T = 2 is the same distribution
    assert softmax_probs([0.0, 2 * math.log(3)], 2.0) == pytest.approx([0.25, 0.75])
    # three actions, Q = (0, ln 2, ln 5), T = 1 -> (1, 2, 5) / 8
    assert softmax_probs([0.0, math.log(2), math.log(5)], 1.0) == pytest.approx([1 / 8, 2 / 8, 5 / 8])
    # (1, 2) at T = 0.5: p1 = e^4 / (e^2 + e^4) = 1 / (1 + e^-2) = 0.880797...
    assert softmax_probs([1.0, 2.0], 0.5)[1] == pytest.approx(0.8807970779778823)
    # large Q / T must not overflow
    assert softmax_probs([1000.0, 1001.0], 1e-3) == pytest.approx([0.0, 1.0])
    assert softmax_p1(1000.0, 1001.0, 1.0) == pytest.approx(1 / (1 + math.exp(-1)))
    assert softmax_p1(0.0, -1e6, 1e-3) == 0.0 and softmax_p1(0.0, 1e6, 1e-3) == 1.0
    with pytest.raises(ValueError):
        softmax_probs([0.0, 1.0], 0.0)


def test_softmax_action_inverts_the_cdf():
    q = [0.0, math.log(3)]  # p = (1/4, 3/4)
    assert softmax_action(q, 1.0, 0.0) == 0
    assert softmax_action(q, 1.0, 0.2499) == 0
    assert softmax_action(q, 1.0, 0.2501) == 1
    assert softmax_action(q, 1.0, 0.9999) == 1
    # frequencies over many uniforms match the probabilities
    u = np.random.default_rng(0).random(20000)
    freq = np.mean([softmax_action(q, 1.0, x) for x in u])
    assert freq == pytest.approx(0.75, abs=0.01)


def test_epsilon_greedy():
    q = [1.0, 2.0]
    assert epsilon_greedy(q, 0.1, 0.5, 0.0) == 1  # no exploration: greedy
    assert epsilon_greedy(q, 0.1, 0.05, 0.2) == 0  # explores: u_action < 1/2 -> action 0
    assert epsilon_greedy(q, 0.1, 0.05, 0.7) == 1
    assert epsilon_greedy([3.0, 3.0], 0.0, 0.5, 0.9) == 0  # ties -> action 0, like np.argmax
    assert epsilon_greedy(q, 1.0, 0.999, 0.1) == 0  # epsilon 1: always random


def test_hot_path_choosers_equal_the_reference_policies():
    rng = np.random.default_rng(1)
    eg, sm = _chooser("egreedy"), _chooser("softmax")
    for _ in range(3000):
        q = list(rng.normal(0, 5, 2))
        if rng.random() < 0.1:
            q[1] = q[0]  # ties
        par, u1, u2 = rng.uniform(0.01, 3), rng.random(), rng.random()
        assert eg(q, par, u1, u2) == epsilon_greedy(q, par, u1, u2)
        assert sm(q, par, u1, u2) == softmax_action(q, par, u1)
        assert softmax_p1(q[0], q[1], par) == pytest.approx(softmax_probs(q, par)[1], abs=1e-12)


def test_log_decay_schedule():
    # constant at start for the first 25 episodes (e + 1 <= 25), 1 - log10(2) at e + 1 = 50, floor from e + 1 = 250
    assert log_decay(0, 1.0, 0.01, 25) == 1.0
    assert log_decay(24, 1.0, 0.01, 25) == 1.0
    assert log_decay(49, 1.0, 0.01, 25) == pytest.approx(1 - math.log10(2))
    assert log_decay(49, 100.0, 1.0, 25) == pytest.approx(100 * (1 - math.log10(2)))
    assert log_decay(249, 1.0, 0.01, 25) == 0.01
    assert log_decay(10_000, 1.0, 0.1, 25) == 0.1
    s = Schedule(alpha_floor=0.1, epsilon_floor=0.01, temperature_start=100.0, temperature_floor=1.0)
    assert s.alpha(0) == 1.0 and s.alpha(5000) == 0.1
    assert s.explore("egreedy", 5000) == 0.01 and s.explore("softmax", 0) == 100.0
    assert s.explore("softmax", 5000) == 1.0


# ------------------------------------------------------------------ discretiser
def test_discretiser_bin_edges_and_clipping():
    d = Discretiser((6,), (0.0,), (6.0,))  # inner edges 1, 2, 3, 4, 5
    assert d.edges == [[1.0, 2.0, 3.0, 4.0, 5.0]]
    assert [d.index((v,)) for v in (0.0, 0.999, 1.0, 2.0, 4.999, 5.0, 5.999, 6.0)] == [0, 0, 1, 2, 4, 5, 5, 5]
    # outside the clip range: the edge bins
    assert d.index((-100.0,)) == 0 and d.index((1e9,)) == 5 and d.index((-math.inf,)) == 0


def test_discretiser_default_bins_at_edges():
    # every inner edge opens its bin (left-closed); the float just below belongs to the bin before
    for var, edges in enumerate(COARSE.edges):
        for k, e in enumerate(edges, start=1):
            obs = [0.0, 0.0, 0.0, 0.0]
            obs[var] = e
            assert COARSE.bin_indices(obs)[var] == k
            obs[var] = float(np.nextafter(e, -np.inf))
            assert COARSE.bin_indices(obs)[var] == k - 1
    assert COARSE.n_states == 72
    # position and velocity have one bin: ignored even far outside their ranges
    assert COARSE.index((100.0, -100.0, 0.01, 0.0)) == COARSE.index((0.0, 0.0, 0.01, 0.0))
    # angle beyond +-12 deg and angular velocity beyond +-50 deg/s clip to the edge bins
    assert COARSE.bin_indices((0, 0, 0.5, 5.0)) == (0, 0, 5, 11)
    assert COARSE.bin_indices((0, 0, -0.5, -5.0)) == (0, 0, 0, 0)


def test_discretiser_flat_index_is_row_major():
    d = Discretiser((2, 3, 4), (0, 0, 0), (2, 3, 4))
    rng = np.random.default_rng(0)
    for _ in range(200):
        obs = rng.uniform(-1, 5, 3)
        assert d.index(obs) == np.ravel_multi_index(d.bin_indices(obs), (2, 3, 4))
    assert d.n_states == 24


@pytest.mark.parametrize("bins", [(1, 1, 6, 12), (1, 1, 1, 5), (3, 1, 6, 12), (1, 1, 1, 1)])
def test_discretiser_indexer_equals_index(bins):
    d = Discretiser(bins, (-2.4, -3.0, -0.21, -0.87), (2.4, 3.0, 0.21, 0.87))
    f = d.indexer()
    rng = np.random.default_rng(1)
    for obs in rng.uniform(-3, 3, (300, 4)):
        obs = tuple(float(v) for v in obs)
        assert f(obs) == d.index(obs)
    for e in d.edges[3]:  # exactly on an edge: left-closed bins in both
        assert f((0.0, 0.0, 0.0, e)) == d.index((0.0, 0.0, 0.0, e))


def test_discretiser_bad_inputs():
    with pytest.raises(DltourError, match="at least 1 bin"):
        Discretiser((0, 3), (0, 0), (1, 1))
    with pytest.raises(DltourError, match="low < high"):
        Discretiser((2,), (1.0,), (1.0,))
    with pytest.raises(DltourError, match="finite"):
        Discretiser((2,), (-math.inf,), (1.0,))
    with pytest.raises(DltourError, match="one entry per state variable"):
        Discretiser((2, 2), (0.0,), (1.0, 1.0))
    with pytest.raises(DltourError, match="observation has 3 variables"):
        COARSE.bin_indices((0.0, 0.0, 0.0))


# ------------------------------------------------------------------ environments
def _stabilising_action(obs) -> int:
    x, x_dot, theta, theta_dot = obs
    return int(theta + 0.5 * theta_dot + 0.05 * x + 0.2 * x_dot > 0)


@pytest.mark.parametrize("seed", [0, 7])
def test_fast_cartpole_matches_gymnasium_bit_for_bit(seed):
    import gymnasium as gym

    g = gym.make("CartPole-v1")
    f = CartPole("v1", seed)
    rng = np.random.default_rng(seed + 100)
    g.reset(seed=seed)
    obs = f.reset()
    assert np.array_equal(g.unwrapped.state, np.array(obs))
    lengths = []
    for ep in range(4):
        n = 0
        while True:
            # episodes 0-1 random actions (termination), 2-3 a stabilising controller (truncation at 500)
            a = int(rng.integers(2)) if ep < 2 else _stabilising_action(obs)
            _, gr, gterm, gtrunc, _ = g.step(a)
            obs, r, term, trunc = f.step(a)
            n += 1
            assert np.array_equal(g.unwrapped.state, np.array(obs)), f"step {n} of episode {ep}"
            assert (r, term, trunc) == (gr, gterm, gtrunc)
            if term or trunc:
                break
        lengths.append(n)
        g.reset()
        obs = f.reset()
        assert np.array_equal(g.unwrapped.state, np.array(obs))
    assert lengths[2:] == [500, 500] and max(lengths[:2]) < 500


def test_v0_truncates_at_200_and_bad_env_names():
    f = CartPole("v0", 0)
    obs, n = f.reset(), 0
    while True:
        obs, _, term, trunc = f.step(_stabilising_action(obs))
        n += 1
        if term or trunc:
            break
    assert (n, term, trunc) == (200, False, True)
    with pytest.raises(DltourError, match="unknown CartPole version"):
        CartPole("v9")
    with pytest.raises(DltourError, match="unknown env implementation"):
        make_env("mujoco")
    with pytest.raises(DltourError, match="unknown agent"):
        parse_agent("dqn-egreedy")


# ------------------------------------------------------------------ the training loop
def _reference_train(agent, env, disc, episodes, gamma, sched, seed):
    """A slow, literal Sutton & Barto loop over the tested pieces (NumPy Q, generic policies)."""
    method, policy = parse_agent(agent)
    rng = np.random.default_rng([seed, 1])
    Q = np.zeros((disc.n_states, 2))
    rewards = []

    def act(s, par, u):
        if policy == "egreedy":
            return epsilon_greedy(Q[s], par, u[0], u[1])
        return softmax_action(Q[s], par, u[0])

    for ep in range(episodes):
        alpha, par = sched.alpha(ep), sched.explore(policy, ep)
        u = rng.random((env.max_steps + 1, 2))
        s = disc.index(env.reset())
        a = act(s, par, u[0])
        total, t = 0.0, 0
        while True:
            t += 1
            obs, r, term, trunc = env.step(a)
            total += r
            s2 = disc.index(obs)
            if method == "sarsa":
                a2 = act(s2, par, u[t])
                sarsa_update(Q, s, a, r, s2, a2, term, alpha, gamma)
            else:
                q_learning_update(Q, s, a, r, s2, term, alpha, gamma)
                a2 = act(s2, par, u[t])
            s, a = s2, a2
            if term or trunc:
                break
        rewards.append(total)
    return rewards, Q


@pytest.mark.parametrize("agent", AGENTS)
def test_fast_loop_equals_reference_loop(agent):
    fast = train(agent, CartPole("v1", 3), COARSE, 60, 0.99, SCHED, 3)
    ref_rewards, ref_Q = _reference_train(agent, CartPole("v1", 3), COARSE, 60, 0.99, SCHED, 3)
    assert fast.rewards == ref_rewards
    np.testing.assert_allclose(fast.Q, ref_Q, rtol=0, atol=1e-12)
    assert fast.Q.any()


def test_same_seed_same_episodes_other_seed_differs():
    a = train("qlearning-egreedy", CartPole("v1", 5), COARSE, 80, 0.99, SCHED, 5)
    b = train("qlearning-egreedy", CartPole("v1", 5), COARSE, 80, 0.99, SCHED, 5)
    c = train("qlearning-egreedy", CartPole("v1", 6), COARSE, 80, 0.99, SCHED, 6)
    assert a.rewards == b.rewards and np.array_equal(a.Q, b.Q)
    assert a.rewards != c.rewards


def test_fast_and_gymnasium_envs_train_identically():
    for agent in ("qlearning-softmax", "sarsa-egreedy"):
        a = train(agent, CartPole("v1", 2), COARSE, 60, 0.99, SCHED, 2)
        b = train(agent, GymCartPole("v1", 2), COARSE, 60, 0.99, SCHED, 2)
        assert a.rewards == b.rewards


@pytest.mark.parametrize("impl", ["fast", "gymnasium"])
def test_interrupted_training_resumes_exactly(impl):
    full = train("sarsa-softmax", make_env(impl, "v1", 4), COARSE, 70, 0.99, SCHED, 4)
    saved = []

    def kill_at_55(ep, reward):
        if ep + 1 == 55:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("sarsa-softmax", make_env(impl, "v1", 4), COARSE, 70, 0.99, SCHED, 4, checkpoint_every=25,
              save=saved.append, on_episode=kill_at_55)
    assert [d["episode"] for d in saved] == [25, 50]
    resumed = train("sarsa-softmax", make_env(impl, "v1", 4), COARSE, 70, 0.99, SCHED, 4, state=saved[-1])
    assert resumed.rewards == full.rewards
    assert np.array_equal(resumed.Q, full.Q)


def test_random_policy_returns():
    from dltour.rl import random_returns

    a = random_returns(CartPole("v1", 5), 300, seed=1)
    assert np.array_equal(a, random_returns(CartPole("v1", 5), 300, seed=1))  # deterministic
    assert not np.array_equal(a, random_returns(CartPole("v1", 5), 300, seed=2))
    # a uniformly random policy keeps the pole up for about 22 steps (8..200 in single episodes)
    assert 15 < a.mean() < 30 and a.min() >= 8 and a.max() < 200


def test_greedy_returns_of_a_trained_table():
    st = train("qlearning-softmax", CartPole("v1", 0), COARSE, 5, 0.99, SCHED, 0)
    g1 = greedy_returns(st.Q, CartPole("v1", 9), COARSE, 3)
    g2 = greedy_returns(st.Q, CartPole("v1", 9), COARSE, 3)
    assert g1.shape == (3,) and np.array_equal(g1, g2) and (g1 >= 1).all() and (g1 <= 500).all()


# ------------------------------------------------------------------ curve statistics
def test_moving_average_and_episodes_to_reach():
    np.testing.assert_allclose(moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    # full windows of 3: t=3: 10, t=4: 73.3, t=5: 136.7, t=6: 200 -> first >= 195 at episode 6
    r = [10, 10, 10, 200, 200, 200]
    assert episodes_to_reach(r, 195, 3) == 6.0
    assert math.isnan(episodes_to_reach(r, 201, 3))
    # a partial window never counts (gym's 100 consecutive episodes rule)
    assert math.isnan(episodes_to_reach([500, 500], 475, 100))
    # 100 episodes of 10 then 100 of 500: MA(t) = (490 t - 48000) / 100 for t in 100..200;
    # >= 195 first at t = 138 (137.76 rounded up), >= 475 at t = 195 (194.9)
    r = [10.0] * 100 + [500.0] * 100
    assert episodes_to_reach(r, 195, 100) == 138.0
    assert episodes_to_reach(r, 475, 100) == 195.0


def test_max_drop():
    assert max_drop([1, 3, 2, 5, 1, 4]) == 4.0
    assert max_drop([1, 2, 3]) == 0.0
    assert max_drop([]) == 0.0
    assert max_drop([500, 10]) == 490.0
