"""Known answers for the run folder and ``fit`` that mutmut's whole pass over ``runner/run_folder.py``,
``runner/ledger.py`` and ``train/loop.py`` showed untested (issue 23, item 7; ``docs/mutation.md``).

Each test names what it pins: the attempt counter's arithmetic and file, the lock's file, the run ids
in a refused ``metrics.json``'s message, what a checkpoint may hold and refuse, ``save_json``, the
test-only kill point, ``fit`` never training past ``epochs`` (three mutants looped for ever), the
defaults of an old checkpoint, the progress bar's label, and ``zero_grad(set_to_none=True)``.
"""

from __future__ import annotations

import io
import pickle
import signal

import numpy as np
import pytest
import torch
from rich.console import Console

from dltour.device import DeviceInfo
from dltour.runner import run_folder
from dltour.runner.run_folder import (ForeignMetrics, RunContext, count_attempt, load_checkpoint, read_metrics,
                                      run_lock, save_checkpoint, to_plain)
from dltour.seeding import rng_state
from dltour.train import fit
from dltour.train.loop import EarlyStopping, Progress, minibatch_epoch
from test_fit_contract import Ctx, _Tty  # the in-memory run context and a terminal-like stderr


# ---------------------------------------------------------------- run folder
def test_count_attempt_counts_one_two_three_in_the_folders_attempts_file(tmp_path):
    assert count_attempt(tmp_path) == 1
    assert (tmp_path / "attempts").read_text() == "1"
    assert count_attempt(tmp_path) == 2
    assert count_attempt(tmp_path) == 3
    assert (tmp_path / "attempts").read_text() == "3"


def test_run_lock_holds_the_folders_dot_lock(tmp_path):
    with run_lock(tmp_path):
        assert (tmp_path / ".lock").exists()


def test_a_refused_metrics_file_names_both_runs(tmp_path):
    expect = {"run_id": "abc123", "key_digest": "d1"}
    (tmp_path / "metrics.json").write_text('{"acc": 1.0}')  # no provenance, no legacy check
    with pytest.raises(ForeignMetrics, match="does not describe run abc123"):
        read_metrics(tmp_path, expect)
    (tmp_path / "metrics.json").write_text(
        '{"acc": 1.0, "%s": {"run_id": "other9", "key_digest": "d1"}}' % run_folder.PROVENANCE)
    with pytest.raises(ForeignMetrics, match="holds the metrics of run other9, not of run abc123"):
        read_metrics(tmp_path, expect)
    (tmp_path / "metrics.json").write_text('{"acc": 1.0, "%s": "junk"}' % run_folder.PROVENANCE)
    with pytest.raises(ForeignMetrics, match="holds the metrics of run junk, not of run abc123"):
        read_metrics(tmp_path, expect)


def test_to_plain_copies_arrays_into_tensors_and_keeps_tuples(tmp_path):
    src = np.arange(4, dtype=np.float32)
    plain = to_plain({"rev": src[::-1], "a": src, "s": np.float32(1.5), "t": (np.int64(2), [np.zeros(2)])})
    assert torch.equal(plain["rev"], torch.tensor([3.0, 2.0, 1.0, 0.0]))  # a negative-stride view is copied
    src[0] = 99.0
    assert plain["a"][0].item() == 0.0  # a copy, not a view of the caller's array
    assert type(plain["s"]) is float and plain["s"] == 1.5
    assert isinstance(plain["t"], tuple) and type(plain["t"][0]) is int and isinstance(plain["t"][1], list)
    assert torch.equal(plain["t"][1][0], torch.zeros(2, dtype=torch.float64))
    save_checkpoint(tmp_path / "ck.pt", {"x": src, "n": np.int64(3)})
    back = load_checkpoint(tmp_path / "ck.pt")
    assert back["n"] == 3 and torch.equal(back["x"], torch.from_numpy(src.copy()))


class NotWeights:
    """Any class: unpickling it would run code of the pickle's choosing."""


