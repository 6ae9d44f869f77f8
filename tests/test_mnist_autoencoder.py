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
    from dltour.experiments.mnist_autoencoder.findings import pca_mse

    assert pca_mse(train, test, 3) < 1e-20
    assert pca_mse(train, test, 2) > 1e-3
    # k = 0 gives the mean-image error
    assert pca_mse(train, test, 0) == pytest.approx(float(((test - train.mean(0)) ** 2).mean()))


def test_chance_accuracy_near_ten_percent():
    from dltour.experiments.mnist_autoencoder.findings import chance_accuracy

    labels = np.random.default_rng(1).integers(0, 10, 10000)
    assert 0.09 < chance_accuracy(labels) < 0.13


def test_bad_settings_are_user_errors():
    study = get_study("mnist-autoencoder")
    with pytest.raises(DltourError, match="depths"):  # refused when the config is resolved
        resolve_config(study, "demo", {"depths": [0, 3]})
    with pytest.raises(DltourError, match="code sizes"):
        resolve_config(study, "demo", {"codes": [2, 784]})
    with pytest.raises(DltourError, match="unknown variant"):
        study.build_model(resolve_config(study, "demo"), "deep9x")
    with pytest.raises(DltourError, match="data.source"):
        resolve_config(study, "demo", {"data.source": "internet"})
    with pytest.raises(DltourError, match="tutorial_optimizer"):
        resolve_config(study, "demo", {"tutorial_optimizer": "sgd"})
    with pytest.raises(DltourError, match="baseline"):
        resolve_config(study, "demo", {"baseline": "pca"})


def test_comparison_checks_data_identity_and_budget(tmp_path, shared_data):
    study = get_study("mnist-autoencoder")
    c = study.comparison(resolve_config(study, "demo"))
    assert not c.data and not c.budget and "demo subset" in c.why and "epochs 2 < 49" in c.why
    assert not study.comparable(resolve_config(study, "smoke"))
    full = resolve_config(study, "full", {"data.path": str(shared_data / "mnist")})
    assert study.comparison(full).ok
    # the real MNIST at 3 epochs: the data is the reference's, the budget is not
    c = study.comparison(resolve_config(study, "full", {"data.path": str(shared_data / "mnist"), "epochs": 3}))
    assert c.data and not c.budget and "epochs 3 < 49" in c.why
    # another IDX dataset of MNIST's shape given by data.path is not "full MNIST"
    from dltour.data import mnist

    other = tmp_path / "other"
    other.mkdir()
    rng = np.random.default_rng(0)
    for key, (fname, *_rest) in mnist._FILES.items():
        n = 60 if key.startswith("train") else 20
        if key.endswith("images"):
            body = bytes([0, 0, 8, 3]) + np.array([n, 28, 28], ">u4").tobytes() + rng.integers(0, 256, n * 784, np.uint8).tobytes()
        else:
            body = bytes([0, 0, 8, 1]) + np.array([n], ">u4").tobytes() + rng.integers(0, 10, n, np.uint8).tobytes()
        (other / fname.removesuffix(".gz")).write_bytes(body)
    c = study.comparison(resolve_config(study, "full", {"data.path": str(other)}))
    assert not c.data and c.budget and "sha256" in c.why and not c.ok
    # ... and it is not MNIST at all: the generative study's IS judges are not meaningful on it
    assert not mnist.is_mnist(mnist.MnistData(path=str(other)))[0]
    assert mnist.is_mnist(mnist.MnistData(path=str(shared_data / "mnist"), train_subset=500))[0]


