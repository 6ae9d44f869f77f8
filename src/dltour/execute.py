"""One run, wherever it is carried out: its id, the plan every run of a study shares, the job an
executor ships, :func:`execute_run` (lock, reuse or compute; writes the run folder only) and the
driver's :class:`Recorder` (the only writer of the ledger, and the tracker's caller).

Below :mod:`dltour.executors` (which ship jobs) and :mod:`dltour.runs` (which plans them and
summarizes): neither imports the other's caller.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dltour import DltourError, __version__
from dltour.config import config_hash
from dltour.ledger import Ledger
from dltour.registry import Study
from dltour.rundir import (RunContext, atomic_write_json, count_attempt, read_history, read_metrics, run_dir_for,
                           run_lock)


def versions() -> dict[str, str]:
    import torch

    return {"dltour": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "platform": platform.platform()}


def git_commit() -> str:
    """The short commit of the dltour checkout this code runs from (``+dirty`` with local changes to
    tracked files); "unknown ..." outside a git checkout (an installed wheel)."""
    import subprocess

    try:
        here = Path(__file__).resolve().parent
        res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return res.stdout.strip() + ("+dirty" if dirty else "") if res.returncode == 0 else "unknown (not a git checkout)"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


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
