"""The report from hand-made summaries: the reference's claims counted apart from ours, each with
its verdict and test; Ref notes; n = 1 without ±; NaN runs named; no deltas when data or budget
differ; tables rendered from data with the best cells in bold; the headline at the reference's
scale first, the demo's after it; Benjamini-Hochberg per scale; report/claims.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dltour.summary import Comparison, Table
from dltour.report import build_report
from dltour.report.build import claim_counts, claim_rows, combine, fmt_stat
from dltour.verdicts import compare, exceeds


def _finding(fid, decision, ref=None):
    return {"id": fid, "claim": f"claim {fid}", "verdict": decision.verdict, "evidence": decision.evidence,
            "test": decision.test, "source": "reference" if ref else "ours", "ref": ref, "section": "Table 5",
            "stats": decision.stats()}


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
    assert c == {"testable": 6, "holds": 1, "does not hold": 1, "inconclusive": 1, "not checked": 3,
                 "not applicable": 0}
    doc["comparison"] = {"data": False, "budget": False, "why": "the demo subset"}
    _write(tmp_path, doc)
    build_report(tmp_path, default_results=False)
    md = (tmp_path / "report" / "report.md").read_text()
    html = (tmp_path / "report" / "index.html").read_text()
    # nothing at the reference's scale; over all 49 claims at the demo's: 44 testable, the other tasks' not run
    assert "Reference claims at the reference's data and budget: 0 decided" in md
    assert ("**On the demo's data and budget: not a verdict on the reference.** Reference claims: 44 testable — "
            "holds 1, does not hold 1, inconclusive 1, not checked 41") in md
    assert "Our own checks (not the reference's claims)" in md and "`beats-noisy`" in md
    assert "demo analogue: holds 1" in md.split("| T3.2 |")[1].split("\n")[0]  # our check counted in its own column
    assert "paired t-test by seed" in md  # the test that decided a verdict is shown
    assert "**R34** (T/X)" in md and "**R35** (T)" in md  # every claim of the task is listed
    r12 = [r for r in claim_rows(None, "T2.1") if r["id"] == "R12"][0]
    assert r12["verdict"] == "explanation (no verdict)"  # class X claims get no verdict
    assert "the reference calls it an MSE" in md and "the reference calls it an MSE" in html
    assert "Reference claims: 44 testable" in html and "not a verdict on the reference" in html


def test_single_seed_without_plus_minus_and_nan_runs_named(tmp_path):
    assert fmt_stat({"mean": 0.5, "std": None, "ci95": None, "n": 1, "nan": 0}) == "0.5 (n=1)"
    assert fmt_stat({"mean": 0.5, "std": 0.1, "ci95": 0.2, "n": 3, "nan": 1}) == "0.50 ± 0.20 (n=3, 1 NaN)"
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
    assert rows["R37"]["verdict"] == "holds" and "from mnist-autoencoder" in rows["R37"]["findings"][0].section
    assert all(r["id"] != "R37" for r in claim_rows(ae, "T3.1", [ae, gen]))
    _write(tmp_path, ae)
    _write(tmp_path, gen)
    build_report(tmp_path, default_results=False)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "1 decided — holds 1" in md.split("| T4.1 |")[1].split("\n")[0]


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


# ---------------------------------------------------------------- issue 18: scale, BH, claims.json
DEMO = Comparison(False, False, "the embedded demo subset")


def _stat_finding(fid, verdict, p, ref, *, margin=None, test="paired t-test by seed (n=3 pairs): t = 5.1"):
    """A finding as Finding.as_dict writes it since issue 18, with its numbers in ``stats``."""
    return {"id": fid, "claim": f"claim {fid}", "verdict": verdict, "evidence": "a 1 ± 0.1 (sd, n=3)",
            "test": test, "source": "reference" if ref else "ours", "ref": ref, "section": "",
            "holds": {"holds": True, "does not hold": False}.get(verdict),
            "stats": {"p": p, "effect": -0.5, "effect_ci": [-0.9, -0.1], "unit": "test MSE", "g": -1.9,
                      "g_ci": [-3.5, -0.2], "n_runs": 3, "margin": margin,
                      "margin_source": "±10% of the reference's 0.5" if margin else "",
                      "flip_margin": 0.95 if margin else None, "reasons": []}}


def test_bh_turns_a_borderline_holds_inconclusive_in_the_counts(tmp_path):
    """p = 0.04 among four larger p's: BH-adjusted 0.04 x 5 = 0.2, so the 'holds' counts as inconclusive; a
    deterministic finding (no p) keeps its verdict; an equivalence 'does not hold' (CI outside the
    margin, its TOST p large) is not turned by BH."""
    doc = _doc("T3.2", "denoise-losses", [
        _stat_finding("borderline", "holds", 0.04, "R30"),
        _stat_finding("b", "inconclusive", 0.2, "R31"),
        _stat_finding("c", "inconclusive", 0.3, "R32"),
        _stat_finding("d", "inconclusive", 0.5, "R33"),
        _stat_finding("exact", "holds", None, "R34", test="deterministic: parameter counts compared exactly"),
        _stat_finding("equiv", "does not hold", 0.9, "R35", margin=0.05, test="TOST, paired by seed (n=3 pairs)")])
    _write(tmp_path, doc)  # data and budget the reference's: reference scale
    build_report(tmp_path, default_results=False)
    md = (tmp_path / "report" / "report.md").read_text()
    assert ("Reference claims at the reference's data and budget: 6 decided under the current rules — holds 1, does not hold 1, "
            "inconclusive 4 (after Benjamini–Hochberg)") in md
    assert "inconclusive after BH (unadjusted: holds)" in md
    assert "p = 0.04, BH-adjusted p = 0.2" in md
    row = [line for line in md.splitlines() if line.startswith("| R30 (T3.2) |")][0]
    assert "inconclusive after BH (unadjusted: holds)" in row
    data = json.loads((tmp_path / "report" / "claims.json").read_text())
    by = {e["finding"]: e for e in data["findings"]}
    assert by["borderline"]["verdict"] == "inconclusive" and by["borderline"]["verdict_unadjusted"] == "holds"
    assert by["borderline"]["p_adjusted"] == pytest.approx(0.2)
    assert by["exact"]["verdict"] == "holds" and by["exact"]["p_adjusted"] is None
    assert by["equiv"]["verdict"] == "does not hold" and by["equiv"]["margin_source"].startswith("±10%")
    # alone, the same finding keeps its verdict: BH over one p is that p
    alone = tmp_path / "alone"
    _write(alone, _doc("T3.2", "denoise-losses", [_stat_finding("borderline", "holds", 0.04, "R30")]))
    build_report(alone, default_results=False)
    assert "1 decided — holds 1, does not hold 0, inconclusive 0" in (alone / "report" / "report.md").read_text()


def test_bh_is_per_scale(tmp_path):
    """The demo's p-values do not dilute the reference scale's, nor the other way round."""
    ref = _doc("T3.2", "denoise-losses", [_stat_finding("borderline", "holds", 0.04, "R30")])
    demo = _doc("T4.2", "colourise", [_stat_finding(f"x{i}", "inconclusive", 0.5, r)
                                       for i, r in enumerate(["R42", "R43", "R44"])], comparison=DEMO)
    _write(tmp_path, ref)
    _write(tmp_path, demo)
    build_report(tmp_path, default_results=False)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Reference claims at the reference's data and budget: 1 decided under the current rules — holds 1" in md


def test_headline_opens_with_the_reference_scale_from_the_pack(tmp_path):
    """The committed results pack decides T2.1, T3.1 and T4.1 at the reference's scale; the demo
    run's own verdicts follow, labelled, and a claim decided at both shows both side by side."""
    demo = _doc("T3.1", "mnist-autoencoder", [_stat_finding("deeper-beats-linear", "does not hold", 0.001, "R27")],
                comparison=DEMO)
    _write(tmp_path, demo)
    build_report(tmp_path)
    md = (tmp_path / "report" / "report.md").read_text()
    html = (tmp_path / "report" / "index.html").read_text()
    head = md.index("Reference claims at the reference's data and budget: ")
    assert head < md.index("On the demo's data and budget: not a verdict on the reference")
    import re

    line = md[head:].split("\n")[0]
    m = re.match(r"Reference claims at the reference's data and budget: (\d+) decided under the current rules", line)
    legacy = re.search(r"; (\d+) more decided under an earlier commit's rules", line)
    assert m and int(m.group(1)) + int(legacy.group(1) if legacy else 0) >= 13  # T2.1, T3.1 and T4.1's testable claims at least
    assert html.index("Reference claims at the reference") < html.index("On the demo's data and budget")
    row = [line for line in md.splitlines() if line.startswith("| R27 (T3.1) |")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2].startswith("holds") and cells[5] == "reference scale; demo: does not hold"  # both scales
    assert "results pack: docs/results/mnist-autoencoder/recomputed, commit 44146b1" in md
    assert "· demo analogue ·" in md and "· reference scale ·" in md  # every finding row shows its scale
    assert "results pack: docs/results/mnist-generative/recomputed, commit 5845a15" in md  # T4.1 recomputed
    assert not legacy  # every pack default is decided under the current rules, with per-run values


