"""The shared training pieces of dltour.train.loop against known answers: early stopping, the index
batches (plain and length-bucketed), the model check's backward pass; and a run folder's history."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dltour.fileio import write_csv_rows
from dltour.runner.run_folder import read_history
from dltour.train.loop import EarlyStopping, backward_check, bucketed_batches, iterate_minibatches


def test_early_stopping_checks_its_mode_and_starts_from_the_worst():
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="lowest")
    assert EarlyStopping().best == math.inf
    assert EarlyStopping(mode="max").best == -math.inf
    assert EarlyStopping(mode="max", best=0.5).best == 0.5  # a given best is kept


@pytest.mark.parametrize("mode,best,value,delta,want", [
    ("min", 1.0, 0.9, 0.0, True), ("min", 1.0, 1.0, 0.0, False), ("min", 1.0, 0.9, 0.1, False),
    ("min", 1.0, 0.89, 0.1, True), ("max", 1.0, 1.1, 0.0, True), ("max", 1.0, 1.0, 0.0, False),
    ("max", 1.0, 1.1, 0.1, False), ("max", 1.0, 1.11, 0.1, True)])
def test_improved_needs_more_than_min_delta(mode, best, value, delta, want):
    assert EarlyStopping(mode=mode, best=best, min_delta=delta).improved(value) is want


def test_step_counts_bad_epochs_and_stops_at_patience():
    es = EarlyStopping(patience=2)
    assert es.step(1.0, 0) is False and (es.best, es.best_epoch, es.bad_epochs) == (1.0, 0, 0)
    assert es.step(1.5, 1) is False and es.bad_epochs == 1
    assert es.step(0.5, 2) is False and (es.best, es.best_epoch, es.bad_epochs) == (0.5, 2, 0)
    assert es.step(0.7, 3) is False and es.bad_epochs == 1
    assert es.step(0.6, 4) is True and es.bad_epochs == 2 and es.best_epoch == 2


def test_early_stopping_state_round_trips():
    es = EarlyStopping(mode="max", patience=5)
    for e, v in enumerate([0.1, 0.3, 0.2]):
        es.step(v, e)
    state = es.state_dict()
    assert state == {"best": 0.3, "best_epoch": 1, "bad_epochs": 1}
    other = EarlyStopping(mode="max", patience=5)
    other.load_state_dict(state)
    assert (other.best, other.best_epoch, other.bad_epochs) == (0.3, 1, 1)


def test_iterate_minibatches_in_order_or_by_seed_and_epoch():
    assert [b.tolist() for b in iterate_minibatches(5, 2, seed=0, epoch=0, shuffle=False)] == [[0, 1], [2, 3], [4]]
    a = torch.cat(list(iterate_minibatches(10, 3, seed=1, epoch=2)))
    assert sorted(a.tolist()) == list(range(10))
    assert torch.equal(a, torch.cat(list(iterate_minibatches(10, 3, seed=1, epoch=2))))
    assert not torch.equal(a, torch.cat(list(iterate_minibatches(10, 3, seed=1, epoch=3))))


def test_bucketed_batches_known_answer_without_shuffling():
    # pools of 2 batches of 2 (4 indices): [0, 1, 2, 3] sorted by length, longest first: 0 (5), 2 (4), 3 (2),
    # 1 (1); then [4, 5]: 5 (6), 4 (3); ties keep their order
    lengths = torch.tensor([5, 1, 4, 2, 3, 6])
    got = [b.tolist() for b in bucketed_batches(lengths, 2, seed=0, epoch=0, shuffle=False, pool=2)]
    assert got == [[0, 2], [3, 1], [5, 4]]
    ties = [b.tolist() for b in bucketed_batches(torch.tensor([2, 2, 2]), 2, seed=0, epoch=0, shuffle=False)]
    assert ties == [[0, 1], [2]]


def test_bucketed_batches_cover_each_index_once_and_group_lengths():
    lengths = torch.tensor(np.random.default_rng(0).integers(1, 200, 1000))
    b = bucketed_batches(lengths, 32, seed=3, epoch=1, pool=10)
    flat = torch.cat(b)
    assert sorted(flat.tolist()) == list(range(1000))
    again = bucketed_batches(lengths, 32, seed=3, epoch=1, pool=10)
    assert all(torch.equal(x, y) for x, y in zip(b, again))
    assert not torch.equal(torch.cat(bucketed_batches(lengths, 32, seed=3, epoch=2, pool=10)), flat)
    assert not torch.equal(torch.cat(bucketed_batches(lengths, 32, seed=4, epoch=1, pool=10)), flat)
    # within a batch, lengths are close: padding is far less than in random batches
    pad_bucketed = sum(int(lengths[i].max() * len(i) - lengths[i].sum()) for i in b)
    rand = torch.randperm(1000, generator=torch.Generator().manual_seed(0)).split(32)
    pad_random = sum(int(lengths[i].max() * len(i) - lengths[i].sum()) for i in rand)
    assert pad_bucketed < 0.2 * pad_random
    # the batch order is shuffled too: the first batch is not always the longest pool's first
    firsts = {int(bucketed_batches(lengths, 32, seed=3, epoch=e, pool=10)[0][0]) for e in range(5)}
    assert len(firsts) > 1


def test_backward_check_wants_a_finite_gradient_for_every_trainable_parameter():
    torch.manual_seed(0)
    used, unused = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    x = torch.randn(4, 3)
    loss = used(x).pow(2).mean()
    assert backward_check(loss, used) == pytest.approx(float(loss.detach()))
    with pytest.raises(AssertionError, match=r"Linear\.weight: no finite gradient"):
        backward_check(used(x).pow(2).mean(), used, unused)
    unused.requires_grad_(False)  # frozen parameters need no gradient
    backward_check(used(x).pow(2).mean(), used, unused)
    with pytest.raises(AssertionError, match="no finite gradient"):
        backward_check(used(x).sum() * torch.tensor(float("nan")), used)


def test_read_history_of_a_run_folder(tmp_path):
    assert read_history(tmp_path) == []
    write_csv_rows(tmp_path / "history.csv", [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "val": 0.3}])
    assert read_history(tmp_path) == [{"epoch": 1.0, "loss": 0.5}, {"epoch": 2.0, "loss": 0.25, "val": 0.3}]
