"""``fit``'s contract, decided on scripted curves with an in-memory run context (issue 23, item 7).

The resume tests in ``test_resume_rng.py`` checkpoint every epoch and never stop early, so what
``fit`` does with ``checkpoint_every``, ``checkpoint=False``, a checkpoint that says "stopped",
early-stopping counters and best weights carried across a crash, and ``restore_best`` went
untested by them (surviving mutants of ``train/loop.py``). Here every epoch's "training" sets a
one-number model to the epoch's index, so which weights end up loaded is read off directly.
"""

from __future__ import annotations

import copy
import io

import pytest
import torch

from dltour.train import fit
from dltour.train.loop import EarlyStopping, Progress


class Ctx:
    """What ``fit`` uses of a run folder, kept in memory: checkpoints are deep copies."""

    label = "fake"
    progress = False

    def __init__(self, checkpoint=None):
        self.saved: list[dict] = []
        self.histories: list[int] = []  # len(history) at each write_history
        self.loads = 0
        self._ck = checkpoint

    def load_checkpoint(self):
        self.loads += 1
        return copy.deepcopy(self._ck)

    def save_checkpoint(self, ck):
        self.saved.append(copy.deepcopy(ck))
        self._ck = copy.deepcopy(ck)

    def write_history(self, history):
        self.histories.append(len(history))


class Crash(RuntimeError):
    pass


def _net():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    return net


def _train_sets_weight_to(net, crash_at=None):
    """train_epoch(e): the weight becomes e + 1 (the epoch's 1-based number); raises at ``crash_at``."""
    def train_epoch(e):
        if e == crash_at:
            raise Crash(e)
        with torch.no_grad():
            net.weight.fill_(e + 1)
        return {"loss": 10.0 - e}
    return train_epoch


def _w(net) -> float:
    return net.weight.detach().item()


class Counter:
    """A stateful object that is not a Module (an optimizer, a scheduler): restore_best leaves it alone."""

    def __init__(self):
        self.n = 0

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, d):
        self.n = d["n"]


def _curve(values):
    return lambda e: {"val_loss": values[e]}


def test_checkpoints_every_k_epochs_and_always_the_last():
    ctx = Ctx()
    res = fit(ctx, {"net": _net()}, 7, lambda e: {"loss": float(e)}, checkpoint_every=3)
    assert [c["epoch"] for c in ctx.saved] == [3, 6, 7]
    assert ctx.histories == [3, 6, 7]  # the history is written with each checkpoint
    assert [len(c["history"]) for c in ctx.saved] == [3, 6, 7]
    assert res.epochs_trained == 7 and res.resumed_from == 0 and not res.stopped_early
    assert res.best_epoch is None  # no early stopping, no best epoch


def test_an_early_stop_is_checkpointed_at_once_and_marked_stopped():
    # val_loss best at epoch 2, then 3 bad epochs: stops after epoch 5, not a multiple of 3
    ctx = Ctx()
    res = fit(ctx, {"net": _net()}, 10, lambda e: {}, _curve([0.5, 0.4, 0.6, 0.6, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1]),
              early_stopping=EarlyStopping(patience=3), checkpoint_every=3)
    assert [c["epoch"] for c in ctx.saved] == [3, 5]
    assert [c["stopped"] for c in ctx.saved] == [False, True]
    assert ctx.saved[-1]["early_stopping"] == {"best": 0.4, "best_epoch": 2, "bad_epochs": 3}
    assert res.stopped_early and res.epochs_trained == 5 and res.best_epoch == 2


def test_without_checkpoints_nothing_is_loaded_or_saved_but_the_history_is_written_every_epoch():
    ctx = Ctx(checkpoint={"never": "read"})
    res = fit(ctx, {"net": _net()}, 4, lambda e: {"loss": float(e)}, checkpoint=False, checkpoint_every=3)
    assert ctx.loads == 0 and ctx.saved == []
    assert ctx.histories == [1, 2, 3, 4]
    assert res.resumed_from == 0 and res.epochs_trained == 4


def test_history_rows_are_numbered_floats_in_epoch_order():
    res = fit(None, {}, 3, lambda e: {"loss": torch.tensor(2.0 * e)}, lambda e: {"val_loss": e + 1})
    assert res.history == [{"epoch": 1.0, "loss": 0.0, "val_loss": 1.0}, {"epoch": 2.0, "loss": 2.0, "val_loss": 2.0},
                           {"epoch": 3.0, "loss": 4.0, "val_loss": 3.0}]
    assert all(type(v) is float for row in res.history for v in row.values())


def test_restore_best_loads_the_best_epochs_weights_and_only_modules_are_copied():
    net, counter = _net(), Counter()
    values = [0.5, 0.2, 0.3, 0.4, 0.9, 0.9]
    train = _train_sets_weight_to(net)

    def train_and_count(e):
        counter.n += 1
        return train(e)

    res = fit(None, {"net": net, "counter": counter}, 6, train_and_count, _curve(values),
              early_stopping=EarlyStopping(patience=10), restore_best=True)
    assert res.epochs_trained == 6 and res.best_epoch == 2
    assert counter.n == 6  # not a Module: not rolled back to epoch 2
    assert _w(net) == 2.0  # epoch 2's weights, not the last epoch's 6
    # without restore_best the last epoch's weights stay
    net2 = _net()
    fit(None, {"net": net2}, 6, _train_sets_weight_to(net2), _curve(values), early_stopping=EarlyStopping(patience=10))
    assert _w(net2) == 6.0


