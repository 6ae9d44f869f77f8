"""The report at a glance (issue 21 item 2): numbers rounded by their uncertainty, the claims as one
table with details, the forest plot, captions from the reference's figure titles, contents and
back-to-top links, the data section."""

from __future__ import annotations

import json
import re

import pytest

from dltour.claims import CLAIMS, FIGURES, figure_caption
from dltour.summary import Comparison
from dltour.report import build_report
from dltour.report.build import fmt_stat
from dltour.report.forest import forest_rows
from dltour.verdicts import compare, equivalent, fmt_effect, fmt_pm


@pytest.mark.parametrize("mean, spread, text", [
    (68.2, 4.414, "68.2 ± 4.4"),          # the example: the sd had more digits than the mean
    (60.0, 0.2, "60.00 ± 0.20"),          # 2 significant digits of the spread, the mean to the same decimal
    (57.83, 1.436, "57.8 ± 1.4"),
    (123.456, 9.97, "123 ± 10"),          # 9.97 rounds up to 10: one decimal fewer
    (1234.5, 123.4, "1230 ± 120"),
    (1.2e6, 0.0, "1.2e+06"),              # deterministic: no "± 0"
    (0.5, None, "0.5"),
    (0.00336, 0.00008, "3.360e-03 ± 8.0e-05"),
])
def test_numbers_are_rounded_by_their_uncertainty(mean, spread, text):
    assert fmt_pm(mean, spread) == text


def test_a_deterministic_metric_prints_without_plus_minus_zero():
    assert fmt_stat({"mean": 1.2e6, "std": 0.0, "ci95": 0.0, "n": 3, "nan": 0}) == "1.2e+06 (n=3)"
    assert fmt_stat({"mean": 68.2, "std": 1.7, "ci95": 4.414, "n": 3, "nan": 0}) == "68.2 ± 4.4 (n=3)"


def test_effects_print_with_their_ci_rounded_alike():
    assert fmt_effect(-12.3456, (-20.1, -4.2), "passengers") == "-12.3 (95% CI -20.1 to -4.2) passengers"
    assert fmt_effect(0.1234, (0.05, 0.19), "RMSE") == "+0.123 (95% CI 0.050 to 0.190) RMSE"
    assert fmt_effect(3.0, (3.0, 3.0)) == "+3"


def test_captions_come_from_the_reference_figure_titles():
    assert figure_caption("fig14_mse_by_architecture.png") == f"After the reference's Figure 14: {FIGURES[14]}"
    assert "Figure 7" in figure_caption("fig7b_vividness.png") and "(ours)" in figure_caption("fig7b_vividness.png")
    assert "the reference has none like it" in figure_caption("inception_scores.png")
    assert figure_caption("fig99_x.png").endswith("(our figure; the reference has none like it).")


def _f(fid, ref, d):
    return {"id": fid, "ref": ref, "verdict": d.verdict, "stats": d.stats()}


def test_forest_rows_point_the_claimed_direction_right_and_draw_margins():
    less = compare([1.0, 2.0, 3.0, 4.0], [2.0, 3.1, 4.3, 5.2], "less")      # a < b holds, g < 0
    greater = compare([2.0, 3.1, 4.3, 5.2], [1.0, 2.0, 3.0, 4.0], "greater")
    eq = equivalent([1.0, 1.1, 0.9, 1.05], [1.02, 1.08, 0.93, 1.0], 0.3, margin_source="test")
    rows, left = forest_rows([_f("a", "R1", less), _f("b", "R2", greater), _f("c", "R3", eq),
                              {"id": "d", "ref": "R4", "verdict": "holds"}])
    assert left == 1  # no stats: not drawn, counted
    a, b, c = rows
    assert less.g < 0 and a["g"] > 0 and a["lo"] <= a["g"] <= a["hi"]
    assert b["g"] == pytest.approx(greater.g) and b["g"] > 0
    assert c["band"] == pytest.approx(abs(0.3 * eq.g / eq.effect)) and c["kind"] == "equivalence"


def _doc(study, task, findings, comparison):
    return {"study": study, "task": task, "title": "t", "profile": "demo", "comparable": comparison.ok,
            "comparison": {"data": comparison.data, "budget": comparison.budget, "why": comparison.why},
            "config": {}, "metrics": {"a": {"m": {"mean": 68.2, "std": 1.7, "ci95": 4.414, "n": 3, "nan": 0}}},
            "variant_order": ["a"], "headline_metrics": ["m"], "reference": [], "findings": findings,
            "figures": ["fig13_error_by_window.png"], "tables": [], "notes": [], "runs": 3, "seconds": 1.0,
            "nan_runs": []}


def _png(path):
    from dltour.plots import new_figure, save

    fig, ax = new_figure(2, 2)
    ax.plot([0, 1], [0, 1])
    save(fig, path.parent, path.name)


