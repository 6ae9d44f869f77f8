"""Runs last (file order): every finding built anywhere in the suite must have been seen to hold,
not hold and be inconclusive, from simulated results in the study's tests. A finding that cannot
fail (or cannot be undecided) is a defect, so it fails here; there is no exemption for
deterministic findings (they are inconclusive when a value they need is missing or not run). Only
checked when the whole suite ran."""

from pathlib import Path

import pytest

from conftest import FINDING_OUTCOMES

NEEDED = {"holds", "does not hold", "inconclusive"}


def test_every_finding_seen_holding_failing_and_undecided(request):
    files = {Path(str(i.fspath)).name for i in request.session.items}
    every = {p.name for p in Path(__file__).parent.glob("test_*.py")}
    if files != every:
        pytest.skip("only checked when the whole suite runs")
    missing = {}
    for fid, seen in sorted(FINDING_OUTCOMES.items()):
        if fid.startswith("test-"):  # the rule's own tests build findings of no study
            continue
        if not NEEDED <= seen:
            missing[fid] = sorted(NEEDED - seen)
    assert not missing, f"findings never seen with these outcomes in any test: {missing}"
