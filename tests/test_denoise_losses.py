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
from dltour.data.source import DataUnavailable
from dltour.experiments import denoise_losses as dl
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
    assert dl.parse_loss("mse") == ("mse", None)
    assert dl.parse_loss("correntropy-1e4") == ("correntropy", 1e4)
    for bad in ("huber", "correntropy-", "correntropy-abc", "correntropy--5", "correntropy-inf"):
        with pytest.raises(DltourError, match="unknown loss"):
            dl.parse_loss(bad)
    study = get_study("denoise-losses")
    with pytest.raises(DltourError, match="unknown loss"):
        study.variants(resolve_config(study, "smoke", {"losses": ["mse", "l4"]}))
    with pytest.raises(DltourError, match="repeats"):
        study.variants(resolve_config(study, "smoke", {"losses": ["mse", "mse"]}))


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
    noisy = dl.DenoiseLosses()._noisy(clean, a, 0.1)
    assert float(((noisy - clean) ** 2).mean()) == pytest.approx(0.01, rel=0.03)


def test_to_float_layout_and_crop():
    x = torch.randint(0, 256, (2, 5, 7, 3), dtype=torch.uint8)
    a, b = dl.to_float(x, channels_last=True), dl.to_float(x, channels_last=False)
    assert a.shape == b.shape == (2, 3, 5, 7) and torch.equal(a, b)
    assert a.is_contiguous(memory_format=torch.channels_last) and b.is_contiguous()
    assert float(a[1, 2, 4, 6]) == pytest.approx(int(x[1, 4, 6, 2]) / 255)
    assert dl.random_crop(x, 4).shape == (2, 4, 4, 3)
    assert dl.random_crop(x, None) is x
    assert dl.to_uint8_nhwc(a).tolist() == x.numpy().tolist()


def test_split_is_fixed_and_disjoint():
    tr, va = dl.split_indices(100, 50, 0.2)
    assert len(tr) == 40 and len(va) == 10 and not set(tr) & set(va)
    tr2, va2 = dl.split_indices(100, 50, 0.2)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)


def test_offline_full_profile_says_where_to_get_cifar100(tmp_path):
    study = get_study("denoise-losses")
    cfg = resolve_config(study, "full")
    assert study.comparable(cfg)  # CIFAR-100 is the reference's data
    dl.load_images.cache_clear()
    with pytest.raises(DataUnavailable, match="cifar-100-python.tar.gz.*https://www.cs.toronto.edu"):
        dl.load_images(cfg.data_source, cfg.data.path, cfg.image_size)
    with pytest.raises(DataUnavailable, match="does not exist"):
        dl.load_images("download", str(tmp_path / "nope.tar.gz"), 32)


def test_cifar100_archive_is_comparable_and_an_image_folder_is_not(tmp_path):
    archive = make_cifar100_archive(tmp_path / "cifar-100-python.tar.gz")
    assert dl.data_kind("download", str(archive)) == "cifar100"
    train, test, kind = dl.load_images("download", str(archive), 32)
    assert train.x.shape == (40, 32, 32, 3) and test.x.shape == (12, 32, 32, 3) and kind == "cifar100"
    folder = make_image_folder(tmp_path / "imgs")
    assert dl.data_kind("download", str(folder)) == "folder"
    train, test, kind = dl.load_images("download", str(folder), 16)  # resized 12 -> 16
    assert train.x.shape == (12, 16, 16, 3) and test.x.shape == (4, 16, 16, 3)
    study = get_study("denoise-losses")
    assert not study.comparable(resolve_config(study, "smoke", {"data.path": str(folder)}))
    assert not study.comparable(resolve_config(study, "demo"))


def test_shared_cifar10_jpegs_are_an_image_folder_source(shared_data):
    path = shared_data / "cifar10" / "CIFAR-10-images_jpg.tar.gz"
    assert dl.data_kind("download", str(path)) == "folder"  # reads the first member only


def test_smoke_run_on_a_cifar100_archive(tmp_path):
    archive = make_cifar100_archive(tmp_path / "c100.tar.gz")
    study = get_study("denoise-losses")
    cfg = resolve_config(study, "smoke", {"data.path": str(archive), "losses": ["mse", "correntropy-1e2"],
                                          "epochs": 2})
    doc = run_study(study, cfg, "smoke", tmp_path / "out", progress=False, log=lambda s: None)
    assert doc["comparable"] is True and doc["runs"] == 2
    m = doc["metrics"]
    assert set(m) == {"mse", "correntropy-1e2", "noisy-input"}
    assert m["mse"]["epochs_trained"]["mean"] == 2
    mse = m["mse"]["test_mse"]["mean"]
    assert m["mse"]["test_psnr"]["mean"] == pytest.approx(10 * np.log10(1 / mse))
    assert "Table 5" in doc["tables"][0]["title"]
    ids = {f["id"] for f in doc["findings"]}
    assert {"beats-noisy-input"} <= ids
    for f in doc["figures"]:
        assert (tmp_path / "out" / "denoise-losses" / f.split("/")[-1]).stat().st_size > 1000
    saved = json.loads((tmp_path / "out" / "denoise-losses" / "summary.json").read_text())
    assert saved["reference"][0]["variant"] == "correntropy-1e2"


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
