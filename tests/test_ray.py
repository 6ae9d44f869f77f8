"""The Ray executor on a real local Ray instance (``ray.init(num_cpus=2)``), not a mock: the same
metrics as the local executor, a worker killed mid-run retried and resumed from its checkpoint,
two studies through one ``reproduce``, and the errors a user meets."""

import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dltour import DltourError
from dltour.config import resolve_config
from dltour.runner.executors import get_executor, LocalExecutor
from dltour.runner.ledger import Ledger
from dltour.registry import get_study
from dltour.runner.driver import run_study
from dltour.runner.execute import execute_run
from dltour.runner.plan import RunPlan

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'dltour[ray]')")
#: under pytest-xdist every Ray test runs on one worker, one after the other (two local Ray
#: instances at once would compete for the two cores and their ports)
pytestmark = pytest.mark.xdist_group("ray")

STUDY = get_study("airline-lstm")


def _init(**env):
    os.environ.update(env)  # Ray's workers inherit the environment ray.init sees
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)


@pytest.fixture
def local_ray():
    _init()
    yield
    ray.shutdown()


def _metrics(out: Path, study: str = "airline-lstm") -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "runs" / study).glob("*/metrics.json")}


def test_ray_matches_local_executor(tmp_path, local_ray):
    cfg = resolve_config(STUDY, "smoke", {"epochs": 3})
    local = run_study(STUDY, cfg, "smoke", tmp_path / "local", LocalExecutor(threads=1), "cpu", progress=False,
                      log=lambda s: None)
    remote = run_study(STUDY, cfg, "smoke", tmp_path / "ray", get_executor("ray"), "cpu", progress=False,
                       log=lambda s: None)
    assert _metrics(tmp_path / "ray") == _metrics(tmp_path / "local")  # bit-identical floats, same run ids
    assert remote["metrics"] == local["metrics"]
    rows = Ledger(tmp_path / "ray" / "ledger.sqlite").rows()
    assert len(rows) == 2 and all(r["status"] == "finished" and r["attempts"] == 1 for r in rows)
    assert {r["precision"] for r in rows} == {"fp32"} and {r["device"] for r in rows} == {"cpu"}
    assert not list((tmp_path / "ray" / ".drivers").iterdir())  # the driver's --out token is gone
    node_id = ray.get_runtime_context().get_node_id()
    for r in rows:  # each attempt's node, in the ledger and in the run folder
        assert [(n["host"], n["node_id"]) for n in r["nodes"]] == [(platform.node(), node_id)]
        run_dir = tmp_path / "ray" / "runs" / "airline-lstm" / r["run_id"]
        assert json.loads((run_dir / "nodes.json").read_text()) == r["nodes"]


