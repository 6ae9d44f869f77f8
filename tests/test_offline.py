"""Offline (issue 22, 'done when'): `dltour reproduce --profile full` on a machine that cannot
download prints one line per study whose data it cannot get, starts no run for them, and writes a
report that names what was skipped and why."""

from __future__ import annotations

import sys

import pytest


def test_offline_full_reproduce_skips_with_one_line_each_and_no_run(tmp_path, monkeypatch, capsys):
    import pooch
    import requests

    def offline(*a, **k):
        raise requests.exceptions.ConnectionError("no network (test)")

    monkeypatch.setattr(pooch, "retrieve", offline)
    monkeypatch.setenv("DLTOUR_DATA", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("COLUMNS", "80")  # not a terminal, narrow: each line must still be one line
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["dltour", "reproduce", "--profile", "full", "--only", "T1.1,T3.1,T4.1,T4.2",
                                      "--out", str(out), "--no-results"])
    from dltour.cli import main

    with pytest.raises(SystemExit) as ex:
        main()
    assert ex.value.code == 0
    err = capsys.readouterr().err.splitlines()
    skipped = [ln for ln in err if ln.startswith("skipped ")]
    assert sorted(ln.split(":")[0] for ln in skipped) == sorted(
        f"skipped {s}" for s in ("vgg-transfer", "mnist-autoencoder", "mnist-generative", "colourise"))
    assert all("ConnectionError" in ln and "--from FILE" in ln and "--set data.path" in ln for ln in skipped)
    assert not any("Downloading" in ln or "Traceback" in ln for ln in err)
    from dltour.runner.ledger import Ledger

    assert Ledger(out / "ledger.sqlite").rows() == []  # no run started, none left running
    page = (out / "report" / "index.html").read_text()
    for s in ("vgg-transfer", "mnist-autoencoder", "mnist-generative", "colourise"):
        assert f"{s} was not run:" in page
    assert "is not available (offline or unreachable" in page
