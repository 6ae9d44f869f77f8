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

    # under pytest-xdist the workers share the cores: one thread each. Under mutmut too: it forks each
    # mutant's test process from a parent that ran the tests, and a forked child whose parent had
    # started torch's intra-op threads can block forever in backward() (scripts/mutation.sh)
    one = os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("MUTANT_UNDER_TEST") is not None
    torch.set_num_threads(1 if one else min(2, os.cpu_count() or 1))
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


#: under pytest-xdist: the test files each worker collected (the controller's check needs to know
#: that the whole suite ran)
COLLECTED_FILES: set[str] = set()


def missing_outcomes() -> dict[str, list[str]]:
    """Findings (of a study: the rule's own ``test-`` findings aside) never seen holding, failing
    and undecided in this session."""
    needed = {"holds", "does not hold", "inconclusive"}
    return {fid: sorted(needed - seen) for fid, seen in sorted(FINDING_OUTCOMES.items())
            if not fid.startswith("test-") and not needed <= seen}


def whole_suite(files: set[str]) -> bool:
    return files == {p.name for p in Path(__file__).parent.glob("test_*.py")}


def pytest_sessionfinish(session, exitstatus):
    """A pytest-xdist worker hands its finding outcomes and collected files to the controller; the
    controller, once every worker is done, makes the check that ``test_zz_finding_outcomes.py``
    makes in a one-process run (a worker cannot: the others may still be building findings)."""
    config = session.config
    if hasattr(config, "workeroutput"):  # an xdist worker
        config.workeroutput["finding_outcomes"] = {k: sorted(v) for k, v in FINDING_OUTCOMES.items()}
        config.workeroutput["files"] = sorted({Path(str(i.fspath)).name for i in session.items})
        return
    if not COLLECTED_FILES or not whole_suite(COLLECTED_FILES) or exitstatus not in (0, 1):
        return  # not an xdist run of the whole suite
    missing = missing_outcomes()
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write("\n")  # after the progress dots (ensure_newline does not see them under xdist)
    if missing:
        if tr is not None:
            tr.write_line(f"FAILED (finding outcomes) findings never seen with these outcomes in any test: {missing}",
                          red=True)
        session.exitstatus = 1
    elif tr is not None:
        n = sum(not k.startswith("test-") for k in FINDING_OUTCOMES)
        tr.write_line(f"finding outcomes: each of {n} findings of the studies seen holding, failing and "
                      "undecided across the workers")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist controller: merge a finished worker's finding outcomes and collected files."""
    out = getattr(node, "workeroutput", {}) or {}
    for fid, seen in out.get("finding_outcomes", {}).items():
        FINDING_OUTCOMES.setdefault(fid, set()).update(seen)
    COLLECTED_FILES.update(out.get("files", []))


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
