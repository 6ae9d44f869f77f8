"""Runs last (file order): every finding built anywhere in the suite must have been seen to hold,
not hold and be inconclusive, from simulated results in the study's tests. A finding that cannot
fail (or cannot be undecided) is a defect, so it fails here; there is no exemption for
deterministic findings (they are inconclusive when a value they need is missing or not run). Only
checked when the whole suite ran. Under pytest-xdist (``-n 2``) the workers' outcomes are merged
and checked by the controller at the end (``conftest.pytest_sessionfinish``), not here."""

from pathlib import Path

import pytest

from conftest import missing_outcomes, whole_suite


def test_every_finding_seen_holding_failing_and_undecided(request):
    if hasattr(request.config, "workerinput"):
        pytest.skip("under pytest-xdist the controller checks the merged outcomes when every worker is done")
    if not whole_suite({Path(str(i.fspath)).name for i in request.session.items}):
        pytest.skip("only checked when the whole suite runs")
    missing = missing_outcomes()
    assert not missing, f"findings never seen with these outcomes in any test: {missing}"
