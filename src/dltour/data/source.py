"""Where every dataset file comes from: manifest, cache, checksum, download, safe extraction.

Resolution order for a dataset file:

1. an explicit local path (``--set data.path=...``): used as given (its checksum is reported,
   not enforced, because users' copies are often repacks);
2. the cache folder (``$DLTOUR_DATA``, default ``platformdirs.user_cache_dir("dltour")``), whose
   file must match the manifest's checksum;
3. a download from the canonical URL with pooch (progress bar, checksum verified before the
   file is moved into the cache; a mismatch removes the file and raises).

Offline without the file, ``DataUnavailable`` says which file, where to put it and where to get
it. Archives are extracted by ``safe_extract``, which refuses members that would land outside the
target folder (``..``, absolute paths, links).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dltour import DltourError


class DataUnavailable(DltourError):
    """A dataset file could not be found, verified or downloaded."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # manifest key, e.g. "mnist-train-images"
    filename: str  # file name in the cache
    url: str  # canonical download URL
    known_hash: str | None  # "sha256:..." or "md5:..." (pooch syntax); None: not pinned
    size: int | None  # bytes, for `dltour data list`
    licence: str
    description: str
    family: str = ""  # the study family that uses it
    downloadable: bool = True  # False: the URL is a page that needs a login; the user brings the file


MANIFEST: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    MANIFEST[spec.name] = spec
    return spec


def cache_dir() -> Path:
    env = os.environ.get("DLTOUR_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("dltour"))


def file_hash(path: str | Path, alg: str = "sha256") -> str:
    h = hashlib.new(alg)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _matches(path: Path, known_hash: str | None) -> bool:
    if known_hash is None:
        return True
    alg, _, digest = known_hash.partition(":")
    if not digest:
        alg, digest = "sha256", alg
    return file_hash(path, alg) == digest.lower()


def verify(spec: DatasetSpec, folder: Path | None = None) -> tuple[bool, str]:
    """(ok, message) for the cached copy of ``spec``."""
    path = (folder or cache_dir()) / spec.filename
    if not path.exists():
        return False, "not cached"
    if _matches(path, spec.known_hash):
        return True, "verified" if spec.known_hash else "present (no pinned checksum)"
    return False, f"checksum mismatch ({spec.known_hash})"


def _unavailable_message(spec: DatasetSpec, folder: Path, why: str) -> str:
    return (f"{spec.filename} for dataset {spec.name!r} is not available ({why}). Download it from "
            f"{spec.url} and put it in {folder}/ (or set DLTOUR_DATA, or pass --set data.path=FILE).")


def fetch(spec: DatasetSpec | str, path: str | Path | None = None, folder: str | Path | None = None,
          progress: bool | None = None) -> Path:
    """Return a local, verified path to ``spec``'s file (see the module docstring for the order)."""
    if isinstance(spec, str):
        if spec not in MANIFEST:
            raise DataUnavailable(f"unknown dataset {spec!r}; known: {', '.join(sorted(MANIFEST))}")
        spec = MANIFEST[spec]
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataUnavailable(f"data path {str(p)!r} does not exist (expected {spec.filename}: "
                                  f"{spec.description}; canonical source {spec.url})")
        return p
    folder = Path(folder) if folder is not None else cache_dir()
    target = folder / spec.filename
    if target.exists():
        if _matches(target, spec.known_hash):
            return target
        raise DataUnavailable(f"cached {target} does not match its checksum {spec.known_hash}; delete it "
                              f"to download again from {spec.url}")
    if not spec.downloadable:
        raise DataUnavailable(_unavailable_message(spec, folder, "it cannot be downloaded automatically "
                                                   "(the source needs a login)"))
    import pooch
    import requests

    folder.mkdir(parents=True, exist_ok=True)
    if progress is None:
        progress = sys.stderr.isatty()
    try:
        got = pooch.retrieve(spec.url, known_hash=spec.known_hash, fname=spec.filename, path=folder,
                             progressbar=progress)
    except ValueError as e:  # pooch: hash mismatch (the downloaded file is removed)
        if target.exists():
            target.unlink()
        raise DataUnavailable(f"download of {spec.url} failed its checksum check ({e}); the file was "
                              f"removed. " + _unavailable_message(spec, folder, "bad checksum")) from None
    except (requests.exceptions.RequestException, OSError) as e:
        raise DataUnavailable(_unavailable_message(spec, folder, f"offline or unreachable: "
                                                   f"{type(e).__name__}")) from None
    return Path(got)


def _unsafe_member(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":")


def safe_extract(archive: str | Path, dest: str | Path, members: list[str] | None = None) -> Path:
    """Extract a .zip or .tar(.gz) archive into ``dest``; refuse any member that would land outside
    ``dest`` (absolute path, ``..``) and any link, before writing anything."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()

    def check(name: str) -> None:
        if _unsafe_member(name) or not (root / name).resolve().is_relative_to(root):
            raise DataUnavailable(f"refusing to extract {archive.name}: member {name!r} would land outside {dest}")

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            infos = [i for i in z.infolist() if members is None or i.filename in members]
            for info in infos:
                check(info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DataUnavailable(f"refusing to extract {archive.name}: member {info.filename!r} is a link")
            for info in infos:
                z.extract(info, dest)
        return dest
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            infos = [m for m in t.getmembers() if members is None or m.name in members]
            for m in infos:
                check(m.name)
                if m.issym() or m.islnk() or m.isdev():
                    raise DataUnavailable(f"refusing to extract {archive.name}: member {m.name!r} is a link or device")
            for m in infos:
                t.extract(m, dest, filter="data") if hasattr(tarfile, "data_filter") else t.extract(m, dest)
        return dest
    raise DataUnavailable(f"{archive} is neither a zip nor a tar archive")


def copy_into_cache(src: str | Path, spec: DatasetSpec, folder: Path | None = None) -> Path:
    """Place a file the user already has into the cache (``dltour data fetch NAME --from FILE``)."""
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / spec.filename
    # copy under a fresh private name, check it, then rename into place: a symlink planted at the
    # target's name is replaced, never followed (issue 23)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{spec.filename}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        if not _matches(Path(tmp), spec.known_hash):
            raise DataUnavailable(f"{src} does not match the checksum of {spec.name} ({spec.known_hash})")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def save_npz_atomic(path: Path, **arrays) -> None:
    """Write a ``.npz`` cache under a name unique to this process, then rename it into place: two
    workers building the same cache at once each leave a whole file, never a half-written one or a
    clash on a shared temporary name."""
    import tempfile

    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock on ``path`` (created if missing) for the ``with`` body; a no-op
    where ``fcntl`` is missing (not POSIX). Processes that would compute the same file take it."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # never truncate, never follow a symlink planted at the lock's name (issue 23)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as e:
        if path.is_symlink():
            raise DltourError(f"{path} is a symbolic link; a lock file must be a plain file: remove the link") from None
        raise
    with os.fdopen(fd, "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_pinned(path: Path, expected_sha256: str, what: str, rebuild: str) -> tuple[bytes, str]:
    """The bytes of a file shipped pinned by sha256 (model weights of the demo pack) and their
    digest, read once; ``DataUnavailable`` when it is missing or changed. ``what`` names it in the
    message, ``rebuild`` says how to rebuild it."""
    path = Path(path)
    if not path.exists():
        raise DataUnavailable(f"{what} {path} is missing; rebuild it with {rebuild}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise DataUnavailable(f"{path} has sha256 {digest[:16]}..., not the pinned {expected_sha256[:16] or '(none)'}"
                              f"...: {what} changed (rebuild it with {rebuild} and re-pin its sha256)")
    return data, digest

