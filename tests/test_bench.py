"""bench.endless: the one endless-batches helper every study's bench reads from."""

import itertools

import pytest

from dltour.bench import endless


def test_endless_runs_epoch_after_epoch():
    seen = list(itertools.islice(endless(lambda e: [(e, i) for i in range(3)]), 7))
    assert seen == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]


def test_endless_refuses_an_empty_epoch():
    with pytest.raises(ValueError, match="no batch"):
        next(endless(lambda e: []))
