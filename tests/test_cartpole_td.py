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
from dltour.runs import RunContext, run_study


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
    m = doc["metrics"]
    for pol in ("egreedy", "softmax"):
        for claim in ("qlearning-more-stable", "qlearning-smaller-drops"):
            f = ids[f"{claim}-{pol}"]
            assert f["ref"] == refs[pol] and f["source"] == "reference" and f["test"]
            assert f["verdict"] in ("holds", "does not hold", "inconclusive")
        # the verdict follows the per-seed metrics it reports: holding needs a lower mean
        lower = m[f"qlearning-{pol}"]["avg100_sd_last_half"]["mean"] < m[f"sarsa-{pol}"]["avg100_sd_last_half"]["mean"]
        f = ids[f"qlearning-more-stable-{pol}"]
        assert f["verdict"] != "holds" or lower
        assert f["verdict"] != "does not hold" or not lower
    f = ids["qlearning-475-within-300"]
    assert f["verdict"] == "not checked" and f["source"] == "ours"  # 120 episodes cannot show it
    table = doc["tables"][0]
    assert len(table["rows"]) == 4 and table["rows"][0][0] == "qlearning-egreedy"
    assert all(r[3] == "- (0/2)" for r in table["rows"])  # 475 not reached in 120 episodes
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
    assert not study.comparable(smoke) and study.comparable(demo) and study.comparable(full)
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


# ---------------------------------------------------------------- findings from hand-made per-seed values
from dltour.experiments.cartpole_td import decide_reach, findings  # noqa: E402

SEEDS = range(5)


def _agent(sd, drop, final=480.0, e475=300.0, jitter=1.0):
    """Per-seed values of one agent: constant plus a small seed-dependent wobble."""
    w = [0.0, 1.0, -1.0, 0.5, -0.5]
    return {"avg100_sd_last_half": {s: sd + jitter * w[s] for s in SEEDS},
            "largest_drop": {s: drop + jitter * w[s] for s in SEEDS},
            "final_avg100": {s: final + w[s] for s in SEEDS},
            "episodes_to_475": {s: e475 for s in SEEDS}}


def _values(q, s):
    return {"qlearning-egreedy": q, "sarsa-egreedy": s, "qlearning-softmax": q, "sarsa-softmax": s}


def _ids(fs):
    return {f.id: f for f in fs}


def test_stability_findings_hold_fail_and_are_undecided():
    stable, shaky = _agent(5.0, 20.0), _agent(60.0, 200.0)
    ids = _ids(findings(_values(stable, shaky), 22.0))
    for pol, ref in (("egreedy", "R47"), ("softmax", "R48")):
        for fid in (f"qlearning-more-stable-{pol}", f"qlearning-smaller-drops-{pol}"):
            assert ids[fid].verdict == "holds" and ids[fid].ref == ref and "Welch" in ids[fid].test
    ids = _ids(findings(_values(shaky, stable), 22.0))
    assert all(ids[f"{c}-{p}"].verdict == "does not hold" for c in ("qlearning-more-stable", "qlearning-smaller-drops")
               for p in ("egreedy", "softmax"))
    # the same means within seed noise: undecided
    ids = _ids(findings(_values(_agent(30.0, 100.0, jitter=40.0), _agent(31.0, 101.0, jitter=40.0)), 22.0))
    assert all(ids[f"{c}-{p}"].verdict == "inconclusive" for c in ("qlearning-more-stable", "qlearning-smaller-drops")
               for p in ("egreedy", "softmax"))


def test_an_agent_that_did_not_learn_carries_no_stability_verdict():
    # SARSA stuck below the random policy's return: its tiny sd says nothing about stability
    stuck = _agent(60.0, 200.0, final=15.0)
    ids = _ids(findings(_values(_agent(5.0, 20.0), stuck), 22.0))
    f = ids["qlearning-more-stable-egreedy"]
    assert f.verdict == "inconclusive" and "did not learn" in f.test and "sarsa-egreedy" in f.evidence


def test_stability_is_not_paired_by_seed():
    # paired by seed these differences (all exactly -1) would be certain; Welch sees overlapping arms
    q = {s: float(10 * s) for s in SEEDS}
    s_ = {s: float(10 * s + 1) for s in SEEDS}
    vals = {"qlearning-egreedy": {**_agent(0, 0), "avg100_sd_last_half": q},
            "sarsa-egreedy": {**_agent(0, 0), "avg100_sd_last_half": s_}}
    f = _ids(findings(vals, 22.0))["qlearning-more-stable-egreedy"]
    assert f.verdict == "inconclusive" and "Welch" in f.test


def test_reach_475_reference_point():
    nan = math.nan
    ids = _ids(findings({"qlearning-egreedy": {**_agent(5, 5), "episodes_to_475": {s: 250.0 + s for s in range(10)}}},
                        22.0))
    assert ids["qlearning-475-within-300"].verdict == "holds" and ids["qlearning-475-within-300"].ref is None
    late = {s: (nan if s % 2 else 600.0 + s) for s in range(10)}  # never or late: not within 350
    ids = _ids(findings({"qlearning-egreedy": {**_agent(5, 5), "episodes_to_475": late}}, 22.0))
    assert ids["qlearning-475-within-300"].verdict == "does not hold"
    d = decide_reach({0: 293.0, 1: nan, 2: 341.0, 3: 539.0, 4: 307.0})  # 3/5: too few seeds to decide
    assert d.verdict == "inconclusive" and "never" in d.evidence and "3/5" in d.evidence
    # five seeds cannot decide it even at 5/5 (two-sided binomial p = 0.0625)
    assert decide_reach({s: 100.0 for s in range(5)}).verdict == "inconclusive"
    ids = _ids(findings({"qlearning-egreedy": _agent(5, 5)}, 22.0, reach_why="needs 350 episodes"))
    assert ids["qlearning-475-within-300"].verdict == "not checked"


def test_run_and_bench_train_with_the_same_episode_loop(tmp_path, monkeypatch):
    from dltour.experiments import cartpole_td as ct

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