def test_load_checkpoint_refuses_a_pickled_object(tmp_path):
    path = tmp_path / "ck.pt"
    torch.save({"state": NotWeights()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path)
    assert load_checkpoint(tmp_path / "missing.pt") is None


def _ctx(tmp_path):
    return RunContext("s", "v", 0, tmp_path, DeviceInfo(torch.device("cpu"), None))


def test_save_json_writes_name_dot_json_in_the_run_folder(tmp_path):
    _ctx(tmp_path).save_json("extra", {"k": [1, 2]})
    assert (tmp_path / "extra.json").read_text().replace(" ", "").replace("\n", "") == '{"k":[1,2]}'


def test_the_kill_point_fires_once_at_its_epoch_with_sigkill(tmp_path, monkeypatch):
    kills = []
    monkeypatch.setattr(run_folder.os, "kill", lambda pid, sig: kills.append((pid, sig)))
    ctx = _ctx(tmp_path)
    ctx.save_checkpoint({"epoch": 2})  # not asked to
    assert kills == []
    monkeypatch.setenv("DLTOUR_TEST_KILL_AT_EPOCH", "2")
    ctx.save_checkpoint({"epoch": 1})
    assert kills == []
    ctx.save_checkpoint({"epoch": 2})
    assert kills == [(run_folder.os.getpid(), signal.SIGKILL)]
    assert (tmp_path / ".test-killed").read_text() == "killed once"
    ctx.save_checkpoint({"epoch": 2})  # the retry of the same run folder runs through
    assert len(kills) == 1 and load_checkpoint(ctx.checkpoint_path) == {"epoch": 2}


# ---------------------------------------------------------------- fit
def _never_past(epochs):
    seen = []

    def train_epoch(e):
        if not 0 <= e < epochs or len(seen) >= epochs:
            raise AssertionError(f"trained epoch {e} after {seen} of {epochs}")
        seen.append(e)
        return {"loss": float(e)}
    return train_epoch, seen


def test_fit_trains_epochs_zero_to_n_minus_one_and_never_past_them():
    train, seen = _never_past(3)
    res = fit(Ctx(), {}, 3, train)
    assert seen == [0, 1, 2] and res.epochs_trained == 3
    assert res.stopped_early is False  # a bool, not a falsy stand-in
    assert res.history[-1]["epoch"] == 3.0


def test_fit_stores_no_best_weights_without_restore_best():
    ctx = Ctx()
    fit(ctx, {"net": torch.nn.Linear(1, 1)}, 2, lambda e: {"loss": 1.0})
    assert ctx.saved[-1]["best_weights"] is None and ctx.saved[-1]["stopped"] is False
    assert ctx.saved[-1]["early_stopping"] is None


def test_a_checkpoint_without_the_stopped_key_resumes_and_trains_on():
    net = torch.nn.Linear(1, 1)
    old = {"state": {"net": net.state_dict()}, "epoch": 1, "history": [{"epoch": 1.0, "loss": 0.0}],
           "rng": rng_state()}  # written before checkpoints recorded "stopped"
    train, seen = _never_past(3)
    res = fit(Ctx(old), {"net": net}, 3, train)
    assert seen == [1, 2] and res.stopped_early is False and res.resumed_from == 1


def test_a_checkpoint_with_early_stopping_state_resumes_without_early_stopping():
    ctx = Ctx()
    fit(ctx, {"net": torch.nn.Linear(1, 1)}, 2, lambda e: {"loss": 1.0}, lambda e: {"val_loss": 1.0 - e},
        early_stopping=EarlyStopping(patience=5))
    assert ctx.saved[-1]["early_stopping"] is not None
    res = fit(ctx, {"net": torch.nn.Linear(1, 1)}, 3, lambda e: {"loss": 1.0})
    assert res.epochs_trained == 3 and res.resumed_from == 2


def test_the_progress_bar_is_labelled_with_the_run_and_gets_each_row(monkeypatch):
    seen = []

    class Spy:
        def __init__(self, total, desc, enabled):
            seen.append((total, desc, enabled))

        def advance_to(self, n):
            pass

        def update(self, n, row):
            seen.append((n, dict(row)))

        def close(self):
            pass

    monkeypatch.setattr("dltour.train.loop.Progress", Spy)
    ctx = Ctx()
    ctx.progress = True
    fit(ctx, {}, 1, lambda e: {"loss": 0.5})
    assert seen == [(1, "fake", True), (1, {"epoch": 1, "loss": 0.5})]
    seen.clear()
    fit(None, {}, 1, lambda e: {})
    assert seen[0] == (1, "fit", False)


def test_early_stopping_says_which_modes_there_are():
    with pytest.raises(ValueError, match="^mode must be 'min' or 'max'$"):
        EarlyStopping(mode="up")


def test_minibatch_epoch_leaves_a_parameter_without_gradient_alone():
    """zero_grad(set_to_none=True): a parameter the loss does not reach (here: one left with a
    gradient by earlier training) has none in this epoch, so Adam skips it; a zeroed gradient instead
    would let weight decay move it."""
    used, unused = torch.nn.Parameter(torch.ones(())), torch.nn.Parameter(torch.ones(()))
    unused.grad = torch.ones(())
    opt = torch.optim.Adam([used, unused], lr=0.1, weight_decay=0.5)
    minibatch_epoch(torch.nn.Module(), opt, 8, 4, 0, 0, lambda idx: used * len(idx), torch.device("cpu"))
    assert unused.item() == 1.0 and used.item() != 1.0


def test_the_progress_bar_shows_label_count_and_metrics_and_is_erased_when_done(monkeypatch):
    """What a person sees on a terminal: the run's label, the bar, epochs done of all, the last row's
    metrics; and the bar is transient (erased at the end, so the log keeps the run's own lines). The
    row is rendered by a console of the test's own: what the live display draws depends on the
    terminal rich detects, which differs between a shell and CI."""
    monkeypatch.setattr("sys.stderr", _Tty())
    monkeypatch.setattr("sys.stdout", _Tty())  # the live display's own output goes nowhere that matters
    p = Progress(5, "vgg16-random", enabled=True)
    try:
        assert p.bar.tasks[0].fields["info"] == ""
        p.update(3, {"epoch": 3, "loss": 0.123456})
        out = io.StringIO()
        Console(file=out, width=120, force_terminal=False, color_system=None).print(
            p.bar.make_tasks_table(p.bar.tasks))
        shown = out.getvalue()
        assert "vgg16-random" in shown and "3/5" in shown and "loss=0.1235" in shown and "XX" not in shown
        assert "━" in shown  # the bar itself
        assert p.bar.live.transient is True
    finally:
        p.close()
