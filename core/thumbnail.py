"""Waveform thumbnails: a small peak envelope of each whole file, made during the scan.

The scan's decode workers already hold each segment of a file as mono audio at the
model's rate (core.audio.decode_segment); each computes a :class:`PartialEnvelope` of
the samples its segment owns (segments own disjoint ranges that tile the file), and the
scanning process merges them in any order: peaks by maximum, energy by sum. No second
decode. The result is stored in the library's ``peaks`` table as :data:`BYTES` bytes:

- ``COLUMNS`` column peaks (largest absolute sample), then ``COLUMNS`` column RMS levels;
- each one byte on a decibel scale: 0 is silence (at or below :data:`FLOOR_DB` dBFS),
  255 is 0 dBFS, so a quiet tail (a kick decaying to -50 dB) stays visible.

This module never imports Qt; the table's delegate (app/gui/thumbs.py) draws it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.library import Library

#: columns across the whole file, whatever its length
COLUMNS = 64
#: level shown as silence, in dBFS
FLOOR_DB = -60.0
#: stored size: peaks then RMS, one byte each per column
BYTES = 2 * COLUMNS


def column_edges(n_samples: int, columns: int = COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """Sample range ``[lo, hi)`` of each column; every column holds at least one sample
    (a file shorter than the columns repeats samples)."""
    n = max(1, int(n_samples))
    j = np.arange(columns, dtype=np.int64)
    lo = j * n // columns
    hi = np.maximum(lo + 1, (j + 1) * n // columns)
    return lo, hi


_local = threading.local()


def _scratch(n: int) -> np.ndarray:
    """A float32 buffer of ``n`` samples, reused by this thread. A fresh array of a
    segment's size is a fresh ``mmap`` in glibc (the decode workers keep its defaults),
    whose page faults cost three times the arithmetic (0.2 vs 0.05 ms a file)."""
    buf = getattr(_local, "buf", None)
    if buf is None or len(buf) < n:
        buf = _local.buf = np.empty(max(n, 1 << 16), np.float32)
    return buf[:n]


@functools.lru_cache(maxsize=512)
def _starts(n_samples: int, columns: int) -> np.ndarray:
    lo = column_edges(n_samples, columns)[0]
    lo.setflags(write=False)
    return lo


@dataclass
class PartialEnvelope:
    """What one segment saw of each column: merge a file's partials with :func:`merge`."""

    peak: np.ndarray  # float32 (columns,): largest |sample|, 0 where the segment saw none
    sumsq: np.ndarray  # float64 (columns,): sum of squares
    count: np.ndarray  # int64 (columns,): samples counted

    @property
    def columns(self) -> int:
        return len(self.peak)


def partial(y: np.ndarray, offset: int, a: int, b: int, n_samples: int,
            columns: int = COLUMNS) -> PartialEnvelope:
    """The envelope of samples ``[a, b)`` of a file of ``n_samples`` samples.

    ``y[i]`` is the file's sample ``offset + i``; samples of ``[a, b)`` that ``y`` does
    not hold (a file shorter than its header says) count as silence.
    """
    if a == 0 == offset and b == n_samples >= columns and len(y) >= b:
        # The usual case, a file in one segment: as few numpy calls as can be (this runs
        # once a file in the scan's decoders).
        lo = _starts(n_samples, columns)
        ax = np.abs(y[:b], out=_scratch(b), dtype=np.float32)
        peak = np.maximum.reduceat(ax, lo)
        return PartialEnvelope(peak, np.add.reduceat(np.square(ax, out=ax), lo,
                                                     dtype=np.float64),
                               np.diff(lo, append=b))
    lo, hi = column_edges(n_samples, columns)
    peak = np.zeros(columns, np.float32)
    sumsq = np.zeros(columns, np.float64)
    count = np.zeros(columns, np.int64)
    js = np.flatnonzero((lo < b) & (hi > a))
    if not len(js) or b <= a:
        return PartialEnvelope(peak, sumsq, count)
    if n_samples >= columns:
        # Columns tile the file without overlap: the ones met tile [a, b) in order, so one
        # reduceat each does them all (a loop over columns cost ~0.8 ms a file).
        if offset <= a and b - offset <= len(y):
            x = np.asarray(y[a - offset:b - offset], np.float32)  # the usual case: a view
        else:
            x = np.zeros(b - a, np.float32)
            got = y[max(0, a - offset):max(0, b - offset)]
            x[max(0, offset - a):max(0, offset - a) + len(got)] = got[:b - a]
        cuts = np.maximum(lo[js], a) - a
        ax = np.abs(x, out=_scratch(len(x)))
        peak[js] = np.maximum.reduceat(ax, cuts)
        np.square(ax, out=ax)
        sumsq[js] = np.add.reduceat(ax, cuts, dtype=np.float64)
        count[js] = np.diff(np.append(cuts, b - a))
        return PartialEnvelope(peak, sumsq, count)
    for j in js:  # a file shorter than the columns: each column is one sample
        s, e = max(int(lo[j]), a), min(int(hi[j]), b)
        count[j] = e - s
        part = y[max(0, s - offset):max(0, e - offset)]
        if len(part):
            peak[j] = float(np.abs(part).max())
            sumsq[j] = float(np.dot(part.astype(np.float64), part))
    return PartialEnvelope(peak, sumsq, count)


