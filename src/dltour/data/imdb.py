"""IMDB Large Movie Review Dataset (Maas et al. 2011): 25,000 train + 25,000 test reviews, half
positive (rating >= 7) and half negative (rating <= 4), as ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``.

Reading: the archive is streamed member by member (about 2 s for the 50k labelled reviews; the
``unsup`` folder is skipped), so nothing is extracted to disk. A local copy is accepted as the
``.tar.gz`` or as an extracted ``aclImdb`` folder (``--set data.path=...``).

Tokenisation (ours; the reference does not state it): lower case, ``n't`` split off (``don't`` ->
``do n't``, as GloVe's tokeniser does), then tokens are ``n't``, ``'s``-style clitics, runs of
``[a-z0-9]`` and the punctuation ``! ?``. The HTML line breaks ``<br />`` of the reviews are kept
as the token ``br`` by default (``keep_br=True``): the reference evidently kept them, since its
Table 2 lists "br" among the nearest words of "action"; ``keep_br=False`` drops them. The vocabulary is built from the
training reviews only: index 0 is padding, 1 is unknown, then words by descending frequency
(ties alphabetical) that occur at least ``min_freq`` times, capped at ``max_vocab``.
"""

from __future__ import annotations

import gzip
import json
import re
import tarfile
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from dltour.config import SplitData
from dltour.data.source import (DataUnavailable, DatasetSpec, check_member_size, check_tar_end, fetch, read_capped,
                                reading, register_dataset)

IMDB = register_dataset(DatasetSpec(
    name="imdb",
    filename="aclImdb_v1.tar.gz",
    url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
    # md5 of the published archive, as pinned by torchtext's and paddle's IMDB loaders
    known_hash="md5:7c2ac02c03563afcf9b574c7e56c153a",
    size=84125825,
    licence="research use (Maas et al. 2011, ACL)",
    description="Large Movie Review Dataset v1.0: 25k train + 25k test labelled reviews (+50k unlabelled)",
    family="imdb",
))



class ImdbData(SplitData):
    """The ``data`` section of the IMDB studies: the reviews, and the GloVe file that initialises
    their embeddings (``source`` picks both when no path is given)."""

    path: str | None = None
    """The reviews: ``aclImdb_v1.tar.gz`` (any tar compression), an extracted ``aclImdb`` folder, or a
    ``.jsonl.gz`` like the demo pack's (skips cache and download)."""
    source: Literal["embedded", "download"] = "download"
    """Without a path: ``embedded`` is the demo pack's reviews and GloVe 50d rows (offline),
    ``download`` the canonical IMDB archive and ``glove.6B.zip`` (the cache, else a download)."""
    train_subset: int | None = Field(None, ge=20)
    """Use only N training reviews, a random draw (seed 0) made before the validation split (None: all)."""
    test_subset: int | None = Field(None, ge=10)
    """Use only N test reviews, a random draw (seed 1) (None: all)."""
    glove_path: str | None = None
    """The GloVe file: ``glove.6B.zip`` or a ``glove.*.<D>d.txt(.gz)`` (None: by ``source``)."""


PAD, UNK = 0, 1
DEMO_FILE = "imdb_demo.jsonl.gz"
DEMO_TRAIN, DEMO_TEST = 3000, 2000

DEMO_NOTICE = f"""`{DEMO_FILE}`: {DEMO_TRAIN} training and {DEMO_TEST} test reviews of the Large Movie Review Dataset
(Maas, Daly, Pham, Huang, Ng & Potts, ACL 2011; https://ai.stanford.edu/~amaas/data/sentiment/), drawn at random
(seed 0), balanced between positive and negative, one JSON object per line (`split`, `label`, `text`). Provided by
the authors for research use; cite the paper."""

_BR = re.compile(r"<br\s*/?>", re.I)
_TOKEN = re.compile(r"n't|'[a-z]+|[a-z0-9]+|[!?]")


def tokenize(text: str, keep_br: bool = True) -> list[str]:
    """``"I didn't like it!<br />"`` -> ``['i', 'did', "n't", 'like', 'it', '!', 'br']``
    (``keep_br=False``: without the final ``'br'``)."""
    text = _BR.sub(" br " if keep_br else " ", text.lower()).replace("n't", " n't")
    return _TOKEN.findall(text)


@dataclass
class Reviews:
    texts: list[str]
    labels: np.ndarray  # (N,) int64, 1 = positive


def _add(out: dict, split: str, label: int, text: str) -> None:
    out[split][0].append(text)
    out[split][1].append(label)


