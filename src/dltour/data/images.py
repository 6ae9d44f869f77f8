"""Labelled colour images: CIFAR-10/100 (canonical python archives), any image folder, and the
embedded CIFAR-10 JPEG demo subset; ``ImageData``, the data config of the image-to-image studies
(T3.2 ``denoise-losses``, T4.2 ``colourise``), and ``images_for``, what they load through it.

Everything loads into an ``ImageSet``: ``x`` uint8 ``(N, H, W, 3)``, ``y`` int64 ``(N,)``, ``classes``.
Studies move ``x`` to the device once as uint8 and convert/augment there (a 50k x 32 x 32 set is
150 MB; it fits any GPU).

Image-folder sources (``--set data.path=...``) accept a folder or a ``.tar(.gz)``/``.zip`` archive
laid out as ``[prefix/]{train,test}/<class>/<image>`` (or, without split folders, ``<class>/<image>``:
then every image is "train"). Images are converted to RGB and, when ``size`` is given, resized with
bilinear filtering. Decoding an archive takes a while (about 20 s for 60k CIFAR JPEGs on one core),
so the decoded arrays are cached beside the dataset cache, keyed by the file's size and mtime.
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle  # nosec B403  # only _CifarUnpickler (allow-listed NumPy globals) unpickles
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from pydantic import Field

from dltour.config import SplitData
from dltour.data.source import _matches, cache_dir, check_member_size, check_tar_end, DatasetSpec, DataUnavailable, fetch, fix_hint, load_cache, read_capped, reading, register_dataset, save_cache
from dltour.fileio import file_lock

#: the image-folder decoder's version, recorded in its decoded caches: bump it when decoding changes
DECODER_VERSION = "images.folder/2"

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm"}

CIFAR100 = register_dataset(DatasetSpec(
    name="cifar100", filename="cifar-100-python.tar.gz",
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    known_hash="md5:eb9058c3a382ffc7106e4002c42a8d85", size=169_001_437,
    licence="CIFAR terms (Krizhevsky 2009): free for research", family="images",
    description="CIFAR-100, 50k train + 10k test 32x32 colour images, 100 classes (python pickles)"))
CIFAR10 = register_dataset(DatasetSpec(
    name="cifar10", filename="cifar-10-python.tar.gz",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    known_hash="md5:c58f30108f718f92721af3b95e74349a", size=170_498_071,
    licence="CIFAR terms (Krizhevsky 2009): free for research", family="images",
    description="CIFAR-10, 50k train + 10k test 32x32 colour images, 10 classes (python pickles)"))

DEMO_FILE = "cifar10_demo.zip"
DEMO_PER_CLASS = {"train": 400, "test": 100}
DEMO_NOTICE = f"""`{DEMO_FILE}`: {DEMO_PER_CLASS['train']} training and {DEMO_PER_CLASS['test']} test images per class of
CIFAR-10 (the first in archive order in each class folder), 32x32 JPEG as mirrored (lossy, about 920 bytes each), laid
out as `cifar10_demo/{{train,test}}/<class>/NNNN.jpg`. Krizhevsky, *Learning Multiple Layers of Features from Tiny
Images*, 2009; https://www.cs.toronto.edu/~kriz/cifar.html (free for research use). Stands in for CIFAR-100 and
Tiny-ImageNet in the demo profile."""


@dataclass
class ImageSet:
    x: np.ndarray  # (N, H, W, 3) uint8
    y: np.ndarray  # (N,) int64
    classes: list[str]

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx) -> "ImageSet":
        return ImageSet(self.x[idx], self.y[idx], self.classes)

    def per_class(self, n: int) -> "ImageSet":
        """The first ``n`` images of each class (order kept)."""
        keep = np.concatenate([np.flatnonzero(self.y == c)[:n] for c in range(len(self.classes))])
        return self.take(np.sort(keep))


# ---------------------------------------------------------------- CIFAR python archives
#: the only globals a CIFAR python batch needs: NumPy's array reconstruction (under both its 1.x and
#: 2.x module names); anything else in a pickle (``os.system``, ``builtins.eval``, ...) is refused
_CIFAR_PICKLE_GLOBALS = {
    (mod, name)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "bytes"), ("_codecs", "encode")}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR's python batches (dicts of bytes, lists and NumPy arrays) and nothing else:
    a crafted archive cannot run code through ``find_class``."""

    def find_class(self, module: str, name: str):
        if (module, name) in _CIFAR_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def _cifar_name(archive: Path) -> str:
    return "cifar100" if "100" in archive.name else "cifar10"


