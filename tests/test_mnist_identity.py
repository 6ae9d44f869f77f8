"""Which MNIST a data config reads and where it comes from (issue 23 item 7): tests that kill the
mutants of ``dltour/data/mnist.py`` that survived (or had no test in) the mutation run of
``scripts/mutation.sh runs-data``: ``_identify`` / ``_identity`` (labels, their detail strings and
the identity cache), ``is_reference_data`` / ``is_mnist`` (the exact reasons), ``build_demo``,
``classifier_path`` / ``classifier_info``, ``arrays_for`` / ``tensors_for``.

Everything runs on small synthetic IDX files written to ``tmp_path``; a file is made "canonical" by
registering its decompressed md5 in ``mnist.CANONICAL`` (monkeypatched), and the download source is
pointed at a folder by monkeypatching ``mnist.fetch``, so nothing is downloaded."""

import hashlib
import json
import struct

import numpy as np
import pytest

from dltour.data import mnist
from dltour.data.mnist import MnistData
from dltour.data.source import DataUnavailable

KEYS = ("train-images", "train-labels", "test-images", "test-labels")


def idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def arrays(n_train: int = 6, n_test: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"train-images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train-labels": rng.integers(0, 10, n_train, dtype=np.uint8),
            "test-images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "test-labels": rng.integers(0, 10, n_test, dtype=np.uint8)}


def write_folder(folder, arrs: dict[str, np.ndarray], gz: bool = False):
    """The four IDX files under their canonical names (un-gzipped names unless ``gz``)."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, a in arrs.items():
        name = mnist._FILES[key][0]
        raw = idx_bytes(a)
        files[key] = folder / (name if gz else name.removesuffix(".gz"))
        files[key].write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    return files


def register(monkeypatch, arrs: dict[str, np.ndarray], keys=KEYS) -> None:
    """Make ``arrs[key]``'s IDX content the canonical one for each of ``keys``."""
    for key in keys:
        monkeypatch.setitem(mnist.CANONICAL, key, {"gz_md5": "0" * 32,
                                                   "idx_md5": hashlib.md5(idx_bytes(arrs[key])).hexdigest(),
                                                   "idx_sha256": None})


def why_not(key: str, path, arr: np.ndarray) -> str:
    """The detail ``_file_kind`` gives for a non-canonical file, written out by hand."""
    raw = idx_bytes(arr)
    md5, sha = hashlib.md5(raw).hexdigest(), hashlib.sha256(raw).hexdigest()
    return (f"{path.name}: content md5 {md5[:12]}... / sha256 {sha[:12]}..., not the canonical "
            f"md5 {mnist.CANONICAL[key]['idx_md5'][:12]}...")


@pytest.fixture(autouse=True)
def _own_caches(monkeypatch):
    """Fresh identity and array caches for each test (the module's own are restored afterwards)."""
    monkeypatch.setattr(mnist, "_ID_CACHE", {})
    monkeypatch.setattr(mnist, "_CACHE", {})


@pytest.fixture(autouse=True)
def _no_download(monkeypatch):
    """A test that reaches ``fetch`` without pointing it somewhere fails at once (never the network)."""
    def refuse(spec):
        raise DataUnavailable(f"test: no download of {spec.filename}")
    monkeypatch.setattr(mnist, "fetch", refuse)


@pytest.fixture
def canonical(tmp_path, monkeypatch):
    """A folder whose four (synthetic) files are registered as the canonical MNIST files."""
    arrs = arrays()
    folder = tmp_path / "canonical"
    write_folder(folder, arrs)
    register(monkeypatch, arrs)
    return folder


def download_from(monkeypatch, folder) -> None:
    """``source="download"`` gets the four files from ``folder`` (gzipped names, as the cache has them)."""
    monkeypatch.setattr(mnist, "fetch", lambda spec: folder / spec.filename)



def test_a_matching_md5_with_a_known_other_sha256_is_not_canonical(tmp_path, monkeypatch):
    """Where the canonical sha256 is known, the md5 alone (forgeable by collision) is not enough."""
    arrs = arrays()
    files = write_folder(tmp_path / "f", arrs)
    raw = idx_bytes(arrs["test-images"])
    ref = {"gz_md5": "0" * 32, "idx_md5": hashlib.md5(raw).hexdigest(),
           "idx_sha256": hashlib.sha256(raw).hexdigest()}
    monkeypatch.setitem(mnist.CANONICAL, "test-images", ref)
    assert mnist.file_kind("test-images", files["test-images"]) == "canonical"
    monkeypatch.setitem(mnist.CANONICAL, "test-images", {**ref, "idx_sha256": "f" * 64})
    assert mnist.file_kind("test-images", files["test-images"]) is None


def test_only_the_training_images_can_be_the_rebuilt_mirrors(tmp_path, monkeypatch):
    """The rebuilt digest names the mirror's training images: the same bytes under another key are not MNIST."""
    arrs = arrays()
    files = write_folder(tmp_path / "f", arrs)
    monkeypatch.setattr(mnist, "REBUILT_TRAIN_IMAGES_IDX_SHA256",
                        hashlib.sha256(idx_bytes(arrs["train-images"])).hexdigest())
    assert mnist.file_kind("train-images", files["train-images"]) == "rebuilt"
    assert mnist.file_kind("test-images", files["train-images"]) is None

# ---------------------------------------------------------------- _identify: label and detail
def test_identify_gives_no_detail_for_canonical_or_rebuilt_files(tmp_path, monkeypatch):
    arrs = arrays()
    files = write_folder(tmp_path / "f", arrs)
    register(monkeypatch, arrs)
    assert mnist._identify(files) == (mnist.CANONICAL_LABEL, "")
    monkeypatch.setattr(mnist, "REBUILT_TRAIN_IMAGES_IDX_SHA256",
                        hashlib.sha256(idx_bytes(arrs["train-images"])).hexdigest())
    monkeypatch.setitem(mnist.CANONICAL, "train-images", {"gz_md5": "0" * 32, "idx_md5": "1" * 32, "idx_sha256": None})
    assert mnist._identify(files) == (mnist.REBUILT_LABEL, "")


def test_identify_detail_names_exactly_the_files_that_differ(tmp_path, monkeypatch):
    """Not MNIST: the detail is each differing file's digests, in ``_FILES`` order, joined by "; ",
    and nothing for the files that are canonical."""
    arrs = arrays()
    files = write_folder(tmp_path / "f", arrs)
    register(monkeypatch, arrs, keys=("train-images", "test-images"))
    for key in ("train-labels", "test-labels"):
        monkeypatch.setitem(mnist.CANONICAL, key, {"gz_md5": "0" * 32, "idx_md5": "ab" * 16, "idx_sha256": None})
    detail = (f"{why_not('train-labels', files['train-labels'], arrs['train-labels'])}; "
              f"{why_not('test-labels', files['test-labels'], arrs['test-labels'])}")
    assert detail.startswith("train-labels-idx1-ubyte: content md5 ") and "not the canonical md5 abababababab..." in detail
    assert mnist._identify(files) == (mnist.NOT_MNIST_LABEL, detail)
    # one differing file: its detail alone, no separator, nothing for the three canonical files
    register(monkeypatch, arrs, keys=("test-labels",))
    assert mnist._identify(files) == (mnist.NOT_MNIST_LABEL,
                                      why_not("train-labels", files["train-labels"], arrs["train-labels"]))


# ---------------------------------------------------------------- _identity: embedded, download, path
def test_identity_of_the_embedded_pack_has_no_detail():
    assert mnist._identity(MnistData(source="embedded")) == (mnist.EMBEDDED_LABEL, "")


def test_a_path_wins_over_the_embedded_source(canonical):
    """With a folder the files are identified whatever ``source`` says (as ``load`` reads the folder)."""
    data = MnistData(path=str(canonical), source="embedded")
    assert mnist._identity(data) == (mnist.CANONICAL_LABEL, "")
    assert mnist.is_reference_data(data) == (True, "")
    assert mnist.is_mnist(data) == (True, "")


def test_the_download_source_is_identified_by_the_fetched_files(tmp_path, monkeypatch):
    """``path=None, source="download"``: the four fetched files decide (not the embedded answer)."""
    arrs = arrays()
    write_folder(tmp_path / "cache", arrs, gz=True)
    download_from(monkeypatch, tmp_path / "cache")
    register(monkeypatch, arrs)
    data = MnistData()
    assert data.path is None and data.source == "download"
    assert mnist._identity(data) == (mnist.CANONICAL_LABEL, "")
    assert mnist.identity(data) == mnist.CANONICAL_LABEL
    assert mnist.is_reference_data(data) == (True, "")
    assert mnist.is_mnist(data) == (True, "")


def test_the_download_source_with_other_files_is_not_mnist(tmp_path, monkeypatch):
    arrs = arrays()
    files = write_folder(tmp_path / "cache", arrs, gz=True)
    download_from(monkeypatch, tmp_path / "cache")
    register(monkeypatch, arrs, keys=("train-images", "train-labels", "test-images"))
    monkeypatch.setitem(mnist.CANONICAL, "test-labels", {"gz_md5": "0" * 32, "idx_md5": "cd" * 16, "idx_sha256": None})
    detail = why_not("test-labels", files["test-labels"], arrs["test-labels"])
    assert detail.startswith("t10k-labels-idx1-ubyte.gz: content md5 ")
    assert mnist._identity(MnistData()) == (mnist.NOT_MNIST_LABEL, detail)
    assert mnist.is_reference_data(MnistData()) == (False, f"data differs: {mnist.NOT_MNIST_LABEL} ({detail})")
    # is_mnist trusts the checksummed download (no path): it does not look at the files
    assert mnist.is_mnist(MnistData()) == (True, "")


def test_identity_cache_is_per_folder_and_a_path_ignores_source(tmp_path, monkeypatch):
    arrs, other = arrays(seed=0), arrays(seed=1)
    a, b = tmp_path / "a", tmp_path / "b"
    write_folder(a, arrs)
    write_folder(b, other)
    register(monkeypatch, arrs)
    calls = []
    real = mnist._identify
    monkeypatch.setattr(mnist, "_identify", lambda files: calls.append(files) or real(files))
    assert mnist.identity(MnistData(path=str(a))) == mnist.CANONICAL_LABEL
    assert mnist.identity(MnistData(path=str(b))) == mnist.NOT_MNIST_LABEL  # not the first folder's answer
    assert len(calls) == 2
    # the same folder with the other source (which a path overrides) is the same data: answered from the cache
    assert mnist.identity(MnistData(path=str(a), source="embedded")) == mnist.CANONICAL_LABEL
    assert mnist.identity(MnistData(path=str(b), source="embedded")) == mnist.NOT_MNIST_LABEL
    assert len(calls) == 2
    assert mnist.identity(MnistData(path=str(a), train_subset=100)) == mnist.CANONICAL_LABEL
    assert len(calls) == 2


# ---------------------------------------------------------------- is_reference_data / is_mnist: the reasons
EMBEDDED_WHY = "data differs: the embedded demo subset (10,000 + 2,000 digits), not the full MNIST"


def test_embedded_reason_is_exact():
    assert (mnist.DEMO_TRAIN, mnist.DEMO_TEST) == (10_000, 2_000)
    assert mnist.is_reference_data(MnistData(source="embedded")) == (False, EMBEDDED_WHY)


@pytest.mark.parametrize("train, test, cut", [(500, 200, "cut to 500 / 200)"), (500, None, "cut to 500 / all)"),
                                             (None, 200, "cut to all / 200)")])
def test_embedded_reason_names_a_cut_of_either_split(train, test, cut):
    ok, why = mnist.is_reference_data(MnistData(source="embedded", train_subset=train, test_subset=test))
    assert not ok
    head, tail = "data differs: the embedded demo subset (10,000 + 2,000 digits, cut to ", "), not the full MNIST"
    assert why.startswith(head) and why.endswith(tail) and cut in why, why


def test_not_mnist_reason_carries_the_digests_and_is_mnist_drops_the_prefix(tmp_path, monkeypatch):
    arrs = arrays()
    files = write_folder(tmp_path / "f", arrs)
    register(monkeypatch, arrs, keys=("train-images", "train-labels", "test-labels"))
    monkeypatch.setitem(mnist.CANONICAL, "test-images", {"gz_md5": "0" * 32, "idx_md5": "ef" * 16, "idx_sha256": None})
    detail = why_not("test-images", files["test-images"], arrs["test-images"])
    data = MnistData(path=str(tmp_path / "f"))
    assert mnist.is_reference_data(data) == (False, f"data differs: {mnist.NOT_MNIST_LABEL} ({detail})")
    assert mnist.is_mnist(data) == (False, f"{mnist.NOT_MNIST_LABEL} ({detail})")
    assert mnist.is_mnist(data)[1].startswith("not MNIST (neither the canonical")


def test_a_reason_without_detail_has_no_parentheses(monkeypatch):
    """Only reachable by stubbing ``_identity``: every real "not MNIST" answer has a detail (see the
    report of issue 23 item 7); the format is pinned for a label that comes without one."""
    monkeypatch.setattr(mnist, "_identity", lambda data: (mnist.NOT_MNIST_LABEL, ""))
    assert mnist.is_reference_data(MnistData(path="anywhere")) == (False, f"data differs: {mnist.NOT_MNIST_LABEL}")


def test_is_mnist_ignores_a_cut_of_either_split(canonical):
    for train, test in ((100, 100), (None, 100), (100, None)):
        data = MnistData(path=str(canonical), train_subset=train, test_subset=test)
        assert mnist.is_mnist(data) == (True, ""), (train, test)
        ok, why = mnist.is_reference_data(data)
        assert not ok and why.startswith(f"data differs: {mnist.CANONICAL_LABEL}, cut to ")
    ok, why = mnist.is_reference_data(MnistData(path=str(canonical), test_subset=100))
    assert why == ("data differs: MNIST (canonical files), cut to 60,000 training / 100 test digits, "
                   "not all 60,000 + 10,000")


def test_is_mnist_without_a_path_is_true_with_no_reason():
    assert mnist.is_mnist(MnistData(source="embedded")) == (True, "")
    assert mnist.is_mnist(MnistData(source="download", train_subset=100)) == (True, "")


# ---------------------------------------------------------------- build_demo
def test_build_demo_writes_a_sorted_subset_without_repeats_into_a_new_folder(tmp_path, monkeypatch, capsys):
    """On a small fake shared folder (image i is all i, label i % 10): the pack folder is created with
    its parents, the subset holds distinct images in file order with their own labels, and the
    printout is the decoded data's sha256."""
    n_train, n_test = 20, 9
    arrs = {"train-images": np.repeat(np.arange(n_train, dtype=np.uint8), 784).reshape(n_train, 28, 28),
            "train-labels": (np.arange(n_train) % 10).astype(np.uint8),
            "test-images": np.repeat(np.arange(100, 100 + n_test, dtype=np.uint8), 784).reshape(n_test, 28, 28),
            "test-labels": (np.arange(100, 100 + n_test) % 10).astype(np.uint8)}
    write_folder(tmp_path / "shared" / "mnist", arrs)
    monkeypatch.setattr(mnist, "DEMO_TRAIN", 7)
    monkeypatch.setattr(mnist, "DEMO_TEST", 4)
    out_dir = tmp_path / "pack" / "src" / "demo_data"  # neither it nor its parent exists yet
    files = mnist.build_demo(tmp_path / "shared", out_dir)
    assert files == [out_dir / mnist.DEMO_FILE]
    digest = mnist.data_sha256(mnist.load(tmp_path / "shared" / "mnist"))
    assert capsys.readouterr().out == f"mnist: decoded data sha256 {digest} (pin it as MNIST_SHA256)\n"
    with np.load(files[0]) as z:
        assert sorted(z.files) == ["test_x", "test_y", "train_x", "train_y"]
        for split, n, first in (("train", 7, 0), ("test", 4, 100)):
            x, y = z[f"{split}_x"], z[f"{split}_y"]
            assert x.shape == (n, 28, 28) and x.dtype == np.uint8
            ids = x[:, 0, 0].astype(int)
            assert (x == ids[:, None, None]).all()
            assert (np.diff(ids) > 0).all() and ids.min() >= first  # sorted, no repeats
            assert (y == ids % 10).all()


# ---------------------------------------------------------------- the judges' files
def test_classifier_path_names_each_judges_weights_file():
    assert mnist.classifier_path() == mnist.demo_path(mnist.CLASSIFIER_FILE)
    assert mnist.classifier_path().name == "mnist_classifier.pt"
    assert mnist.classifier_path("cnn") == mnist.classifier_path()
    assert mnist.classifier_path("mlp") == mnist.demo_path(mnist.JUDGE2_FILE)
    assert mnist.classifier_path("mlp").name == "mnist_judge2.pt"


def test_classifier_info_reads_each_judges_info_file_and_is_empty_without_one(monkeypatch):
    for judge, info_file, sha in (("cnn", mnist.CLASSIFIER_INFO, mnist.CLASSIFIER_SHA256),
                                  ("mlp", mnist.JUDGE2_INFO, mnist.JUDGE2_SHA256)):
        p = mnist.demo_path(info_file)
        if not p.exists():
            pytest.skip(f"{p} not present (the demo pack is not built)")
        info = mnist.classifier_info(judge)
        assert info == json.loads(p.read_text()) and info["sha256"] == sha
    assert mnist.classifier_info() == mnist.classifier_info("cnn")
    monkeypatch.setitem(mnist.JUDGES, "none", ("MnistCNN", "no_such.pt", "no_such_info.json", "0" * 64))
    assert mnist.classifier_info("none") == {}


def test_load_judge_weights_defaults_to_judge_1():
    if not mnist.classifier_path().exists():
        pytest.skip(f"{mnist.classifier_path()} not present (the demo pack is not built)")
    _, digest = mnist.load_judge_weights()
    assert digest == mnist.CLASSIFIER_SHA256


# ---------------------------------------------------------------- arrays_for / tensors_for
def test_arrays_for_cuts_each_split_and_caches_one_dataset(tmp_path, monkeypatch):
    a_arrs, b_arrs, c_arrs = arrays(120, 110, seed=0), arrays(101, 102, seed=1), arrays(103, 104, seed=2)
    write_folder(tmp_path / "a", a_arrs)
    write_folder(tmp_path / "b", b_arrs)
    write_folder(tmp_path / "c", c_arrs, gz=True)
    download_from(monkeypatch, tmp_path / "c")
    loads = []
    real = mnist.load
    monkeypatch.setattr(mnist, "load", lambda *a, **k: loads.append(a) or real(*a, **k))

    def same(got, arrs, n_train=None, n_test=None):
        assert sorted(got) == ["test_x", "test_y", "train_x", "train_y"]
        want = {"train_x": arrs["train-images"][:n_train], "train_y": arrs["train-labels"][:n_train],
                "test_x": arrs["test-images"][:n_test], "test_y": arrs["test-labels"][:n_test]}
        return all(got[k].shape == want[k].shape and np.array_equal(got[k], want[k]) for k in want)

    assert same(mnist.arrays_for(MnistData(path=str(tmp_path / "a"))), a_arrs)
    assert same(mnist.arrays_for(MnistData(path=str(tmp_path / "a"), train_subset=100, test_subset=105)),
                a_arrs, 100, 105)
    assert same(mnist.arrays_for(MnistData(path=str(tmp_path / "a"), source="embedded", test_subset=100)),
                a_arrs, None, 100)  # a path wins over the source: the same data, from the cache
    assert loads == [(str(tmp_path / "a"), "download")]
    assert same(mnist.arrays_for(MnistData(path=str(tmp_path / "b"))), b_arrs)  # another folder: reloaded
    assert same(mnist.arrays_for(MnistData()), c_arrs)  # the download source: the fetched files
    embedded = mnist.arrays_for(MnistData(source="embedded"))
    assert len(embedded["train_x"]) == mnist.DEMO_TRAIN and len(embedded["test_y"]) == mnist.DEMO_TEST
    assert same(mnist.arrays_for(MnistData(source="download")), c_arrs)  # not the embedded subset
    assert loads[1:] == [(str(tmp_path / "b"), "download"), (None, "download"), (None, "embedded"),
                         (None, "download")]


def test_tensors_for_flattens_scales_and_moves_to_the_device(tmp_path, monkeypatch):
    import torch

    arrs = arrays(5, 3)
    arrs["train-images"][0, 0, 0], arrs["train-images"][0, 0, 1] = 0, 255
    write_folder(tmp_path / "f", arrs)
    data = MnistData(path=str(tmp_path / "f"))
    t = mnist.tensors_for(data, torch.device("cpu"))
    assert sorted(t) == ["test_x", "test_y", "train_x", "train_y"]
    for split, n in (("train", 5), ("test", 3)):
        x, y = t[f"{split}_x"], t[f"{split}_y"]
        assert x.shape == (n, 784) and x.dtype == torch.float32
        want = arrs[f"{split}-images"].reshape(n, 784).astype(np.float32) / np.float32(255.0)
        assert torch.equal(x, torch.from_numpy(want))
        assert y.dtype == torch.int64 and y.tolist() == arrs[f"{split}-labels"].tolist()
    assert t["train_x"][0, 0].item() == 0.0 and t["train_x"][0, 1].item() == 1.0
    meta = mnist.tensors_for(data, torch.device("meta"))  # a device other than the default: really moved
    assert all(v.device.type == "meta" for v in meta.values())
    assert meta["train_x"].dtype == torch.float32 and meta["test_y"].dtype == torch.int64


def test_a_damaged_file_names_its_dataset_in_the_fix(tmp_path):
    """A gzip cut short is one line that says which dataset to fetch again (mutation run of this
    session: the dataset's name passed to the reader was not checked)."""
    import gzip

    good = gzip.compress(idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8)))
    cut = tmp_path / "train-images-idx3-ubyte.gz"
    cut.write_bytes(good[:len(good) // 2])
    with pytest.raises(DataUnavailable, match="dltour data fetch mnist-train-images"):
        mnist._file_kind("train-images", cut)
