"""Every registered study runs under ``--profile smoke`` through the real CLI (parametrized over
the registry, so a new study gets its smoke test for free) and writes the summary contract."""

import json
import os
import subprocess
import sys

import pytest

from dltour.registry import all_studies

STUDIES = [s.name for s in all_studies()]
# one thread: smoke models are tiny, so threads only add synchronisation (and spin badly on a busy machine)
ENV = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("name", STUDIES)
def test_smoke_run_through_cli(name, tmp_path):
    r = subprocess.run([sys.executable, "-m", "dltour.cli", "run", name, "--profile", "smoke", "--out", str(tmp_path),
                        "--device", "cpu"], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((tmp_path / name / "summary.json").read_text())
    assert doc["study"] == name and doc["profile"] == "smoke" and doc["metrics"]
    assert doc["figures"] and all((tmp_path / name / f).is_file() for f in doc["figures"])
    r2 = subprocess.run([sys.executable, "-m", "dltour.cli", "run", name, "--profile", "smoke", "--out", str(tmp_path),
                         "--device", "cpu"], capture_output=True, text=True, env=ENV)
    assert r2.returncode == 0 and " 0 run(s) computed" in r2.stderr  # everything reused
