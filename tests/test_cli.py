"""The real CLI: bad inputs (one line on stderr, exit 2), list/show/describe, report rebuild."""

import json
import os
import subprocess
import sys

import pytest


def dltour(*args, cwd=None, columns="200"):
    return subprocess.run([sys.executable, "-m", "dltour.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": columns})


@pytest.mark.parametrize("args, needle", [
    (["run", "no-such-study"], "unknown study 'no-such-study'"),
    (["run", "airline-lstm", "--set", "epoch=3"], "did you mean epochs"),
    (["run", "airline-lstm", "--set", "epochs=lots"], "invalid value 'lots' for epochs"),
    (["run", "airline-lstm", "--set", "epochs"], "key=value"),
    (["run", "airline-lstm", "--profile", "huge"], "unknown profile 'huge'"),
    (["run", "airline-lstm", "--device", "cuda"], "not available"),
    (["run", "airline-lstm", "--device", "tpu"], "unknown device 'tpu'"),
    (["run", "airline-lstm", "--executor", "dask"], "unknown executor 'dask'"),
    (["run", "airline-lstm", "--precision", "fp16"], "unknown precision 'fp16'"),
    (["run", "airline-lstm", "--seeds", "0"], "invalid value 0 for seeds"),
    (["run", "airline-lstm", "--out", "/proc/dltour-out"], "is not writable"),
    (["show", "airline-lstm", "--set", "windows=[0]"], "do not fit"),
    (["reproduce", "--only", "airline-lstm,nope"], "unknown study 'nope'"),
    (["report", "--out", "/nonexistent/dir"], "does not exist"),
    (["data", "fetch", "no-such-data"], "unknown dataset"),
    (["run", "airline-lstm", "--no-such-flag"], "No such option"),
    (["frobnicate"], "No such command"),
    (["run", "airline-lstm", "--set", "data.path=/nonexistent.csv"], "does not exist"),
    (["run", "imdb-embeddings", "--profile", "smoke", "--set", "data.path=/etc/hostname"], "is not a tar archive"),
])
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path, capsys, monkeypatch):
    """In this process, through ``dltour.cli.main`` (the console script's entry point): a subprocess per
    case cost 3 s of imports each; :func:`test_bad_input_through_the_real_process` keeps three cases as
    real processes (exit status and stderr across the process boundary)."""
    if "--out" not in args and args[0] == "run":
        args = args + ["--out", str(tmp_path)]
    r = dltour_in_process(args, capsys, monkeypatch)
    if args[-2:] == ["--device", "cuda"] or "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def dltour_in_process(args, capsys, monkeypatch, columns="200") -> subprocess.CompletedProcess:
    """``dltour ARGS`` run by the console script's ``main`` in this process: its exit status, stdout and
    stderr, as :func:`dltour` returns them."""
    from dltour.cli import main

    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(sys, "argv", ["dltour", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main()
    out, err = capsys.readouterr()
    code = e.value.code
    return subprocess.CompletedProcess(args, code if isinstance(code, int) else (0 if code is None else 1), out, err)


@pytest.mark.parametrize("args, needle", [
    (["run", "no-such-study"], "unknown study 'no-such-study'"),
    (["run", "airline-lstm", "--set", "epochs=lots"], "invalid value 'lots' for epochs"),
    (["run", "airline-lstm", "--no-such-flag"], "No such option"),
])
def test_bad_input_through_the_real_process(args, needle, tmp_path):
    r = dltour(*args, "--out", str(tmp_path))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_every_command_has_help_with_example():
    for cmd in (["list"], ["show"], ["describe"], ["run"], ["reproduce"], ["report"], ["bench"],
                ["data", "list"], ["data", "fetch"], ["data", "verify"], ["runs"], ["compare"]):
        r = dltour(*cmd, "--help")
        assert r.returncode == 0 and "Example" in r.stdout, cmd


def test_list_show_describe():
    r = dltour("list")
    assert r.returncode == 0 and "airline-lstm" in r.stdout and "T2.1" in r.stdout
    r = dltour("show", "T2.1", "--profile", "full", "--set", "epochs=5")
    assert r.returncode == 0 and "w24" in r.stdout
    lines = r.stdout.splitlines()
    assert any(line.startswith("epochs = 5  (int; default 100)") for line in lines)
    assert any(line.startswith("data.path = null  (str | None) ") and "path" in line for line in lines)
    r = dltour("describe", "airline-lstm", "--profile", "smoke", "--json")
    rows = json.loads(r.stdout)
    # LSTM(1->4): 4*4*(1+4) weights + 2*4*4 biases = 112; Linear(4->1): 5
    assert rows[0]["variant"] == "w1" and rows[0]["total_params"] == 117 == rows[0]["trainable_params"]


def test_data_list_and_verify():
    r = dltour("data", "list")
    assert r.returncode == 0 and "airline" in r.stdout and "not cached" in r.stdout
    assert dltour("data", "verify").returncode == 0


def test_bench_reports_ratio():
    r = dltour("bench", "airline-lstm", "--profile", "smoke", "--device", "cpu", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["device"] == "cpu" and res["end_to_end_samples_per_s"] > 0 and 0 < res["ratio"] < 5


def test_report_rebuilds_from_saved_runs_only(tmp_path):
    r = dltour("reproduce", "--profile", "smoke", "--only", "T2.1", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "report" / "index.html").read_text()
    md = (tmp_path / "report" / "report.md").read_text()
    assert "data:image/png;base64," in html and "airline-lstm" in html
    assert "| Figure 13 | average | test_rmse | 58.7 |" in md
    for f in ("profile", "device / precision", "versions", "commit", "date", "time"):
        assert f"**{f}**" in md
    (tmp_path / "report" / "index.html").unlink()
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("metrics.json")}
    r = dltour("report", "--out", str(tmp_path))
    assert r.returncode == 0 and (tmp_path / "report" / "index.html").exists()
    assert mtimes == {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("metrics.json")}


@pytest.mark.parametrize("columns", ["80", "40"])
def test_list_never_cuts_a_study_name_or_task_id(columns):
    """Piped (as here) and at a narrow terminal: every name and task id can be copied whole."""
    from dltour.registry import all_studies

    r = dltour("list", columns=columns)
    assert r.returncode == 0
    for s in all_studies():
        assert any(s.name in line and s.task in line for line in r.stdout.splitlines()), (s.name, r.stdout)


def test_relative_out_from_another_folder_keeps_every_figure(tmp_path):
    """The README's main command uses a relative --out: every figure a summary lists is embedded in
    index.html and linked from report.md, counted against the PNG files on disk (issue 21)."""
    import re

    work = tmp_path / "elsewhere"
    work.mkdir()
    r = dltour("reproduce", "--profile", "smoke", "--only", "T2.1,T3.2", "--out", "rel-out", "--no-results", cwd=work)
    assert r.returncode == 0, r.stderr[-2000:]
    out = work / "rel-out"
    on_disk = sorted(p.name for s in ("airline-lstm", "denoise-losses") for p in (out / s).glob("*.png"))
    listed = []
    for s in ("airline-lstm", "denoise-losses"):
        doc = json.loads((out / s / "summary.json").read_text())
        assert all("/" not in f for f in doc["figures"]), doc["figures"]  # names relative to the study folder
        listed += doc["figures"]
    assert on_disk and sorted(listed) == on_disk
    html = (out / "report" / "index.html").read_text()
    md = (out / "report" / "report.md").read_text()
    assert html.count("data:image/png;base64,") == len(on_disk)
    links = re.findall(r"!\[[^\]]*\]\(\.\./([^)]+)\)", md)
    assert len(links) == len(on_disk) and all((out / link).is_file() for link in links)
    # the same folder rebuilt from a third working directory still finds them
    r = dltour("report", "--out", str(out), "--no-results")
    assert r.returncode == 0 and (out / "report" / "index.html").read_text().count("data:image/png") == len(on_disk)


def test_report_names_a_missing_figure_in_one_line(tmp_path):
    r = dltour("reproduce", "--profile", "smoke", "--only", "T2.1", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((tmp_path / "airline-lstm" / "summary.json").read_text())
    (tmp_path / "airline-lstm" / doc["figures"][0]).unlink()
    r = dltour("report", "--out", str(tmp_path))
    assert r.returncode == 2 and doc["figures"][0] in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bench_times_the_variant_asked_for(tmp_path, capsys, monkeypatch):
    """`dltour bench --variant V` times V (the study's default otherwise); a variant the study does
    not run, or cannot bench, is one line and exit 2."""
    base = ["bench", "airline-lstm", "--profile", "smoke", "--device", "cpu", "--json", "--set", "windows=[1,2]"]
    r = dltour_in_process(base, capsys, monkeypatch)
    assert r.returncode == 0 and json.loads(r.stdout)["variant"] == "w2", r.stderr  # the middle window
    r = dltour_in_process([*base, "--variant", "w1"], capsys, monkeypatch)
    assert r.returncode == 0 and json.loads(r.stdout)["variant"] == "w1", r.stderr
    # the GAN could not be timed before --variant (the VAE always was): its step is a D and a G update
    r = dltour_in_process(["bench", "mnist-generative", "--profile", "smoke", "--device", "cpu", "--json",
                           "--variant", "gan-z10", "--set", "gan_batch_size=8", "--set", "data.train_subset=100"],
                          capsys, monkeypatch)
    res = json.loads(r.stdout)
    assert res["variant"] == "gan-z10" and res["end_to_end_samples_per_s"] > 0, r.stderr
    for bad, study in (("w7", "airline-lstm"), ("vgg16-frozen", "vgg-transfer"), ("no-such", "mnist-generative")):
        r = dltour_in_process(["bench", study, "--profile", "smoke", "--device", "cpu", "--variant", bad],
                              capsys, monkeypatch)
        assert r.returncode == 2 and f"--variant {bad!r} cannot be benched" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