def read_archive(path: str | Path) -> dict[str, Reviews]:
    """{'train': Reviews, 'test': Reviews} from ``aclImdb_v1.tar.gz`` or an extracted folder (either
    the ``aclImdb`` folder or the one holding it), or from a demo ``.jsonl.gz``."""
    path = Path(path)
    out: dict = {"train": ([], []), "test": ([], [])}
    pat = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/\d+_\d+\.txt$")
    if path.is_dir():
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for split in ("train", "test"):
            for lab in ("neg", "pos"):
                folder = root / split / lab
                if not folder.is_dir():
                    raise DataUnavailable(f"{path} is not an extracted aclImdb folder: {folder} is missing")
                for f in sorted(folder.glob("*.txt")):
                    _add(out, split, int(lab == "pos"), f.read_text(encoding="utf-8", errors="replace"))
    elif path.name.endswith(".jsonl.gz"):
        with reading(path, IMDB.name), gzip.open(path, "rb") as f:
            raw = read_capped(f, path, "the decompressed reviews")
            for line in raw.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                d = json.loads(line)
                if d["split"] not in out:
                    raise ValueError(f"split {d['split']!r} is neither train nor test")
                _add(out, d["split"], int(d["label"]), str(d["text"]))
    else:
        if not tarfile.is_tarfile(path):
            raise DataUnavailable(f"{path} is not a tar archive: give IMDB as aclImdb_v1.tar.gz (any tar "
                                  f"compression), an extracted aclImdb folder, or a .jsonl.gz like the demo pack's")
        with reading(path, IMDB.name), tarfile.open(path, "r:*") as t:
            for m in t:
                mm = pat.search(m.name)
                if mm and m.isfile():
                    check_member_size(path, m.name, m.size)
                    data = t.extractfile(m).read().decode("utf-8", errors="replace")
                    _add(out, mm.group(1), int(mm.group(2) == "pos"), data)
            check_tar_end(t, path, IMDB.name)
    res = {k: Reviews(v[0], np.asarray(v[1], dtype=np.int64)) for k, v in out.items()}
    if not res["train"].texts or not res["test"].texts:
        raise DataUnavailable(f"{path} holds no aclImdb/{{train,test}}/{{pos,neg}}/*.txt reviews "
                              f"(train {len(res['train'].texts)}, test {len(res['test'].texts)})")
    return res


def demo_path() -> Path:
    return Path(str(resources.files("dltour") / "demo_data" / DEMO_FILE))


def load(path: str | Path | None = None, source: str = "embedded") -> dict[str, Reviews]:
    """Reviews from an explicit path, else the embedded demo subset (``source="embedded"``), else
    the cache/download of the canonical archive (``source="download"``)."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataUnavailable(f"data.path {str(p)!r} does not exist (IMDB: aclImdb_v1.tar.gz, an extracted "
                                  f"aclImdb folder, or a .jsonl.gz)")
        return read_archive(p)
    if source == "embedded":
        return read_archive(demo_path())
    return read_archive(fetch(IMDB))


# ---------------------------------------------------------------- vocabulary and encoding
class Vocab:
    """Word <-> index; 0 is padding, 1 is unknown."""

    def __init__(self, words: list[str]):
        self.itos = ["<pad>", "<unk>"] + list(words)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.stoi.get(t, UNK) for t in tokens]

    @classmethod
    def build(cls, token_lists, max_vocab: int, min_freq: int = 1) -> "Vocab":
        if max_vocab < 1:
            raise ValueError("max_vocab must be >= 1")
        c = Counter()
        for toks in token_lists:
            c.update(toks)
        ranked = sorted((w for w, n in c.items() if n >= min_freq), key=lambda w: (-c[w], w))
        return cls(ranked[:max_vocab])


def encode_padded(token_lists: list[list[str]], vocab: Vocab, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, max_len) int64 ids, right-padded with 0, keeping each review's *last* ``max_len`` tokens
    (Keras ``pad_sequences(truncating='pre')``; reviews tend to end with the verdict), and (N,)
    lengths (at least 1: an empty review becomes one unknown token)."""
    ids = np.zeros((len(token_lists), max_len), dtype=np.int64)
    lens = np.zeros(len(token_lists), dtype=np.int64)
    for i, toks in enumerate(token_lists):
        seq = vocab.encode(toks)[-max_len:] or [UNK]
        ids[i, :len(seq)] = seq
        lens[i] = len(seq)
    return ids, lens


def build_demo(shared_data: Path, demo_dir: Path) -> list[Path]:
    """A balanced random subset (seed 0): DEMO_TRAIN training and DEMO_TEST test reviews."""
    data = read_archive(shared_data / "imdb" / "aclImdb_v1.tar.gz")
    rng = np.random.default_rng(0)
    dst = demo_dir / DEMO_FILE
    lines = []
    for split, n in (("train", DEMO_TRAIN), ("test", DEMO_TEST)):
        r = data[split]
        for lab in (0, 1):
            idx = np.flatnonzero(r.labels == lab)
            for i in sorted(rng.choice(idx, n // 2, replace=False)):
                lines.append(json.dumps({"split": split, "label": lab, "text": r.texts[i]}))
    with gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))
    return [dst]
