"""``--track mlflow|tensorboard``: what dltour.tracking writes, read back with each library's own
reader (``mlflow.MlflowClient`` and TensorBoard's ``EventAccumulator``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from dltour import DltourError
from dltour.summary import StudySummary
from dltour.tracking import TRACKERS, Tracker, make_tracker

CONFIG = {
    "study": "mnist_autoencoder",
    "epochs": 3,
    "data": {"path": Path("/data/mnist"), "splits": [0.8, 0.2], "extra": None},
    "model": {"widths": [64, 32], "name": "ae"},
    "notes": "x" * 7000,  # longer than MLflow's param value limit
}
HISTORY = [
    {"epoch": 1.0, "loss": 0.9, "val_loss": 1.0},
    {"epoch": 2.0, "loss": 0.5, "val_loss": 0.7},
    {"epoch": 3.0, "loss": 0.3, "val_loss": 0.6},
]
METRICS = {"test_loss": 0.55, "psnr": 21.5, "ssim": float("nan")}
DOC = StudySummary.from_dict({
    "study": "mnist_autoencoder",
    "metrics": {
        "baseline": {"psnr": {"mean": 21.0, "std": 0.5, "ci95": 1.2, "n": 3, "nan": 0}},
        "wide (x2)": {
            "psnr": {"mean": 22.5, "std": 0.4, "ci95": 1.0, "n": 3, "nan": 0},
            "ssim": {"mean": None, "std": None, "ci95": None, "n": 0, "nan": 3},
        },
    },
})


def _run_kwargs(variant: str = "baseline", seed: int = 0) -> dict:
    return dict(study="mnist_autoencoder", variant=variant, seed=seed, run_id=f"r-{variant}-{seed}",
                profile="smoke", device="cpu", precision="fp32", config=CONFIG, history=HISTORY,
                metrics=METRICS)


@pytest.fixture
def figure(tmp_path) -> Path:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.0, 0.8), dpi=40)
    ax.plot([0, 1], [1, 0])
    path = tmp_path / "fig_psnr.png"
    fig.savefig(path)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------ generic
def test_unknown_kind_is_a_one_line_error(tmp_path):
    with pytest.raises(DltourError) as info:
        make_tracker("wandb", tmp_path)
    message = str(info.value)
    assert "\n" not in message and "wandb" in message
    assert all(kind in message for kind in TRACKERS)


@pytest.mark.parametrize("kind", [None, "none", "None"])
def test_none_is_a_no_op(tmp_path, kind, figure):
    tracker = make_tracker(kind, tmp_path / "out")
    assert type(tracker) is Tracker
    tracker.log_run(**_run_kwargs())
    tracker.log_summary(study="s", profile="smoke", doc=DOC, figures=[figure])
    tracker.close()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("kind", "module", "lib"), [("mlflow", "mlflow", "MLflow"),
                                                      ("tensorboard", "tensorboard", "TensorBoard")])
def test_missing_library_message(tmp_path, monkeypatch, kind, module, lib):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` fail
    with pytest.raises(DltourError) as info:
        make_tracker(kind, tmp_path)
    assert str(info.value) == f"--track {kind} needs {lib}: pip install 'dltour[tracking]'"


# ------------------------------------------------------------------------------------- MLflow
@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory) -> Path:
    """One migrated, empty SQLite store (creating one runs MLflow's migrations: ~10 s on a busy CPU)."""
    pytest.importorskip("mlflow", reason="MLflow not installed (pip install 'dltour[tracking]')")
    pytest.importorskip("sqlalchemy", reason="the full mlflow package is not installed (pip install 'dltour[tracking]')")
    out = tmp_path_factory.mktemp("empty-store")
    make_tracker("mlflow", out).close()
    return out / "mlflow.db"


@pytest.fixture
def mlflow_env(monkeypatch, _empty_store):
    """Returns ``seed(out)``: puts a copy of an empty migrated store at ``<out>/mlflow.db``."""
    import shutil

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # a file store the user names gets the opt-out for the process; undo that after each test
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    logging.getLogger("mlflow").setLevel(logging.ERROR)

    def seed(out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_empty_store, out / "mlflow.db")
        return out

    return seed


def _sqlite_uri(out: Path) -> str:
    return "sqlite:///" + (out.resolve() / "mlflow.db").as_posix()


def _client(tracker):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=tracker.uri)


