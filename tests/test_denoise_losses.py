"""T3.2 denoise-losses: loss parsing, early stopping on a scripted curve, the image data sources
(a tiny CIFAR-100 archive and an image folder the tests write), offline errors, and smoke runs."""

from __future__ import annotations

import io
import json
import pickle
import tarfile

import numpy as np
import pytest
import torch

from dltour import DltourError
from dltour.config import resolve_config
from dltour.data import images
from dltour.data.images import ImageData
from dltour.data.source import DataUnavailable
from dltour.experiments import denoise_losses as dl
from dltour.train import augment
from dltour.registry import get_study
from dltour.runs import run_study
from dltour.train import EarlyStopping, fit


@pytest.fixture(autouse=True)
def _one_thread():
    # the 2 test cores are shared with other jobs; these tiny models gain nothing from a second
    # OpenMP thread and lose a lot to its spin-waiting under load
    torch.set_num_threads(1)
    yield


def make_cifar100_archive(path, n_train=40, n_test=12):
    """A tiny file in the canonical cifar-100-python layout (pickled dicts of (N, 3072) uint8 rows)."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as t:
        def add(name, obj):
            data = pickle.dumps(obj)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for split, n in (("train", n_train), ("test", n_test)):
            add(split, {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                        b"fine_labels": list(rng.integers(0, 3, n))})
        add("meta", {b"fine_label_names": [b"apple", b"bee", b"cup"]})
    return path


def make_image_folder(root, n=6, size=12):
    from PIL import Image

    rng = np.random.default_rng(1)
    for split, k in (("train", n), ("test", 2)):
        for cls in ("cats", "dogs"):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(k):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


def test_parse_loss_and_bad_names():
    assert dl.parse_loss("mse") == ("mse", None, None)
    assert dl.parse_loss("corr-bw-1e4") == ("correntropy", 1e4, "bandwidth")
    assert dl.parse_loss("corr-prec-1e2") == ("correntropy", 1e2, "precision")
    assert dl.sigma_variants(["mse", "corr-prec-1e6", "corr-bw-1e2", "corr-prec-1e2"], "precision") == [
        (1e2, "corr-prec-1e2"), (1e6, "corr-prec-1e6")]
    for bad in ("huber", "corr-bw-", "corr-prec-abc", "corr-bw--5", "corr-prec-inf", "corr-kernel-1e2",
                "correntropy-1e2"):
        with pytest.raises(DltourError, match="unknown loss"):
            dl.parse_loss(bad)
    study = get_study("denoise-losses")  # refused when the config is resolved (`dltour show` fails)
    with pytest.raises(DltourError, match="unknown loss"):
        resolve_config(study, "smoke", {"losses": ["mse", "l4"]})
    with pytest.raises(DltourError, match="repeats"):
        resolve_config(study, "smoke", {"losses": ["mse", "mse"]})
    with pytest.raises(DltourError, match="repeats"):
        resolve_config(study, "smoke", {"losses": []})


@pytest.mark.parametrize("old, new", [("data_source", "data.source"), ("train_limit", "data.train_subset"),
                                      ("test_limit", "data.test_subset"), ("image_size", "data.image_size")])
def test_old_data_keys_name_the_new_key(old, new):
    study = get_study("denoise-losses")
    with pytest.raises(DltourError, match=f"unknown config key '{old}'.*{new}"):
        resolve_config(study, "smoke", {old: 1})


def test_early_stopping_on_a_scripted_curve():
    # val_loss improves until epoch 4 (index 3), then never: patience 3 stops after epoch 7
    curve = [0.9, 0.5, 0.4, 0.3, 0.31, 0.35, 0.30, 0.2, 0.1]
    seen = []
    res = fit(None, {}, 15, lambda e: seen.append(e) or {}, lambda e: {"val_loss": curve[e]},
              early_stopping=EarlyStopping(monitor="val_loss", patience=3))
    assert res.epochs_trained == 7 and res.stopped_early and res.best_epoch == 4
    assert seen == list(range(7))
    # a curve that keeps improving trains the whole budget (the reference's 15 epochs)
    res = fit(None, {}, 15, lambda e: {}, lambda e: {"val_loss": 1.0 / (e + 1)},
              early_stopping=EarlyStopping(monitor="val_loss", patience=3))
    assert res.epochs_trained == 15 and not res.stopped_early


def test_fixed_noise_is_deterministic_and_has_the_stated_std():
    a = dl.fixed_noise((64, 3, 32, 32), dl.TEST_NOISE_SEED, 0)
    assert torch.equal(a, dl.fixed_noise((64, 3, 32, 32), dl.TEST_NOISE_SEED, 0))
    assert not torch.equal(a, dl.fixed_noise((64, 3, 32, 32), dl.TEST_NOISE_SEED, 256))
    assert float(a.std()) == pytest.approx(1.0, abs=0.01)
    clean = torch.full((64, 3, 32, 32), 0.5)  # far from the clip: noisy-input MSE = std^2
    noisy = dl.add_noise(clean, a, 0.1)
    assert float(((noisy - clean) ** 2).mean()) == pytest.approx(0.01, rel=0.03)


def test_to_float_layout_and_crop():
    x = torch.randint(0, 256, (2, 5, 7, 3), dtype=torch.uint8)
    a, b = augment.to_float(x, channels_last=True), augment.to_float(x, channels_last=False)
    assert a.shape == b.shape == (2, 3, 5, 7) and torch.equal(a, b)
    assert a.is_contiguous(memory_format=torch.channels_last) and b.is_contiguous()
    assert float(a[1, 2, 4, 6]) == pytest.approx(int(x[1, 4, 6, 2]) / 255)
    assert augment.random_crop(x, 4).shape == (2, 4, 4, 3)
    assert augment.random_crop(x, None) is x
    assert augment.to_uint8_nhwc(a).tolist() == x.numpy().tolist()


def test_test_subset_spreads_over_the_classes_and_val_crop_is_central():
    assert images.test_indices(1000, 4).tolist() == [0, 333, 666, 999]  # class-sorted sets: every class
    assert images.test_indices(5, None).tolist() == images.test_indices(5, 9).tolist() == [0, 1, 2, 3, 4]
    x = torch.arange(6 * 6).view(1, 6, 6, 1).expand(1, 6, 6, 3)
    c = augment.centre_crop(x, 2)
    assert c.shape == (1, 2, 2, 3) and c[0, :, :, 0].tolist() == [[14, 15], [20, 21]]
    assert augment.centre_crop(x, None) is x


def test_split_is_fixed_and_disjoint():
    tr, va = images.split_indices(100, 50, 0.2)
    assert len(tr) == 40 and len(va) == 10 and not set(tr) & set(va)
    tr2, va2 = images.split_indices(100, 50, 0.2)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)


def test_offline_full_profile_says_where_to_get_cifar100(tmp_path):
    study = get_study("denoise-losses")
    cfg = resolve_config(study, "full")
    cmp = study.comparison(cfg)  # CIFAR-100 downloaded and verified, 15 epochs, every image
    assert cmp.data and cmp.budget, cmp.why
    images._load.cache_clear()
    with pytest.raises(DataUnavailable, match="cifar-100-python.tar.gz.*https://www.cs.toronto.edu"):
        images.images_for(cfg.data)


def test_cifar100_archive_is_comparable_and_an_image_folder_is_not(tmp_path):
    archive = make_cifar100_archive(tmp_path / "cifar-100-python.tar.gz")
    assert images.data_kind(ImageData(path=str(archive))) == "cifar100"
    train, test, kind = images.images_for(ImageData(path=str(archive)))
    assert train.x.shape == (40, 32, 32, 3) and test.x.shape == (12, 32, 32, 3) and kind == "cifar100"
    folder = make_image_folder(tmp_path / "imgs")
    assert images.data_kind(ImageData(path=str(folder))) == "folder"
    train, test, kind = images.images_for(ImageData(path=str(folder), image_size=16))  # resized 12 -> 16
    assert train.x.shape == (12, 16, 16, 3) and test.x.shape == (4, 16, 16, 3)
    study = get_study("denoise-losses")
    cmp = study.comparison(resolve_config(study, "smoke", {"data.path": str(folder)}))
    assert not cmp.data and "folder" in cmp.why
    # a file laid out like CIFAR-100 is not the reference's data unless its checksum says so
    cmp = study.comparison(resolve_config(study, "full", {"data.path": str(archive)}))
    assert not cmp.data and cmp.budget and "checksum" in cmp.why
    cmp = study.comparison(resolve_config(study, "demo"))
    assert not cmp.data and not cmp.budget and "embedded" in cmp.why and "training crops" in cmp.why


def test_shared_cifar10_jpegs_are_an_image_folder_source(shared_data):
    path = shared_data / "cifar10" / "CIFAR-10-images_jpg.tar.gz"
    assert images.data_kind(ImageData(path=str(path))) == "folder"  # reads the first member only


def test_smoke_run_on_a_cifar100_archive(tmp_path):
    archive = make_cifar100_archive(tmp_path / "c100.tar.gz")
    study = get_study("denoise-losses")
    cfg = resolve_config(study, "smoke", {"data.path": str(archive), "losses": ["mse", "corr-prec-1e2"],
                                          "epochs": 2})
    doc = run_study(study, cfg, "smoke", tmp_path / "out", progress=False, log=lambda s: None)
    assert doc["comparable"] is False and doc["runs"] == 2  # not CIFAR-100's checksum, 2 epochs
    m = doc["metrics"]
    assert set(m) == {"mse", "corr-prec-1e2", "noisy-input"}
    assert m["mse"]["epochs_trained"]["mean"] == 2
    mse = m["mse"]["test_mse"]["mean"]
    assert m["mse"]["test_psnr"]["mean"] == pytest.approx(10 * np.log10(1 / mse))
    assert "Table 5" in doc["tables"][0]["title"] and doc["tables"][0]["rows"][-1][0] == "noisy input (floor)"
    ids = {f["id"] for f in doc["findings"]}
    assert {"beats-noisy-input"} <= ids
    assert all("LEGACY" not in f["test"] for f in doc["findings"])
    for f in doc["figures"]:
        assert (tmp_path / "out" / "denoise-losses" / f.split("/")[-1]).stat().st_size > 1000
    saved = json.loads((tmp_path / "out" / "denoise-losses" / "summary.json").read_text())
    assert {r["variant"] for r in saved["reference"]} >= {"corr-bw-1e2", "corr-prec-1e2", "mae"}


def test_bench_runs_on_the_cpu(monkeypatch):
    import dltour.bench as bench
    from dltour.device import resolve_device
    from dltour.runs import RunContext

    study = get_study("denoise-losses")
    cfg = resolve_config(study, "smoke")
    ctx = RunContext(study.name, "bench", 0, None, resolve_device("cpu"), "smoke", progress=False)
    real = bench.measure_training  # the study's real pipeline, for 3 steps instead of 50
    monkeypatch.setattr(bench, "measure_training", lambda *a, **k: real(*a, **(k | {"steps": 3, "warmup": 1})))
    out = study.bench(cfg, ctx)
    assert out["end_to_end_samples_per_s"] > 0 and out["compute_only_samples_per_s"] > 0
    assert out["device"] == "cpu" and out["steps"] == 3 and out["variant"] == "mse"


def test_run_and_bench_train_with_the_same_step(step_calls):
    study = get_study("denoise-losses")
    cfg = resolve_config(study, "smoke", {"losses": ["mse"], "epochs": 1})
    ran, benched, _ = step_calls(dl, study, cfg, bench_steps=3)
    assert ran > 0
    assert benched == 2 * (3 + 1)  # end to end and compute only, each 1 warm-up + 3 steps



def test_check_model_is_finite_for_every_loss():
    study = get_study("denoise-losses")
    cfg = resolve_config(study, "smoke")
    for v in study.variants(cfg):
        assert np.isfinite(study.check_model(cfg, v))


# ---------------------------------------------------------------- the findings on hand-made results
NOISY = 0.0093
SIGMAS = ("1e2", "1e4", "1e6")


def metrics_of(mse, epochs=None, grad=None, first=None, best=None):
    """``decide``'s input from per-variant lists (seeds 0..n-1); unspecified metrics get neutral values."""
    t = lambda d: {v: dict(enumerate(x)) for v, x in d.items()}  # noqa: E731
    n = {v: len(x) for v, x in mse.items()}
    flat = lambda val: {v: [val] * k for v, k in n.items()}  # noqa: E731
    return {"test_mse": t(mse), "epochs_trained": t(epochs or flat(15)), "first_epoch_grad_norm": t(grad or flat(0.1)),
            "val_mse_first": t(first or flat(0.01)), "best_epoch": t(best or flat(15))}