def test_claims_json_lists_the_reference_scale_claims_of_the_pack(tmp_path):
    build_report(tmp_path)
    data = json.loads((tmp_path / "report" / "claims.json").read_text())
    keys = {"ref", "finding", "claim", "scale", "data", "budget", "verdict", "verdict_unadjusted", "p",
            "p_adjusted", "effect", "n_runs", "margin", "margin_source", "flip_margin", "source"}
    assert data["findings"] and all(keys <= set(e) for e in data["findings"])
    assert all(set(e["effect"]) == {"value", "ci", "unit", "g", "g_ci"} for e in data["findings"])
    ref = {e["ref"] for e in data["findings"] if e["scale"] == "reference"}
    assert ref >= {"R10", "R11", "R13", "R26", "R27", "R28", "R36", "R37", "R38", "R39", "R40", "R41"}
    e = [e for e in data["findings"] if e["ref"] == "R11"][0]
    assert e["source"].startswith("results pack: docs/results/airline-lstm/full, commit a3131b6")
    assert e["n_runs"] == 3 and e["p_adjusted"] is not None and None not in e["effect"]["ci"]
    assert "AirPassengers" in e["data"] and e["scale_label"] == "reference scale"


def test_reduced_scale_is_not_the_reference(tmp_path):
    """The full profile below the reference's data or budget is its own scale ('reduced'): its own
    line of counts and BH family, never counted at the reference's scale nor mixed with the demo's;
    a demo-profile summary on the reference's data stays the demo's."""
    doc = _doc("T3.2", "denoise-losses", [_stat_finding("mae", "holds", 0.001, "R30")],
               comparison=Comparison(True, False, "budget differs: epochs 4 < 15"))
    _write(tmp_path, {**doc, "profile": "full"})
    build_report(tmp_path, default_results=False)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Reference claims at the reference's data and budget: 0 decided" in md
    line = md.split("**Below the reference's scale, not a verdict at it.**")[1].split("\n")[0]
    assert "1 decided under the current rules — holds 1, does not hold 0, inconclusive 0" in line
    assert "this run: " in line and "· reduced scale ·" in md
    assert "holds 0" in md.split("On the demo's data and budget")[1].split("\n")[0]  # not the demo's
    row = [x for x in md.splitlines() if x.startswith("| R30 (T3.2) |")][0]
    assert row.rstrip(" |").endswith("reduced scale")
    data = json.loads((tmp_path / "report" / "claims.json").read_text())
    assert data["findings"][0]["scale"] == "reduced" and data["findings"][0]["scale_label"] == "reduced scale"
    assert data["findings"][0]["budget"] == "less than the reference's"
    # the demo profile on the reference's data: the demo's scale
    demo = tmp_path / "demo"
    _write(demo, doc)
    build_report(demo, default_results=False)
    md = (demo / "report" / "report.md").read_text()
    assert "at reduced scale (the full profile with a smaller budget or a stand-in dataset): no summary" in md
    assert "holds 1" in md.split("On the demo's data and budget")[1].split("\n")[0]
    assert json.loads((demo / "report" / "claims.json").read_text())["findings"][0]["scale"] == "demo"


