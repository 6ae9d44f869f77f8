"""Inception Score with a known non-zero spread and N not divisible by the splits (issue 23, item 7).

What ``dltour.metrics.inception.inception_score`` documents and these tests pin down:

* IS = exp( E_x KL( p(y|x) || p(y) ) ) on each part, p(y) the mean of p(y|x) over that part;
* the N rows are cut, in order, into ``splits`` contiguous parts of equal size ``N // splits``;
  the ``N % splits`` remainder rows at the END are dropped ("equal parts: drop the remainder");
* the reported spread is the population standard deviation of the per-part scores (``np.std``,
  ddof=0, as in the reference code of Salimans et al. 2016), not the sample one (ddof=1).

The expected values are computed here by hand or from the textbook definition, independently of
the implementation (no eps, explicit 0 log 0 = 0).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dltour.metrics.inception import inception_score


def _is_of_part(part: np.ndarray) -> float:
    """Textbook IS of one part: exp of the mean over x of KL(p(y|x) || p(y))."""
    py = part.mean(axis=0)
    kls = []
    for row in part:
        kls.append(sum(float(q) * math.log(float(q) / float(m)) for q, m in zip(row, py) if q > 0))
    return math.exp(sum(kls) / len(kls))


def _reference(probs: np.ndarray, splits: int, ddof: int = 0) -> tuple[float, float]:
    size = len(probs) // splits  # equal parts; the trailing N % splits rows are not scored
    scores = [_is_of_part(probs[k * size:(k + 1) * size]) for k in range(splits)]
    mean = sum(scores) / splits
    var = sum((s - mean) ** 2 for s in scores) / (splits - ddof)
    return mean, math.sqrt(var)


def _probs(n: int, c: int, seed: int) -> np.ndarray:
    """Fixed soft probabilities whose parts differ: sharpness grows along the rows."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * np.linspace(0.2, 4.0, n)[:, None]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ hand-computed, closed form
def test_known_spread_two_parts_by_hand():
    # part 1: both images class 0 -> IS 1; part 2: one image of each class -> IS 2
    probs = np.array([[1.0, 0.0], [1.0, 0.0],
                      [1.0, 0.0], [0.0, 1.0]])
    mean, sd = inception_score(probs, splits=2)
    assert mean == pytest.approx(1.5, rel=1e-9)
    assert sd == pytest.approx(0.5, rel=1e-9)  # population sd of (1, 2); ddof=1 would give 0.7071


def test_known_spread_soft_parts_by_hand():
    # part 1: half [1, 0], half [0.5, 0.5]: p(y) = [0.75, 0.25]
    kl1 = math.log(1 / 0.75)
    kl2 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    s1 = math.exp((kl1 + kl2) / 2)
    # part 2: [0.9, 0.1] and [0.1, 0.9]: p(y) = [0.5, 0.5], both rows have KL = 0.9 log 1.8 + 0.1 log 0.2
    s2 = math.exp(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    # part 3: identical rows -> IS 1
    s3 = 1.0
    probs = np.array([[1.0, 0.0], [0.5, 0.5],
                      [0.9, 0.1], [0.1, 0.9],
                      [0.3, 0.7], [0.3, 0.7]])
    mean, sd = inception_score(probs, splits=3)
    exp_mean = (s1 + s2 + s3) / 3
    exp_sd = math.sqrt(((s1 - exp_mean) ** 2 + (s2 - exp_mean) ** 2 + (s3 - exp_mean) ** 2) / 3)
    assert sd > 0.1  # a real spread
    assert mean == pytest.approx(exp_mean, rel=1e-9)
    assert sd == pytest.approx(exp_sd, rel=1e-9)


def test_remainder_rows_at_the_end_are_dropped_by_hand():
    # N = 5, splits = 2: parts are rows 0-1 and 2-3 (IS 1 and 2); row 4 is the remainder, dropped.
    probs = np.array([[1.0, 0.0], [1.0, 0.0],
                      [1.0, 0.0], [0.0, 1.0],
                      [0.0, 1.0]])
    mean, sd = inception_score(probs, splits=2)
    assert mean == pytest.approx(1.5, rel=1e-9)
    assert sd == pytest.approx(0.5, rel=1e-9)
    # kept in uneven parts (np.array_split: rows 0-2 | 3-4) both parts would score 1 -> (1, 0);
    # kept as Salimans' slices (rows 0-1 | 2-4) the second part would score 6.75 ** (1/3) = 1.889;
    # dropping the FIRST row instead (rows 1-2 | 3-4) would give (1, 1) -> (1, 0).


# ------------------------------------------------------------------ textbook reference, fixed matrices
@pytest.mark.parametrize("n,c,splits,seed", [(50, 4, 5, 0), (23, 3, 4, 1), (107, 10, 10, 2), (41, 6, 3, 3)])
def test_matches_textbook_definition_with_spread(n, c, splits, seed):
    probs = _probs(n, c, seed)
    mean, sd = inception_score(probs, splits=splits)
    exp_mean, exp_sd = _reference(probs, splits, ddof=0)
    assert exp_sd > 0.05  # the parts really differ
    assert mean == pytest.approx(exp_mean, rel=1e-9)
    assert sd == pytest.approx(exp_sd, rel=1e-9)
    # and not the sample sd: the two differ by sqrt(splits / (splits - 1)), far beyond the tolerance
    assert sd != pytest.approx(_reference(probs, splits, ddof=1)[1], rel=1e-3)


@pytest.mark.parametrize("n,splits", [(23, 4), (107, 10), (41, 3), (29, 7)])
def test_n_not_divisible_scores_only_the_first_equal_parts(n, splits):
    assert n % splits != 0
    probs = _probs(n, 5, seed=n)
    size = n // splits
    kept = probs[:size * splits]
    # the score is exactly that of the first size * splits rows ...
    assert inception_score(probs, splits) == pytest.approx(inception_score(kept, splits), rel=1e-12)
    assert inception_score(probs, splits) == pytest.approx(_reference(probs, splits), rel=1e-9)
    # ... whatever the remainder rows hold (one-hot on a class that appears nowhere else)
    other = probs.copy()
    other[size * splits:] = np.eye(5)[np.arange(n - size * splits) % 5]
    assert inception_score(other, splits) == pytest.approx(inception_score(probs, splits), rel=1e-12)
    # guard: with these matrices keeping the remainder, in any of the usual ways, changes the result
    uneven = [_is_of_part(part) for part in np.array_split(probs, splits)]
    salimans = [_is_of_part(probs[k * n // splits:(k + 1) * n // splits]) for k in range(splits)]
    shifted = [_is_of_part(part) for part in np.split(probs[n - size * splits:], splits)]
    for scores in (uneven, salimans, shifted):
        assert (float(np.mean(scores)), float(np.std(scores))) != pytest.approx(
            inception_score(probs, splits), rel=1e-6)
