"""What a run is before anything runs: its id and provenance, the plan every run of a study
shares (one picklable value executors ship as it is) and the job an executor hands to a worker."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dltour.config import config_hash
from dltour.registry import Study
from dltour.runner.run_folder import run_dir_for


def _run_key(study: Study, cfg, variant: str) -> dict:
    """What determines a run's result besides its seed and precision."""
    return {"study": study.name, "version": study.version, "variant": variant, "key": study.run_key(cfg, variant)}


def _run_id(key: dict, seed: int, precision: str) -> str:
    payload = {**key, "seed": seed} | ({"precision": precision} if precision != "auto" else {})
    return config_hash(payload)


def run_id_for(study: Study, cfg, variant: str, seed: int, precision: str = "auto") -> str:
    """The run's id. An explicit ``--precision`` (fp32, bf16) is part of it, so a run at another
    precision is computed, not reused; ``auto`` keeps the ids runs had before the option."""
    return _run_id(_run_key(study, cfg, variant), seed, precision)


def provenance(study: Study, cfg, variant: str, seed: int, precision: str = "auto") -> dict:
    """What a run's ``metrics.json`` carries to say whose metrics they are: the run id and the
    digest of the configuration that determines the run (the study's ``run_key``)."""
    key = _run_key(study, cfg, variant)
    return {"run_id": _run_id(key, seed, precision), "key_digest": config_hash(key)}


def legacy_check(study: Study, variant: str, seed: int, want: dict, precision: str = "auto") -> Callable[[Path], bool]:
    """For a ``metrics.json`` written before metrics carried their provenance: does the folder's
    ``config.json`` describe the run whose :func:`provenance` is ``want`` (same study, variant, seed
    and run key)?"""

    def ok(run_dir: Path) -> bool:
        try:
            doc = json.loads((Path(run_dir) / "config.json").read_text())
            if (doc.get("study"), doc.get("variant"), doc.get("seed")) != (study.name, variant, seed):
                return False
            theirs = study.Config.model_validate(doc["config"])
            return provenance(study, theirs, variant, seed, precision) == want
        except Exception:  # unreadable, or a config this version cannot read: not this run's
            return False

    return ok


# ---------------------------------------------------------------- what a run needs
@dataclass(frozen=True)
class RunPlan:
    """Everything every run of one study needs, in one picklable value: executors ship it to
    workers as it is. ``out_token`` (set by executors whose workers may sit on other machines)
    names a file the driver wrote under ``out``; a worker that cannot see it fails the run."""

    study: str
    config: dict
    profile: str
    out: str
    device: str = "auto"
    precision: str = "auto"
    progress: bool = True
    out_token: str | None = None


@dataclass(frozen=True)
class Job:
    """One run to carry out: the plan, the cell, and what it asks of a worker."""

    plan: RunPlan
    variant: str
    seed: int
    run_id: str
    small_runs: bool = False
    resources: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.plan.study}/{self.variant}/seed{self.seed}"

    @property
    def run_dir(self) -> Path:
        return run_dir_for(self.plan.out, self.plan.study, self.run_id)

    def finished(self) -> bool:
        return (self.run_dir / "metrics.json").exists()


def jobs_for(study: Study, cfg, plan: RunPlan) -> list[Job]:
    return [Job(plan, v, s, run_id_for(study, cfg, v, s, plan.precision), study.small_runs,
                study.run_resources(plan.profile))
            for v in study.variants(cfg) for s in study.seed_list(cfg)]
