"""The results pack (docs/results/pack.json) and what summarize_study writes for it: the committed
pack reads and its entries are whole; an entry of an older study version is shown with that
version; one summary per study and scale (this run, then the last pack given, then the project's);
a missing project pack is one line in the header; summary.json carries study_version,
dltour_commit and the per-run values."""

import json
import shutil
from pathlib import Path

import pytest

from dltour import DltourError
from dltour.registry import Study
from dltour.summary import Comparison, Finding, Summary
from dltour.report import build_report
from dltour.report import pack as pack_mod
from dltour.report.pack import default_pack_path, read_pack

ROOT = Path(__file__).resolve().parents[1]
AIRLINE = ROOT / "docs" / "results" / "airline-lstm" / "features-train"


def _entry(**over):
    e = {"study": "airline-lstm", "path": "airline", "default": True, "commit": "504aacd", "study_version": 2,
         "data": "AirPassengers", "budget": "100 epochs at batch 1", "machine": "2-core AMD EPYC",
         "wall_seconds": 1085, "command": "dltour run airline-lstm --profile full"}
    return {**e, **over}


def _pack(folder: Path, *entries) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for e in entries:
        if not (folder / e["path"]).exists():
            shutil.copytree(AIRLINE, folder / e["path"])
    (folder / "pack.json").write_text(json.dumps({"about": "test", "entries": list(entries)}))
    return folder


def test_the_committed_pack_is_whole():
    p = read_pack(default_pack_path(), "docs/results")
    assert default_pack_path() == ROOT / "docs" / "results" / "pack.json"
    defaults = {e.study: e for e in p.defaults()}
    assert {"airline-lstm", "mnist-autoencoder", "mnist-generative"} <= set(defaults)
    for e in p.entries:
        doc = e.summary()
        assert all((e.folder / f).is_file() for f in doc["figures"]), e.where
        assert doc.get("study_version", e.study_version) == e.study_version, e.where
        assert len(e.commit) >= 7 and all(c in "0123456789abcdef" for c in e.commit), e.where
        assert e.data and e.budget and e.machine and e.command.startswith(("dltour ", "OMP_NUM_THREADS=1 dltour "))


def test_an_older_study_version_is_shown_with_its_version_and_commit(tmp_path):
    pk = _pack(tmp_path / "pack", _entry(study_version=1, commit="abc1234"))
    out = tmp_path / "out"
    out.mkdir()
    build_report(out, results=[pk], default_results=False)
    md = (out / "report" / "report.md").read_text()
    assert "study version 1 at commit abc1234; the current code is version 2" in md
    assert "**Older study version:**" in md
    row = [line for line in md.splitlines() if line.startswith("| R11 (T2.1) |")][0]
    assert "holds" in row and "study version 1 at commit abc1234" in row
    assert "| 1 (the current code is 2) |" in md  # the pack table
    data = json.loads((out / "report" / "claims.json").read_text())
    e = [e for e in data["findings"] if e["ref"] == "R11"][0]
    assert e["study_version"] == 1 and e["study_version_now"] == 2 and e["scale"] == "reference"
    assert e["source"] == f"results pack: {pk}/airline, commit abc1234, study version 1"
    html = (out / "report" / "index.html").read_text()
    assert "study version 1 at commit abc1234" in html
    # the entry's figures are found beside its summary, whatever the working directory
    assert html.count("data:image/png;base64,") == len(json.loads((AIRLINE / "summary.json").read_text())["figures"])


def test_one_summary_per_study_and_scale(tmp_path):
    """A --results pack's entry supersedes the project's for the same study and scale; this run's
    own summary at that scale supersedes both."""
    pk = _pack(tmp_path / "pack", _entry(commit="fff0000"))
    out = tmp_path / "out"
    out.mkdir()
    build_report(out, results=[pk])
    md = (out / "report" / "report.md").read_text()
    assert f"not included: superseded by the results pack entry {pk}/airline" in md
    assert md.count("## T2.1 airline-lstm") == 1 and "commit fff0000" in md
    (out / "airline-lstm").mkdir()
    shutil.copy(AIRLINE / "summary.json", out / "airline-lstm" / "summary.json")
    for f in json.loads((AIRLINE / "summary.json").read_text())["figures"]:
        shutil.copy(AIRLINE / f, out / "airline-lstm" / f)
    build_report(out, results=[pk])
    md = (out / "report" / "report.md").read_text()
    assert md.count("not included: superseded by this run's reference scale summary") == 2
    assert md.count("## T2.1 airline-lstm") == 1 and "Source: this run:" in md


