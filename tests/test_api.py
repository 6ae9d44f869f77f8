"""The Python API a notebook uses: dltour.run, dltour.reproduce, dltour.results."""

import importlib

import pytest

import dltour
from dltour import DltourError


def test_run_then_results_as_a_dataframe(tmp_path):
    doc = dltour.run("airline-lstm", profile="smoke", out=tmp_path, set={"epochs": 2}, device="cpu",
                     progress=False, log=lambda s: None)
    assert doc["study"] == "airline-lstm" and set(doc["metrics"]) >= {"w1", "w12"}
    importlib.import_module("dltour.summary")  # a submodule import must not shadow the API's results

    df = dltour.results(tmp_path)
    assert len(df) == 2 and set(df["variant"]) == {"w1", "w12"}
    for col in ("study", "variant", "seed", "profile", "device", "precision", "seconds", "test_rmse"):
        assert col in df.columns
    assert (df["precision"] == "fp32").all() and (df["status"] == "finished").all()
    row = df[df["variant"] == "w12"].iloc[0]
    assert row["test_rmse"] == doc["metrics"]["w12"]["test_rmse"]["mean"]  # one seed: the mean is the run


def test_reproduce_writes_the_report(tmp_path):
    res = dltour.reproduce(profile="smoke", out=tmp_path, only="T5.1", device="cpu", progress=False,
                           log=lambda s: None)
    assert res["skipped"] == [] and [d["study"] for d in res["summaries"]] == ["cartpole-td"]
    assert all(p.exists() for p in res["report"])
    assert set(dltour.results(tmp_path)["study"]) == {"cartpole-td"}


def test_user_errors_are_dltour_errors(tmp_path):
    with pytest.raises(DltourError, match="no ledger"):
        dltour.results(tmp_path)
    with pytest.raises(DltourError, match="unknown study"):
        dltour.run("nope", out=tmp_path)
    with pytest.raises(DltourError, match="seeds"):
        dltour.run("airline-lstm", out=tmp_path, seeds=0)
