"""MNIST data: IDX reader, folder/cache/download resolution, demo pack and the pinned classifier
(read by the data layer as a state dict, built by the models layer, trained by the pack script)."""

import contextlib
import gzip
import importlib.util
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from dltour.data import mnist
from dltour.data.source import DataUnavailable

ROOT = Path(__file__).resolve().parents[1]


def judge(name: str = "cnn"):
    """A pinned judge as the study builds it: the data layer's state dict, the models layer's network."""
    from dltour.models.mnist_classifier import load_judge

    state, digest = mnist.load_judge_weights(name)
    return load_judge(name, state), digest


def pack_script():
    spec = importlib.util.spec_from_file_location("build_demo_pack", ROOT / "scripts" / "build_demo_pack.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_idx(path, arr: np.ndarray, gz: bool = True) -> None:
    code = {np.dtype(np.uint8): 0x08}[arr.dtype]
    raw = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def make_folder(folder, n_train=6, n_test=4, gz=True):
    rng = np.random.default_rng(0)
    arrs = {"train-images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train-labels": rng.integers(0, 10, n_train, dtype=np.uint8),
            "test-images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "test-labels": rng.integers(0, 10, n_test, dtype=np.uint8)}
    for key, a in arrs.items():
        name = mnist._FILES[key][0]
        write_idx(folder / (name if gz else name.removesuffix(".gz")), a, gz)
    return arrs


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "x.idx", a, gz)
    b = mnist.read_idx(tmp_path / "x.idx")
    assert b.dtype == np.uint8 and np.array_equal(a, b)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 10)
    with pytest.raises(DataUnavailable, match="magic"):
        mnist.read_idx(tmp_path / "bad")
    a = np.zeros((3, 28, 28), np.uint8)
    write_idx(tmp_path / "t", a, gz=False)
    (tmp_path / "t").write_bytes((tmp_path / "t").read_bytes()[:-5])
    with pytest.raises(DataUnavailable, match="truncated"):
        mnist.read_idx(tmp_path / "t")
    with pytest.raises(DataUnavailable, match="cannot read"):
        mnist.read_idx(tmp_path / "missing.gz")


def test_bytes_flipped_inside_a_gzip_give_one_line(tmp_path):
    """Issue 22: damage inside the compressed stream raised zlib.error and a 119-line traceback."""
    a = (np.arange(50 * 28 * 28) % 7).astype(np.uint8).reshape(50, 28, 28)  # compressible: real deflate blocks
    write_idx(tmp_path / "x.gz", a, gz=True)
    raw = bytearray((tmp_path / "x.gz").read_bytes())
    for i in range(20, 40):  # inside the deflate stream: zlib.error, not a CRC mismatch
        raw[i] ^= 0xFF
    (tmp_path / "x.gz").write_bytes(bytes(raw))
    with pytest.raises(DataUnavailable, match="damaged or truncated.*dltour data fetch") as e:
        mnist.read_idx(tmp_path / "x.gz")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("gz", [True, False])
def test_load_from_explicit_folder(tmp_path, gz):
    arrs = make_folder(tmp_path, gz=gz)
    d = mnist.load(tmp_path)
    assert np.array_equal(d["train_x"], arrs["train-images"]) and np.array_equal(d["test_y"], arrs["test-labels"])


def test_folder_errors(tmp_path):
    with pytest.raises(DataUnavailable, match="not a folder"):
        mnist.load(tmp_path / "nope")
    make_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataUnavailable, match="t10k-labels"):
        mnist.load(tmp_path)


def test_mismatched_labels_rejected(tmp_path):
    make_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(DataUnavailable, match="labels"):
        mnist.load(tmp_path)


def test_specs_pin_torchvision_md5s():
    from torchvision.datasets import MNIST

    published = dict(MNIST.resources)
    for spec in mnist.SPECS.values():
        assert spec.known_hash == f"md5:{published[spec.filename]}"
        assert spec.url == MNIST.mirrors[0] + spec.filename


def test_offline_without_cache_is_data_unavailable(monkeypatch):
    import pooch
    import requests

    def offline(*a, **k):
        raise requests.exceptions.ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataUnavailable, match="train-images-idx3-ubyte.gz"):
        mnist.load(source="download")


