"""Runs: ids, execution with resume, the driver's record of them, and the study summary.

A run is one (study, variant, seed). Its id hashes the study's ``run_key`` (the resolved config
without ``seeds``), the variant, the seed, the study's code version and an explicit
``--precision``. Its files live in its run folder (:mod:`dltour.rundir`). A file lock on the run
folder keeps two processes from computing the same run at once.

The path from the command line to a run is one straight line: the CLI resolves the study and its
config, builds a :class:`RunPlan` (what every run of the study needs: study, config, profile,
out, device, precision) and an executor (:mod:`dltour.executors`), and hands both to
:func:`run_study` (one study) or :func:`run_studies` (``reproduce``). The executor calls
:func:`execute_run` wherever it runs (this process, a process pool, a Ray worker); only this
process, the driver, writes the SQLite ledger (through :class:`Recorder`), and the tracker.
"""

from __future__ import annotations

import math
import platform
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dltour import DltourError, __version__
from dltour.config import config_hash
from dltour.ledger import Ledger
from dltour.registry import Study, Summary, Table
from dltour.perseed import Results
from dltour.rundir import (RunContext, RunResult, atomic_write_bytes, atomic_write_json,  # noqa: F401
                           count_attempt, read_history, read_metrics, run_dir_for, run_lock)


def versions() -> dict[str, str]:
    import torch

    return {"dltour": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "platform": platform.platform()}


def run_id_for(study: Study, cfg, variant: str, seed: int, precision: str = "auto") -> str:
    """The run's id. An explicit ``--precision`` (fp32, bf16) is part of it, so a run at another
    precision is computed, not reused; ``auto`` keeps the ids runs had before the option."""
    key = {"study": study.name, "version": study.version, "variant": variant, "seed": seed,
           "key": study.run_key(cfg, variant)}
    if precision != "auto":
        key["precision"] = precision
    return config_hash(key)


# ---------------------------------------------------------------- what a run needs
@dataclass(frozen=True)
class RunPlan:
    """Everything every run of one study needs, in one picklable value: executors ship it to
    workers as it is. ``out_token`` (set by executors whose workers may sit on other machines)
    names a file the driver wrote under ``out``; a worker that cannot see it fails the run."""

    study: str
    config: dict
    profile: str
    out: str
    device: str = "auto"
    precision: str = "auto"
    progress: bool = True
    out_token: str | None = None


@dataclass(frozen=True)
class Job:
    """One run to carry out: the plan, the cell, and what it asks of a worker."""

    plan: RunPlan
    variant: str
    seed: int
    run_id: str
    small_runs: bool = False
    resources: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.plan.study}/{self.variant}/seed{self.seed}"

    @property
    def run_dir(self) -> Path:
        return run_dir_for(self.plan.out, self.plan.study, self.run_id)

    def finished(self) -> bool:
        return (self.run_dir / "metrics.json").exists()


@dataclass
class RunOutcome:
    run_id: str
    variant: str
    seed: int
    reused: bool
    seconds: float
    metrics: dict[str, float]
    study: str = ""
    device: str = ""
    dtype: str = ""
    precision: str = ""
    versions: dict = field(default_factory=dict)
    attempts: int = 0
    started: float | None = None
    error: str | None = None  # set for a failed run (pooled executors go on with the others)


def jobs_for(study: Study, cfg, plan: RunPlan) -> list[Job]:
    return [Job(plan, v, s, run_id_for(study, cfg, v, s, plan.precision), study.small_runs,
                study.run_resources(plan.profile))
            for v in study.variants(cfg) for s in study.seed_list(cfg)]