def _load_cifar_member(t: tarfile.TarFile, archive: Path, member: str) -> dict:
    try:
        info = t.getmember(member)
    except KeyError:
        raise DataUnavailable(f"{archive} has no member {member}: not a whole CIFAR python archive; check it with "
                              f"`dltour data verify` and get it with `dltour data fetch {_cifar_name(archive)}`"
                              ) from None
    f = t.extractfile(info)
    if f is None:
        raise DataUnavailable(f"{archive}: {member} is not a regular file; `dltour data fetch {_cifar_name(archive)}` "
                              "gets the canonical archive")
    check_member_size(archive, member, info.size)
    with reading(archive, _cifar_name(archive)):
        data = read_capped(f, archive, member)
    try:
        d = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError) as e:
        raise DataUnavailable(f"{archive}: {member} is not a CIFAR python batch ({' '.join(str(e).split())[:160]}); "
                              f"refusing to read it. `dltour data fetch {_cifar_name(archive)}` gets the canonical "
                              "archive") from None
    if not isinstance(d, dict):
        raise DataUnavailable(f"{archive}: {member} is not a CIFAR python batch (a {type(d).__name__}, not a dict); "
                              f"`dltour data fetch {_cifar_name(archive)}` gets the canonical archive")
    return d


def load_cifar_python(archive: str | Path, split: str = "train") -> ImageSet:
    """Read ``cifar-10-python.tar.gz`` or ``cifar-100-python.tar.gz`` (fine labels) without extracting."""
    if split not in ("train", "test"):
        raise ValueError("split must be 'train' or 'test'")
    archive = Path(archive)
    with reading(archive, _cifar_name(archive)), tarfile.open(archive) as t:
        names = t.getnames()
        check_tar_end(t, archive, _cifar_name(archive))
        if any(n.endswith("cifar-100-python/meta") for n in names):
            members, label_key, meta, names_key = [f"cifar-100-python/{split}"], b"fine_labels", "cifar-100-python/meta", b"fine_label_names"
        elif any(n.endswith("batches.meta") for n in names):
            batches = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
            members, label_key, meta, names_key = [f"cifar-10-batches-py/{b}" for b in batches], b"labels", "cifar-10-batches-py/batches.meta", b"label_names"
        else:
            raise DataUnavailable(f"{archive} is not a CIFAR-10/100 python archive")
        xs, ys = [], []
        for m in members:
            d = _load_cifar_member(t, archive, m)  # the canonical format is pickled dicts: restricted unpickler
            x = np.asarray(d[b"data"], dtype=np.uint8)
            y = np.asarray(d[label_key], dtype=np.int64)
            if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or y.shape != (len(x),):
                raise DataUnavailable(f"{archive}: {m} holds images of shape {x.shape} and labels of shape {y.shape}, "
                                      f"not (N, 3072) and (N,); check it with `dltour data verify` and get it "
                                      f"again with `dltour data fetch {_cifar_name(archive)}`")
            xs.append(x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(y)
        classes = [c.decode() for c in _load_cifar_member(t, archive, meta)[names_key]]
    return ImageSet(np.concatenate(xs), np.concatenate(ys), classes)


# ---------------------------------------------------------------- image folders and archives
def _split_and_class(path: str) -> tuple[str, str] | None:
    """("train"|"test", class) for ``.../{train,test}/<class>/<file>`` or ("train", class) for ``<class>/<file>``."""
    parts = PurePosixPath(path).parts
    if len(parts) < 2 or PurePosixPath(path).suffix.lower() not in IMAGE_SUFFIXES:
        return None
    for i, p in enumerate(parts[:-2]):
        if p.lower() in ("train", "test", "val"):
            return ("test" if p.lower() != "train" else "train"), parts[i + 1]
    return "train", parts[-2]


def _decode(data: bytes, size: int | None) -> np.ndarray:
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _iter_files(source: Path):
    """(relative posix path, bytes loader) for every file in a folder, tar or zip. Folders and zips
    are walked in sorted order; tars in archive order, streamed (random access into a .tar.gz
    re-decompresses from the start for every member: minutes instead of seconds for CIFAR)."""
    if source.is_dir():
        for p in sorted(source.rglob("*")):
            if p.is_file():
                yield p.relative_to(source).as_posix(), p.read_bytes
    elif tarfile.is_tarfile(source):
        with tarfile.open(source, "r|*") as t:
            for m in t:
                if m.isfile():
                    check_member_size(source, m.name, m.size)
                    data = t.extractfile(m).read()
                    yield m.name, (lambda data=data: data)
            check_tar_end(t, source)
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            infos = {i.filename: i for i in z.infolist() if not i.is_dir()}
            for name in sorted(infos):
                check_member_size(source, name, infos[name].file_size)
                yield name, (lambda name=name: z.read(name))
    else:
        raise DataUnavailable(f"{source} is neither a folder nor a tar/zip archive of images")


def load_image_folder(source: str | Path, size: int | None = None, limit_per_class: int | None = None,
                      use_cache: bool = True) -> dict[str, ImageSet]:
    """{"train": ImageSet, "test": ImageSet (if the source has a test/val split)} from a folder or archive."""
    source = Path(source).expanduser()
    if not source.exists():
        raise DataUnavailable(f"image source {str(source)!r} does not exist (expected a folder or archive with "
                              f"[train|test]/<class>/<image> files)")
    if not use_cache:
        return _read_images(source, size, limit_per_class)
    st = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{size}|{limit_per_class}".encode())
    cache_file = cache_dir() / "decoded" / f"{source.name}-{key.hexdigest()[:16]}.npz"
    params = {"size": size, "limit_per_class": limit_per_class}
    # parallel runs: the first decodes and caches, the others wait and read its cache
    with file_lock(cache_file.with_name(cache_file.name + ".lock")):
        # the cache is trusted only when it records this source's sha256 and this decoder's version
        # (issue 23: a planted or stale .npz is ignored and rebuilt)
        z = load_cache(cache_file, source, DECODER_VERSION, params)
        if z is not None and "classes" in z and "x_train" in z:
            classes = [str(c) for c in z["classes"]]
            return {s: ImageSet(z[f"x_{s}"], z[f"y_{s}"], classes) for s in ("train", "test") if f"x_{s}" in z}
        out = _read_images(source, size, limit_per_class)
        arrays = {"classes": np.array(out["train"].classes)}
        for s, d in out.items():
            arrays[f"x_{s}"], arrays[f"y_{s}"] = d.x, d.y
        save_cache(cache_file, source, DECODER_VERSION, params, **arrays)
    return out


def _read_images(source: Path, size: int | None, limit_per_class: int | None) -> dict[str, ImageSet]:
    """Decode every image of a folder or archive into per-split ``ImageSet``s; a damaged archive
    (corrupt gzip, zip or tar member) is one ``DataUnavailable`` line."""
    with reading(source):
        return _read_images_unchecked(source, size, limit_per_class)


def _read_images_unchecked(source: Path, size: int | None, limit_per_class: int | None) -> dict[str, ImageSet]:
    found: dict[str, dict[str, list]] = {}
    counts: dict[tuple[str, str], int] = {}
    for rel, read in _iter_files(source):
        sc = _split_and_class(rel)
        if sc is None:
            continue
        if limit_per_class is not None and counts.get(sc, 0) >= limit_per_class:
            continue
        counts[sc] = counts.get(sc, 0) + 1
        data = read()  # a damaged archive member: one line from ``reading`` in ``_read_images``
        try:
            found.setdefault(sc[0], {}).setdefault(sc[1], []).append((rel, _decode(data, size)))
        except Exception as e:  # a corrupt or non-image file: say which
            raise DataUnavailable(f"cannot decode image {rel} in {source}: {' '.join(str(e).split())[:160]}; "
                                  f"{fix_hint(None)}") from None
    if "train" not in found:
        raise DataUnavailable(f"no images found in {source} (expected [train|test]/<class>/<image> files)")
    classes = sorted(found["train"])
    out = {}
    for split, by_path in found.items():
        # within a class, images in path order, whatever order the archive stored them in
        by_class = {c: [a for _, a in sorted(items, key=lambda t: t[0])] for c, items in by_path.items()}
        unknown = set(by_class) - set(classes)
        if unknown:
            raise DataUnavailable(f"{source}: {split} has classes not in train: {sorted(unknown)[:5]}")
        shapes = {a.shape for imgs in by_class.values() for a in imgs}
        if len(shapes) > 1:
            raise DataUnavailable(f"{source}: images have different sizes {sorted(shapes)[:3]}; pass a size to resize")
        xs = [np.stack(by_class[c]) for c in classes if c in by_class]
        ys = [np.full(len(by_class[c]), i, dtype=np.int64) for i, c in enumerate(classes) if c in by_class]
        out[split] = ImageSet(np.concatenate(xs), np.concatenate(ys), classes)
    return out


# ---------------------------------------------------------------- the embedded demo subset
def demo_path() -> Path:
    return Path(str(resources.files("dltour") / "demo_data" / DEMO_FILE))


def load_demo(size: int | None = None) -> dict[str, ImageSet]:
    """The embedded CIFAR-10 JPEG subset: {"train": 4000 images, "test": 1000 images}, 10 classes."""
    return load_image_folder(demo_path(), size=size)


def build_demo(shared_data: Path, demo_dir: Path) -> list[Path]:
    src = shared_data / "cifar10" / "CIFAR-10-images_jpg.tar.gz"
    dst = demo_dir / DEMO_FILE
    taken: dict[tuple[str, str], int] = {}
    if dst.exists():
        dst.unlink()
    # stream order: random access into a .tar.gz re-decompresses from the start for every member
    with tarfile.open(src, "r|gz") as t_in, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z_out:
        for m in t_in:
            sc = _split_and_class(m.name) if m.isfile() else None
            if sc is None or taken.get(sc, 0) >= DEMO_PER_CLASS[sc[0]]:
                continue
            taken[sc] = taken.get(sc, 0) + 1
            info = zipfile.ZipInfo(f"cifar10_demo/{sc[0]}/{sc[1]}/{PurePosixPath(m.name).name}", (1980, 1, 1, 0, 0, 0))
            z_out.writestr(info, t_in.extractfile(m).read())  # JPEG: stored, deflate gains nothing
    return [dst]


# ---------------------------------------------------------------- what the image-to-image studies load
SPLIT_SEED = 0  # the fixed permutation behind every train/validation/test cut below (never the run's seed)


class ImageData(SplitData):
    """Colour images for the image-to-image studies (T3.2, T4.2). ``path``: a CIFAR-10/100 python
    archive, or any image folder or archive of ``[train|test]/<class>/<image>`` (without a test split
    a fixed sixth of the images is the test set)."""

    source: Literal["embedded", "download"] = "download"
    """Without ``path``: ``embedded`` (the demo pack's CIFAR-10 JPEG subset, offline) or ``download``
    (CIFAR-100: the cache, else its canonical URL)."""
    train_subset: int | None = Field(None, ge=10)
    """Use only N training images: a fixed random subset, the same for every seed (validation comes
    out of them); None: all."""
    test_subset: int | None = Field(None, ge=1)
    """Score only N test images, spread evenly over the test set (it is stored class by class, so the
    first N would cover only the first classes); None: all."""
    image_size: int = Field(32, ge=8)
    """Side that images from an image folder are resized to (CIFAR archives are 32x32 already)."""

    def cuts(self) -> list[str]:
        """What this config leaves out of the data, in words (for a study's budget comparison)."""
        out = []
        if self.train_subset is not None:
            out.append(f"{self.train_subset} training images (reference: all)")
        if self.test_subset is not None:
            out.append(f"{self.test_subset} test images (reference: all)")
        return out


def data_kind(data: ImageData) -> str:
    """'cifar100', 'cifar10' (python archives), 'folder' or 'embedded', without decoding anything."""
    if data.path is None:
        return "embedded" if data.source == "embedded" else "cifar100"
    p = Path(data.path).expanduser()
    if p.is_file() and tarfile.is_tarfile(p):
        with reading(p), tarfile.open(p) as t:
            first = t.next()
        name = first.name if first is not None else ""
        if name.startswith("cifar-100-python"):
            return "cifar100"
        if name.startswith("cifar-10-batches-py"):
            return "cifar10"
    return "folder"


def source_label(kind: str) -> str:
    return {"cifar100": "CIFAR-100", "cifar10": "CIFAR-10 (python archive)", "folder": "an image folder",
            "embedded": "the embedded CIFAR-10 JPEG demo subset"}[kind]


def images_for(data: ImageData) -> tuple[ImageSet, ImageSet, str]:
    """(train, test, kind): uint8 NHWC image sets, whole (cut them with ``split_indices`` and
    ``test_indices``); loaded once per process. No path: the embedded demo subset or CIFAR-100
    fetched from its canonical URL (offline and uncached this raises ``DataUnavailable``)."""
    return _load(data.source, data.path, data.image_size)


@functools.lru_cache(maxsize=2)
def _load(source: str, path: str | None, image_size: int) -> tuple[ImageSet, ImageSet, str]:
    if path is not None and not Path(path).expanduser().exists():
        raise DataUnavailable(f"data.path {path!r} does not exist (expected a CIFAR-10/100 python archive, or an "
                              f"image folder or archive of [train|test]/<class>/<image> files)")
    kind = data_kind(ImageData(source=source, path=path, image_size=image_size))
    if kind in ("cifar100", "cifar10"):
        archive = fetch(CIFAR100 if kind == "cifar100" else CIFAR10, path=path)
        train, test = load_cifar_python(archive, "train"), load_cifar_python(archive, "test")
    else:
        sets = load_demo(size=image_size) if kind == "embedded" else load_image_folder(path, size=image_size)
        train = sets["train"]
        if "test" in sets:
            test = sets["test"]
        else:
            perm = np.random.default_rng(SPLIT_SEED).permutation(len(train))
            n_test = len(train) // 6
            train, test = train.take(np.sort(perm[n_test:])), train.take(np.sort(perm[:n_test]))
    if len(train) < 10 or len(test) < 1:
        raise DataUnavailable(f"too few images ({len(train)} train, {len(test)} test) in {path}")
    return train, test, kind


def split_indices(n: int, train_subset: int | None, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Fixed (seed-independent) train/validation indices into a training set of ``n`` images: a fixed
    permutation, cut to ``train_subset``, of which ``val_fraction`` is the validation set."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    if train_subset is not None:
        perm = perm[:train_subset]
    n_val = max(1, int(round(len(perm) * val_fraction)))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def test_indices(n: int, test_subset: int | None) -> np.ndarray:
    """Every test image, or ``test_subset`` of them spread evenly over the set (test sets are stored
    class by class, so the first ``test_subset`` would cover only the first classes)."""
    if test_subset is None or test_subset >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, test_subset).astype(np.int64))


test_indices.__test__ = False  # a function of the data layer, not a pytest test


def panel_indices(n: int, k: int = 8) -> np.ndarray:
    """``k`` test images spread evenly over a set of ``n`` (test sets are stored class by class)."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).astype(np.int64))


def reference_data(data: ImageData) -> tuple[bool, str]:
    """Whether the data is the reference's CIFAR-100: our own checksum-verified download, or a
    given file whose md5 is CIFAR-100's canonical archive's (checked, not assumed from the path)."""
    kind = data_kind(data)
    if data.path is None:
        if kind == "embedded":
            return False, "data: the embedded CIFAR-10 JPEG demo subset, not the reference's CIFAR-100"
        return True, "data: CIFAR-100 from its canonical URL, checksum-verified on download"
    p = Path(data.path).expanduser()
    if not p.exists():
        return False, f"data: {data.path} does not exist"
    if kind == "cifar100" and p.is_file() and _matches(p, CIFAR100.known_hash):
        return True, "data: the given file is CIFAR-100's canonical archive (md5 matches)"
    return False, f"data: {source_label(kind)} at {data.path}, not CIFAR-100's canonical archive (checksum differs)"
