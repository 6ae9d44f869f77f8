"""Inception Score on known distributions."""

import math

import numpy as np
import pytest

from dltour.metrics.inception import inception_score, judged, signature


def test_confident_uniform_predictions_give_number_of_classes():
    probs = np.eye(10)[np.arange(1000) % 10]  # each image one class, classes equally frequent
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-6)
    assert std == pytest.approx(0.0, abs=1e-6)


def test_single_class_gives_one():
    probs = np.tile(np.eye(10)[3], (500, 1))
    assert inception_score(probs, splits=5)[0] == pytest.approx(1.0)


def test_identical_soft_predictions_give_one():
    probs = np.tile(np.full(10, 0.1), (100, 1))
    assert inception_score(probs, splits=1)[0] == pytest.approx(1.0)


def test_hand_computed_two_class_case():
    # half the images [1, 0], half [0.5, 0.5]: p(y) = [0.75, 0.25]
    probs = np.array([[1.0, 0.0], [0.5, 0.5]] * 50)
    kl1 = math.log(1 / 0.75)
    kl2 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    expected = math.exp((kl1 + kl2) / 2)  # 1.2408...
    assert inception_score(probs, splits=1)[0] == pytest.approx(expected, rel=1e-9)
    # split in 2 halves of alternating rows: each half has the same mixture, same score
    assert inception_score(probs, splits=2)[0] == pytest.approx(expected, rel=1e-9)


def test_splits_score_parts_separately():
    # first half all class 0, second half all class 1: each split sees one class -> IS 1 per split,
    # whereas the whole set scores 2
    probs = np.vstack([np.tile([1.0, 0.0], (50, 1)), np.tile([0.0, 1.0], (50, 1))])
    assert inception_score(probs, splits=2)[0] == pytest.approx(1.0)
    assert inception_score(probs, splits=1)[0] == pytest.approx(2.0)


@pytest.mark.parametrize("probs,splits", [(np.zeros((0, 10)), 1), (np.full((4, 2), 0.3), 1),
                                          (np.eye(2), 3), (np.eye(2), 0), (np.ones(10) / 10, 1)])
def test_bad_inputs(probs, splits):
    with pytest.raises(ValueError):
        inception_score(probs, splits)


def test_signature_records_hash_n_and_splits():
    assert signature("ab" * 32, 10000, 10) == "mnist-cnn:abababababab/n=10000/splits=10"
    assert signature("cd" * 32, 1000, 5, "mlp") == "mnist-mlp:cdcdcdcdcdcd/n=1000/splits=5"


def test_judged_by_hand():
    # each image one class, classes equally frequent: IS 10, sd 0, 10 images a class, entropy ln 10
    j = judged(np.eye(10)[np.arange(100) % 10], splits=5)
    assert j["is"] == pytest.approx(10.0) and j["sd"] == pytest.approx(0.0, abs=1e-9)
    assert j["counts"] == [10] * 10 and j["entropy"] == pytest.approx(math.log(10))
    # half [1, 0], half [0.5, 0.5] (a tie: argmax takes class 0): the hand-computed IS 1.2408, one class wins all
    j = judged(np.array([[1.0, 0.0], [0.5, 0.5]] * 50, dtype=np.float32), splits=1)
    kl1, kl2 = math.log(1 / 0.75), 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert j["is"] == pytest.approx(math.exp((kl1 + kl2) / 2), rel=1e-6) and j["sd"] == 0.0
    assert j["counts"] == [100, 0] and j["entropy"] == 0.0
    assert list(j) == ["is", "sd", "counts", "entropy"] and all(type(c) is int for c in j["counts"])
    with pytest.raises(ValueError):
        judged(np.eye(2), splits=3)  # inception_score's own checks
