"""One run carried out, wherever: :func:`execute_run` (lock, reuse or compute; writes the run folder
only) and the driver's :class:`Recorder` (the only writer of the ledger, and the tracker's caller).

Below :mod:`dltour.runner.executors` (which ship jobs) and :mod:`dltour.runner.driver` (which plans
them and summarizes): neither imports the other's caller.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dltour._version import __version__
from dltour.errors import DltourError
from dltour.fileio import atomic_write_json
from dltour.runner.ledger import Ledger
from dltour.runner.plan import Job, RunPlan, legacy_check, provenance
from dltour.runner.run_folder import RunContext, count_attempt, read_history, read_metrics, run_dir_for, run_lock, write_metrics


def versions() -> dict[str, str]:
    import torch

    return {"dltour": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "platform": platform.platform()}


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
    nodes: list = field(default_factory=list)  # per attempt: {attempt, host, node_id, pid, started}


def this_node() -> dict:
    """Where this process runs: the host, and the Ray node id inside a Ray worker (else None)."""
    node_id = None
    ray = sys.modules.get("ray")
    if ray is not None:
        try:
            if ray.is_initialized():
                node_id = ray.get_runtime_context().get_node_id()
        except Exception:  # an old or partial Ray: the host says enough
            node_id = None
    return {"host": platform.node(), "node_id": node_id}


def record_attempt(run_dir: Path, attempt: int) -> None:
    """Add this attempt (its host, Ray node id, pid, start time) to the run folder's ``nodes.json``.
    Call with the run's lock held (right after :func:`dltour.runner.run_folder.count_attempt`)."""
    path = Path(run_dir) / "nodes.json"
    nodes = read_nodes(run_dir)
    nodes.append({"attempt": attempt, **this_node(), "pid": os.getpid(), "started": time.time()})
    atomic_write_json(path, nodes)


def read_nodes(run_dir: Path) -> list:
    path = Path(run_dir) / "nodes.json"
    try:
        return json.loads(path.read_text()) if path.exists() else []
    except (OSError, ValueError):
        return []


def read_attempts(run_dir: Path) -> int | None:
    path = Path(run_dir) / "attempts"
    try:
        return int(path.read_text()) if path.exists() else None
    except (OSError, ValueError):
        return None


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
    prov = provenance(study, cfg, variant, seed, plan.precision)
    run_id = prov["run_id"]
    run_dir = run_dir_for(plan.out, study.name, run_id)
    with run_lock(run_dir):
        metrics = read_metrics(run_dir, prov, legacy_check(study, variant, seed, prov, plan.precision))
        if metrics is not None:
            return RunOutcome(run_id, variant, seed, True, 0.0, metrics, study.name)
        dev = resolve_device(plan.device, plan.precision)
        attempts = count_attempt(run_dir)
        record_attempt(run_dir, attempts)
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
        write_metrics(run_dir, metrics, prov)
        return RunOutcome(run_id, variant, seed, False, seconds, metrics, study.name, dev.name, dev.dtype_name,
                          dev.precision, versions(), attempts, started, nodes=read_nodes(run_dir))


# ---------------------------------------------------------------- a stop asked by a signal
_STOP: dict[str, int | None] = {"signal": None}


def stop_requested() -> int | None:
    """The signal (SIGINT or SIGTERM) that asked the driver to stop while its work ran, else None.
    The handler's exception cannot be trusted to arrive as itself: raised inside C++ code it can be
    swallowed and replaced (pybind11 reports an argument conversion cut short by it as a TypeError,
    matplotlib's Agg as "Invalid bounding box"), so what escapes is judged by this, not by its type."""
    return _STOP["signal"]


def set_stop_requested(signum: int | None) -> None:
    _STOP["signal"] = signum


def interrupted(e: BaseException) -> bool:
    """Whether ``e`` ended a run because the driver was asked to stop (then the run is
    ``interrupted``, not ``failed``)."""
    return isinstance(e, KeyboardInterrupt) or stop_requested() is not None


