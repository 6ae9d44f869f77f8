"""How runs are carried out. Runs are independent, so executors are interchangeable: each takes
a list of :class:`dltour.runner.plan.Job` and the driver's :class:`dltour.runner.execute.Recorder`, calls
:func:`dltour.runner.execute.execute_run` for every job wherever it runs, and yields ``(job, outcome)`` as
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

The CLI builds the executor (:func:`get_executor`) and hands it to :func:`dltour.runner.driver.run_study`.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import re
import sys
import tempfile
import threading
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext, redirect_stderr
from typing import Iterator

from dltour.errors import DltourError
from dltour.runner.execute import execute_run, interrupted, Recorder, RunOutcome
from dltour.runner.plan import Job

EXECUTORS = ("auto", "local", "process", "ray")


def _one_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _trace(e: BaseException) -> str:
    return "".join(traceback.format_exception(e))[-4000:]


class LocalExecutor:
    """In this process, one run after the other. ``threads``: torch intra-op threads (None: torch's
    default)."""

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def map_runs(self, jobs: list[Job], rec: Recorder) -> Iterator[tuple[Job, RunOutcome]]:
        import torch

        before = torch.get_num_threads()
        rec.claim(jobs)
        try:
            for job in jobs:
                if not job.finished():
                    rec.started(job)
                try:
                    o = execute_run(job.plan, job.variant, job.seed, self.threads)
                except BaseException as e:
                    if interrupted(e):
                        rec.failed(job, None, "interrupted")
                    else:
                        rec.failed(job, _trace(e))
                    raise
                rec.finished(job, o)
                yield job, o
        except BaseException as e:  # the runs not reached stay claimed: close them
            rec.release(f"not started: {_one_line(e)}")
            raise
        finally:
            torch.set_num_threads(before)


def _worker_init(parent: int) -> None:
    """In each pool worker: Ctrl-C is the driver's to handle (it stops the workers), and a worker
    whose driver died (SIGKILL, out of memory) exits instead of finishing runs nobody records."""
    import signal
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="dltour-orphan-watch").start()


@contextmanager
def _main_not_reimported():
    """While worker processes are spawned: hide the caller's ``__main__`` file, so a worker does
    not import (and run) a script that calls dltour at its top level without an ``if __name__ ==
    "__main__":`` guard. The workers only need dltour's own modules."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _study_in_main(jobs: list[Job]) -> bool:
    from dltour.registry import get_study

    return any(type(get_study(n)).__module__ in ("__main__", "__mp_main__") for n in {j.plan.study for j in jobs})


