"""How runs are carried out. Runs are independent, so executors are interchangeable.

- ``local``: one after the other, in this process (``run_study``'s default; progress bars shown).
- ``process``: a pool of ``workers`` processes on this machine (spawned, so CUDA is safe), each
  limited to ``cores // workers`` threads.
- ``auto`` (the CLI's default): ``process`` with one worker per core, one thread each, for a
  study whose runs are tiny single-threaded models (``Study.small_runs``: intra-op threads do not
  help them, a second process does) when there are several runs to compute; ``local`` otherwise.

A Ray executor only has to implement ``map_runs`` with the same signature.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
import multiprocessing as mp

from dltour import DltourError
from dltour.runs import RunOutcome, execute_run

EXECUTORS = ("auto", "local", "process")


class LocalExecutor:
    def map_runs(self, study, cfg_dict, tasks, out, profile, device, progress) -> list[RunOutcome]:
        return [execute_run(study, cfg_dict, v, s, out, profile, device, progress) for v, s in tasks]


class ProcessExecutor:
    def __init__(self, workers: int):
        self.workers = max(1, workers)

    def map_runs(self, study, cfg_dict, tasks, out, profile, device, progress) -> list[RunOutcome]:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn")) as pool:
            futs = [pool.submit(execute_run, study, cfg_dict, v, s, out, profile, device, False, threads)
                    for v, s in tasks]
            return [f.result() for f in futs]


class AutoExecutor:
    """``process`` (one worker per core, one thread each) for a study of tiny models with at least
    ``MIN_POOL`` runs still to compute on the CPU; the same runs in this process with one thread
    when fewer; ``local`` for every other study."""

    MIN_POOL = 4

    def __init__(self, small_runs: bool, pending: int):
        self.small_runs, self.pending = small_runs, pending

    def map_runs(self, study, cfg_dict, tasks, out, profile, device, progress) -> list[RunOutcome]:
        import torch

        cores = os.cpu_count() or 1
        on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
        if not (self.small_runs and on_cpu):
            return LocalExecutor().map_runs(study, cfg_dict, tasks, out, profile, device, progress)
        if cores >= 2 and self.pending >= self.MIN_POOL:
            return ProcessExecutor(cores).map_runs(study, cfg_dict, tasks, out, profile, device, progress)
        before = torch.get_num_threads()  # two intra-op threads only spin on a tiny model
        try:
            return [execute_run(study, cfg_dict, v, s, out, profile, device, progress, threads=1) for v, s in tasks]
        finally:
            torch.set_num_threads(before)


def get_executor(name: str, workers: int = 1, small_runs: bool = False, pending: int = 0):
    if name == "auto":
        return AutoExecutor(small_runs, pending)
    if name == "local":
        return LocalExecutor()
    if name == "process":
        if workers < 1:
            raise DltourError(f"--workers must be >= 1, got {workers}")
        return ProcessExecutor(workers)
    raise DltourError(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")