def test_a_scale_that_could_not_check_a_claim_does_not_hide_a_smaller_scales_verdict(tmp_path):
    """vgg-transfer's CPU run at reduced scale has no ImageNet variants: R1 is 'not checked' there and
    decided by the demo. The row shows the demo's verdict and says the reduced scale did not check it."""
    _write(tmp_path / "out", _doc("T3.2", "denoise-losses", [_stat_finding("demo", "holds", 0.001, "R30")],
                                  comparison=DEMO))
    pk = tmp_path / "stand"
    nc = {**_stat_finding("stand", "not checked", None, "R30"), "holds": None, "test": "not checked",
          "evidence": "needs the variants vgg16-imagenet, which did not run here",
          "stats": {"p": None, "effect": None, "effect_ci": None, "unit": "", "g": None, "g_ci": None, "n_runs": None,
                    "margin": None, "margin_source": "", "flip_margin": None, "reasons": []}}
    _write(pk, {**_doc("T3.2", "denoise-losses", [nc], comparison=Comparison(False, True, "data differs: CIFAR-10")),
                "profile": "full"})
    (pk / "pack.json").write_text(json.dumps({"entries": [
        {"study": "denoise-losses", "path": "denoise-losses", "default": True, "commit": "abc1234",
         "study_version": 2, "data": "d", "budget": "b", "machine": "m", "wall_seconds": 1, "command": "c"}]}))
    build_report(tmp_path / "out", results=[pk], default_results=False)
    md = (tmp_path / "out" / "report" / "report.md").read_text()
    cells = [c.strip() for c in [x for x in md.splitlines() if x.startswith("| R30 (T3.2) |")][0].strip("|").split("|")]
    assert cells[2] == "holds" and cells[5] == "demo analogue; reduced: not checked"
    # with the demo's verdict also 'not checked', the largest scale's row stays
    out2 = tmp_path / "out2"
    _write(out2, _doc("T3.2", "denoise-losses", [{**nc, "id": "demo"}], comparison=DEMO))
    build_report(out2, results=[pk], default_results=False)
    md = (out2 / "report" / "report.md").read_text()
    cells = [c.strip() for c in [x for x in md.splitlines() if x.startswith("| R30 (T3.2) |")][0].strip("|").split("|")]
    assert cells[2] == "not checked" and cells[5] == "analogue on other data; demo: not checked"


