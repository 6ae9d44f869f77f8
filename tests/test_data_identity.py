"""Data identity by content (issues 22 item 4, 23 item 6): genuine MNIST recognised by the published
digests of its canonical files (whether the .gz files are the published ones, re-packed or
un-gzipped), this project's rebuilt mirror named as such, and the Game of Thrones scripts CSV in
Kaggle's real layout (a leading unnamed index column) recognised by header, seasons and row count."""

import gzip
import hashlib
import shutil
import struct

import numpy as np
import pytest

from dltour.data import corpora, mnist
from dltour.data.mnist import MnistData
from dltour.data.source import DataUnavailable


def idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


@pytest.fixture(autouse=True)
def _fresh_identity_cache():
    mnist._ID_CACHE.clear()
    yield
    mnist._ID_CACHE.clear()


# ---------------------------------------------------------------- MNIST: the published digests
def test_published_gz_md5s_are_torchvisions():
    """The .gz digests are the ones torchvision publishes (``MNIST.resources``), not the mirror's."""
    from torchvision.datasets import MNIST

    published = dict(MNIST.resources)
    for key, (fname, *_) in mnist._FILES.items():
        assert mnist.CANONICAL[key]["gz_md5"] == published[fname]
    assert mnist.CANONICAL["train-images"]["gz_md5"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"


def test_mirror_files_that_are_canonical_match_the_published_decompressed_md5s(shared_data):
    """Independent of the identity code: the mirror's test images and all labels decompress to the
    bytes whose md5s are published for the canonical files, though their .gz files are re-packed;
    its training images do not (they were rebuilt from PNGs)."""
    for key, (fname, *_) in mnist._FILES.items():
        gz = (shared_data / "mnist" / fname).read_bytes()
        assert md5(gz) != mnist.CANONICAL[key]["gz_md5"]  # re-packed: the .gz digest alone cannot tell
        raw = gzip.decompress(gz)
        canonical = md5(raw) == mnist.CANONICAL[key]["idx_md5"]
        assert canonical == (key != "train-images"), key
        if canonical:
            assert hashlib.sha256(raw).hexdigest() == mnist.CANONICAL[key]["idx_sha256"]
            assert mnist.file_kind(key, shared_data / "mnist" / fname) == "canonical"
    assert mnist.file_kind("train-images", shared_data / "mnist" / "train-images-idx3-ubyte.gz") == "rebuilt"


def test_the_mirror_is_recognised_as_rebuilt_training_images(shared_data):
    data = MnistData(path=str(shared_data / "mnist"))
    assert mnist.identity(data) == mnist.REBUILT_LABEL == "MNIST (rebuilt training images)"
    assert mnist.is_reference_data(data) == (True, "")
    ok, why = mnist.is_reference_data(data.model_copy(update={"train_subset": 1000}))
    assert not ok and "MNIST (rebuilt training images), cut to 1,000 training" in why
    assert mnist.identity(MnistData(source="embedded")) == mnist.EMBEDDED_LABEL
    assert mnist.data_label(data) == mnist.REBUILT_LABEL


def _genuine_like_folder(shared_data, tmp_path, gz_train: bool):
    """A folder with the mirror's three canonical files (real canonical content) and a training-images
    fixture standing in for the genuine file (which cannot be downloaded here)."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for key in ("train-labels", "test-images", "test-labels"):
        shutil.copyfile(shared_data / "mnist" / mnist._FILES[key][0], folder / mnist._FILES[key][0])
    imgs = (np.arange(20 * 28 * 28) % 251).astype(np.uint8).reshape(20, 28, 28)
    raw = idx_bytes(imgs)
    name = mnist._FILES["train-images"][0]
    if gz_train:
        (folder / name).write_bytes(gzip.compress(raw, mtime=0))
    else:
        (folder / name.removesuffix(".gz")).write_bytes(raw)
    return folder, raw


def test_genuine_train_images_recognised_by_their_published_gz_digest(shared_data, tmp_path, monkeypatch):
    """The published .gz md5 identifies the file: registered for the fixture, the folder is the
    canonical MNIST; unregistered (the real digest), it is not; a re-packed copy of the same content
    is recognised by its decompressed digest instead."""
    folder, raw = _genuine_like_folder(shared_data, tmp_path, gz_train=True)
    data = MnistData(path=str(folder))
    assert mnist.identity(data) == mnist.NOT_MNIST_LABEL  # with the real published digests: not genuine
    assert not mnist.is_mnist(data)[0]

    gz_md5 = md5((folder / "train-images-idx3-ubyte.gz").read_bytes())
    monkeypatch.setitem(mnist.CANONICAL, "train-images",
                        {"gz_md5": gz_md5, "idx_md5": "0" * 32, "idx_sha256": None})
    mnist._ID_CACHE.clear()
    assert mnist.identity(data) == mnist.CANONICAL_LABEL == "MNIST (canonical files)"
    assert mnist.is_reference_data(data) == (True, "")

    # the same content re-packed (another compression level): the .gz digest no longer matches
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
    mnist._ID_CACHE.clear()
    assert mnist.identity(data) == mnist.NOT_MNIST_LABEL
    monkeypatch.setitem(mnist.CANONICAL, "train-images", {"gz_md5": gz_md5, "idx_md5": md5(raw), "idx_sha256": None})
    mnist._ID_CACHE.clear()
    assert mnist.identity(data) == mnist.CANONICAL_LABEL


def test_genuine_files_decompressed_are_recognised_and_one_changed_pixel_is_not(shared_data, tmp_path, monkeypatch):
    folder, raw = _genuine_like_folder(shared_data, tmp_path, gz_train=False)
    monkeypatch.setitem(mnist.CANONICAL, "train-images", {"gz_md5": "0" * 32, "idx_md5": md5(raw), "idx_sha256": None})
    data = MnistData(path=str(folder))
    assert mnist.identity(data) == mnist.CANONICAL_LABEL
    changed = bytearray(raw)
    changed[-1] ^= 1
    (folder / "train-images-idx3-ubyte").write_bytes(bytes(changed))
    mnist._ID_CACHE.clear()
    assert mnist.identity(data) == mnist.NOT_MNIST_LABEL
    ok, why = mnist.is_reference_data(data)
    assert not ok and "not MNIST" in why


def test_canonical_labels_need_every_file(tmp_path, monkeypatch):
    """Without the mirror: four fixture files registered as canonical are MNIST; a wrong test-labels
    file makes the whole set not MNIST (no file is judged by its name), and a rebuilt training set
    is named as such only with the other three canonical."""
    rng = np.random.default_rng(0)
    arrs = {"train-images": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
            "train-labels": rng.integers(0, 10, 6, dtype=np.uint8),
            "test-images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
            "test-labels": rng.integers(0, 10, 4, dtype=np.uint8)}
    files = {}
    for key, a in arrs.items():
        files[key] = tmp_path / mnist._FILES[key][0]
        files[key].write_bytes(gzip.compress(idx_bytes(a), mtime=0))
        monkeypatch.setitem(mnist.CANONICAL, key, {"gz_md5": md5(files[key].read_bytes()), "idx_md5": "0" * 32,
                                                    "idx_sha256": None})
    assert mnist.identify_files(files) == mnist.CANONICAL_LABEL
    rebuilt = hashlib.sha256(idx_bytes(arrs["train-images"])).hexdigest()
    monkeypatch.setattr(mnist, "REBUILT_TRAIN_IMAGES_IDX_SHA256", rebuilt)
    monkeypatch.setitem(mnist.CANONICAL, "train-images", {"gz_md5": "0" * 32, "idx_md5": "0" * 32, "idx_sha256": None})
    assert mnist.identify_files(files) == mnist.REBUILT_LABEL
    files["test-labels"].write_bytes(gzip.compress(idx_bytes(arrs["test-labels"][::-1].copy()), mtime=0))
    assert mnist.identify_files(files) == mnist.NOT_MNIST_LABEL


def test_identity_of_unreadable_files_is_one_line(tmp_path):
    data = MnistData(path=str(tmp_path / "missing"))
    ok, why = mnist.is_reference_data(data)
    assert not ok and "could not be read" in why and "\n" not in why
    with pytest.raises(DataUnavailable):
        mnist.identity(data)
    assert mnist.data_label(data).startswith("unidentified (") and "\n" not in mnist.data_label(data)


# ---------------------------------------------------------------- the Game of Thrones scripts CSV
HEADER = "Release Date,Season,Episode,Episode Title,Name,Sentence"


def _scripts_rows(n_per_season: int = 3) -> list[str]:
    rows = []
    for season in range(1, 9):
        for k in range(n_per_season):
            rows.append(f'2011-04-17,Season {season},Episode 1,Winter Is Coming,tyrion lannister,'
                        f'"I drink, and I know things ({season}.{k})."')
    return rows


def write_kaggle_layout(path, rows, index: bool = True, crlf: bool = False):
    """The file as Kaggle serves it: a leading unnamed index column (pandas' ``to_csv`` default)."""
    lines = [("," if index else "") + HEADER] + [(f"{i}," if index else "") + r for i, r in enumerate(rows)]
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode() + b"\n")


def test_kaggle_layout_with_index_column_is_the_reference_corpus(tmp_path, monkeypatch):
    rows = _scripts_rows()
    monkeypatch.setattr(corpora, "GOT_ROWS", len(rows))
    real = tmp_path / "Game_of_Thrones_Script.csv"
    write_kaggle_layout(real, rows, index=True)
    assert corpora.got_identity(str(real)) == (True, "")
    fp = corpora.got_fingerprint(real)
    assert fp["index_column"] and fp["rows"] == 24 and fp["columns"] == corpora.GOT_ALL_COLUMNS
    assert "with the index column" in corpora.got_label(str(real))
    # the same content without the index column, with CRLF line ends: same identity and content hash
    plain = tmp_path / "plain.csv"
    write_kaggle_layout(plain, rows, index=False, crlf=True)
    assert corpora.got_identity(str(plain)) == (True, "")
    assert corpora.got_fingerprint(plain)["content_sha256"] == fp["content_sha256"]
    # "Unnamed: 0", as a pandas round trip names the column, is an index column too
    named = tmp_path / "named.csv"
    named.write_text(real.read_text().replace(",Release Date", "Unnamed: 0,Release Date", 1))
    assert corpora.got_identity(str(named)) == (True, "")
    # and it still renders to the same corpus
    assert corpora.load("got", str(real)) == corpora.load("got", str(plain))
    assert corpora.load("got", str(real)).startswith("TYRION LANNISTER: I drink, and I know things (1.0).\n")


def test_scripts_row_count_content_hash_and_seasons_are_checked(tmp_path, monkeypatch):
    rows = _scripts_rows()
    f = tmp_path / "Game_of_Thrones_Script.csv"
    write_kaggle_layout(f, rows)
    monkeypatch.setattr(corpora, "GOT_ROWS", len(rows) + 1)
    ok, why = corpora.got_identity(str(f))
    assert not ok and "24 rows, not the 25" in why
    monkeypatch.setattr(corpora, "GOT_ROWS", len(rows))
    monkeypatch.setattr(corpora, "GOT_CONTENT_SHA256", corpora.got_fingerprint(f)["content_sha256"])
    assert corpora.got_identity(str(f)) == (True, "")
    edited = tmp_path / "edited.csv"
    write_kaggle_layout(edited, [r.replace("drink", "think") for r in rows])
    ok, why = corpora.got_identity(str(edited))
    assert not ok and "other content" in why
    short = tmp_path / "short.csv"
    write_kaggle_layout(short, [r for r in rows if "Season 8" not in r])
    monkeypatch.setattr(corpora, "GOT_CONTENT_SHA256", None)
    ok, why = corpora.got_identity(str(short))
    assert not ok and "lacks season(s) 8" in why
    other = tmp_path / "other.csv"
    other.write_text(",a,b,c\n0,1,2,3\n")
    ok, why = corpora.got_identity(str(other))
    assert not ok and "does not have the scripts' columns" in why


def test_pinned_row_count_is_the_kaggle_files():
    assert corpora.GOT_ROWS == 23_911
