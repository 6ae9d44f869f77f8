"""Tiny-ImageNet-200 (canonical zip) and a dispatch for classification image sources.

The canonical archive ``tiny-imagenet-200.zip`` (cs231n, Stanford) is laid out as::

    tiny-imagenet-200/wnids.txt                         200 WordNet ids, one a line
    tiny-imagenet-200/words.txt                         wnid<TAB>human-readable names (all of ImageNet)
    tiny-imagenet-200/train/<wnid>/images/<wnid>_<k>.JPEG   500 per class, 64x64
    tiny-imagenet-200/val/images/val_<k>.JPEG           10,000 images, 50 per class
    tiny-imagenet-200/val/val_annotations.txt           file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1
    tiny-imagenet-200/test/images/test_<k>.JPEG         10,000 images, *no labels*

Protocol (the reference does not state one): the official ``val`` split, whose labels come
from ``val_annotations.txt``, is our **test** set; a validation set is held out of ``train`` by the
study. The unlabelled ``test`` folder is ignored. Some images are greyscale; they are converted
to RGB.

``load_classification(path, size, ...)`` reads a Tiny-ImageNet archive/folder when it finds
``val_annotations.txt`` (or ``wnids.txt``) and otherwise any image folder/archive through
``dltour.data.images.load_image_folder`` (e.g. the mirrored CIFAR-10 JPEGs resized to 64x64).

``load_splits(data, size)`` gives the train / val / test sets an ``ImageClassData`` section asks for:
the images loaded, its classes kept (``select_classes``) and its validation set held out of train per
class (``hold_out``); ``count_classes`` says how many classes that is.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, Literal

import numpy as np
from pydantic import Field, field_validator

from dltour.config import DataConfig
from dltour.data.images import IMAGE_SUFFIXES, ImageSet, _decode, demo_path, load_image_folder
from dltour.data.source import (DataUnavailable, DatasetSpec, cache_dir, check_member_size, check_tar_end, fetch,
                                fix_hint, load_cache, reading, register_dataset, save_cache)
from dltour.errors import DltourError

#: the Tiny-ImageNet decoder's version, recorded in its decoded caches: bump it when decoding changes
DECODER_VERSION = "tinyimagenet/2"

# md5 as published with the dataset loaders of ContinualAI/avalanche and several torchvision-style
# TinyImageNet classes (found with the search tool); size 248,100,043 bytes as recorded by a user log
# that checked the same md5. torchvision itself has no Tiny-ImageNet class.
TINY_IMAGENET = register_dataset(DatasetSpec(
    name="tiny-imagenet-200", filename="tiny-imagenet-200.zip",
    url="http://cs231n.stanford.edu/tiny-imagenet-200.zip",
    known_hash="md5:90528d7ca1a48142e341f4ef8d21d0de", size=248_100_043,
    licence="ImageNet terms: non-commercial research and education only", family="images",
    description="Tiny-ImageNet-200: 200 classes, 64x64, 500 train + 50 val (labelled) + 50 test (unlabelled) "
                "per class"))



class ImageClassData(DataConfig):
    """The ``data`` section of image-classification transfer studies: which images (and which of
    their classes and how many per class), and where pretrained ImageNet weights are found."""

    path: str | None = None
    """The images: a Tiny-ImageNet zip/tar/folder, or any folder or archive of ``[train|test]/<class>/<image>``
    (skips cache and download)."""
    source: Literal["embedded", "download"] = "download"
    """Without a path: ``embedded`` the demo pack's CIFAR-10 subset (offline), ``download`` Tiny-ImageNet-200
    (the cache, else the canonical zip, md5-checked)."""
    classes: int | None = Field(None, ge=2)
    """Keep only the first N classes (sorted names); None: all."""
    class_names: list[str] | None = Field(None, min_length=2)
    """Keep only these classes, by name (in this order); None: all (after ``classes``)."""
    train_per_class: int | None = Field(None, ge=1)
    """Training images per class (after the validation hold-out); None: all."""
    val_per_class: int = Field(50, ge=1)
    """Images per class held out of train as the validation set (a fixed permutation)."""
    test_per_class: int | None = Field(None, ge=1)
    """Test images per class; None: all."""
    imagenet_weights_dir: str | None = None
    """Folder with torchvision's ImageNet weights files (e.g. ``vgg16-397923af.pth``, or ``vgg16.pth``);
    None: torch's hub cache, else a download."""

    @field_validator("class_names")
    @classmethod
    def _no_duplicates(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"class_names has duplicates: {v}")
        return v


