"""How runs are carried out. Runs are independent, so executors are interchangeable: each takes
a list of :class:`dltour.execute.Job` and the driver's :class:`dltour.execute.Recorder`, calls
:func:`dltour.execute.execute_run` for every job wherever it runs, and yields ``(job, outcome)`` as
runs finish. Only the driver writes the ledger (through the recorder).

- ``local``: one after the other, in this process (progress bars shown).
- ``process``: a pool of ``workers`` processes on this machine (spawned, so CUDA is safe), each
  limited to ``cores // workers`` threads.
- ``auto`` (the CLI's default): ``process`` with one worker per core, one thread each, for a
  study whose runs are tiny single-threaded models (``Study.small_runs``: intra-op threads do not
  help them, a second process does) when there are several runs to compute; ``local`` otherwise.
- ``ray``: one Ray task per run, on a local Ray instance or a cluster (``--address``), with the
  CPUs and GPUs the study declares for the profile (``Study.resources``, ``--gpus-per-run``).
  Tasks whose worker dies are retried (``--max-retries``) and resume from their checkpoint;
  ``reproduce`` submits the runs of all studies as one pool.

The CLI builds the executor (:func:`get_executor`) and hands it to :func:`dltour.runs.run_study`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator

from dltour import DltourError
from dltour.execute import Job, Recorder, RunOutcome, execute_run

EXECUTORS = ("auto", "local", "process", "ray")


def _one_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


class LocalExecutor:
    """In this process, one run after the other. ``threads``: torch intra-op threads (None: torch's
    default)."""

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def map_runs(self, jobs: list[Job], rec: Recorder) -> Iterator[tuple[Job, RunOutcome]]:
        import torch

        before = torch.get_num_threads()
        try:
            for job in jobs:
                if not job.finished():
                    rec.started(job)
                try:
                    o = execute_run(job.plan, job.variant, job.seed, self.threads)
                except KeyboardInterrupt:
                    rec.failed(job, None, "interrupted")
                    raise
                except BaseException as e:
                    rec.failed(job, "".join(traceback.format_exception(e))[-4000:])
                    raise
                rec.finished(job, o)
                yield job, o
        finally:
            torch.set_num_threads(before)


class ProcessExecutor:
    def __init__(self, workers: int):
        if workers < 1:
            raise DltourError(f"--workers must be >= 1, got {workers}")
        self.workers = workers

    def map_runs(self, jobs: list[Job], rec: Recorder) -> Iterator[tuple[Job, RunOutcome]]:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {}
            for job in jobs:
                if not job.finished():
                    rec.started(job)
                futs[pool.submit(execute_run, _quiet(job.plan), job.variant, job.seed, threads)] = job
            pending = set(futs)
            n_done = 0
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        job = futs[f]
                        try:
                            o = f.result()
                        except BaseException as e:
                            rec.failed(job, "".join(traceback.format_exception(e))[-4000:])
                            for g in pending:
                                g.cancel()
                            raise
                        n_done += 1
                        rec.finished(job, o, (n_done, len(jobs)))
                        yield job, o
            except KeyboardInterrupt:
                for g in pending:
                    g.cancel()
                    rec.failed(futs[g], None, "interrupted")
                raise


def _quiet(plan):
    from dataclasses import replace

    return replace(plan, progress=False)


class AutoExecutor:
    """``process`` (one worker per core, one thread each) for a study of tiny models with at least
    ``MIN_POOL`` runs still to compute on the CPU; the same runs in this process with one thread
    when fewer; ``local`` for every other study."""

    MIN_POOL = 4

    def map_runs(self, jobs: list[Job], rec: Recorder) -> Iterator[tuple[Job, RunOutcome]]:
        import torch

        if not jobs:
            return iter(())
        cores = os.cpu_count() or 1
        device = jobs[0].plan.device
        on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
        if not (all(j.small_runs for j in jobs) and on_cpu):
            return LocalExecutor().map_runs(jobs, rec)
        pending = sum(not j.finished() for j in jobs)
        if cores >= 2 and pending >= self.MIN_POOL:
            return ProcessExecutor(cores).map_runs(jobs, rec)
        return LocalExecutor(threads=1).map_runs(jobs, rec)  # two intra-op threads only spin on a tiny model


class RayExecutor:
    """One Ray task per run. ``address``: None starts a local Ray instance (unless this process
    already called ``ray.init``); ``"auto"`` or ``"HOST:PORT"`` joins a cluster started with
    ``ray start``. Every node must see ``--out`` at the same path; a worker that does not fails
    its run with one line. A task whose worker dies is retried up to ``max_retries`` times and
    resumes from the run's checkpoint; an exception raised by a run is not retried."""

    pooled = True  # reproduce submits every study's runs at once
    remote = True  # workers may sit on other machines: they check they see --out

    def __init__(self, address: str | None = None, gpus_per_run: float | None = None, max_retries: int = 2):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise DltourError("--executor ray needs Ray: pip install 'dltour[ray]'") from None
        if max_retries < 0:
            raise DltourError(f"--max-retries must be >= 0, got {max_retries}")
        if gpus_per_run is not None and gpus_per_run < 0:
            raise DltourError(f"--gpus-per-run must be >= 0, got {gpus_per_run}")
        self.address, self.gpus_per_run, self.max_retries = address, gpus_per_run, max_retries

    def _resources(self, job: Job, cluster_gpus: float) -> tuple[float, float]:
        cpus = float(job.resources.get("num_cpus", 1))
        gpus = float(job.resources.get("num_gpus", 0))
        if self.gpus_per_run is not None:
            gpus = self.gpus_per_run
        if job.plan.device == "cpu":
            gpus = 0.0
        if gpus > cluster_gpus:
            if job.plan.device == "cuda" or self.gpus_per_run:
                raise DltourError(f"{job.label} asks for {gpus:g} GPU(s) but the Ray cluster has {cluster_gpus:g}; "
                                  f"use --device cpu or a cluster with GPUs")
            gpus = 0.0  # --device auto on a cluster without GPUs: the run uses the CPU
        return cpus, gpus

    def map_runs(self, jobs: list[Job], rec: Recorder) -> Iterator[tuple[Job, RunOutcome]]:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(address=self.address, include_dashboard=False, configure_logging=False,
                         log_to_driver=False)
            except ConnectionError as e:
                raise DltourError(f"cannot join the Ray cluster at {self.address!r}: {_one_line(e)}") from None
        try:
            yield from self._map(ray, jobs, rec)
        finally:
            if started_here:
                ray.shutdown()

    def _map(self, ray, jobs, rec) -> Iterator[tuple[Job, RunOutcome]]:
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        task = ray.remote(execute_run)
        refs = {}
        for job in jobs:
            cpus, gpus = self._resources(job, cluster_gpus)
            if not job.finished():
                rec.started(job)
            ref = task.options(num_cpus=cpus, num_gpus=gpus, max_retries=self.max_retries,
                               name=job.label).remote(_quiet(job.plan), job.variant, job.seed, max(1, int(cpus)))
            refs[ref] = job
        pending = list(refs)
        n_done = 0
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    job = refs[ref]
                    try:
                        o = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:
                        cause = getattr(e, "cause", None) or e
                        msg = f"{job.label}: {_one_line(cause)}"
                        rec.failed(job, "".join(traceback.format_exception(cause))[-4000:]
                                   if isinstance(cause, BaseException) else str(e)[-4000:])
                        o = RunOutcome(job.run_id, job.variant, job.seed, False, 0.0, {}, job.plan.study, error=msg)
                    except ray.exceptions.RayError as e:  # the worker died more often than max_retries
                        msg = f"{job.label}: {type(e).__name__} after {self.max_retries} retries"
                        rec.failed(job, str(e)[-4000:])
                        o = RunOutcome(job.run_id, job.variant, job.seed, False, 0.0, {}, job.plan.study, error=msg)
                    else:
                        n_done += 1
                        rec.finished(job, o, (n_done, len(refs)))
                    yield job, o
        except BaseException:  # Ctrl-C (or the consumer stopped): cancel what has not finished
            for ref in pending:
                ray.cancel(ref, force=True)
                rec.failed(refs[ref], None, "interrupted")
            raise


def get_executor(name: str, workers: int = 2, address: str | None = None, gpus_per_run: float | None = None,
                 max_retries: int = 2):
    if name == "auto":
        return AutoExecutor()
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(address, gpus_per_run, max_retries)
    if address is not None:
        raise DltourError("--address is for --executor ray")
    raise DltourError(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")
