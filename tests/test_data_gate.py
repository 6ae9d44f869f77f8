"""One central gate on data (issue 22 item 5): a reference claim is decided only on the data it is
about; on other data its findings are 'not applicable', shown and never counted."""

from __future__ import annotations

import json

from dltour.summary import Comparison, data_gate, Finding
from dltour.report import build_report
from dltour.report.build import claim_counts, claim_rows
from dltour.verdicts import NOT_APPLICABLE, compare

HOLDS = compare([1.0, 2.0, 3.0, 4.0], [2.0, 3.1, 4.3, 5.2], "less")


def _findings():
    return [Finding.of("test-depth3-is-best", "c", HOLDS, ref="R26"),
            Finding.of("test-beats-mean-image", "ours", HOLDS)]


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


def _fashion_like(folder):
    """Four valid IDX files of MNIST's shapes whose images are not MNIST's (seeded noise with
    structure: a Fashion-MNIST stand-in, which cannot be shipped here)."""
    import gzip
    import struct

    import numpy as np

    rng = np.random.default_rng(3)
    folder.mkdir()
    for name, n in (("train", 1000), ("t10k", 300)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        imgs = np.zeros((n, 28, 28), np.uint8)
        for i, c in enumerate(labels):  # a class-dependent band, so the models have something to learn
            imgs[i, 2 * c: 2 * c + 8, :] = rng.integers(120, 255, (8, 28))
        (folder / f"{name}-images-idx3-ubyte.gz").write_bytes(gzip.compress(
            struct.pack(">IIII", 2051, n, 28, 28) + imgs.tobytes()))
        (folder / f"{name}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 2049, n)
                                                                             + labels.tobytes()))
    return folder


def test_fashion_shaped_data_decides_no_mnist_claim(tmp_path):
    import dltour

    data = _fashion_like(tmp_path / "fashion")
    doc = dltour.run("mnist-autoencoder", profile="smoke", out=tmp_path / "out", executor="local",
                     set={"data.path": str(data), "data.train_subset": 1000, "data.test_subset": 300})
    refs = [f for f in doc["findings"] if f.get("ref")]
    assert refs and {f["verdict"] for f in refs} == {"not applicable"}
    assert all("about MNIST digits" in f["test"] for f in refs)
    assert doc["comparison"]["about"] is False
    text = " ".join(doc["notes"])
    assert "under-trained or not the model described" not in text and "R29" not in text
    assert "not MNIST" in text


def test_the_terminal_prints_a_not_applicable_finding(capsys):
    """``dltour run`` on data the claims are not about prints its findings: "not applicable" has a
    colour like every other verdict (it was a KeyError that stopped the command after its runs)."""
    from dltour import cli
    from dltour.verdicts import VERDICTS

    doc = {"study": "mnist-autoencoder", "task": "T3.1", "profile": "smoke", "metrics": {},
           "findings": [{"id": f"f{i}", "claim": "c", "verdict": v, "evidence": "", "test": "t", "ref": None}
                        for i, v in enumerate(VERDICTS)]}
    cli._print_summary(doc)
    printed = capsys.readouterr().out
    assert all(v in printed for v in VERDICTS)
