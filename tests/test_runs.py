"""Run ids, reuse, resume after a crash, determinism and the ledger under concurrency."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dltour.config import resolve_config
from dltour.runner.ledger import Ledger
from dltour.registry import get_study
from dltour.runner.executors import ProcessExecutor
from dltour.fileio import atomic_write_json
from dltour.runner.driver import aggregate, run_study
from dltour.runner.execute import execute_run
from dltour.runner.plan import run_id_for, RunPlan

STUDY = get_study("airline-lstm")


def smoke_cfg(**over):
    return resolve_config(STUDY, "smoke", over)


def test_run_id_stable_and_sensitive():
    a = run_id_for(STUDY, smoke_cfg(), "w1", 0)
    assert a == run_id_for(STUDY, smoke_cfg(), "w1", 0)
    assert a != run_id_for(STUDY, smoke_cfg(), "w1", 1)
    assert a != run_id_for(STUDY, smoke_cfg(), "w12", 0)
    assert a != run_id_for(STUDY, smoke_cfg(epochs=3), "w1", 0)
    # the number of seeds and the list of windows swept do not change what one cell computes
    assert a == run_id_for(STUDY, smoke_cfg(seeds=5, windows=[1, 2, 3]), "w1", 0)


def test_aggregate_matches_student_t():
    s = aggregate([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["n"] == 3 and s["std"] == pytest.approx(1.0)
    # t_{0.975, 2} = 4.302653 (tables); half-width = t * sd / sqrt(n)
    assert s["ci95"] == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-6)
    # one seed has no spread: no std, no CI (not a std of 0.0)
    assert aggregate([5.0]) == {"mean": 5.0, "std": None, "ci95": None, "n": 1, "nan": 0}
    assert aggregate([])["n"] == 0
    # NaN runs are excluded from the statistics and counted, never dropped silently
    s = aggregate([1.0, float("nan"), 3.0])
    assert s["mean"] == 2.0 and s["n"] == 2 and s["nan"] == 1


def test_atomic_write_leaves_no_temp(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_reuse_and_summary_contract(tmp_path):
    msgs = []
    cfg = smoke_cfg()
    doc = run_study(STUDY, cfg, "smoke", tmp_path, progress=False, log=msgs.append)
    assert "2 run(s) computed, 0 reused" in msgs[0]
    doc2 = run_study(STUDY, cfg, "smoke", tmp_path, progress=False, log=msgs.append)
    assert "0 run(s) computed, 2 reused" in msgs[1]
    assert doc["metrics"] == doc2["metrics"]
    on_disk = json.loads((tmp_path / "airline-lstm" / "summary.json").read_text())
    for key in ("study", "task", "profile", "metrics", "reference", "findings", "figures"):
        assert key in on_disk
    assert on_disk["task"] == "T2.1"
    assert set(on_disk["metrics"]["w1"]["test_rmse"]) == {"mean", "std", "ci95", "n", "nan"}
    assert all({"id", "claim", "verdict", "evidence", "test", "source", "ref"} <= set(f) for f in on_disk["findings"])
    assert set(on_disk["comparison"]) == {"data", "budget", "why", "about", "about_why"} and on_disk["nan_runs"] == []
    assert all((tmp_path / "airline-lstm" / f).is_file() for f in on_disk["figures"])
    rows = Ledger(tmp_path / "ledger.sqlite").rows("airline-lstm")
    assert len(rows) == 2 and {r["status"] for r in rows} == {"finished"}
    assert all(r["device"] == "cpu" and r["versions"]["torch"] for r in rows)
    run_dir = tmp_path / "runs" / "airline-lstm" / rows[0]["run_id"]
    assert {"config.json", "metrics.json", "history.csv", "checkpoint.pt"} <= {p.name for p in run_dir.iterdir()}


def test_same_seed_bit_identical(tmp_path):
    cfg = smoke_cfg(epochs=3).model_dump()
    plan_a = RunPlan("airline-lstm", cfg, "smoke", str(tmp_path / "a"), "cpu", progress=False)
    plan_b = RunPlan("airline-lstm", cfg, "smoke", str(tmp_path / "b"), "cpu", progress=False)
    a = execute_run(plan_a, "w12", 0)
    b = execute_run(plan_b, "w12", 0)
    assert not a.reused and not b.reused
    assert a.metrics == b.metrics  # bit-identical floats, not approximately equal
    c = execute_run(plan_a, "w12", 1)
    assert c.metrics["test_mse"] != a.metrics["test_mse"]  # a different seed does give a different result


def _cli(*args, out):
    return [sys.executable, "-m", "dltour.cli", "run", "airline-lstm", "--profile", "smoke", "--out", str(out), *args]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_resume_after_kill_gives_same_metrics(tmp_path, sig):
    # 1,000 full-batch epochs of a few ms (batch 1, the smoke default, made each epoch 84 steps and the
    # test 70 s): checkpoints every 250 epochs, so the run outlives the first one by seconds
    args = ["--set", "epochs=1000", "--set", "windows=[12]", "--set", "batch_size=96"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # SIGINT's default action back in the child: a parent (a CI shell, pytest after a process pool) may
    # have it ignored, and an ignored SIGINT is inherited, so Python would never raise KeyboardInterrupt
    proc = subprocess.Popen(_cli(*args, out=tmp_path / "killed"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    run_root = tmp_path / "killed" / "runs" / "airline-lstm"
    deadline = time.time() + 300  # generous: a loaded machine imports torch slowly
    while time.time() < deadline and not list(run_root.glob("*/checkpoint.pt")):
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    ck = list(run_root.glob("*/checkpoint.pt"))
    assert ck, "no checkpoint was written before the signal"
    assert not list(run_root.glob("*/metrics.json")), "the run finished before it could be interrupted"
    import torch

    done_epochs = torch.load(ck[0], weights_only=True)["epoch"]
    assert 0 < done_epochs < 1000
    status = Ledger(tmp_path / "killed" / "ledger.sqlite").rows()[0]["status"]
    assert status == ("interrupted" if sig == signal.SIGINT else "stale")  # its killed owner is gone
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "resume" in proc.stderr.read().decode()
    resumed = subprocess.run(_cli(*args, out=tmp_path / "killed"), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(_cli(*args, out=tmp_path / "straight"), env=env, capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr
    m1 = json.loads(next(run_root.glob("*/metrics.json")).read_text())
    m2 = json.loads(next((tmp_path / "straight" / "runs" / "airline-lstm").glob("*/metrics.json")).read_text())
    assert m1 == m2
    row = Ledger(tmp_path / "killed" / "ledger.sqlite").rows()[0]
    assert row["status"] == "finished" and row["attempts"] == 2


def test_two_processes_same_out(tmp_path):
    """Two `dltour run` at once on one --out: both succeed, each run computed once, ledger intact."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = ["--set", "windows=[1,3,6,12]", "--set", "epochs=3"]
    procs = [subprocess.Popen(_cli(*args, out=tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    con = sqlite3.connect(tmp_path / "ledger.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = con.execute("SELECT status, attempts FROM runs").fetchall()
    assert len(rows) == 4 and all(r == ("finished", 1) for r in rows)
    computed = sum(int(o[1].split("run(s) computed")[0].split()[-1]) for o in outs)
    assert computed == 4  # the file lock made the second process reuse, not recompute


def test_process_executor_matches_local(tmp_path):
    cfg = smoke_cfg(epochs=2)
    local = run_study(STUDY, cfg, "smoke", tmp_path / "local", progress=False, log=lambda s: None)
    pool = run_study(STUDY, cfg, "smoke", tmp_path / "pool", executor=ProcessExecutor(2), progress=False,
                     log=lambda s: None)
    for v in ("w1", "w12"):
        assert pool["metrics"][v]["test_rmse"]["mean"] == pytest.approx(local["metrics"][v]["test_rmse"]["mean"], rel=1e-4)
    assert len(Ledger(tmp_path / "pool" / "ledger.sqlite").rows()) == 2


def test_opening_a_fresh_ledger_waits_for_a_writer(tmp_path):
    """Pool workers of the first study open a ledger nobody has created yet. While one holds a
    write lock on the new (not yet WAL) database, SQLite fails another's switch to WAL at once with
    'database is locked', ignoring the busy timeout (seen in a demo run); the ledger must wait."""
    import sqlite3
    import threading
    import time

    path = tmp_path / "ledger.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE IF NOT EXISTS other(i)")
    threading.Timer(0.5, lambda: holder.execute("COMMIT")).start()
    t0 = time.perf_counter()
    led = Ledger(path)
    assert time.perf_counter() - t0 >= 0.4  # it waited for the writer instead of failing
    led.start("r", "s", "v", 0, "smoke", "cpu", "fp32", {})
    assert [r["status"] for r in led.rows()] == ["running"]
    holder.close()
