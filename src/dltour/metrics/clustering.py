"""Clustering accuracy: how well unsupervised clusters recover known classes.

Two ways to give each cluster a class label, both over integer arrays:

- ``majority_vote_accuracy``: each cluster takes the most frequent true label among its members
  (the reference's method). Several clusters may take the same label, so it never falls below
  the share of the most frequent class and it rises with the number of clusters.
- ``hungarian_accuracy``: a one-to-one matching of clusters to labels that maximises the
  agreements (``scipy.optimize.linear_sum_assignment``), the usual "unsupervised clustering
  accuracy"; never above the majority-vote accuracy.

Clusterings of features: ``kmeans_cluster_accuracy`` (K-Means on the features themselves) and
``manifold_clusters`` (a Gaussian mixture on their 2-D t-SNE, N2D's manifold step). And how clearly
a 2-D view of features shows the classes: ``embed_2d`` (PCA and t-SNE views), ``knn_accuracy``
(a k-nearest-neighbour classifier's cross-validated accuracy in a view).
"""

from __future__ import annotations

import numpy as np


def _check(labels, clusters) -> tuple[np.ndarray, np.ndarray]:
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    if labels.ndim != 1 or labels.shape != clusters.shape:
        raise ValueError(f"labels and clusters must be 1-D arrays of the same length, got {labels.shape} and {clusters.shape}")
    if labels.size == 0:
        raise ValueError("empty labels")
    if not (np.issubdtype(labels.dtype, np.integer) and np.issubdtype(clusters.dtype, np.integer)):
        raise ValueError("labels and clusters must be integer arrays")
    return labels, clusters


def contingency(labels, clusters) -> np.ndarray:
    """(n_clusters, n_labels) counts: row = cluster, column = label (ids remapped to 0..k-1)."""
    labels, clusters = _check(labels, clusters)
    _, li = np.unique(labels, return_inverse=True)
    _, ci = np.unique(clusters, return_inverse=True)
    m = np.zeros((ci.max() + 1, li.max() + 1), dtype=np.int64)
    np.add.at(m, (ci, li), 1)
    return m


def majority_vote_accuracy(labels, clusters) -> float:
    """Share of samples whose label is the majority label of their cluster."""
    m = contingency(labels, clusters)
    return float(m.max(axis=1).sum() / m.sum())


def hungarian_accuracy(labels, clusters) -> float:
    """Share of samples correct under the best one-to-one cluster -> label matching."""
    from scipy.optimize import linear_sum_assignment

    m = contingency(labels, clusters)
    rows, cols = linear_sum_assignment(-m)
    return float(m[rows, cols].sum() / m.sum())


def kmeans_cluster_accuracy(features, labels, k: int = 10, seed: int = 0, n_init: int = 10) -> dict[str, float]:
    """K-Means (k clusters, ``n_init`` restarts) on ``features`` (N, D); both accuracies."""
    from sklearn.cluster import KMeans

    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"features must be (N, D) with N = len(labels), got {x.shape} for {len(labels)} labels")
    clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)
    return {"kmeans_acc_majority": majority_vote_accuracy(labels, clusters),
            "kmeans_acc_hungarian": hungarian_accuracy(labels, clusters)}


# ---------------------------------------------------------------------- 2-D views of features
def tsne_2d(features, seed: int) -> np.ndarray:
    """``features`` (N, D) in 2-D by t-SNE (PCA init, perplexity 30, or (N - 1) / 3 when fewer
    points: scikit-learn needs perplexity < N)."""
    from sklearn.manifold import TSNE

    n = len(features)
    return TSNE(2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed).fit_transform(features)


def embed_2d(features, seed: int) -> dict[str, np.ndarray]:
    """``features`` (N, D) in 2-D by PCA and by t-SNE (:func:`tsne_2d`): ``{"pca": (N, 2), "tsne": (N, 2)}``."""
    from sklearn.decomposition import PCA

    return {"pca": PCA(2, random_state=seed).fit_transform(features), "tsne": tsne_2d(features, seed)}


def knn_accuracy(xy, labels, seed: int, k: int = 5, folds: int = 5) -> float:
    """How clearly a view (such as a 2-D embedding) separates the classes: the accuracy of a
    ``k``-nearest-neighbour classifier of the labels in that view, by stratified ``folds``-fold
    cross-validation (fewer folds when the rarest class has fewer members, at least 2)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray(labels)
    folds = max(2, min(folds, int(np.bincount(labels).min()) if labels.size else 2))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(k), xy, labels, cv=cv).mean())


def manifold_clusters(features, labels, seed: int, k: int = 10) -> dict[str, float]:
    """N2D's manifold clustering (McConville et al., "N2D: (Not Too) Deep Clustering"), with t-SNE
    in place of UMAP: ``features`` in 2-D (:func:`tsne_2d`), a ``k``-component full-covariance
    Gaussian mixture there (3 restarts), its clusters scored against ``labels``:
    ``manifold_acc_majority`` and ``manifold_acc_hungarian``."""
    from sklearn.mixture import GaussianMixture

    xy = tsne_2d(features, seed)
    clusters = GaussianMixture(k, covariance_type="full", n_init=3, random_state=seed).fit_predict(xy)
    return {"manifold_acc_majority": majority_vote_accuracy(labels, clusters),
            "manifold_acc_hungarian": hungarian_accuracy(labels, clusters)}
