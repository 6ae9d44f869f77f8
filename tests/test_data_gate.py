"""One central gate on data (issue 22 item 5): a reference claim is decided only on the data it is
about; on other data its findings are 'not applicable', shown and never counted."""

from __future__ import annotations

import json

from dltour.registry import Comparison, Finding, data_gate
from dltour.report import build_report
from dltour.report.build import claim_counts, claim_rows
from dltour.verdicts import NOT_APPLICABLE, compare

HOLDS = compare([1.0, 2.0, 3.0, 4.0], [2.0, 3.1, 4.3, 5.2], "less")


def _findings():
    return [Finding.of("depth3-is-best", "c", HOLDS, ref="R26"), Finding.of("beats-mean-image", "ours", HOLDS)]


def test_other_data_leaves_every_reference_claim_not_applicable_and_keeps_our_checks():
    fashion = Comparison(False, True, "not MNIST", about=False, about_why="files differ from MNIST's")
    ref, ours = data_gate(_findings(), fashion, "MNIST digits")
    assert ref.verdict == NOT_APPLICABLE and "about MNIST digits" in ref.test and "'holds'" in ref.test
    assert "files differ from MNIST's" in ref.stats["reasons"][-1]
    assert ours.verdict == "holds"


def test_the_reference_data_or_its_analogue_pass_the_gate_unchanged():
    for cmp in (Comparison(True, True), Comparison(False, False, "the embedded demo subset")):
        assert [f.verdict for f in data_gate(_findings(), cmp, "MNIST digits")] == ["holds", "holds"]


def test_the_report_shows_not_applicable_and_counts_it_apart(tmp_path):
    fashion = Comparison(False, True, "not MNIST", about=False, about_why="Fashion-MNIST")
    doc = {"study": "mnist-autoencoder", "task": "T3.1", "title": "t", "profile": "demo", "comparable": False,
           "comparison": fashion.as_dict(), "config": {}, "metrics": {}, "variant_order": [], "headline_metrics": [],
           "reference": [], "findings": [f.as_dict() for f in data_gate(_findings(), fashion, "MNIST digits")],
           "figures": [], "tables": [], "notes": [], "runs": 3, "seconds": 1.0, "nan_runs": []}
    rows = claim_rows(doc, "T3.1")
    r26 = next(r for r in rows if r["id"] == "R26")
    assert r26["verdict"] == "not applicable"
    c = claim_counts(rows)
    assert c["not applicable"] == 1 and c["holds"] == 0 and c["testable"] == sum(
        1 for r in rows if r["kind"] != "X") - 1
    (tmp_path / "mnist-autoencoder").mkdir()
    (tmp_path / "mnist-autoencoder" / "summary.json").write_text(json.dumps(doc))
    build_report(tmp_path, default_results=False)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "1 not applicable (the data are not what the claim is about; not counted)" in md