# ---------------------------------------------------------------- random access to a folder or archive
class _Source:
    """Names and a ``read(name)`` over a folder, zip or tar, opened once."""

    def __init__(self, source: Path):
        self.source = source
        self._z = self._t = None
        with reading(source, TINY_IMAGENET.name):
            self._open(source)

    def _open(self, source: Path) -> None:
        if source.is_dir():
            self.names = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
        elif zipfile.is_zipfile(source):
            self._z = zipfile.ZipFile(source)
            self.names = sorted(n for n in self._z.namelist() if not n.endswith("/"))
        elif tarfile.is_tarfile(source):
            self._t = tarfile.open(source)
            self._members = {m.name: m for m in self._t.getmembers() if m.isfile()}
            check_tar_end(self._t, source, TINY_IMAGENET.name)
            self.names = sorted(self._members)
        else:
            raise DataUnavailable(f"{source} is neither a folder nor a zip/tar archive")

    def read(self, name: str) -> bytes:
        """A member's bytes (at most ``MAX_MEMBER_BYTES``); a damaged member is one ``DataUnavailable`` line."""
        with reading(self.source, TINY_IMAGENET.name):
            if self._z is not None:
                check_member_size(self.source, name, self._z.getinfo(name).file_size)
                return self._z.read(name)
            if self._t is not None:
                check_member_size(self.source, name, self._members[name].size)
                return self._t.extractfile(self._members[name]).read()
            check_member_size(self.source, name, (self.source / name).stat().st_size)
            return (self.source / name).read_bytes()

    def close(self) -> None:
        for h in (self._z, self._t):
            if h is not None:
                h.close()


def _find_root(names: list[str]) -> str | None:
    """The prefix (``"tiny-imagenet-200/"`` or ``""``) of a Tiny-ImageNet layout, or None."""
    for n in names:
        for marker in ("val/val_annotations.txt", "wnids.txt"):
            if n == marker or n.endswith("/" + marker):
                return n[: len(n) - len(marker)]
    return None


def is_tinyimagenet(source: str | Path) -> bool:
    src = _Source(Path(source))
    try:
        return _find_root(src.names) is not None
    finally:
        src.close()


def parse_val_annotations(text: str) -> dict[str, str]:
    """``val_annotations.txt`` -> {image file name: wnid} (tab-separated; the box is ignored)."""
    out = {}
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataUnavailable(f"val_annotations.txt line {i + 1} is not 'file<TAB>wnid...': {line[:60]!r}")
        out[parts[0].strip()] = parts[1].strip()
    return out