def test_no_project_pack_is_one_line_in_the_header(tmp_path, monkeypatch):
    monkeypatch.setattr(pack_mod, "default_pack_path", lambda: tmp_path / "nowhere" / "pack.json")
    build_report(tmp_path)
    md = (tmp_path / "report" / "report.md").read_text()
    line = [x for x in md.splitlines() if x.startswith("- **results pack**")][0]
    assert "is absent, e.g. an installed wheel" in line
    assert "Reference claims at the reference's data and budget: 0 decided" in md


@pytest.mark.parametrize("entries, message", [
    ([{"study": "airline-lstm", "path": "airline"}], "lacks default, commit"),
    ([_entry(), _entry(path="airline2")], "more than one default entry for airline-lstm"),
    ([_entry(study_version="2")], "'study_version' an integer"),
])
def test_a_malformed_pack_is_one_line(tmp_path, entries, message):
    (tmp_path / "pack.json").write_text(json.dumps({"entries": entries}))
    with pytest.raises(DltourError, match=message):
        read_pack(tmp_path)


def test_an_entry_without_its_summary_or_figure_stops_with_one_line(tmp_path):
    pk = _pack(tmp_path / "pack", _entry())
    (pk / "airline" / "fig13_error_by_window.png").unlink()
    with pytest.raises(DltourError, match="fig13_error_by_window.png.*the results pack entry is incomplete"):
        build_report(tmp_path / "out", results=[pk], default_results=False)
    (pk / "airline" / "summary.json").unlink()
    with pytest.raises(DltourError, match="has no summary.json"):
        build_report(tmp_path / "out", results=[pk], default_results=False)


class _Tiny(Study):
    """Not registered: a study of two variants whose runs are metrics files written by hand."""

    name = "tiny-pack-test"
    task = "T3.2"
    title = "tiny"
    version = 7

    def variants(self, cfg):
        return ["a", "b"]

    def summarize(self, cfg, results, out_dir):
        from dltour.verdicts import compare

        a = {r.seed: r.metrics["err"] for r in results if r.variant == "a"}
        b = {r.seed: r.metrics["err"] for r in results if r.variant == "b"}
        return Summary(findings=[Finding.of("test-a-lower", "a is lower", compare(a, b, "less"), ref="R30")],
                       extra_metrics={"baseline": {"err": [9.0]}, "per-seed": {"err": [1.0, 2.0, 3.0]}})

    def comparison(self, cfg):
        return Comparison(False, False, "tiny")


def test_summary_carries_version_commit_and_per_run_values(tmp_path):
    from dltour.config import StudyConfig
    from dltour.runner.plan import provenance
    from dltour.runner.run_folder import run_dir_for, write_metrics
    from dltour.runner.driver import summarize_study

    st, cfg = _Tiny(), StudyConfig(seeds=3)
    for v, base in (("a", 1.0), ("b", 2.0)):
        for seed in range(3):
            prov = provenance(st, cfg, v, seed)
            write_metrics(run_dir_for(tmp_path, st.name, prov["run_id"]),
                          {"err": base + 0.1 * seed + (float("nan") if (v, seed) == ("b", 2) else 0.0)}, prov)
    doc = summarize_study(st, cfg, "demo", tmp_path)
    assert doc["study_version"] == 7 and doc["dltour_commit"]
    assert doc["per_run"]["a"]["err"] == {"0": 1.0, "1": 1.1, "2": 1.2}
    assert doc["per_run"]["b"]["err"]["2"] is None  # NaN written as null
    assert doc["per_run"]["baseline"]["err"] == {"#0": 9.0}
    assert doc["per_run"]["per-seed"]["err"] == {"0": 1.0, "1": 2.0, "2": 3.0}
    saved = json.loads((tmp_path / st.name / "summary.json").read_text())
    assert saved["per_run"] == doc["per_run"] and saved["study_version"] == 7


def test_a_full_profile_summary_on_other_data_is_labelled_an_analogue_not_the_demo():
    """The colourise entry ran the full profile's model on CIFAR-10, not the reference's CIFAR-100: it is
    at reduced scale (not a verdict at the reference's scale), labelled an analogue, never the demo's."""
    from dltour.report.build import scale_of

    doc = json.loads((ROOT / "docs" / "results" / "colourise" / "cifar10-800" / "summary.json").read_text())
    assert doc["profile"] == "full" and doc["comparison"]["data"] is False
    assert scale_of(doc)["scale"] == "reduced" and scale_of(doc)["label"] == "analogue on other data"
    assert scale_of({**doc, "profile": "demo"}) | {"why": ""} == {
        "scale": "demo", "label": "demo analogue", "why": "", "data": "not the reference's",
        "budget": "less than the reference's"}
    more = {**doc["comparison"], "data": True}
    assert scale_of({**doc, "comparison": more})["label"] == "reduced scale"
    assert scale_of({**doc, "comparison": more, "profile": "demo"})["label"] == "demo on the reference's data"
    assert scale_of({**doc, "comparison": {**more, "budget": True}})["scale"] == "reference"
