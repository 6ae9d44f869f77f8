"""MNIST (LeCun, Cortes & Burges): 70,000 handwritten digits, 28x28 grey levels; 60k train, 10k test.

Where the data comes from, in order (``load``):

- ``source="embedded"``: the demo pack's ``mnist_demo.npz`` (a seeded random subset, written by
  ``build_demo``), offline;
- ``path``: a folder holding the four canonical IDX files (``train-images-idx3-ubyte.gz``,
  ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``;
  the un-gzipped names work too), used as given;
- otherwise each of the four files is fetched with ``dltour.data.source.fetch``: the cache, else a
  download from torchvision's mirror, verified against the md5s that torchvision's ``MNIST`` class
  publishes (``torchvision/datasets/mnist.py``, ``resources``).

The IDX reader is a few lines of NumPy (magic number, dimensions, then the bytes), so no
torchvision folder layout is needed.

The demo pack also ships two Inception-Score judges, each trained once by the pack-building script
(``scripts/build_demo_pack.py``, ``build_mnist_judges``) on the full 60k training images and pinned
here by its sha256, so every profile scores generated digits with the same networks, offline:
judge 1 ``mnist_classifier.pt`` (a small CNN, seed 0) and judge 2 ``mnist_judge2.pt`` (a fully
connected network, seed 1: another architecture, trained independently). An IS verdict is decided
only where both judges agree. This module only reads them (``load_judge_weights``: the state dict,
sha256 checked); the network that takes it is ``dltour.models.mnist_classifier.load_judge``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from dltour.data.source import (DataUnavailable, DatasetSpec, fetch, fix_hint, read_capped, read_pinned,
                                register_dataset)

BASE_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_LICENCE = "CC BY-SA 3.0 (Y. LeCun and C. Cortes)"

# md5s as published in torchvision 0.29's datasets/mnist.py (MNIST.resources)
_FILES = {
    "train-images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422,
                     "MNIST training images, 60000 x 28 x 28 uint8 (IDX gz)"),
    "train-labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881,
                     "MNIST training labels, 60000 uint8 (IDX gz)"),
    "test-images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877,
                    "MNIST test images, 10000 x 28 x 28 uint8 (IDX gz)"),
    "test-labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542,
                    "MNIST test labels, 10000 uint8 (IDX gz)"),
}
SPECS = {key: register_dataset(DatasetSpec(
    name=f"mnist-{key}", filename=fname, url=BASE_URL + fname, known_hash=f"md5:{md5}", size=size,
    licence=_LICENCE, description=desc, family="mnist")) for key, (fname, md5, size, desc) in _FILES.items()}

DEMO_FILE = "mnist_demo.npz"
CLASSIFIER_FILE = "mnist_classifier.pt"
CLASSIFIER_INFO = "mnist_classifier.json"
#: sha256 of the shipped ``mnist_classifier.pt`` (printed by the pack-building script); the IS signature records it
CLASSIFIER_SHA256 = "03b8aabab058011c628384d3247fa447dcc3939bfb77b474d0bc188111dc7dd9"
#: judge 2: another architecture (``MnistMLP``), another seed (``scripts/build_demo_pack.py``)
JUDGE2_FILE = "mnist_judge2.pt"
JUDGE2_INFO = "mnist_judge2.json"
JUDGE2_SHA256 = "97ae3ead6af81beeb42d2990d61a6f58230d17169dc45477c06723e5b4f962a5"
#: judge -> (architecture in ``dltour.models.mnist_classifier``, weights file, info file, pinned sha256)
JUDGES = {"cnn": ("MnistCNN", CLASSIFIER_FILE, CLASSIFIER_INFO, CLASSIFIER_SHA256),
          "mlp": ("MnistMLP", JUDGE2_FILE, JUDGE2_INFO, JUDGE2_SHA256)}
#: The canonical files' digests, by which genuine MNIST is recognised (``identify_files``):
#: ``gz_md5`` the published .gz file's md5 (torchvision's ``MNIST.resources``, as in ``_FILES``);
#: ``idx_md5`` the md5 of the decompressed IDX file, as published with many MNIST loaders (e.g.
#: secml's and guildsman's), so a re-packed or un-gzipped copy is recognised too; ``idx_sha256`` the
#: sha256 of the decompressed IDX file, computed here from the development mirror only where its
#: md5 is the canonical one (test images and all labels), else None (the training images: the
#: mirror's were rebuilt, see ``REBUILT_TRAIN_IMAGES_IDX_SHA256``).
CANONICAL = {
    "train-images": {"gz_md5": _FILES["train-images"][1], "idx_md5": "6bbc9ace898e44ae57da46a324031adb",
                     "idx_sha256": None},
    "train-labels": {"gz_md5": _FILES["train-labels"][1], "idx_md5": "a25bea736e30d166cdddb491f175f624",
                     "idx_sha256": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
    "test-images": {"gz_md5": _FILES["test-images"][1], "idx_md5": "2646ac647ad5339dbf082846283269ea",
                    "idx_sha256": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
    "test-labels": {"gz_md5": _FILES["test-labels"][1], "idx_md5": "27ae3e4e09519cfbb04c329615203637",
                    "idx_sha256": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
}
#: sha256 of the decompressed training-images IDX file of this project's development mirror, whose
#: 60k training images were rebuilt from a PNG copy (r = 0.997 with the original pixels; its .gz
#: md5 is 949bea..., not the published f68b3c...); its other three files are canonical
REBUILT_TRAIN_IMAGES_IDX_SHA256 = "8423838af32a1acf8d7ae8e29e039d2660ab449907175f64099020704e014a35"
#: what ``identity`` returns
CANONICAL_LABEL = "MNIST (canonical files)"
REBUILT_LABEL = "MNIST (rebuilt training images)"
EMBEDDED_LABEL = "MNIST (embedded demo subset of this project's mirror)"
NOT_MNIST_LABEL = "not MNIST (neither the canonical MNIST files nor this project's rebuilt mirror)"
#: the labels counted as the reference's data: the canonical files, and the development mirror,
#: whose test set and labels are byte-exact and whose training images are a close rebuild
REFERENCE_LABELS = (CANONICAL_LABEL, REBUILT_LABEL)
#: sha256 of the decoded arrays (``data_sha256``) of this project's development mirror (rebuilt
#: training images): not the canonical MNIST's (identity is decided by ``identify_files``); kept
#: for ``build_demo``'s printout and old callers
MIRROR_ARRAYS_SHA256 = "ab5673eabafa297acb961fba42e5d9604191039edcaa6da9139e6e6f7b1164e8"
MNIST_SHA256 = MIRROR_ARRAYS_SHA256
#: demo subset sizes (seeded random draw from the canonical train / test sets)
DEMO_TRAIN, DEMO_TEST = 10_000, 2_000
N_TRAIN, N_TEST = 60_000, 10_000

DEMO_NOTICE = f"""`{DEMO_FILE}`: a seeded random subset of MNIST ({DEMO_TRAIN:,} of the 60,000 training and
{DEMO_TEST:,} of the 10,000 test digits, uint8 28x28, with labels), from the canonical IDX files
(https://ossci-datasets.s3.amazonaws.com/mnist/; Y. LeCun, C. Cortes, C. J. C. Burges). Licence: CC BY-SA 3.0.
`{CLASSIFIER_FILE}` / `{CLASSIFIER_INFO}`: a small CNN (`dltour.models.mnist_classifier.MnistCNN`) trained
on the full MNIST training set by `scripts/build_demo_pack.py` (`build_mnist_judges`); Inception-Score judge 1.
`{JUDGE2_FILE}` / `{JUDGE2_INFO}`: a fully connected network (`dltour.models.mnist_classifier.MnistMLP`,
seed 1) trained independently on the full MNIST training set by the same script; Inception-Score judge 2."""


# ---------------------------------------------------------------- IDX files
def read_idx(path: str | Path, name: str | None = None) -> np.ndarray:
    """An IDX file (gzipped or not) as a NumPy array of its stored dtype (uint8 for MNIST). A damaged
    file (corrupt or truncated gzip, wrong magic number, a size that disagrees with its header) is one
    ``DataUnavailable`` line naming it and what to do (``name``: its dataset, for ``dltour data fetch``)."""
    raw = _idx_bytes(path, name)
    fix = fix_hint(name)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataUnavailable(f"{path} is not an IDX file (bad magic number {raw[:4].hex()}); {fix}")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise DataUnavailable(f"{path}: unknown IDX data type 0x{raw[2]:02x} (bad magic number); {fix}")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataUnavailable(f"{path}: the IDX header is cut short (truncated or corrupt file); {fix}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(dtypes[raw[2]])
    n = int(np.prod(dims, dtype=object)) if dims else 0
    offset = 4 + 4 * ndim
    if len(raw) - offset != n * dtype.itemsize:
        raise DataUnavailable(f"{path}: header says {dims} ({n * dtype.itemsize} bytes) but "
                              f"{len(raw) - offset} bytes follow (truncated or corrupt file); {fix}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_bytes(path: str | Path, name: str | None = None) -> bytes:
    """The (decompressed) bytes of an IDX file, at most ``MAX_MEMBER_BYTES``."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=f) as g:
                    return read_capped(g, path, "the decompressed stream")
            return read_capped(f, path, "the file")
    except DataUnavailable:
        raise
    except (OSError, EOFError, zlib.error) as e:  # zlib.error: bytes damaged inside the stream
        raise DataUnavailable(f"cannot read IDX file {path} (damaged or truncated: {' '.join(str(e).split())[:160]}); "
                              f"{fix_hint(name)}") from None


def _in_folder(folder: Path, fname: str) -> Path:
    for cand in (folder / fname, folder / fname.removesuffix(".gz"), folder / "MNIST" / "raw" / fname,
                 folder / "MNIST" / "raw" / fname.removesuffix(".gz")):
        if cand.exists():
            return cand
    raise DataUnavailable(f"{folder} has no {fname} (expected the four MNIST IDX files there: "
                          f"{', '.join(f[0] for f in _FILES.values())}; canonical source {BASE_URL})")


def _check(d: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    for split in ("train", "test"):
        x, y = d[f"{split}_x"], d[f"{split}_y"]
        fix_images, fix_labels = fix_hint(f"mnist-{split}-images"), fix_hint(f"mnist-{split}-labels")
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise DataUnavailable(f"{where}: {split} images have shape {x.shape} {x.dtype}; expected (N, 28, 28) "
                                  f"uint8; {fix_images}")
        if y.shape != (len(x),):
            raise DataUnavailable(f"{where}: {len(x)} {split} images but {y.shape} labels; {fix_labels}")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise DataUnavailable(f"{where}: {split} labels outside 0..9; {fix_labels}")
    return d


def demo_path(name: str = DEMO_FILE) -> Path:
    return Path(str(resources.files("dltour") / "demo_data" / name))


def _files_for(path: str | Path | None, source: str) -> dict[str, Path]:
    """The four IDX files: from the folder ``path``, else (``source="download"``) cache or download."""
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise DataUnavailable(f"MNIST data.path {str(folder)!r} is not a folder; pass the folder that holds "
                                  f"the four IDX files ({', '.join(f[0] for f in _FILES.values())})")
        return {k: _in_folder(folder, _FILES[k][0]) for k in _FILES}
    if source == "download":
        return {k: fetch(spec) for k, spec in SPECS.items()}
    raise DataUnavailable(f"unknown MNIST source {source!r}: choose embedded or download")


def load(path: str | Path | None = None, source: str = "download") -> dict[str, np.ndarray]:
    """MNIST as ``{"train_x": (N,28,28) uint8, "train_y": (N,) uint8, "test_x", "test_y"}``.

    ``path``: a folder with the four IDX files (wins over ``source``); ``source``: ``"embedded"``
    (the demo subset) or ``"download"`` (cache, else download with checksum)."""
    if path is not None:
        files = _files_for(path, source)
    elif source == "embedded":
        p = demo_path()
        if not p.exists():
            raise DataUnavailable(f"the demo pack has no {DEMO_FILE} ({p}); rebuild it with "
                                  f"`python scripts/build_demo_pack.py --only mnist` or use source=download")
        with np.load(p, allow_pickle=False) as z:
            return _check({k: z[k] for k in ("train_x", "train_y", "test_x", "test_y")}, str(p))
    else:
        files = _files_for(path, source)
    d = {"train_x": read_idx(files["train-images"], "mnist-train-images"),
         "train_y": read_idx(files["train-labels"], "mnist-train-labels"),
         "test_x": read_idx(files["test-images"], "mnist-test-images"),
         "test_y": read_idx(files["test-labels"], "mnist-test-labels")}
    return _check(d, str(path or "MNIST cache"))


# ---------------------------------------------------------------- the IS judges (read only)
def classifier_path(judge: str = "cnn") -> Path:
    return demo_path(JUDGES[judge][1])


def load_judge_weights(judge: str = "cnn", path: str | Path | None = None,
                       expected_sha256: str | None = None) -> tuple[dict, str]:
    """A pinned Inception-Score judge's state dict (CPU tensors) and its sha256: ``judge="cnn"``
    (judge 1, ``MnistCNN``) or ``"mlp"`` (judge 2, ``MnistMLP``); build the network with
    ``dltour.models.mnist_classifier.load_judge(judge, state_dict)``.

    The file's sha256 must equal ``expected_sha256`` (default: the judge's pinned sha256), else
    ``DataUnavailable``."""
    import torch

    if judge not in JUDGES:
        raise ValueError(f"unknown judge {judge!r}: {', '.join(JUDGES)}")
    _, fname, _, pinned = JUDGES[judge]
    path = Path(path) if path is not None else demo_path(fname)
    data, digest = read_pinned(path, expected_sha256 or pinned, "the Inception-Score classifier (scores with another "
                               "would not be comparable)", "`python scripts/build_demo_pack.py --only mnist` (needs MNIST)")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), digest


def classifier_info(judge: str = "cnn") -> dict:
    p = demo_path(JUDGES[judge][2])
    return json.loads(p.read_text()) if p.exists() else {}


def data_sha256(d: dict[str, np.ndarray]) -> str:
    """sha256 over the decoded arrays (train_x, train_y, test_x, test_y: shapes, dtypes and bytes):
    the data's identity, independent of how the files were compressed."""
    h = hashlib.sha256()
    for k in ("train_x", "train_y", "test_x", "test_y"):
        a = np.ascontiguousarray(d[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- demo pack (the data part)
def build_demo(shared_data: Path, demo_dir: Path) -> list[Path]:
    """Demo pack, data only: a seeded random {DEMO_TRAIN} train + {DEMO_TEST} test subset (uint8,
    compressed npz). The judges are trained by ``scripts/build_demo_pack.py`` (``--only mnist`` runs both)."""
    d = load(shared_data / "mnist")
    rng = np.random.default_rng(20240601)
    tr = np.sort(rng.choice(len(d["train_x"]), DEMO_TRAIN, replace=False))
    te = np.sort(rng.choice(len(d["test_x"]), DEMO_TEST, replace=False))
    demo_dir.mkdir(parents=True, exist_ok=True)
    out = demo_dir / DEMO_FILE
    np.savez_compressed(out, train_x=d["train_x"][tr], train_y=d["train_y"][tr],
                        test_x=d["test_x"][te], test_y=d["test_y"][te])
    print(f"mnist: decoded data sha256 {data_sha256(d)} (pin it as MNIST_SHA256)")
    return [out]


# ---------------------------------------------------------------- what the studies use
from typing import Literal  # noqa: E402

from pydantic import Field  # noqa: E402

from dltour.config import SplitData  # noqa: E402


class MnistData(SplitData):
    """MNIST digits: ``path`` is a folder holding the four canonical IDX files."""

    source: Literal["embedded", "download"] = "download"
    """embedded: the demo pack's subset (offline); download: the full MNIST (cache, else download).
    An explicit ``path`` (a folder with the four IDX files) wins over both."""
    train_subset: int | None = Field(None, ge=100)
    """Use only the first N training images (None: all)."""
    test_subset: int | None = Field(None, ge=100)
    """Use only the first N test images (None: all)."""


_CACHE: dict = {}


def arrays_for(data: MnistData) -> dict[str, np.ndarray]:
    """The (possibly cut) uint8 arrays for a study's data config; loaded once per process."""
    key = (data.path, data.source if data.path is None else "path")
    if key not in _CACHE:
        _CACHE.clear()  # keep one dataset in memory
        _CACHE[key] = load(data.path, data.source)
    d = _CACHE[key]
    return {"train_x": d["train_x"][:data.train_subset], "train_y": d["train_y"][:data.train_subset],
            "test_x": d["test_x"][:data.test_subset], "test_y": d["test_y"][:data.test_subset]}


def tensors_for(data: MnistData, device) -> dict:
    """Images as float32 (N, 784) in [0, 1] and labels as int64, on ``device`` (MNIST fits in memory,
    so training slices batches from these tensors: no per-sample Python)."""
    import torch

    a = arrays_for(data)
    out = {}
    for split in ("train", "test"):
        x = torch.from_numpy(a[f"{split}_x"].reshape(len(a[f"{split}_x"]), 784))  # (N, 28, 28) -> (N, 784)
        out[f"{split}_x"] = x.to(device).float().div_(255.0)
        out[f"{split}_y"] = torch.from_numpy(a[f"{split}_y"].astype(np.int64)).to(device)
    return out


# ---------------------------------------------------------------- identity: which MNIST this is
def file_kind(key: str, path: str | Path) -> str | None:
    """``"canonical"`` when the file at ``path`` is MNIST's canonical ``key`` file (its md5 is the
    published .gz's, or its decompressed IDX content has the canonical md5, and sha256 where known),
    ``"rebuilt"`` for this project's rebuilt training images, else None."""
    return _file_kind(key, path)[0]


def _file_kind(key: str, path: str | Path) -> tuple[str | None, str]:
    """(kind as in ``file_kind``, for a file that is neither: what its content's digests are)."""
    path = Path(path)
    ref = CANONICAL[key]
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if gzipped and source_file_md5(path) == ref["gz_md5"]:
        return "canonical", ""
    idx = _idx_bytes(path, f"mnist-{key}")
    md5, sha = hashlib.md5(idx, usedforsecurity=False).hexdigest(), hashlib.sha256(idx).hexdigest()
    if md5 == ref["idx_md5"] and (ref["idx_sha256"] is None or sha == ref["idx_sha256"]):
        return "canonical", ""
    if key == "train-images" and sha == REBUILT_TRAIN_IMAGES_IDX_SHA256:
        return "rebuilt", ""
    return None, (f"{path.name}: content md5 {md5[:12]}... / sha256 {sha[:12]}..., not the canonical "
                  f"md5 {ref['idx_md5'][:12]}...")


def source_file_md5(path: Path) -> str:
    from dltour.data.source import file_hash

    return file_hash(path, "md5")


def identify_files(files: dict[str, Path]) -> str:
    """Which MNIST the four files are (``files``: key of ``_FILES`` -> path): ``CANONICAL_LABEL``,
    ``REBUILT_LABEL`` (this project's mirror: canonical test set and labels, rebuilt training
    images) or ``NOT_MNIST_LABEL``."""
    return _identify(files)[0]


def _identify(files: dict[str, Path]) -> tuple[str, str]:
    """(label as in ``identify_files``, for other data: which files differ and their digests)."""
    kinds = {k: _file_kind(k, files[k]) for k in _FILES}
    if all(v == "canonical" for v, _ in kinds.values()):
        return CANONICAL_LABEL, ""
    if kinds["train-images"][0] == "rebuilt" and all(v == "canonical" for k, (v, _) in kinds.items()
                                                     if k != "train-images"):
        return REBUILT_LABEL, ""
    return NOT_MNIST_LABEL, "; ".join(why for v, why in kinds.values() if v is None)


_ID_CACHE: dict = {}


def identity(data: MnistData) -> str:
    """Which data this config reads, by content: ``CANONICAL_LABEL``, ``REBUILT_LABEL``,
    ``EMBEDDED_LABEL`` or ``NOT_MNIST_LABEL`` (subsets are ignored: it names the files). Raises
    ``DataUnavailable`` when the files cannot be had."""
    return _identity(data)[0]


def _identity(data: MnistData) -> tuple[str, str]:
    if data.path is None and data.source == "embedded":
        return EMBEDDED_LABEL, ""
    key = (data.path, data.source if data.path is None else "path")
    if key not in _ID_CACHE:
        _ID_CACHE[key] = _identify(_files_for(data.path, data.source))
    return _ID_CACHE[key]


def data_label(data: MnistData) -> str:
    """``identity`` for a study's summary, never raising: what the data were recognised as, e.g.
    "MNIST (canonical files)" or "MNIST (rebuilt training images)"."""
    try:
        return identity(data)
    except DataUnavailable as e:
        return f"unidentified ({e})"


def is_reference_data(data: MnistData) -> tuple[bool, str]:
    """Whether this data config yields the reference's data, all 60k + 10k MNIST digits, checked by
    the content of the files (``identity``: the published digests of the canonical files, or this
    project's mirror), not by the kind of path given; and why not."""
    if data.path is None and data.source == "embedded":
        return False, (f"data differs: the embedded demo subset ({DEMO_TRAIN:,} + {DEMO_TEST:,} digits"
                       + (f", cut to {data.train_subset or 'all'} / {data.test_subset or 'all'}"
                          if data.train_subset or data.test_subset else "") + "), not the full MNIST")
    try:
        label, detail = _identity(data)
    except DataUnavailable as e:
        return False, f"data differs: it could not be read to check its identity ({e})"
    if label not in REFERENCE_LABELS:
        return False, f"data differs: {label}" + (f" ({detail})" if detail else "")
    ntr = min(N_TRAIN, data.train_subset or N_TRAIN)
    nte = min(N_TEST, data.test_subset or N_TEST)
    if (ntr, nte) != (N_TRAIN, N_TEST):
        return False, (f"data differs: {label}, cut to {ntr:,} training / {nte:,} test digits, not all "
                       f"{N_TRAIN:,} + {N_TEST:,}")
    return True, ""


def is_mnist(data: MnistData) -> tuple[bool, str]:
    """Whether the data are MNIST digits at all (any subset of them): the embedded pack and the
    checksummed download are; a ``path`` is when its files are the canonical MNIST's or this
    project's mirror (``identity``)."""
    if data.path is None:
        return True, ""
    ok, why = is_reference_data(data.model_copy(update={"train_subset": None, "test_subset": None}))
    return ok, why.removeprefix("data differs: ")
