"""``examples/ar_window.py``: a new study of the airline kind in one file under 300 lines (issue 20),
run the way its docstring says (the CLI through the file, a relative ``--out``), in a subprocess so
that its registration never reaches the other tests' registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ar_window.py"


def test_the_example_is_one_file_under_300_lines():
    assert len(EXAMPLE.read_text().splitlines()) < 300


@pytest.mark.xdist_group("subprocess")
def test_the_example_runs_reports_and_decides_through_the_cli(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(EXAMPLE), "run", "ar-window", "--profile", "smoke", "--out", "out"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "ar-window" / "summary.json").read_text())
    assert summary["study"] == "ar-window" and summary["figures"] == ["forecasts.png"]
    assert (tmp_path / "out" / "ar-window" / "forecasts.png").stat().st_size > 1000
    assert {f["id"] for f in summary["findings"]} == {"x-year-beats-month", "x-year-beats-naive"}
    assert all(f["verdict"] in ("holds", "does not hold", "inconclusive") for f in summary["findings"])
    per_run = summary["per_run"]  # {variant: {metric: {seed: value}}}
    assert set(per_run) == {"w1", "w12"} and set(per_run["w12"]["test_rmse"]) == {"0", "1"}
    # the seasonal-naive forecast of the test months, recomputed here from the embedded series
    from dltour.data import airline

    _, y = airline.load()
    start = int(len(y) * 0.67) + 12
    naive = float(np.sqrt(np.mean((y[start:] - y[start - 12:-12]) ** 2)))
    assert per_run["w1"]["naive_rmse"]["0"] == pytest.approx(naive)

    rep = subprocess.run([sys.executable, str(EXAMPLE), "report", "--out", "out"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert rep.returncode == 0, rep.stderr[-2000:]
    html = (tmp_path / "out" / "report" / "index.html").read_text()
    assert "ar-window" in html and "data:image/png;base64," in html

    # the package's own CLI does not know it: it is registered only when the file is imported
    listed = subprocess.run([sys.executable, "-m", "dltour.cli", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert listed.returncode == 0 and "airline-lstm" in listed.stdout and "ar-window" not in listed.stdout
