"""T5.1 ``cartpole-td``: a smoke run through the CLI, the summary over several seeds, a killed run
that resumes from its checkpoint, the curve metrics by hand, bad config values, and the bench."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dltour import DltourError
from dltour.config import apply_overrides, resolve_config
from dltour.device import resolve_device
from dltour.registry import get_study
from dltour.runner.driver import run_study
from dltour.runner.run_folder import RunContext


@pytest.fixture
def study():
    return get_study("cartpole-td")


def test_smoke_run_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    from dltour.cli import app

    res = CliRunner().invoke(app, ["run", "cartpole-td", "--profile", "smoke", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "cartpole-td" / "summary.json").read_text())
    assert doc["task"] == "T5.1" and doc["runs"] == 4 and doc["comparable"] is False
    agents = {"qlearning-egreedy", "qlearning-softmax", "sarsa-egreedy", "sarsa-softmax"}
    assert set(doc["metrics"]) == agents | {"random-policy"}  # the learned-gate's baseline beside the agents
    for m in (doc["metrics"][a] for a in agents):
        assert m["final_avg100"]["n"] == 1 and 8 <= m["final_avg100"]["mean"] <= 500
    # one seed: nothing to compare over seeds; 40 episodes cannot show the 475 reference point
    assert all(f["verdict"] in ("inconclusive", "not checked") for f in doc["findings"])
    assert all((tmp_path / "cartpole-td" / f).exists() for f in ("fig8_learning_curves.png",
                                                                  "fig16_curves_per_seed.png"))
    # every run saved its per-episode rewards and Q-table
    run_dirs = list((tmp_path / "runs" / "cartpole-td").iterdir())
    with np.load(run_dirs[0] / "arrays.npz") as z:
        assert z["rewards"].shape == (40,) and z["Q"].shape == (72, 2) and z["avg100"].shape == (40,)


def test_summary_over_seeds_has_table_and_checked_findings(tmp_path, study):
    cfg = resolve_config(study, "smoke", {"seeds": 2, "episodes": 120, "eval_episodes": 0})
    doc = run_study(study, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)
    assert doc["runs"] == 8
    ids = {f["id"]: f for f in doc["findings"]}
    refs = {"egreedy": "R47", "softmax": "R48"}
    for pol in ("egreedy", "softmax"):
        for claim in ("qlearning-more-stable", "qlearning-smaller-drops"):
            f = ids[f"{claim}-{pol}"]
            assert f["ref"] == refs[pol] and f["source"] == "reference" and f["test"]
            # 120 episodes leave no 100 episodes after reaching 195: no post-learning phase to compare
            assert f["verdict"] == "inconclusive" and "post-learning phase" in f["test"] + f["evidence"]
            assert f["stats"]["n_runs"] is not None
    f = ids["qlearning-475-within-300"]
    assert f["verdict"] == "not checked" and f["source"] == "ours"  # 120 episodes cannot show it
    table = doc["tables"][0]
    assert len(table["rows"]) == 4 and table["rows"][0][0] == "qlearning-egreedy"
    assert all(r[3] == "- (0/2)" for r in table["rows"])  # 475 not reached in 120 episodes
    assert all(r[-1] == r[-2] == "- (0/2)" for r in table["rows"])  # no post-learning phase measured
    assert doc["metrics"]["random-policy"]["final_avg100"]["n"] == 1
    assert doc["metrics"]["sarsa-egreedy"]["seed_spread_last_half"]["n"] == 1
    # the seed spread is the across-seed sd of the saved curves, averaged over the last half
    runs = sorted((tmp_path / "runs" / "cartpole-td").iterdir())
    curves = {}
    for d in runs:
        c = json.loads((d / "config.json").read_text())
        if c["variant"] == "sarsa-egreedy":
            with np.load(d / "arrays.npz") as z:
                curves[c["seed"]] = z["avg100"]
    mat = np.stack([curves[0], curves[1]])
    expected = np.mean(np.abs(mat[0, 60:] - mat[1, 60:]) / math.sqrt(2))  # sd (ddof=1) of two values
    assert doc["metrics"]["sarsa-egreedy"]["seed_spread_last_half"]["mean"] == pytest.approx(expected)


def test_killed_run_resumes_from_its_checkpoint(tmp_path, study):
    cfg = resolve_config(study, "smoke", {"episodes": 50, "checkpoint_every": 20, "eval_episodes": 2})
    dev = resolve_device("cpu")
    ref = study.run(cfg, "sarsa-egreedy", 0, RunContext("cartpole-td", "sarsa-egreedy", 0, tmp_path / "a", dev,
                                                        progress=False))

    ctx = RunContext("cartpole-td", "sarsa-egreedy", 0, tmp_path / "b", dev, progress=False)
    real_save = ctx.save_checkpoint
    saves = []

    def save_then_die(state):  # the process dies right after the checkpoint at episode 40
        real_save(state)
        saves.append(state["episode"])
        if state["episode"] == 40:
            raise KeyboardInterrupt

    ctx.save_checkpoint = save_then_die
    with pytest.raises(KeyboardInterrupt):
        study.run(cfg, "sarsa-egreedy", 0, ctx)
    assert saves == [20, 40]
    ctx2 = RunContext("cartpole-td", "sarsa-egreedy", 0, tmp_path / "b", dev, progress=False)
    assert ctx2.load_checkpoint()["episode"] == 40
    resumed = study.run(cfg, "sarsa-egreedy", 0, ctx2)
    ref.pop("steps_per_s"), resumed.pop("steps_per_s")
    assert resumed == pytest.approx(ref, nan_ok=True)
    with np.load(tmp_path / "a" / "arrays.npz") as za, np.load(tmp_path / "b" / "arrays.npz") as zb:
        assert np.array_equal(za["rewards"], zb["rewards"]) and np.array_equal(za["Q"], zb["Q"])


def test_curve_metrics_by_hand(study):
    # 100 episodes of 10 then 100 of 500: the 100-episode average is 4.9 t - 480 for t = 100..200
    m = study.curve_metrics(np.array([10.0] * 100 + [500.0] * 100))
    assert m["episodes_to_195"] == 138.0 and m["episodes_to_475"] == 195.0
    assert m["reached_195"] == 1.0 and m["reached_475"] == 1.0
    assert m["final_avg100"] == 500.0
    assert m["largest_drop"] == 0.0
    # last half = t 101..200: 100 equally spaced values 4.9 apart: sd = 4.9 * sqrt((100^2 - 1) / 12)
    assert m["avg100_sd_last_half"] == pytest.approx(4.9 * math.sqrt((100 ** 2 - 1) / 12))
    m = study.curve_metrics(np.array([500.0] * 100 + [10.0] * 100))
    assert m["largest_drop"] == pytest.approx(490.0)
    assert math.isnan(m["episodes_to_195"]) is False and m["episodes_to_195"] == 100.0
    m = study.curve_metrics(np.array([20.0] * 150))
    assert math.isnan(m["episodes_to_195"]) and m["reached_195"] == 0.0 and m["final_avg100"] == 20.0


def test_bad_config_values_give_clear_errors(study):
    cfg = resolve_config(study, "smoke")
    with pytest.raises(DltourError, match="unknown agent 'dqn-egreedy'"):
        apply_overrides(cfg, {"agents": ["dqn-egreedy"]})
    with pytest.raises(DltourError, match="bins needs 4 entries"):
        apply_overrides(cfg, {"bins": [6, 12]})
    with pytest.raises(DltourError, match="at least 1 bin"):
        apply_overrides(cfg, {"bins": [1, 0, 6, 12]})
    with pytest.raises(DltourError, match="low < high"):
        apply_overrides(cfg, {"low": [2.4, -3.0, -0.2, -0.8]})
    with pytest.raises(DltourError, match="version"):
        apply_overrides(cfg, {"version": "v2"})
    with pytest.raises(DltourError, match="env"):
        apply_overrides(cfg, {"env": "mujoco"})
    with pytest.raises(DltourError, match="unknown config key 'epsilon'"):
        apply_overrides(cfg, {"epsilon": 0.1})


def test_profiles_and_model(study):
    smoke, demo, full = (resolve_config(study, p) for p in ("smoke", "demo", "full"))
    assert (smoke.seeds, demo.seeds, full.seeds) == (1, 5, 10)
    assert full.env == "gymnasium" and demo.env == "fast"
    assert not study.comparable(smoke) and not study.comparable(demo) and study.comparable(full)
    assert study.variants(demo) == ["qlearning-egreedy", "qlearning-softmax", "sarsa-egreedy", "sarsa-softmax"]
    assert study.build_model(demo, "sarsa-softmax") is None  # a Q-table, no network
    # adding an agent or changing the checkpoint interval reuses the other runs
    assert study.run_key(demo, "x") == study.run_key(apply_overrides(demo, {"agents": ["sarsa-egreedy"],
                                                                            "checkpoint_every": 7}), "x")


def test_bench_reports_rates(study):
    cfg = resolve_config(study, "smoke")
    res = study.bench(cfg, RunContext("cartpole-td", "bench", 0, None, resolve_device("cpu"), progress=False))
    for k in ("end_to_end_samples_per_s", "compute_only_samples_per_s", "ratio", "device", "dtype",
              "episodes_per_s", "env_only_samples_per_s", "gymnasium_env_only_samples_per_s"):
        assert k in res
    assert res["env_steps"] >= 40 * 8 and res["episodes"] == 40
    # timings only: a loaded machine can make any of them slow, so no bounds beyond being rates
    assert all(math.isfinite(res[k]) and res[k] > 0 for k in ("ratio", "end_to_end_samples_per_s",
                                                                 "compute_only_samples_per_s", "episodes_per_s"))


# ---------------------------------------------------------------- findings from simulated runs
from dltour.experiments.cartpole_td.findings import after_learning, decide_reach, decide_stability, findings  # noqa: E402

SEEDS = range(5)


def _rewards(g, episodes=1000, learn_at=250.0, relapse=0.05, level=500.0):
    """One plausible run: returns rising along a logistic learning curve to ``level`` (around episode
    ``learn_at``), capped at 500, with seeded noise; once learnt, each episode relapses (falls to 20-190
    steps) with probability ``relapse``."""
    e = np.arange(episodes)
    r = np.clip(9 + (level - 9) / (1 + np.exp(-(e - learn_at) / 25)) + g.normal(0, 15, episodes), 8, 500)
    r[r > 490] = 500.0  # a balanced pole runs to the cap
    fall = (e > learn_at + 50) & (g.random(episodes) < relapse)
    r[fall] = g.uniform(20, 190, int(fall.sum()))
    return r


def _agent(g, seeds=SEEDS, relapse=0.05, **kw):
    """Per-seed values of one agent, through the study's own measures (``curve_metrics``, ``after_learning``);
    each seed's relapse probability jittered by +-30%."""
    study = get_study("cartpole-td")
    out = {"relapse_rate": {}, "drop_after": {}, "final_avg100": {}, "episodes_to_475": {}}
    for s in seeds:
        r = _rewards(g, relapse=relapse * g.uniform(0.7, 1.3), **kw)
        m, a = study.curve_metrics(r), after_learning(r)
        for k in ("final_avg100", "episodes_to_475"):
            out[k][s] = m[k]
        for k in ("relapse_rate", "drop_after"):
            out[k][s] = a[k]
    return out


