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
    Store: ``$MLFLOW_TRACKING_URI`` if set, else the SQLite database ``<out>/mlflow.db`` (MLflow 3's
    recommended local backend; no environment variable needed) with artifacts under
    ``<out>/mlartifacts``. Open it with ``mlflow ui --backend-store-uri sqlite:///<out>/mlflow.db``
    (an absolute ``<out>`` makes four slashes). A database store needs the full ``mlflow`` package
    (SQLAlchemy, Alembic; Flask for the UI), which ``pip install 'dltour[tracking]'`` installs. A
    file store the user names in ``$MLFLOW_TRACKING_URI`` still works: MLflow 3.x opens one only
    with ``MLFLOW_ALLOW_FILE_STORE=true``, which is set for that case (unless the user set it).

    * one experiment per study, named ``dltour/<study>``;
    * runs nested study -> variant -> seed (``mlflow.parentRunId`` tags, as ``nested=True`` sets;
      tag ``dltour.level``): per command, a parent run per study (named ``<study>``) and under it
      one per variant (named ``<variant>``); parents end FINISHED with their study's summary,
      KILLED if the study never got one;
    * one MLflow run per finished dltour run, a child of its variant's run, named
      ``<variant>/seed<seed>``, tagged ``study``, ``variant``, ``seed``, ``run_id``, ``profile``,
      ``device``, ``precision``; params: the run's config flattened to dotted keys (``data.path``,
      ``epochs``), values stringified and truncated to MLflow's length limit; step metrics: each
      history key except ``epoch`` at ``step=int(epoch)``; final metrics as ``final/<key>``; the
      training seconds as ``train_seconds`` (the run's start and end times span the training, so
      MLflow's Duration column is the training time, not the logging's). Non-finite values are
      not sent (stores disagree on them: NaN kept, inf clamped, ...); their names are listed in
      the tag ``skipped_nonfinite`` instead.
    * ``log_summary``: a run named ``summary`` (child of the study's run) holding the summary
      figures as artifacts under ``figures/``, the summary document as ``summary.json`` and, as
      metrics, per variant and metric ``<variant>.<metric>.mean``, ``.sd``, ``.n``, ``.ci95``
      (the 95% CI half-width, Student t over seeds), ``.ci95_low`` and ``.ci95_high``; each
      variant's parent run gets the same as ``<metric>.mean`` etc., so the runs table compares
      variants side by side.
``tensorboard`` (:class:`TensorBoardTracker`)
    Event files under ``<out>/tensorboard/`` written with ``torch.utils.tensorboard.SummaryWriter``
    (view with ``tensorboard --logdir <out>/tensorboard``):

    * ``<study>/<variant>-seed<seed>/``: text ``config`` (YAML), hparams (flattened config with the
      final metrics), one scalar per history key per epoch (tag ``<key>``, step = epoch) and the
      final metrics as scalars ``final/<key>``, the training seconds as ``train_seconds``;
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
from typing import Any, Protocol
from urllib.parse import urlparse

from dltour.errors import DltourError

TRACKERS = ("none", "mlflow", "tensorboard")

_log = logging.getLogger(__name__)

# MLflow's limits (mlflow.utils.validation); repeated here so the module imports without MLflow.
_MAX_KEY = 250
_MAX_PARAM_VALUE = 6000
_MAX_TAG_VALUE = 8000


class SummaryDoc(Protocol):
    """What a tracker reads of a study's summary: a :class:`dltour.summary.StudySummary` (the
    package's floors keep this module below ``dltour.summary``, so it is named by what it has)."""

    metrics: dict[str, dict[str, dict[str, Any]]]

    def to_dict(self) -> dict: ...


TRAIN_SECONDS = "train_seconds"
"""The metric (MLflow) / scalar (TensorBoard) holding a run's training time in seconds, as the
ledger records it (``Study.run`` alone: not the logging, not the time in a queue)."""


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
        seconds: float | None = None,
        started: float | None = None,
        **extra: Any,
    ) -> None:
        """Record one finished run: its config, per-epoch ``history`` and final ``metrics``;
        ``seconds``/``started`` (training time, its start in epoch seconds) default to the ledger's."""

    def log_summary(self, *, study: str, profile: str, doc: SummaryDoc, figures: list[Path]) -> None:
        """Record a study's summary (a :class:`dltour.summary.StudySummary`):
        ``doc.metrics[variant][metric]["mean"]`` and its figures."""

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
        digest = hashlib.sha1(clean.encode(), usedforsecurity=False).hexdigest()[:8]
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


def _timing(out: Path, run_id: str, seconds: Any, started: Any) -> tuple[float | None, float | None]:
    """A finished run's training seconds and start (epoch seconds): as given, else from the
    ledger row the driver wrote just before logging (``<out>/ledger.sqlite``), else None."""
    seconds, started = _number(seconds), _number(started)
    if seconds is None or started is None:
        path = Path(out) / "ledger.sqlite"
        if path.is_file():
            import sqlite3

            try:
                con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
                try:
                    row = con.execute("SELECT seconds, started FROM runs WHERE run_id=?", (run_id,)).fetchone()
                finally:
                    con.close()
            except sqlite3.Error:
                row = None
            if row:
                seconds = seconds if seconds is not None else _number(row[0])
                started = started if started is not None else _number(row[1])
    if seconds is not None and not math.isfinite(seconds):
        seconds = None
    return seconds, started