def execute_run(plan: RunPlan, variant: str, seed: int, threads: int | None = None) -> RunOutcome:
    """Run one cell (or reuse it if finished) and return what the driver records. Writes only
    the run folder, never the ledger."""
    import torch

    from dltour.device import resolve_device
    from dltour.registry import get_study
    from dltour.seeding import seed_everything

    if threads:
        torch.set_num_threads(threads)
    if plan.out_token and not (Path(plan.out) / ".drivers" / plan.out_token).exists():
        raise DltourError(f"worker {platform.node()} cannot see --out {plan.out}: put --out on storage every "
                          f"node mounts at the same path (e.g. NFS)")
    study = get_study(plan.study)
    cfg = study.Config.model_validate(plan.config)
    run_id = run_id_for(study, cfg, variant, seed, plan.precision)
    run_dir = run_dir_for(plan.out, study.name, run_id)
    with run_lock(run_dir):
        metrics = read_metrics(run_dir)
        if metrics is not None:
            return RunOutcome(run_id, variant, seed, True, 0.0, metrics, study.name)
        dev = resolve_device(plan.device, plan.precision)
        attempts = count_attempt(run_dir)
        atomic_write_json(run_dir / "config.json", {"study": study.name, "variant": variant, "seed": seed,
                                                    "profile": plan.profile, "precision": dev.precision,
                                                    "config": cfg.model_dump()})
        ctx = RunContext(study.name, variant, seed, run_dir, dev, plan.profile, plan.progress)
        seed_everything(seed)
        started = time.time()
        t0 = time.perf_counter()
        metrics = study.run(cfg, variant, seed, ctx)
        seconds = time.perf_counter() - t0
        metrics = {k: float(v) for k, v in metrics.items()}
        atomic_write_json(run_dir / "metrics.json", metrics)
        return RunOutcome(run_id, variant, seed, False, seconds, metrics, study.name, dev.name, dev.dtype_name,
                          dev.precision, versions(), attempts, started)


# ---------------------------------------------------------------- the driver's record
class Recorder:
    """The driver's side of every run: the ledger rows, the tracker and a line per run for pooled
    executors. Executors call it; nothing else writes the ledger."""

    def __init__(self, out: str | Path, tracker=None, log: Callable[[str], None] | None = None):
        self.out = Path(out)
        self.ledger = Ledger(self.out / "ledger.sqlite")
        self.tracker = tracker
        self.log = log

    def started(self, job: Job) -> None:
        p = job.plan
        self.ledger.start(job.run_id, p.study, job.variant, job.seed, p.profile, p.device, p.precision, p.config)

    def finished(self, job: Job, o: RunOutcome, count: tuple[int, int] | None = None) -> None:
        """``count``: (runs finished, runs submitted) of a pooled executor, for its line per run."""
        p = job.plan
        if o.reused:
            self.ledger.record_reused(o.run_id, p.study, o.variant, o.seed, p.profile, o.metrics, p.config)
            return
        self.ledger.finish(o.run_id, o.metrics, o.seconds, device=o.device, dtype=o.dtype, precision=o.precision,
                           versions=o.versions, attempts=o.attempts, started=o.started)
        if self.log and count:
            self.log(f"[{count[0]}/{count[1]}] {job.label}: {o.seconds:.1f} s"
                     + (f" (attempt {o.attempts})" if o.attempts > 1 else ""))
        if self.tracker is not None:
            self.tracker.log_run(study=p.study, variant=o.variant, seed=o.seed, run_id=o.run_id, profile=p.profile,
                                 device=o.device, precision=o.precision, config=p.config,
                                 history=read_history(job.run_dir), metrics=o.metrics)

    def failed(self, job: Job, error: str | None, status: str = "failed") -> None:
        path = job.run_dir / "attempts"
        attempts = int(path.read_text()) if path.exists() else None
        self.ledger.mark(job.run_id, status, error, attempts)


# ---------------------------------------------------------------- one study, or all of them
@contextmanager
def _out_token(out_dir: Path, needed: bool):
    """A file only this driver writes under ``out``: workers check they see it."""
    if not needed:
        yield None
        return
    token = uuid.uuid4().hex
    path = out_dir / ".drivers" / token
    atomic_write_bytes(path, platform.node().encode())
    try:
        yield token
    finally:
        path.unlink(missing_ok=True)


