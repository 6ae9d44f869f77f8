"""dltour check (src/dltour/check.py): argument parsing, the deadline, timeouts, the report writer (no full run)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


import dltour.check as gc  # noqa: E402


class FakeClock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


# ---------------------------------------------------------------------------------- arguments
def test_parse_args_defaults(tmp_path):
    a = gc.parse_args([str(tmp_path)])
    assert a.out == tmp_path and a.device == "cuda" and a.precision == "auto"
    assert a.budget == 480 and a.steps == list(gc.STEPS) and not a.keep_tmp and a.worker is None
    assert isinstance(a.data, Path)


def test_parse_args_cpu_and_options(tmp_path):
    a = gc.parse_args([str(tmp_path), "--device", "cpu", "--precision", "fp32", "--data", str(tmp_path),
                       "--steps", "env, vgg", "--budget", "60"])
    assert (a.device, a.precision, a.data, a.steps, a.budget) == ("cpu", "fp32", tmp_path, ["env", "vgg"], 60)
    assert gc.parse_args([str(tmp_path), "--device", "cpu"]).budget == gc.DEFAULT_BUDGET["cpu"]


@pytest.mark.parametrize("bad", [["--device", "mps"], ["--precision", "fp16"], ["--steps", "env,train"], []])
def test_parse_args_rejects(tmp_path, bad, capsys):
    argv = [str(tmp_path), *bad] if bad else []
    with pytest.raises(SystemExit) as e:
        gc.parse_args(argv)
    assert e.value.code == 2


def test_default_data_dir_falls_back_to_env(monkeypatch, tmp_path):
    monkeypatch.setattr(gc, "ROOT", tmp_path / "repo")  # no shared/data next to it
    assert gc.default_data_dir({"DLTOUR_DATA": str(tmp_path / "d")}) == tmp_path / "d"
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert gc.default_data_dir({"DLTOUR_DATA": str(tmp_path / "d")}) == tmp_path / "shared" / "data"


def test_dltour_command_resolution(tmp_path):
    assert gc.dltour_command({"DLTOUR": "/x/bin/dltour --flag", "PATH": ""}) == ["/x/bin/dltour", "--flag"]
    assert gc.dltour_command({"PATH": str(tmp_path)}) == [sys.executable, "-m", "dltour.cli"]
    exe = tmp_path / "dltour"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert gc.dltour_command({"PATH": str(tmp_path)}) == [str(exe)]


def test_shell_wrapper_usage():
    p = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "usage" in p.stderr


# ---------------------------------------------------------------------------------- deadline
def test_deadline():
    clock = FakeClock(100.0)
    d = gc.Deadline(60, clock)
    assert d.timeout(90) == 60 and d.timeout(10) == 10
    clock.t = 150.0
    assert d.elapsed() == 50 and d.remaining() == 10 and d.timeout(90) == 10
    clock.t = 100.0 + 60 - gc.MIN_START_S + 0.1
    assert d.timeout(90) is None


def _check(tmp_path, device="cuda", budget=480.0, data=None, clock=None):
    a = gc.parse_args([str(tmp_path / "out"), "--device", device, "--budget", str(budget),
                       "--data", str(data or tmp_path / "nodata")])
    return gc.Check(a, clock or FakeClock())


def test_exhausted_budget_skips_without_running(tmp_path, monkeypatch):
    clock = FakeClock()
    chk = _check(tmp_path, clock=clock, data=tmp_path)
    (tmp_path / "airline").mkdir()
    (tmp_path / "airline" / "Airline.csv").write_text("Date,Passengers\n")
    chk.studies = ["airline-lstm", "mnist-autoencoder"]
    monkeypatch.setattr(gc, "run_cmd", lambda *a, **k: pytest.fail("nothing may run after the deadline"))
    clock.t = 1000.0
    chk.step_env()
    chk.step_smoke()
    chk.step_bench()
    chk.step_vgg()
    chk.step_full()
    assert chk.r["env"]["status"] == gc.SKIP_BUDGET
    assert [x["status"] for x in chk.r["smoke"]] == [gc.SKIP_BUDGET] * 2
    assert [x["status"] for x in chk.r["bench"]] == [gc.SKIP_BUDGET] * 2
    assert len(chk.r["vgg"]) == 8 and {x["status"] for x in chk.r["vgg"]} == {gc.SKIP_BUDGET}
    assert [x["status"] for x in chk.r["full"]] == [gc.SKIP_BUDGET, gc.SKIP_DATA]
    assert gc.count_failures(chk.r) == 0
    md = (tmp_path / "out" / "gpu_check.md").read_text()
    assert gc.SKIP_BUDGET in md


def test_full_sets_and_cpu_caps(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    for f in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (tmp_path / "mnist" / f).write_bytes(b"")
    seen = []

    def fake_run(cmd, timeout, log=None):
        seen.append((cmd, timeout))
        out = Path(cmd[cmd.index("--out") + 1]) / cmd[cmd.index("run") + 1]
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps({
            "headline_metrics": ["test_mse"], "variant_order": ["depth1"], "comparable": False, "seconds": 1.0,
            "metrics": {"depth1": {"test_mse": {"mean": 0.01, "n": 1}}}}))
        return {"rc": 0, "seconds": 1.5, "stdout": "", "stderr": "", "timed_out": False}

    monkeypatch.setattr(gc, "run_cmd", fake_run)
    chk = _check(tmp_path, device="cpu", data=tmp_path)
    chk.r["meta"]["precision_flag"] = True
    chk.step_full()
    air, mn = chk.r["full"]
    assert air["status"] == gc.SKIP_DATA and mn["status"] == gc.OK
    assert mn["sets"][:2] == ["seeds=1", f"data.path={tmp_path / 'mnist'}"] and "epochs=1" in mn["sets"]
    assert "epochs=1" in mn["capped"] and mn["headline"] == {"test_mse": {"depth1": 0.01}}
    (cmd, timeout), = seen
    assert cmd[-2:] == ["--precision", "auto"] and "--profile" in cmd and timeout == gc.TIMEOUTS["full"][1]


def test_precision_passed_only_when_supported(tmp_path):
    chk = _check(tmp_path)
    chk.a.precision = "bf16"
    chk.r["meta"]["precision_flag"] = False
    assert chk.prec_args() == []
    chk.r["meta"]["precision_flag"] = True
    assert chk.prec_args() == ["--precision", "bf16"]


# ---------------------------------------------------------------------------------- commands
def test_run_cmd_timeout_kills_the_group(tmp_path):
    t0 = time.perf_counter()
    res = gc.run_cmd(["sh", "-c", "sleep 30 & sleep 30"], 0.5, tmp_path / "log.txt")
    assert res["timed_out"] and res["rc"] is None and time.perf_counter() - t0 < 10
    assert gc.status_of(res).startswith("timeout") and gc.failed(gc.status_of(res))
    assert "timed_out=True" in (tmp_path / "log.txt").read_text()


def test_run_cmd_status_and_error_line():
    res = gc.run_cmd([sys.executable, "-c", "import sys; print('x'); sys.stderr.write('noise\\n"
                      "dltour: error: unknown study\\n'); sys.exit(2)"], 20)
    assert res["rc"] == 2 and gc.status_of(res) == "FAIL (rc 2)"
    assert gc.last_error(res) == "dltour: error: unknown study"


def test_parse_json_output():
    assert gc.parse_json_output('warning: x\n{"ratio": 0.5}\n') == {"ratio": 0.5}
    with pytest.raises(ValueError):
        gc.parse_json_output("no json here")


# ---------------------------------------------------------------------------------- report
def _fake_result():
    return {
        "meta": {"device": "cuda", "device_label": "cuda (NVIDIA H100 80GB HBM3)", "precision": "auto",
                 "budget_s": 480.0, "data": "/d", "dltour": "dltour", "started": "2026-01-01T00:00:00",
                 "elapsed_s": 300.0, "precision_flag": False,
                 "vgg_plan": {"warmup": 3, "iters": 10, "iters_b1": 10}},
        "env": {"status": "ok", "seconds": 2.0, "info": {"gpu": "NVIDIA H100 80GB HBM3", "torch": "2.11.0",
                                                          "cuda_build": "12.8", "nproc": 16, "cpu_model": "Xeon"}},
        "smoke": [{"study": "airline-lstm", "status": "ok", "seconds": 5.0},
                  {"study": "colourise", "status": "timeout after 90 s", "seconds": 90.0}],
        "bench": [{"study": "airline-lstm", "status": "ok", "seconds": 4.0,
                   "results": [gc.bench_fields({"variant": "w15", "ratio": 0.95, "end_to_end_samples_per_s": 9e4,
                                                "compute_only_samples_per_s": 9.5e4, "batch_size": 96,
                                                "device": "cuda (H100)", "dtype": "bfloat16 autocast"})]},
                  {"study": "cartpole-td", "status": "FAIL (bench raises, rc 2)", "seconds": 1.0,
                   "error": "dltour: error: a | b"}],
        "vgg": [{"arch": "vgg16", "size": 64, "precision": "bf16", "status": "ok", "us_per_image_batched": 14.2,
                 "images_per_s_batched": 70422.5, "latency_b1_us": 900.0, "batch_size": 256,
                 "dtype": "bfloat16 autocast", "memory_format": "channels_last", "seconds": 3.0},
                {"arch": "vgg19", "size": 224, "precision": "fp32", "status": gc.SKIP_BUDGET}],
        "full": [{"study": "airline-lstm", "status": "ok", "seconds": 40.0, "capped": "", "sets": ["seeds=1"],
                  "headline": {"test_rmse": {f"w{i}": 20.0 + i for i in range(1, 25)}}},
                 {"study": "mnist-autoencoder", "status": gc.SKIP_DATA, "seconds": 0.0, "sets": ["seeds=1"]}],
    }


def test_render_markdown():
    r = _fake_result()
    r["meta"]["failed"] = gc.count_failures(r)
    assert r["meta"]["failed"] == 2  # the smoke timeout and the bench failure; skips are not failures
    md = gc.render_markdown(r)
    for h in ("## 1. Environment (cuda (NVIDIA H100 80GB HBM3))", "## 2. `dltour run NAME --profile smoke` on cuda",
              "## 3. `dltour bench NAME --json` (profile demo) on cuda", "## 4. VGG inference, µs per image, on cuda",
              "## 5. `full` profile, one seed, real data, on cuda"):
        assert h in md
    assert "**2 failed item(s)**" in md and "no `--precision` flag" in md
    assert "| airline-lstm | ok | w15 | 0.95 | yes |" in md and "(absent)" in md
    assert "a \\| b" in md  # a pipe inside a cell does not break the table
    assert "| vgg16 | 64 | bf16 | ok | 14.2 |" in md and "channels_last" in md
    assert "… 16 more in gpu_check.json" in md and gc.SKIP_DATA in md
    width = None  # every table row has as many cells as its header
    for line in md.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        n = len(re.split(r"(?<!\\)\|", line))
        width = width or n
        assert n == width, line


def test_headline_of():
    s = {"headline_metrics": ["a", "missing"], "variant_order": ["v2", "v1"], "comparable": True, "seconds": 3,
         "metrics": {"v1": {"a": {"mean": 1.0}}, "v2": {"a": {"mean": 2.0}}, "base": {"a": {"mean": 3.0}}}}
    h = gc.headline_of(s)
    assert list(h["headline"]["a"]) == ["v2", "v1", "base"] and h["comparable"] is True


def test_bad_arguments_give_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        gc.parse_args(["out", "--steps", "nope"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1
    assert "unknown step(s) nope" in err and "dltour check --help" in err