def _values(q_relapse, s_relapse, rng=0, q=None, s=None, seeds=SEEDS):
    g = np.random.default_rng(rng)
    out = {}
    for pol in ("egreedy", "softmax"):
        out[f"qlearning-{pol}"] = _agent(g, seeds, q_relapse, **(q or {}))
        out[f"sarsa-{pol}"] = _agent(g, seeds, s_relapse, **(s or {}))
    return out


def _ids(fs):
    return {f.id: f for f in fs}


STABILITY = [f"{c}-{p}" for c in ("qlearning-more-stable", "qlearning-smaller-drops") for p in ("egreedy", "softmax")]


def test_after_learning_by_hand():
    # 100 episodes of 10, then 500s: the average reaches 195 at episode 138; after it 62 episodes of 500
    # and then 100 episodes in which every fourth falls to 100
    tail = np.array([100.0 if i % 4 == 0 else 500.0 for i in range(100)])
    r = np.concatenate([[10.0] * 100, [500.0] * 100, tail])
    a = after_learning(r)
    assert a["reached_at"] == 138 and a["episodes_after"] == 162
    assert a["relapse_rate"] == pytest.approx(25 / 162)
    ma = np.convolve(r, np.ones(100), "valid") / 100  # full-window averages from episode 100 on
    assert a["drop_after"] == pytest.approx(ma.max() - ma[ma.argmax():].min())
    # at the cap from then on: relapse rate 0 and no drop, a real value (not a sd degenerate at the cap)
    at_cap = after_learning(np.array([10.0] * 100 + [500.0] * 200))
    assert at_cap["relapse_rate"] == 0.0 and at_cap["drop_after"] == 0.0
    # never reached, or reached with fewer than 100 episodes left: no post-learning phase
    assert math.isnan(after_learning(np.array([20.0] * 300))["relapse_rate"])
    assert math.isnan(after_learning(np.array([10.0] * 100 + [500.0] * 120))["drop_after"])