def _only_run(client, name: str, study: str = "mnist_autoencoder"):
    (exp,) = [e for e in client.search_experiments() if e.name == f"dltour/{study}"]
    runs = client.search_runs([exp.experiment_id], filter_string=f"attributes.run_name = '{name}'")
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


def test_mlflow_default_store_is_sqlite_without_any_env_var(tmp_path, mlflow_env):
    import os

    with make_tracker("mlflow", tmp_path / "out") as tracker:
        tracker.log_run(**_run_kwargs())
    assert tracker.uri == _sqlite_uri(tmp_path / "out") and tracker.uri.startswith("sqlite:////")
    assert (tmp_path / "out" / "mlflow.db").is_file() and not (tmp_path / "out" / "mlruns").exists()
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=_sqlite_uri(tmp_path / "out"))  # what a user opens
    assert _only_run(client, "baseline/seed0").data.params["epochs"] == "3"


def test_mlflow_run_params_tags_history_and_final_metrics(tmp_path, mlflow_env):
    with make_tracker("mlflow", mlflow_env(tmp_path)) as tracker:
        tracker.log_run(**_run_kwargs())
        tracker.log_run(**_run_kwargs(seed=1))  # same experiment, same variant parent
    client = _client(tracker)
    run = _only_run(client, "baseline/seed0")
    assert run.info.status == "FINISHED"
    # the two seeds, their variant's run and the study's run
    assert len(client.search_runs([run.info.experiment_id])) == 4

    tags = run.data.tags
    assert {k: tags[k] for k in ("study", "variant", "seed", "run_id", "profile", "device",
                                 "precision")} == {
        "study": "mnist_autoencoder", "variant": "baseline", "seed": "0", "run_id": "r-baseline-0",
        "profile": "smoke", "device": "cpu", "precision": "fp32"}

    params = run.data.params
    assert params["epochs"] == "3" and params["data.path"] == "/data/mnist"
    assert params["data.splits"] == "[0.8, 0.2]" and params["model.widths"] == "[64, 32]"
    assert params["data.extra"] == "None"
    assert len(params["notes"]) == 6000 and params["notes"].endswith("...")

    for key in ("loss", "val_loss"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
            (int(row["epoch"]), row[key]) for row in HISTORY]
    assert "epoch" not in run.data.metrics
    assert run.data.metrics["final/test_loss"] == 0.55 and run.data.metrics["final/psnr"] == 21.5
    assert "final/ssim" not in run.data.metrics  # NaN is not sent ...
    assert tags["skipped_nonfinite"] == "final/ssim"  # ... but recorded


def test_mlflow_runs_nest_study_variant_seed(tmp_path, mlflow_env):
    with make_tracker("mlflow", mlflow_env(tmp_path)) as tracker:
        for variant in ("baseline", "wide (x2)"):
            for seed in (0, 1):
                tracker.log_run(**_run_kwargs(variant, seed))
        tracker.log_summary(study="mnist_autoencoder", profile="smoke", doc=DOC, figures=[])
    client = _client(tracker)
    exp = client.get_experiment_by_name("dltour/mnist_autoencoder")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"mnist_autoencoder", "baseline", "wide (x2)", "summary", "baseline/seed0", "baseline/seed1",
                         "wide (x2)/seed0", "wide (x2)/seed1"}
    parent = {name: r.data.tags.get("mlflow.parentRunId") for name, r in runs.items()}
    study_id = runs["mnist_autoencoder"].info.run_id
    assert parent["mnist_autoencoder"] is None
    assert parent["baseline"] == parent["wide (x2)"] == parent["summary"] == study_id
    for variant in ("baseline", "wide (x2)"):
        for seed in (0, 1):
            assert parent[f"{variant}/seed{seed}"] == runs[variant].info.run_id
    assert {r.data.tags["dltour.level"] for r in runs.values()} == {"study", "variant", "seed", "summary"}
    # the summary ends the parents
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    # the variants' runs hold the summary's statistics, side by side in the runs table
    assert runs["baseline"].data.metrics["psnr.mean"] == 21.0
    assert runs["wide (x2)"].data.metrics["psnr.ci95_high"] == pytest.approx(23.5)


