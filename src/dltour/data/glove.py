"""GloVe word vectors (Pennington, Socher & Manning 2014): ``glove.6B.zip`` (Wikipedia 2014 +
Gigaword 5, 400k lower-cased words) holds ``glove.6B.{50,100,200,300}d.txt``, one ``word v1 .. vD``
per line.

``load_vectors`` reads the member for the requested dimension straight out of the zip (nothing is
extracted), or a ``.txt`` / ``.txt.gz`` file in the same format, and keeps only the rows of the
words asked for, so the 300d file (1 GB of text) never sits in memory whole. A dimension that the
file does not hold is a ``DataUnavailable`` naming the dimensions it does hold.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from dltour.data import source
from dltour.data.source import DataUnavailable, DatasetSpec, check_member_size, fetch, reading, register_dataset

GLOVE_6B = register_dataset(DatasetSpec(
    name="glove-6b",
    filename="glove.6B.zip",
    url="https://nlp.stanford.edu/data/glove.6B.zip",
    # md5 of the published zip as pinned by public download scripts; not re-verified here (the
    # mirror on the development machines holds only the 50d member, so its hash differs)
    known_hash="md5:056ea991adb4740ac6bf1b6d9b50408b",
    size=862182613,
    licence="PDDL 1.0",
    description="GloVe 6B word vectors, 400k words, 50/100/200/300 dimensions",
    family="imdb",
))

DEMO_FILE = "glove_demo.50d.txt.gz"
DEMO_NOTICE = f"""`{DEMO_FILE}`: the rows of GloVe 6B 50d (Pennington, Socher & Manning 2014,
https://nlp.stanford.edu/projects/glove/, PDDL 1.0) for the words that occur at least twice in the embedded IMDB
training reviews (plus "action" and "actions"), values rounded to 4 decimals, in GloVe's text format."""

_MEMBER = re.compile(r"(?:^|/)[^/]*?(\d+)d\.txt$")


def zip_dimensions(path: str | Path) -> dict[int, str]:
    """{dimension: member name} of the ``*.<D>d.txt`` members of a GloVe zip."""
    with reading(path, GLOVE_6B.name), zipfile.ZipFile(path) as z:
        return {int(m.group(1)): n for n in z.namelist() if (m := _MEMBER.search(n))}


def _open_text(path: Path, dim: int, stack: contextlib.ExitStack):
    """A text stream of the GloVe rows of dimension ``dim`` in ``path`` (closed with ``stack``)."""
    if zipfile.is_zipfile(path):
        dims = zip_dimensions(path)
        if dim not in dims:
            raise DataUnavailable(f"{path.name} has no {dim}-dimensional vectors; dimensions present: "
                                  f"{', '.join(str(d) for d in sorted(dims)) or 'none'} (set glove_dim to one of them)")
        z = stack.enter_context(zipfile.ZipFile(path))
        check_member_size(path, dims[dim], z.getinfo(dims[dim]).file_size)  # zip readers stop at the declared size
        return io.TextIOWrapper(z.open(dims[dim]), encoding="utf-8", errors="replace")
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def load_vectors(path: str | Path, dim: int, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(len(words), dim) float32 vectors and a (len(words),) bool mask of the words found; rows of
    words not in the file are zero. Only the requested rows are parsed and kept."""
    path = Path(path)
    if not path.exists():
        raise DataUnavailable(f"GloVe file {path} does not exist")
    want = {w: i for i, w in enumerate(words)}
    vecs = np.zeros((len(words), dim), dtype=np.float32)
    found = np.zeros(len(words), dtype=bool)
    cap = source.MAX_MEMBER_BYTES
    with reading(path, GLOVE_6B.name), contextlib.ExitStack() as stack, _open_text(path, dim, stack) as f:
        read = 0
        for n, line in enumerate(f):
            read += len(line)
            if read > cap:  # a .gz that inflates without end
                raise DataUnavailable(f"{path}: the vectors run past the {cap:,}-byte cap on one archive member; "
                                      f"raise DLTOUR_MAX_MEMBER_BYTES if the file is trusted")
            word, _, rest = line.rstrip("\n").partition(" ")
            if n == 0:
                d = len(rest.split(" "))
                if d != dim:
                    raise DataUnavailable(f"{path.name} holds {d}-dimensional vectors, not {dim} "
                                          f"(set glove_dim={d} or use the matching file)")
            i = want.get(word)
            if i is not None and not found[i]:
                v = np.array(rest.split(" "), dtype=np.float32)
                if v.shape != (dim,):
                    raise DataUnavailable(f"{path}, line {n + 1}: {v.shape[0]} numbers for {word!r}, not {dim} (a "
                                          f"damaged or mixed file); check it with `dltour data verify` and get it "
                                          f"again with `dltour data fetch {GLOVE_6B.name}`")
                vecs[i] = v
                found[i] = True
    return vecs, found


def demo_path() -> Path:
    return Path(str(resources.files("dltour") / "demo_data" / DEMO_FILE))


def resolve(path: str | Path | None, source: str = "embedded") -> Path:
    """The GloVe file: explicit path, else the embedded demo rows, else cache/download."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataUnavailable(f"data.glove_path {str(p)!r} does not exist (GloVe: glove.6B.zip or a "
                                  f"glove.*.<D>d.txt(.gz))")
        return p
    if source == "embedded":
        return demo_path()
    return fetch(GLOVE_6B)


def build_demo(shared_data: Path, demo_dir: Path) -> list[Path]:
    from collections import Counter

    from dltour.data import imdb

    if not (demo_dir / imdb.DEMO_FILE).exists():  # modules are built in name order: glove before imdb
        imdb.build_demo(shared_data, demo_dir)
    reviews = imdb.read_archive(demo_dir / imdb.DEMO_FILE)["train"]
    c = Counter()
    for t in reviews.texts:
        c.update(imdb.tokenize(t))
    words = sorted(w for w, n in c.items() if n >= 2) + ["action", "actions"]
    words = list(dict.fromkeys(words))
    vecs, found = load_vectors(shared_data / "glove" / "glove.6B.zip", 50, words)
    dst = demo_dir / DEMO_FILE
    rows = [w + " " + " ".join(f"{v:.4f}" for v in vecs[i]) for i, w in enumerate(words) if found[i]]
    with gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as f:
        f.write(("\n".join(rows) + "\n").encode("utf-8"))
    return [dst]
