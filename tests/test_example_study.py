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


@pytest.fixture()
def example():
    """The example module, imported here and unregistered again afterwards (the other tests' registry
    never sees it)."""
    import importlib.util

    from dltour import registry

    spec = importlib.util.spec_from_file_location("ar_window_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    registry._REGISTRY.pop("ar-window", None)


def _decide(mod, w1: list[float], w12: list[float], naive: float) -> dict[str, str]:
    from dltour import rules as R
    from dltour.summary import decide_declared

    runs = R.Runs({"test_rmse": {"w1": dict(enumerate(w1)), "w12": dict(enumerate(w12))}}, {"naive_rmse": naive})
    return {f.id: f.verdict for f in decide_declared(mod.FINDINGS, runs)}


def test_the_example_findings_hold_fail_and_cannot_decide(example):
    """Each declared finding where it holds (a year of history clearly better, 5 seeds), where it does
    not (clearly worse) and where it cannot decide (seeds that disagree, or one seed)."""
    better = [30.0, 31.0, 29.5, 30.5, 30.2]
    worse = [60.0, 61.0, 59.5, 60.5, 60.2]
    assert _decide(example, [50.0, 52.0, 49.0, 51.0, 50.5], better, 45.0) == {
        "x-year-beats-month": "holds", "x-year-beats-naive": "holds"}
    assert _decide(example, [50.0, 52.0, 49.0, 51.0, 50.5], worse, 45.0) == {
        "x-year-beats-month": "does not hold", "x-year-beats-naive": "does not hold"}
    mixed = _decide(example, [50.0, 40.0, 60.0, 45.0, 55.0], [55.0, 35.0, 65.0, 40.0, 50.0], 50.0)
    assert mixed == {"x-year-beats-month": "inconclusive", "x-year-beats-naive": "inconclusive"}
    one = _decide(example, [50.0], [30.0], 45.0)
    assert set(one.values()) <= {"inconclusive", "not checked"}, one


def test_the_example_uses_the_shared_series_helpers(example):
    """No copy of the airline study's windows or seasonal-naive forecast in the example: one implementation."""
    from dltour.data import airline
    from dltour.experiments.airline_lstm.science import Science as AirlineScience

    assert AirlineScience.windows is airline.windows and AirlineScience.seasonal_naive is airline.seasonal_naive
    assert not hasattr(example, "windows_of") and not hasattr(example, "seasonal_naive")
    x, t = airline.windows(np.arange(6.0), 2)
    assert x.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4]] and t.tolist() == [2, 3, 4, 5]
    y = np.arange(30.0)
    assert airline.seasonal_naive(y, 20).tolist() == list(range(8, 18))
