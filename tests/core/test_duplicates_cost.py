"""The near search's cheaper stages give the same answers as the plain computations:
the candidate stage (tight blocks, each row's products bounded below its k-th best), the
distinct pairs, the lag search in single precision, and the mean embeddings a scan's
first search fills chunk by chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import duplicates, dupsig, dupstore
from core.duplicates import _distinct, _unique_pairs, candidate_pairs
from core.library import Library


def _brute(v: np.ndarray, d: np.ndarray, keys: np.ndarray, key_tol: int, min_cos: float,
           k: int, tol_s: float = dupsig.DURATION_TOLERANCE_S) -> set[tuple[int, int]]:
    sims = (v.astype(np.float64) @ v.astype(np.float64).T)
    out = set()
    for r in range(len(v)):
        ok = ((np.abs(keys - keys[r]) <= key_tol) & (np.abs(d - d[r]) <= tol_s)
              & (sims[r] >= min_cos))
        ok[r] = False
        cols = np.flatnonzero(ok)
        for c in cols[np.argsort(-sims[r, cols], kind="stable")][:k]:
            out.add((min(r, int(c)), max(r, int(c))))
    return out


@pytest.mark.parametrize("neighbours", [1, 3, 10])
def test_candidates_in_tight_clusters_are_each_rows_best_as_a_brute_force_finds(
        neighbours: int) -> None:
    # a few tight clusters: most products of a row pass min_cos, so the bound on each
    # row's k-th best decides what is looked at; durations short (many files a window)
    # and long (a block spans many windows), keys within a tolerance
    rng = np.random.default_rng(3)
    n = 1500
    centres = rng.standard_normal((4, 24))
    v = centres[rng.integers(0, 4, n)] * 1.5 + rng.standard_normal((n, 24))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    d = np.exp(rng.uniform(np.log(0.1), np.log(10.0), n))
    keys = rng.integers(0, 6, n)
    got = {tuple(p) for p in candidate_pairs(v, d, min_cos=0.5, neighbours=neighbours,
                                             keys=keys, key_tolerance=1).tolist()}
    assert got == _brute(v, d, keys, 1, 0.5, neighbours)
    assert len(got) > 0


def test_candidates_where_few_products_pass_skip_the_bound_and_find_the_same() -> None:
    rng = np.random.default_rng(4)
    n = 1200
    v = rng.standard_normal((n, 16))
    v[600:] = v[:600] + 0.05 * rng.standard_normal((600, 16))  # one close copy each
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    d = rng.uniform(0.1, 3.0, n)
    d[600:] = d[:600] + 0.05
    got = {tuple(p) for p in candidate_pairs(v, d, min_cos=0.95, neighbours=5).tolist()}
    brute = _brute(v, d, np.zeros(n, np.int64), 0, 0.95, 5)
    assert got == brute and {(i, i + 600) for i in range(600)} <= got


def test_a_block_multiplies_little_beyond_its_rows_windows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # files of every length: a block of 512 rows sorted by length spanned seconds among
    # the long files, its columns the union of all their windows (2.3x the products the
    # windows need at 100k files)
    rng = np.random.default_rng(5)
    n = 4000
    v = rng.standard_normal((n, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    d = np.exp(rng.uniform(np.log(0.1), np.log(10.0), n))
    products = 0
    matmul = np.ndarray.__matmul__

    class Counting(np.ndarray):
        def __matmul__(self, other):  # type: ignore[override]
            nonlocal products
            out = matmul(np.asarray(self), np.asarray(other))
            products += out.size
            return out

    monkeypatch.setattr(duplicates, "np", _NumpyCounting(Counting))
    candidate_pairs(v.view(Counting), d, min_cos=0.9)
    s = np.sort(d)
    needed = int((np.searchsorted(s, s + 0.25, "right")
                  - np.searchsorted(s, s - 0.25, "left")).sum())
    assert needed <= products <= 1.5 * needed


class _NumpyCounting:
    """numpy, but arrays made contiguous keep the counting subclass (the candidate
    stage's ``np.ascontiguousarray`` would drop it)."""

    def __init__(self, cls: type) -> None:
        self._cls = cls

    def __getattr__(self, name: str):
        return getattr(np, name)

    def ascontiguousarray(self, a, dtype=None):
        return np.ascontiguousarray(a, dtype=dtype).view(self._cls)


def test_distinct_values_and_pairs_are_sorted_and_unique() -> None:
    rng = np.random.default_rng(6)
    x = rng.integers(0, 50, 1000)
    assert np.array_equal(_distinct(x), np.unique(x))
    assert len(_distinct(np.zeros(0, np.int64))) == 0
    i, j = rng.integers(0, 30, 500), rng.integers(0, 30, 500)
    want = np.unique(np.stack([i, j], axis=1), axis=0)
    assert np.array_equal(_unique_pairs(i, j, 30), want)
    assert _unique_pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), 5).shape == (0, 2)


