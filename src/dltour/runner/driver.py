"""The driver: plan a study's runs, hand them to an executor, record them and summarize the study.

A run is one (study, variant, seed). Its id hashes the study's ``run_key`` (the resolved config
without ``seeds``), the variant, the seed, the study's code version and an explicit
``--precision``. Its files live in its run folder (:mod:`dltour.runner.run_folder`). A file lock on the run
folder keeps two processes from computing the same run at once.

The path from the command line to a run is one straight line: the API (:mod:`dltour.api`, which
the CLI calls) resolves the study and its config and builds an executor (:mod:`dltour.runner.executors`)
and hands it to :func:`run_study` (one study) or :func:`run_studies` (``reproduce``), which build
a :class:`~dltour.runner.plan.RunPlan` per study (study, config, profile, out, device, precision) and
its jobs. The executor calls :func:`~dltour.runner.execute.execute_run` wherever it runs (this process, a
process pool, a Ray worker); only this process, the driver, writes the SQLite ledger (through
:class:`~dltour.runner.execute.Recorder`), and the tracker.
"""

from __future__ import annotations

import math
import os
import platform
import signal
import sys
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dltour.claims import TASKS
from dltour.errors import DltourError
from dltour.fileio import atomic_write_bytes, atomic_write_json
from dltour.gitinfo import git_commit
from dltour.registry import Study
from dltour.runner.execute import Recorder, RunOutcome, set_stop_requested, stop_requested
from dltour.runner.executors import LocalExecutor
from dltour.runner.ledger import Ledger
from dltour.runner.plan import RunPlan, jobs_for, legacy_check, provenance
from dltour.runner.run_folder import read_metrics, run_dir_for
from dltour.summary import Ref, Results, RunResult, StudySummary, Summary, Table, data_gate, undeclared
from dltour.verdicts import finite_or_none


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


class Terminated(KeyboardInterrupt):
    """SIGTERM reached the driver: raised where it waits, so every executor's Ctrl-C path records
    the runs it leaves (``interrupted``); then the driver exits by SIGTERM."""


@contextmanager
def _driver_signals():
    """SIGINT and SIGTERM in the driver raise (KeyboardInterrupt, :class:`Terminated`) where it
    is, so the executor stops its workers and the recorder marks the open runs ``interrupted``.
    After that a SIGTERM is delivered again with the handler the caller had (by default: the
    process exits by SIGTERM). A second SIGTERM while the runs are recorded is ignored. Outside
    the main thread (where Python cannot set handlers) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    state = {"term": False, "done": False}

    def deliver_to_caller():
        """A SIGTERM, handled as the caller's handler would (by default: exit by SIGTERM)."""
        signal.signal(signal.SIGTERM, old_term if old_term is not None else signal.SIG_DFL)
        signal.signal(signal.SIGINT, old_int if old_int is not None else signal.SIG_DFL)
        if old_term in (signal.SIG_DFL, None):
            sys.stderr.flush()
            signal.raise_signal(signal.SIGTERM)  # exit as a process killed by SIGTERM
        elif callable(old_term):
            old_term(signal.SIGTERM, None)

    def on_term(signum, frame):
        if state["term"]:
            return
        state["term"] = True
        if state["done"]:  # the work has ended and the handlers are being put back: nothing to record, so the
            deliver_to_caller()  # signal goes where it would have gone (raising here escaped as an error)
            return
        set_stop_requested(signal.SIGTERM)
        raise Terminated("SIGTERM")

    def on_int(signum, frame):
        set_stop_requested(signal.SIGINT)
        raise KeyboardInterrupt

    set_stop_requested(None)
    try:  # a signal may land as soon as its handler is set: from there on, every way out is handled below
        if old_term is not signal.SIG_IGN:
            signal.signal(signal.SIGTERM, on_term)
        if old_int is not signal.SIG_IGN:  # an ignored SIGINT (a background job) stays ignored
            signal.signal(signal.SIGINT, on_int)
        yield
        state["done"] = True
    except BaseException as e:  # raised inside C++ code, the handler's exception may come back as another one
        if state["term"]:
            deliver_to_caller()
            if not isinstance(e, Terminated):
                raise Terminated("SIGTERM") from e
        elif isinstance(e, Exception) and stop_requested() == signal.SIGINT:
            raise KeyboardInterrupt from e
        raise
    finally:
        state["done"] = True
        set_stop_requested(None)
        signal.signal(signal.SIGTERM, old_term if old_term is not None else signal.SIG_DFL)
        signal.signal(signal.SIGINT, old_int if old_int is not None else signal.SIG_DFL)


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
    executor = executor or LocalExecutor()
    out_dir = check_out_dir(out)
    items, unready = preflight(items, log, raise_errors)  # before the ledger or any run folder is touched
    rec = Recorder(out_dir, tracker, log)  # the ledger exists (in WAL mode) before any worker runs
    with _driver_signals():
        try:
            docs, failed = _run_studies(items, profile, out_dir, executor, device, precision, progress, tracker,
                                        log, on_summary, raise_errors, rec)
            return docs, unready + failed
        finally:
            rec.release("the driver stopped")  # every way out: no run this driver claimed stays open


