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

import csv
import hashlib
import json
import lzma
import os
import pickle  # nosec B403  # only for pickle.UnpicklingError; nothing is unpickled here
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dltour.errors import DltourError
from dltour.fileio import file_lock  # noqa: F401  (the data modules' download lock)


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
    return (f"{spec.filename} for dataset {spec.name!r} is not available ({why}). Get it from {spec.url}, then "
            f"`dltour data fetch {spec.name} --from FILE` (or put it in {folder}/, or pass --set data.path=FILE).")


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
        target.unlink()  # a cached file that fails its check is never left to be used again (issue 23)
        raise DataUnavailable(f"cached {target} does not match its checksum {spec.known_hash}; it was removed: "
                              f"run `dltour data fetch {spec.name}` to download it again from {spec.url}")
    if not spec.downloadable:
        raise DataUnavailable(_unavailable_message(spec, folder, "it cannot be downloaded automatically "
                                                   "(the source needs a login)"))
    import pooch
    import requests

    folder.mkdir(parents=True, exist_ok=True)
    if progress is None:
        progress = sys.stderr.isatty()
    pooch.get_logger().setLevel("WARNING")  # no "Downloading ..." line: a failure is our one line, a
    # download in a terminal shows pooch's progress bar
    try:
        # one download per cache folder: concurrent workers (a node's Ray workers, two drivers) wait
        # for the first and then find the file verified in place
        with file_lock(folder / f".{spec.filename}.download.lock"):
            if target.exists() and _matches(target, spec.known_hash):
                return target
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
    if not Path(src).is_file():
        raise DataUnavailable(f"{src} does not exist or is not a file: give the path of your copy of {spec.name} "
                              f"({spec.filename}, from {spec.url})")
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



# ---------------------------------------------------------------- damaged files: one line (issue 22)
#: what a reader may raise on a damaged, truncated or wrong file: turned into one ``DataUnavailable`` line
DAMAGE_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, zipfile.LargeZipFile,
                 tarfile.TarError, UnicodeDecodeError, pickle.UnpicklingError, csv.Error, ValueError, KeyError,
                 IndexError, TypeError, AttributeError, OverflowError, MemoryError)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if "could not be opened successfully" in text:  # tarfile's "r:*": one attempt per compression
        m = re.search(r"method gz: \w+\((['\"])(.*?)\1\)", text)
        text = m.group(2) if m and "not a gzip file" not in m.group(2) else "not a readable tar archive"
    text = re.sub(r"\b\w+(Error|Exception)\(", "(", text)  # no exception class names in a user's line
    if isinstance(e, KeyError):
        text = f"missing entry {text}"
    if not text:
        text = {EOFError: "it ends early (truncated)"}.get(type(e), "unreadable content")
    return text[:200]


def fix_hint(name: str | None) -> str:
    """What to do about a damaged dataset file, for the end of a one-line error."""
    fetch_cmd = f"`dltour data fetch {name}`" if name else "`dltour data fetch NAME`"
    return (f"check it with `dltour data verify` and get a good copy with {fetch_cmd} "
            f"(or pass one with --set data.path=...)")


def damaged(path: str | Path, why: str, name: str | None = None) -> DataUnavailable:
    """The one-line error for a damaged, truncated or wrong data file ``path``."""
    return DataUnavailable(f"{path} is damaged, truncated or not in the expected format ({why}); {fix_hint(name)}")


@contextmanager
def reading(path: str | Path, name: str | None = None):
    """Turn whatever a reader raises on a damaged file inside the ``with`` body (a corrupt gzip,
    zip or tar member, a wrong magic number or shape, undecodable text, a bad pickle) into one
    ``DataUnavailable`` line naming ``path`` and what to do; ``name`` is the dataset's manifest
    name for ``dltour data fetch NAME``. Errors that are already ``DltourError`` pass through unchanged."""
    try:
        yield
    except DltourError:
        raise
    except FileNotFoundError:
        raise DataUnavailable(f"{path} does not exist; {fix_hint(name)}") from None
    except PermissionError as e:
        raise DataUnavailable(f"cannot read {path}: {e.strerror or 'permission denied'}") from None
    except DAMAGE_ERRORS as e:
        raise damaged(path, _one_line(e), name) from None