def merge(parts: Iterable[PartialEnvelope]) -> PartialEnvelope:
    """One envelope of partials of the same file (order does not matter)."""
    parts = list(parts)
    if not parts:
        raise ValueError("no partial envelopes to merge")
    if len(parts) == 1:  # most files: one segment
        return parts[0]
    return PartialEnvelope(np.maximum.reduce([p.peak for p in parts]),
                           np.sum([p.sumsq for p in parts], axis=0),
                           np.sum([p.count for p in parts], axis=0))


def _codes(level: np.ndarray) -> np.ndarray:
    db = 20.0 * np.log10(np.maximum(level.astype(np.float64), 1e-12))
    return np.clip(np.round((db - FLOOR_DB) / -FLOOR_DB * 255.0), 0, 255).astype(np.uint8)


def encode(env: PartialEnvelope) -> bytes:
    """The stored form: :data:`BYTES` bytes (peaks, then RMS)."""
    rms = np.sqrt(env.sumsq / np.maximum(env.count, 1))
    # one array, one pass; rounding must never put RMS above the peak
    return _codes(np.concatenate([env.peak, np.minimum(rms, env.peak)])).tobytes()


def decode(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(peak, rms) heights in 0..1 of the display scale (0 = silence, 1 = 0 dBFS)."""
    codes = np.frombuffer(blob, dtype=np.uint8).astype(np.float32) / 255.0
    half = len(codes) // 2
    return codes[:half], codes[half:2 * half]


def envelope_of(y: np.ndarray, columns: int = COLUMNS) -> bytes:
    """The stored envelope of a whole signal at once (tests, tools)."""
    return encode(partial(np.asarray(y, np.float32), 0, 0, len(y), len(y), columns))


# -- library ----------------------------------------------------------------------------

def read_peaks(lib: Library, sample_ids: Sequence[int]) -> dict[int, bytes]:
    """Stored envelopes of these samples (those without one are left out)."""
    from sqlalchemy import select

    from core.schema import peaks

    out: dict[int, bytes] = {}
    ids = [int(i) for i in sample_ids]
    with lib.reading() as conn:
        for a in range(0, len(ids), 500):
            out.update((int(s), bytes(d)) for s, d in conn.execute(
                select(peaks.c.sample_id, peaks.c.data)
                .where(peaks.c.sample_id.in_(ids[a:a + 500]))))
    return out


def peaks_by_path(lib: Library) -> dict[str, bytes]:
    """Every stored envelope by its file's path (``ls --peaks``)."""
    from sqlalchemy import select

    from core.schema import peaks, samples

    with lib.reading() as conn:
        return {p: bytes(d) for p, d in conn.execute(
            select(samples.c.path, peaks.c.data)
            .select_from(peaks.join(samples, samples.c.id == peaks.c.sample_id)))}


_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(blob: bytes, width: int = 32) -> str:
    """The peaks as ``width`` block characters (a terminal's thumbnail)."""
    peak, _rms = decode(blob)
    cols = np.array_split(peak, width)
    return "".join(_BARS[round(float(c.max()) * (len(_BARS) - 1))] for c in cols)


def write_peaks(conn: object, items: Sequence[tuple[int, bytes]]) -> None:
    """Store envelopes inside the caller's transaction (``conn``: a SQLAlchemy
    Connection), replacing older ones."""
    if items:
        conn.exec_driver_sql(  # type: ignore[attr-defined]
            "INSERT OR REPLACE INTO peaks (sample_id, data) VALUES (?, ?)", list(items))


def drop_peaks(conn: object, sample_ids: Sequence[int]) -> None:
    """Forget envelopes inside the caller's transaction (a file rewritten without one)."""
    ids = [int(i) for i in sample_ids]
    for a in range(0, len(ids), 500):
        chunk = ids[a:a + 500]
        conn.exec_driver_sql(  # type: ignore[attr-defined]
            f"DELETE FROM peaks WHERE sample_id IN ({','.join('?' * len(chunk))})",
            tuple(chunk))
