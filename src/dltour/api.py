"""The Python API, for notebooks and scripts; the command line is a thin layer over it.

    import dltour
    doc = dltour.run("airline-lstm", profile="demo", out="dl")   # the study's summary (a dict)
    dltour.reproduce(only=["T2.1", "T5.1"], out="dl")            # every study (or some), then the report
    df = dltour.results("dl")                                    # every run: a pandas DataFrame

Errors a user can fix raise :class:`dltour.DltourError` with a one-line message.

**Scripts without a main guard.** ``dltour.run`` and ``dltour.reproduce`` may be called from the
top level of a plain script, with no ``if __name__ == "__main__":``. The process pool's workers
are spawned (a fresh interpreter: safe with CUDA), and a spawned worker normally imports the
caller's ``__main__`` again, which would run the script (and its dltour call) once more in every
worker. So the API looks at where it is called from: when the call comes from ``__main__``'s top
level code outside a ``__name__ == "__main__"`` block, the pool's workers are started without
importing ``__main__`` (they need only dltour's modules), and a study defined in that script
itself runs in this process instead (``local``). A guarded script, a function called from a
guarded block, a notebook and the command line are unchanged.

**Interruptions.** SIGINT (Ctrl-C) and SIGTERM stop the driver's workers and record every run it
leaves as ``interrupted`` (finished runs stay ``finished``); after a SIGTERM the process then exits
by SIGTERM. A run left ``running`` by a driver that was killed outright shows as ``stale`` in
:func:`results` and is taken over by the next run of the same id.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from dltour.errors import DltourError


def _executor(executor: str, workers: int, address: str | None, gpus_per_run: float | None, max_retries: int):
    from dltour.runner.executors import get_executor

    if executor != "ray" and (address is not None or gpus_per_run is not None):
        raise DltourError("--address and --gpus-per-run are for --executor ray")
    ex = get_executor(executor, workers, address, gpus_per_run, max_retries)
    if hasattr(ex, "reimport_main") and unguarded_main_call():
        ex.reimport_main = False  # workers must not run the caller's script again
    return ex


def _guard_test(node) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    import ast

    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return False
    sides = [node.left, node.comparators[0]]
    return any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides) and \
        any(isinstance(x, ast.Constant) and x.value == "__main__" for x in sides)


def unguarded_main_call() -> bool:
    """True when this call comes (through any functions) from the top-level code of a
    ``__main__`` that a spawned worker would import again (it has a file, or a module name) and
    the line is not inside an ``if __name__ == "__main__":`` block."""
    import ast
    import linecache

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path:
        return False  # a notebook, `python -c`, an interactive session: nothing is imported again
    spec = getattr(main, "__spec__", None)
    if spec is not None and (spec.name == "__main__" or spec.name.endswith(".__main__")):
        return False  # `python -m pkg`: a worker does not import pkg/__main__.py
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_globals is main.__dict__ and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:
        return False  # not called from __main__'s top level (e.g. the CLI's main(), a test)
    line = frame.f_lineno
    try:
        tree = ast.parse("".join(linecache.getlines(path)) or Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return True  # cannot tell: the safe side
    for node in tree.body:
        if isinstance(node, ast.If) and _guard_test(node.test) and \
                node.body[0].lineno <= line <= (node.body[-1].end_lineno or line):
            return False
    return True


def _tracker(track: str | None, out: Path):
    if track in (None, "none"):
        return None
    from dltour.tracking import make_tracker

    return make_tracker(track, out)


def _overrides(set: dict[str, Any] | Iterable[str] | None, seeds: int | None) -> dict[str, Any]:
    from dltour.config import parse_set

    over = dict(set) if isinstance(set, dict) else parse_set(list(set or []))
    if seeds is not None:
        over["seeds"] = seeds
    return over


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def run(study: str, profile: str = "demo", out: str | Path = "dltour-out", *, seeds: int | None = None,
        set: dict[str, Any] | Iterable[str] | None = None, executor: str = "auto", workers: int = 2,
        address: str | None = None, gpus_per_run: float | None = None, max_retries: int = 2,
        device: str = "auto", precision: str = "auto", track: str | None = None, progress: bool = True,
        log: Callable[[str], None] = _stderr) -> dict:
    """Run every variant x seed of one study (finished runs are reused), summarize, and return
    the summary (what ``<out>/<study>/summary.json`` holds). ``set``: config overrides, as a dict
    of dotted keys (``{"epochs": 5, "data.path": "..."}``) or ``--set``-style strings."""
    from dltour.config import resolve_config
    from dltour.device import resolve_device
    from dltour.registry import get_study
    from dltour.runner.driver import run_study

    st = get_study(study)
    cfg = resolve_config(st, profile, _overrides(set, seeds))
    if executor != "ray":  # a Ray worker resolves the device where it runs
        resolve_device(device, precision)
    ex = _executor(executor, workers, address, gpus_per_run, max_retries)
    tracker = _tracker(track, Path(out))
    try:
        return run_study(st, cfg, profile, out, ex, device, precision, progress, tracker, log)
    finally:
        if tracker is not None:
            tracker.close()


def reproduce(profile: str = "demo", out: str | Path = "dltour-out", *, only: Iterable[str] | str | None = None,
              executor: str = "auto", workers: int = 2, address: str | None = None,
              gpus_per_run: float | None = None, max_retries: int = 2, device: str = "auto",
              precision: str = "auto", track: str | None = None, progress: bool = True,
              log: Callable[[str], None] = _stderr, on_summary: Callable[[dict], None] | None = None,
              results: Iterable[str | Path] = (), no_results: bool = False,
              config: str | Path | None = None) -> dict:
    """Run every study (or ``only`` some, by name or task id), then write the report. ``config``:
    a TOML or YAML file of config keys (shared, or in a table per study) over each profile. Returns
    ``{"report": (index.html, report.md), "summaries": [...], "skipped": [(study, why), ...],
    "seconds": wall}``; a study whose data is missing is skipped and named, the others go on.
    The report includes the project's results pack (``docs/results/pack.json``) unless
    ``no_results``, and each results pack folder of ``results``."""
    import time

    from dltour.config import resolve_config
    from dltour.device import resolve_device
    from dltour.registry import all_studies, get_study
    from dltour.report import build_report
    from dltour.runner.driver import check_out_dir, run_studies

    names = [n.strip() for n in only.split(",")] if isinstance(only, str) else list(only or [])
    studies = [get_study(n) for n in names if n] if names else all_studies()
    if config is not None:
        from dltour.config import config_file_overrides

        cfgs = [(s, resolve_config(s, profile, config_file_overrides(config, s, all_studies()), origin=f"--config {config}"))
                for s in studies]  # validate all before running any
    else:
        cfgs = [(s, resolve_config(s, profile)) for s in studies]
    from dltour.report.pack import packs_for

    results = list(results or ())
    packs_for(results, not no_results)  # a mistyped --results or a broken pack stops here, not after training
    if executor != "ray":
        resolve_device(device, precision)
    ex = _executor(executor, workers, address, gpus_per_run, max_retries)
    check_out_dir(out)
    tracker = _tracker(track, Path(out))
    t0 = time.perf_counter()
    try:
        docs, skipped = run_studies(cfgs, profile, out, ex, device, precision, progress, tracker, log, on_summary)
    finally:
        if tracker is not None:
            tracker.close()
    paths = build_report(out, skipped=skipped, wall_seconds=time.perf_counter() - t0, results=results,
                         default_results=not no_results)
    return {"report": paths, "summaries": docs, "skipped": skipped, "seconds": time.perf_counter() - t0}


def results(out: str | Path = "dltour-out"):
    """Every run recorded under ``out`` as a pandas DataFrame, one row per run: study, variant,
    seed, profile, status (pending, running, finished, failed, interrupted, or ``stale``: left
    running by a driver that is gone), device, precision, seconds, attempts, run_id, then one
    column per metric (NaN where a study has no such metric), read from the ledger and the run folders."""
    import pandas as pd

    from dltour.runner.ledger import Ledger
    from dltour.runner.run_folder import ForeignMetrics, read_metrics, run_dir_for

    path = Path(out) / "ledger.sqlite"
    if not path.exists():
        raise DltourError(f"{out} has no ledger.sqlite: run `dltour run` or `dltour reproduce --out {out}` first")
    rows = []
    for r in Ledger(path).rows():
        try:  # the folder's metrics if they are this row's run (a file from before provenance: trusted)
            metrics = read_metrics(run_dir_for(out, r["study"], r["run_id"]), {"run_id": r["run_id"]},
                                   lambda _: True) or r["metrics"] or {}
        except ForeignMetrics:
            metrics = r["metrics"] or {}
        rows.append({"study": r["study"], "variant": r["variant"], "seed": r["seed"], "profile": r["profile"],
                     "status": r["status"], "device": r["device"], "precision": r["precision"],
                     "seconds": r["seconds"], "attempts": r["attempts"], "run_id": r["run_id"], **metrics})
    return pd.DataFrame(rows)
