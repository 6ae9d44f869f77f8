"""The study registry: ``@register`` a ``Study`` subclass and look it up by name or task id.

A study is a package under ``dltour/experiments/`` (imported automatically): ``science.py`` holds
its config and what one run does (a ``Study`` subclass with ``run`` and ``trainer``), ``findings.py``
what the runs mean, and the package's ``__init__`` the ``@register``-ed study built on the science:
its description and what we assumed, profiles, variants and bindings of the findings. Together
they declare

- ``name``, ``task`` (``"T2.1"``), ``title`` (one line of what it compares);
- ``Config``: a pydantic model (subclass of ``StudyConfig``) and ``profiles``: dotted overrides
  for ``smoke``, ``demo``, ``full``;
- ``reference``: the reference report's numbers this study can be set beside (``Ref``);
- ``variants(cfg)``: the names of the cells it compares;
- ``run(cfg, variant, seed, ctx) -> dict[str, float]``: one cell (the metrics);
- ``summarize(cfg, results, out_dir) -> Summary``: figures, tables and checked findings, built
  from the saved artifacts only;
- optionally ``build_model(cfg, variant)`` (for ``dltour describe``), ``trainer(cfg, variant, seed,
  device)`` (the step and batches ``run`` trains with: ``dltour bench`` and the model check come from
  it) and ``comparison(cfg)`` (whether this config has the reference's data and budget, and what differs).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from pathlib import Path
from typing import Any, ClassVar

from dltour.errors import DltourError
from dltour.claims import task_key
from dltour.config import StudyConfig
from dltour.summary import Comparison, Ref, RunResult, Summary


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
    #: config keys that list the sweep (``windows``, ``losses``): kept out of the run id, so adding a
    #: cell to the sweep reuses the runs already computed
    sweep: ClassVar[tuple[str, ...]] = ()
    #: config keys no run's result depends on (summary-only choices, checkpointing, bench settings,
    #: where files are looked for; ``data.x`` for a data field): kept out of the run id
    not_in_results: ClassVar[tuple[str, ...]] = ()
    #: keys added after runs were computed, with the value they had implicitly: at that value they stay
    #: out of the run id, so the older runs keep their ids
    added_later: ClassVar[dict[str, Any]] = {}

    def variants(self, cfg) -> list[str]:
        raise NotImplementedError

    def run(self, cfg, variant: str, seed: int, ctx) -> dict[str, float]:
        raise NotImplementedError

    def summarize(self, cfg, results: list[RunResult], out_dir: Path) -> Summary:
        return Summary()

    def build_model(self, cfg, variant: str):
        """The variant's model (an ``nn.Module``) for ``dltour describe``; None if it has none."""
        return None

    def trainer(self, cfg, variant: str, seed: int, device):
        """The variant's training as ``run`` does it (a :class:`dltour.bench.Trainer`: the step, the
        run's batches, the loss and the trained modules) on ``device`` (a
        :class:`dltour.device.DeviceInfo`). ``dltour bench`` and the model check are built on it, so a
        study that defines it has both. None: the study trains no network by steps and batches."""
        return None

    def bench_default(self, cfg) -> str:
        """The variant ``dltour bench`` times when none is named (override: the costliest or most
        typical one); here the first that :meth:`benchable` accepts."""
        v = next((v for v in self.variants(cfg) if self.benchable(v)), None)
        if v is None:
            raise DltourError(f"{self.name}: none of the variants this configuration runs "
                              f"({', '.join(self.variants(cfg))}) can be benched")
        return v

    def benchable(self, variant: str) -> bool:
        """Whether ``dltour bench`` can time this variant (override when only some train by steps)."""
        return True

    def bench(self, cfg, ctx, variant: str | None = None) -> dict[str, Any]:
        """Training throughput of ``variant`` (one of ``variants(cfg)``; None: ``bench_default``) end to
        end vs compute-only (``dltour bench``): the study's :meth:`trainer` timed by
        :func:`dltour.bench.bench_trainer`."""
        from dltour.bench import bench_trainer

        variant = self.bench_variant(cfg, variant, self.bench_default(cfg), self.benchable)
        trainer = self.trainer(cfg, variant, 0, ctx.device)
        if trainer is None:
            raise DltourError(f"study {self.name!r} has no benchmark")
        return bench_trainer(trainer, ctx.device, variant)

    def bench_variant(self, cfg, variant: str | None, default: str, benchable=None) -> str:
        """The variant ``bench`` times: ``variant`` checked against the study's variants (and
        ``benchable`` when only some can be timed), or ``default``; one line when it cannot be."""
        if variant is None:
            return default
        valid = [v for v in self.variants(cfg) if benchable is None or benchable(v)]
        if variant not in valid:
            raise DltourError(f"--variant {variant!r} cannot be benched for {self.name} with this configuration; "
                              f"choose one of {', '.join(valid)}")
        return variant

    #: dotted settings under which the model check reads the embedded demo pack instead of the
    #: config's data (the ``full`` profile's files need not be here, and a check downloads nothing);
    #: the model's own settings stay the config's
    check_offline: ClassVar[dict[str, Any]] = {}

    def check_model(self, cfg, variant: str) -> float | None:
        """One forward and backward pass of the variant's training loss on the first two samples of
        its pipeline, on the CPU, through the :meth:`trainer` ``run`` uses (on the embedded data:
        ``check_offline``); returns the loss (the model tests check it is finite and that every
        trainable weight got a finite gradient). None: the study has no trainer (no neural model)."""
        from dltour.bench import check_trainer
        from dltour.config import apply_overrides
        from dltour.device import resolve_device

        if self.check_offline:
            cfg = apply_overrides(cfg, self.check_offline, origin=f"{self.name}.check_offline")
        trainer = self.trainer(cfg, variant, 0, resolve_device("cpu"))
        return None if trainer is None else check_trainer(trainer)

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
        """What identifies a run's result (hashed into the run id): the whole config except
        ``seeds``, the declared ``sweep``, ``not_in_results``, ``added_later`` keys at their implicit
        value, and the keys :meth:`unused_keys` names for this variant."""
        d = cfg.model_dump()
        d.pop("seeds", None)
        for k in (*self.sweep, *self.not_in_results, *self.unused_keys(cfg, variant)):
            part, _, leaf = k.rpartition(".")
            (d[part] if part else d).pop(leaf)
        for k, implicit in self.added_later.items():
            if d[k] == implicit:
                d.pop(k)
        return d

    def unused_keys(self, cfg, variant: str) -> tuple[str, ...]:
        """Config keys this variant's result does not depend on (a U-Net run ignores the GAN's
        settings): kept out of its run id. Default: none."""
        return ()

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
    return [cls() for cls in sorted(_REGISTRY.values(), key=lambda c: task_key(c.task))]


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