def test_cached_files_are_used(tmp_path, monkeypatch):
    """Files in the cache with the pinned md5 are read without any download."""
    import pooch

    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: pytest.fail("should not download"))
    cache = tmp_path / "cache"
    cache.mkdir()
    make_folder(cache)
    pins = {}
    for key, spec in mnist.SPECS.items():
        import hashlib

        pins[key] = spec.__class__(**{**spec.__dict__, "known_hash": "md5:" + hashlib.md5(
            (cache / spec.filename).read_bytes()).hexdigest()})
    monkeypatch.setattr(mnist, "SPECS", pins)
    monkeypatch.setenv("DLTOUR_DATA", str(cache))
    assert mnist.load(source="download")["train_x"].shape == (6, 28, 28)


def test_unknown_source():
    with pytest.raises(DataUnavailable, match="unknown MNIST source"):
        mnist.load(source="web")


def test_demo_pack_subset_and_budget():
    d = mnist.load(source="embedded")
    assert d["train_x"].shape == (mnist.DEMO_TRAIN, 28, 28) and d["test_x"].shape == (mnist.DEMO_TEST, 28, 28)
    assert set(np.unique(d["train_y"])) == set(range(10))
    files = [p for p in mnist.demo_path().parent.iterdir() if p.name.startswith("mnist")]
    assert sum(p.stat().st_size for p in files) <= 5_000_000  # subset, judge 1 (CNN) and judge 2 (MLP, 2.7 MB)


def test_classifier_is_pinned_and_accurate_on_demo_test():
    import torch

    from dltour.models.mnist_classifier import predict_proba

    model, digest = judge()
    assert digest == mnist.CLASSIFIER_SHA256 == mnist.classifier_info()["sha256"]
    d = mnist.load(source="embedded")
    x = torch.from_numpy(d["test_x"].reshape(-1, 784)).float() / 255
    acc = float((predict_proba(model, x).argmax(1).numpy() == d["test_y"]).mean())
    assert acc >= 0.98  # 2k demo test digits; >= 99% on the full test set is checked below


def test_classifier_hash_mismatch_is_refused(tmp_path):
    p = tmp_path / "clf.pt"
    p.write_bytes(mnist.classifier_path().read_bytes() + b"x")
    with pytest.raises(DataUnavailable, match="sha256"):
        mnist.load_judge_weights("cnn", p)
    with pytest.raises(DataUnavailable, match="sha256"):  # judge 2's file is not judge 1's
        mnist.load_judge_weights("cnn", mnist.classifier_path("mlp"))
    with pytest.raises(ValueError, match="unknown judge"):
        mnist.load_judge_weights("resnet")


def test_data_layer_reads_state_dicts_and_the_models_layer_builds_the_judges():
    import torch

    from dltour.models.mnist_classifier import JUDGES, MnistCNN, MnistMLP, load_judge

    assert set(JUDGES) == set(mnist.JUDGES)
    for name, (arch, *_rest) in mnist.JUDGES.items():
        state, digest = mnist.load_judge_weights(name)
        assert all(isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in state.values())
        assert digest == mnist.JUDGES[name][3] and JUDGES[name].__name__ == arch
        model = load_judge(name, state)
        assert not model.training and isinstance(model, {"cnn": MnistCNN, "mlp": MnistMLP}[name])
    with pytest.raises(ValueError, match="unknown judge"):
        load_judge("resnet", {})


def test_pack_script_trains_the_judges_and_writes_pinnable_files(tmp_path):
    """The pack script's judge recipe on a tiny fake MNIST (the real one takes minutes): it writes
    state dicts the data layer reads back by the sha256 the info file records."""
    from dltour.models.mnist_classifier import load_judge

    script = pack_script()
    rng = np.random.default_rng(0)
    d = {"train_x": rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), "train_y": rng.integers(0, 10, 64, dtype=np.uint8),
         "test_x": rng.integers(0, 256, (32, 28, 28), dtype=np.uint8), "test_y": rng.integers(0, 10, 32, dtype=np.uint8)}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        model, info = script.train_classifier(d["train_x"], d["train_y"], d["test_x"], d["test_y"], epochs=1)
        files = script._save_judge(model, info, tmp_path, mnist.CLASSIFIER_FILE, mnist.CLASSIFIER_INFO, "X")
        files += script.build_judge2(d, tmp_path, epochs=1)
    assert [f.name for f in files] == [mnist.CLASSIFIER_FILE, mnist.CLASSIFIER_INFO, mnist.JUDGE2_FILE, mnist.JUDGE2_INFO]
    assert "pin it as JUDGE2_SHA256" in printed.getvalue()
    for name, (arch, fname, info_name, _) in mnist.JUDGES.items():
        info = json.loads((tmp_path / info_name).read_text())
        assert info["architecture"] == arch and info["epochs"] == 1 and info["train_images"] == 64
        state, digest = mnist.load_judge_weights(name, tmp_path / fname, expected_sha256=info["sha256"])
        assert digest == info["sha256"]
        load_judge(name, state)
    assert json.loads((tmp_path / mnist.JUDGE2_INFO).read_text())["seed"] == 1