def test_mlflow_parents_without_a_summary_end_killed(tmp_path, mlflow_env):
    with make_tracker("mlflow", mlflow_env(tmp_path)) as tracker:
        tracker.log_run(**_run_kwargs())
    client = _client(tracker)
    assert _only_run(client, "mnist_autoencoder").info.status == "KILLED"
    assert _only_run(client, "baseline").info.status == "KILLED"
    assert _only_run(client, "baseline/seed0").info.status == "FINISHED"


def test_mlflow_training_seconds_is_a_metric_and_the_run_spans_training(tmp_path, mlflow_env):
    from dltour.runner.ledger import Ledger

    ledger = Ledger(tmp_path / "ledger.sqlite")  # what the driver writes before it logs the run
    ledger.start("r-baseline-1", "mnist_autoencoder", "baseline", 1, "smoke", "cpu", "fp32", {})
    ledger.finish("r-baseline-1", {}, 7.25, started=1_700_000_100.0)
    with make_tracker("mlflow", mlflow_env(tmp_path)) as tracker:
        tracker.log_run(**_run_kwargs(), seconds=12.5, started=1_700_000_000.0)  # given by the caller
        tracker.log_run(**_run_kwargs(seed=1))  # read from the ledger
    client = _client(tracker)
    given = _only_run(client, "baseline/seed0")
    assert given.data.metrics["train_seconds"] == 12.5
    assert (given.info.start_time, given.info.end_time) == (1_700_000_000_000, 1_700_000_012_500)
    ledgered = _only_run(client, "baseline/seed1")
    assert ledgered.data.metrics["train_seconds"] == 7.25
    assert ledgered.info.end_time - ledgered.info.start_time == 7250


def test_mlflow_history_without_epoch_uses_row_number(tmp_path, mlflow_env):
    kwargs = _run_kwargs() | {"history": [{"loss": 3.0}, {"loss": 2.0}], "config": {}}
    with make_tracker("mlflow", mlflow_env(tmp_path)) as tracker:
        tracker.log_run(**kwargs)
    client = _client(tracker)
    run = _only_run(client, "baseline/seed0")
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [
        (1, 3.0), (2, 2.0)]


def test_mlflow_summary_statistics_figures_and_doc(tmp_path, mlflow_env, figure):
    with make_tracker("mlflow", mlflow_env(tmp_path)) as tracker:
        tracker.log_summary(study="mnist_autoencoder", profile="smoke", doc=DOC, figures=[figure])
    client = _client(tracker)
    run = _only_run(client, "summary")
    assert run.data.metrics == pytest.approx({
        "baseline.psnr.mean": 21.0, "baseline.psnr.sd": 0.5, "baseline.psnr.n": 3, "baseline.psnr.ci95": 1.2,
        "baseline.psnr.ci95_low": 19.8, "baseline.psnr.ci95_high": 22.2,
        "wide _x2_.psnr.mean": 22.5, "wide _x2_.psnr.sd": 0.4, "wide _x2_.psnr.n": 3, "wide _x2_.psnr.ci95": 1.0,
        "wide _x2_.psnr.ci95_low": 21.5, "wide _x2_.psnr.ci95_high": 23.5})
    assert run.data.tags["skipped_nonfinite"] == "wide _x2_.ssim"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "figures")] == [
        "figures/fig_psnr.png"]
    local = client.download_artifacts(run.info.run_id, "figures/fig_psnr.png", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == figure.read_bytes()
    assert "summary.json" in [a.path for a in client.list_artifacts(run.info.run_id)]
    # artifacts live beside the database, not in ./mlruns under the working directory
    assert run.info.artifact_uri.startswith((tmp_path / "mlartifacts").resolve().as_uri())


def test_mlflow_tracking_uri_env_is_respected(tmp_path, monkeypatch, mlflow_env):
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere.as_uri())  # a file store the user chose
    with make_tracker("mlflow", tmp_path / "out") as tracker:
        tracker.log_run(**_run_kwargs())
    assert tracker.uri == elsewhere.as_uri()
    assert not (tmp_path / "out" / "mlflow.db").exists()
    assert _only_run(_client(tracker), "baseline/seed0").data.params["epochs"] == "3"