def test_reproduce_two_studies_with_ray(tmp_path, local_ray):
    from typer.testing import CliRunner

    from dltour.cli import app

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["reproduce", "--profile", "smoke", "--only", "airline-lstm,cartpole-td",
                                   "--executor", "ray", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = Ledger(out / "ledger.sqlite").rows()
    for study in ("airline-lstm", "cartpole-td"):
        doc = json.loads((out / study / "summary.json").read_text())
        mine = [r for r in rows if r["study"] == study]
        assert doc["runs"] == len(mine) > 0 and all(r["status"] == "finished" for r in mine)
        assert doc["precisions"] == ["fp32"]
        assert set(_metrics(out, study)) == {r["run_id"] for r in mine}
    assert (out / "report" / "report.md").exists() and (out / "report" / "index.html").exists()


def test_killed_worker_is_retried_and_resumes(tmp_path):
    """The run SIGKILLs its own worker after its epoch-10 checkpoint (once); Ray retries the task,
    which resumes from the checkpoint and ends with the metrics of a run never interrupted."""
    cfg = resolve_config(STUDY, "smoke", {"epochs": 40, "windows": [12], "batch_size": 96})  # full-batch epochs
    run_study(STUDY, cfg, "smoke", tmp_path / "straight", LocalExecutor(threads=1), "cpu", progress=False,
              log=lambda s: None)
    _init(DLTOUR_TEST_KILL_AT_EPOCH="10")
    try:
        run_study(STUDY, cfg, "smoke", tmp_path / "killed", get_executor("ray", max_retries=1), "cpu",
                  progress=False, log=lambda s: None)
    finally:
        ray.shutdown()
        os.environ.pop("DLTOUR_TEST_KILL_AT_EPOCH", None)
    run_dir = next((tmp_path / "killed" / "runs" / "airline-lstm").iterdir())
    assert (run_dir / ".test-killed").exists()  # it was killed ...
    assert _metrics(tmp_path / "killed") == _metrics(tmp_path / "straight")  # ... and resumed exactly
    row = Ledger(tmp_path / "killed" / "ledger.sqlite").rows()[0]
    assert row["status"] == "finished" and row["attempts"] == 2


def test_worker_that_cannot_see_out_fails_with_one_line(tmp_path):
    cfg = resolve_config(STUDY, "smoke").model_dump()
    plan = RunPlan("airline-lstm", cfg, "smoke", str(tmp_path), "cpu", progress=False, out_token="not-written")
    with pytest.raises(DltourError, match="cannot see --out .*storage every node"):
        execute_run(plan, "w1", 0)


def test_without_ray_one_line_exit_2(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; sys.argv = ['dltour', 'run', 'cartpole-td', '--profile', "
            f"'smoke', '--executor', 'ray', '--out', {str(tmp_path)!r}]; from dltour.cli import main; main()")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip() == "dltour: error: --executor ray needs Ray: pip install 'dltour[ray]'"
    assert not (tmp_path / "runs").exists()


def test_ray_options_are_checked(tmp_path):
    with pytest.raises(DltourError, match="--max-retries"):
        get_executor("ray", max_retries=-1)
    from typer.testing import CliRunner

    from dltour.cli import app

    res = CliRunner().invoke(app, ["run", "cartpole-td", "--profile", "smoke", "--address", "auto",
                                   "--out", str(tmp_path)])
    assert isinstance(res.exception, DltourError) and "--executor ray" in str(res.exception)


def test_interrupt_cancels_pending_and_keeps_finished(tmp_path, local_ray):
    """A KeyboardInterrupt reaching the driver while it waits: the run that finished stays
    finished in the ledger, the one still running is cancelled and marked interrupted."""
    from dltour.runner.executors import RayExecutor
    from dltour.runner.execute import Recorder
    from dltour.runner.plan import jobs_for

    short = resolve_config(STUDY, "smoke", {"epochs": 2, "windows": [1]})
    long = resolve_config(STUDY, "smoke", {"epochs": 20000, "windows": [12]})
    jobs = [j for c in (short, long)
            for j in jobs_for(STUDY, c, RunPlan(STUDY.name, c.model_dump(), "smoke", str(tmp_path), "cpu",
                                                progress=False))]
    gen = RayExecutor().map_runs(jobs, Recorder(tmp_path))
    first, _ = next(gen)
    assert first.variant == "w1"
    with pytest.raises(KeyboardInterrupt):
        gen.throw(KeyboardInterrupt)
    rows = {r["variant"]: r["status"] for r in Ledger(tmp_path / "ledger.sqlite").rows()}
    assert rows == {"w1": "finished", "w12": "interrupted"}


def test_ctrl_c_on_the_driver(tmp_path):
    """Ctrl-C on `dltour run --executor ray`: exit 130 with the resume hint, no run left 'running'."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "dltour.cli", "run", "airline-lstm", "--profile", "smoke", "--device", "cpu",
            "--executor", "ray", "--set", "windows=[12]", "--set", "epochs=20000", "--out", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    ledger = out / "ledger.sqlite"
    while time.time() < deadline and not list(out.glob("runs/airline-lstm/*/attempts")):
        time.sleep(0.2)  # the worker has started the run
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "resume" in err
    assert [r["status"] for r in Ledger(ledger).rows()] == ["interrupted"]


def test_connection_failure_is_one_line_with_rays_reason(tmp_path, monkeypatch, capfd):
    """No cluster at --address auto: one line with Ray's own reason; Ray's log lines are kept back
    unless DLTOUR_VERBOSE=1."""
    from dltour.runner.executors import RayExecutor

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # "auto" joins any Ray GCS process running on this machine: one that an earlier test's killed driver
    # left for a few seconds (or a parallel test run) would be joined, so none is found here
    import ray._private.services as services

    def no_gcs():
        return []

    no_gcs.cache_clear = lambda: None  # Ray clears the real one's cache
    monkeypatch.setattr(services, "find_gcs_addresses", no_gcs)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    with pytest.raises(DltourError) as err:
        RayExecutor(address="auto").connect(ray)
    msg = str(err.value)
    assert msg.startswith("cannot join the Ray cluster at 'auto': ") and "running Ray instance" in msg
    assert "\n" not in msg and "RAY_AUTH" not in msg
    assert not ray.is_initialized()


def test_auth_failure_names_token_auth():
    from dltour.runner.executors import _ray_reason

    reason = _ray_reason(ConnectionError("Failed to connect to GCS"),
                         "[2026-12-05 03:00:00] gcs_client.cc:99: RPC error: UNAUTHENTICATED: invalid token\n")
    assert "Failed to connect to GCS" in reason and "UNAUTHENTICATED" in reason
    assert "RAY_AUTH_MODE=token" in reason and "RAY_AUTH_TOKEN" in reason and "\n" not in reason
    assert "RAY_AUTH" not in _ray_reason(ConnectionError("Could not find any running Ray instance"), "")
