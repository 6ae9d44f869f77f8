"""The study registry: ``@register`` a ``Study`` subclass and look it up by name or task id.

A study is one file under ``dltour/experiments/``. It declares

- ``name``, ``task`` (``"T2.1"``), ``title`` (one line of what it compares);
- ``Config``: a pydantic model (subclass of ``StudyConfig``) and ``profiles``: dotted overrides
  for ``smoke``, ``demo``, ``full``;
- ``reference``: the reference report's numbers this study can be set beside (``Ref``);
- ``variants(cfg)``: the names of the cells it compares;
- ``run(cfg, variant, seed, ctx) -> dict[str, float]``: one cell (the metrics);
- ``summarize(cfg, results, out_dir) -> Summary``: figures, tables and checked findings, built
  from the saved artifacts only;
- optionally ``build_model(cfg, variant)`` (for ``dltour describe``), ``bench(cfg, ctx)`` and
  ``comparable(cfg)`` (whether this config's data matches the reference's).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dltour import DltourError
from dltour.config import StudyConfig


@dataclass
class Ref:
    """One number of the reference report."""

    source: str  # "Table 7", "Figure 13"
    variant: str
    metric: str
    value: float
    note: str = ""


@dataclass
class Finding:
    """A claim of the reference report checked over our results."""

    id: str
    claim: str
    holds: bool | None  # None: cannot be checked with this profile's results
    evidence: str

    def as_dict(self) -> dict:
        return {"id": self.id, "claim": self.claim, "holds": self.holds, "evidence": self.evidence}


@dataclass
class RunResult:
    """A finished run as the summary sees it: read back from its folder."""

    variant: str
    seed: int
    run_id: str
    run_dir: Path
    metrics: dict[str, float]

    def history(self) -> list[dict[str, float]]:
        import csv

        path = self.run_dir / "history.csv"
        if not path.exists():
            return []
        with open(path, newline="") as f:
            return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]

    def arrays(self, name: str = "arrays") -> dict[str, Any]:
        import numpy as np

        with np.load(self.run_dir / f"{name}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def json(self, name: str) -> Any:
        import json

        return json.loads((self.run_dir / f"{name}.json").read_text())


def by_variant(results: list[RunResult]) -> dict[str, list[RunResult]]:
    """Finished runs grouped by variant (seeds in the order given)."""
    out: dict[str, list[RunResult]] = {}
    for r in results:
        out.setdefault(r.variant, []).append(r)
    return out


@dataclass
class Summary:
    """What a study's ``summarize`` returns; the runner adds the aggregated metrics."""

    findings: list[Finding] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # file names written in the summary folder
    tables: list[dict] = field(default_factory=list)  # {"title": ..., "markdown": ...}
    notes: list[str] = field(default_factory=list)
    extra_metrics: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # baselines


class Study:
    name: ClassVar[str]
    task: ClassVar[str]
    title: ClassVar[str]
    Config: ClassVar[type[StudyConfig]] = StudyConfig
    profiles: ClassVar[dict[str, dict[str, Any]]] = {}
    reference: ClassVar[list[Ref]] = []
    #: bump when a change of code changes results, so old runs are not reused
    version: ClassVar[int] = 1
    #: metrics shown first in tables (all metrics are kept in summary.json)
    headline_metrics: ClassVar[list[str]] = []

    def variants(self, cfg) -> list[str]:
        raise NotImplementedError

    def run(self, cfg, variant: str, seed: int, ctx) -> dict[str, float]:
        raise NotImplementedError

    def summarize(self, cfg, results: list[RunResult], out_dir: Path) -> Summary:
        return Summary()

    def build_model(self, cfg, variant: str):
        """The variant's model (an ``nn.Module``) for ``dltour describe``; None if it has none."""
        return None

    def bench(self, cfg, ctx) -> dict[str, Any]:
        raise DltourError(f"study {self.name!r} has no benchmark")

    def comparable(self, cfg) -> bool:
        """Whether results under this config can be compared with the reference's numbers."""
        return True

    def run_key(self, cfg, variant: str) -> dict[str, Any]:
        """What identifies a run's result (hashed into the run id). Default: the whole config
        except ``seeds``; studies drop keys that list the sweep so adding a cell reuses the rest."""
        d = cfg.model_dump()
        d.pop("seeds", None)
        return d

    def seed_list(self, cfg) -> list[int]:
        return list(range(cfg.seeds))


_REGISTRY: dict[str, type[Study]] = {}
_LOADED = False


def register(cls: type[Study]) -> type[Study]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise RuntimeError(f"study {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    import dltour.experiments as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"dltour.experiments.{mod.name}")
    _LOADED = True


def all_studies() -> list[Study]:
    _load_all()
    return [cls() for cls in sorted(_REGISTRY.values(), key=lambda c: _task_key(c.task))]


def _task_key(task: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in task.lstrip("T").split("."))


def get_study(name: str) -> Study:
    _load_all()
    if name in _REGISTRY:
        return _REGISTRY[name]()
    for cls in _REGISTRY.values():
        if cls.task.lower() == name.lower():
            return cls()
    names = sorted(_REGISTRY)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise DltourError(f"unknown study {name!r}.{hint} Valid: {', '.join(names)} "
                      f"(or task ids {', '.join(sorted(c.task for c in _REGISTRY.values()))})")
