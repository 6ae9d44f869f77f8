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
import shutil
from importlib import resources
from pathlib import Path
from typing import Literal

from dltour.config import DataConfig
from dltour.data.source import DataUnavailable, DatasetSpec, cache_dir, fetch, register_dataset

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
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
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


def got_identity(path: str | None) -> tuple[bool, str]:
    """Whether ``path`` (or the cached copy) is the reference's corpus, the Game of Thrones scripts
    of all eight seasons: no checksum is pinned (the Kaggle file is not mirrored), so it is
    identified by its columns and by holding every season from 1 to 8. (ok, why not)."""
    try:
        p = _got_path(path)
        with open(p, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f)
            cols = tuple(c.strip() for c in (reader.fieldnames or []))
            if cols[:len(GOT_ALL_COLUMNS)] != GOT_ALL_COLUMNS:
                return False, f"{p.name} does not have the scripts' columns {', '.join(GOT_ALL_COLUMNS)}"
            seasons = {" ".join((row.get("Season") or "").split()) for row in reader}
    except (DataUnavailable, OSError, csv.Error) as e:
        return False, f"the scripts cannot be checked: {e}"
    missing = [k for k in range(1, 9) if f"Season {k}" not in seasons]
    if missing:
        return False, f"{p.name} lacks season(s) {', '.join(map(str, missing))} of the scripts"
    return True, ""


def read_text(path: Path) -> str:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return f.read()
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DataUnavailable(f"cannot read text file {path}: {e}") from None


def demo_path() -> Path:
    return Path(str(resources.files("dltour") / "demo_data" / DEMO_FILE))


def _got_path(path: str | None) -> Path:
    if path and path.startswith(("http://", "https://")):
        spec = DatasetSpec(GOT.name, GOT.filename, path, None, None, GOT.licence, GOT.description, GOT.family)
        return fetch(spec)
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

