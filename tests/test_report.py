"""The report from hand-made summaries: the reference's claims counted apart from ours, each with
its verdict and test; Ref notes; n = 1 without ±; NaN runs named; no deltas when data or budget
differ; tables rendered from data with the best cells in bold."""

import json
from pathlib import Path

from dltour.registry import Comparison, Table
from dltour.report import build_report
from dltour.report.build import claim_counts, claim_rows, combine, fmt_stat
from dltour.verdicts import compare, exceeds


def _finding(fid, decision, ref=None):
    return {"id": fid, "claim": f"claim {fid}", "verdict": decision.verdict, "evidence": decision.evidence,
            "test": decision.test, "source": "reference" if ref else "ours", "ref": ref, "section": "Table 5"}


def _doc(task, study, findings, comparison=Comparison(True, True), metrics=None, nan_runs=(), tables=()):
    return {"study": study, "task": task, "title": f"title of {study}", "profile": "demo",
            "comparable": comparison.ok, "comparison": {"data": comparison.data, "budget": comparison.budget,
                                                        "why": comparison.why},
            "config": {}, "metrics": metrics or {"mae": {"test_mse": {"mean": 0.002, "std": None, "ci95": None,
                                                                     "n": 1, "nan": 0}}},
            "variant_order": ["mae"], "headline_metrics": ["test_mse"],
            "reference": [{"source": "Table 5", "variant": "mae", "metric": "test_mse", "value": 0.0015,
                           "note": "the reference calls it an MSE"}],
            "findings": findings, "figures": [], "tables": [t.as_dict() for t in tables], "notes": [],
            "runs": 3, "seconds": 1.0, "nan_runs": list(nan_runs)}


def _write(out, doc):
    (out / doc["study"]).mkdir(parents=True)
    (out / doc["study"] / "summary.json").write_text(json.dumps(doc))


HOLDS = compare([1.0, 2.0, 3.0], [2.0, 3.1, 4.2], "less")
FAILS = compare([2.0, 3.1, 4.2], [1.0, 2.0, 3.0], "less")
UNDECIDED = exceeds([0.5], 0.2, "greater")


def test_combine_claim_verdicts():
    assert combine(["holds", "holds"]) == "holds"
    assert combine(["holds", "inconclusive"]) == "inconclusive"
    assert combine(["holds", "does not hold"]) == "does not hold"
    assert combine([]) == combine(["not checked"]) == "not checked"


def test_claims_counted_apart_from_ours(tmp_path):
    doc = _doc("T3.2", "denoise-losses", [
        _finding("mae-lowest", HOLDS, "R30"), _finding("closely", UNDECIDED, "R31"),
        _finding("sigma-harms", FAILS, "R32"), _finding("beats-noisy", HOLDS)])
    rows = claim_rows(doc, "T3.2")
    c = claim_counts(rows)
    # T3.2 has R30..R35, all testable; R33, R34, R35 have no finding here
    assert c == {"testable": 6, "holds": 1, "does not hold": 1, "inconclusive": 1, "not checked": 3}
    _write(tmp_path, doc)
    build_report(tmp_path)
    md = (tmp_path / "report" / "report.md").read_text()
    html = (tmp_path / "report" / "index.html").read_text()
    # over all 49 claims: 44 testable, the other tasks' not run
    assert "Reference claims: 44 testable — holds 1, does not hold 1, inconclusive 1, not checked 41" in md
    assert "Our own checks (not the reference's claims)" in md and "`beats-noisy`" in md
    assert "holds 1" in md.split("| T3.2 |")[1].split("\n")[0]  # our check counted in its own column
    assert "paired t-test by seed" in md  # the test that decided a verdict is shown
    assert "**R34** (T/X)" in md and "**R35** (T)" in md  # every claim of the task is listed
    r12 = [r for r in claim_rows(None, "T2.1") if r["id"] == "R12"][0]
    assert r12["verdict"] == "explanation (no verdict)"  # class X claims get no verdict
    assert "the reference calls it an MSE" in md and "the reference calls it an MSE" in html
    assert "Reference claims: 44 testable" in html


def test_single_seed_without_plus_minus_and_nan_runs_named(tmp_path):
    assert fmt_stat({"mean": 0.5, "std": None, "ci95": None, "n": 1, "nan": 0}) == "0.5 (n=1)"
    assert fmt_stat({"mean": 0.5, "std": 0.1, "ci95": 0.2, "n": 3, "nan": 1}) == "0.5 ± 0.2 (n=3, 1 NaN)"
    doc = _doc("T3.2", "denoise-losses", [], nan_runs=["corr-1e6/seed2: test_mse"])
    _write(tmp_path, doc)
    build_report(tmp_path)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "1 run(s) produced NaN" in md and "corr-1e6/seed2" in md
    assert "0.002 (n=1)" in md and "0.002 ±" not in md


def test_no_deltas_when_budget_or_data_differs(tmp_path):
    doc = _doc("T3.2", "denoise-losses", [], comparison=Comparison(True, False, "4 epochs, the reference 15"))
    _write(tmp_path, doc)
    build_report(tmp_path)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "the training budget differs from the reference's (4 epochs, the reference 15)" in md
    assert "not compared" in md and "-0.0005" not in md
    ok = tmp_path / "ok"
    _write(ok, _doc("T3.2", "denoise-losses", []))
    build_report(ok)
    assert "+0.0005" in (ok / "report" / "report.md").read_text()


def test_tables_from_data_with_bold(tmp_path):
    t = Table("Table 5", ["loss", "test MSE"], [["mae", 0.0015], ["mse", 0.0019]], bold=[(0, 1)], note="n=3")
    _write(tmp_path, _doc("T3.2", "denoise-losses", [], tables=[t]))
    build_report(tmp_path)
    md = (tmp_path / "report" / "report.md").read_text()
    html = (tmp_path / "report" / "index.html").read_text()
    assert "| mae | **0.0015** |" in md and "| mse | 0.0019 |" in md
    assert "<b>0.0015</b>" in html and "<td>0.0019</td>" in html


def test_a_claim_decided_by_another_studys_runs_counts_for_its_task(tmp_path):
    # R37 is a T4.1 claim, decided by T3.1's code-size sweep
    ae = _doc("T3.1", "mnist-autoencoder", [_finding("latent-matters-more", HOLDS, "R37")])
    gen = _doc("T4.1", "mnist-generative", [])
    rows = {r["id"]: r for r in claim_rows(gen, "T4.1", [ae, gen])}
    assert rows["R37"]["verdict"] == "holds" and "from mnist-autoencoder" in rows["R37"]["findings"][0]["section"]
    assert all(r["id"] != "R37" for r in claim_rows(ae, "T3.1", [ae, gen]))
    _write(tmp_path, ae)
    _write(tmp_path, gen)
    build_report(tmp_path)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "holds 1" in md.split("| T4.1 |")[1].split("\n")[0]


def test_report_rebuilds_from_a_committed_results_summary(tmp_path):
    """docs/results/ keeps summaries whose figures are file names beside them: the report is
    rebuilt from such a copy, figures included, without retraining."""
    import shutil

    from dltour.report import build_report

    src = Path(__file__).resolve().parents[1] / "docs" / "results" / "mnist-autoencoder" / "glorot-linear"
    shutil.copytree(src, tmp_path / "mnist-autoencoder")
    html, md = build_report(tmp_path)
    assert "data:image/png;base64," in html.read_text()
    assert "mnist-autoencoder" in md.read_text()
