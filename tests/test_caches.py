"""Caches with provenance (issue 23, item 5): decoded ``.npz`` caches record their source's sha256 and
the decoder's version and are rebuilt when either differs (a planted cache is never trusted); a
scripts CSV given by URL is https only, cached under a name derived from the URL and pinned by
``#sha256=``; a cached file that fails its checksum is removed; archive members are read up to a cap."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from dltour.data import corpora, images, imdb, mnist, source, tinyimagenet
from dltour.data.source import DataUnavailable, DatasetSpec, cache_dir, fetch


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buf, "PNG")
    return buf.getvalue()


def _cache_file_for(src, size=None, limit=None):
    """Where ``load_image_folder`` keeps the decoded arrays of ``src`` (a predictable name)."""
    st = src.stat()
    key = hashlib.sha256(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}|{size}|{limit}".encode()).hexdigest()[:16]
    return cache_dir() / "decoded" / f"{src.name}-{key}.npz"


def _plant(path, provenance: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"classes": np.array(["pwn"]), "x_train": np.zeros((5, 4, 4, 3), np.uint8),
              "y_train": np.zeros(5, np.int64)}
    if provenance is not None:
        arrays["_provenance"] = np.array(provenance)
    np.savez(path, **arrays)


@pytest.fixture
def folder_zip(tmp_path):
    p = tmp_path / "imgs.zip"
    with zipfile.ZipFile(p, "w") as z:
        for cls, col in (("cat", (200, 0, 0)), ("dog", (0, 200, 0))):
            for i in range(3):
                z.writestr(f"train/{cls}/{i}.png", _png(col))
    return p


def test_a_planted_decoded_cache_is_ignored_and_rebuilt(folder_zip, monkeypatch):
    cache = _cache_file_for(folder_zip)
    _plant(cache)  # no provenance at all (as the old caches had)
    d = images.load_image_folder(folder_zip)
    assert d["train"].classes == ["cat", "dog"] and len(d["train"]) == 6
    # the rebuilt cache records the source's sha256 and the decoder version, and is used next time
    with np.load(cache) as z:
        prov = str(z["_provenance"])
    assert hashlib.sha256(folder_zip.read_bytes()).hexdigest() in prov and images.DECODER_VERSION in prov
    calls = []
    monkeypatch.setattr(images, "_read_images", lambda *a: calls.append(a) or {})
    assert images.load_image_folder(folder_zip)["train"].classes == ["cat", "dog"] and not calls
    monkeypatch.undo()

    # a planted cache that copies the provenance format but names another source's digest
    _plant(cache, prov.replace(hashlib.sha256(folder_zip.read_bytes()).hexdigest(), "0" * 64))
    assert images.load_image_folder(folder_zip)["train"].classes == ["cat", "dog"]
    # another decoder version: rebuilt too
    monkeypatch.setattr(images, "DECODER_VERSION", "images.folder/999")
    _plant(cache, prov)
    assert images.load_image_folder(folder_zip)["train"].classes == ["cat", "dog"]
    # a damaged cache file: rebuilt, not an error
    cache.write_bytes(b"PK\x03\x04 not really")
    assert images.load_image_folder(folder_zip)["train"].classes == ["cat", "dog"]


def test_the_demo_pack_cache_planted_with_pwn_is_not_returned():
    """The reviewer's case: a planted .npz under the demo subset's predictable cache name."""
    _plant(_cache_file_for(images.demo_path(), size=None, limit=None))
    d = images.load_demo()
    assert "pwn" not in d["train"].classes and len(d["train"].classes) == 10 and len(d["train"]) == 4000


def test_tinyimagenet_cache_has_provenance(tmp_path):
    p = tmp_path / "tiny-imagenet-200.zip"
    root = "tiny-imagenet-200/"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr(root + "wnids.txt", "n01\nn02\n")
        for w, col in (("n01", (200, 0, 0)), ("n02", (0, 200, 0))):
            z.writestr(f"{root}train/{w}/images/{w}_0.JPEG", _png(col))
        z.writestr(root + "val/images/val_0.JPEG", _png((200, 0, 0)))
        z.writestr(root + "val/images/val_1.JPEG", _png((0, 200, 0)))
        z.writestr(root + "val/val_annotations.txt", "val_0.JPEG\tn01\t0\t0\t3\t3\nval_1.JPEG\tn02\t0\t0\t3\t3\n")
    first = tinyimagenet.load_tinyimagenet(p)
    (cached,) = (cache_dir() / "decoded").glob("tiny-imagenet-200.zip-*.npz")
    planted = {"classes": np.array(["pwn"]), "x_train": np.zeros((1, 4, 4, 3), np.uint8),
               "y_train": np.zeros(1, np.int64), "x_test": np.zeros((1, 4, 4, 3), np.uint8),
               "y_test": np.zeros(1, np.int64)}
    np.savez(cached, **planted)
    again = tinyimagenet.load_tinyimagenet(p)
    assert again["train"].classes == first["train"].classes == ["n01", "n02"]
    assert np.array_equal(again["test"].x, first["test"].x)


# ---------------------------------------------------------------- the scripts CSV by URL
def test_scripts_url_is_https_only_and_cached_under_its_own_name():
    with pytest.raises(DataUnavailable, match="plain connection") as e:
        corpora.load("got", "http://example.org/Game_of_Thrones_Script.csv")
    assert "\n" not in str(e.value)
    with pytest.raises(DataUnavailable, match="plain connection"):
        corpora.url_spec("ftp://example.org/x.csv")
    a = corpora.url_spec("https://example.org/a/Game_of_Thrones_Script.csv")
    b = corpora.url_spec("https://mirror.example.net/Game_of_Thrones_Script.csv")
    assert a.filename != b.filename and corpora.GOT.filename not in (a.filename, b.filename)
    assert a.known_hash is None
    pin = "ab" * 32
    pinned = corpora.url_spec(f"https://example.org/a/Game_of_Thrones_Script.csv#sha256={pin.upper()}")
    assert pinned.known_hash == f"sha256:{pin}" and pinned.filename == a.filename and pinned.url == a.url
    with pytest.raises(DataUnavailable, match="#sha256="):
        corpora.url_spec("https://example.org/x.csv#md5=00")


def test_a_url_copy_in_the_cache_is_used_only_for_its_url_and_its_pin(tmp_path):
    url = "https://example.org/got.csv"
    spec = corpora.url_spec(url)
    cached = cache_dir() / spec.filename
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text("Release Date,Season,Episode,Episode Title,Name,Sentence\n"
                      "2011-04-17,Season 1,Episode 1,W,tyrion,Hello.\n")
    assert corpora.load("got", url) == "TYRION: Hello.\n"  # no network: the URL's own cache entry
    with pytest.raises(DataUnavailable, match="Kaggle"):
        corpora.load("got")  # the canonical slot is still empty: a URL download never fills it
    digest = hashlib.sha256(cached.read_bytes()).hexdigest()
    assert corpora.load("got", f"{url}#sha256={digest}") == "TYRION: Hello.\n"
    with pytest.raises(DataUnavailable, match="does not match its checksum.*removed"):
        corpora.load("got", f"{url}#sha256={'0' * 64}")
    assert not cached.exists()


def test_a_cached_file_failing_its_checksum_is_removed(tmp_path):
    spec = DatasetSpec("toy", "toy.bin", "https://example.org/toy.bin",
                       f"sha256:{hashlib.sha256(b'good').hexdigest()}", None, "test", "toy")
    (tmp_path / "toy.bin").write_bytes(b"bad")
    with pytest.raises(DataUnavailable, match="was removed.*dltour data fetch toy") as e:
        fetch(spec, folder=tmp_path)
    assert "\n" not in str(e.value) and not (tmp_path / "toy.bin").exists()


# ---------------------------------------------------------------- a cap on archive members
def test_archive_members_are_read_up_to_a_cap(tmp_path, monkeypatch, folder_zip):
    monkeypatch.setattr(source, "MAX_MEMBER_BYTES", 50)
    with pytest.raises(DataUnavailable, match="50-byte cap") as e:
        images.load_image_folder(folder_zip, use_cache=False)
    assert "\n" not in str(e.value)

    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip.compress(bytes(10_000)))  # 10 kB of zeros, a few dozen bytes compressed
    assert bomb.stat().st_size < 100
    with pytest.raises(DataUnavailable, match="inflates to more than the 50-byte cap"):
        mnist.read_idx(bomb)

    tgz = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        info = tarfile.TarInfo("aclImdb/train/pos/0_9.txt")
        info.size = 100
        t.addfile(info, io.BytesIO(b"x" * 100))
    with pytest.raises(DataUnavailable, match="member aclImdb/train/pos/0_9.txt holds 100 bytes"):
        imdb.read_archive(tgz)

    txt = tmp_path / "t.txt.gz"
    txt.write_bytes(gzip.compress(b"a" * 1000))
    with pytest.raises(DataUnavailable, match="cap"):
        corpora.load("text", str(txt))


def test_the_default_cap_is_two_gib():
    assert source.MAX_MEMBER_BYTES == 2 << 30 or "DLTOUR_MAX_MEMBER_BYTES" in __import__("os").environ