# ---------------------------------------------------------------- a cap on what is read from an archive
#: the most bytes read from any one archive member or decompressed stream (``DLTOUR_MAX_MEMBER_BYTES``
#: overrides): a small archive that would inflate to terabytes stops with one line instead of filling memory
MAX_MEMBER_BYTES = int(os.environ.get("DLTOUR_MAX_MEMBER_BYTES", str(2 << 30)))


def check_member_size(archive: str | Path, member: str, size: int) -> None:
    """``DataUnavailable`` when an archive member declares more than ``MAX_MEMBER_BYTES`` (zip and tar
    readers never return more than the declared size, so checking it before reading is enough)."""
    cap = MAX_MEMBER_BYTES
    if size > cap:
        raise DataUnavailable(f"{archive}: member {member} holds {size:,} bytes, more than the {cap:,}-byte cap "
                              f"on one archive member; raise DLTOUR_MAX_MEMBER_BYTES if the file is trusted")


def read_capped(f, archive: str | Path, member: str) -> bytes:
    """All of a stream (a member, a decompressing reader), refusing more than ``MAX_MEMBER_BYTES``."""
    cap = MAX_MEMBER_BYTES
    data = f.read(cap + 1)
    if len(data) > cap:
        raise DataUnavailable(f"{archive}: {member} inflates to more than the {cap:,}-byte cap on one archive "
                              f"member; raise DLTOUR_MAX_MEMBER_BYTES if the file is trusted")
    return data


# ---------------------------------------------------------------- decoded caches with provenance (issue 23)
_DIGESTS: dict = {}


def source_digest(source: str | Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in sorted order);
    remembered per (path, size, mtime) within a process."""
    source = Path(source)
    st = source.stat()
    key = (str(source.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        if source.is_dir():
            h = hashlib.sha256()
            for p in sorted(source.rglob("*")):
                if p.is_file():
                    h.update(p.relative_to(source).as_posix().encode() + b"\0")
                    h.update(hashlib.sha256(p.read_bytes()).digest())
            _DIGESTS[key] = "dir:" + h.hexdigest()
        else:
            _DIGESTS[key] = file_hash(source)
    return _DIGESTS[key]


def _provenance(source: Path, decoder: str, params: dict) -> str:
    return json.dumps({"source_sha256": source_digest(source), "decoder": decoder, "params": params}, sort_keys=True)


def load_cache(cache_file: Path, source: str | Path, decoder: str, params: dict) -> dict | None:
    """The arrays of a decoded ``.npz`` cache, or None when it is missing, unreadable, or was not
    made from this very source (sha256) by this decoder version with these parameters: such a
    cache (planted, stale, half-written) is ignored and the caller rebuilds it."""
    cache_file = Path(cache_file)
    if not cache_file.is_file():
        return None
    import numpy as np

    try:
        with np.load(cache_file, allow_pickle=False) as z:
            if "_provenance" not in z.files or str(z["_provenance"]) != _provenance(Path(source), decoder, params):
                return None
            return {k: z[k] for k in z.files if k != "_provenance"}
    except Exception:  # a damaged cache is rebuilt, never trusted
        return None


def save_cache(cache_file: Path, source: str | Path, decoder: str, params: dict, **arrays) -> None:
    """Write a decoded cache that records its source's sha256, the decoder version and parameters."""
    import numpy as np

    save_npz_atomic(cache_file, _provenance=np.array(_provenance(Path(source), decoder, params)), **arrays)


def check_tar_end(t: tarfile.TarFile, archive: str | Path, name: str | None = None) -> None:
    """After iterating a tar: ``tarfile`` ends quietly at the first unreadable member header, so a
    damaged archive would read as a shorter one. Read what follows (a whole archive has only zero
    padding there; reading a compressed stream to its end also checks its CRC) and raise one line
    when anything else is left."""
    f = t.fileobj
    with reading(archive, name):
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return
            if chunk.count(0) != len(chunk):
                raise damaged(archive, "data continues after an unreadable member header", name)