def test_stability_findings_hold_fail_and_are_undecided():
    # Q-learning relapses in 1% of its episodes after learning, SARSA in 12%: holds on both measures
    ids = _ids(findings(_values(0.01, 0.12), 22.0))
    for pol, ref in (("egreedy", "R47"), ("softmax", "R48")):
        for fid in (f"qlearning-more-stable-{pol}", f"qlearning-smaller-drops-{pol}"):
            f = ids[fid]
            assert f.verdict == "holds" and f.ref == ref, (fid, f.test)
            assert "IQM" in f.test and "stratified-bootstrap" in f.test and "permutation" in f.test
            assert f.stats["n_runs"] == 10 and f.stats["effect"] < 0 and f.stats["effect_ci"][1] < 0
    assert ids["qlearning-more-stable-egreedy"].stats["unit"] == "share of episodes"
    # the demo's epsilon-greedy picture: Q-learning relapses more (30% vs 5%; the demo: 25% vs 7%)
    ids = _ids(findings(_values(0.30, 0.05, rng=1), 22.0))
    assert {f: ids[f].verdict for f in STABILITY} == dict.fromkeys(STABILITY, "does not hold")
    # the same relapse probability (8%) for both: undecided
    ids = _ids(findings(_values(0.08, 0.08, rng=3), 22.0))  # (a null: each test errs 5% of the time)
    assert {f: ids[f].verdict for f in STABILITY} == dict.fromkeys(STABILITY, "inconclusive")
    # too few runs: 2 seeds per agent cannot reach p < 0.05 in a permutation test (6 relabellings)
    ids = _ids(findings(_values(0.01, 0.12, rng=7, seeds=range(2)), 22.0))
    f = ids["qlearning-more-stable-egreedy"]
    assert f.verdict == "inconclusive" and "more seeds needed" in f.test