def test_lag_search_in_single_precision_gives_the_pairwise_verdicts() -> None:
    # the batched check against the one-pair reference (_best_lag, in double precision)
    rng = np.random.default_rng(7)
    t = np.arange(dupsig.SNIP_LEN)
    sigs = []
    for k in range(24):
        f = 200 + 37 * k
        snip = (np.sin(2 * np.pi * f * t / dupsig.SNIP_RATE) * np.exp(-t / 600)
                + 0.2 * rng.standard_normal(len(t))).astype(np.float32)
        n = int(rng.choice([dupsig.SNIP_LEN, 900, 300]))
        snip[n:] = 0
        env = (-6 - 0.5 * np.arange(120) + rng.normal(0, 0.3, 120)).astype(np.float32)
        sigs.append(dupsig.Signature(0.01, -6.0, env, snip / np.abs(snip).max(), n, None))
    shifted = []
    for s in sigs:
        snip = np.zeros(dupsig.SNIP_LEN, np.float32)
        snip[7:] = s.snip[:-7] * 0.5
        shifted.append(dupsig.Signature(0.01, -12.0, s.env - 6.0, snip, min(s.n_snip + 7,
                                        dupsig.SNIP_LEN), None))
    left = sigs + sigs[:-1]
    right = shifted + sigs[1:]
    verdicts = dupsig.compare_many(left, right)
    for a, b, v in zip(left, right, verdicts, strict=True):
        lag = dupsig._best_lag(a.snip, b.snip, a.n_snip, b.n_snip,
                               int(dupsig.MAX_LAG_S * dupsig.SNIP_RATE))
        if v.reason not in ("waveforms differ", "no overlap") or v.wave_corr >= 0.5:
            assert lag is not None and abs(v.lag_s - lag / dupsig.SNIP_RATE) < 0.5e-3
    assert all(v.duplicate for v in verdicts[:24])
    assert not any(v.duplicate for v in verdicts[24:])


def _windows_library(path: Path, n_files: int, rng: np.random.Generator) -> Library:
    from bench.duplicates import DIM, build

    build(path, n_files, seed=int(rng.integers(0, 1000)))
    assert DIM == 128
    return Library(path)


def _plain_means(lib: Library, model_key: int) -> dict[int, np.ndarray]:
    with lib.reading() as conn:
        raw = conn.connection.dbapi_connection
        rows = raw.execute("SELECT sample_id, embedding FROM windows WHERE model_id = ? "
                           "ORDER BY sample_id, idx", (model_key,)).fetchall()
    by: dict[int, list[np.ndarray]] = {}
    for sid, blob in rows:
        by.setdefault(int(sid), []).append(np.frombuffer(blob, np.float16).astype(np.float32))
    return {s: np.mean(np.stack(w), axis=0) for s, w in by.items()}


def test_means_filled_chunk_by_chunk_are_each_files_windows_mean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chunks of 7 windows: most files' windows straddle two or more chunks
    monkeypatch.setattr(dupstore, "_WINDOW_ROWS", 7)
    lib = _windows_library(tmp_path / "lib.sqlite", 200, np.random.default_rng(8))
    try:
        model_key = duplicates._current_model(lib)
        assert model_key is not None
        want = _plain_means(lib, model_key)
        ids, means = dupstore.mean_embeddings_raw(lib, model_key)  # every file: one pass
        assert ids.tolist() == sorted(want)
        for sid, m in zip(ids.tolist(), means, strict=True):
            assert np.allclose(m, want[sid], atol=1e-6)
        # a few files rescanned: their means again, from their own windows only
        with lib.transaction() as conn:
            conn.connection.dbapi_connection.execute(
                "UPDATE samples SET scanned_at = 1 WHERE id IN (3, 50, 51)")
        ids2, means2 = dupstore.mean_embeddings_raw(lib, model_key)
        assert np.array_equal(ids2, ids) and np.array_equal(means2, means)
    finally:
        lib.close()