def load_tinyimagenet(source: str | Path, size: int | None = None, classes: int | None = None,
                      limit_train: int | None = None, limit_test: int | None = None,
                      use_cache: bool = True) -> dict[str, ImageSet]:
    """{"train": ImageSet, "test": ImageSet (the official val split)} from a Tiny-ImageNet zip/tar/folder.

    ``classes``: keep the first N wnids in sorted order; ``limit_train``/``limit_test``: at most
    that many images per class (the first in name order); ``size``: resize (bilinear) to size x size.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise DataUnavailable(f"Tiny-ImageNet source {str(source)!r} does not exist")
    cache_file = None
    if use_cache:
        st = source.stat()
        key = hashlib.sha256(f"tin|{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{size}|{classes}|"
                             f"{limit_train}|{limit_test}".encode()).hexdigest()[:16]
        cache_file = cache_dir() / "decoded" / f"{source.name}-{key}.npz"
        params = {"size": size, "classes": classes, "limit_train": limit_train, "limit_test": limit_test}
        # trusted only when it records this source's sha256 and this decoder's version (issue 23)
        z = load_cache(cache_file, source, DECODER_VERSION, params)
        if z is not None and {"classes", "x_train", "y_train", "x_test", "y_test"} <= set(z):
            cls = [str(c) for c in z["classes"]]
            return {s: ImageSet(z[f"x_{s}"], z[f"y_{s}"], cls) for s in ("train", "test")}
    src = _Source(source)
    try:
        root = _find_root(src.names)
        if root is None:
            raise DataUnavailable(f"{source} is not a Tiny-ImageNet layout (no wnids.txt or val/val_annotations.txt)")
        train_files: dict[str, list[str]] = {}
        for n in src.names:
            # train/<wnid>/images/<file>
            parts = PurePosixPath(n[len(root):]).parts if n.startswith(root) else ()
            if (len(parts) == 4 and parts[0] == "train" and parts[2] == "images"
                    and PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES):
                train_files.setdefault(parts[1], []).append(n)
        if root + "wnids.txt" in src.names:
            with reading(f"{source}: {root}wnids.txt", TINY_IMAGENET.name):
                wnids = sorted(w.strip() for w in src.read(root + "wnids.txt").decode().split() if w.strip())
        else:
            wnids = sorted(train_files)
        if not wnids:
            raise DataUnavailable(f"{source}: no classes found (empty wnids.txt and no train/<wnid>/images/)")
        if classes is not None:
            if not 1 <= classes <= len(wnids):
                raise DataUnavailable(f"{source}: asked for {classes} classes, the source has {len(wnids)}")
            wnids = wnids[:classes]
        index = {w: i for i, w in enumerate(wnids)}
        ann_name = root + "val/val_annotations.txt"
        if ann_name not in src.names:
            raise DataUnavailable(f"{source}: {ann_name} is missing, so the val split has no labels")
        with reading(f"{source}: {ann_name}", TINY_IMAGENET.name):
            ann = parse_val_annotations(src.read(ann_name).decode())
        val_files: dict[str, list[str]] = {}
        for fname, w in sorted(ann.items()):
            if w in index:
                val_files.setdefault(w, []).append(root + "val/images/" + fname)
        missing = [n for fs in val_files.values() for n in fs if n not in set(src.names)]
        if missing:
            raise DataUnavailable(f"{source}: val_annotations.txt names {len(missing)} missing image(s), e.g. {missing[0]}")

        def build(files: dict[str, list[str]], limit: int | None, split: str) -> ImageSet:
            xs, ys = [], []
            for w in wnids:
                fs = sorted(files.get(w, []))[:limit]
                if not fs:
                    raise DataUnavailable(f"{source}: class {w} has no {split} images")
                for n in fs:
                    data = src.read(n)  # a damaged member: one line from ``_Source.read``
                    try:
                        xs.append(_decode(data, size))
                    except Exception as e:
                        why = " ".join(str(e).split())[:160]
                        raise DataUnavailable(f"cannot decode image {n} in {source}: {why}; "
                                              f"{fix_hint(TINY_IMAGENET.name)}") from None
                    ys.append(index[w])
            shapes = {a.shape for a in xs}
            if len(shapes) > 1:
                raise DataUnavailable(f"{source}: images have different sizes {sorted(shapes)[:3]}; pass a size")
            return ImageSet(np.stack(xs), np.asarray(ys, dtype=np.int64), list(wnids))

        out = {"train": build(train_files, limit_train, "train"), "test": build(val_files, limit_test, "val")}
    finally:
        src.close()
    if cache_file is not None:
        save_cache(cache_file, source, DECODER_VERSION, params, classes=np.array(out["train"].classes),
                   x_train=out["train"].x, y_train=out["train"].y, x_test=out["test"].x, y_test=out["test"].y)
    return out


def _limit_classes(d: dict[str, ImageSet], classes: int | None) -> dict[str, ImageSet]:
    if classes is None:
        return d
    n = len(d["train"].classes)
    if not 1 <= classes <= n:
        raise DataUnavailable(f"asked for {classes} classes, the source has {n}")
    out = {}
    for s, ds in d.items():
        keep = np.flatnonzero(ds.y < classes)
        out[s] = ImageSet(ds.x[keep], ds.y[keep], ds.classes[:classes])
    return out


def load_classification(path: str | Path | None = None, size: int | None = 64, classes: int | None = None,
                        limit_train: int | None = None, limit_test: int | None = None,
                        fetcher: Callable = fetch) -> dict[str, ImageSet]:
    """Train/test images for classification.

    No ``path``: Tiny-ImageNet through the cache or a download of the canonical zip (md5 checked).
    A ``path``: a Tiny-ImageNet zip/tar/folder if it has that layout, otherwise any image folder or
    archive of ``[train|test]/<class>/<image>`` (``classes`` keeps the first N class names in sorted order).
    """
    if path is not None and not Path(path).expanduser().exists():
        raise DataUnavailable(f"data.path {str(Path(path).expanduser())!r} does not exist")
    p = fetcher(TINY_IMAGENET, path)
    if is_tinyimagenet(p):
        return load_tinyimagenet(p, size=size, classes=classes, limit_train=limit_train, limit_test=limit_test)
    # the generic folder loader limits per (split, class) with one number: read with the larger limit
    # and cut the test split afterwards (decoding is cached, so this costs one pass)
    lim = None if limit_train is None or limit_test is None else max(limit_train, limit_test)
    d = _limit_classes(load_image_folder(p, size=size, limit_per_class=lim), classes)
    if "test" not in d:
        raise DataUnavailable(f"{p} has no test/ (or val/) split; the study needs one to report test accuracy")
    if limit_train is not None:
        d["train"] = d["train"].per_class(limit_train)
    if limit_test is not None:
        d["test"] = d["test"].per_class(limit_test)
    return d


# ---------------------------------------------------------------- what an ImageClassData section asks for
def select_classes(d: dict[str, ImageSet], names: list[str]) -> dict[str, ImageSet]:
    """Only the named classes, relabelled 0..len(names)-1 in the order given."""
    have = d["train"].classes
    missing = [c for c in names if c not in have]
    if missing:
        raise DltourError(f"class_names {missing} are not in the data (it has {', '.join(have[:12])}"
                          f"{', ...' if len(have) > 12 else ''})")
    if len(set(names)) != len(names):
        raise DltourError(f"class_names has duplicates: {names}")
    lookup = np.full(len(have), -1, dtype=np.int64)
    lookup[[have.index(c) for c in names]] = np.arange(len(names))
    out = {}
    for s, ds in d.items():
        keep = np.flatnonzero(lookup[ds.y] >= 0)
        out[s] = ImageSet(ds.x[keep], lookup[ds.y[keep]], list(names))
    return out


def hold_out(train: ImageSet, per_class: int, seed: int = 20191) -> tuple[ImageSet, ImageSet]:
    """(train, val): ``per_class`` images of every class held out of ``train`` (``data.val_per_class``),
    the first of that class in a permutation fixed by ``seed`` (the same split every time); both keep
    ``train``'s order. A class left with no training image is an error."""
    perm = np.random.default_rng(seed).permutation(len(train))
    val_idx, train_idx = [], []
    for c in range(len(train.classes)):
        idx = perm[train.y[perm] == c]
        if len(idx) <= per_class:
            raise DltourError(f"class {train.classes[c]!r} has {len(idx)} training images; data.val_per_class="
                              f"{per_class} leaves none to train on")
        val_idx.append(idx[:per_class])
        train_idx.append(idx[per_class:])
    return train.take(np.sort(np.concatenate(train_idx))), train.take(np.sort(np.concatenate(val_idx)))