def test_an_agent_at_the_cap_does_not_win_whatever_the_other_does():
    # the old defect: Q-learning at 500 in every seed had sd 0, so it "held" whatever SARSA did. Now an agent
    # that also stays at its level after learning (SARSA at a 500 plateau, no relapses) ties: undecided
    ids = _ids(findings(_values(0.0, 0.0, rng=4), 22.0))
    assert all(ids[f].verdict == "inconclusive" for f in STABILITY), {f: ids[f].test for f in STABILITY}


def test_runs_without_a_post_learning_phase_are_left_out_and_counted():
    # SARSA never reaches 195 (it levels off at 150): there is no post-learning phase to compare
    ids = _ids(findings(_values(0.01, 0.12, rng=5, s={"level": 150.0}), 22.0))
    f = ids["qlearning-more-stable-egreedy"]
    assert f.verdict == "inconclusive" and "sarsa-egreedy 0 of 5" in f.evidence and "needs >= 2" in f.test


def test_an_agent_that_did_not_learn_carries_no_stability_verdict():
    # SARSA stuck below the random policy's return (its learning curve never rises)
    ids = _ids(findings(_values(0.01, 0.12, rng=6, s={"level": 15.0, "learn_at": 5000.0}), 22.0))
    f = ids["qlearning-more-stable-egreedy"]
    assert f.verdict == "inconclusive" and "did not learn" in f.test and "sarsa-egreedy" in f.evidence


