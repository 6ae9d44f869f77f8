"""A finished run's metrics.json says whose metrics they are (issue 23 item 5): its run id and the
digest of the configuration that determines the run. A folder copied or renamed from another run,
or a metrics.json written by hand, is refused with one line and left as it was; a file written
before metrics carried their provenance is reused only when its folder's config.json describes
the same run."""

import json
import shutil
import subprocess
import sys

import pytest

from dltour.config import resolve_config
from dltour.runner.plan import provenance
from dltour.registry import get_study
from dltour.runner.run_folder import ForeignMetrics, PROVENANCE, read_metrics
from dltour.runner.driver import collect_results, run_study

STUDY = get_study("airline-lstm")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One smoke run of airline-lstm (two cells), finished."""
    out = tmp_path_factory.mktemp("prov")
    cfg = resolve_config(STUDY, "smoke", {})
    run_study(STUDY, cfg, "smoke", out, progress=False, log=lambda s: None)
    return out, cfg


def copy_out(src, dst):
    shutil.copytree(src, dst)
    return dst


def cells(cfg):
    return [(v, s) for v in STUDY.variants(cfg) for s in STUDY.seed_list(cfg)]


def test_metrics_carry_run_id_and_config_digest(finished):
    out, cfg = finished
    for v, s in cells(cfg):
        prov = provenance(STUDY, cfg, v, s)
        doc = json.loads((out / "runs" / STUDY.name / prov["run_id"] / "metrics.json").read_text())
        assert doc[PROVENANCE] == prov and len(prov["key_digest"]) == 12
        # the reader returns the metrics alone
        assert PROVENANCE not in read_metrics(out / "runs" / STUDY.name / prov["run_id"], prov)
    # a run with another configuration has another digest
    other = resolve_config(STUDY, "smoke", {"epochs": 3})
    v, s = cells(cfg)[0]
    assert provenance(STUDY, other, v, s)["key_digest"] != provenance(STUDY, cfg, v, s)["key_digest"]


def swap(out, cfg):
    """Give the first cell's folder the second cell's metrics.json (a copied or mixed-up folder)."""
    (v1, s1), (v2, s2) = cells(cfg)[:2]
    d1 = out / "runs" / STUDY.name / provenance(STUDY, cfg, v1, s1)["run_id"]
    d2 = out / "runs" / STUDY.name / provenance(STUDY, cfg, v2, s2)["run_id"]
    shutil.copy(d2 / "metrics.json", d1 / "metrics.json")
    return d1


def test_a_foreign_metrics_file_is_refused_in_one_line_and_kept(finished, tmp_path):
    out, cfg = finished
    out = copy_out(out, tmp_path / "out")
    d1 = swap(out, cfg)
    before = (d1 / "metrics.json").read_bytes()
    r = subprocess.run([sys.executable, "-m", "dltour.cli", "run", STUDY.name, "--profile", "smoke", "--out", str(out),
                        "--executor", "local"], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "holds the metrics of run" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert (d1 / "metrics.json").read_bytes() == before  # nothing overwritten


def test_the_summary_refuses_a_foreign_metrics_file(finished, tmp_path):
    out, cfg = finished
    out = copy_out(out, tmp_path / "out")
    swap(out, cfg)
    with pytest.raises(ForeignMetrics, match="not of run"):
        collect_results(STUDY, cfg, out)


def strip_provenance(run_dir):
    doc = json.loads((run_dir / "metrics.json").read_text())
    doc.pop(PROVENANCE)
    (run_dir / "metrics.json").write_text(json.dumps(doc))


def test_a_file_from_before_provenance_is_reused_when_its_config_matches(finished, tmp_path):
    out, cfg = finished
    out = copy_out(out, tmp_path / "out")
    dirs = [out / "runs" / STUDY.name / provenance(STUDY, cfg, v, s)["run_id"] for v, s in cells(cfg)]
    for d in dirs:
        strip_provenance(d)
    mtimes = [(d / "metrics.json").stat().st_mtime_ns for d in dirs]
    msgs = []
    run_study(STUDY, cfg, "smoke", out, progress=False, log=msgs.append)
    assert "0 run(s) computed, 2 reused" in msgs[0]
    assert mtimes == [(d / "metrics.json").stat().st_mtime_ns for d in dirs]


@pytest.mark.parametrize("damage", ["other-seed", "other-config", "no-config"])
def test_a_file_from_before_provenance_is_refused_when_its_folder_says_otherwise(finished, tmp_path, damage):
    out, cfg = finished
    out = copy_out(out, tmp_path / "out")
    v, s = cells(cfg)[0]
    d = out / "runs" / STUDY.name / provenance(STUDY, cfg, v, s)["run_id"]
    strip_provenance(d)
    conf = json.loads((d / "config.json").read_text())
    if damage == "other-seed":
        conf["seed"] = s + 1
    elif damage == "other-config":
        conf["config"]["epochs"] = conf["config"]["epochs"] + 1
    if damage == "no-config":
        (d / "config.json").unlink()
    else:
        (d / "config.json").write_text(json.dumps(conf))
    with pytest.raises(ForeignMetrics, match="carries no run id"):
        collect_results(STUDY, cfg, out)


def test_a_hand_written_metrics_file_is_not_a_run_result(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    (d / "metrics.json").write_text("[1, 2]")
    with pytest.raises(ForeignMetrics, match="not a JSON object"):
        read_metrics(d)
    (d / "metrics.json").write_text(json.dumps({"test_rmse": 1.0}))
    with pytest.raises(ForeignMetrics):
        read_metrics(d, {"run_id": "abc", "key_digest": "def"})
    (d / "metrics.json").write_text(json.dumps({"test_rmse": 1.0, PROVENANCE: {"run_id": "abc", "key_digest": "x"}}))
    with pytest.raises(ForeignMetrics, match="run id or config digest differ"):
        read_metrics(d, {"run_id": "abc", "key_digest": "def"})
    assert read_metrics(d, {"run_id": "abc", "key_digest": "x"}) == {"test_rmse": 1.0}
