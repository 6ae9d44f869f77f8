"""The report's data section: the canonical datasets (source URL, pinned checksum, licence) from the
dataset registry, and the embedded demo pack's files (size, sha256, their sources and licences from
the pack's ``NOTICE.md``)."""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo_data"


def canonical() -> list[dict]:
    """One row per registered dataset: name, family, URL, checksum (or "not pinned"), licence."""
    from dltour.data import MANIFEST

    return [{"name": s.name, "family": s.family, "url": s.url, "checksum": s.known_hash or "not pinned",
             "licence": s.licence, "description": s.description} for s in MANIFEST.values()]


def demo_files(demo_dir: Path = DEMO_DIR) -> list[dict]:
    """The demo pack's files with their size and sha256 (computed now, from the installed pack)."""
    rows = []
    for p in sorted(demo_dir.glob("*")):
        if p.is_file() and p.name != "NOTICE.md":
            rows.append({"file": p.name, "bytes": p.stat().st_size,
                         "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
    return rows


def notice_sections(demo_dir: Path = DEMO_DIR) -> list[tuple[str, str]]:
    """``NOTICE.md`` as (heading, text) pairs, one per family section."""
    p = demo_dir / "NOTICE.md"
    if not p.is_file():
        return []
    out: list[tuple[str, str]] = []
    for block in re.split(r"^## ", p.read_text(), flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        out.append((head.strip(), " ".join(body.split())))
    return out


def inline_html(text: str) -> str:
    """Escape ``text``, then render its Markdown code spans, italics and bare URLs."""
    t = html.escape(text)  # quotes too: a URL below becomes an attribute value
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<i>\1</i>", t)
    return re.sub(r"(https?://[^\s,;)]+[^\s,;).])", r'<a href="\1">\1</a>', t)
