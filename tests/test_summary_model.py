"""``dltour.summary.StudySummary``: ``summary.json`` typed. Every summary the project keeps under
docs/results/ reads back and writes out as the same dict (older ones lack newer keys); a missing
optional key gets its default and stays absent; an unknown key survives a round trip; a malformed
file is one DltourError line naming it; the runner writes the file through the type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dltour.errors import DltourError
from dltour.summary import Comparison, Finding, Ref, StudySummary, Table

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
SUMMARIES = sorted(RESULTS.rglob("summary.json"))


def test_there_are_pack_summaries_to_read():
    assert len(SUMMARIES) >= 10


@pytest.mark.parametrize("path", SUMMARIES, ids=lambda p: str(p.parent.relative_to(RESULTS)))
def test_every_pack_summary_round_trips_exactly(path):
    raw = json.loads(path.read_text())
    s = StudySummary.load(path)
    assert s.study == raw["study"] and s.task == raw["task"] and s.profile == raw["profile"]
    assert all(isinstance(f, Finding) for f in s.findings) and len(s.findings) == len(raw["findings"])
    assert all(isinstance(t, Table) for t in s.tables) and all(isinstance(r, Ref) for r in s.reference)
    assert isinstance(s.comparison, Comparison)
    out = s.to_dict()
    assert out == raw
    assert list(out) == list(raw)  # key order too
    assert json.dumps(out, indent=2, sort_keys=True) == json.dumps(raw, indent=2, sort_keys=True)
    assert StudySummary.from_dict(out).to_dict() == raw


def test_findings_tables_and_comparison_read_by_attribute():
    s = StudySummary.load(RESULTS / "airline-lstm" / "full" / "summary.json")
    f = next(f for f in s.findings if f.ref)
    assert f.verdict in ("holds", "does not hold", "inconclusive", "not checked", "not applicable")
    assert f.source == "reference" and isinstance(f.stats, dict) and "p" in f.stats
    assert s.comparison.data is True and s.comparison.ok
    assert s.tables[0].title and s.tables[0].header and all(isinstance(b, tuple) for b in s.tables[0].bold)
    assert s.metrics and s.per_run and s.study_version == 2 and s.dltour_commit


def test_an_older_summary_lacks_newer_keys_and_they_stay_absent():
    path = RESULTS / "airline-lstm" / "summary.json"  # the oldest: no study_version, per_run, devices, stats
    raw = json.loads(path.read_text())
    assert "study_version" not in raw and "per_run" not in raw and "stats" not in raw["findings"][0]
    s = StudySummary.load(path)
    assert s.study_version is None and s.dltour_commit is None and s.per_run == {} and s.devices == []
    assert s.findings[0].stats is None  # written before findings kept their numbers
    assert s.comparison.about is True and s.comparison.about_why == ""  # comparison.about came later
    out = s.to_dict()
    assert "study_version" not in out and "per_run" not in out and "stats" not in out["findings"][0]
    assert "about" not in out["comparison"]


def test_a_missing_optional_key_gets_its_default():
    s = StudySummary.from_dict({"study": "x"})
    assert (s.task, s.title, s.profile, s.comparable, s.comparison) == ("", "", "", True, None)
    assert s.findings == [] and s.tables == [] and s.reference == [] and s.figures == [] and s.notes == []
    assert s.metrics == {} and s.per_run == {} and s.variant_order == [] and s.headline_metrics == []
    assert (s.runs, s.seconds, s.study_version, s.dltour_commit) == (0, 0.0, None, None)
    assert s.to_dict() == {"study": "x"}
    # a finding from before ``verdict``: its verdict from ``holds``
    f = StudySummary.from_dict({"study": "x", "findings": [{"id": "test-a", "holds": False}]}).findings[0]
    assert f.verdict == "does not hold" and f.claim == "" and f.test == "" and f.ref is None and f.stats is None


def test_an_unknown_key_survives_a_round_trip():
    raw = json.loads((RESULTS / "cartpole-td" / "full" / "summary.json").read_text())
    raw["from_the_future"] = {"a": [1, 2]}
    raw["findings"][0]["flag"] = "kept"
    raw["tables"][0]["caption"] = "kept too"
    raw["comparison"]["why_not"] = 3
    s = StudySummary.from_dict(raw)
    assert s.to_dict() == raw
    # a changed attribute is written, the unknown keys stay
    s.findings[0].verdict = "inconclusive"
    out = s.to_dict()
    assert out["findings"][0]["verdict"] == "inconclusive" and out["findings"][0]["holds"] is None
    assert out["findings"][0]["flag"] == "kept" and out["from_the_future"] == {"a": [1, 2]}


def test_the_runner_writes_through_the_type():
    """A summary built in code writes every key, as the runner's summary.json has them."""
    f = Finding("test-a", "claim", "not checked", "no runs")
    s = StudySummary("x", 1, "abc1234", "T2.1", "t", "smoke", False, Comparison(False, True, "demo"),
                     findings=[f], tables=[Table("T", ["a", "b"], [[1, 0.5]], bold=[(0, 1)])],
                     reference=[Ref("Table 7", "v", "m", 1.5)])
    d = s.to_dict()
    assert list(d) == ["study", "study_version", "dltour_commit", "task", "title", "profile", "comparable",
                       "comparison", "config", "metrics", "per_run", "variant_order", "headline_metrics",
                       "reference", "findings", "figures", "tables", "nan_runs", "notes", "runs", "seconds",
                       "devices", "precisions"]
    assert d["findings"] == [f.as_dict()] and d["tables"][0]["rows"] == [["1", "0.5"]]
    assert d["reference"] == [{"source": "Table 7", "variant": "v", "metric": "m", "value": 1.5, "note": ""}]
    assert StudySummary.from_dict(json.loads(json.dumps(d))).to_dict() == json.loads(json.dumps(d))


@pytest.mark.parametrize("text, message", [
    ("{not json", "cannot be read"),
    ("[1, 2]", "a summary must be a JSON object, got a list"),
    ('{"study": "x", "findings": "none"}', "'findings' must be a list, got a string"),
    ('{"study": "x", "findings": [3]}', r"findings\[0\] must be an object, got an integer"),
    ('{"study": "x", "findings": [{"claim": "c"}]}', r"findings\[0\]: 'id' is missing"),
    ('{"task": "T2.1"}', "'study' is missing"),
    ('{"study": "x", "runs": "three"}', "'runs' must be an integer, got a string"),
    ('{"study": "x", "comparison": {"data": true}}', "comparison: 'budget' is missing"),
    ('{"study": "x", "tables": [{"title": "t", "rows": [1]}]}', "'rows' must be a list of lists"),
])
def test_a_malformed_summary_is_one_line_naming_the_file(tmp_path, text, message):
    p = tmp_path / "summary.json"
    p.write_text(text)
    with pytest.raises(DltourError, match=message) as e:
        StudySummary.load(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_a_malformed_summary_in_an_output_folder_stops_the_report_with_one_line(tmp_path):
    from dltour.report import build_report

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "summary.json").write_text('{"study": "x", "findings": {"a": 1}}')
    with pytest.raises(DltourError, match="'findings' must be a list"):
        build_report(tmp_path, default_results=False)


def test_the_cli_prints_a_dict_or_the_type():
    from dltour.cli import _print_summary

    raw = json.loads((RESULTS / "airline-lstm" / "full" / "summary.json").read_text())
    s = _print_summary(raw)
    assert isinstance(s, StudySummary) and s.study == "airline-lstm"
    assert _print_summary(s) is s