def test_smoke_run_writes_figures_tables_and_findings(tmp_path):
    from dltour.runner.driver import run_study

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
    refs = {f["id"]: f["ref"] for f in doc["findings"]}
    assert refs == {"depth3-is-best": "R26", "deeper-beats-linear": "R27", "clustering-order": "R28",
                    "latent-matters-more-than-layer": "R37",
                    "tutorial-baseline-kmeans": None, "tutorial-baseline-mse": None}
    assert any(n.startswith("R29") and "without a verdict" in n for n in doc["notes"])  # R29: a note
    assert all(f["stats"]["margin_source"] for f in doc["findings"] if f["stats"].get("margin") is not None)
    assert doc["metrics"]["tutorial"]["params"]["mean"] == 784 * 32 + 32 + 32 * 784 + 784
    assert all(f["test"] and "LEGACY" not in f["test"] for f in doc["findings"])
    # every reference variant/metric is produced under that name
    for r in doc["reference"]:
        assert r["metric"] in doc["metrics"][r["variant"]], r
    assert any("Table 4" in t["title"] for t in doc["tables"])


# ---------------------------------------------------------------- findings from hand-made results
import csv  # noqa: E402

from dltour.experiments.mnist_autoencoder.findings import BEST, findings, tsne_note  # noqa: E402
from dltour.summary import RunResult  # noqa: F401
from dltour.summary import Results  # noqa: F401

MEAN_IMAGE = 0.067