# -------------------------------------------------------------------------------------- MLflow
def default_mlflow_uri(out: Path) -> str:
    """The store ``--track mlflow`` uses without ``$MLFLOW_TRACKING_URI``: ``sqlite:///<out>/mlflow.db``
    (an absolute path, so ``sqlite:////abs/out/mlflow.db``)."""
    return "sqlite:///" + (Path(out).resolve() / "mlflow.db").as_posix()


def _is_file_store(uri: str) -> bool:
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a bare path, file:..., or C:\...


def _quiet_mlflow_logs() -> None:
    """Opening a new SQLite store runs Alembic's migrations, which log a dozen INFO lines."""
    for name in ("alembic", "alembic.runtime.migration", "mlflow.store.db.utils", "mlflow.tracking.fluent"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _summary_stats(stats: Any) -> dict[str, float] | None:
    """``{mean, sd, n, ci95, ci95_low, ci95_high}`` (finite values only) from a summary's
    ``{mean, std, ci95, n}``; None without a finite mean."""
    if not isinstance(stats, dict):
        return None
    mean = _number(stats.get("mean"))
    if mean is None or not math.isfinite(mean):
        return None
    out = {"mean": mean}
    n = _number(stats.get("n"))
    if n is not None:
        out["n"] = n
    sd = _number(stats.get("std"))
    if sd is not None and math.isfinite(sd):
        out["sd"] = sd
    half = _number(stats.get("ci95"))
    if half is not None and math.isfinite(half):
        out.update(ci95=half, ci95_low=mean - half, ci95_high=mean + half)
    return out


class MlflowTracker(Tracker):
    """Logs through an explicit ``mlflow.MlflowClient`` (no global fluent run state).

    Runs are nested study -> variant -> seed (``mlflow.parentRunId`` tags, what ``nested=True``
    sets): per tracker (one ``dltour`` command) one parent run per study and, under it, one per
    variant; each finished dltour run is a child of its variant's run, and the summary run a child
    of the study's run."""

    def __init__(self, out: Path):
        try:
            from mlflow import MlflowClient
        except ImportError as err:
            raise _missing("mlflow", "MLflow") from err
        self.out = Path(out)
        uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
        self.local = not uri
        if self.local:
            self.out.mkdir(parents=True, exist_ok=True)
            uri = default_mlflow_uri(self.out)
        elif _is_file_store(uri):
            # A file store the user chose: MLflow 3.x opens one only with this documented opt-out.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        _quiet_mlflow_logs()
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.client.search_experiments(max_results=1)  # opens (and for SQLite creates) the store now
        except ImportError as err:  # mlflow-skinny has no SQLAlchemy/Alembic for a database store
            raise DltourError(f"--track mlflow needs the full MLflow package to open {uri} "
                              f"({_one_line(err)}): pip install 'dltour[tracking]'") from err
        except Exception as err:  # MlflowException, OSError, a driver error: any store error is one line
            raise DltourError(f"cannot open MLflow store {uri}: {_one_line(err)}") from err
        self.uri = uri
        self._experiments: dict[str, str] = {}
        self._parents: dict[tuple[str, ...], str] = {}  # (study,) / (study, variant) -> MLflow run id
        self._open: dict[str, str] = {}  # parent run id -> study, until its study's summary ends it

    def _experiment_id(self, study: str) -> str:
        name = f"dltour/{study}"
        if name not in self._experiments:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                # beside the database, not MLflow's default ./mlruns under whatever folder we run in
                where = (self.out.resolve() / "mlartifacts").as_uri() if self.local else None
                exp_id = self.client.create_experiment(name, artifact_location=where, tags={"study": study})
            else:
                exp_id = found.experiment_id
                if found.lifecycle_stage == "deleted":
                    self.client.restore_experiment(exp_id)
            self._experiments[name] = exp_id
        return self._experiments[name]

    def _parent(self, study: str, profile: str, variant: str | None = None) -> str:
        """The run id of this command's parent run for ``study`` (or its ``variant``), made on first use."""
        key = (study,) if variant is None else (study, variant)
        if key not in self._parents:
            tags = {"study": study, "profile": profile, "dltour.level": "study" if variant is None else "variant"}
            if variant is not None:
                tags.update(variant=variant, **{"mlflow.parentRunId": self._parent(study, profile)})
            name = study if variant is None else variant
            run = self.client.create_run(self._experiment_id(study), run_name=name,
                                         tags={k: _truncate(str(v), _MAX_TAG_VALUE) for k, v in tags.items()})
            self._parents[key] = run.info.run_id
            self._open[run.info.run_id] = study
        return self._parents[key]

    def _end_parents(self, study: str | None, status: str) -> None:
        for run_id, owner in list(self._open.items()):
            if study is None or owner == study:
                del self._open[run_id]
                self.client.set_terminated(run_id, status=status)

    def _log(self, run_name: str, study: str, tags: dict[str, Any], *, params=None, metrics=(),
             skipped=(), artifacts=(), texts=None, start_ms: int | None = None,
             end_ms: int | None = None) -> str:
        from mlflow.entities import Metric, Param

        tags = {k: _truncate(str(v), _MAX_TAG_VALUE) for k, v in tags.items()}
        if skipped:
            tags["skipped_nonfinite"] = _truncate(", ".join(sorted(set(skipped))), _MAX_TAG_VALUE)
        run = self.client.create_run(self._experiment_id(study), run_name=run_name, tags=tags, start_time=start_ms)
        run_id = run.info.run_id
        try:
            now = int(time.time() * 1000)
            metrics, params = list(metrics), list((params or {}).items())
            for i in range(0, len(params), 100):  # MLflow's batch limits: 100 params, 1000 metrics
                self.client.log_batch(run_id, params=[Param(k, v) for k, v in params[i:i + 100]])
            for i in range(0, len(metrics), 1000):
                self.client.log_batch(run_id, metrics=[Metric(key, value, now, step)
                                                       for key, value, step in metrics[i:i + 1000]])
            for path in artifacts:
                self.client.log_artifact(run_id, str(path), artifact_path="figures")
            for name, text in (texts or {}).items():
                self.client.log_text(run_id, text, name)
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED", end_time=end_ms)
        return run_id

    def log_run(self, *, study, variant, seed, run_id, profile, device, precision, config,
                history, metrics, seconds=None, started=None, **_ignored) -> None:
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
        seconds, started = _timing(self.out, run_id, seconds, started)
        start_ms = end_ms = None
        if seconds is not None:
            points.append((TRAIN_SECONDS, seconds, 0))
            if started is not None:  # the MLflow run spans the training, not the logging
                start_ms, end_ms = int(started * 1000), int((started + seconds) * 1000)
        tags = dict(study=study, variant=variant, seed=seed, run_id=run_id, profile=profile,
                    device=device, precision=precision, **{"dltour.level": "seed"})
        tags["mlflow.parentRunId"] = self._parent(study, profile, variant)
        self._log(f"{variant}/seed{seed}", study, tags, params=params, metrics=points,
                  skipped=[key for key, _, _ in skipped], start_ms=start_ms, end_ms=end_ms)

    def log_summary(self, *, study, profile, doc, figures) -> None:
        """A run named ``summary`` (child of the study's run): per variant and metric
        ``<variant>.<metric>.mean|sd|n|ci95|ci95_low|ci95_high``, the figures and ``summary.json``;
        each variant's run gets the same numbers as ``<metric>.mean`` etc."""
        from mlflow.entities import Metric

        points, skipped = [], []
        now = int(time.time() * 1000)
        for variant, per_metric in (doc.metrics or {}).items():
            on_variant = []
            for metric, stats in (per_metric or {}).items():
                found = _summary_stats(stats)
                if found is None:
                    skipped.append(_mlflow_name(f"{variant}.{metric}"))
                    continue
                for stat, value in found.items():
                    points.append((_mlflow_name(f"{variant}.{metric}.{stat}"), value, 0))
                    on_variant.append(Metric(_mlflow_name(f"{metric}.{stat}"), value, now, 0))
            if on_variant:
                parent = self._parent(study, profile, str(variant))
                for i in range(0, len(on_variant), 1000):
                    self.client.log_batch(parent, metrics=on_variant[i:i + 1000])
        existing = [Path(p) for p in figures if Path(p).is_file()]
        for path in set(map(Path, figures)) - set(existing):
            _log.warning("tracking: summary figure %s does not exist; not logged", path)
        text = json.dumps(_plain(doc.to_dict()), indent=2, default=str)
        tags = {"study": study, "profile": profile, "dltour.level": "summary",
                "mlflow.parentRunId": self._parent(study, profile)}
        self._log("summary", study, tags, metrics=points, skipped=skipped, artifacts=existing,
                  texts={"summary.json": text})
        self._end_parents(study, "FINISHED")

    def close(self) -> None:
        """Parent runs of a study that got no summary (it failed or was interrupted) end as KILLED."""
        self._end_parents(None, "KILLED")


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
        self.out = Path(out)
        self.root = self.out / "tensorboard"

    def log_run(self, *, study, variant, seed, run_id, profile, device, precision, config,
                history, metrics, seconds=None, started=None, **_ignored) -> None:
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
            seconds, _ = _timing(self.out, run_id, seconds, started)
            if seconds is not None:
                writer.add_scalar(TRAIN_SECONDS, seconds, 0)

    def log_summary(self, *, study, profile, doc, figures) -> None:
        import numpy as np
        from PIL import Image

        with self._writer_cls(log_dir=str(self.root / _path_part(study) / "summary")) as writer:
            for variant, per_metric in (doc.metrics or {}).items():
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