# ---------------------------------------------------------------- the driver's record
class Recorder:
    """The driver's side of every run: the ledger rows, the tracker and a line per run for pooled
    executors. Executors call it; nothing else writes the ledger.

    An executor first :meth:`claim`-s the runs it will compute (``pending``), calls
    :meth:`started` when it hands one to a worker (``running``), then :meth:`finished` or
    :meth:`failed`. Whatever it leaves open (an exception, a broken pool, a signal) is closed by
    :meth:`release`: ``finished`` when the run's metrics reached its folder, else
    ``interrupted``; :func:`dltour.runner.driver.run_studies` calls it on every way out."""

    def __init__(self, out: str | Path, tracker=None, log: Callable[[str], None] | None = None):
        self.out = Path(out)
        self.ledger = Ledger(self.out / "ledger.sqlite")
        self.tracker = tracker
        self.log = log
        self.open: dict[str, Job] = {}  # runs this driver claimed and has not closed
        self._bar = None  # a pooled executor's bar over runs (stderr a terminal)

    def claim(self, jobs: list[Job]) -> None:
        """``pending`` for every job still to compute (the folder has no metrics.json: a finished
        row whose metrics were removed is reclaimed); a run another live driver owns is left to it."""
        for job in jobs:
            if job.run_id in self.open or job.finished():
                continue
            p = job.plan
            self.open[job.run_id] = job  # first: a signal right after the claim's commit still finds it
            if not self.ledger.claim(job.run_id, p.study, job.variant, job.seed, p.profile, p.device,
                                     p.precision, p.config, reclaim=True):
                del self.open[job.run_id]

    def started(self, job: Job) -> None:
        if job.run_id not in self.open:
            self.claim([job])
        if job.run_id in self.open:
            self.ledger.running(job.run_id)

    def finished(self, job: Job, o: RunOutcome, count: tuple[int, int] | None = None) -> None:
        """``count``: (runs finished, runs submitted) of a pooled executor, for its line per run."""
        p = job.plan
        if o.reused:
            self.ledger.record_reused(o.run_id, p.study, o.variant, o.seed, p.profile, o.metrics, p.config)
            self.open.pop(job.run_id, None)
            return
        self.ledger.finish(o.run_id, o.metrics, o.seconds, device=o.device, dtype=o.dtype, precision=o.precision,
                           versions=o.versions, attempts=o.attempts, started=o.started,
                           nodes=o.nodes or read_nodes(job.run_dir))
        self.open.pop(job.run_id, None)  # after the write: a signal before it leaves the run to release()
        if self.log and count:
            line = f"{job.label}: {o.seconds:.1f} s" + (f" (attempt {o.attempts})" if o.attempts > 1 else "")
            if not self._show_bar(count, line):
                self.log(f"[{count[0]}/{count[1]}] {line}")
        if self.tracker is not None:
            self.tracker.log_run(study=p.study, variant=o.variant, seed=o.seed, run_id=o.run_id, profile=p.profile,
                                 device=o.device, precision=o.precision, config=p.config,
                                 history=read_history(job.run_dir), metrics=o.metrics,
                                 seconds=o.seconds, started=o.started)

    def failed(self, job: Job, error: str | None, status: str = "failed") -> None:
        """``failed`` (the run raised) or ``interrupted`` (it was stopped, or its worker was lost);
        a run whose metrics reached its folder meanwhile is recorded ``finished`` instead."""
        metrics = read_metrics(job.run_dir)
        if metrics is not None:
            p = job.plan
            self.ledger.record_reused(job.run_id, p.study, job.variant, job.seed, p.profile, metrics, p.config)
        else:
            self.ledger.mark(job.run_id, status, error, read_attempts(job.run_dir), read_nodes(job.run_dir) or None)
        self.open.pop(job.run_id, None)

    def _show_bar(self, count: tuple[int, int], last: str) -> bool:
        """A rich bar over the runs of a pooled executor, with the time left, in place of its
        line per run; only while stderr is a terminal (False otherwise: print the line)."""
        if not sys.stderr.isatty():
            return False
        try:
            if self._bar is None:
                from rich.console import Console
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                           TimeRemainingColumn)

                self._bar = Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
                                     console=Console(stderr=True))
                self._bar.start()
                self._task = self._bar.add_task("runs", total=count[1], last="")
            self._bar.update(self._task, completed=count[0], total=count[1], last=last[-60:])
            if count[0] >= count[1]:
                self.close_bar()
        except Exception:  # a display problem never stops the runs
            self._bar = None
            return False
        return True

    def close_bar(self) -> None:
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.stop()

    def release(self, why: str | None = None) -> None:
        """Close every run this driver claimed and did not close: ``finished`` if its metrics are
        on disk, else ``interrupted`` (with ``why``). Safe to call more than once."""
        self.close_bar()
        for job in list(self.open.values()):
            try:
                self.failed(job, why, "interrupted")
            except Exception:  # one unreadable folder must not leave the other rows open
                self.open.pop(job.run_id, None)
