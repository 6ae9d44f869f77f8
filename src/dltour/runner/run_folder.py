"""The run folder: where one run's files live and how they are read back.

A run is one (study, variant, seed); its folder is ``<out>/runs/<study>/<run-id>/`` and holds
``config.json``, ``metrics.json`` (written last, with the run's provenance: its presence means
"finished"), ``history.csv``, ``checkpoint.pt``, ``attempts``, ``nodes.json`` and the study's own
arrays, each written atomically (:mod:`dltour.fileio`). A study sees its run through
:class:`RunContext` while it trains and through :class:`dltour.summary.RunResult` when it
summarizes.

Checkpoints hold tensors and plain Python types only (numpy arrays become tensors, numpy scalars
Python numbers) and are loaded with ``torch.load(..., weights_only=True)``: a ``checkpoint.pt``
planted in a shared ``--out`` cannot run code on resume.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dltour.device import DeviceInfo
from dltour.errors import DltourError
from dltour.fileio import atomic_write_bytes, atomic_write_json, file_lock, read_csv_rows, write_csv_rows


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """The run's per-epoch history (``history.csv``), [] before its first epoch."""
    return read_csv_rows(Path(run_dir) / "history.csv")


# ---------------------------------------------------------------- where a run lives
def run_dir_for(out: str | Path, study: str, run_id: str) -> Path:
    return Path(out) / "runs" / study / run_id


PROVENANCE = "_run"  # the key of metrics.json that says whose metrics they are


class ForeignMetrics(DltourError):
    """A run folder's ``metrics.json`` does not belong to the run that would reuse it."""


def write_metrics(run_dir: Path, metrics: dict[str, float], provenance: dict) -> None:
    """Write the run's metrics with its provenance (run id and the digest of the configuration
    that determines the run) under :data:`PROVENANCE`; written last, it marks the run finished."""
    atomic_write_json(Path(run_dir) / "metrics.json", {**metrics, PROVENANCE: provenance})


def read_metrics(run_dir: Path, expect: dict | None = None, legacy_ok=None) -> dict[str, float] | None:
    """The metrics of a finished run (without their provenance), None while it is not finished.

    With ``expect`` (``{"run_id": ..., "key_digest": ...}``) the file must say it belongs to that
    run, else :class:`ForeignMetrics`: a folder copied or renamed from another run, or a
    ``metrics.json`` put there by hand, is never reused as this run's result. A file written before
    metrics carried their provenance is accepted only when ``legacy_ok(run_dir)`` says the
    folder's ``config.json`` describes this run."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict):
        raise ForeignMetrics(f"{path} is not a run's metrics (not a JSON object)")
    prov = doc.pop(PROVENANCE, None)
    if expect is not None:
        if prov is None:
            if legacy_ok is None or not legacy_ok(run_dir):
                raise ForeignMetrics(f"{path} carries no run id or config digest and its folder's config.json "
                                     f"does not describe run {expect.get('run_id')}: move the folder away to "
                                     f"recompute the run")
        elif not isinstance(prov, dict) or any(prov.get(k) != v for k, v in expect.items()):
            got = prov.get("run_id") if isinstance(prov, dict) else prov
            raise ForeignMetrics(f"{path} holds the metrics of run {got}, not of run {expect.get('run_id')} "
                                 f"(run id or config digest differ): move the folder away to recompute the run")
    return doc


def run_lock(run_dir: Path):
    """Held while a run computes: a second process (or worker) waits, then reuses its result."""
    return file_lock(Path(run_dir) / ".lock")


def count_attempt(run_dir: Path) -> int:
    """Add one to the run's attempt counter (kept in its folder, so a retry on another worker or
    node counts too) and return it. Call with the run's lock held."""
    path = Path(run_dir) / "attempts"
    n = int(path.read_text()) + 1 if path.exists() else 1
    atomic_write_bytes(path, str(n).encode())
    return n


# ---------------------------------------------------------------- checkpoints
def to_plain(obj: Any) -> Any:
    """Tensors and plain types only (what ``torch.load(weights_only=True)`` accepts): numpy arrays
    become tensors, numpy scalars Python numbers; containers are converted element-wise."""
    import torch

    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.array(obj, copy=True))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out = [to_plain(v) for v in obj]
        return tuple(out) if isinstance(obj, tuple) else out
    return obj


def save_checkpoint(path: Path, state: dict) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(to_plain(state), buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict | None:
    import torch

    path = Path(path)
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------- what a study sees
@dataclass
class RunContext:
    """What ``Study.run`` gets: where to write, the device (with its precision), checkpoints and
    progress."""

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
        return load_checkpoint(self.checkpoint_path)

    def save_checkpoint(self, state: dict) -> None:
        save_checkpoint(self.checkpoint_path, state)
        _test_kill_point(self.run_dir, state)

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


def _test_kill_point(run_dir: Path, state: dict) -> None:
    """For the tests of retries: with ``DLTOUR_TEST_KILL_AT_EPOCH=k`` a run kills its own process
    with SIGKILL right after saving its epoch-k checkpoint, once per run folder (a marker file
    remembers), as a crashed node would."""
    at = os.environ.get("DLTOUR_TEST_KILL_AT_EPOCH")
    if not at or state.get("epoch") != int(at):
        return
    marker = Path(run_dir) / ".test-killed"
    if marker.exists():
        return
    marker.write_text("killed once")
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