def test_shared_mnist_loads(shared_data):
    d = mnist.load(shared_data / "mnist")
    assert d["train_x"].shape == (60000, 28, 28) and d["test_x"].shape == (10000, 28, 28)
    # the canonical test-label counts of MNIST
    assert np.bincount(d["test_y"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_classifier_99_percent_on_full_test_set(shared_data):
    import torch

    from dltour.models.mnist_classifier import predict_proba

    d = mnist.load(shared_data / "mnist")
    model, _ = judge()
    x = torch.from_numpy(d["test_x"].reshape(-1, 784)).float() / 255
    acc = float((predict_proba(model, x).argmax(1).numpy() == d["test_y"]).mean())
    assert acc >= 0.99


def test_second_judge_is_pinned_independent_and_accurate(shared_data):
    import torch

    from dltour.models.mnist_classifier import MnistCNN, MnistMLP, predict_proba

    model, digest = judge("mlp")
    info = mnist.classifier_info("mlp")
    assert digest == mnist.JUDGE2_SHA256 == info["sha256"] != mnist.CLASSIFIER_SHA256
    assert isinstance(model, MnistMLP) and not any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert info["seed"] != mnist.classifier_info("cnn").get("seed", 0) and info["architecture"] != "MnistCNN"
    assert isinstance(judge()[0], MnistCNN)
    d = mnist.load(shared_data / "mnist")
    x = torch.from_numpy(d["test_x"].reshape(-1, 784)).float() / 255
    acc = float((predict_proba(model, x).argmax(1).numpy() == d["test_y"]).mean())
    assert acc == pytest.approx(info["test_accuracy"], abs=1e-4) and acc >= 0.98


def test_mirror_identity_and_decoded_arrays(shared_data):
    """The mirror is named for what it is (rebuilt training images; the published digests of the
    canonical files are checked in ``test_data_identity.py``); ``MIRROR_ARRAYS_SHA256`` is the digest
    of its decoded arrays, not the canonical MNIST's."""
    from dltour.data.mnist import MnistData

    assert mnist.data_sha256(mnist.load(shared_data / "mnist")) == mnist.MIRROR_ARRAYS_SHA256 == mnist.MNIST_SHA256
    assert mnist.identity(MnistData(path=str(shared_data / "mnist"))) == mnist.REBUILT_LABEL
    assert mnist.is_reference_data(MnistData(path=str(shared_data / "mnist")))[0]
    ok, why = mnist.is_reference_data(MnistData(path=str(shared_data / "mnist"), train_subset=1000))
    assert not ok and "1,000 training" in why
    assert mnist.is_mnist(MnistData(path=str(shared_data / "mnist"), train_subset=1000))[0]
    assert not mnist.is_reference_data(MnistData(source="embedded"))[0] and mnist.is_mnist(MnistData(source="embedded"))[0]


def test_data_sha256_sees_any_change():
    a = {k: np.zeros((3, 28, 28) if k.endswith("x") else 3, np.uint8) for k in ("train_x", "train_y", "test_x", "test_y")}
    h = mnist.data_sha256(a)
    a["test_y"] = a["test_y"].copy()
    a["test_y"][0] = 1
    assert mnist.data_sha256(a) != h


def test_demo_subset_rebuilds_to_the_shipped_arrays(shared_data, tmp_path):
    """The data part of the pack (``build_demo``: the seeded subset, no training) gives the shipped arrays."""
    with contextlib.redirect_stdout(io.StringIO()):
        files = mnist.build_demo(shared_data, tmp_path)
    assert [f.name for f in files] == [mnist.DEMO_FILE]
    with np.load(files[0]) as new, np.load(mnist.demo_path()) as shipped:
        assert sorted(new.files) == sorted(shipped.files)
        assert all(np.array_equal(new[k], shipped[k]) for k in shipped.files)
