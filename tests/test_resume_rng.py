"""Exact resume when random numbers are drawn after the checkpoint (issue 23, item 7).

The ``fit()`` resume tests that run a study (airline-lstm) draw no random number after their
checkpoint, so a ``fit`` that forgot to restore the RNG state would still pass them. Here a tiny
model draws from every global generator in every epoch — torch (dropout), NumPy (input noise) and
Python's ``random`` (a per-epoch coin) — over shuffled minibatches (``iterate_minibatches``). A run
interrupted after a checkpoint, then resumed as a fresh process would resume it (reseeded, model and
optimizer rebuilt, the checkpoint loaded by ``fit``), must end bit for bit where the uninterrupted
run ends: the same weights (``torch.equal``), the same optimizer state and the same losses.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dltour.device import resolve_device
from dltour.runner.run_folder import RunContext
from dltour.seeding import seed_everything
from dltour.train import fit
from dltour.train.loop import iterate_minibatches, minibatch_epoch

SEED = 7
EPOCHS = 5
N, D, BATCH = 48, 6, 8


@pytest.fixture(autouse=True)
def _leave_global_settings_as_found(monkeypatch):
    """``seed_everything`` sets PYTHONHASHSEED and cuDNN flags; undo them after each test."""
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", torch.backends.cudnn.deterministic)


class Crash(RuntimeError):
    """Stands for a process dying in the middle of an epoch."""


def _data():
    g = torch.Generator().manual_seed(123)  # data independent of the global generators
    x = torch.randn(N, D, generator=g)
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.1 * torch.randn(N, generator=g)).unsqueeze(1)
    return x, y


def _build():
    """What a study does at the start of every (fresh or resumed) process: seed, then build."""
    seed_everything(SEED)
    model = torch.nn.Sequential(torch.nn.Linear(D, 16), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                                torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt


def _train(run_dir, epochs, crash_in_epoch=None, crash_after_batches=2):
    """Train with ``fit`` in ``run_dir``; with ``crash_in_epoch`` (0-based), raise part-way through
    that epoch, after it has drawn random numbers. Returns (model, opt, FitResult)."""
    x, y = _data()
    model, opt = _build()
    ctx = RunContext("resume-rng", "dropout", SEED, run_dir, resolve_device("cpu"), "smoke", progress=False)
    run_dir.mkdir(parents=True, exist_ok=True)

    def train_epoch(epoch):
        scale = 0.05 if random.random() < 0.5 else 0.1  # Python's random, drawn after the checkpoint
        batches = 0

        def batch_loss(idx):
            nonlocal batches
            if epoch == crash_in_epoch and batches == crash_after_batches:
                raise Crash(f"killed in epoch {epoch}")
            batches += 1
            noise = torch.from_numpy(np.random.normal(0.0, scale, size=(len(idx), D)).astype(np.float32))
            return torch.nn.functional.mse_loss(model(x[idx] + noise), y[idx])  # dropout: torch's RNG

        return {"loss": minibatch_epoch(model, opt, N, BATCH, SEED, epoch, batch_loss, torch.device("cpu"))}

    def evaluate(epoch):
        model.eval()
        with torch.no_grad():
            return {"val_loss": float(torch.nn.functional.mse_loss(model(x), y))}

    res = fit(ctx, {"model": model, "opt": opt}, epochs, train_epoch, evaluate)
    return model, opt, res


def _assert_same(a_model, a_opt, a_res, b_model, b_opt, b_res):
    for (name, pa), pb in zip(a_model.state_dict().items(), b_model.state_dict().values()):
        assert torch.equal(pa, pb), f"weight {name} differs after resume"
    sa, sb = a_opt.state_dict()["state"], b_opt.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(sa[k][key], sb[k][key]), f"Adam {key} of param {k} differs after resume"
    assert a_res.history == b_res.history  # every epoch's loss and val_loss, exactly


def test_the_model_really_draws_random_numbers_after_the_checkpoint(tmp_path):
    """Guard for the test below: the shuffling alone depends only on (seed, epoch), so the test is
    only a test of the RNG restore if the epochs consume the global generators."""
    first = list(iterate_minibatches(N, BATCH, SEED, 3))
    assert all(torch.equal(a, b) for a, b in zip(first, iterate_minibatches(N, BATCH, SEED, 3)))
    assert not torch.equal(torch.cat(first), torch.arange(N))  # shuffled
    state_before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    _train(tmp_path / "probe", 1)
    assert not torch.equal(torch.get_rng_state(), state_before[0])
    assert not np.array_equal(np.random.get_state()[1], state_before[1])
    assert random.getstate() != state_before[2]


@pytest.mark.parametrize("crash_in_epoch", [2, 3])
def test_resume_after_crash_matches_uninterrupted_run_bit_for_bit(tmp_path, crash_in_epoch):
    ref_model, ref_opt, ref_res = _train(tmp_path / "uninterrupted", EPOCHS)
    assert ref_res.resumed_from == 0 and len(ref_res.history) == EPOCHS

    run_dir = tmp_path / "interrupted"
    with pytest.raises(Crash):
        _train(run_dir, EPOCHS, crash_in_epoch=crash_in_epoch)
    ck = RunContext("resume-rng", "dropout", SEED, run_dir, resolve_device("cpu")).load_checkpoint()
    assert ck["epoch"] == crash_in_epoch  # checkpoint of the last finished epoch

    model, opt, res = _train(run_dir, EPOCHS)  # a fresh process: reseeded, rebuilt, resumed
    assert res.resumed_from == crash_in_epoch
    _assert_same(ref_model, ref_opt, ref_res, model, opt, res)


def test_resume_after_a_shorter_run_matches_uninterrupted_run_bit_for_bit(tmp_path):
    """Run 2 epochs, then ask for 5 in the same folder: epochs 3-5 continue the random streams."""
    ref_model, ref_opt, ref_res = _train(tmp_path / "uninterrupted", EPOCHS)
    run_dir = tmp_path / "extended"
    _, _, first = _train(run_dir, 2)
    assert len(first.history) == 2
    model, opt, res = _train(run_dir, EPOCHS)
    assert res.resumed_from == 2
    _assert_same(ref_model, ref_opt, ref_res, model, opt, res)


def test_minibatch_epoch_returns_the_mean_loss_over_its_seeded_batches():
    """A known answer (mutation testing of train/loop.py left these alive): with a loss that is each
    sample's fixed value, the epoch's loss is the plain mean over all n samples even with an uneven last
    batch (10 = 4 + 4 + 2), and the batches are iterate_minibatches(n, batch, seed, epoch)'s, in order."""
    n, batch = 10, 4
    values = torch.arange(1.0, n + 1) ** 2  # mean 38.5; batch means weighted by batch size
    w = torch.nn.Parameter(torch.zeros(()))
    opt = torch.optim.SGD([w], lr=0.0)
    seen = []

    def batch_loss(idx):
        seen.append(idx.tolist())
        return values[idx].mean() + 0.0 * w

    dev = torch.device("cpu")
    out = minibatch_epoch(torch.nn.Linear(1, 1), opt, n, batch, 7, 3, batch_loss, dev)
    assert out == pytest.approx(38.5)
    assert seen == [i.tolist() for i in iterate_minibatches(n, batch, 7, 3, device=dev)]
    assert [len(s) for s in seen] == [4, 4, 2]
    seen.clear()
    minibatch_epoch(torch.nn.Linear(1, 1), opt, n, batch, 7, 4, batch_loss, dev)
    other_epoch = list(seen)
    seen.clear()
    minibatch_epoch(torch.nn.Linear(1, 1), opt, n, batch, 8, 3, batch_loss, dev)
    other_seed = list(seen)
    first = [i.tolist() for i in iterate_minibatches(n, batch, 7, 3, device=dev)]
    assert other_epoch != first and other_seed != first  # the seed and the epoch both reach the order


def test_bucketed_batches_shuffle_the_samples_not_only_the_batch_order():
    """With every length equal, the sort inside a pool keeps the shuffled order (a stable sort): each
    batch is a consecutive slice of randperm(n) under generator(seed, epoch), not of 0..n-1 (mutation
    testing left alive a bucketing that shuffled only the order of the batches, and an unstable sort)."""
    from dltour.seeding import generator
    from dltour.train.loop import bucketed_batches

    n, b = 64, 4
    got = bucketed_batches(torch.full((n,), 7), b, 5, 2, pool=50)
    perm = torch.randperm(n, generator=generator(5, 2)).tolist()
    slices = {tuple(perm[i:i + b]) for i in range(0, n, b)}
    assert {tuple(x.tolist()) for x in got} == slices
    assert slices != {tuple(range(i, i + b)) for i in range(0, n, b)}