def test_report_has_claims_table_forest_plot_toc_captions_and_data(tmp_path):
    holds = compare([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 3.1, 4.3, 5.2, 6.4], "less", unit="RMSE")
    fails = compare([2.0, 3.1, 4.3, 5.2, 6.4], [1.0, 2.0, 3.0, 4.0, 5.0], "less", unit="RMSE")
    findings = [{**_f("window-trend", "R10", holds), "claim": "c", "evidence": "E-TEN", "test": "T-TEN",
                 "source": "reference", "section": ""},
                {**_f("lstm-vs-naive", "R11", fails), "claim": "c", "evidence": "E-ELEVEN", "test": "T-ELEVEN",
                 "source": "reference", "section": ""}]
    doc = _doc("airline-lstm", "T2.1", findings, Comparison(False, False, "demo"))
    (tmp_path / "airline-lstm").mkdir()
    (tmp_path / "airline-lstm" / "summary.json").write_text(json.dumps(doc))
    _png(tmp_path / "airline-lstm" / "fig13_error_by_window.png")
    build_report(tmp_path, default_results=False)
    page = (tmp_path / "report" / "index.html").read_text()
    md = (tmp_path / "report" / "report.md").read_text()
    # one claims table: a row per reference claim, its badge, effect with CI, n and scale
    table = page[page.index('<table class="claims">'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == len(CLAIMS) + 1
    row10 = re.search(r"<tr><td>R10<br>.*?</tr>", table, re.S).group(0)
    assert 'class="badge b-holds"' in row10 and "(95% CI" in row10 and "RMSE" in row10 and "demo analogue" in row10
    assert "<details><summary>" in row10 and "E-TEN" in row10 and "T-TEN" in row10  # evidence behind the row
    row11 = re.search(r"<tr><td>R11<br>.*?</tr>", table, re.S).group(0)
    assert 'class="badge b-fails"' in row11
    # the forest plot, embedded, and written beside the report
    assert (tmp_path / "report" / "forest_demo.png").is_file()
    assert not (tmp_path / "report" / "forest_reference.png").exists()
    assert 'alt="Forest plot of the reference claims' in page and page.count("data:image/png;base64,") == 2
    assert "](forest_demo.png)" in md
    # contents and back-to-top, captions from the reference's titles, rounded numbers, data section
    for anchor in ("claims", "forest", "studies", "data", "run", "airline-lstm"):
        assert f'href="#{anchor}"' in page and f'id="{anchor}"' in page
    assert page.count('href="#top"') >= 6
    assert FIGURES[13] in page and FIGURES[13] in md
    assert "68.2 ± 4.4 (n=3)" in page and "4.414" not in page
    assert 'id="data"' in page and "mnist_demo.npz" in page and "CC BY-SA 3.0" in page
    assert "## Data" in md and "mnist_demo.npz" in md


def test_an_older_summary_without_direction_is_oriented_by_its_verdict():
    d = compare([1.0, 2.0, 3.0, 4.0], [2.0, 3.1, 4.3, 5.2], "less")  # holds with a negative effect
    old = {"id": "x", "ref": "R11", "verdict": "holds", "stats": {k: v for k, v in d.stats().items()
                                                                   if k != "direction"}}
    undecided = {"id": "y", "ref": "R26", "verdict": "inconclusive",
                 "stats": {k: v for k, v in d.stats().items() if k != "direction"}}
    (a, b), _ = forest_rows([old, undecided])
    assert a["g"] > 0 and a["kind"] == "directed"
    assert b["g"] < 0 and b["kind"] == "unknown"  # not decided, no direction recorded: drawn as is, marked


def test_no_sideways_overflow_at_1280_px_in_a_real_browser(tmp_path):
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        pytest.skip("no headless Chromium on this machine (apt-get install chromium)")
    test_report_has_claims_table_forest_plot_toc_captions_and_data(tmp_path)
    doc = json.loads((tmp_path / "airline-lstm" / "summary.json").read_text())
    doc["notes"] = ["a long unbroken token " + "x" * 400]  # a path or a hash that must wrap, not widen the page
    (tmp_path / "airline-lstm" / "summary.json").write_text(json.dumps(doc))
    build_report(tmp_path)  # with the project's results pack: a contents bar of many studies, wide pack tables
    page = (tmp_path / "report" / "index.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", "<script>document.title = 'SW=' + "
                                              "document.documentElement.scrollWidth;</script></body>"))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
                          "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    width = int(re.search(r"<title>SW=(\d+)</title>", dom).group(1))
    assert width <= 1280


def test_inline_html_cannot_break_out_of_a_link():
    from dltour.report.datasets import inline_html

    out = inline_html('see https://x.org/a"onmouseover="alert(1) and <script>x</script>')
    assert 'onmouseover="' not in out and "<script>" not in out
    hrefs = re.findall(r'<a href="([^"]*)">', out)
    assert hrefs and all('"' not in h and "<" not in h for h in hrefs)
    assert out.count('"') == 2 * len(hrefs)  # the only raw quotes are the href delimiters