class ProcessExecutor:
    """A pool of ``workers`` spawned processes; at most ``workers`` runs are handed out at once,
    so a run is ``running`` in the ledger exactly while a worker computes it. A run that raises
    is ``failed`` and stops the pool; a worker that dies (killed, out of memory) breaks the pool:
    every run not finished is recorded ``interrupted`` and a one-line :class:`DltourError` says
    how to resume. ``reimport_main=False``: the workers do not import the caller's ``__main__``
    (see :func:`dltour.api.run`)."""

    def __init__(self, workers: int, reimport_main: bool = True):
        if workers < 1:
            raise DltourError(f"--workers must be >= 1, got {workers}")
        self.workers = workers
        self.reimport_main = reimport_main

    def map_runs(self, jobs: list[Job], rec: Recorder) -> Iterator[tuple[Job, RunOutcome]]:
        if not self.reimport_main and _study_in_main(jobs):
            # the study is defined in the unguarded script itself: a worker could only find it by
            # running the script again, so run in this process
            return LocalExecutor(threads=max(1, (os.cpu_count() or 1) // self.workers)).map_runs(jobs, rec)
        return self._map(jobs, rec)

    def _map(self, jobs: list[Job], rec: Recorder) -> Iterator[tuple[Job, RunOutcome]]:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        rec.claim(jobs)
        queue = list(jobs)
        futs: dict = {}
        n_done = 0
        clean = False
        pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                   initargs=(os.getpid(),))

        def submit_next() -> None:
            job = queue.pop(0)
            if not job.finished():
                rec.started(job)
            futs[pool.submit(execute_run, _quiet(job.plan), job.variant, job.seed, threads)] = job

        try:
            with nullcontext() if self.reimport_main else _main_not_reimported():
                while queue and len(futs) < self.workers:  # spawns the workers
                    submit_next()
            while futs:
                done, _ = wait(list(futs), return_when=FIRST_COMPLETED)
                for f in done:
                    job = futs.pop(f)
                    try:
                        o = f.result()
                    except BrokenProcessPool as e:
                        why = f"a worker process died (killed, or out of memory?): {_one_line(e)}"
                        rec.failed(job, why, "interrupted")
                        rec.release(why)
                        raise DltourError(f"a worker process died (killed, or out of memory?) while {job.label} "
                                          f"ran; the unfinished runs are recorded interrupted: repeat the command "
                                          f"to resume them") from None
                    except BaseException as e:
                        rec.failed(job, _trace(e), "interrupted" if interrupted(e) else "failed")
                        raise
                    n_done += 1
                    rec.finished(job, o, (n_done, len(jobs)))
                    if queue:
                        submit_next()  # before yielding: the worker is busy while the driver summarizes
                    yield job, o
            clean = True
        except BaseException as e:
            rec.release(f"stopped: {_one_line(e)}")
            raise
        finally:
            _stop(pool, clean)


def _stop(pool: ProcessPoolExecutor, clean: bool) -> None:
    """Shut the pool down: wait for it after a clean end, else stop its workers now (a worker
    left computing would hold its run's lock for nobody)."""
    if clean:
        pool.shutdown(wait=True)
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            p.terminate()
        except Exception:  # nosec B110  # best-effort shutdown of workers that may be gone
            pass
    for p in procs:
        try:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        except Exception:  # nosec B110  # best-effort shutdown of workers that may be gone
            pass


def _quiet(plan):
    from dataclasses import replace

    return replace(plan, progress=False)


class AutoExecutor:
    """``process`` (one worker per core, one thread each) for a study of tiny models with at least
    ``MIN_POOL`` runs still to compute on the CPU; the same runs in this process with one thread
    when fewer; ``local`` for every other study."""

    MIN_POOL = 4

    def __init__(self, reimport_main: bool = True):
        self.reimport_main = reimport_main

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
            return ProcessExecutor(cores, self.reimport_main).map_runs(jobs, rec)
        return LocalExecutor(threads=1).map_runs(jobs, rec)  # two intra-op threads only spin on a tiny model


_AUTH_HINT = re.compile(r"auth|token|unauthenticated|permission denied|401|403", re.I)


@contextmanager
def _captured_output(buf: list[str]):
    """Ray's own log lines (Python logging and its C++ core, which writes to file descriptor 2)
    while the block runs, kept in ``buf`` instead of the terminal."""
    import logging

    sys.stderr.flush()
    tmp = tempfile.TemporaryFile(mode="w+b")
    saved_fd = None
    try:
        saved_fd = os.dup(2)
        os.dup2(tmp.fileno(), 2)
    except OSError:  # no real stderr (some notebooks): Python-level capture only
        saved_fd = None
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    ray_logger = logging.getLogger("ray")
    ray_logger.addHandler(handler)
    try:
        with redirect_stderr(text):
            yield
    finally:
        ray_logger.removeHandler(handler)
        if saved_fd is not None:
            try:
                sys.stderr.flush()
            except Exception:  # nosec B110  # stderr may be closed; fd 2 is restored below regardless
                pass
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
        tmp.seek(0)
        buf.append(text.getvalue() + tmp.read().decode(errors="replace"))
        tmp.close()


def _ray_reason(e: BaseException, log: str) -> str:
    """One line: Ray's exception, else the last error line of its log; with a hint at token
    authentication when the reason looks like an auth failure."""
    reason = _one_line(e)
    errors = [ln.strip() for ln in log.splitlines() if re.search(r"error|fail|denied|refused|unauth", ln, re.I)]
    if errors and errors[-1] not in reason:
        reason += f" (Ray: {errors[-1][-300:]})"
    if _AUTH_HINT.search(reason) or _AUTH_HINT.search(log):
        reason += ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                   "to its token")
    return reason


