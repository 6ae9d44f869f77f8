"""T3.1 mnist-autoencoder: architectures, parameter counts, baselines and a smoke run."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from dltour import DltourError
from dltour.config import resolve_config
from dltour.models.autoencoder import MLPAutoencoder, depth_sizes
from dltour.registry import get_study


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_depth_rule_gives_table4_sizes():
    assert depth_sizes(3) == [784, 540, 295, 50]
    assert depth_sizes(1) == [784, 50]
    assert depth_sizes(2) == [784, 417, 50]
    assert depth_sizes(4) == [784, 601, 417, 234, 50]
    with pytest.raises(ValueError):
        depth_sizes(0)


def test_best_model_has_exactly_1197324_parameters():
    study = get_study("mnist-autoencoder")
    cfg = resolve_config(study, "full")
    m = study.build_model(cfg, "depth3")
    # hand count: sum of (in + 1) * out over [784, 540, 295, 50, 295, 540, 784]
    sizes = [784, 540, 295, 50, 295, 540, 784]
    assert n_params(m) == sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])) == 1_197_324
    x = torch.rand(3, 784)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (3, 784) and float(y.min()) >= 0 and float(y.max()) <= 1  # sigmoid output
    assert m.encode(x).detach().shape == (3, 50)


def test_describe_json_shows_the_count():
    out = subprocess.run([sys.executable, "-m", "dltour.cli", "describe", "mnist-autoencoder", "--json"],
                         capture_output=True, text=True, check=True).stdout
    rows = {r["variant"]: r for r in json.loads(out)}
    assert rows["depth3"]["total_params"] == 1_197_324 == rows["depth3"]["trainable_params"]


def test_linear_autoencoder_is_linear():
    m = MLPAutoencoder([784, 32], nonlinear=False)
    a, b = torch.randn(2, 784), torch.randn(2, 784)
    zero = m(torch.zeros(1, 784))
    assert torch.allclose(m(a + b), m(a) + m(b) - zero, atol=1e-5)
    assert n_params(m) == 784 * 32 + 32 + 32 * 784 + 784


def test_pca_mse_is_the_linear_optimum():
    rng = np.random.default_rng(0)
    # data on a 3-d affine subspace plus tiny noise: PCA-3 reconstructs it almost exactly
    basis = rng.normal(size=(3, 20))
    train = rng.normal(size=(200, 3)) @ basis + 5
    test = rng.normal(size=(50, 3)) @ basis + 5
    study = get_study("mnist-autoencoder")
    assert study.pca_mse(train, test, 3) < 1e-20
    assert study.pca_mse(train, test, 2) > 1e-3
    # k = 0 gives the mean-image error
    assert study.pca_mse(train, test, 0) == pytest.approx(float(((test - train.mean(0)) ** 2).mean()))


def test_chance_accuracy_near_ten_percent():
    labels = np.random.default_rng(1).integers(0, 10, 10000)
    assert 0.09 < get_study("mnist-autoencoder").chance_accuracy(labels) < 0.13


def test_bad_settings_are_user_errors():
    study = get_study("mnist-autoencoder")
    with pytest.raises(DltourError, match="depths"):
        study.variants(resolve_config(study, "demo", {"depths": [0, 3]}))
    with pytest.raises(DltourError, match="unknown variant"):
        study.build_model(resolve_config(study, "demo"), "deep9x")
    with pytest.raises(DltourError, match="data.source"):
        resolve_config(study, "demo", {"data.source": "internet"})


def test_comparable_only_on_full_mnist():
    study = get_study("mnist-autoencoder")
    assert not study.comparable(resolve_config(study, "demo"))
    assert not study.comparable(resolve_config(study, "smoke"))
    assert study.comparable(resolve_config(study, "full"))
    assert study.comparable(resolve_config(study, "demo", {"data.path": "/x"}))


def test_smoke_run_writes_figures_tables_and_findings(tmp_path):
    from dltour.runs import run_study

    study = get_study("mnist-autoencoder")
    cfg = resolve_config(study, "smoke", {"data.train_subset": 300, "data.test_subset": 200, "tsne_points": 60})
    doc = run_study(study, cfg, "smoke", tmp_path, progress=False, log=lambda s: None)
    assert doc["comparable"] is False
    assert doc["metrics"]["depth3"]["params"]["mean"] == 1_197_324
    for v in ("depth1", "depth3", "linear", "raw-pixels", "chance", "pca-32", "pca-50"):
        assert v in doc["metrics"]
    names = {p.rsplit("/", 1)[-1] for p in doc["figures"]}
    assert names == {"fig5_reconstructions.png", "fig6_codes_pca.png", "fig14_mse_by_architecture.png",
                     "fig15_codes_tsne.png"}
    ids = {f["id"] for f in doc["findings"]}
    assert {"deeper-beats-linear", "clustering-order", "linear-under-trained"} <= ids
    # every reference variant/metric is produced under that name
    for r in doc["reference"]:
        assert r["metric"] in doc["metrics"][r["variant"]], r
    assert any("Table 4" in t["title"] for t in doc["tables"])