def test_mlflow_store_that_cannot_open_is_a_one_line_error(tmp_path, monkeypatch, mlflow_env):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://x")
    with pytest.raises(DltourError, match=r"^cannot open MLflow store nosuchscheme://x: [^\n]+$"):
        make_tracker("mlflow", tmp_path)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mlflow_server_opens_the_store(tmp_path, mlflow_env, figure):
    """`mlflow server --backend-store-uri sqlite:///<out>/mlflow.db`: the UI's server starts on what
    --track mlflow wrote and its REST API lists the experiment and the nested runs."""
    import shutil
    import subprocess
    import time
    import urllib.error
    import urllib.request

    pytest.importorskip("flask", reason="the full mlflow package (with its server) is not installed")
    with make_tracker("mlflow", mlflow_env(tmp_path / "out")) as tracker:
        tracker.log_run(**_run_kwargs())
        tracker.log_summary(study="mnist_autoencoder", profile="smoke", doc=DOC, figures=[figure])
    exe = Path(sys.executable).with_name("mlflow")
    cmd = [str(exe)] if exe.exists() else [shutil.which("mlflow") or "mlflow"]
    port = _free_port()
    server = subprocess.Popen(cmd + ["server", "--backend-store-uri", _sqlite_uri(tmp_path / "out"), "--host",
                                     "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"

    def call(path: str, body: dict | None = None) -> dict:
        import json

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                found = call("/experiments/search", {"max_results": 100})
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read().decode(errors="replace") if server.poll() is not None else ""
                    pytest.fail(f"mlflow server did not answer: {output[-2000:]}")
                time.sleep(0.5)
        (exp,) = [e for e in found["experiments"] if e["name"] == "dltour/mnist_autoencoder"]
        runs = call("/runs/search", {"experiment_ids": [exp["experiment_id"]], "max_results": 100})["runs"]
        names = {r["info"]["run_name"]: r for r in runs}
        assert set(names) == {"mnist_autoencoder", "baseline", "wide (x2)", "baseline/seed0", "summary"}
        tags = {t["key"]: t["value"] for t in names["baseline/seed0"]["data"]["tags"]}
        assert tags["mlflow.parentRunId"] == names["baseline"]["info"]["run_id"]
        metrics = {m["key"]: m["value"] for m in names["summary"]["data"]["metrics"]}
        assert metrics["baseline.psnr.mean"] == 21.0 and metrics["baseline.psnr.n"] == 3
        # the UI lists the summary's figures (artifacts beside the database, read by the server)
        listed = call(f"/artifacts/list?run_id={names['summary']['info']['run_id']}&path=figures")
        assert [f["path"] for f in listed.get("files", [])] == ["figures/fig_psnr.png"]
    finally:
        import os
        import signal

        try:
            os.killpg(server.pid, signal.SIGTERM)  # the server and its worker processes, only those
        except ProcessLookupError:
            pass
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# -------------------------------------------------------------------------------- TensorBoard
def _accumulator(path: Path):
    pytest.importorskip("tensorboard", reason="TensorBoard not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path))
    acc.Reload()
    return acc


def test_tensorboard_run_scalars_config_and_hparams(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard not installed (pip install 'dltour[tracking]')")
    with make_tracker("tensorboard", tmp_path) as tracker:
        tracker.log_run(**_run_kwargs())
    run_dir = tmp_path / "tensorboard" / "mnist_autoencoder" / "baseline-seed0"
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    acc = _accumulator(run_dir)
    for key in ("loss", "val_loss"):
        assert [(e.step, pytest.approx(e.value)) for e in acc.Scalars(key)] == [
            (int(row["epoch"]), row[key]) for row in HISTORY]
    assert "epoch" not in acc.Tags()["scalars"]
    assert [e.value for e in acc.Scalars("final/test_loss")] == [pytest.approx(0.55)]
    assert [e.value for e in acc.Scalars("final/psnr")] == [pytest.approx(21.5)]
    tensors = acc.Tags()["tensors"]
    assert "config/text_summary" in tensors
    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "path: /data/mnist" in text and "epochs: 3" in text
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["epochs"].number_value == 3 and hparams["data.path"].string_value == "/data/mnist"
    assert hparams["model.widths"].string_value == "[64, 32]"
    assert hparams["variant"].string_value == "baseline"


def test_tensorboard_summary_images_and_means(tmp_path, figure):
    pytest.importorskip("tensorboard", reason="TensorBoard not installed (pip install 'dltour[tracking]')")
    with make_tracker("tensorboard", tmp_path) as tracker:
        tracker.log_summary(study="mnist_autoencoder", profile="smoke", doc=DOC, figures=[figure])
    acc = _accumulator(tmp_path / "tensorboard" / "mnist_autoencoder" / "summary")
    assert acc.Tags()["images"] == ["figures/fig_psnr"]
    (image,) = acc.Images("figures/fig_psnr")
    assert (image.width, image.height) == (40, 32)
    assert image.encoded_image_string.startswith(b"\x89PNG")
    assert acc.Scalars("mean/baseline/psnr")[0].value == pytest.approx(21.0)
    assert acc.Scalars("mean/wide (x2)/psnr")[0].value == pytest.approx(22.5)
    assert "mean/wide (x2)/ssim" not in acc.Tags()["scalars"]


# ------------------------------------------------------------------------------------ through the CLI
@pytest.mark.parametrize("kind", ["mlflow", "tensorboard"])
def test_cli_run_tracks_every_run_and_the_summary(tmp_path, kind, mlflow_env):
    """`dltour run --track KIND`: the driver logs each finished run (history per epoch, final
    metrics) and the study's summary figures; read back with the library's own reader."""
    pytest.importorskip("mlflow" if kind == "mlflow" else "tensorboard")
    from typer.testing import CliRunner

    from dltour.cli import app

    out = mlflow_env(tmp_path / "out") if kind == "mlflow" else tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "airline-lstm", "--profile", "smoke", "--device", "cpu", "--set", "epochs=3",
                                   "--out", str(out), "--track", kind])
    assert res.exit_code == 0, res.output
    if kind == "mlflow":
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=_sqlite_uri(out))
        exp = client.get_experiment_by_name("dltour/airline-lstm")
        runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
        assert {"airline-lstm", "w1", "w12", "w1/seed0", "w12/seed0", "summary"} <= set(runs)
        assert {"sarima", "seasonal-naive"} <= set(runs)  # the baselines' summary statistics, as variants
        run = runs["w12/seed0"]
        assert run.data.tags["mlflow.parentRunId"] == runs["w12"].info.run_id
        assert 0 < run.data.metrics["train_seconds"] < 60
        summary = runs["summary"].data.metrics
        assert summary["w12.test_rmse.n"] == 1 and "w12.test_rmse.mean" in summary
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2, 3]
        assert "final/test_rmse" in run.data.metrics and run.data.params["epochs"] == "3"
        assert any(a.path.startswith("figures") for a in client.list_artifacts(runs["summary"].info.run_id))
    else:
        acc = _accumulator(out / "tensorboard" / "airline-lstm" / "w12-seed0")
        assert [e.step for e in acc.Scalars("train_loss")] == [1, 2, 3]
        assert "final/test_rmse" in acc.Tags()["scalars"]
        assert 0 < acc.Scalars("train_seconds")[0].value < 60
        summary = _accumulator(out / "tensorboard" / "airline-lstm" / "summary")
        assert summary.Tags()["images"]
