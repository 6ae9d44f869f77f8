"""Experiment tracking with the field's own tools: ``--track mlflow|tensorboard``.

Tracking is written by the *driver*, never by the workers: after each run finishes the driver
calls :meth:`Tracker.log_run` with the run's saved per-epoch history and final metrics, and after
each study is summarized it calls :meth:`Tracker.log_summary`. Because nothing is logged from
inside training, tracking works the same with every executor (in-process, subprocess, Ray, ...).

What goes where
---------------
``none``
    Nothing (the base :class:`Tracker` is a no-op).
``mlflow`` (:class:`MlflowTracker`)
    Store: ``$MLFLOW_TRACKING_URI`` if set, else the local file store ``file:<out>/mlruns``
    (view it with ``mlflow ui --backend-store-uri <out>/mlruns``). MLflow 3.x keeps the file
    store working but in "maintenance mode": it refuses to open one unless
    ``MLFLOW_ALLOW_FILE_STORE=true``, so that opt-out is set (unless the user set it) whenever the
    store is a local folder. The file store needs nothing beyond ``mlflow-skinny``; a
    ``sqlite:///`` store would need SQLAlchemy and Alembic as well (the full ``mlflow`` package).

    * one experiment per study, named ``dltour/<study>``;
    * one MLflow run per dltour run, named ``<variant>/seed<seed>``, tagged ``study``,
      ``variant``, ``seed``, ``run_id``, ``profile``, ``device``, ``precision``;
      params: the run's config flattened to dotted keys (``data.path``, ``epochs``), values
      stringified and truncated to MLflow's length limit; step metrics: each history key except
      ``epoch`` at ``step=int(epoch)``; final metrics as ``final/<key>``. Non-finite values are
      not sent (stores disagree on them: NaN kept, inf clamped, ...); their names are listed in
      the tag ``skipped_nonfinite`` instead.
    * ``log_summary``: a run named ``summary`` holding the summary figures as artifacts under
      ``figures/``, the summary document as ``summary.json`` and, as metrics, each variant's
      aggregated mean ``<variant>.<metric>``.
``tensorboard`` (:class:`TensorBoardTracker`)
    Event files under ``<out>/tensorboard/`` written with ``torch.utils.tensorboard.SummaryWriter``
    (view with ``tensorboard --logdir <out>/tensorboard``):

    * ``<study>/<variant>-seed<seed>/``: text ``config`` (YAML), hparams (flattened config with the
      final metrics), one scalar per history key per epoch (tag ``<key>``, step = epoch) and the
      final metrics as scalars ``final/<key>``;
    * ``<study>/summary/``: each PNG figure as an image ``figures/<name>`` and each variant's
      aggregated mean as a scalar ``mean/<variant>/<metric>``.

The libraries are optional: ``pip install 'dltour[tracking]'``.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import json
import logging
import math
import os
import posixpath
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dltour import DltourError

TRACKERS = ("none", "mlflow", "tensorboard")

_log = logging.getLogger(__name__)

# MLflow's limits (mlflow.utils.validation); repeated here so the module imports without MLflow.
_MAX_KEY = 250
_MAX_PARAM_VALUE = 6000
_MAX_TAG_VALUE = 8000


def make_tracker(kind: str | None, out: Path) -> Tracker:
    """The tracker for ``--track KIND``, writing (by default) under the output folder ``out``.

    ``None``/``"none"`` gives a no-op tracker. Raises :class:`DltourError` (one line) for an
    unknown kind, a missing library or an MLflow store that cannot be opened.
    """
    name = "none" if kind is None else str(kind).strip().lower()
    if name not in TRACKERS:
        raise DltourError(f"unknown tracker {kind!r}; choose one of: {', '.join(TRACKERS)}")
    out = Path(out)
    if name == "mlflow":
        return MlflowTracker(out)
    if name == "tensorboard":
        return TensorBoardTracker(out)
    return Tracker()


class Tracker:
    """No-op tracker; the base of the real ones. Usable as a context manager (closes on exit)."""

    def log_run(
        self,
        *,
        study: str,
        variant: str,
        seed: int,
        run_id: str,
        profile: str,
        device: str,
        precision: str,
        config: dict,
        history: list[dict[str, float]],
        metrics: dict[str, float],
    ) -> None:
        """Record one finished run: its config, per-epoch ``history`` and final ``metrics``."""

    def log_summary(self, *, study: str, profile: str, doc: dict, figures: list[Path]) -> None:
        """Record a study's summary: ``doc["metrics"][variant][metric]["mean"]`` and its figures."""

    def close(self) -> None:
        """Flush and release whatever the tracker holds."""

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------- helpers
def _missing(kind: str, lib: str) -> DltourError:
    return DltourError(f"--track {kind} needs {lib}: pip install 'dltour[tracking]'")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _plain(value: Any) -> Any:
    """``value`` as JSON/YAML-friendly builtins (paths, enums, tuples ... become str/list)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """Nested dict -> ``{"a.b": scalar}``; lists and empty dicts become JSON strings."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, (dict, list, tuple, set, frozenset)):
            flat[name] = json.dumps(_plain(value), default=str)
        else:
            flat[name] = _plain(value)
    return flat


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _mlflow_name(name: str) -> str:
    """A key MLflow accepts on every OS: ``[/\\w.\\- ]``, no ``..``/``//``, at most 250 chars."""
    clean = re.sub(r"[^\w.\- /]", "_", str(name)) or "_"
    if posixpath.normpath(clean) != clean or clean.startswith(".."):
        clean = clean.replace("/", "_")
        if clean in {".", ".."} or clean.startswith(".."):
            clean = "_" + clean
    if len(clean) > _MAX_KEY:  # keep truncated keys distinct
        digest = hashlib.sha1(clean.encode()).hexdigest()[:8]
        clean = clean[: _MAX_KEY - 9] + "-" + digest
    return clean


