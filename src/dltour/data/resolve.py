"""Resolve a study's data once, before any run starts (issue 22, item 2).

``needs(data)`` says which dataset files a study's ``data`` section reads; ``resolve_for(cfg)``
makes each of them local and verified (explicit path, else cache, else download, then checksum)
and returns ``{dataset name: local path}``, or raises one ``DataUnavailable`` line saying what is
missing, from where it would come, and how to supply it (``dltour data fetch NAME --from FILE`` or
``--set data.path=...``). ``resolve_studies`` does this for several studies with each dataset
resolved once, and returns per study either its paths or the one-line reason it must be skipped,
so the driver can run the others.

Nothing here decodes data: workers still load through the family modules, which find the files
this resolution put in the cache (or the explicit paths) without downloading again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from dltour.data import airline, corpora, glove, images, imdb, mnist, tinyimagenet
from dltour.data.source import DataUnavailable, DatasetSpec, fetch


@dataclass(frozen=True)
class Need:
    """One file or folder a data config reads: the dataset's manifest ``name``, its ``spec`` (None
    for a user's own file or the embedded demo pack), and the explicit ``path`` or demo file."""

    name: str
    spec: DatasetSpec | None = None
    path: str | None = None
    setting: str = "data.path"  # the --set key that supplies it

    @property
    def key(self) -> tuple:
        return (self.name, self.spec.url if self.spec else None, self.path)


def needs(data) -> list[Need]:
    """The dataset files a study's ``data`` section (a ``DataConfig`` of one of the families) reads."""
    path, source = getattr(data, "path", None), getattr(data, "source", "download")
    if isinstance(data, mnist.MnistData):
        if path is not None:
            return [Need("mnist", None, path)]
        if source == "embedded":
            return [Need("mnist-demo", None, str(mnist.demo_path()))]
        return [Need(spec.name, spec) for spec in mnist.SPECS.values()]
    if isinstance(data, corpora.CorpusData):
        if data.corpus == "got":
            if path and "://" in path:
                spec = corpora.url_spec(path)  # https only, one line otherwise
                return [Need(corpora.GOT.name, spec)]
            return [Need(corpora.GOT.name, None if path else corpora.GOT, path)]
        if data.corpus == "text":
            if not path:
                raise DataUnavailable("corpus 'text' needs a file: --set data.path=FILE")
            return [Need("text", None, path)]
        if path:
            return [Need(corpora.TINY_SHAKESPEARE.name, None, path)]
        if source == "embedded":
            return [Need("tinyshakespeare-demo", None, str(corpora.demo_path()))]
        return [Need(corpora.TINY_SHAKESPEARE.name, corpora.TINY_SHAKESPEARE)]
    if isinstance(data, imdb.ImdbData):
        out = ([Need(imdb.IMDB.name, None, path)] if path is not None
               else [Need("imdb-demo", None, str(imdb.demo_path()))] if source == "embedded"
               else [Need(imdb.IMDB.name, imdb.IMDB)])
        gp = data.glove_path
        out.append(Need(glove.GLOVE_6B.name, None, gp, "data.glove_path") if gp is not None
                   else Need("glove-demo", None, str(glove.demo_path()), "data.glove_path") if source == "embedded"
                   else Need(glove.GLOVE_6B.name, glove.GLOVE_6B, None, "data.glove_path"))
        return out
    if isinstance(data, images.ImageData):
        if path is not None:
            return [Need("images", None, path)]
        if source == "embedded":
            return [Need("cifar10-demo", None, str(images.demo_path()))]
        return [Need(images.CIFAR100.name, images.CIFAR100)]
    if isinstance(data, tinyimagenet.ImageClassData):
        if path is not None:
            return [Need(tinyimagenet.TINY_IMAGENET.name, None, path)]
        if source == "embedded":
            return [Need("cifar10-demo", None, str(images.demo_path()))]
        return [Need(tinyimagenet.TINY_IMAGENET.name, tinyimagenet.TINY_IMAGENET)]
    if isinstance(data, airline.AirlineData):
        if path is not None:
            return [Need(airline.AIRLINE.name, None, path)]
        if source == "embedded":
            return [Need("airline-demo", None, str(airline.demo_path()))]
        return [Need(airline.AIRLINE.name, airline.AIRLINE)]
    return []  # a study without a data section (e.g. an environment it simulates)


def _how_to_supply(need: Need) -> str:
    if need.spec is not None and need.spec.name in _manifest_names():
        return f"supply it with `dltour data fetch {need.spec.name} --from FILE` or --set {need.setting}=FILE"
    return f"pass an existing file with --set {need.setting}=FILE"


def _manifest_names() -> set[str]:
    from dltour.data.source import MANIFEST

    return set(MANIFEST)


def resolve_need(need: Need, fetcher: Callable = fetch) -> Path:
    """The local, verified path of one need; one ``DataUnavailable`` line when it cannot be had."""
    try:
        if need.spec is None:
            p = Path(need.path).expanduser()
            if not p.exists():
                demo = need.name.endswith("-demo")
                raise DataUnavailable(f"{need.name}: {p} does not exist" + (
                    "; rebuild the demo pack with `python scripts/build_demo_pack.py`" if demo
                    else f"; {_how_to_supply(need)}"))
            return p
        return Path(fetcher(need.spec, need.path))
    except DataUnavailable as e:
        msg = str(e)
        if "dltour data fetch" not in msg and "--set" not in msg and "demo pack" not in msg:
            where = f" (from {need.spec.url})" if need.spec is not None else ""
            msg = f"{need.name}{where}: {msg}; {_how_to_supply(need)}"
        raise DataUnavailable(msg) from None


def resolve_for(cfg, fetcher: Callable = fetch) -> dict[str, Path]:
    """``{dataset name: local verified path}`` for a study config (anything with a ``data`` section)
    or a ``DataConfig`` itself; raises one ``DataUnavailable`` line for the first dataset that
    cannot be had."""
    data = getattr(cfg, "data", cfg)
    return {n.name: resolve_need(n, fetcher) for n in needs(data)}


def resolve_studies(items: Iterable[tuple[str, object]], fetcher: Callable = fetch
                    ) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    """For ``(study name, config)`` pairs: (study -> its resolved paths, study -> the one-line reason
    it cannot run). Each distinct dataset (name, URL, explicit path) is resolved once, however many
    studies need it; a dataset that cannot be had skips only the studies that need it."""
    done: dict[tuple, Path | DataUnavailable] = {}
    ok: dict[str, dict[str, Path]] = {}
    skipped: dict[str, str] = {}
    for study, cfg in items:
        try:
            wanted = needs(getattr(cfg, "data", cfg))
        except DataUnavailable as e:
            skipped[study] = f"{study}: {e}"
            continue
        paths: dict[str, Path] = {}
        for n in wanted:
            if n.key not in done:
                try:
                    done[n.key] = resolve_need(n, fetcher)
                except DataUnavailable as e:
                    done[n.key] = e
            got = done[n.key]
            if isinstance(got, DataUnavailable):
                skipped[study] = f"{study} skipped: {got}"
                break
            paths[n.name] = got
        else:
            ok[study] = paths
    return ok, skipped
