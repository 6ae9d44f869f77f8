"""A worker *node* lost mid-run (issue 21 item 5), on two local raylets (Ray's own
``ray.cluster_utils.Cluster``, the tool Ray tests itself with): the run that was on the lost node is
retried on the other one, resumes from its checkpoint, and ends with the metrics of a run never
interrupted; its ``nodes.json`` and the ledger name both nodes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from dltour.config import resolve_config
from dltour.runner.executors import get_executor, LocalExecutor
from dltour.runner.ledger import Ledger
from dltour.registry import get_study
from dltour.runner.driver import run_study

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'dltour[ray]')")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one worker for every Ray test (test_ray.py)

STUDY = get_study("airline-lstm")


def _metrics(out: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "runs" / "airline-lstm").glob("*/metrics.json")}


def test_a_lost_worker_node_is_retried_on_the_other_and_resumes(tmp_path, monkeypatch):
    from ray.cluster_utils import Cluster

    # long enough to lose the node between its first checkpoint (epoch 250 of 1,000) and the end; full-batch
    # epochs of a few ms (the smoke default, batch 1, makes each epoch 84 steps and the test twice as long)
    cfg = resolve_config(STUDY, "smoke", {"epochs": 1000, "windows": [12, 13], "batch_size": 96})
    run_study(STUDY, cfg, "smoke", tmp_path / "straight", LocalExecutor(threads=1), "cpu", progress=False,
              log=lambda s: None)
    # notice the lost node in ~1.5 s instead of Ray's default ~30 s (its GCS health check settings)
    for k, v in {"RAY_health_check_initial_delay_ms": "0", "RAY_health_check_period_ms": "500",
                 "RAY_health_check_timeout_ms": "500", "RAY_health_check_failure_threshold": "3"}.items():
        monkeypatch.setenv(k, v)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    killed: dict = {}

    def kill_when_checkpointed():
        runs = tmp_path / "killed" / "runs" / "airline-lstm"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            for d in runs.glob("*") if runs.exists() else []:
                try:
                    nodes = json.loads((d / "nodes.json").read_text())
                except (OSError, ValueError):
                    continue
                if nodes and nodes[-1].get("node_id") == doomed.node_id and (d / "checkpoint.pt").exists():
                    cluster.remove_node(doomed, allow_graceful=False)
                    killed["run"] = d.name
                    return
            time.sleep(0.05)

    try:
        ray.init(address=cluster.address, include_dashboard=False, configure_logging=False, log_to_driver=False)
        t = threading.Thread(target=kill_when_checkpointed, daemon=True)
        t.start()
        run_study(STUDY, cfg, "smoke", tmp_path / "killed", get_executor("ray", max_retries=2), "cpu",
                  progress=False, log=lambda s: None)
        t.join(timeout=5)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert killed, "the node was never caught mid-run (the run finished before its first checkpoint was seen)"
    assert _metrics(tmp_path / "killed") == _metrics(tmp_path / "straight")  # resumed exactly
    nodes = json.loads((tmp_path / "killed" / "runs" / "airline-lstm" / killed["run"] / "nodes.json").read_text())
    assert len(nodes) == 2 and nodes[0]["node_id"] == doomed.node_id and nodes[1]["node_id"] != doomed.node_id
    row = {r["run_id"]: r for r in Ledger(tmp_path / "killed" / "ledger.sqlite").rows()}[killed["run"]]
    assert row["status"] == "finished" and row["attempts"] == 2
