"""``--track mlflow|tensorboard``: what dltour.tracking writes, read back with each library's own
reader (``mlflow.MlflowClient`` and TensorBoard's ``EventAccumulator``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from dltour import DltourError
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
DOC = {
    "study": "mnist_autoencoder",
    "metrics": {
        "baseline": {"psnr": {"mean": 21.0, "std": 0.5, "ci95": 1.2, "n": 3, "nan": 0}},
        "wide (x2)": {
            "psnr": {"mean": 22.5, "std": 0.4, "ci95": 1.0, "n": 3, "nan": 0},
            "ssim": {"mean": None, "std": None, "ci95": None, "n": 0, "nan": 3},
        },
    },
}


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
@pytest.fixture
def mlflow_env(monkeypatch):
    pytest.importorskip("mlflow", reason="MLflow not installed (pip install 'dltour[tracking]')")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # the tracker opts in to MLflow's file store for the process; undo that after each test
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def _client(tracker):
    import mlflow

    return mlflow.MlflowClient(tracker.uri)


def _only_run(client, name: str):
    (exp,) = [e for e in client.search_experiments() if e.name == "dltour/mnist_autoencoder"]
    runs = client.search_runs([exp.experiment_id], filter_string=f"attributes.run_name = '{name}'")
    assert len(runs) == 1
    return runs[0]


def test_mlflow_run_params_tags_history_and_final_metrics(tmp_path, mlflow_env):
    with make_tracker("mlflow", tmp_path) as tracker:
        tracker.log_run(**_run_kwargs())
        tracker.log_run(**_run_kwargs(seed=1))  # same experiment, second run
    assert tracker.uri == (tmp_path / "mlruns").resolve().as_uri()
    client = _client(tracker)
    run = _only_run(client, "baseline/seed0")
    assert run.info.status == "FINISHED"
    assert len(client.search_runs([run.info.experiment_id])) == 2

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


def test_mlflow_history_without_epoch_uses_row_number(tmp_path, mlflow_env):
    kwargs = _run_kwargs() | {"history": [{"loss": 3.0}, {"loss": 2.0}], "config": {}}
    with make_tracker("mlflow", tmp_path) as tracker:
        tracker.log_run(**kwargs)
    client = _client(tracker)
    run = _only_run(client, "baseline/seed0")
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [
        (1, 3.0), (2, 2.0)]


def test_mlflow_summary_figures_and_means(tmp_path, mlflow_env, figure):
    with make_tracker("mlflow", tmp_path) as tracker:
        tracker.log_summary(study="mnist_autoencoder", profile="smoke", doc=DOC, figures=[figure])
    client = _client(tracker)
    run = _only_run(client, "summary")
    assert run.data.metrics == {"baseline.psnr": 21.0, "wide _x2_.psnr": 22.5}
    assert run.data.tags["skipped_nonfinite"] == "wide _x2_.ssim"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "figures")] == [
        "figures/fig_psnr.png"]
    local = client.download_artifacts(run.info.run_id, "figures/fig_psnr.png", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == figure.read_bytes()
    assert "summary.json" in [a.path for a in client.list_artifacts(run.info.run_id)]


def test_mlflow_tracking_uri_env_is_respected(tmp_path, monkeypatch, mlflow_env):
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere.as_uri())
    with make_tracker("mlflow", tmp_path / "out") as tracker:
        tracker.log_run(**_run_kwargs())
    assert tracker.uri == elsewhere.as_uri()
    assert not (tmp_path / "out" / "mlruns").exists()
    assert _only_run(_client(tracker), "baseline/seed0").data.params["epochs"] == "3"


def test_mlflow_store_that_cannot_open_is_a_one_line_error(tmp_path, monkeypatch, mlflow_env):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://x")
    with pytest.raises(DltourError, match=r"^cannot open MLflow store nosuchscheme://x: [^\n]+$"):
        make_tracker("mlflow", tmp_path)


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

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "airline-lstm", "--profile", "smoke", "--device", "cpu", "--set", "epochs=3",
                                   "--out", str(out), "--track", kind])
    assert res.exit_code == 0, res.output
    if kind == "mlflow":
        import mlflow

        client = mlflow.MlflowClient((out / "mlruns").resolve().as_uri())
        exp = client.get_experiment_by_name("dltour/airline-lstm")
        runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
        assert set(runs) == {"w1/seed0", "w12/seed0", "summary"}
        run = runs["w12/seed0"]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2, 3]
        assert "final/test_rmse" in run.data.metrics and run.data.params["epochs"] == "3"
        assert any(a.path.startswith("figures") for a in client.list_artifacts(runs["summary"].info.run_id))
    else:
        acc = _accumulator(out / "tensorboard" / "airline-lstm" / "w12-seed0")
        assert [e.step for e in acc.Scalars("train_loss")] == [1, 2, 3]
        assert "final/test_rmse" in acc.Tags()["scalars"]
        summary = _accumulator(out / "tensorboard" / "airline-lstm" / "summary")
        assert summary.Tags()["images"]
