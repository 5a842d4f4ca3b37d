"""models.builtins: how a node's examples are picked from its corpus clips (k-means medoids
or cluster means)."""

from __future__ import annotations

import numpy as np

from models.builtins import choose_medoids, cluster_means, kmeans


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    lab = np.repeat(np.arange(3), [40, 25, 10])
    return (centres[lab] + rng.standard_normal((len(lab), 2))).astype(np.float32), lab


def test_kmeans_finds_three_separate_blobs_and_their_members() -> None:
    x, truth = _blobs()
    centres, lab = kmeans(x, 3)
    assert len(centres) == 3
    # each found cluster is exactly one true blob
    pairs = {(int(a), int(b)) for a, b in zip(lab, truth, strict=True)}
    assert len(pairs) == 3
    for j in range(3):
        np.testing.assert_allclose(centres[j], x[lab == j].mean(0), atol=1e-4)


def test_medoids_are_clips_and_cluster_means_are_the_blobs_means() -> None:
    x, truth = _blobs()
    pick = choose_medoids(x, 3)
    assert len(pick) == 3 and len({int(truth[i]) for i in pick}) == 3
    means = cluster_means(x, 3, x)
    want = np.stack([x[truth == b].mean(0) for b in range(3)])
    # the same three means, in whatever order
    d = ((means[:, None] - want[None]) ** 2).sum(-1)
    assert np.allclose(d.min(1), 0.0, atol=1e-6) and len(set(d.argmin(1))) == 3


def test_cluster_means_take_the_other_embedding_of_the_same_clips() -> None:
    """Clusters come from ``emb``; the means are of ``source`` (e.g. the clips' pitch-averaged
    embeddings), row for row."""
    x, truth = _blobs()
    source = x + np.float32(100.0)
    means = cluster_means(x, 3, source)
    want = np.stack([source[truth == b].mean(0) for b in range(3)])
    d = ((means[:, None] - want[None]) ** 2).sum(-1)
    assert np.allclose(d.min(1), 0.0, atol=1e-4)


def test_fewer_clips_than_examples_keeps_every_clip() -> None:
    x, _ = _blobs()
    assert list(choose_medoids(x[:2], 5)) == [0, 1]
    np.testing.assert_allclose(cluster_means(x[:2], 5, x[:2]), x[:2])