def _number(value: Any) -> float | None:
    """``value`` as a float, or None if it is not a number (bools count as numbers)."""
    if isinstance(value, (str, bytes)) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _history_steps(history: list[dict[str, float]]):
    """Yield ``(step, key, value)`` for every history entry except ``epoch``."""
    for index, row in enumerate(history):
        epoch = _number(row.get("epoch"))
        step = int(epoch) if epoch is not None and math.isfinite(epoch) else index + 1
        for key, value in row.items():
            number = _number(value)
            if key != "epoch" and number is not None:
                yield step, str(key), number


def _path_part(text: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", str(text)).strip(".") or "_"


# -------------------------------------------------------------------------------------- MLflow
class MlflowTracker(Tracker):
    """Logs through an explicit ``mlflow.MlflowClient`` (no global fluent run state)."""

    def __init__(self, out: Path):
        try:
            from mlflow import MlflowClient
            from mlflow.exceptions import MlflowException
        except ImportError as err:
            raise _missing("mlflow", "MLflow") from err
        uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
        if not uri:
            root = Path(out).resolve() / "mlruns"
            root.mkdir(parents=True, exist_ok=True)
            uri = root.as_uri()
        if urlparse(uri).scheme in ("", "file") or len(urlparse(uri).scheme) == 1:
            # A local folder store: MLflow 3.x opens it only with this documented opt-out.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            self.client = MlflowClient(tracking_uri=uri)
        except (MlflowException, ImportError, OSError) as err:
            raise DltourError(f"cannot open MLflow store {uri}: {_one_line(err)}") from err
        self.uri = uri
        self._experiments: dict[str, str] = {}

    def _experiment_id(self, study: str) -> str:
        name = f"dltour/{study}"
        if name not in self._experiments:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                exp_id = self.client.create_experiment(name, tags={"study": study})
            else:
                exp_id = found.experiment_id
                if found.lifecycle_stage == "deleted":
                    self.client.restore_experiment(exp_id)
            self._experiments[name] = exp_id
        return self._experiments[name]

    def _log(self, run_name: str, study: str, tags: dict[str, Any], *, params=None, metrics=(),
             skipped=(), artifacts=(), texts=None) -> str:
        from mlflow.entities import Metric, Param

        tags = {k: _truncate(str(v), _MAX_TAG_VALUE) for k, v in tags.items()}
        if skipped:
            tags["skipped_nonfinite"] = _truncate(", ".join(sorted(set(skipped))), _MAX_TAG_VALUE)
        run = self.client.create_run(self._experiment_id(study), run_name=run_name, tags=tags)
        run_id = run.info.run_id
        try:
            now = int(time.time() * 1000)
            self.client.log_batch(
                run_id,
                metrics=[Metric(key, value, now, step) for key, value, step in metrics],
                params=[Param(k, v) for k, v in (params or {}).items()],
            )
            for path in artifacts:
                self.client.log_artifact(run_id, str(path), artifact_path="figures")
            for name, text in (texts or {}).items():
                self.client.log_text(run_id, text, name)
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    def log_run(self, *, study, variant, seed, run_id, profile, device, precision, config,
                history, metrics) -> None:
        params = {
            _mlflow_name(k): _truncate("None" if v is None else str(v), _MAX_PARAM_VALUE)
            for k, v in _flatten(config or {}).items()
        }
        points, skipped = [], []
        for step, key, value in _history_steps(history or []):
            (points if math.isfinite(value) else skipped).append((_mlflow_name(key), value, step))
        for key, value in (metrics or {}).items():
            number = _number(value)
            if number is not None:
                name = _mlflow_name(f"final/{key}")
                (points if math.isfinite(number) else skipped).append((name, number, 0))
        tags = dict(study=study, variant=variant, seed=seed, run_id=run_id, profile=profile,
                    device=device, precision=precision)
        self._log(f"{variant}/seed{seed}", study, tags, params=params, metrics=points,
                  skipped=[key for key, _, _ in skipped])

    def log_summary(self, *, study, profile, doc, figures) -> None:
        points, skipped = [], []
        for variant, per_metric in (doc.get("metrics") or {}).items():
            for metric, stats in (per_metric or {}).items():
                mean = _number(stats.get("mean")) if isinstance(stats, dict) else None
                name = _mlflow_name(f"{variant}.{metric}")
                if mean is not None and math.isfinite(mean):
                    points.append((name, mean, 0))
                else:
                    skipped.append(name)
        existing = [Path(p) for p in figures if Path(p).is_file()]
        for path in set(map(Path, figures)) - set(existing):
            _log.warning("tracking: summary figure %s does not exist; not logged", path)
        text = json.dumps(_plain(doc), indent=2, default=str)
        self._log("summary", study, {"study": study, "profile": profile}, metrics=points,
                  skipped=skipped, artifacts=existing, texts={"summary.json": text})


# --------------------------------------------------------------------------------- TensorBoard
class TensorBoardTracker(Tracker):
    """Event files under ``<out>/tensorboard`` via ``torch.utils.tensorboard.SummaryWriter``."""

    def __init__(self, out: Path):
        try:
            importlib.import_module("tensorboard")  # torch.utils.tensorboard writes through it
            from torch.utils.tensorboard import SummaryWriter
            from torch.utils.tensorboard.summary import hparams
        except ImportError as err:
            raise _missing("tensorboard", "TensorBoard") from err
        self._writer_cls = SummaryWriter
        self._hparams = hparams
        self.root = Path(out) / "tensorboard"

    def log_run(self, *, study, variant, seed, run_id, profile, device, precision, config,
                history, metrics) -> None:
        import yaml

        log_dir = self.root / _path_part(study) / f"{_path_part(variant)}-seed{seed}"
        finals = {f"final/{k}": n for k, v in (metrics or {}).items() if (n := _number(v)) is not None}
        with self._writer_cls(log_dir=str(log_dir)) as writer:
            info = dict(study=study, variant=variant, seed=seed, run_id=run_id, profile=profile,
                        device=device, precision=precision)
            dump = yaml.safe_dump({**info, "config": _plain(config or {})}, sort_keys=False)
            writer.add_text("config", "\n".join("    " + line for line in dump.splitlines()))
            hp = {k: (_truncate(v, 1000) if isinstance(v, str) else v)
                  for k, v in _flatten({**(config or {}), **info}).items()}
            # Written into this run's own folder (add_hparams would open a sub-folder).
            file_writer = writer._get_file_writer()
            for summary in self._hparams(hp, finals):
                file_writer.add_summary(summary)
            for step, key, value in _history_steps(history or []):
                writer.add_scalar(key, value, step)
            for tag, value in finals.items():
                writer.add_scalar(tag, value, 0)

    def log_summary(self, *, study, profile, doc, figures) -> None:
        import numpy as np
        from PIL import Image

        with self._writer_cls(log_dir=str(self.root / _path_part(study) / "summary")) as writer:
            for variant, per_metric in (doc.get("metrics") or {}).items():
                for metric, stats in (per_metric or {}).items():
                    mean = _number(stats.get("mean")) if isinstance(stats, dict) else None
                    if mean is not None:
                        writer.add_scalar(f"mean/{variant}/{metric}", mean, 0)
            for path in map(Path, figures):
                if not path.is_file() or path.suffix.lower() != ".png":
                    _log.warning("tracking: %s is not an existing PNG; not logged", path)
                    continue
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("RGB"))
                writer.add_image(f"figures/{path.stem}", pixels, 0, dataformats="HWC")
            writer.add_text("profile", str(profile))
