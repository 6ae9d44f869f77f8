"""The results pack: study summaries from ``full``-profile runs (at the reference's data and budget,
or at reduced scale: a smaller budget or a stand-in dataset) that travel with the project, so every
report can set those verdicts beside the demo's.

A pack is a folder with a ``pack.json``::

    {"about": "...",
     "entries": [{"study": "airline-lstm", "path": "airline-lstm/features-train", "default": true,
                  "commit": "504aacd", "study_version": 2,
                  "data": "AirPassengers, the 144 monthly totals (series sha256 fe5298...)",
                  "budget": "100 epochs at batch 1, windows 1..24, 3 seeds", "machine": "...",
                  "wall_seconds": 1085, "command": "dltour run airline-lstm --profile full ...",
                  "note": "..."}]}

``path`` is the folder (relative to ``pack.json``) that holds the entry's ``summary.json`` and
the figures it lists; ``default`` marks the entry the report includes for its study (at most one
per study); ``commit`` is the dltour commit that added the summary, ``study_version`` the study's
``version`` it was computed under. Adding a result is one entry in the list.

The project's own pack is ``docs/results/pack.json`` in the source tree (:func:`default_pack_path`);
an installed wheel has none, and the report says so in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dltour.errors import DltourError
from dltour.summary import StudySummary

REQUIRED = ("study", "path", "default", "commit", "study_version", "data", "budget", "machine", "wall_seconds",
            "command")


def default_pack_path() -> Path:
    """``docs/results/pack.json`` of the source tree this dltour was imported from."""
    return Path(__file__).resolve().parents[3] / "docs" / "results" / "pack.json"  # src/dltour/report/pack.py


def current_version(study: str) -> int | None:
    """``study``'s ``version`` in this dltour (None: no such study here)."""
    from dltour.registry import get_study

    try:
        return get_study(study).version
    except DltourError:
        return None


@dataclass(frozen=True)
class PackEntry:
    study: str
    path: str
    default: bool
    commit: str
    study_version: int
    data: str
    budget: str
    machine: str
    wall_seconds: float | None
    command: str
    note: str
    pack: "Pack"

    @property
    def folder(self) -> Path:
        return self.pack.folder / self.path

    @property
    def where(self) -> str:
        """The entry's folder as a reader finds it: ``docs/results/airline-lstm/features-train``."""
        return f"{self.pack.name.rstrip('/')}/{self.path}"

    def study_summary(self) -> StudySummary:
        """The entry's ``summary.json``, typed; a missing, unreadable or malformed one, or one of
        another study, stops the report with one line."""
        p = self.folder / "summary.json"
        try:
            doc = json.loads(p.read_text())
        except FileNotFoundError:
            raise DltourError(f"results pack {self.pack.path}: entry {self.path!r} has no summary.json "
                              f"(looked for {p})") from None
        except (OSError, json.JSONDecodeError) as e:
            raise DltourError(f"results pack {self.pack.path}: {p} cannot be read ({e})") from None
        summ = StudySummary.from_dict(doc, where=f"results pack {self.pack.path}: {p}")
        if summ.study != self.study:
            raise DltourError(f"results pack {self.pack.path}: entry {self.path!r} says study {self.study!r} "
                              f"but its summary.json is {summ.study!r}'s")
        return summ

    def summary(self) -> dict:
        """The entry's ``summary.json`` as data (:meth:`study_summary`, as the file has it)."""
        return self.study_summary().to_dict()

    def current_version(self) -> int | None:
        """The study's ``version`` in this dltour (None: no such study here)."""
        return current_version(self.study)


@dataclass(frozen=True, eq=False)
class Pack:
    path: Path  # the pack.json
    name: str  # how the report names its folder: "docs/results" or the --results DIR given
    about: str
    entries: tuple[PackEntry, ...] = ()

    @property
    def folder(self) -> Path:
        return self.path.parent

    def defaults(self) -> list[PackEntry]:
        return [e for e in self.entries if e.default]


def read_pack(where: str | Path, name: str | None = None) -> Pack:
    """The pack in folder ``where`` (or the ``pack.json`` itself). A missing or malformed manifest
    is a one-line :class:`DltourError` naming the file and what is wrong."""
    where = Path(where)
    path = where / "pack.json" if where.suffix != ".json" else where
    if not path.is_file():
        raise DltourError(f"--results {where}: no pack.json there (a results pack is a folder with a pack.json "
                          "listing its entries, like docs/results/pack.json)")
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DltourError(f"results pack {path} cannot be read: {e}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
        raise DltourError(f"results pack {path}: expected an object with a list 'entries'")
    pack = Pack(path, name if name is not None else str(path.parent), str(raw.get("about", "")))
    entries = []
    for i, e in enumerate(raw["entries"]):
        missing = [k for k in REQUIRED if not isinstance(e, dict) or k not in e]
        if missing:
            raise DltourError(f"results pack {path}: entry {i} lacks {', '.join(missing)}")
        if not isinstance(e["default"], bool) or not isinstance(e["study_version"], int):
            raise DltourError(f"results pack {path}: entry {i} ({e['path']}): 'default' must be true/false and "
                              "'study_version' an integer")
        wall = e["wall_seconds"]
        entries.append(PackEntry(str(e["study"]), str(e["path"]), e["default"], str(e["commit"]), e["study_version"],
                                 str(e["data"]), str(e["budget"]), str(e["machine"]),
                                 float(wall) if wall is not None else None, str(e["command"]), str(e.get("note", "")),
                                 pack))
    defaults = [e.study for e in entries if e.default]
    twice = sorted({s for s in defaults if defaults.count(s) > 1})
    if twice:
        raise DltourError(f"results pack {path}: more than one default entry for {', '.join(twice)}")
    object.__setattr__(pack, "entries", tuple(entries))
    return pack


def packs_for(results: list[str | Path] | tuple = (), default: bool = True) -> tuple[list[Pack], str]:
    """The packs a report includes (the project's own first, unless ``default`` is False, then each
    ``--results`` folder in order) and one line saying what was included or why not."""
    packs, notes = [], []
    if default:
        p = default_pack_path()
        if p.is_file():
            packs.append(read_pack(p, "docs/results"))
        else:
            notes.append(f"the project's results pack is not beside this installation ({p} is absent, e.g. an "
                         "installed wheel): no reference-scale results from it in this report")
    else:
        notes.append("the project's results pack left out (--no-results)")
    for r in results or ():
        packs.append(read_pack(r, str(r)))
    return packs, "; ".join(notes)
