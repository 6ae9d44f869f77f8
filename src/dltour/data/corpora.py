"""Character-level text corpora for ``char-textgen``.

- ``got``: the Game of Thrones scripts, the reference's corpus, read from the widely mirrored
  ``Game_of_Thrones_Script.csv`` (Kaggle ``albenft/game-of-thrones-script-all-seasons``; columns
  ``Release Date, Season, Episode, Episode Title, Name, Sentence``), rendered one utterance a line
  as ``NAME: Sentence``. Kaggle needs a login, so there is no download: give the file by path
  (``--set data.path=FILE``), by URL (``--set data.path=https://...``, fetched once into the
  cache, checksum not pinned) or put it in the cache folder;
- ``text``: any plain UTF-8 text file by path;
- ``tinyshakespeare``: Tiny Shakespeare (Karpathy's char-rnn, 1,115,394 characters, public-domain
  text), embedded gzipped in the demo pack and downloadable from its canonical URL.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Literal

from dltour.config import DataConfig
from dltour.data.source import (DataUnavailable, DatasetSpec, cache_dir, fetch, read_capped, reading,
                                register_dataset)

TINY_SHAKESPEARE = register_dataset(DatasetSpec(
    name="tinyshakespeare",
    filename="tinyshakespeare.txt",
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    known_hash="sha256:86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    size=1115394,
    licence="public-domain text (char-rnn repository, MIT)",
    description="Tiny Shakespeare, 1,115,394 characters, 65 distinct",
    family="corpora",
))

GOT = register_dataset(DatasetSpec(
    name="got-scripts",
    filename="Game_of_Thrones_Script.csv",
    url="https://www.kaggle.com/datasets/albenft/game-of-thrones-script-all-seasons",
    known_hash=None,
    size=None,
    licence="see the Kaggle dataset page (transcripts of HBO's Game of Thrones)",
    description="Game of Thrones scripts, seasons 1-8, one utterance a row (Name, Sentence, ...)",
    family="corpora",
    downloadable=False,  # Kaggle needs a login: `dltour data fetch got-scripts --from FILE` caches a copy
))

CORPORA = ("tinyshakespeare", "got", "text")
DEMO_FILE = "tinyshakespeare.txt.gz"
DEMO_NOTICE = f"""`{DEMO_FILE}`: Tiny Shakespeare, the whole 1,115,394-character file of Karpathy's char-rnn
(https://github.com/karpathy/char-rnn, `data/tinyshakespeare/input.txt`), gzipped. Shakespeare's text is in the
public domain."""

GOT_COLUMNS = ("Name", "Sentence")


class CorpusData(DataConfig):
    """The ``data`` section of the character-level studies: which corpus, and where it comes from."""

    corpus: Literal["got", "tinyshakespeare", "text"] = "got"
    """Training text: ``got`` the Game of Thrones scripts CSV (Kaggle needs a login: give it by ``path``,
    a URL, or the cache), ``tinyshakespeare`` Tiny Shakespeare, or ``text`` any UTF-8 text file (``path``)."""
    path: str | None = None
    """The corpus file (the scripts CSV, a URL to it, or a text file; skips cache and download)."""
    source: Literal["embedded", "download"] = "download"
    """Tiny Shakespeare without a ``path``: ``embedded`` the demo pack's copy (offline), ``download`` the
    canonical URL (the cache, else a download). The other corpora ignore it."""


def render_got_csv(path: Path) -> str:
    """``NAME: Sentence`` lines from the scripts CSV (rows with an empty sentence are skipped)."""
    try:
        with reading(path, GOT.name), open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv.DictReader(f)
            cols = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in GOT_COLUMNS if c not in cols]
            if missing:
                raise DataUnavailable(f"{path} is not Game_of_Thrones_Script.csv: columns {missing} missing "
                                      f"(found {cols[:8]})")
            lines = []
            for row in reader:
                row = {k.strip(): (v or "") for k, v in row.items() if k}
                sent = " ".join(row["Sentence"].split())
                if sent:
                    lines.append(f"{row['Name'].strip().upper()}: {sent}")
    except (OSError, csv.Error) as e:
        raise DataUnavailable(f"cannot read {path}: {e}") from None
    if not lines:
        raise DataUnavailable(f"{path} holds no utterances")
    return "\n".join(lines) + "\n"


GOT_ALL_COLUMNS = ("Release Date", "Season", "Episode", "Episode Title", "Name", "Sentence")
#: data rows of the Kaggle file (as pandas counts them: a quoted sentence over several lines is one
#: row), as recorded by a public curation of this very file (tabstar's dataset list: "Examples: 23911")
GOT_ROWS = 23_911
#: sha256 of the six columns' cells (``got_fingerprint``), independent of the index column, quoting and
#: line endings; None until a copy of the Kaggle file has been checked (it is not mirrored here), so
#: only the header, the seasons and the row count are checked
GOT_CONTENT_SHA256: str | None = None
#: names pandas or a spreadsheet give the unnamed leading index column of the Kaggle file
_INDEX_NAMES = {"", "unnamed: 0", "index", "id"}


def _got_columns(fieldnames) -> tuple[tuple[str, ...], bool]:
    """(the six data columns' names, whether a leading index column is present)."""
    cols = tuple(c.strip() for c in (fieldnames or []))
    if cols and cols[0].lower() in _INDEX_NAMES and cols[1:1 + len(GOT_ALL_COLUMNS)] == GOT_ALL_COLUMNS:
        return cols[1:], True
    return cols, False


def got_fingerprint(path: str | Path) -> dict:
    """What identifies a scripts CSV: ``columns`` (the data columns), ``index_column`` (the Kaggle
    file's unnamed leading column), ``rows`` (data rows), ``seasons`` (the distinct ``Season``
    values) and ``content_sha256`` (over the six named columns' cells, row by row, so the index
    column, quoting and line endings do not change it). A damaged file is one ``DataUnavailable`` line."""
    p = Path(path)
    h = hashlib.sha256()
    rows, seasons = 0, set()
    with reading(p, GOT.name), open(p, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        cols, index = _got_columns(header)
        off = 1 if index else 0
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            cells = (row[off:off + len(GOT_ALL_COLUMNS)] + [""] * len(GOT_ALL_COLUMNS))[:len(GOT_ALL_COLUMNS)]
            h.update(("\x1f".join(cells) + "\x1e").encode())
            rows += 1
            if cols[:len(GOT_ALL_COLUMNS)] == GOT_ALL_COLUMNS:
                seasons.add(" ".join(cells[1].split()))
    return {"columns": cols, "index_column": index, "rows": rows, "seasons": seasons,
            "content_sha256": h.hexdigest()}


def got_identity(path: str | None) -> tuple[bool, str]:
    """Whether ``path`` (or the cached copy) is the reference's corpus, the Game of Thrones scripts
    of all eight seasons as Kaggle serves them: the header (with or without the leading unnamed
    index column), every season from 1 to 8, the row count (``GOT_ROWS``) and, once pinned, the
    content hash (``GOT_CONTENT_SHA256``). (ok, why not)."""
    ok, why, _ = _got_check(path)
    return ok, why


def got_label(path: str | None) -> str:
    """What ``got_identity`` recognised, in words, for a study's summary."""
    ok, why, fp = _got_check(path)
    if not ok:
        return f"not the reference's scripts ({why})"
    return (f"the Game of Thrones scripts ({fp['rows']:,} rows, {'with' if fp['index_column'] else 'without'} the "
            f"index column, content sha256 {fp['content_sha256'][:12]}..."
            + (", pinned)" if GOT_CONTENT_SHA256 else ", not pinned)"))


def _got_check(path: str | None) -> tuple[bool, str, dict | None]:
    try:
        p = _got_path(path)
        fp = got_fingerprint(p)
    except (DataUnavailable, OSError, csv.Error) as e:
        return False, f"the scripts cannot be checked: {e}", None
    if fp["columns"][:len(GOT_ALL_COLUMNS)] != GOT_ALL_COLUMNS:
        return False, (f"{p.name} does not have the scripts' columns {', '.join(GOT_ALL_COLUMNS)} "
                       f"(found {', '.join(fp['columns'][:8]) or 'none'})"), fp
    missing = [k for k in range(1, 9) if f"Season {k}" not in fp["seasons"]]
    if missing:
        return False, f"{p.name} lacks season(s) {', '.join(map(str, missing))} of the scripts", fp
    if GOT_ROWS is not None and fp["rows"] != GOT_ROWS:
        return False, f"{p.name} has {fp['rows']:,} rows, not the {GOT_ROWS:,} of the Kaggle scripts file", fp
    if GOT_CONTENT_SHA256 is not None and fp["content_sha256"] != GOT_CONTENT_SHA256:
        return False, (f"{p.name} has the scripts' layout but other content (sha256 {fp['content_sha256'][:12]}..., "
                       f"not {GOT_CONTENT_SHA256[:12]}...)"), fp
    return True, "", fp


def read_text(path: Path) -> str:
    """A UTF-8 text file (gzipped or not); a damaged, truncated or undecodable file is one line."""
    name = TINY_SHAKESPEARE.name if "shakespeare" in path.name.lower() else None
    with reading(path, name):
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = read_capped(f, path, "the decompressed text")
        else:
            with open(path, "rb") as f:
                raw = read_capped(f, path, "the file")
        return raw.decode("utf-8")


def demo_path() -> Path:
    return Path(str(resources.files("dltour") / "demo_data" / DEMO_FILE))


def url_spec(url: str) -> DatasetSpec:
    """The cache entry for the scripts CSV given by URL (``--set data.path=https://...``): https only;
    cached under a name derived from the URL (never the canonical slot, so another URL or none never
    reads it); pinned when the URL ends in ``#sha256=<64 hex digits>`` (the download, and every later
    use of the cached copy, must match it)."""
    base, _, frag = url.partition("#")
    if not base.lower().startswith("https://"):
        raise DataUnavailable(f"refusing to download {base} over a plain connection: give an https:// URL, or download "
                              f"the file yourself and pass --set data.path=FILE")
    pin = None
    if frag:
        m = re.fullmatch(r"sha256=([0-9a-fA-F]{64})", frag)
        if m is None:
            raise DataUnavailable(f"URL fragment {frag!r}: the only one understood is #sha256=<64 hex digits> (the "
                                  f"file's pinned checksum)")
        pin = f"sha256:{m.group(1).lower()}"
    key = hashlib.sha256(base.encode()).hexdigest()[:16]
    return DatasetSpec(f"{GOT.name}-url-{key}", f"Game_of_Thrones_Script-url-{key}.csv", base, pin, None, GOT.licence,
                       GOT.description, GOT.family)


def _got_path(path: str | None) -> Path:
    if path and re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        return fetch(url_spec(path))
    if path:
        return _existing(path)
    cached = cache_dir() / GOT.filename
    if cached.exists():
        return cached
    raise DataUnavailable(f"{GOT.filename} (Game of Thrones scripts) is not available: download it from {GOT.url} "
                          f"(Kaggle login needed) and pass --set data.path=FILE, or put it in {cache_dir()}/, or "
                          f"use --set data.corpus=tinyshakespeare")


def load(corpus: str, path: str | None = None, source: str = "embedded") -> str:
    """The corpus as one string."""
    if corpus == "got":
        return render_got_csv(_got_path(path))
    if corpus == "text":
        if not path:
            raise DataUnavailable("corpus 'text' needs a file: --set data.path=FILE")
        return read_text(_existing(path))
    if corpus == "tinyshakespeare":
        if path:
            return read_text(_existing(path))
        return read_text(demo_path() if source == "embedded" else fetch(TINY_SHAKESPEARE))
    raise DataUnavailable(f"unknown corpus {corpus!r}: choose one of {', '.join(CORPORA)}")


def _existing(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataUnavailable(f"data.path {str(p)!r} does not exist" if not p.exists()
                              else f"data.path {str(p)!r} is a folder, not a text file")
    return p


def build_demo(shared_data: Path, demo_dir: Path) -> list[Path]:
    src = shared_data / "text" / "tinyshakespeare.txt"
    dst = demo_dir / DEMO_FILE
    with open(src, "rb") as fi, gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as fo:
        shutil.copyfileobj(fi, fo)
    return [dst]