def test_a_claim_at_three_scales_shows_the_largest_and_the_others_beside_it(tmp_path):
    """R30 decided at the reference's scale (a --results pack), at reduced scale (another pack's
    CIFAR-10 stand-in) and by this run's demo: the row shows the reference's verdict and the other two
    beside it; each scale is its own BH family (three p = 0.04 stay 'holds', none dilutes another)."""
    _write(tmp_path / "out", _doc("T3.2", "denoise-losses", [_stat_finding("demo", "does not hold", 0.04, "R30")],
                                  comparison=DEMO))
    packs = []
    for name, cmp, verdict in (("ref", Comparison(True, True), "holds"),
                               ("stand", Comparison(False, True, "data differs: CIFAR-10"), "inconclusive")):
        pk = tmp_path / name
        _write(pk, {**_doc("T3.2", "denoise-losses", [_stat_finding(name, verdict, 0.04 if verdict == "holds" else 0.3,
                                                                     "R30")], comparison=cmp), "profile": "full"})
        (pk / "pack.json").write_text(json.dumps({"entries": [
            {"study": "denoise-losses", "path": "denoise-losses", "default": True, "commit": "abc1234",
             "study_version": 2, "data": name, "budget": "b", "machine": "m", "wall_seconds": 1, "command": "c"}]}))
        packs.append(pk)
    build_report(tmp_path / "out", results=packs, default_results=False)
    md = (tmp_path / "out" / "report" / "report.md").read_text()
    row = [x for x in md.splitlines() if x.startswith("| R30 (T3.2) |")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "holds" and cells[5] == "reference scale; reduced: inconclusive; demo: does not hold"
    glance = [x for x in md.splitlines() if x.startswith("| T3.2 | denoise-losses |")][0]
    assert glance.count("1 decided") == 2 and "holds 0, does not hold 1" in glance
    data = json.loads((tmp_path / "out" / "report" / "claims.json").read_text())
    assert [(e["scale"], e["verdict"]) for e in data["findings"]] == [
        ("reference", "holds"), ("reduced", "inconclusive"), ("demo", "does not hold")]


def test_markdown_escapes_text_from_summaries(tmp_path):
    f = _stat_finding("x", "holds", 0.001, "R30")
    f["evidence"] = "<script>alert(1)</script> & more"
    doc = _doc("T3.2", "denoise-losses", [f])
    doc["notes"] = ["<img src=x onerror=alert(1)>"]
    _write(tmp_path, doc)
    build_report(tmp_path, default_results=False)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in md
    assert "<img src=x" not in md


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.run([sys.executable, "-m", "dltour.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_report_with_a_relative_out_includes_the_pack_unless_told(tmp_path):
    _write(tmp_path / "rel", _doc("T3.2", "denoise-losses", [_stat_finding("x", "holds", 0.001, "R30")],
                                  comparison=DEMO))
    r = _cli("report", "--out", "rel", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "rel" / "report" / "report.md").read_text()
    from dltour.report.pack import default_pack_path, read_pack

    from dltour.report.build import REDUCED, REFERENCE, scale_of

    pk = read_pack(default_pack_path(), "docs/results")
    # this run's demo summary of denoise-losses supersedes no pack entry: the pack's are at the
    # reference's or at reduced scale (the full profile on CIFAR-10 for CIFAR-100), this run's at the demo's
    assert all(scale_of(e.study_summary())["scale"] in (REFERENCE, REDUCED) for e in pk.defaults())
    assert f"docs/results/pack.json: {len(pk.defaults())} of {len(pk.entries)} entries included" in md
    assert "not included: superseded by this run's" not in md
    assert "## T2.1 airline-lstm" in md and (tmp_path / "rel" / "report" / "claims.json").is_file()
    assert "this run: rel/denoise-losses/summary.json" in md
    import re

    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)  # every figure link, the pack's too, relative and there
    assert any("docs/results/" in x for x in links)
    assert all(not x.startswith("/") and (tmp_path / "rel" / "report" / x).is_file() for x in links), links
    r = _cli("report", "--out", "rel", "--no-results", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "rel" / "report" / "report.md").read_text()
    assert "the project's results pack left out (--no-results)" in md
    assert "docs/results/airline-lstm" not in md and "## T2.1" not in md
    assert "Reference claims at the reference's data and budget: 0 decided" in md
    data = json.loads((tmp_path / "rel" / "report" / "claims.json").read_text())
    assert {e["scale"] for e in data["findings"]} == {"demo"}
    r = _cli("report", "--out", "rel", "--results", "nowhere", cwd=tmp_path)
    assert r.returncode == 2 and "no pack.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_claims_table_script_lists_every_r_number(tmp_path):
    """scripts/claims_table.py: every R-number, its findings, test, unit of replication and margin."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "claims_table.py"
    spec = importlib.util.spec_from_file_location("claims_table", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    doc = _doc("T3.2", "denoise-losses", [
        _stat_finding("equiv", "holds", 0.01, "R31", margin=0.05, test="TOST, paired by seed (n=3 pairs): d 0.01")])
    _write(tmp_path, doc)
    build_report(tmp_path, default_results=False)
    out = tmp_path / "claims.md"
    assert mod.main([str(tmp_path / "report" / "claims.json"), "--out", str(out)]) == 0
    md = out.read_text()
    from dltour.claims import CLAIMS

    assert all(f"| {cid} |" in md for cid in CLAIMS)
    row = [line for line in md.splitlines() if line.startswith("| R31 |")][0]
    assert "`equiv` (denoise-losses)" in row and "| TOST, paired by seed (n=3 pairs) |" in row
    assert "3 seeds (independent runs)" in row and "±0.05 test MSE (±10% of the reference's 0.5)" in row
    assert mod.first_clause("paired t-test (n=3; exact): p = 0.1") == "paired t-test (n=3; exact)"


@pytest.mark.parametrize("planted", ["../../etc/hostname", "/etc/hostname", "id_rsa", "notes.txt"])
def test_a_planted_summary_cannot_embed_other_files(tmp_path, planted):
    """A summary planted in a shared --out that lists a private file: the report embeds only PNG
    images that lie inside the study's folder (issue 23, item 2)."""
    from dltour import DltourError

    doc = _doc("T3.2", "denoise-losses", [])
    doc["figures"] = [planted]
    _write(tmp_path, doc)
    (tmp_path / "denoise-losses" / Path(planted).name).write_text("secret")
    with pytest.raises(DltourError, match="refusing"):
        build_report(tmp_path, default_results=False)
    assert not (tmp_path / "report" / "index.html").exists()


def test_a_png_named_figure_that_links_out_of_the_folder_is_refused(tmp_path):
    from dltour import DltourError

    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n" + b"private")
    doc = _doc("T3.2", "denoise-losses", [])
    doc["figures"] = ["fig.png"]
    _write(tmp_path / "out", doc)
    (tmp_path / "out" / "denoise-losses" / "fig.png").symlink_to(secret)
    with pytest.raises(DltourError, match="link out of its folder"):
        build_report(tmp_path / "out", default_results=False)