def test_stability_is_not_paired_by_seed():
    # paired by seed these differences (all exactly -0.01) would look certain; unpaired, the arms overlap
    q = {s: 0.05 * s for s in SEEDS}
    s_ = {s: 0.05 * s + 0.01 for s in SEEDS}
    d = decide_stability(q, s_, "relapse rate", "egreedy", "share of episodes")
    assert d.verdict == "inconclusive" and "unpaired" in d.test and d.n_runs == 10


def test_reach_475_reference_point():
    nan = math.nan
    base = {"relapse_rate": {}, "drop_after": {}, "final_avg100": {s: 480.0 for s in range(10)}}
    ids = _ids(findings({"qlearning-egreedy": {**base, "episodes_to_475": {s: 250.0 + s for s in range(10)}}}, 22.0))
    assert ids["qlearning-475-within-300"].verdict == "holds" and ids["qlearning-475-within-300"].ref is None
    late = {s: (nan if s % 2 else 600.0 + s) for s in range(10)}  # never or late: not within 350
    ids = _ids(findings({"qlearning-egreedy": {**base, "episodes_to_475": late}}, 22.0))
    assert ids["qlearning-475-within-300"].verdict == "does not hold"
    d = decide_reach({0: 293.0, 1: nan, 2: 341.0, 3: 539.0, 4: 307.0})  # 3/5: too few seeds to decide
    assert d.verdict == "inconclusive" and "never" in d.evidence and "3/5" in d.evidence
    # five seeds cannot decide it even at 5/5 (two-sided binomial p = 0.0625)
    assert decide_reach({s: 100.0 for s in range(5)}).verdict == "inconclusive"
    ids = _ids(findings({"qlearning-egreedy": {**base, "episodes_to_475": {}}}, 22.0, reach_why="needs 350 episodes"))
    assert ids["qlearning-475-within-300"].verdict == "not checked"


def test_run_and_bench_train_with_the_same_episode_loop(tmp_path, monkeypatch):
    from dltour.experiments.cartpole_td import science as ct

    calls = []
    real_train = ct.train
    monkeypatch.setattr(ct, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    study = get_study("cartpole-td")
    cfg = resolve_config(study, "smoke", {"agents": ["qlearning-egreedy"], "episodes": 10, "eval_episodes": 1})
    run_study(study, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)
    assert len(calls) == 1
    study.bench(cfg, RunContext("cartpole-td", "bench", 0, None, resolve_device("cpu"), progress=False))
    assert len(calls) == 1 + 3  # record, end to end, agent alone: the same episode loop each time


def test_no_neural_model_and_no_data_keys(study):
    from dltour.config import valid_keys

    cfg = resolve_config(study, "full")
    assert study.build_model(cfg, "qlearning-egreedy") is None and study.check_model(cfg, "qlearning-egreedy") is None
    assert not any(k.startswith("data") for k in valid_keys(cfg))


def test_only_the_full_budget_counts_as_the_reference_scale():
    from dltour.experiments.cartpole_td import CartPoleTD
    from dltour.config import resolve_config

    study = CartPoleTD()
    full = study.comparison(resolve_config(study, "full"))
    demo = study.comparison(resolve_config(study, "demo"))
    assert full.ok and not demo.ok and "episodes 1000 < 2000" in demo.why and "seeds 5 < 10" in demo.why