def _probe_address(address: str | None, timeout: float = 5.0) -> None:
    """For ``--address HOST:PORT``: one TCP connection to the cluster's GCS port before anything
    else, so an address where nothing listens is one line at once (``ray.init`` itself retries for
    minutes, silently, and the ledger would exist by then). ``auto``, ``ray://`` and None are left
    to Ray."""
    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    import socket

    host, _, port = address.rpartition(":")
    try:
        port_no = int(port)
    except ValueError:
        raise DltourError(f"--address {address!r}: the port {port!r} is not a number (HOST:PORT, or auto)") from None
    try:
        with socket.create_connection((host.strip("[]"), port_no), timeout=timeout):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise DltourError(f"cannot join the Ray cluster at {address!r}: nothing answers there ({why}); start it "
                          f"with `ray start --head --port {port_no}` on {host}, or check --address") from None


class RayExecutor:
    """One Ray task per run. ``address``: None starts a local Ray instance (unless this process
    already called ``ray.init``); ``"auto"`` or ``"HOST:PORT"`` joins a cluster started with
    ``ray start``. Every node must see ``--out`` at the same path; a worker that does not fails
    its run with one line. A task whose worker dies is retried up to ``max_retries`` times and
    resumes from the run's checkpoint; an exception raised by a run is not retried (``failed``),
    a task lost more often than that is ``interrupted``. Every attempt's node (host and Ray node
    id) is in the run folder's ``nodes.json`` and the ledger's ``nodes``. Ray's own log output while
    it connects is kept back; a connection failure is one line with Ray's reason (``DLTOUR_VERBOSE=1``
    prints the whole log)."""

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
        _probe_address(address)

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

    def connect(self, ray) -> None:
        """``ray.init`` with Ray's log output kept back; a failure is one DltourError line."""
        buf: list[str] = []
        try:
            with _captured_output(buf):
                ray.init(address=self.address, include_dashboard=False, configure_logging=False,
                         log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError, OSError) as e:
            log = "".join(buf)
            if os.environ.get("DLTOUR_VERBOSE", "") not in ("", "0") and log.strip():
                print(log.rstrip(), file=sys.stderr)
            where = "start a local Ray instance" if self.address is None else \
                f"join the Ray cluster at {self.address!r}"
            raise DltourError(f"cannot {where}: {_ray_reason(e, log)}") from None
        if os.environ.get("DLTOUR_VERBOSE", "") not in ("", "0") and "".join(buf).strip():
            print("".join(buf).rstrip(), file=sys.stderr)

    def map_runs(self, jobs: list[Job], rec: Recorder) -> Iterator[tuple[Job, RunOutcome]]:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            self.connect(ray)
        try:
            yield from self._map(ray, jobs, rec)
        finally:
            if started_here:
                ray.shutdown()

    def _map(self, ray, jobs, rec) -> Iterator[tuple[Job, RunOutcome]]:
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        task = ray.remote(execute_run)
        resources = {job.run_id: self._resources(job, cluster_gpus) for job in jobs}  # errors before any claim
        rec.claim(jobs)
        refs = {}
        pending: list = []
        n_done = 0
        try:
            for job in jobs:
                cpus, gpus = resources[job.run_id]
                if not job.finished():
                    rec.started(job)
                ref = task.options(num_cpus=cpus, num_gpus=gpus, max_retries=self.max_retries,
                                   name=job.label).remote(_quiet(job.plan), job.variant, job.seed, max(1, int(cpus)))
                refs[ref] = job
                pending.append(ref)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    job = refs[ref]
                    try:
                        o = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:
                        cause = getattr(e, "cause", None) or e
                        msg = f"{job.label}: {_one_line(cause)}"
                        rec.failed(job, _trace(cause) if isinstance(cause, BaseException) else str(e)[-4000:])
                        o = RunOutcome(job.run_id, job.variant, job.seed, False, 0.0, {}, job.plan.study, error=msg)
                    except ray.exceptions.RayError as e:  # the task was lost more often than max_retries
                        msg = f"{job.label}: {type(e).__name__} after {self.max_retries} retries"
                        rec.failed(job, f"{msg}: {str(e)[-3500:]}", "interrupted")
                        o = RunOutcome(job.run_id, job.variant, job.seed, False, 0.0, {}, job.plan.study, error=msg)
                    else:
                        n_done += 1
                        rec.finished(job, o, (n_done, len(refs)))
                    yield job, o
        except BaseException as e:  # Ctrl-C, SIGTERM (or the consumer stopped): cancel what has not finished
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # nosec B110  # the task may be finished already; it is recorded as interrupted next
                    pass
                rec.failed(refs[ref], None, "interrupted")
            rec.release(f"stopped: {_one_line(e)}")
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