def test_restore_best_keeps_the_first_of_equal_values_only_when_it_improves():
    # improvement needs value < best - min_delta: 0.3 at epoch 3 does not beat 0.3 at epoch 2
    net = _net()
    fit(None, {"net": net}, 4, _train_sets_weight_to(net), _curve([0.5, 0.3, 0.3, 0.6]),
        early_stopping=EarlyStopping(patience=10), restore_best=True)
    assert _w(net) == 2.0


def test_a_resumed_run_restores_counters_best_weights_and_the_stopped_flag():
    values = [0.5, 0.2, 0.3, 0.4, 0.25, 0.9, 0.9, 0.9]
    # uninterrupted: best at epoch 2, bad epochs 3, 4, 5 -> stops after epoch 5 (patience 3)
    ref_net = _net()
    ref = fit(Ctx(), {"net": ref_net}, 8, _train_sets_weight_to(ref_net), _curve(values),
              early_stopping=EarlyStopping(patience=3), restore_best=True)
    assert ref.stopped_early and ref.epochs_trained == 5 and ref.best_epoch == 2 and _w(ref_net) == 2.0

    ctx = Ctx()
    net = _net()
    with pytest.raises(Crash):  # dies in epoch 4 (0-based 3): the checkpoint holds epochs 1-3
        fit(ctx, {"net": net}, 8, _train_sets_weight_to(net, crash_at=3), _curve(values),
            early_stopping=EarlyStopping(patience=3), restore_best=True)
    assert ctx.saved[-1]["epoch"] == 3 and ctx.saved[-1]["early_stopping"]["bad_epochs"] == 1
    assert float(ctx.saved[-1]["best_weights"]["net"]["weight"]) == 2.0

    net = _net()  # a fresh process: new objects, the checkpoint loaded by fit
    es = EarlyStopping(patience=3)
    res = fit(ctx, {"net": net}, 8, _train_sets_weight_to(net), _curve(values), early_stopping=es, restore_best=True)
    assert res.resumed_from == 3
    assert res.history == ref.history and res.epochs_trained == 5  # the whole history, not only this call's
    assert res.stopped_early and res.best_epoch == 2 and es.bad_epochs == 3
    assert _w(net) == 2.0  # the best weights came from the checkpoint (epoch 2 ran before the crash)

    # called again after it stopped: nothing more is trained, the stopped flag is kept
    net = _net()
    calls = []
    again = fit(ctx, {"net": net}, 8, lambda e: calls.append(e) or {}, _curve(values),
                early_stopping=EarlyStopping(patience=3), restore_best=True)
    assert calls == [] and again.stopped_early and again.resumed_from == 5 and again.epochs_trained == 5
    assert _w(net) == 2.0


def test_a_finished_run_called_with_more_epochs_continues_from_its_last_epoch():
    ctx = Ctx()
    net = _net()
    fit(ctx, {"net": net}, 2, _train_sets_weight_to(net))
    seen = []
    net = _net()
    res = fit(ctx, {"net": net}, 4, lambda e: seen.append(e) or {"loss": 10.0 - e})
    assert _w(net) == 2.0 and seen == [2, 3]  # loaded epoch 2's weights, then trained epochs 3 and 4
    assert res.resumed_from == 2 and [r["epoch"] for r in res.history] == [1.0, 2.0, 3.0, 4.0]


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_tracks_epochs_on_a_terminal_and_stays_silent_otherwise(monkeypatch):
    monkeypatch.setattr("sys.stderr", _Tty())
    p = Progress(5, "vgg16-random", enabled=True)
    task = p.bar.tasks[0]
    assert task.total == 5 and task.description == "vgg16-random" and task.completed == 0
    p.advance_to(2)
    assert task.completed == 2
    p.update(3, {"epoch": 3, "loss": 0.123456, "val_acc": 41.5})
    assert task.completed == 3 and task.fields["info"] == "loss=0.1235 val_acc=41.5"
    p.update(4, {"epoch": 4, **{f"metric_{i}": 1.0 for i in range(10)}})
    assert len(task.fields["info"]) == 60  # cut to fit the line
    p.close()
    assert not p.bar.live.is_started
    assert Progress(5, "x", enabled=False).bar is None  # asked not to show
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert Progress(5, "x", enabled=True).bar is None  # not a terminal (a log file, CI)


def test_best_weights_in_a_checkpoint_are_not_restored_when_restore_best_is_off():
    values = [0.5, 0.2, 0.3, 0.4, 0.9, 0.9]
    ctx = Ctx()
    net = _net()
    with pytest.raises(Crash):
        fit(ctx, {"net": net}, 6, _train_sets_weight_to(net, crash_at=3), _curve(values),
            early_stopping=EarlyStopping(patience=10), restore_best=True)
    assert ctx.saved[-1]["best_weights"] is not None
    net = _net()
    fit(ctx, {"net": net}, 6, _train_sets_weight_to(net), _curve(values), early_stopping=EarlyStopping(patience=10))
    assert _w(net) == 6.0  # the last epoch's


def test_a_resumed_runs_progress_bar_starts_at_the_checkpointed_epoch(monkeypatch):
    seen = []

    class Spy(Progress):
        def __init__(self, total, desc, enabled):
            super().__init__(total, desc, enabled=False)
            seen.append(("init", total, desc, enabled))

        def advance_to(self, n):
            seen.append(("advance_to", n))

        def update(self, n, row):
            seen.append(("update", n))

    monkeypatch.setattr("dltour.train.loop.Progress", Spy)
    ctx = Ctx()
    ctx.progress = True
    fit(ctx, {"net": _net()}, 2, lambda e: {})
    seen.clear()
    fit(ctx, {"net": _net()}, 4, lambda e: {}, desc="vgg16-random seed 0")
    assert seen == [("init", 4, "vgg16-random seed 0", True), ("advance_to", 2), ("update", 3), ("update", 4)]
