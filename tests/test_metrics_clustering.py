"""Clustering accuracies on hand-made labels."""

import numpy as np
import pytest

from dltour.metrics.clustering import (contingency, embed_2d, hungarian_accuracy, kmeans_cluster_accuracy,
                                       knn_accuracy, majority_vote_accuracy, manifold_clusters, tsne_2d)


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


# ---------------------------------------------------------------- 2-D views and manifold clustering
def _blobs(n_per: int = 30, dim: int = 10, spread: float = 20.0, seed: int = 0):
    """Ten well-separated Gaussian blobs in ``dim`` dimensions and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), n_per)
    return rng.normal(size=(10, dim))[labels] * spread + rng.normal(size=(10 * n_per, dim)), labels


def test_knn_accuracy_separates_clear_from_mixed_views():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 30)
    clear = np.c_[labels * 10.0, np.zeros(300)] + rng.normal(0, 0.5, (300, 2))
    mixed = rng.normal(0, 1, (300, 2))
    assert knn_accuracy(clear, labels, 0) == 1.0  # every point's 5 neighbours share its label
    assert knn_accuracy(mixed, labels, 0) < 0.3  # chance is 0.1


def test_knn_accuracy_folds_shrink_to_the_rarest_class():
    # the rarest class has 3 members: 3-fold cross-validation, not 5 (scikit-learn would refuse 5)
    xy = np.c_[np.r_[np.zeros(3), np.full(10, 10.0)], np.zeros(13)] + np.arange(13)[:, None] * 1e-3
    labels = np.r_[np.zeros(3, int), np.ones(10, int)]
    assert knn_accuracy(xy, labels, 0, k=1) == 1.0


def test_embed_2d_gives_pca_and_tsne_views():
    x, labels = _blobs()
    views = embed_2d(x, seed=0)
    assert list(views) == ["pca", "tsne"] and all(v.shape == (300, 2) for v in views.values())
    from sklearn.decomposition import PCA

    assert np.allclose(views["pca"], PCA(2, random_state=0).fit_transform(x))
    assert np.array_equal(views["tsne"], tsne_2d(x, seed=0))  # the same seed: the same t-SNE
    assert knn_accuracy(views["tsne"], labels, 0) == 1.0  # t-SNE keeps the blobs apart


def test_tsne_2d_lowers_perplexity_for_few_points():
    x = np.random.default_rng(0).normal(size=(20, 5))  # perplexity 30 needs > 30 points: (20 - 1) / 3 is used
    assert tsne_2d(x, seed=0).shape == (20, 2)


def test_manifold_clusters_recovers_separated_classes():
    codes, labels = _blobs()
    out = manifold_clusters(codes, labels, seed=0)
    assert set(out) == {"manifold_acc_majority", "manifold_acc_hungarian"}
    assert out["manifold_acc_hungarian"] == 1.0 and out["manifold_acc_majority"] == 1.0
    shuffled = manifold_clusters(codes, np.random.default_rng(1).permutation(labels), seed=0)  # labels unrelated
    assert shuffled["manifold_acc_hungarian"] < 0.4
