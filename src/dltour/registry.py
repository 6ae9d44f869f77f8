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
  ``comparison(cfg)`` (whether this config has the reference's data and budget, and what differs).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dltour.errors import DltourError
from dltour.config import StudyConfig
from dltour.rundir import RunResult  # noqa: F401  (studies read their runs as registry.RunResult)


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
    """A claim checked over our results, decided by one rule of :mod:`dltour.verdicts`.

    ``ref`` names the reference claim it decides (``"R30"``, see :mod:`dltour.claims`): such a
    finding's ``source`` is ``reference``; a finding with no ``ref`` is one of *our* checks and is
    counted apart. ``verdict`` is one of ``holds`` / ``does not hold`` / ``inconclusive`` /
    ``not checked``; ``evidence`` holds the numbers (n per arm) and ``test`` what decided it.
    Build one from a decision with :meth:`Finding.of`. ``stats`` holds the decision's numbers
    (``p``, ``effect`` with ``effect_ci`` and ``unit``, Hedges' ``g`` with ``g_ci``, ``n_runs``,
    ``margin``, ``margin_source``, ``flip_margin``, ``reasons``) for the report's adjustments and
    ``claims.json``.
    """

    id: str
    claim: str
    verdict: str
    evidence: str
    test: str = ""
    ref: str | None = None
    section: str = ""  # where the reference says it ("§3.2, Table 5")
    stats: dict = field(default_factory=dict)

    def __post_init__(self):
        from dltour.verdicts import VERDICTS

        if self.verdict not in VERDICTS:
            raise ValueError(f"finding {self.id!r}: verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.ref is not None:
            from dltour.claims import CLAIMS

            if self.ref not in CLAIMS:
                raise ValueError(f"finding {self.id!r}: unknown reference claim {self.ref!r}")
        if self.verdict in ("holds", "does not hold") and not self.test:
            raise ValueError(f"finding {self.id!r}: a decided verdict needs the test that decided it")

    @classmethod
    def of(cls, id: str, claim: str, decision, *, ref: str | None = None, section: str = "",
           evidence: str = "", budget=None, scale_note: str = "") -> "Finding":
        """A finding from a :class:`dltour.verdicts.Decision`; ``evidence`` is prepended to the
        decision's own. ``budget`` (a :class:`dltour.verdicts.Budget`): the curves the claim
        depends on; :func:`dltour.verdicts.budget_gate` is applied here, so a "does not hold" that
        a short budget may have made becomes "inconclusive" with its reason. ``scale_note`` (e.g.
        what differs from the reference's scale) is kept in ``stats["scale_note"]``."""
        from dltour.verdicts import budget_gate

        if budget is not None:
            decision = budget_gate(decision, budget)
        ev = f"{evidence}; {decision.evidence}" if evidence else decision.evidence
        st = decision.stats() if hasattr(decision, "stats") else {}
        if scale_note:
            st["scale_note"] = scale_note
        return cls(id, claim, decision.verdict, ev, decision.test, ref, section, st)

    @property
    def source(self) -> str:
        return "reference" if self.ref else "ours"

    @property
    def holds(self) -> bool | None:
        return {"holds": True, "does not hold": False}.get(self.verdict)

    def as_dict(self) -> dict:
        return {"id": self.id, "claim": self.claim, "verdict": self.verdict, "holds": self.holds,
                "evidence": self.evidence, "test": self.test, "source": self.source, "ref": self.ref,
                "section": self.section, "stats": dict(self.stats)}


@dataclass
class Table:
    """A table as data: the report renders it to Markdown and HTML. ``bold`` lists (row, column)
    cells to emphasise (e.g. the best value per column)."""

    title: str
    header: list[str]
    rows: list[list[Any]]
    bold: list[tuple[int, int]] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict:
        return {"title": self.title, "header": [str(h) for h in self.header],
                "rows": [[_cell(c) for c in r] for r in self.rows], "bold": [list(b) for b in self.bold],
                "note": self.note}


def _cell(c: Any) -> str:
    if isinstance(c, float):
        from dltour.verdicts import fmt

        return fmt(c)
    return str(c)


@dataclass
class Comparison:
    """Whether a config's results can be set beside the reference's numbers: the reference's data
    (``data``) and its budget (``budget``: epochs, subset sizes). ``why`` says what differs."""

    data: bool
    budget: bool
    why: str = ""
    #: whether the data are what the reference's claims are about (its dataset, a subset of it, or the
    #: study's own embedded analogue); False (e.g. Fashion-MNIST given as MNIST): no reference claim is
    #: decided (:func:`data_gate`), ``about_why`` says what the data are
    about: bool = True
    about_why: str = ""

    @property
    def ok(self) -> bool:
        return self.data and self.budget

    def as_dict(self) -> dict:
        return {"data": self.data, "budget": self.budget, "why": self.why, "about": self.about,
                "about_why": self.about_why}

    @classmethod
    def check(cls, data_ok: bool, data_why: str, budget: dict[str, tuple[float, float]],
              about: tuple[bool, str] = (True, "")) -> "Comparison":
        """From a data check and ``budget``: name -> (ours, the reference's); the budget is the
        reference's when every item reaches it. ``about``: whether the data are what the claims are
        about, and if not what they are."""
        short = [f"{k} {ours:g} < {ref:g}" for k, (ours, ref) in budget.items() if ours < ref]
        why = "; ".join(([data_why] if not data_ok and data_why else [])
                        + ([f"budget differs: {', '.join(short)}"] if short else []))
        return cls(data_ok, not short, why, about[0], about[1])


def data_gate(findings: list["Finding"], cmp: "Comparison", what: str = "the reference's data") -> list["Finding"]:
    """The one gate on data for every study: when the data are not what the reference's claims are
    about (``cmp.about`` False), every finding of a reference claim becomes ``not applicable`` (shown,
    not counted), its test saying why and what the rule alone said; our own checks are kept.
    ``what``: the data the claims are about, in words ("MNIST digits")."""
    from dataclasses import replace

    from dltour.verdicts import NOT_APPLICABLE

    if cmp.about:
        return list(findings)
    out = []
    for f in findings:
        if f.ref is None:
            out.append(f)
            continue
        why = f"not applicable: the claim is about {what}, and these data are not ({cmp.about_why or 'unrecognised'})"
        out.append(replace(f, verdict=NOT_APPLICABLE, test=f"{why}; the rule alone said {f.verdict!r}",
                           stats={**f.stats, "reasons": list(f.stats.get("reasons") or []) + [why]}))
    return out


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
    tables: list[Table] = field(default_factory=list)
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
    #: runs are tiny single-threaded models: ``--executor auto`` runs them one process per core
    small_runs: ClassVar[bool] = False
    #: metrics shown first in tables (all metrics are kept in summary.json)
    headline_metrics: ClassVar[list[str]] = []
    #: what one run asks of a Ray worker, per profile (``num_cpus``, ``num_gpus``; fractions share
    #: a GPU). Unset: one CPU, and one GPU unless the runs are ``small_runs``; ``--gpus-per-run``
    #: overrides the GPUs.
    resources: ClassVar[dict[str, dict[str, float]]] = {}

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

    def check_model(self, cfg, variant: str) -> float | None:
        """One forward and backward pass of the variant's model (``build_model``) on a tiny
        synthetic batch, through the same training step ``run`` uses; returns the loss (the
        registry-wide model test checks it is finite and that gradients reached the weights).
        None: the study has no neural model."""
        return None

    def comparable(self, cfg) -> bool:
        """Whether results under this config can be compared with the reference's numbers."""
        return self.comparison(cfg).ok

    def preflight(self, cfg, resolve: bool = True) -> None:
        """Check, in the driver and before any run is submitted, that the runs can have their data:
        each dataset resolved once (explicit path, cache or download, then its checksum:
        :func:`dltour.data.resolve.resolve_for`), then whatever the study can read cheaply read
        (:meth:`check_data`). Raises one :class:`dltour.DltourError` line, naming the file when the
        user gave one; nothing is written to the ledger or the run folders before it passes.
        ``resolve=False``: the files were resolved already (the driver resolves every study's
        datasets once, :func:`dltour.data.resolve.resolve_studies`)."""
        from dltour.errors import DltourError

        data = getattr(cfg, "data", None)
        if data is None:
            return
        try:
            if resolve:
                from dltour.data.resolve import resolve_for

                resolve_for(cfg)
            self.check_data(cfg)
        except DltourError as e:
            msg, path = str(e), getattr(data, "path", None)
            if path and str(path) not in msg:
                msg += f" (data.path={path})"
            raise DltourError(f"{self.name}: {msg}") from None

    def check_data(self, cfg) -> None:
        """Read what the runs will read, where that is cheap, so a damaged or unsuitable file stops
        the study before its runs (override in the study; the default reads nothing)."""

    #: the data the reference's claims of this study are about, in words (for :func:`data_gate`)
    claims_about: ClassVar[str] = "the reference's data"

    def comparison(self, cfg) -> Comparison:
        """The reference's data and budget, each checked (override in the study)."""
        return Comparison(True, True)

    def run_key(self, cfg, variant: str) -> dict[str, Any]:
        """What identifies a run's result (hashed into the run id). Default: the whole config
        except ``seeds``; studies drop keys that list the sweep so adding a cell reuses the rest."""
        d = cfg.model_dump()
        d.pop("seeds", None)
        return d

    def run_resources(self, profile: str) -> dict[str, float]:
        return {"num_cpus": 1, "num_gpus": 0 if self.small_runs else 1, **self.resources.get(profile, {})}

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
