"""The command line's extras (issue 21.6): --version, shell completion, --config FILE under --set,
`dltour runs`, `dltour compare`, tables and lines readable at 80 columns, the --track help."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import pytest


def dltour(*args, cwd=None, columns="80", env=None):
    return subprocess.run([sys.executable, "-m", "dltour.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": columns, **(env or {})})


def _one_line_error(r, needle):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


# ------------------------------------------------------------------------------ version, completion
def test_version():
    from importlib.metadata import version

    r = dltour("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"dltour {version('dltour')} (commit ")
    from dltour.gitinfo import git_commit

    assert r.stdout.strip().endswith(f"(commit {git_commit()})")


def test_shell_completion_script_and_completions():
    # the shell named, not detected: detection reads the parent processes, and a test run from a
    # background job or CI has no shell among them ("Shell  not supported")
    r = dltour("--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert r.returncode == 0, r.stderr
    assert "_DLTOUR_COMPLETE=complete_bash" in r.stdout and "complete -o default -F _dltour_completion dltour" in r.stdout
    # what the installed script asks: the commands starting with "ru"
    r = dltour(env={"_DLTOUR_COMPLETE": "complete_bash", "COMP_WORDS": "dltour ru", "COMP_CWORD": "1"})
    assert r.returncode == 0 and r.stdout.split() == ["run", "runs"], (r.stdout, r.stderr)
    assert "--install-completion" in dltour("--help").stdout


def test_track_help_shows_the_out_folder():
    r = dltour("run", "--help", columns="200")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "<out>/mlflow.db" in text and "sqlite:///<out>/mlflow.db" in text and "<out>/tensorboard" in text
    assert "(/mlruns)" not in text


# ---------------------------------------------------------------------------------------- --config
def test_show_with_config_file_under_set(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('epochs = 5\nbatch_size = 4\n[data]\npath = "/tmp/from-file.csv"\n')
    r = dltour("show", "airline-lstm", "--config", str(cfg), "--set", "batch_size=8", columns="200")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("epochs = 5  (int;") for line in lines)
    assert any(line.startswith("batch_size = 8  (int;") for line in lines)  # --set wins over the file
    assert any(line.startswith("data.path = /tmp/from-file.csv ") for line in lines)


def test_yaml_config_with_a_study_table(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 5\nT2.1:\n  epochs: 9\nmnist-autoencoder:\n  no_such: 1\n")
    r = dltour("show", "T2.1", "-c", str(cfg), columns="200")
    assert r.returncode == 0, r.stderr
    assert any(line.startswith("epochs = 9  (int;") for line in r.stdout.splitlines())


@pytest.mark.parametrize("text, needle", [
    ("epoch = 5\n", "did you mean epochs"),
    ("epochs = 'lots'\n", "invalid value 'lots' for epochs in --config"),
    ("epochs = \n", "not valid TOML"),
])
def test_config_errors_are_one_line(tmp_path, text, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    cmds = [["show", "airline-lstm"]] + ([["run", "airline-lstm", "--out", str(tmp_path / "o")]] if "lots" in text
                                          else [])  # (each command is a new process: keep them few)
    for cmd in cmds:
        r = dltour(*cmd, "--config", str(cfg))
        _one_line_error(r, needle)
        assert str(cfg) in r.stderr


def test_missing_config_file_is_one_line(tmp_path):
    r = dltour("show", "airline-lstm", "--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and "nope.toml" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------- run --config, runs, compare
@pytest.fixture(scope="module")
def out_a(tmp_path_factory):
    """One smoke run of airline-lstm, 2 seeds, its epochs from a --config file and its seeds from --set."""
    tmp = tmp_path_factory.mktemp("extras")
    cfg = tmp / "c.toml"
    cfg.write_text("epochs = 2\nseeds = 1\n")
    out = tmp / "a"
    r = dltour("run", "airline-lstm", "--profile", "smoke", "--device", "cpu", "--executor", "local",
               "--config", str(cfg), "--set", "seeds=2", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def test_run_uses_the_config_file_under_set(out_a):
    doc = json.loads((out_a / "airline-lstm" / "summary.json").read_text())
    assert doc["config"]["epochs"] == 2 and doc["config"]["seeds"] == 2


def test_runs_lists_the_ledger_in_every_format(out_a):
    r = dltour("runs", "--out", str(out_a), "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert sorted((x["variant"], x["seed"]) for x in rows) == [("w1", 0), ("w1", 1), ("w12", 0), ("w12", 1)]
    assert all(x["status"] == "finished" and x["test_rmse"] > 0 and x["seconds"] > 0 for x in rows)

    r = dltour("runs", "--out", str(out_a), "--format", "csv")
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(table) == 4 and {"study", "variant", "seed", "seconds", "test_rmse"} <= set(table[0])

    r = dltour("runs", "--out", str(out_a), "--study", "T2.1")
    assert r.returncode == 0, r.stderr
    assert all(len(line) <= 80 for line in r.stdout.splitlines()), r.stdout
    assert "airline-lstm" in r.stdout and "test_rmse=" in r.stdout and "w12" in r.stdout
    assert str(out_a / "ledger.sqlite") in r.stdout.replace("\n", "")


def test_runs_errors(out_a, tmp_path):
    from dltour.runner.ledger import Ledger

    _one_line_error(dltour("runs", "--out", str(tmp_path)), "has no ledger.sqlite")
    Ledger(tmp_path / "empty" / "ledger.sqlite")
    _one_line_error(dltour("runs", "--out", str(tmp_path / "empty")), "records no runs yet")
    _one_line_error(dltour("runs", "--out", str(out_a), "--format", "xml"), "unknown format 'xml'")


def _shifted_copy(out_a, dest, shift):
    """``out_a``'s summary with every per-run value of test_rmse moved by ``shift`` (a second folder)."""
    doc = json.loads((out_a / "airline-lstm" / "summary.json").read_text())
    for per_metric in doc["per_run"].values():
        if "test_rmse" in per_metric:
            per_metric["test_rmse"] = {seed: v + shift for seed, v in per_metric["test_rmse"].items()}
    (dest / "airline-lstm").mkdir(parents=True)
    (dest / "airline-lstm" / "summary.json").write_text(json.dumps(doc))
    return doc


