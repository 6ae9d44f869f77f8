"""Shared fixtures. Tests that need the mirrored real datasets use ``shared_data`` and skip when
``../shared/data`` is absent (a user's fresh clone has none)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DLTOUR_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's real dataset cache from a test."""
    monkeypatch.setenv("DLTOUR_DATA", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} not present (mirrored real datasets are only on the developers' machines)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


# ---------------------------------------------------------------- every finding must be able to fail
#: finding id -> the verdicts it gave anywhere in this test session (hand-made results included)
FINDING_OUTCOMES: dict[str, set[str]] = {}


@pytest.fixture(autouse=True, scope="session")
def _record_finding_outcomes():
    """Record the verdict of every Finding built during the session, so
    ``test_zz_finding_outcomes.py`` can check that each finding was seen to hold, not hold and be
    inconclusive (deterministic ones too: e.g. inconclusive when a value they need is missing)."""
    from dltour.summary import Finding

    orig = Finding.__post_init__

    def post_init(self):
        orig(self)
        FINDING_OUTCOMES.setdefault(self.id, set()).add(self.verdict)

    Finding.__post_init__ = post_init
    yield
    Finding.__post_init__ = orig


@pytest.fixture
def step_calls(monkeypatch, tmp_path):
    """``step_calls(module, study, cfg, bench_steps=None) -> (during run, during bench, bench result)``:
    counts the calls of ``module.train_step`` while ``run_study`` trains ``cfg`` (smoke, CPU) and then
    while ``study.bench`` runs; with ``bench_steps`` the bench times that many steps after 1 warm-up.
    The check that a study's run and bench share one training step."""
    import dltour.bench as bench
    from dltour.device import resolve_device
    from dltour.runner.run_folder import RunContext
    from dltour.runner.driver import run_study

    def count(module, study, cfg, bench_steps=None):
        calls = []
        real_step = module.train_step
        monkeypatch.setattr(module, "train_step", lambda *a, **k: calls.append(1) or real_step(*a, **k))
        run_study(study, cfg, "smoke", tmp_path / "out", progress=False, log=lambda s: None)
        ran = len(calls)
        if bench_steps is not None:
            real = bench.measure_training
            monkeypatch.setattr(bench, "measure_training",
                                lambda *a, **k: real(*a, **(k | {"steps": bench_steps, "warmup": 1})))
        out = study.bench(cfg, RunContext(study.name, "bench", 0, tmp_path, resolve_device("cpu"), "smoke",
                                          progress=False))
        return ran, len(calls) - ran, out

    return count
