"""Runs: ids, artifact folders, atomic writes, execution with resume, and the study summary.

A run is one (study, variant, seed). Its id hashes the study's ``run_key`` (the resolved config
without ``seeds``), the variant, the seed and the study's code version. Artifacts live in
``<out>/runs/<study>/<run-id>/``: ``config.json``, ``metrics.json`` (written last: its presence
means "finished"), ``history.csv``, ``checkpoint.pt`` and the study's own arrays. A file lock on
the run folder keeps two processes from computing the same run at once.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dltour import DltourError, __version__
from dltour.config import config_hash
from dltour.data.source import file_lock
from dltour.device import DeviceInfo
from dltour.ledger import Ledger
from dltour.registry import RunResult, Study, Summary, Table
from dltour.results import Results


# ---------------------------------------------------------------- atomic files
def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default).encode())


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_csv_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def versions() -> dict[str, str]:
    import torch

    return {"dltour": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "platform": platform.platform()}


# ---------------------------------------------------------------- the context a run sees
@dataclass
class RunContext:
    """What ``Study.run`` gets: where to write, the device, checkpoints and progress."""

    study: str
    variant: str
    seed: int
    run_dir: Path
    device: DeviceInfo
    profile: str = "demo"
    progress: bool = True

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def load_checkpoint(self) -> dict | None:
        import torch

        if not self.checkpoint_path.exists():
            return None
        return torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)

    def save_checkpoint(self, state: dict) -> None:
        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.checkpoint_path, buf.getvalue())

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        write_csv_rows(self.run_dir / "history.csv", rows)

    def save_arrays(self, name: str = "arrays", **arrays) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        atomic_write_bytes(self.run_dir / f"{name}.npz", buf.getvalue())

    def save_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.run_dir / f"{name}.json", obj)

    @property
    def label(self) -> str:
        return f"{self.study}/{self.variant}/seed{self.seed}"


def _locked(run_dir: Path):
    return file_lock(run_dir / ".lock")


def run_id_for(study: Study, cfg, variant: str, seed: int) -> str:
    return config_hash({"study": study.name, "version": study.version, "variant": variant, "seed": seed,
                        "key": study.run_key(cfg, variant)})


@dataclass
class RunOutcome:
    run_id: str
    variant: str
    seed: int
    reused: bool
    seconds: float
    metrics: dict[str, float]


def execute_run(study_name: str, cfg_dict: dict, variant: str, seed: int, out: str, profile: str,
                device_name: str, progress: bool = True, threads: int | None = None) -> RunOutcome:
    """Run one cell (or reuse it if finished). Picklable arguments, so executors can ship it."""
    import torch

    from dltour.device import resolve_device
    from dltour.registry import get_study
    from dltour.seeding import seed_everything

    if threads:
        torch.set_num_threads(threads)
    study = get_study(study_name)
    cfg = study.Config.model_validate(cfg_dict)
    out_dir = Path(out)
    run_id = run_id_for(study, cfg, variant, seed)
    run_dir = out_dir / "runs" / study.name / run_id
    ledger = Ledger(out_dir / "ledger.sqlite")
    with _locked(run_dir):
        metrics_path = run_dir / "metrics.json"
        if metrics_path.exists():
            metrics = json.loads(metrics_path.read_text())
            ledger.record_reused(run_id, study.name, variant, seed, profile, metrics, cfg_dict)
            return RunOutcome(run_id, variant, seed, True, 0.0, metrics)
        dev = resolve_device(device_name)
        atomic_write_json(run_dir / "config.json", {"study": study.name, "variant": variant, "seed": seed,
                                                    "profile": profile, "config": cfg.model_dump()})
        ledger.start(run_id, study.name, variant, seed, profile, dev.name, dev.dtype_name, versions(),
                     cfg.model_dump())
        ctx = RunContext(study.name, variant, seed, run_dir, dev, profile, progress)
        seed_everything(seed)
        t0 = time.perf_counter()
        try:
            metrics = study.run(cfg, variant, seed, ctx)
        except KeyboardInterrupt:
            ledger.mark(run_id, "interrupted")
            raise
        except BaseException as e:
            ledger.mark(run_id, "failed", "".join(traceback.format_exception(e))[-4000:])
            raise
        seconds = time.perf_counter() - t0
        metrics = {k: float(v) for k, v in metrics.items()}
        atomic_write_json(metrics_path, metrics)
        ledger.finish(run_id, metrics, seconds)
        return RunOutcome(run_id, variant, seed, False, seconds, metrics)


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


def collect_results(study: Study, cfg, out_dir: Path) -> list[RunResult]:
    results = []
    for variant in study.variants(cfg):
        for seed in study.seed_list(cfg):
            rid = run_id_for(study, cfg, variant, seed)
            run_dir = out_dir / "runs" / study.name / rid
            mpath = run_dir / "metrics.json"
            if mpath.exists():
                results.append(RunResult(variant, seed, rid, run_dir, json.loads(mpath.read_text())))
    return results


def summarize_study(study: Study, cfg, profile: str, out_dir: Path) -> dict:
    """Call the study's summarize over its saved runs and write ``<out>/<study>/summary.json``."""
    results = collect_results(study, cfg, out_dir)
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
        "seconds": _study_seconds(out_dir, study.name, {r.run_id for r in results}),
    }
    atomic_write_json(summary_dir / "summary.json", doc)
    return doc


def _study_seconds(out_dir: Path, study: str, run_ids: set[str]) -> float:
    try:
        rows = Ledger(out_dir / "ledger.sqlite").rows(study)
    except Exception:
        return 0.0
    return float(sum(r["seconds"] or 0.0 for r in rows if r["run_id"] in run_ids))


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


def run_study(study: Study, cfg, profile: str, out: str | Path, executor: str = "local", workers: int = 1,
              device: str = "auto", progress: bool = True,
              log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Run every variant x seed (reusing finished runs), then summarize."""
    from dltour.executors import get_executor

    out_dir = check_out_dir(out)
    tasks = [(v, s) for v in study.variants(cfg) for s in study.seed_list(cfg)]
    # a pool is only worth its start-up for runs still to compute
    pending = [t for t in tasks if not (out_dir / "runs" / study.name / run_id_for(study, cfg, *t) / "metrics.json").exists()]
    Ledger(out_dir / "ledger.sqlite")  # created (in WAL mode) before any worker opens it
    ex = get_executor(executor, workers, study.small_runs, len(pending))
    outcomes = ex.map_runs(study.name, cfg.model_dump(), tasks, str(out_dir), profile, device, progress)
    reused = sum(o.reused for o in outcomes)
    log(f"{study.name}: {len(outcomes) - reused} run(s) computed, {reused} reused from {out_dir / 'runs' / study.name}")
    return summarize_study(study, cfg, profile, out_dir)