def verdicts(findings):
    return {f.id: f.verdict for f in findings}


def reference_like():
    """Table 5 as the reference reports it, read as precision; the bandwidth rows do not learn."""
    mse = {"mae": [0.0015, 0.00152, 0.00149], "mse": [0.0017, 0.00173, 0.00168],
           "corr-prec-1e2": [0.0018, 0.00182, 0.00178], "corr-prec-1e4": [0.0023, 0.0024, 0.0022],
           "corr-prec-1e6": [0.0063, 0.0060, 0.0066], "corr-bw-1e2": [0.004, 0.0042, 0.0041],
           "corr-bw-1e4": [0.066, 0.067, 0.065], "corr-bw-1e6": [0.066, 0.068, 0.067]}
    ep = {v: [15, 15, 15] for v in mse} | {"corr-prec-1e4": [9, 10, 8], "corr-prec-1e6": [5, 5, 6],
                                          "corr-bw-1e4": [4, 4, 4], "corr-bw-1e6": [4, 4, 4]}
    grad = {v: [0.1, 0.11, 0.09] for v in mse} | {"corr-prec-1e2": [0.3, 0.31, 0.29], "corr-prec-1e4": [0.5, 0.55, 0.52],
                                                 "corr-prec-1e6": [1.1, 1.2, 1.0]}
    first = {v: [0.02, 0.021, 0.019] for v in mse} | {"corr-prec-1e4": [0.012, 0.013, 0.011],
                                                    "corr-prec-1e6": [0.008, 0.0085, 0.0078]}
    best = {v: [15, 14, 15] for v in mse} | {"corr-prec-1e4": [6, 7, 5], "corr-prec-1e6": [2, 2, 3]}
    return metrics_of(mse, ep, grad, first, best)