def run_study(study: Study, cfg, profile: str, out: str | Path, executor=None, device: str = "auto",
              precision: str = "auto", progress: bool = True, tracker=None,
              log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Run every variant x seed of one study (reusing finished runs), then summarize."""
    docs, failed = run_studies([(study, cfg)], profile, out, executor, device, precision, progress, tracker, log,
                               raise_errors=True)
    if failed:
        raise DltourError(failed[0][1])
    return docs[0]


def run_studies(items: list[tuple[Study, Any]], profile: str, out: str | Path, executor=None, device: str = "auto",
                precision: str = "auto", progress: bool = True, tracker=None,
                log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                on_summary: Callable[[dict], None] | None = None,
                raise_errors: bool = False) -> tuple[list[dict], list[tuple[str, str]]]:
    """Run several studies and summarize each as its runs finish. A pooled executor (Ray) gets the
    runs of every study at once, so a cluster stays busy; the others run one study after another.
    Returns the summaries and (study, one-line error) for each study that could not finish; an
    error that is not a user error (a bug) is raised, and so is every error with ``raise_errors``."""
    from dltour.executors import LocalExecutor

    executor = executor or LocalExecutor()
    out_dir = check_out_dir(out)
    rec = Recorder(out_dir, tracker, log)  # the ledger exists (in WAL mode) before any worker runs
    docs, failed = [], []
    with _out_token(out_dir, getattr(executor, "remote", False)) as token:
        plans = {s.name: RunPlan(s.name, cfg.model_dump(), profile, str(out_dir), device, precision, progress, token)
                 for s, cfg in items}
        by_study = {s.name: jobs_for(s, cfg, plans[s.name]) for s, cfg in items}
        groups = [[j for s, _ in items for j in by_study[s.name]]] if getattr(executor, "pooled", False) \
            else [by_study[s.name] for s, _ in items]
        left = {name: len(jobs) for name, jobs in by_study.items()}
        errors: dict[str, str] = {}
        cfgs = {s.name: (s, cfg) for s, cfg in items}

        def close(name: str) -> None:
            study, cfg = cfgs[name]
            if name in errors:
                failed.append((name, errors[name]))
                return
            outcomes = [o for o in by_study_outcomes[name]]
            reused = sum(o.reused for o in outcomes)
            log(f"{name}: {len(outcomes) - reused} run(s) computed, {reused} reused from {out_dir / 'runs' / name}")
            doc = summarize_study(study, cfg, profile, out_dir, precision)
            if tracker is not None:
                tracker.log_summary(study=name, profile=profile, doc=doc,
                                    figures=[Path(f) for f in doc["figures"]])
            docs.append(doc)
            if on_summary:
                on_summary(doc)

        by_study_outcomes: dict[str, list[RunOutcome]] = {name: [] for name in by_study}
        for name in [n for n, k in left.items() if k == 0]:  # a study with no runs still gets a summary
            close(name)
        for group in groups:
            if not group:
                continue
            try:
                for job, o in executor.map_runs(group, rec):
                    name = job.plan.study
                    if o.error is not None:
                        errors.setdefault(name, o.error)
                    else:
                        by_study_outcomes[name].append(o)
                    left[name] -= 1
                    if left[name] == 0:
                        close(name)
            except DltourError as e:  # e.g. data missing offline: this study stops, the others go on
                if raise_errors or len({j.plan.study for j in group}) > 1:
                    raise
                errors[group[0].plan.study] = str(e)
                close(group[0].plan.study)
    return docs, failed


# ---------------------------------------------------------------- aggregation and summary
def aggregate(values: list[float]) -> dict[str, float | int | None]:
    """mean, sample std, 95% CI half-width (Student t), n over seeds with a finite value, and
    ``nan``: how many seeds gave NaN/inf (excluded from the others, never silently). With n = 1
    there is no spread: ``std`` and ``ci95`` are None."""
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    nan = len(values) - int(v.size)
    n = int(v.size)
    if n == 0:
        return {"mean": None, "std": None, "ci95": None, "n": 0, "nan": nan}
    mean = float(v.mean())
    if n == 1:
        return {"mean": mean, "std": None, "ci95": None, "n": 1, "nan": nan}
    std = float(v.std(ddof=1))
    ci = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n))
    return {"mean": mean, "std": std, "ci95": ci, "n": n, "nan": nan}


def collect_results(study: Study, cfg, out_dir: Path, precision: str = "auto") -> list[RunResult]:
    results = []
    for variant in study.variants(cfg):
        for seed in study.seed_list(cfg):
            rid = run_id_for(study, cfg, variant, seed, precision)
            run_dir = run_dir_for(out_dir, study.name, rid)
            metrics = read_metrics(run_dir)
            if metrics is not None:
                results.append(RunResult(variant, seed, rid, run_dir, metrics))
    return results


def summarize_study(study: Study, cfg, profile: str, out_dir: Path, precision: str = "auto") -> dict:
    """Call the study's summarize over its saved runs and write ``<out>/<study>/summary.json``."""
    results = collect_results(study, cfg, out_dir, precision)
    summary_dir = out_dir / study.name
    summary_dir.mkdir(parents=True, exist_ok=True)
    summary: Summary = study.summarize(cfg, results, summary_dir)
    per_variant: dict[str, dict[str, list[float]]] = {}
    for r in results:
        for k, v in r.metrics.items():
            per_variant.setdefault(r.variant, {}).setdefault(k, []).append(v)
    for variant, ms in summary.extra_metrics.items():
        for k, vs in ms.items():
            per_variant.setdefault(variant, {})[k] = list(vs)
    metrics = {var: {k: aggregate(vs) for k, vs in ms.items()} for var, ms in per_variant.items()}
    cmp = study.comparison(cfg)
    bad = [t for t in summary.tables if not isinstance(t, Table)]
    if bad:
        raise TypeError(f"{study.name}: Summary.tables takes Table objects (data), got {type(bad[0]).__name__}")
    tables = [t.as_dict() for t in summary.tables]
    doc = {
        "study": study.name,
        "task": study.task,
        "title": study.title,
        "profile": profile,
        "comparable": cmp.ok,
        "comparison": {"data": cmp.data, "budget": cmp.budget, "why": cmp.why},
        "config": cfg.model_dump(),
        "metrics": metrics,
        # the study's own order (variants, then its baselines): JSON objects are written key-sorted
        "variant_order": list(dict.fromkeys([*study.variants(cfg), *summary.extra_metrics, *metrics])),
        "headline_metrics": study.headline_metrics,
        "reference": [
            {"source": r.source, "variant": r.variant, "metric": r.metric, "value": r.value, "note": r.note}
            for r in study.reference
        ],
        "findings": [f.as_dict() for f in summary.findings],
        "figures": [str(summary_dir / f) for f in summary.figures],
        "tables": tables,
        "nan_runs": Results(results).nan_runs(),
        "notes": summary.notes,
        "runs": len(results),
        **_ledger_facts(out_dir, study.name, {r.run_id for r in results}),
    }
    atomic_write_json(summary_dir / "summary.json", doc)
    return doc


def _ledger_facts(out_dir: Path, study: str, run_ids: set[str]) -> dict:
    """Training seconds, devices and precisions of the study's runs, from the ledger."""
    try:
        rows = [r for r in Ledger(out_dir / "ledger.sqlite").rows(study) if r["run_id"] in run_ids]
    except Exception:
        rows = []
    return {"seconds": float(sum(r["seconds"] or 0.0 for r in rows)),
            "devices": sorted({r["device"] for r in rows if r.get("device")}),
            "precisions": sorted({r["precision"] for r in rows if r.get("precision")})}


def check_out_dir(out: str | Path) -> Path:
    out_dir = Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".dltour-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise DltourError(f"--out {str(out_dir)!r} is not writable: {e.strerror or e}") from None
    return out_dir