def load_images(data: ImageClassData, size: int) -> dict[str, ImageSet]:
    """{"train", "test"} as ``data`` says (the demo pack's CIFAR-10 subset, a path, or Tiny-ImageNet), at
    size x size, its classes kept; train still holds the validation images (``train_per_class +
    val_per_class`` per class)."""
    lt = None if data.train_per_class is None else data.train_per_class + data.val_per_class
    if data.path is None and data.source == "embedded":
        d = load_classification(demo_path(), size, data.classes, lt, data.test_per_class,
                                fetcher=lambda spec, p: Path(p))
    else:
        d = load_classification(data.path, size, data.classes, lt, data.test_per_class)
    return select_classes(d, data.class_names) if data.class_names is not None else d


def load_splits(data: ImageClassData, size: int) -> dict[str, ImageSet]:
    """{"train", "val", "test"} as ``data`` says: :func:`load_images`, then ``val_per_class`` images of
    every class held out of train (:func:`hold_out`, a fixed permutation)."""
    d = load_images(data, size)
    train, val = hold_out(d["train"], data.val_per_class)
    return {"train": train, "val": val, "test": d["test"]}


def count_classes(data: ImageClassData, size: int) -> int:
    """How many classes ``data`` gives: read from the section where it says (the demo pack has 10,
    Tiny-ImageNet 200); only for a ``path`` are the images loaded to count them."""
    if data.class_names is not None:
        return len(data.class_names)
    if data.classes is not None:
        return data.classes
    if data.path is None:
        return 200 if data.source == "download" else 10
    return len(load_images(data, size)["train"].classes)
