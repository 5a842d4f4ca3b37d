"""Reading and writing the duplicate fingerprints (``dup_signatures``, core/dupsig.py).

Kept apart from core/library.py: the scanner writes through :func:`write_fingerprints`
inside its own batch transaction, and :mod:`core.duplicates` reads through
:func:`read_fingerprints`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import select

from core.dupsig import N_BANDS, SIG_VERSION
from core.errors import LibraryError
from core.library import Library
from core.schema import dup_signatures, samples

_CHUNK = 500
_WINDOW_ROWS = 8192  # windows a fetch when every file's mean is computed


def sample_ids_without_fingerprints(lib: Library) -> set[int]:
    """Decoded files (status ok) that have no fingerprint yet, or one of an older layout
    (core.dupsig.SIG_VERSION): a library scanned before fingerprints existed, or before
    their latest layout. The scanner reads them again, without embedding them."""
    with lib.reading() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        return {int(i) for (i,) in raw.execute(
            "SELECT s.id FROM samples s LEFT JOIN dup_signatures d ON d.sample_id = s.id "
            "WHERE s.status = 'ok' AND (d.sample_id IS NULL OR (d.signature IS NOT NULL "
            "AND substr(d.signature, 1, 1) != ?))", (bytes([SIG_VERSION]),))}


def count_without_fingerprints(lib: Library) -> int:
    return len(sample_ids_without_fingerprints(lib))


def write_fingerprints(lib: Library,
                       rows: Sequence[tuple[str, str | None, bytes | None]]) -> None:
    """Store ``(path, audio_hash, signature)`` per file; a hash None drops the file's row
    (it no longer decodes). Files are found by path, so call it after the batch that
    wrote their records, in the same transaction."""
    if not rows:
        return
    with lib.transaction() as conn:
        paths = [r[0] for r in rows]
        ids: dict[str, int] = {}
        for a in range(0, len(paths), _CHUNK):
            ids.update((p, int(i)) for i, p in conn.execute(
                select(samples.c.id, samples.c.path)
                .where(samples.c.path.in_(paths[a:a + _CHUNK]))))
        drop = [ids[p] for p, h, _ in rows if h is None and p in ids]
        keep = {ids[p]: (h, s) for p, h, s in rows if h is not None and p in ids}
        gone = drop + list(keep)
        for a in range(0, len(gone), _CHUNK):
            conn.execute(dup_signatures.delete().where(
                dup_signatures.c.sample_id.in_(gone[a:a + _CHUNK])))
        if keep:
            conn.execute(dup_signatures.insert(), [
                {"sample_id": sid, "audio_hash": h, "signature": s}
                for sid, (h, s) in keep.items()])


def read_fingerprints(lib: Library) -> tuple[list[int], list[str], list[bytes | None]]:
    """(sample ids, audio hashes, signatures) of every file with a fingerprint whose
    status is ok."""
    with lib.reading() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        rows = raw.execute(
            "SELECT d.sample_id, d.audio_hash, d.signature FROM dup_signatures d "
            "JOIN samples s ON s.id = d.sample_id WHERE s.status = 'ok' "
            "ORDER BY d.sample_id").fetchall()
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def read_hashes_and_spectra(lib: Library) -> tuple[list[int], list[str], list[bytes | None]]:
    """(sample ids, audio hashes, signature heads) of every file with a fingerprint whose
    status is ok. A head is the signature's version byte and its last
    :data:`~core.dupsig.N_BANDS` bytes (the snippet's band levels): what
    :func:`core.dupsig.spectra` and :func:`core.dupsig.peak_bands` read, without reading
    the whole signatures (~3.4 KB a file). :func:`read_signatures` reads those."""
    with lib.reading() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        rows = raw.execute(
            "SELECT d.sample_id, d.audio_hash, substr(d.signature, 1, 1), "
            f"substr(d.signature, -{N_BANDS}), length(d.signature) FROM dup_signatures d "
            "JOIN samples s ON s.id = d.sample_id WHERE s.status = 'ok' "
            "ORDER BY d.sample_id").fetchall()
    heads = [None if r[2] is None or r[4] is None or r[4] <= N_BANDS else bytes(r[2]) + bytes(r[3])
             for r in rows]
    return [r[0] for r in rows], [r[1] for r in rows], heads


def read_signatures(lib: Library, sample_ids: Iterable[int]) -> dict[int, bytes | None]:
    """The whole signatures of ``sample_ids`` (those with one)."""
    ids = sorted({int(i) for i in sample_ids})
    out: dict[int, bytes | None] = {}
    with lib.reading() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for a in range(0, len(ids), _CHUNK):
            part = ids[a:a + _CHUNK]
            out.update(raw.execute(
                "SELECT sample_id, signature FROM dup_signatures WHERE sample_id IN "
                f"({','.join('?' * len(part))})", part).fetchall())
    return out


# -- mean embeddings (dup_means) ------------------------------------------------------------


def mean_embeddings_raw(lib: Library, model_key: int) -> tuple[np.ndarray, np.ndarray]:
    """(sample ids, float32 mean window embedding per file) of every file whose windows
    ``model_key`` embedded, sorted by id. Read from ``dup_means`` where a row holds (same
    model, same ``samples.scanned_at``); the other files' means are computed from their
    stored windows and written back, so the next search reads them (a library that
    cannot be written to is searched all the same)."""
    with lib.reading() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        dim = int(raw.execute("SELECT dim FROM models WHERE id = ?", (model_key,)).fetchone()[0])
        rows = raw.execute(
            "SELECT s.id, s.scanned_at, m.mean FROM samples s LEFT JOIN dup_means m "
            "ON m.sample_id = s.id AND m.model_id = s.model_id "
            "AND m.scanned_at IS s.scanned_at "
            "WHERE s.status = 'ok' AND s.model_id = ? AND s.n_windows > 0 ORDER BY s.id",
            (model_key,)).fetchall()
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    means = np.zeros((len(rows), dim), np.float32)
    stale = [k for k, r in enumerate(rows) if r[2] is None or len(r[2]) != 4 * dim]
    fresh = np.ones(len(rows), bool)
    fresh[stale] = False
    if fresh.any():
        means[fresh] = np.frombuffer(b"".join(r[2] for r, f in zip(rows, fresh, strict=True)
                                              if f), np.float32).reshape(-1, dim)
    if stale:
        want = ids[stale]
        w_ids, got = _window_means(lib, model_key, want, dim,
                                   every=len(stale) > len(rows) // 4)
        if len(w_ids):
            at = np.searchsorted(ids, w_ids)
            means[at] = got
            has = np.zeros(len(rows), bool)
            has[at] = True
            # files with no embedded window left are out
            drop = np.zeros(len(rows), bool)
            drop[stale] = True
            drop &= ~has
            _store_means(lib, [(int(ids[k]), rows[k][1], means[k].tobytes()) for k in at],
                         model_key)
            ids, means = ids[~drop], means[~drop]
        else:
            ids, means = ids[fresh], means[fresh]
    return ids, means


def _window_means(lib: Library, model_key: int, sample_ids: np.ndarray, dim: int, *,
                  every: bool) -> tuple[np.ndarray, np.ndarray]:
    """(sample ids, float32 mean of their embedded windows), sorted by id, for the files
    of ``sample_ids`` that have any. With ``every``, all the model's windows are read in
    one pass (most files want their mean: a scan's first search) and summed chunk by
    chunk, each chunk's float16 rows made float32 only there (reading the whole matrix
    as float32 first, with the windows' indices, cost ~2.8 of the ~3.4 CPU s that filling
    100k files' means took); else the files' own windows, 500 files a query."""
    from operator import itemgetter

    want = np.asarray(sample_ids, np.int64)
    out_ids: list[np.ndarray] = []
    out_sums: list[np.ndarray] = []
    out_counts: list[np.ndarray] = []
    first, second = itemgetter(0), itemgetter(1)
    carry_ids = np.zeros(0, np.int64)
    carry = np.zeros((0, dim), np.float32)

    def take(rows: list[tuple[int, bytes]], last: bool) -> None:
        # rows in order of sample id and window; a file's windows are summed in one
        # piece (those of the last file of a chunk wait for the next chunk), so the sums
        # do not depend on where the chunks fall
        nonlocal carry_ids, carry
        n = len(rows)
        ids = np.concatenate([carry_ids, np.fromiter(map(first, rows), np.int64, n)])
        mat = np.concatenate([carry, np.frombuffer(b"".join(map(second, rows)), np.float16)
                              .reshape(n, dim).astype(np.float32)])
        if not last and len(ids):
            cut = int(np.searchsorted(ids, ids[-1], side="left"))
            carry_ids, carry = ids[cut:], mat[cut:]
            ids, mat = ids[:cut], mat[:cut]
        if not len(ids):
            return
        keep = np.isin(ids, want) if every else None
        if keep is not None and not keep.all():
            ids, mat = ids[keep], mat[keep]
            if not len(ids):
                return
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        out_ids.append(ids[starts])
        out_sums.append(np.add.reduceat(mat, starts, axis=0))
        out_counts.append(np.diff(np.r_[starts, len(ids)]))

    with lib.reading() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if every:
            cur = raw.execute(
                "SELECT sample_id, embedding FROM windows WHERE model_id = ? AND "
                "embedding IS NOT NULL ORDER BY sample_id, idx", (model_key,))
            while chunk := cur.fetchmany(_WINDOW_ROWS):
                take(chunk, False)
            take([], True)
        else:
            part_ids = [int(i) for i in want]
            for a in range(0, len(part_ids), _CHUNK):
                part = part_ids[a:a + _CHUNK]
                take(raw.execute(
                    "SELECT sample_id, embedding FROM windows WHERE model_id = ? AND "
                    f"embedding IS NOT NULL AND sample_id IN ({','.join('?' * len(part))}) "
                    "ORDER BY sample_id, idx", (model_key, *part)).fetchall(), True)
    if not out_ids:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    sums, counts = np.concatenate(out_sums), np.concatenate(out_counts)[:, None]
    return np.concatenate(out_ids), (sums / counts).astype(np.float32)


def _store_means(lib: Library, rows: list[tuple[int, float | None, bytes]],
                 model_key: int) -> None:
    if not rows or lib.read_only:
        return
    try:
        with lib.transaction() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.executemany(
                "INSERT OR REPLACE INTO dup_means (sample_id, model_id, scanned_at, mean) "
                "VALUES (?, ?, ?, ?)", [(sid, model_key, at, blob) for sid, at, blob in rows])
    except (LibraryError, sqlite3.Error, OSError):
        pass  # a library on read-only media: searched all the same, without the cache