def test_findings_hold_on_the_reference_table_read_as_precision():
    got = verdicts(dl.decide(reference_like(), NOISY, 15))
    assert got == {"mae-lowest-mse": "holds", "mae-closely-followed": "holds", "bandwidth-reproduces-table5":
                   "does not hold", "precision-reproduces-table5": "holds", "sigma-harms-training": "holds",
                   "sigma-stops-earlier": "holds", "sigma-larger-gradients": "holds",
                   "sigma-faster-overfits-sooner": "holds", "beats-noisy-input": "does not hold"}


def test_findings_fail_when_the_results_go_the_other_way():
    # MAE worst, sigma helps (precision), larger sigma trains longer with smaller gradients; every run
    # learns and the bandwidth rows follow the reference's ordering
    mse = {"mae": [0.004, 0.0041, 0.0042], "mse": [0.002, 0.0021, 0.0019],
           "corr-prec-1e2": [0.003, 0.0031, 0.0029], "corr-prec-1e4": [0.0025, 0.0026, 0.0024],
           "corr-prec-1e6": [0.0021, 0.0022, 0.002], "corr-bw-1e2": [0.0018, 0.0019, 0.0017],
           "corr-bw-1e4": [0.0023, 0.0024, 0.0022], "corr-bw-1e6": [0.0063, 0.006, 0.0066]}
    ep = {v: [15, 15, 15] for v in mse} | {"corr-prec-1e2": [5, 6, 5], "corr-prec-1e4": [9, 10, 8],
                                          "corr-bw-1e4": [9, 10, 8], "corr-bw-1e6": [5, 5, 6]}
    grad = {v: [0.1] * 3 for v in mse} | {"corr-prec-1e2": [1.1, 1.2, 1.0], "corr-prec-1e4": [0.5, 0.55, 0.52],
                                         "corr-prec-1e6": [0.3, 0.31, 0.29]}
    first = {v: [0.02] * 3 for v in mse} | {"corr-prec-1e2": [0.008, 0.0085, 0.0078],
                                           "corr-prec-1e4": [0.012, 0.013, 0.011], "corr-prec-1e6": [0.02, 0.021, 0.019]}
    best = {v: [15] * 3 for v in mse} | {"corr-prec-1e2": [2, 2, 3], "corr-prec-1e4": [6, 7, 5],
                                        "corr-prec-1e6": [14, 15, 13]}
    got = verdicts(dl.decide(metrics_of(mse, ep, grad, first, best), NOISY, 15))
    assert got == {"mae-lowest-mse": "does not hold", "mae-closely-followed": "does not hold",
                   "bandwidth-reproduces-table5": "holds", "precision-reproduces-table5": "does not hold",
                   "sigma-harms-training": "does not hold", "sigma-stops-earlier": "does not hold",
                   "sigma-larger-gradients": "does not hold", "sigma-faster-overfits-sooner": "does not hold",
                   "beats-noisy-input": "holds"}


