"""A 2-D map of the library: per-file embeddings projected with scikit-learn.

PCA is the default: linear, deterministic and fast (100,000 files in well under a
second). t-SNE separates clusters better but costs seconds per thousand files, so it is
offered up to :data:`TSNE_MAX_FILES` and the map falls back to PCA above that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.classify import Classifier
from core.jobs import CancelToken

METHODS = ("pca", "tsne")
TSNE_MAX_FILES = 5_000


@dataclass
class Projection:
    sample_ids: np.ndarray  # int64 (N,)
    xy: np.ndarray  # float32 (N, 2), in [0, 1]
    method: str
    seconds: float
    note: str = ""


def project(emb: np.ndarray, method: str = "pca", seed: int = 0,
            cancel: CancelToken | None = None) -> tuple[np.ndarray, str, str]:
    """(N, 2) coordinates in [0, 1]², the method used, and a note when it differs."""
    from sklearn.decomposition import PCA

    n = len(emb)
    note = ""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    if n == 0:
        return np.zeros((0, 2), np.float32), method, note
    if n < 3:
        xy = np.zeros((n, 2), np.float32)
        xy[:, 0] = np.arange(n)
        return _normalise(xy), "pca", note
    x = emb.astype(np.float32)
    if method == "tsne" and n > TSNE_MAX_FILES:
        method, note = "pca", (f"t-SNE is offered up to {TSNE_MAX_FILES:,} files; "
                               f"{n:,} are shown with PCA")
    if method == "pca":
        xy = PCA(n_components=2, random_state=seed).fit_transform(x)
    else:
        from sklearn.manifold import TSNE

        reduced = PCA(n_components=min(50, x.shape[1], n - 1), random_state=seed).fit_transform(x)
        if cancel is not None:
            cancel.raise_if_cancelled()
        xy = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca",
                  random_state=seed).fit_transform(reduced)
    return _normalise(xy.astype(np.float32)), method, note


def _normalise(xy: np.ndarray) -> np.ndarray:
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return ((xy - lo) / span).astype(np.float32)


def library_map(classifier: Classifier, method: str = "pca",
                cancel: CancelToken | None = None) -> Projection:
    """Every embedded file of the library on the map."""
    import time

    t0 = time.perf_counter()
    index = classifier.index()
    xy, used, note = project(index.file_emb, method, cancel=cancel)
    return Projection(index.sample_ids.copy(), xy, used, time.perf_counter() - t0, note)