def _results(tmp_path, table, curves=None):
    """table: variant -> metric -> [value per seed]; curves: variant -> [per-epoch test MSE per seed]
    (written as each run's history.csv)."""
    runs = []
    for v, metrics in table.items():
        n = len(next(iter(metrics.values())))
        for sd in range(n):
            d = tmp_path / f"{v}-{sd}"
            d.mkdir(parents=True, exist_ok=True)
            if curves and v in curves:
                with open(d / "history.csv", "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=["epoch", "test_mse"])
                    w.writeheader()
                    w.writerows({"epoch": e + 1, "test_mse": y} for e, y in enumerate(curves[v][sd]))
            runs.append(RunResult(v, sd, f"{v}-{sd}", d, {m: vals[sd] for m, vals in metrics.items()}))
    return Results(runs)


def _decide(tmp_path, table, chance=(0.11, 0.12, 0.10), curves=None, **over):
    study = get_study("mnist-autoencoder")
    cfg = resolve_config(study, "demo", over)
    fs = findings(_results(tmp_path, table, curves), cfg, MEAN_IMAGE, dict(enumerate(chance)))
    return {f.id: f for f in fs}


def _table(d1, d2, d3, d4, c2, lin, acc3, acclin, knn_pca=None, knn_tsne=None):
    best = {"test_mse": d3, "kmeans_acc_majority": acc3}
    if knn_pca is not None:
        best.update(knn2d_pca=knn_pca, knn2d_tsne=knn_tsne)
    return {"depth1": {"test_mse": d1}, "depth2": {"test_mse": d2}, BEST: best,
            "depth4": {"test_mse": d4}, "depth3-code2": {"test_mse": c2},
            "linear": {"test_mse": lin, "kmeans_acc_majority": acclin}}


HOLDS = _table(d1=[0.020, 0.021, 0.022], d2=[0.012, 0.0125, 0.0122], d3=[0.010, 0.0101, 0.0103],
               d4=[0.013, 0.0135, 0.0131], c2=[0.040, 0.041, 0.039], lin=[0.050, 0.052, 0.049],
               acc3=[0.61, 0.62, 0.60], acclin=[0.40, 0.41, 0.39], knn_pca=[0.40, 0.42, 0.41],
               knn_tsne=[0.80, 0.83, 0.79])
IDS = ["depth3-is-best", "deeper-beats-linear", "clustering-order", "latent-matters-more-than-layer"]

# plausible simulated runs: true means per variant (test MSE; K-Means accuracy of depth3 and linear), seeded
# per-run noise of the spread the demo and the full runs show
TRUE_HOLDS = dict(d1=0.021, d2=0.0122, d3=0.0101, d4=0.0132, c2=0.040, lin=0.050, acc3=0.61, acclin=0.40)
TRUE_FAILS = dict(d1=0.020, d2=0.0122, d3=0.030, d4=0.013, c2=0.0312, lin=0.020, acc3=0.40, acclin=0.61)
# the null: no depth or code size matters, depth3 at exactly half the linear MSE (R27's threshold), depth3 and
# linear cluster alike
TRUE_NULL = dict(d1=0.015, d2=0.015, d3=0.015, d4=0.015, c2=0.015, lin=0.030, acc3=0.45, acclin=0.45)


def simulate(true, n=3, rng=0, sd_mse=0.0002, sd_acc=0.01):
    g = np.random.default_rng(rng)
    draw = lambda m, sd: [float(x) for x in m + g.normal(0, sd, n)]  # noqa: E731
    return _table(**{k: draw(m, sd_acc if k.startswith("acc") else sd_mse) for k, m in true.items()})


def chance_of(n, rng=0):
    return tuple(float(x) for x in 0.11 + np.random.default_rng(rng + 1000).normal(0, 0.005, n))


def falling(table, epochs, drop=0.01):
    """Per-epoch test MSE of every run, still falling to its final value."""
    return {v: [[m["test_mse"][sd] + drop * (epochs - 1 - e) / epochs for e in range(epochs)]
                for sd in range(len(m["test_mse"]))] for v, m in table.items()}


def test_findings_hold_on_simulated_runs_like_the_reference(tmp_path):
    f = _decide(tmp_path, simulate(TRUE_HOLDS), chance_of(3))
    assert {i: f[i].verdict for i in IDS} == {i: "holds" for i in IDS}
    assert [f[i].ref for i in IDS] == ["R26", "R27", "R28", "R37"]
    assert f["depth3-is-best"].stats["unit"] == "test MSE" and f["depth3-is-best"].stats["n_runs"] == 3


def test_findings_fail_on_simulated_contrary_runs(tmp_path):
    f = _decide(tmp_path, simulate(TRUE_FAILS, rng=1), chance_of(3, 1))
    assert {i: f[i].verdict for i in IDS} == {i: "does not hold" for i in IDS}


def test_findings_inconclusive_on_simulated_null_runs_and_on_one_seed(tmp_path):
    f = _decide(tmp_path / "null", simulate(TRUE_NULL, rng=2, sd_mse=0.001, sd_acc=0.03), chance_of(3, 2))
    assert {i: f[i].verdict for i in IDS} == {i: "inconclusive" for i in IDS}
    one = _decide(tmp_path / "one", simulate(TRUE_HOLDS, n=1), chance_of(1))
    assert {i: one[i].verdict for i in IDS} == {i: "inconclusive" for i in IDS}


def test_a_short_budget_with_falling_curves_makes_failures_inconclusive(tmp_path):
    t = simulate(TRUE_FAILS, rng=1)
    f = _decide(tmp_path / "short", t, chance_of(3, 1), curves=falling(t, 2))  # the demo: 2 of 49 epochs
    for i in IDS:
        assert f[i].verdict == "inconclusive", i
        assert "only 2 of the reference's 49 epochs" in f[i].test and "test MSE still falling" in f[i].test, i
    full = _decide(tmp_path / "full", t, chance_of(3, 1), curves=falling(t, 49), epochs=49)
    assert {i: full[i].verdict for i in IDS} == {i: "does not hold" for i in IDS}


def test_r29_is_a_note_without_a_verdict(tmp_path):
    res = _results(tmp_path, HOLDS)
    f = _decide(tmp_path, HOLDS)
    assert not any(x.ref == "R29" for x in f.values())
    note = tsne_note(res)
    assert note.startswith("R29") and "without a verdict" in note and "seed 0: 80.0% vs 40.0%" in note
    assert tsne_note(_results(tmp_path / "none", {"depth1": {"test_mse": [0.02]}})) is None


def test_a_run_that_did_not_learn_carries_no_verdict(tmp_path):
    t = {k: dict(v) for k, v in HOLDS.items()}
    t["linear"]["test_mse"] = [0.07, 0.071, 0.072]  # worse than predicting the mean image (0.067)
    f = _decide(tmp_path, t)
    assert f["deeper-beats-linear"].verdict == "inconclusive" and "did not learn" in f["deeper-beats-linear"].test
    assert f["clustering-order"].verdict == "inconclusive"
    assert f["depth3-is-best"].verdict == "holds"  # linear is not part of the depth sweep


def test_much_lower_means_at_most_half(tmp_path):
    t = {k: dict(v) for k, v in HOLDS.items()}
    t["linear"]["test_mse"] = [0.0150, 0.0151, 0.0155]  # lower, but not half: 0.010 / 0.015 = 0.67
    assert _decide(tmp_path, t)["deeper-beats-linear"].verdict == "does not hold"


# the two readings of the reference's "linear model from the tutorial"
def _with_tutorial(table, mse, acc):
    t = {k: dict(v) for k, v in table.items()}
    t["tutorial"] = {"test_mse": mse, "kmeans_acc_majority": acc}
    return t


def test_tutorial_reproduces_the_linear_numbers_holds_fails_or_cannot_decide(tmp_path):
    on = _decide(tmp_path, _with_tutorial(HOLDS, [0.056, 0.0565, 0.0555], [0.395, 0.40, 0.402]))
    assert on["tutorial-baseline-kmeans"].verdict == "holds" and on["tutorial-baseline-mse"].verdict == "holds"
    assert on["tutorial-baseline-kmeans"].ref is None  # our check, not a claim of the reference
    assert "linear" in on["tutorial-baseline-kmeans"].evidence  # the other reading's test is shown beside it
    off = _decide(tmp_path, _with_tutorial(HOLDS, [0.0097, 0.0098, 0.0096], [0.61, 0.62, 0.60]))
    assert off["tutorial-baseline-kmeans"].verdict == "does not hold"
    assert off["tutorial-baseline-mse"].verdict == "does not hold"
    noisy = _decide(tmp_path, _with_tutorial(HOLDS, [0.03, 0.06, 0.09], [0.30, 0.45, 0.40]))
    assert noisy["tutorial-baseline-kmeans"].verdict == "inconclusive"
    assert noisy["tutorial-baseline-mse"].verdict == "inconclusive"
    one = _decide(tmp_path, {k: {m: v[:1] for m, v in t.items()} for k, t in
                             _with_tutorial(HOLDS, [0.056, 0.0565, 0.0555], [0.395, 0.40, 0.402]).items()})
    assert one["tutorial-baseline-kmeans"].verdict == "inconclusive"  # one seed is never decided
    assert "tutorial-baseline-kmeans" not in _decide(tmp_path, HOLDS)  # not run: no finding


def test_r27_r28_compare_with_the_chosen_baseline(tmp_path):
    # the true linear model clusters better than the Table 4 model; the tutorial's does not
    t = {k: dict(v) for k, v in HOLDS.items()}
    t["linear"]["kmeans_acc_majority"] = [0.70, 0.715, 0.69]
    t = _with_tutorial(t, [0.030, 0.031, 0.0305], [0.39, 0.405, 0.38])
    study = get_study("mnist-autoencoder")
    for base, verdict in (("tutorial", "holds"), ("linear", "does not hold")):
        cfg = resolve_config(study, "demo", {"baseline": base})
        f = {x.id: x for x in findings(_results(tmp_path, t), cfg, MEAN_IMAGE, {0: 0.11, 1: 0.12, 2: 0.10})}
        assert f["clustering-order"].verdict == verdict, base
        assert repr(base) in f["clustering-order"].evidence


def test_tutorial_variant_is_the_keras_tutorial_model():
    from dltour.experiments.mnist_autoencoder import MnistAutoencoder

    study = get_study("mnist-autoencoder")
    cfg = resolve_config(study, "demo", {"init": "torch", "code_activation": "linear", "loss": "mse",
                                         "optimizer": "rmsprop"})
    m = study.build_model(cfg, "tutorial")
    assert [type(x).__name__ for x in m.encoder] == ["Linear", "ReLU"]  # Dense(32, activation="relu")
    assert [type(x).__name__ for x in m.decoder] == ["Linear", "Sigmoid"]  # Dense(784, activation="sigmoid")
    assert all(float(x.bias.detach().abs().max()) == 0 for x in (m.encoder[0], m.decoder[0]))  # Keras init: zero biases
    # its own recipe, whatever the deep models' readings are
    assert MnistAutoencoder.training_recipe(cfg, "tutorial") == ("bce", "adam", 1e-3)
    tf = resolve_config(study, "demo", {"tutorial_optimizer": "adadelta-tf"})
    assert MnistAutoencoder.training_recipe(tf, "tutorial") == ("bce", "adadelta", 1e-3)
    assert MnistAutoencoder.training_recipe(tf, "linear") == ("mse", "adam", None)
    # the deep models' readings do not change the tutorial run's id, and its optimiser does not change theirs
    from dltour.runner.plan import run_id_for

    base = resolve_config(study, "demo")
    assert run_id_for(study, cfg, "tutorial", 0) == run_id_for(study, base, "tutorial", 0)
    assert run_id_for(study, tf, "tutorial", 0) != run_id_for(study, base, "tutorial", 0)
    assert run_id_for(study, tf, "depth3", 0) == run_id_for(study, base, "depth3", 0)
    assert run_id_for(study, resolve_config(study, "demo", {"baseline": "linear"}), "linear", 0) == \
        run_id_for(study, base, "linear", 0)


# ---------------------------------------------------------------------- the open readings (issue 13)
from dltour.experiments.mnist_autoencoder.science import bce_loss, recon_loss  # noqa: E402
from dltour.train.optim import DEFAULT_LR, make_optimizer  # noqa: E402


def test_bce_loss_known_answer():
    out = torch.tensor([[0.5, 0.9], [0.2, 0.5]])
    x = torch.tensor([[1.0, 0.0], [0.0, 0.5]])
    # by hand: -[ln 0.5, ln 0.1, ln 0.8, 0.5 ln 0.5 + 0.5 ln 0.5] / 4
    expect = -(np.log(0.5) + np.log(0.1) + np.log(0.8) + np.log(0.5)) / 4
    assert float(bce_loss(out, x)) == pytest.approx(expect, rel=1e-6)
    assert recon_loss("bce") is bce_loss
    assert float(recon_loss("mse")(out, x)) == pytest.approx(((0.25 + 0.81 + 0.04 + 0.0) / 4), rel=1e-6)
    with pytest.raises(DltourError, match="unknown loss"):
        recon_loss("mae")


def test_code_activation_linear_lets_codes_go_negative():
    torch.manual_seed(0)
    x = torch.rand(64, 784)
    relu = MLPAutoencoder([784, 540, 295, 50], code_activation="relu")
    lin = MLPAutoencoder([784, 540, 295, 50], code_activation="linear")
    with torch.no_grad():
        assert float(relu.encode(x).min()) >= 0
        assert float(lin.encode(x).min()) < 0
        assert lin(x).min() >= 0 and lin(x).max() <= 1  # the sigmoid output stays
    assert n_params(relu) == n_params(lin) == 1197324
    # the hidden layers keep their ReLU: 3 in the encoder with relu code, 2 with a linear code
    assert sum(isinstance(m, torch.nn.ReLU) for m in relu.encoder) == 3
    assert sum(isinstance(m, torch.nn.ReLU) for m in lin.encoder) == 2
    with pytest.raises(ValueError):
        MLPAutoencoder([784, 50], code_activation="tanh")


def test_reading_options_are_validated_and_reach_the_model():
    study = get_study("mnist-autoencoder")
    for key, bad in (("loss", "mae"), ("code_activation", "tanh"), ("optimizer", "sgd")):
        with pytest.raises(DltourError):
            resolve_config(study, "demo", {key: bad})
    with pytest.raises(DltourError):
        resolve_config(study, "demo", {"val_size": -1})
    cfg = resolve_config(study, "demo", {"code_activation": "linear"})
    assert study.build_model(cfg, "depth3").code_activation == "linear"
    # full runs the reading chosen on validation (issue 13); the defaults (the demo) are the earlier ones
    full = resolve_config(study, "full")
    assert (full.loss, full.code_activation, full.init, full.optimizer, full.val_size) == ("mse", "linear", "glorot", "adam", 0)
    demo = resolve_config(study, "demo")
    assert (demo.loss, demo.code_activation, demo.init) == ("mse", "relu", "torch")


def test_make_optimizer_defaults():
    p = [torch.nn.Parameter(torch.zeros(3))]
    adam = make_optimizer(p, "adam", None, "cpu")
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 1e-3 and adam.defaults["fused"]
    ad = make_optimizer(p, "adadelta", None, "cpu")
    assert isinstance(ad, torch.optim.Adadelta) and ad.defaults["lr"] == 1.0
    assert (ad.defaults["rho"], ad.defaults["eps"]) == (0.95, 1e-7)  # Keras 2's Adadelta
    rms = make_optimizer(p, "rmsprop", None, "cpu")
    assert isinstance(rms, torch.optim.RMSprop) and rms.defaults["lr"] == 1e-3
    assert (rms.defaults["alpha"], rms.defaults["eps"]) == (0.9, 1e-7)  # Keras 2's RMSprop (rho 0.9)
    assert make_optimizer(p, "rmsprop", 5e-4, "cpu").defaults["lr"] == 5e-4
    assert make_optimizer(p, "adadelta", 1e-3, "cpu").defaults["lr"] == 1e-3  # tf.keras's Adadelta
    assert DEFAULT_LR == {"adam": 1e-3, "rmsprop": 1e-3, "adadelta": 1.0}
    for name in ("sgd", "Adam"):
        with pytest.raises(DltourError, match="unknown optimizer"):
            make_optimizer(p, name, None, "cpu")


def test_the_tutorial_recipe_reaches_its_optimiser():
    from dltour.device import resolve_device

    study = get_study("mnist-autoencoder")
    for opt, (cls, lr) in {"adam": (torch.optim.Adam, 1e-3), "adadelta": (torch.optim.Adadelta, 1.0),
                           "adadelta-tf": (torch.optim.Adadelta, 1e-3)}.items():
        cfg = resolve_config(study, "smoke", {"tutorial_optimizer": opt})
        tr = study.trainer(cfg, "tutorial", 0, resolve_device("cpu"))
        assert type(tr.state["opt"]) is cls and tr.state["opt"].defaults["lr"] == lr


def test_validation_split_reports_val_metrics(tmp_path):
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "dltour.cli", "run", "mnist-autoencoder", "--profile", "smoke", "--out", str(out),
           "--executor", "local", "--set", "depths=[3]", "--set", "codes=[]", "--set", "val_size=200",
           "--set", "loss=bce", "--set", "code_activation=linear", "--set", "optimizer=adadelta"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    ms = [json.loads(p.read_text()) for p in (out / "runs" / "mnist-autoencoder").glob("*/metrics.json")]
    best = [m for m in ms if m["code_size"] == 50]
    assert best and "val_mse" in best[0] and "val_kmeans_acc_majority" in best[0]
    assert 0 < best[0]["val_mse"] < 1


@pytest.mark.parametrize("old, new", [("data_source", "data.source"), ("train_limit", "data.train_subset"),
                                      ("test_limit", "data.test_subset")])
def test_old_data_keys_name_the_new_key(old, new):
    study = get_study("mnist-autoencoder")
    with pytest.raises(DltourError, match=f"unknown config key '{old}'.*{new}"):
        resolve_config(study, "smoke", {old: 1})


def test_a_missing_data_path_names_the_path(tmp_path):
    from dltour.data import mnist
    from dltour.data.source import DataUnavailable

    study = get_study("mnist-autoencoder")
    cfg = resolve_config(study, "smoke", {"data.path": str(tmp_path / "nowhere")})
    with pytest.raises(DataUnavailable, match="nowhere"):
        mnist.arrays_for(cfg.data)


def test_check_model_is_finite_for_every_variant():
    study = get_study("mnist-autoencoder")
    cfg = resolve_config(study, "smoke", {"loss": "bce"})
    for v in study.variants(cfg):
        assert np.isfinite(study.check_model(cfg, v))


def test_run_and_bench_train_with_the_same_step(step_calls):
    from dltour.experiments.mnist_autoencoder import science as ae

    study = get_study("mnist-autoencoder")
    cfg = resolve_config(study, "smoke", {"depths": [1], "codes": [], "data.train_subset": 100,
                                          "data.test_subset": 100, "tsne_points": 50})
    ran, benched, out = step_calls(ae, study, cfg, bench_steps=3)
    assert ran > 0
    assert benched == 2 * (3 + 1)  # end to end and compute only, each 1 warm-up + 3 steps
    assert out["end_to_end_samples_per_s"] > 0


# ---------------------------------------------------------------------- ours beyond the reference: the dec variant
def _dec(tmp_path, manifold, kmeans=None, mse=(0.010, 0.011, 0.0105)):
    table = dict(HOLDS)
    table["dec"] = {"test_mse": list(mse)[:len(manifold)], "manifold_acc_hungarian": list(manifold),
                    "kmeans_acc_hungarian": list(kmeans or [0.80] * len(manifold))}
    return _decide(tmp_path, table)["dec-clustering-85"]


def test_dec_clustering_finding_three_outcomes(tmp_path):
    assert _dec(tmp_path / "a", [0.93, 0.95, 0.94]).verdict == "holds"
    f = _dec(tmp_path / "b", [0.70, 0.72, 0.69])
    assert f.verdict == "does not hold" and f.ref is None  # ours, never one of the reference's claims
    assert _dec(tmp_path / "c", [0.80, 0.95, 0.86]).verdict == "inconclusive"  # the mean near 85%, seeds spread
    assert _dec(tmp_path / "d", [0.95]).verdict == "inconclusive"  # one seed
    # a dec run that did not learn (no better than the mean image) decides nothing
    assert _dec(tmp_path / "e", [0.95, 0.96, 0.94], mse=(MEAN_IMAGE * 2,) * 3).verdict == "inconclusive"
    assert "K-Means on the raw dec codes" in _dec(tmp_path / "f", [0.93, 0.95, 0.94]).evidence


def test_dec_variant_is_decs_shape_and_keeps_every_other_run_id():
    from dltour.experiments.mnist_autoencoder.science import parse_variant
    from dltour.runner.plan import run_id_for

    study = get_study("mnist-autoencoder")
    cfg, with_dec = resolve_config(study, "demo"), resolve_config(study, "demo", {"clustering": True})
    assert parse_variant("dec", cfg) == ([784, 500, 500, 2000, 10], True)
    assert study.variants(with_dec) == [*study.variants(cfg), "dec"]
    assert all(run_id_for(study, cfg, v, 0) == run_id_for(study, with_dec, v, 0) for v in study.variants(cfg))
    model = study.build_model(with_dec, "dec")
    assert model.code_activation == "linear" and sum(p.numel() for p in model.parameters()) > 3_000_000
    assert np.isfinite(study.check_model(with_dec, "dec"))