def preflight(items: list[tuple[Study, Any]], log: Callable[[str], None], raise_errors: bool = False
              ) -> tuple[list[tuple[Study, Any]], list[tuple[str, str]]]:
    """Each study's data resolved (every dataset once, however many studies read it) and read
    where that is cheap (``Study.check_data``), in the driver, before any run: the studies that
    can run, and (study, one line) for the others, each line printed once. With ``raise_errors``
    (``dltour run``: one study) the first such line is raised instead."""
    from dltour.data.resolve import resolve_studies

    ok, bad = resolve_studies([(s.name, cfg) for s, cfg in items])
    ready, unready = [], []
    for study, cfg in items:
        try:
            if study.name in bad:
                raise DltourError(bad[study.name].removeprefix(f"{study.name} skipped: ")
                                  .removeprefix(f"{study.name}: "))
            study.preflight(cfg, resolve=False)
        except DltourError as e:
            msg = str(e) if str(e).startswith(f"{study.name}: ") else f"{study.name}: {e}"
            if raise_errors:
                raise DltourError(msg) from None
            log(f"skipped {msg}")
            unready.append((study.name, msg.removeprefix(f"{study.name}: ")))
            continue
        ready.append((study, cfg))
    return ready, unready


def _run_studies(items, profile, out_dir, executor, device, precision, progress, tracker, log, on_summary,
                 raise_errors, rec) -> tuple[list[dict], list[tuple[str, str]]]:
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
                summ = StudySummary.from_dict(doc)
                tracker.log_summary(study=name, profile=profile, doc=summ,
                                    figures=[out_dir / name / f for f in summ.figures])
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
            prov = provenance(study, cfg, variant, seed, precision)
            rid = prov["run_id"]
            run_dir = run_dir_for(out_dir, study.name, rid)
            metrics = read_metrics(run_dir, prov, legacy_check(study, variant, seed, prov, precision))
            if metrics is not None:
                results.append(RunResult(variant, seed, rid, run_dir, metrics))
    return results


def summarize_study(study: Study, cfg, profile: str, out_dir: Path, precision: str = "auto") -> dict:
    """Call the study's summarize over its saved runs and write ``<out>/<study>/summary.json``:
    with the study's ``version`` (``study_version``), the dltour commit that wrote it
    (``dltour_commit``) and the raw per-seed values behind ``metrics`` (``per_run``), so a summary
    kept in a results pack says what computed it and can be decided again later."""
    results = collect_results(study, cfg, out_dir, precision)
    summary_dir = out_dir / study.name
    summary_dir.mkdir(parents=True, exist_ok=True)
    summary: Summary = study.summarize(cfg, results, summary_dir)
    cmp = study.comparison(cfg)
    summary.findings = data_gate(summary.findings, cmp, study.claims_about)  # one gate for every study
    if TASKS.get(study.task) == study.name:  # one of the reference's studies: its findings are declared as data
        loose = undeclared(study.task, [f.id for f in summary.findings])
        if loose:
            raise TypeError(f"{study.name}: finding(s) {', '.join(loose)} not declared in its findings table "
                            f"(dltour.summary.declare)")
    per_variant: dict[str, dict[str, list[float]]] = {}
    for r in results:
        for k, v in r.metrics.items():
            per_variant.setdefault(r.variant, {}).setdefault(k, []).append(v)
    for variant, ms in summary.extra_metrics.items():
        for k, vs in ms.items():
            per_variant.setdefault(variant, {})[k] = list(vs)
    metrics = {var: {k: aggregate(vs) for k, vs in ms.items()} for var, ms in per_variant.items()}
    per_run = _per_run(study, cfg, results, summary.extra_metrics)
    bad = [t for t in summary.tables if not isinstance(t, Table)]
    if bad:
        raise TypeError(f"{study.name}: Summary.tables takes Table objects (data), got {type(bad[0]).__name__}")
    summ = StudySummary(
        study=study.name, study_version=study.version, dltour_commit=git_commit(), task=study.task,
        title=study.title, profile=profile, comparable=cmp.ok, comparison=cmp, config=cfg.model_dump(),
        metrics=metrics,
        # the raw values behind ``metrics``: variant -> metric -> {seed: value} (NaN as null), so a
        # results pack can be decided again later from the summary alone
        per_run=per_run,
        # the study's own order (variants, then its baselines): JSON objects are written key-sorted
        variant_order=list(dict.fromkeys([*study.variants(cfg), *summary.extra_metrics, *metrics])),
        headline_metrics=study.headline_metrics,
        reference=[Ref(r.source, r.variant, r.metric, r.value, r.note) for r in study.reference],
        findings=summary.findings,
        # file names relative to the study folder (``<out>/<study>/``), so the summary means the same
        # whatever the working directory and wherever the folder is copied
        figures=[Path(f).name for f in summary.figures],
        tables=list(summary.tables), nan_runs=Results(results).nan_runs(), notes=summary.notes, runs=len(results),
        **_ledger_facts(out_dir, study.name, {r.run_id for r in results}),
    )
    doc = summ.to_dict()
    atomic_write_json(summary_dir / "summary.json", doc)
    return doc


def _per_run(study: Study, cfg, results: list[RunResult],
             extra: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """variant -> metric -> {seed: value} over the finished runs, then the study's extra metrics
    (baselines): keyed by seed when they list one value per seed of the config, else by position
    (``"#0"``, ``"#1"``...: a baseline computed once, not per seed)."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for r in results:
        for k, v in r.metrics.items():
            out.setdefault(r.variant, {}).setdefault(k, {})[str(r.seed)] = finite_or_none(v)
    seeds = study.seed_list(cfg)
    for variant, ms in extra.items():
        for k, vs in ms.items():
            vs = list(vs)
            keys = [str(s) for s in seeds] if len(vs) == len(seeds) and len(seeds) > 1 else \
                [f"#{i}" for i in range(len(vs))]
            out.setdefault(variant, {})[k] = {key: finite_or_none(v) for key, v in zip(keys, vs)}
    return out


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
        # a fresh private file, never one at a fixed name that a planted symlink could redirect
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".dltour-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise DltourError(f"--out {str(out_dir)!r} is not writable: {e.strerror or e}") from None
    return out_dir
