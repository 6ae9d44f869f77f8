"""Tiny-ImageNet layout parser on a miniature archive made here, the generic-folder dispatch,
the offline / bad-input messages, and the train / val / test sets an ``ImageClassData`` section asks for
(class selection, the per-class validation hold-out, the class count)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dltour.data import source
from dltour.data.images import ImageSet
from dltour.data.source import DataUnavailable
from dltour.data.tinyimagenet import (TINY_IMAGENET, ImageClassData, count_classes, hold_out, is_tinyimagenet,
                                      load_classification, load_splits, load_tinyimagenet, parse_val_annotations,
                                      select_classes)
from dltour.errors import DltourError

WNIDS = ["n02", "n01", "n03"]  # deliberately unsorted in wnids.txt; classes are sorted
COLOR = {"n01": (250, 10, 10), "n02": (10, 250, 10), "n03": (10, 10, 250)}
VAL = {"val_0.JPEG": "n03", "val_1.JPEG": "n01", "val_2.JPEG": "n02", "val_3.JPEG": "n01", "val_4.JPEG": "n03",
       "val_5.JPEG": "n02"}


def jpeg(color, size=64, grey=False) -> bytes:
    img = Image.new("RGB", (size, size), color)
    if grey:
        img = img.convert("L")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def mini_files() -> dict[str, bytes]:
    root = "tiny-imagenet-200/"
    files = {root + "wnids.txt": "\n".join(WNIDS).encode() + b"\n",
             root + "words.txt": b"n01\tred thing\nn02\tgreen thing\nn03\tblue thing\n"}
    for w in WNIDS:
        for k in range(4):
            files[f"{root}train/{w}/images/{w}_{k}.JPEG"] = jpeg(COLOR[w], grey=(w == "n02" and k == 3))
        files[f"{root}train/{w}/{w}_boxes.txt"] = b"ignored\n"
    for f, w in VAL.items():
        files[f"{root}val/images/{f}"] = jpeg(COLOR[w])
    files[root + "val/val_annotations.txt"] = "".join(f"{f}\t{w}\t0\t0\t63\t63\n" for f, w in VAL.items()).encode()
    files[root + "test/images/test_0.JPEG"] = jpeg((128, 128, 128))  # unlabelled: ignored
    return files


@pytest.fixture
def mini_zip(tmp_path) -> Path:
    p = tmp_path / "tiny-imagenet-200.zip"
    with zipfile.ZipFile(p, "w") as z:
        for name, data in mini_files().items():
            z.writestr(name, data)
    return p


def test_parses_the_tiny_imagenet_layout(mini_zip):
    d = load_tinyimagenet(mini_zip)
    tr, te = d["train"], d["test"]
    assert tr.classes == ["n01", "n02", "n03"]
    assert tr.x.shape == (12, 64, 64, 3) and tr.x.dtype == np.uint8
    assert te.x.shape == (6, 64, 64, 3)
    assert list(tr.y) == [0] * 4 + [1] * 4 + [2] * 4
    # labels of the official val split come from val_annotations.txt (sorted by file name)
    want = [tr.classes.index(VAL[f]) for f in sorted(VAL, key=lambda f: (VAL[f], f))]
    assert sorted(te.y.tolist()) == sorted(want)
    for x, y in zip(te.x, te.y):  # each image's colour is its class's
        assert np.abs(x.reshape(-1, 3).mean(0) - COLOR[tr.classes[y]]).max() < 8
    # the greyscale training image is converted to 3 equal channels
    grey = tr.x[7]
    assert grey.shape == (64, 64, 3) and np.ptp(grey.reshape(-1, 3).mean(0)) < 1


def test_subsets_resize_and_cache(mini_zip):
    d = load_tinyimagenet(mini_zip, size=32, classes=2, limit_train=3, limit_test=1)
    assert d["train"].x.shape == (6, 32, 32, 3) and d["train"].classes == ["n01", "n02"]
    assert sorted(d["test"].y.tolist()) == [0, 1]
    cached = list((source.cache_dir() / "decoded").glob("tiny-imagenet-200.zip-*.npz"))
    assert len(cached) == 1
    again = load_tinyimagenet(mini_zip, size=32, classes=2, limit_train=3, limit_test=1)
    assert np.array_equal(again["train"].x, d["train"].x) and np.array_equal(again["test"].y, d["test"].y)


def test_folder_and_tar_read_the_same(mini_zip, tmp_path):
    folder = tmp_path / "extracted"
    with zipfile.ZipFile(mini_zip) as z:
        z.extractall(folder)
    tar = tmp_path / "tin.tar"
    with tarfile.open(tar, "w") as t:
        t.add(folder / "tiny-imagenet-200", arcname="tiny-imagenet-200")
    a = load_tinyimagenet(mini_zip, use_cache=False)
    for src in (folder, folder / "tiny-imagenet-200", tar):
        b = load_tinyimagenet(src, use_cache=False)
        assert np.array_equal(a["train"].x, b["train"].x) and np.array_equal(a["test"].y, b["test"].y)


def test_generic_image_folder_dispatch(tmp_path):
    root = tmp_path / "imgs"
    for split, n in (("train", 5), ("test", 3)):
        for c, col in (("cat", (200, 0, 0)), ("dog", (0, 200, 0)), ("emu", (0, 0, 200))):
            (root / split / c).mkdir(parents=True)
            for k in range(n):
                Image.new("RGB", (40, 30), col).save(root / split / c / f"{k}.png")
    assert not is_tinyimagenet(root)
    d = load_classification(root, size=32, classes=2, limit_train=4, limit_test=2)
    assert d["train"].classes == ["cat", "dog"]
    assert d["train"].x.shape == (8, 32, 32, 3) and d["test"].x.shape == (4, 32, 32, 3)
    d2 = load_classification(root, size=32, limit_train=2)  # only train limited: test keeps all 3
    assert len(d2["train"]) == 6 and len(d2["test"]) == 9


def test_parse_val_annotations_and_bad_layouts(mini_zip, tmp_path):
    assert parse_val_annotations("a.JPEG\tn01\t0\t0\t1\t1\n\nb.JPEG\tn02\t1\t1\t2\t2\n") == {"a.JPEG": "n01", "b.JPEG": "n02"}
    with pytest.raises(DataUnavailable, match="line 1"):
        parse_val_annotations("a.JPEG n01 0 0 1 1\n")
    files = mini_files()
    no_ann = tmp_path / "no_ann.zip"
    with zipfile.ZipFile(no_ann, "w") as z:
        for n, data in files.items():
            if not n.endswith("val_annotations.txt"):
                z.writestr(n, data)
    with pytest.raises(DataUnavailable, match="val_annotations.txt is missing"):
        load_tinyimagenet(no_ann)
    with pytest.raises(DataUnavailable, match="asked for 5 classes"):
        load_tinyimagenet(mini_zip, classes=5)
    with pytest.raises(DataUnavailable, match="not a Tiny-ImageNet layout"):
        load_tinyimagenet(_plain_zip(tmp_path))
    with pytest.raises(DataUnavailable, match="does not exist"):
        load_classification(tmp_path / "nowhere.zip")


def _plain_zip(tmp_path) -> Path:
    p = tmp_path / "plain.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("train/cat/0.jpg", jpeg((1, 2, 3)))
    return p


def test_spec_and_offline_message(monkeypatch):
    assert TINY_IMAGENET.url == "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
    assert TINY_IMAGENET.known_hash == "md5:90528d7ca1a48142e341f4ef8d21d0de"
    import pooch
    import requests

    def offline(*a, **k):
        raise requests.exceptions.ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataUnavailable, match="tiny-imagenet-200.zip.*cs231n.stanford.edu.*data.path"):
        load_classification(None)


def test_mirrored_cifar10_jpegs_as_an_image_folder(shared_data):
    d = load_classification(shared_data / "cifar10" / "CIFAR-10-images_jpg.tar.gz", size=64, classes=2,
                            limit_train=3, limit_test=2)
    assert d["train"].classes == ["airplane", "automobile"]
    assert d["train"].x.shape == (6, 64, 64, 3) and d["test"].x.shape == (4, 64, 64, 3)


def test_select_classes_relabels_in_the_given_order():
    d = {"train": ImageSet(np.arange(6).reshape(6, 1, 1, 1).astype(np.uint8), np.array([0, 1, 2, 0, 1, 2]),
                           ["a", "b", "c"])}
    out = select_classes(d, ["c", "a"])["train"]
    assert out.classes == ["c", "a"] and out.y.tolist() == [1, 0, 1, 0] and out.x.ravel().tolist() == [0, 2, 3, 5]
    with pytest.raises(DltourError, match=r"class_names \['z'\] are not in the data \(it has a, b, c\)"):
        select_classes(d, ["z"])
    with pytest.raises(DltourError, match="class_names has duplicates"):
        select_classes(d, ["a", "a"])


def test_hold_out_is_a_fixed_per_class_split():
    tr = ImageSet(np.arange(9).reshape(9, 1, 1, 1).astype(np.uint8), np.array([0, 1, 2] * 3), ["a", "b", "c"])
    train, val = hold_out(tr, 1)
    # the first image of each class in default_rng(20191).permutation(9) = [5 1 7 0 4 8 3 2 6]: 5, 1, 0
    assert val.x.ravel().tolist() == [0, 1, 5] and val.y.tolist() == [0, 1, 2]
    assert train.x.ravel().tolist() == [2, 3, 4, 6, 7, 8] and np.bincount(train.y).tolist() == [2, 2, 2]
    again, _ = hold_out(tr, 1)
    assert np.array_equal(again.x, train.x) and train.classes == val.classes == ["a", "b", "c"]
    with pytest.raises(DltourError, match="class 'a' has 3 training images; data.val_per_class=3 leaves none"):
        hold_out(tr, 3)


def test_load_splits_and_count_classes(mini_zip):
    data = ImageClassData(path=str(mini_zip), class_names=["n03", "n01"], train_per_class=2, val_per_class=1,
                          test_per_class=1)
    d = load_splits(data, 32)
    assert {s: len(d[s]) for s in d} == {"train": 4, "val": 2, "test": 2}
    assert d["train"].classes == ["n03", "n01"] and d["train"].x.shape[1:] == (32, 32, 3)
    assert np.bincount(d["train"].y).tolist() == [2, 2] and sorted(d["val"].y.tolist()) == [0, 1]
    for s in ("train", "val", "test"):  # class 0 is n03 (blue), 1 is n01 (red)
        assert all(np.argmax(x.reshape(-1, 3).mean(0)) == (2 if y == 0 else 0) for x, y in zip(d[s].x, d[s].y))
    assert count_classes(data, 32) == 2
    assert count_classes(ImageClassData(path=str(mini_zip)), 32) == 3  # counted from the images
    assert count_classes(ImageClassData(path=str(mini_zip), classes=2), 32) == 2
    assert count_classes(ImageClassData(source="download"), 64) == 200  # Tiny-ImageNet, nothing read
    assert count_classes(ImageClassData(source="embedded"), 32) == 10  # the demo pack's CIFAR-10 subset