def test_compare_two_outs_welch_ci(out_a, tmp_path):
    from scipy import stats

    b = tmp_path / "b"
    doc_b = _shifted_copy(out_a, b, 10.0)
    doc_a = json.loads((out_a / "airline-lstm" / "summary.json").read_text())
    r = dltour("compare", str(out_a), str(b), "--metric", "test_rmse", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {x["variant"]: x for x in json.loads(r.stdout)}
    assert {"w1", "w12"} <= set(rows)
    for variant in ("w1", "w12"):
        va = list(doc_a["per_run"][variant]["test_rmse"].values())
        vb = list(doc_b["per_run"][variant]["test_rmse"].values())
        row = rows[variant]
        ref = stats.ttest_ind(vb, va, equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert row["n_a"] == row["n_b"] == 2 and row["diff"] == pytest.approx(10.0)
        assert (row["ci95_low"], row["ci95_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
        assert row["p"] == pytest.approx(ref.pvalue)
        assert row["source_a"] == row["source_b"] == "summary"

    r = dltour("compare", str(out_a), str(b), "--study", "T2.1")
    assert r.returncode == 0, r.stderr
    assert all(len(line) <= 80 for line in r.stdout.splitlines()), r.stdout
    assert "w12" in r.stdout and "test_rmse" in r.stdout and "95% CI" in r.stdout

    r = dltour("compare", str(out_a), str(b), "--format", "csv")
    assert r.returncode == 0 and r.stdout.startswith("study,variant,metric,mean_a,n_a,mean_b,n_b,diff,ci95_low")


def test_compare_reads_the_ledger_without_a_summary(out_a, tmp_path):
    ledger_only = tmp_path / "ledger-only"
    ledger_only.mkdir()
    shutil.copyfile(out_a / "ledger.sqlite", ledger_only / "ledger.sqlite")
    r = dltour("compare", str(ledger_only), str(out_a), "--metric", "test_rmse", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {x["variant"]: x for x in json.loads(r.stdout)}
    assert rows["w12"]["source_a"] == "ledger" and rows["w12"]["n_a"] == 2
    assert rows["w12"]["diff"] == pytest.approx(0.0, abs=1e-9)


def test_compare_errors(out_a, tmp_path):
    _one_line_error(dltour("compare", str(out_a), str(tmp_path / "nope")), "is not a folder")
    _one_line_error(dltour("compare", str(out_a), str(tmp_path)), "no study summaries or finished runs")
    _one_line_error(dltour("compare", str(out_a), str(out_a), "--metric", "nothing"), "share no")


# ------------------------------------------------------------------------------------ 80 columns
def test_data_list_at_80_columns_keeps_urls_and_names_whole():
    from dltour.data import MANIFEST, cache_dir

    r = dltour("data", "list", columns="80")
    assert r.returncode == 0, r.stderr
    for spec in MANIFEST.values():
        assert spec.url in r.stdout, spec.url  # on one line, uncut
        assert any(line.startswith(spec.name + "  ") for line in r.stdout.splitlines()), spec.name
    assert f"cache: {cache_dir()}" in r.stdout
    assert "…" not in r.stdout


def test_show_wraps_at_80_columns():
    r = dltour("show", "mnist-generative", columns="80")
    assert r.returncode == 0, r.stderr
    long = [line for line in r.stdout.splitlines() if len(line) > 80]
    assert all(" " not in line.strip() for line in long), long  # only one unbreakable word may run past
    assert any(line.startswith("    ") for line in r.stdout.splitlines())  # wrapped descriptions are indented


def test_reproduce_takes_a_config_file_with_per_study_tables(tmp_path, monkeypatch, capsys):
    import json
    import sys

    cfg = tmp_path / "c.toml"
    cfg.write_text('[airline-lstm]\nepochs = 2\nwindows = [1, 2]\n\n[cartpole-td]\nepisodes = 20\n')
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["dltour", "reproduce", "--profile", "smoke", "--only", "T2.1,T5.1",
                                      "--config", str(cfg), "--out", str(out), "--no-results"])
    from dltour.cli import main

    with pytest.raises(SystemExit) as ex:
        main()
    assert ex.value.code == 0
    assert json.loads((out / "airline-lstm" / "summary.json").read_text())["config"]["epochs"] == 2
    assert json.loads((out / "cartpole-td" / "summary.json").read_text())["config"]["episodes"] == 20
    bad = tmp_path / "bad.toml"
    bad.write_text("[airline-lstm]\nepoch = 2\n")
    monkeypatch.setattr(sys, "argv", ["dltour", "reproduce", "--profile", "smoke", "--only", "T2.1",
                                      "--config", str(bad), "--out", str(tmp_path / "o2")])
    with pytest.raises(SystemExit) as ex:
        main()
    assert ex.value.code == 2 and str(bad) in capsys.readouterr().err
    assert not (tmp_path / "o2" / "ledger.sqlite").exists()
