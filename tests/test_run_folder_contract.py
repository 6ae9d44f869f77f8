"""The run folder's helpers against known answers, without running a study (issue 23, item 7).

``test_metrics_provenance.py`` checks provenance through real runs; these pin each helper of
``runner/run_folder.py`` directly: the metrics a folder gives back and every way it refuses them
(with the message a user reads), the attempt counter, checkpoints as plain types, and what a
``RunContext`` writes where.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from dltour.device import resolve_device
from dltour.runner import run_folder as rf
from dltour.runner.run_folder import ForeignMetrics, RunContext

EXPECT = {"run_id": "abc123", "key_digest": "d1"}


def test_a_run_lives_under_out_runs_study_id(tmp_path):
    assert rf.run_dir_for(tmp_path, "airline-lstm", "abc123") == tmp_path / "runs" / "airline-lstm" / "abc123"
    assert rf.run_dir_for(str(tmp_path), "s", "i") == tmp_path / "runs" / "s" / "i"


def test_metrics_come_back_without_their_provenance(tmp_path):
    assert rf.read_metrics(tmp_path, EXPECT) is None  # not finished
    rf.write_metrics(tmp_path, {"rmse": 21.5, "mae": 3.0}, EXPECT)
    assert json.loads((tmp_path / "metrics.json").read_text())[rf.PROVENANCE] == EXPECT
    assert rf.read_metrics(tmp_path, EXPECT) == {"rmse": 21.5, "mae": 3.0}
    assert rf.read_metrics(tmp_path) == {"rmse": 21.5, "mae": 3.0}  # no expectation: whatever it holds


@pytest.mark.parametrize("prov, got", [({"run_id": "zzz999", "key_digest": "d1"}, "zzz999"),
                                       ({"run_id": "abc123", "key_digest": "other"}, "abc123"),
                                       ({"run_id": "abc123"}, "abc123"),
                                       ("abc123", "abc123")])
def test_metrics_of_another_run_or_configuration_are_refused_naming_both_runs(tmp_path, prov, got):
    (tmp_path / "metrics.json").write_text(json.dumps({"rmse": 1.0, rf.PROVENANCE: prov}))
    msg = (f"{tmp_path / 'metrics.json'} holds the metrics of run {got}, not of run abc123 (run id or config "
           f"digest differ): move the folder away to recompute the run")
    with pytest.raises(ForeignMetrics, match=f"^{re.escape(msg)}$"):
        rf.read_metrics(tmp_path, EXPECT)


def test_metrics_without_provenance_are_reused_only_when_the_folder_vouches_for_them(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"rmse": 1.0}))
    msg = (f"{tmp_path / 'metrics.json'} carries no run id or config digest and its folder's config.json does "
           f"not describe run abc123: move the folder away to recompute the run")
    for legacy_ok in (None, lambda d: False):
        with pytest.raises(ForeignMetrics, match=f"^{re.escape(msg)}$"):
            rf.read_metrics(tmp_path, EXPECT, legacy_ok=legacy_ok)
    asked = []
    assert rf.read_metrics(tmp_path, EXPECT, legacy_ok=lambda d: asked.append(d) or True) == {"rmse": 1.0}
    assert asked == [tmp_path]


def test_a_metrics_file_that_is_not_an_object_is_refused(tmp_path):
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(ForeignMetrics, match=r"metrics.json is not a run's metrics \(not a JSON object\)$"):
        rf.read_metrics(tmp_path)


def test_attempts_count_up_in_the_folder(tmp_path):
    assert [rf.count_attempt(tmp_path) for _ in range(3)] == [1, 2, 3]
    assert (tmp_path / "attempts").read_text() == "3"


def test_to_plain_turns_numpy_into_tensors_and_numbers_and_keeps_container_kinds():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = rf.to_plain({"a": a, "n": np.int64(7), "x": np.float32(0.5), "t": (np.int32(1), [a, "s"]), "k": None})
    assert isinstance(out["a"], torch.Tensor) and torch.equal(out["a"], torch.arange(6.0).reshape(2, 3))
    a[0, 0] = 99  # a copy, not a view of the caller's array
    assert out["a"][0, 0] == 0
    assert type(out["n"]) is int and out["n"] == 7 and type(out["x"]) is float and out["x"] == 0.5
    assert isinstance(out["t"], tuple) and out["t"][0] == 1 and type(out["t"][0]) is int
    assert isinstance(out["t"][1], list) and isinstance(out["t"][1][0], torch.Tensor) and out["t"][1][1] == "s"
    assert out["k"] is None


def test_checkpoints_round_trip_as_plain_types_and_a_missing_one_is_none(tmp_path):
    path = tmp_path / "checkpoint.pt"
    assert rf.load_checkpoint(path) is None
    rf.save_checkpoint(path, {"epoch": np.int64(3), "w": np.ones(2), "rng": (1, [2, 3])})
    ck = rf.load_checkpoint(path)
    assert ck["epoch"] == 3 and torch.equal(ck["w"], torch.ones(2, dtype=torch.float64)) and ck["rng"] == (1, [2, 3])


def test_a_run_context_writes_its_files_in_its_folder(tmp_path):
    ctx = RunContext("airline-lstm", "w12", 4, tmp_path, resolve_device("cpu"), "smoke", progress=False)
    assert ctx.label == "airline-lstm/w12/seed4"
    assert ctx.checkpoint_path == tmp_path / "checkpoint.pt"
    assert ctx.load_checkpoint() is None
    ctx.save_checkpoint({"epoch": 1, "w": torch.zeros(1)})
    assert ctx.load_checkpoint()["epoch"] == 1 and (tmp_path / "checkpoint.pt").exists()
    ctx.write_history([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}])
    assert rf.read_history(tmp_path) == [{"epoch": 1.0, "loss": 0.5}, {"epoch": 2.0, "loss": 0.25}]
    ctx.save_arrays(pred=[1.0, 2.0], y=np.zeros(2))
    with np.load(tmp_path / "arrays.npz") as z:
        assert sorted(z.files) == ["pred", "y"] and z["pred"].tolist() == [1.0, 2.0]
    ctx.save_arrays("extra", a=[1])
    assert (tmp_path / "extra.npz").exists()
    ctx.save_json("forecast", {"rmse": 2.5})
    assert json.loads((tmp_path / "forecast.json").read_text()) == {"rmse": 2.5}


def test_the_kill_point_for_retry_tests_does_nothing_unless_asked_once_at_its_epoch(tmp_path, monkeypatch):
    monkeypatch.delenv("DLTOUR_TEST_KILL_AT_EPOCH", raising=False)
    rf._test_kill_point(tmp_path, {"epoch": 2})
    monkeypatch.setenv("DLTOUR_TEST_KILL_AT_EPOCH", "3")
    rf._test_kill_point(tmp_path, {"epoch": 2})  # another epoch
    (tmp_path / ".test-killed").write_text("killed once")
    rf._test_kill_point(tmp_path, {"epoch": 3})  # already killed once in this folder
    assert (tmp_path / ".test-killed").read_text() == "killed once"