def test_findings_are_inconclusive_on_noisy_results():
    r = [1.0, 1.3, 0.8]  # per-seed scatter with no order between the variants
    names = ["mae", "mse"] + [f"corr-{k}-{s}" for k in ("prec", "bw") for s in SIGMAS]
    mse = {v: [0.005 * x * (1 + 0.1 * i) for x in (r if i % 2 else r[::-1])] for i, v in enumerate(names)}
    mse["corr-bw-1e6"] = [0.0080, 0.0110, 0.0095]  # straddles the noisy input: did not learn, not significantly
    scatter = lambda base: {v: [base * x for x in (r if i % 2 else r[1:] + r[:1])] for i, v in enumerate(names)}  # noqa: E731
    ep = {v: [15, 13, 14] if i % 2 else [13, 15, 14] for i, v in enumerate(names)}
    got = verdicts(dl.decide(metrics_of(mse, ep, scatter(0.1), scatter(0.01), ep), NOISY, 15))
    assert set(got.values()) == {"inconclusive"}, got


def test_a_run_that_did_not_learn_carries_no_verdict_on_how_it_learned():
    # the case: sigma 1e4 and 1e6 never learned and early stopping ended them at epoch 4;
    # the epochs alone would say "holds"
    m = reference_like()
    for s, v in (("1e4", 0.066), ("1e6", 0.068)):
        m["test_mse"][f"corr-prec-{s}"] = {0: v, 1: v * 1.01, 2: v * 0.99}
        m["epochs_trained"][f"corr-prec-{s}"] = {0: 4, 1: 4, 2: 4}
    fs = {f.id: f for f in dl.decide(m, NOISY, 15)}
    assert fs["sigma-stops-earlier"].verdict == "inconclusive"
    assert "did not learn" in fs["sigma-stops-earlier"].test and "holds" in fs["sigma-stops-earlier"].test
    assert fs["sigma-faster-overfits-sooner"].verdict == "inconclusive"
    assert fs["precision-reproduces-table5"].verdict == "does not hold"
    assert fs["sigma-harms-training"].verdict == "holds"  # not learning is the harm R32 speaks of
    assert fs["sigma-stops-earlier"].ref == "R33" and fs["bandwidth-reproduces-table5"].ref is None
