"""Every data reader turns a damaged file into one line (issue 22, item 3): a corrupt gzip, zip or tar
member, a wrong magic number, a wrong shape, undecodable text. Each test writes the damaged file
itself and checks for one ``DataUnavailable`` line that names the file and what to do, with no
low-level exception type (``zlib.error``, ``UnicodeDecodeError``, ``EOFError``...) leaking."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import struct
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from dltour import DltourError
from dltour.data import airline, corpora, glove, imdb, mnist
from dltour.data.images import load_cifar_python, load_image_folder
from dltour.data.source import DataUnavailable
from dltour.data.tinyimagenet import load_tinyimagenet

LEAKS = ("zlib.error", "UnicodeDecodeError", "EOFError", "BadZipFile", "BadGzipFile", "ReadError", "Traceback",
         "UnpicklingError", "KeyError")


def one_line(excinfo, path, *needles) -> str:
    """The error is a DataUnavailable (a DltourError), one line, naming ``path`` and a fix."""
    e = excinfo.value
    assert isinstance(e, DataUnavailable) and isinstance(e, DltourError)
    msg = str(e)
    assert msg and "\n" not in msg, msg
    assert str(path) in msg, msg
    assert "dltour data" in msg or "data.path" in msg, msg
    for leak in LEAKS:
        assert leak not in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


def flip_middle(path, start_frac=0.3, n=40) -> None:
    raw = bytearray(path.read_bytes())
    i = int(len(raw) * start_frac)
    for k in range(i, min(i + n, len(raw) - 10)):
        raw[k] ^= 0xFF
    path.write_bytes(bytes(raw))


def compressible(n: int) -> bytes:
    return bytes((np.arange(n) * 7 % 13).astype(np.uint8))


# ---------------------------------------------------------------- MNIST IDX
def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def test_mnist_idx_damaged_gzip_truncated_gzip_magic_and_shape(tmp_path):
    a = (np.arange(60 * 28 * 28) % 9).astype(np.uint8).reshape(60, 28, 28)
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(_idx(a)))
    flip_middle(bad)
    with pytest.raises(DataUnavailable) as e:
        mnist.read_idx(bad, "mnist-train-images")
    one_line(e, bad, "dltour data fetch mnist-train-images", "dltour data verify")

    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(_idx(a))[:-200])
    with pytest.raises(DataUnavailable) as e:
        mnist.read_idx(cut)
    one_line(e, cut)

    magic = tmp_path / "magic"
    magic.write_bytes(b"\x08\x03\x00\x00" + _idx(a)[4:])
    with pytest.raises(DataUnavailable) as e:
        mnist.read_idx(magic)
    one_line(e, magic, "magic")

    short = tmp_path / "short"
    short.write_bytes(_idx(a)[:-28])
    with pytest.raises(DataUnavailable) as e:
        mnist.read_idx(short)
    one_line(e, short, "truncated")


def test_mnist_folder_with_wrong_image_shape(tmp_path):
    rng = np.random.default_rng(0)
    arrs = {"train-images": rng.integers(0, 256, (5, 27, 27), dtype=np.uint8),  # not 28x28
            "train-labels": rng.integers(0, 10, 5, dtype=np.uint8),
            "test-images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
            "test-labels": rng.integers(0, 10, 3, dtype=np.uint8)}
    for key, arr in arrs.items():
        (tmp_path / mnist._FILES[key][0]).write_bytes(gzip.compress(_idx(arr)))
    with pytest.raises(DataUnavailable) as e:
        mnist.load(tmp_path)
    one_line(e, tmp_path, "(N, 28, 28)", "dltour data fetch mnist-train-images")


# ---------------------------------------------------------------- CIFAR python archive
def _add(t: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    t.addfile(info, io.BytesIO(payload))


def _cifar(path, data_shape=(4, 3072)):
    with tarfile.open(path, "w:gz") as t:
        for b in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            d = {b"data": (np.arange(np.prod(data_shape)) % 5).astype(np.uint8).reshape(data_shape),
                 b"labels": [0, 1, 2, 3]}
            _add(t, f"cifar-10-batches-py/{b}", pickle.dumps(d, protocol=2))
        _add(t, "cifar-10-batches-py/batches.meta", pickle.dumps({b"label_names": [b"a"] * 10}, protocol=2))
    return path


def test_cifar_archive_corrupt_truncated_and_wrong_shape(tmp_path):
    bad = _cifar(tmp_path / "cifar-10-python.tar.gz")
    flip_middle(bad, 0.5)
    with pytest.raises(DataUnavailable) as e:
        load_cifar_python(bad, "train")
    one_line(e, bad, "dltour data fetch cifar10")

    cut = tmp_path / "cut-cifar-10-python.tar.gz"
    cut.write_bytes(_cifar(tmp_path / "whole.tar.gz").read_bytes()[:-300])
    with pytest.raises(DataUnavailable) as e:
        load_cifar_python(cut, "test")
    one_line(e, cut)

    shape = _cifar(tmp_path / "shape.tar.gz", data_shape=(4, 1000))
    with pytest.raises(DataUnavailable) as e:
        load_cifar_python(shape, "train")
    one_line(e, shape, "(N, 3072)")

    garbage = tmp_path / "garbage.tar.gz"
    with tarfile.open(garbage, "w:gz") as t:
        _add(t, "cifar-10-batches-py/batches.meta", b"\x80\x02not a pickle at all")
        _add(t, "cifar-10-batches-py/data_batch_1", b"\x80\x02}q\x00")  # a pickle cut short
    with pytest.raises(DataUnavailable) as e:
        load_cifar_python(garbage, "train")
    one_line(e, garbage, "not a CIFAR python batch")


# ---------------------------------------------------------------- image folders / archives (CIFAR JPEGs)
def _jpeg(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "JPEG")
    return buf.getvalue()


def test_image_archive_corrupt_tar_gz_and_zip_member(tmp_path):
    tgz = tmp_path / "CIFAR-10-images_jpg.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        for i in range(40):
            _add(t, f"CIFAR-10-images/train/c{i % 2}/{i:04d}.jpg", _jpeg((i, 2 * i, 3 * i)))
            _add(t, f"CIFAR-10-images/train/c{i % 2}/{i:04d}.txt", compressible(4000))
    flip_middle(tgz, 0.5)
    with pytest.raises(DataUnavailable) as e:
        load_image_folder(tgz, use_cache=False)
    one_line(e, tgz)

    z = tmp_path / "images.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/a/1.jpg", _jpeg((1, 2, 3)))
        zf.writestr("train/b/2.png", compressible(20000))
    raw = bytearray(z.read_bytes())
    i = raw.find(b"train/b/2.png") + 40  # inside the second member's data
    for k in range(i, i + 30):
        raw[k] ^= 0xFF
    z.write_bytes(bytes(raw))
    with pytest.raises(DataUnavailable) as e:
        load_image_folder(z, use_cache=False)
    one_line(e, z)


# ---------------------------------------------------------------- IMDB
def test_imdb_corrupt_tar_and_undecodable_jsonl(tmp_path):
    tgz = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        for split in ("train", "test"):
            for lab in ("pos", "neg"):
                for i in range(20):
                    _add(t, f"aclImdb/{split}/{lab}/{i}_7.txt", compressible(3000 + i))
    flip_middle(tgz, 0.4)
    with pytest.raises(DataUnavailable) as e:
        imdb.read_archive(tgz)
    one_line(e, tgz, "dltour data fetch imdb")

    jl = tmp_path / "reviews.jsonl.gz"
    jl.write_bytes(gzip.compress(json.dumps({"split": "train", "label": 1, "text": "ok"}).encode() + b"\n\xff\xfe\n"))
    with pytest.raises(DataUnavailable) as e:
        imdb.read_archive(jl)
    one_line(e, jl, "can't decode")

    bad_json = tmp_path / "bad.jsonl.gz"
    bad_json.write_bytes(gzip.compress(b'{"split": "train", "label": 1}\n'))  # no text
    with pytest.raises(DataUnavailable) as e:
        imdb.read_archive(bad_json)
    one_line(e, bad_json, "missing entry 'text'")


# ---------------------------------------------------------------- GloVe
def test_glove_corrupt_zip_member_truncated_gz_and_bad_rows(tmp_path):
    z = tmp_path / "glove.6B.zip"
    rows = "".join(f"w{i} " + " ".join(f"{(i * k) % 7 / 7:.4f}" for k in range(5)) + "\n" for i in range(3000))
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("glove.6B.5d.txt", rows)
    flip_middle(z, 0.5)
    with pytest.raises(DataUnavailable) as e:
        glove.load_vectors(z, 5, ["w1", "w2999"])
    one_line(e, z, "dltour data fetch glove-6b")

    gz = tmp_path / "glove.5d.txt.gz"
    gz.write_bytes(gzip.compress(rows.encode())[:-100])
    with pytest.raises(DataUnavailable) as e:
        glove.load_vectors(gz, 5, ["w2999"])
    one_line(e, gz)

    txt = tmp_path / "glove.3d.txt"
    txt.write_text("a 1 2 3\nb 1 two 3\n")
    with pytest.raises(DataUnavailable) as e:
        glove.load_vectors(txt, 3, ["b"])
    one_line(e, txt)
    txt.write_text("a 1 2 3\nb 1 2\n")
    with pytest.raises(DataUnavailable) as e:
        glove.load_vectors(txt, 3, ["b"])
    one_line(e, txt, "line 2")


# ---------------------------------------------------------------- text corpora
def test_text_corpora_corrupt_gzip_and_undecodable_text(tmp_path):
    gz = tmp_path / "tinyshakespeare.txt.gz"
    gz.write_bytes(gzip.compress(compressible(200_000)))
    flip_middle(gz)
    with pytest.raises(DataUnavailable) as e:
        corpora.load("tinyshakespeare", str(gz))
    one_line(e, gz, "dltour data fetch tinyshakespeare")

    txt = tmp_path / "latin1.txt"
    txt.write_bytes("caf\u00e9 cr\u00e8me".encode("latin-1"))
    with pytest.raises(DataUnavailable) as e:
        corpora.load("text", str(txt))
    one_line(e, txt, "can't decode")


def test_scripts_csv_that_is_not_the_scripts_is_one_line(tmp_path):
    binary = tmp_path / "Game_of_Thrones_Script.csv"
    binary.write_bytes(gzip.compress(b"Release Date,Season\n" * 50))  # a gzip given as the CSV
    with pytest.raises(DataUnavailable) as e:
        corpora.load("got", str(binary))
    msg = str(e.value)
    assert "\n" not in msg and str(binary) in msg and not any(k in msg for k in LEAKS)


# ---------------------------------------------------------------- airline CSV
def test_airline_csv_undecodable_and_wrong_columns(tmp_path):
    bad = tmp_path / "airline.csv"
    bad.write_bytes(b"Month,Passengers\n1949-01,112\n\xff\xfe\x00garbage,1\n")
    with pytest.raises(DataUnavailable) as e:
        airline.load(bad)
    one_line(e, bad, "dltour data fetch airline")


# ---------------------------------------------------------------- Tiny-ImageNet zip
def test_tinyimagenet_zip_with_a_damaged_member(tmp_path):
    p = tmp_path / "tiny-imagenet-200.zip"
    root = "tiny-imagenet-200/"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(root + "wnids.txt", "n01\nn02\n")
        for w, col in (("n01", (200, 0, 0)), ("n02", (0, 200, 0))):
            for k in range(3):
                z.writestr(f"{root}train/{w}/images/{w}_{k}.JPEG", _jpeg(col))
        z.writestr(root + "val/images/val_0.JPEG", _jpeg((200, 0, 0)))
        z.writestr(root + "val/images/val_1.JPEG", _jpeg((0, 200, 0)))
        z.writestr(root + "val/val_annotations.txt", "val_0.JPEG\tn01\t0\t0\t7\t7\nval_1.JPEG\tn02\t0\t0\t7\t7\n"
                   + "x" * 20000)
    raw = bytearray(p.read_bytes())
    i = raw.find(b"val/val_annotations.txt") + 60
    for k in range(i, i + 20):
        raw[k] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(DataUnavailable) as e:
        load_tinyimagenet(p, use_cache=False)
    one_line(e, p, "dltour data fetch tiny-imagenet-200")
