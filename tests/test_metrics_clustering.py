"""Clustering accuracies on hand-made labels."""

import numpy as np
import pytest

from dltour.metrics.clustering import (contingency, hungarian_accuracy, kmeans_cluster_accuracy,
                                       majority_vote_accuracy)


def test_perfect_clustering_with_permuted_ids():
    labels = np.array([0, 0, 1, 1, 2, 2])
    clusters = np.array([7, 7, 3, 3, 5, 5])  # same partition, other ids
    assert majority_vote_accuracy(labels, clusters) == 1.0
    assert hungarian_accuracy(labels, clusters) == 1.0


def test_hand_computed_majority_and_hungarian():
    # cluster 0: labels 0,0,1  -> majority 0 (2 right)
    # cluster 1: labels 0,0,0,1 -> majority 0 (3 right)
    # cluster 2: labels 1,2    -> majority 1 or 2 (1 right)
    labels = np.array([0, 0, 1, 0, 0, 0, 1, 1, 2])
    clusters = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2])
    assert majority_vote_accuracy(labels, clusters) == pytest.approx(6 / 9)
    # one-to-one: label 0 can take only one cluster: best is c1->0 (3), c0->1 (1), c2->2 (1) or
    # c1->0 (3), c0->? ... enumerate all 6 matchings by hand: max is 5
    assert hungarian_accuracy(labels, clusters) == pytest.approx(5 / 9)
    m = contingency(labels, clusters)
    assert m.tolist() == [[2, 1, 0], [3, 1, 0], [0, 1, 1]]


def test_one_cluster_gives_majority_class_share():
    labels = np.array([1, 1, 1, 2, 3])
    clusters = np.zeros(5, dtype=int)
    assert majority_vote_accuracy(labels, clusters) == pytest.approx(0.6)
    assert hungarian_accuracy(labels, clusters) == pytest.approx(0.6)


def test_random_clusters_near_chance():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 20000)
    clusters = rng.integers(0, 10, 20000)
    assert 0.09 < majority_vote_accuracy(labels, clusters) < 0.13
    assert 0.09 < hungarian_accuracy(labels, clusters) < 0.12


def test_kmeans_recovers_separated_blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 20, (10, 5))
    labels = np.repeat(np.arange(10), 30)
    x = centres[labels] + rng.normal(0, 0.5, (300, 5))
    acc = kmeans_cluster_accuracy(x, labels, k=10, seed=0)
    assert acc["kmeans_acc_majority"] == 1.0 and acc["kmeans_acc_hungarian"] == 1.0


@pytest.mark.parametrize("labels,clusters", [([0, 1], [0]), ([], []), ([0.5, 1.0], [0, 1]), ([[0, 1]], [[0, 1]])])
def test_bad_inputs(labels, clusters):
    with pytest.raises(ValueError):
        majority_vote_accuracy(np.array(labels), np.array(clusters))


def test_kmeans_shape_error():
    with pytest.raises(ValueError, match="features"):
        kmeans_cluster_accuracy(np.zeros((5, 2)), np.zeros(4, dtype=int))
