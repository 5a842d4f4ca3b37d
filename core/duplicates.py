"""Duplicate files in the library: find them, pick the copy to keep, quarantine the rest.

* **Exact** duplicates share their decoded-audio hash (core/dupsig.py): the very same
  samples, rate and channels, whatever the container, tags or metadata chunks.
* **Near** duplicates (``near=True``) are copies re-encoded (MP3, OGG, FLAC), resampled,
  gain-changed, trimmed or padded. Candidates come from the library's embeddings: each
  file's mean window embedding (centred on the library's mean, unit length), compared
  blockwise with numpy among files of about the same duration (files sorted by duration,
  each block against the files within :data:`~core.dupsig.DURATION_TOLERANCE_S`). Each
  candidate pair then has to pass the fine check of :func:`core.dupsig.compare`
  (waveform and envelope of the file's start, alignment- and gain-tolerant), which
  rejects other takes of the same instrument. A copy trimmed past its attack holds only
  a decay another velocity layer may share: such pairs are joined last, and not where
  they would put two whole recordings that differ into one group (:func:`_join_partial`).

Groups are the connected sets of matched files. The **keeper** is the best copy: the
higher bit depth (float counts as 24-bit, lossy as none), then lossless over lossy, then
the higher rate, then more channels; among equals a file that is an example in a tree,
then a name that does not look like a copy's (``Snare copy.wav``, ``Copy of Snare.wav``,
``Snare (1).wav``, ``Snare - Copy.wav``…), then a name that states tempo, key or root note,
then the shortest path. :func:`plan_quarantine` moves the other copies into a quarantine
folder as a relabel batch (core/relabel): journaled step by step, undoable with
``sampletree undo BATCH``, nothing ever deleted.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select

from core import dupsig
from core.dupstore import mean_embeddings_raw, read_hashes_and_spectra, read_signatures
from core.errors import RelabelError
from core.library import Library
from core.paths import under
from core.schema import dup_signatures, relabel_batches, relabel_ops, samples

#: Candidate pairs need at least this cosine between their centred mean embeddings.
MIN_EMBEDDING_COS = 0.6
#: Each file's fine check runs against at most this many nearest files.
NEIGHBOURS = 10
#: Candidates whose snippet spectra correlate less than this are not checked further.
MIN_SPECTRAL_CORR = 0.8
#: Each file's nearest files by snippet spectrum, at least this alike, are candidates too.
SPECTRAL_NEIGHBOURS = 5
#: Candidates' loudest snippet bands (of 48, ~9 % apart) differ by at most this many.
PEAK_BAND_TOLERANCE = 3
#: ... and the spectral neighbours: their spectra's power-weighted centres differ by at
#: most this many half bands (the loudest band jumped between copies of flat spectra;
#: centres within half a band cost fewer products than loudest bands within one, and
#: found the same on the tuning seeds 0, 1, 3).
SPECTRAL_CENTRE_TOLERANCE = 1
SPECTRAL_NEIGHBOUR_CORR = 0.95
#: A pair aligned with one file's snippet starting more than this after the other's (one
#: file starts inside the other's sound: trimmed past its attack) is joined only after
#: the others, and not where it contradicts them (:func:`_join_partial`). Padded copies
#: start up to 10 ms apart (the snippet begins 10 ms before the onset, or at the file's
#: first sample).
PARTIAL_LAG_S = 0.015
_BLOCK = 512
#: A block of rows (sorted by duration) spans at most this many duration tolerances and
#: holds at least _MIN_BLOCK rows: its columns are the union of its rows' windows, so a
#: block spanning seconds among the long files multiplied mostly products outside them
#: (fewer, smaller blocks: more products; more, smaller ones: more Python per product).
_BLOCK_SPAN = 0.25
_MIN_BLOCK = 32
#: Columns per chunk when bounding a row's k-th best product (:func:`_floor_of_best`).
_CHUNK = 16

_LOSSY_SUBTYPES = {"VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III",
                   "ALAW", "ULAW", "G721_32", "G723_24", "G723_40", "GSM610", "IMA_ADPCM",
                   "MS_ADPCM", "VOX_ADPCM", "DWVW_12", "DWVW_16", "DWVW_24", "NMS_ADPCM_16",
                   "NMS_ADPCM_24", "NMS_ADPCM_32"}
_LOSSY_WORDS = ("mp3", "aac", "vorbis", "opus", "wma", "mpeg", "adpcm", "gsm", "ac3",
                "lossy")
_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32,
         "DOUBLE": 64, "ALAC_16": 16, "ALAC_20": 20, "ALAC_24": 24, "ALAC_32": 32}


@dataclass
class Member:
    sample_id: int
    path: str
    format: str | None
    subtype: str | None
    sample_rate: int | None
    channels: int | None
    size: int
    duration_s: float | None
    keep: bool = False
    #: "exact" (the keeper's very audio) or "near"; the keeper itself says "keeper"
    match: str = ""
    similarity: float | None = None  # waveform correlation with the keeper's (near)
    gain_db: float | None = None  # its level against the keeper's (near)
    #: the file is an example (a support) in some tree: kept before an equal copy
    example: bool = False

    @functools.cached_property
    def lossless(self) -> bool:
        return is_lossless(self.format, self.subtype)

    @property
    def bits(self) -> int:
        return _BITS.get((self.subtype or "").upper(), 0)

    @functools.cached_property
    def depth(self) -> int:
        """Bit depth as the keeper ranks it: float counts as 24-bit, lossy as 0."""
        if not self.lossless:
            return 0
        return min(self.bits, 24) if (self.subtype or "").upper() in ("FLOAT", "DOUBLE") \
            else self.bits

    @functools.cached_property
    def copy_name(self) -> bool:
        """The file's name looks like a copy's (:func:`looks_like_a_copy`)."""
        return looks_like_a_copy(self.path)

    @functools.cached_property
    def named_facts(self) -> int:
        """How many of tempo, key and root note the file's name states."""
        from core.analysis.names import parse_name

        f = parse_name(os.path.basename(self.path))
        return sum(v is not None for v in (f.bpm, f.key, f.root_midi))

    def quality(self) -> str:
        parts = [(self.format or "?").upper()]
        if self.bits:
            parts.append("float" if (self.subtype or "").upper() in ("FLOAT", "DOUBLE")
                         else f"{self.bits}-bit")
        if self.sample_rate:
            parts.append(f"{self.sample_rate / 1000:g} kHz")
        parts.append("lossless" if self.lossless else "lossy")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"sample_id": self.sample_id, "path": self.path, "keep": self.keep,
                "match": self.match, "example": self.example, "format": self.format,
                "subtype": self.subtype,
                "sample_rate": self.sample_rate, "channels": self.channels,
                "size": self.size, "duration_s": None if self.duration_s is None
                else round(self.duration_s, 3), "lossless": self.lossless,
                "similarity": None if self.similarity is None else round(self.similarity, 4),
                "gain_db": None if self.gain_db is None else round(self.gain_db, 1)}


@dataclass
class Group:
    id: int  # the smallest sample id in the group: stable while the library is
    kind: str  # "exact" (every file the same audio) or "near"
    members: list[Member]
    reason: str = ""

    @property
    def keeper(self) -> Member:
        return next(m for m in self.members if m.keep)

    @property
    def extras(self) -> list[Member]:
        return [m for m in self.members if not m.keep]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "keeper": self.keeper.path,
                "reason": self.reason, "files": [m.as_dict() for m in self.members]}


@dataclass
class Report:
    groups: list[Group]
    files: int  # files with a fingerprint (decoded, status ok)
    unfingerprinted: int  # decoded files without one yet (a scan fills them)
    near: bool
    candidates: int = 0  # near: pairs that reached the fine check
    seconds: float = 0.0
    note: str = ""  # near: why it could not look (no embedded file)
    extras: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.extras = sum(len(g.members) - 1 for g in self.groups)

    def as_dict(self) -> dict[str, Any]:
        return {"near": self.near, "files": self.files, "groups": len(self.groups),
                "extra_copies": self.extras, "unfingerprinted": self.unfingerprinted,
                "candidates": self.candidates, "seconds": round(self.seconds, 3),
                "note": self.note or None,
                "duplicates": [g.as_dict() for g in self.groups]}


def is_lossless(fmt: str | None, subtype: str | None) -> bool:
    sub = (subtype or "").upper()
    if sub in _LOSSY_SUBTYPES:
        return False
    words = f"{fmt or ''} {subtype or ''}".lower()
    return not any(w in words for w in _LOSSY_WORDS)


#: "copy", in the words file managers use for the copies they make
_COPY_WORD = r"(?:copy|kopie|copie|copia)"
_COPY_NAME = re.compile(
    # Windows XP "Copy of X", "Copy (2) of X"; German/French/Spanish/Italian forms
    rf"^{_COPY_WORD}(?: \(\d+\))? (?:of|von|de|di) .|"
    # macOS Finder "X copy", "X copy 2"; Windows "X - Copy", "X - Copy (2)"; "X_copy",
    # "X-copy3", "X.copy"
    rf"[\s_.\-]{_COPY_WORD}(?:[\s_\-]?\(?\d+\)?)?$|"
    # a browser's or Windows' second download / paste: "X (1)", "X(2)"
    r"\S\s?\(\d+\)$",
    re.IGNORECASE)


def looks_like_a_copy(path: str) -> bool:
    """The file's name (its extension aside) is one a file manager or browser gives a
    copy: ``Snare copy.wav``, ``Snare copy 2.wav``, ``Copy of Snare.wav``,
    ``Snare - Copy (2).wav``, ``Snare_copy.wav``, ``Snare (1).wav``. A bare trailing
    number (``Kick 2.wav``) is no sign: kits name their layers so."""
    stem = os.path.splitext(os.path.basename(path))[0].strip()
    return bool(_COPY_NAME.search(stem))


def _rank(m: Member) -> tuple[Any, ...]:
    return (-m.depth, not m.lossless, -(m.sample_rate or 0), -(m.channels or 0),
            not m.example)


def quality_key(m: Member) -> tuple[Any, ...]:
    """Sorts the best copy first: the deepest samples (a float file counts as 24-bit: it
    holds no more than that), lossless over lossy, the higher rate, more channels; among
    equals a file that is an example in a tree, then a name that does not look like a
    copy's (:func:`looks_like_a_copy`: ``Snare.wav`` over ``Snare copy.wav``), then a name
    that states more (tempo, key, root note: ``Loop_124bpm_Am.wav`` over ``Loop.wav``),
    then the shortest path."""
    return (*_rank(m), m.copy_name, -m.named_facts, len(m.path), m.path)


def best_first(members: Sequence[Member]) -> list[Member]:
    """``members`` with the best by :func:`quality_key` first, the others by quality;
    names are read only among copies the rest leaves equal to the best (a name costs
    ~15 µs to read, ~0.3 s over the groups of a 100k-file library)."""
    ms = sorted(members, key=lambda m: (*_rank(m), len(m.path), m.path))
    if len(ms) > 1 and _rank(ms[1]) == _rank(ms[0]):
        top = _rank(ms[0])
        n = next((k for k, m in enumerate(ms) if _rank(m) != top), len(ms))
        ms[:n] = sorted(ms[:n], key=quality_key)
    return ms


def keeper_reason(keeper: Member, others: Sequence[Member]) -> str:
    """One line: what sets the keeper above the best of the other copies."""
    if not others:
        return ""
    best = best_first(others)[0]
    q = keeper.quality()
    if keeper.lossless and not best.lossless:
        return f"lossless over lossy: {q}"
    if keeper.depth > best.depth:
        return f"highest bit depth: {q}"
    if (keeper.sample_rate or 0) > (best.sample_rate or 0):
        return f"highest sample rate: {q}"
    if (keeper.channels or 0) > (best.channels or 0):
        return f"most channels ({keeper.channels}): {q}"
    if keeper.example and not best.example:
        return f"same quality ({q}); an example in a tree"
    if best.copy_name and not keeper.copy_name:
        return f"same quality ({q}); not named as a copy"
    if keeper.named_facts > best.named_facts:
        return f"same quality ({q}); its name states tempo, key or note"
    return f"same quality ({q}); shortest path"


# -- finding ---------------------------------------------------------------------------


class _Union:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        p = self.parent.setdefault(a, a)
        while p != self.parent.setdefault(p, p):
            self.parent[p] = self.parent[self.parent[p]]
            p = self.parent[p]
        self.parent[a] = p
        return p

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def exact_groups(lib: Library) -> dict[int, int]:
    """sample id → group id (the group's smallest sample id), for files whose decoded
    audio another file of the library shares. Cheap: one indexed query."""
    with lib.reading() as conn:
        rows = conn.execute(
            select(dup_signatures.c.sample_id, dup_signatures.c.audio_hash, samples.c.path)
            .join(samples, samples.c.id == dup_signatures.c.sample_id)
            .where(samples.c.status == "ok", dup_signatures.c.audio_hash.in_(
                select(dup_signatures.c.audio_hash)
                .join(samples, samples.c.id == dup_signatures.c.sample_id)
                .where(samples.c.status == "ok")
                .group_by(dup_signatures.c.audio_hash).having(func.count() > 1)))).all()
    away = quarantined_ids(lib) if rows else set()
    members: dict[str, list[int]] = {}
    path_of: dict[int, str] = {}
    for sid, h, path in sorted(rows, key=lambda r: r[0]):
        if sid not in away:
            members.setdefault(h, []).append(int(sid))
            path_of[int(sid)] = path
    return {sid: group[0] for group in (_one_name_a_file(g, path_of) for g in members.values()
                                        if len(g) > 1)
            if len(group) > 1 for sid in group}


def similar_distinct(lib: Library, classifier: Any, sample_id: int, k: int = 20, *,
                     window_idx: int | None = None
                     ) -> tuple[list[tuple[int, int | None, float]], dict[int, list[int]]]:
    """``Classifier.similar`` as the command line's ``similar`` and the app's Find similar
    list it: each recording once (of files holding the same audio, the nearest), files
    missing from disk left out. Returns the hits and, for the query and each hit, the sample
    ids of its exact copies (the query's are left out of the hits: they are the query)."""
    groups = exact_groups(lib)
    with lib.reading() as conn:
        gone = [i for (i,) in conn.execute(select(samples.c.id)
                                           .where(samples.c.status == "missing"))]
    hits = classifier.similar(sample_id, k, window_idx=window_idx, same_audio=groups,
                              skip=gone)
    members: dict[int, list[int]] = {}
    for sid, g in sorted(groups.items()):
        members.setdefault(g, []).append(sid)
    copies = {s: [c for c in members.get(groups.get(s, -1), []) if c != s]
              for s in [sample_id, *(h[0] for h in hits)]}
    return hits, copies


def _current_model(lib: Library) -> int | None:
    with lib.reading() as conn:
        row = conn.execute(select(samples.c.model_id, func.count()).where(
            samples.c.status == "ok", samples.c.model_id.is_not(None))
            .group_by(samples.c.model_id).order_by(func.count().desc())).first()
    return None if row is None else int(row[0])


def mean_embeddings(lib: Library, model_key: int) -> tuple[np.ndarray, np.ndarray]:
    """(sample ids, unit-length mean embedding per file, centred on the library's mean).
    The per-file means are kept in the library (``dup_means``, core/dupstore.py)."""
    ids, means = mean_embeddings_raw(lib, model_key)
    if not len(ids):
        return ids, means
    means = means - means.mean(axis=0, keepdims=True)
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-9)
    return ids, means.astype(np.float32)


def candidate_pairs(vectors: np.ndarray, durations: np.ndarray, *,
                    min_cos: float = MIN_EMBEDDING_COS,
                    tolerance_s: float = dupsig.DURATION_TOLERANCE_S,
                    neighbours: int = NEIGHBOURS, block: int = _BLOCK,
                    keys: np.ndarray | None = None, key_tolerance: int = 0) -> np.ndarray:
    """Index pairs (i, j), i < j, sorted: for each row, its ``neighbours`` nearest rows
    (highest dot product, at least ``min_cos``) among those whose duration is within
    ``tolerance_s`` of its own and, with ``keys``, whose key is within ``key_tolerance``
    of its own.

    Per key, rows are sorted by duration; each block of ``block`` rows is multiplied only
    by the rows within the tolerances, so the cost follows how many files share a
    duration (and a key), not the square of the library.

    """
    n = len(vectors)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    i, j, _ = _neighbours(v, durations, min_cos=min_cos, neighbours=neighbours,
                          tolerance_s=tolerance_s, block=block, keys=keys,
                          key_tolerance=key_tolerance)
    return _unique_pairs(np.minimum(i, j), np.maximum(i, j), n)


def _unique_pairs(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """The distinct pairs (i, j) of indices below ``n``, sorted, as an (m, 2) array
    (through one int64 code a pair: np.unique over rows sorts far slower)."""
    if not len(i):
        return np.zeros((0, 2), np.int64)
    code = _distinct(np.asarray(i, np.int64) * n + np.asarray(j, np.int64))
    return np.stack([code // n, code % n], axis=1)


def _distinct(x: np.ndarray) -> np.ndarray:
    """``np.unique(x)`` of a 1-D array, through a sort: numpy 2.4's ``np.unique`` hashes,
    and took 1.1 s for 1.3 million int64 that sort in 7 ms."""
    s = np.sort(x, axis=None)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def _neighbours(v: np.ndarray, durations: np.ndarray, *, min_cos: float,
                tolerance_s: float, neighbours: int, block: int,
                keys: np.ndarray | None, key_tolerance: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, their neighbours, products), each row's best ``neighbours`` first.

    Two things keep the cost down (the same pairs as multiplying every row by every file
    of its key and duration window, then sorting each row's products):

    * a block of rows spans at most :data:`_BLOCK_SPAN` of their window's duration, so
      its columns (the union of the rows' windows) hold few files outside each row's
      own window (blocks of 512 rows over the long files multiplied 2.3x the products
      needed at 100k files);
    * each row's products are looked at only down to a lower bound of its
      ``neighbours``-th best: the columns fully inside the row's window are cut into
      chunks of :data:`_CHUNK` and each chunk's best taken; the ``neighbours``-th best
      of those chunk bests (each a product of the row's own window) cannot be above the
      row's ``neighbours``-th best product. On a library of a few tight clusters most
      products of a row pass ``min_cos``; sorting them all cost more than the products.
    """
    n = len(v)
    keys = np.zeros(n, np.int64) if keys is None else np.asarray(keys, np.int64)
    dur = np.asarray(durations, np.float64)
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    out_s: list[np.ndarray] = []
    span = _BLOCK_SPAN * tolerance_s
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        cols = np.flatnonzero(np.abs(keys - key) <= key_tolerance)
        rows = rows[np.argsort(dur[rows], kind="stable")]
        cols = cols[np.argsort(dur[cols], kind="stable")]
        dr, dc, vc = dur[rows], dur[cols], v[cols]
        # each row's window among the columns, a nanosecond inside its edges (so every
        # column in it passes the exact test below, on the durations themselves, whatever
        # the rounding), and where the row itself sits
        win_lo = np.searchsorted(dc, dr - tolerance_s + 1e-9, side="left")
        win_hi = np.searchsorted(dc, dr + tolerance_s - 1e-9, side="right")
        at = np.empty(n, np.int64)
        at[cols] = np.arange(len(cols))
        self_at = at[rows]
        dense = True  # the last block's rows had many products above their floor
        a = 0
        while a < len(rows):
            b = min(len(rows), a + block,
                    max(a + _MIN_BLOCK, int(np.searchsorted(dr, dr[a] + span, side="right"))))
            lo = int(np.searchsorted(dc, dr[a] - tolerance_s, side="left"))
            hi = int(np.searchsorted(dc, dr[b - 1] + tolerance_s, side="right"))
            ra = a
            a = b
            if hi - lo < 2:
                continue
            sims = v[rows[ra:b]] @ vc[lo:hi].T
            # (where few products pass min_cos, as among spectra at 0.95, the bound costs
            # more than it saves)
            thr = (_floor_of_best(sims, neighbours, win_lo[ra:b] - lo, win_hi[ra:b] - lo,
                                  self_at[ra:b] - lo, min_cos) if dense
                   else np.float32(min_cos))
            # only the products that reach each row's floor are looked at further: their
            # duration (each row's own window), not the row itself, then each row's best
            r, c = np.nonzero(sims >= (thr[:, None] if dense else thr))
            dense = 2 * len(r) >= neighbours * (b - ra)
            if not len(r):
                continue
            i, j = rows[ra:b][r], cols[lo:hi][c]
            ok = (np.abs(dr[ra:b][r] - dc[lo:hi][c]) <= tolerance_s) & (i != j)
            r, c, i, j = r[ok], c[ok], i[ok], j[ok]
            if not len(r):
                continue
            s = sims[r, c]
            order = np.lexsort((-s, r))
            r, i, j, s = r[order], i[order], j[order], s[order]
            rank = np.arange(len(r)) - np.searchsorted(r, r, side="left")
            best = rank < neighbours
            out_i.append(i[best])
            out_j.append(j[best])
            out_s.append(s[best])
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def _floor_of_best(sims: np.ndarray, k: int, lo: np.ndarray, hi: np.ndarray,
                   self_at: np.ndarray, min_cos: float) -> np.ndarray:
    """Per row of ``sims``: ``min_cos``, or a lower bound of the row's ``k``-th best
    product among columns ``lo[r]`` ≤ c < ``hi[r]`` (not its own column ``self_at[r]``)
    where that is higher (see :func:`_neighbours`)."""
    rows, m = sims.shape
    n_chunks = m // _CHUNK
    thr = np.full(rows, np.float32(min_cos), np.float32)
    if n_chunks < k:
        return thr
    first = np.arange(n_chunks) * _CHUNK
    best = np.maximum.reduceat(sims, first, axis=1)  # the last chunk runs to the end
    last = np.r_[first[1:], m]
    inside = ((first[None, :] >= lo[:, None]) & (last[None, :] <= hi[:, None])
              & ((self_at[:, None] < first[None, :]) | (self_at[:, None] >= last[None, :])))
    best[~inside] = -np.inf
    kth = np.partition(best, n_chunks - k, axis=1)[:, n_chunks - k]
    return np.maximum(thr, kth)


def quarantined_ids(lib: Library) -> set[int]:
    """Files a quarantine batch moved away (and no undo brought back): out of the search."""
    with lib.reading() as conn:
        batches = [int(i) for i, opts in conn.execute(
            select(relabel_batches.c.id, relabel_batches.c.options))
            if json.loads(opts).get("purpose") == "duplicates"]
        if not batches:
            return set()
        return {int(i) for (i,) in conn.execute(
            select(relabel_ops.c.sample_id).where(relabel_ops.c.batch_id.in_(batches),
                                                  relabel_ops.c.state == "done",
                                                  relabel_ops.c.sample_id.is_not(None)))}


def _near_search(lib: Library, model_key: int, min_cos: float,
                 info: dict[int, Any], head_of: dict[int, bytes | None],
                 by_hash: dict[str, int], uf: _Union,
                 parsed: dict[int, dupsig.Signature | None],
                 checked: dict[tuple[int, int], dupsig.Verdict],
                 load: Any) -> int:
    """The near search proper (see :func:`find_duplicates`): joins near copies in ``uf``
    and returns how many pairs reached the fine check."""
    n_candidates = 0
    emb_ids, vecs = mean_embeddings(lib, model_key)
    # one file per decoded audio: its exact copies follow it through the union
    reps = set(by_hash.values())
    keep = np.array([int(s) in reps and int(s) in info for s in emb_ids], bool)
    emb_ids, vecs = emb_ids[keep], vecs[keep]
    durs = np.array([info[int(s)][7] or 0.0 for s in emb_ids], np.float64)
    # an index: files whose snippets' loudest bands lie far apart are not compared
    blobs = [head_of.get(int(s)) for s in emb_ids]
    keys = dupsig.peak_bands(blobs)
    pairs = candidate_pairs(vecs, durs, min_cos=min_cos, keys=keys,
                            key_tolerance=PEAK_BAND_TOLERANCE)
    # a cheap vectorised first check: the snippets' spectra (shift-free, and
    # gain-free); their own nearest neighbours are candidates too, for the copies
    # whose embedding moved (quieter, trimmed) behind other takes of the instrument
    spec = dupsig.spectra(blobs)
    by_spec = candidate_pairs(spec, durs, min_cos=SPECTRAL_NEIGHBOUR_CORR,
                              neighbours=SPECTRAL_NEIGHBOURS,
                              keys=dupsig.spectral_centres(blobs),
                              key_tolerance=SPECTRAL_CENTRE_TOLERANCE)
    if len(by_spec):
        both = np.concatenate([pairs, by_spec])
        pairs = _unique_pairs(both[:, 0], both[:, 1], len(emb_ids))
    if len(pairs):
        keep_pairs = dupsig.spectral_similarity(spec, pairs[:, 0], pairs[:, 1])
        pairs = pairs[keep_pairs >= MIN_SPECTRAL_CORR]
        # likeliest first: a pair already joined through others needs no check
        cos = np.einsum("ij,ij->i", vecs[pairs[:, 0]], vecs[pairs[:, 1]])
        pairs = pairs[np.argsort(-cos, kind="stable")]
    sid_pairs = emb_ids[pairs] if len(pairs) else np.zeros((0, 2), np.int64)
    load(int(s) for s in _distinct(sid_pairs))
    # (rho, x, y, y's start after x's in s): pairs found alike where one file starts
    # inside the other's sound, joined only afterwards (_join_partial)
    partial: list[tuple[float, int, int, float]] = []
    seen: dict[tuple[int, int], dupsig.Verdict] = {}
    for a in range(0, len(sid_pairs), dupsig.BATCH):
        todo = [(int(x), int(y)) for x, y in sid_pairs[a:a + dupsig.BATCH]
                if uf.find(int(x)) != uf.find(int(y))]
        todo = [(x, y) for x, y in todo
                if parsed.get(x) is not None and parsed.get(y) is not None]
        n_candidates += len(todo)
        verdicts = dupsig.compare_many([parsed[x] for x, _ in todo],  # type: ignore[misc]
                                       [parsed[y] for _, y in todo])  # type: ignore[misc]
        for (x, y), v in zip(todo, verdicts, strict=True):
            seen[(x, y)] = v
            if not v.duplicate:
                continue
            lag = v.lag_s - (parsed[x].onset_s - parsed[y].onset_s)  # type: ignore[union-attr]
            if abs(lag) <= PARTIAL_LAG_S:
                uf.union(x, y)
                checked[(x, y)] = v
            else:
                partial.append((v.wave_corr, x, y, lag))
    n_candidates += _join_partial(partial, uf, parsed, info, checked, seen)
    return n_candidates


def _join_partial(partial: list[tuple[float, int, int, float]], uf: _Union,
                  parsed: dict[int, dupsig.Signature | None], info: dict[int, Any],
                  checked: dict[tuple[int, int], dupsig.Verdict],
                  seen: dict[tuple[int, int], dupsig.Verdict]) -> int:
    """Join the pairs where one file starts inside the other's sound (a copy trimmed
    past its attack), best match first, unless the join would put two whole recordings
    that differ into one group.

    A copy trimmed past the strike holds only the decay, and another velocity layer of
    the same drum decays with the same waveform (0.99 against 0.9999 for the copy's own
    original): on its own the check cannot tell which recording it came from. The groups
    can: each group keeps its members' starts on one time line, and before two groups
    are joined their earliest-starting members (the whole recordings, or the least
    trimmed copies; lossless first) are compared, and a join they contradict is not
    made. Best first, a trimmed copy joins its own recording before the look-alike,
    which the contradiction then keeps out. Returns how many extra pairs were compared."""
    if not partial:
        return 0
    members: dict[int, dict[int, float]] = {}  # group → {file: start on its time line (s)}
    for s, sig in parsed.items():
        if sig is not None:
            members.setdefault(uf.find(s), {})[s] = 0.0

    def head(group: dict[int, float]) -> int:
        first = min(group.values())
        return min((s for s, t in group.items() if t <= first + PARTIAL_LAG_S),
                   key=lambda s: (not is_lossless(info[s][2], info[s][3]), group[s], s))

    extra = 0
    for _rho, x, y, lag in sorted(partial, key=lambda e: (-e[0], e[1], e[2])):
        rx, ry = uf.find(x), uf.find(y)
        if rx == ry:
            continue
        mx, my = members[rx], members[ry]
        shift = mx[x] + lag - my[y]  # Q's time line onto P's
        hx, hy = head(mx), head(my)
        if hx != x or hy != y:
            v = seen.get((hx, hy)) or seen.get((hy, hx))
            if v is None:
                v = dupsig.compare(parsed[hx], parsed[hy])  # type: ignore[arg-type]
                seen[(hx, hy)] = v
                extra += 1
            if not v.duplicate:
                continue
        merged = {**mx, **{s: t + shift for s, t in my.items()}}
        del members[rx], members[ry]
        uf.union(x, y)
        members[uf.find(x)] = merged
        checked[(x, y)] = seen[(x, y)]
    return extra


def find_duplicates(lib: Library, *, near: bool = False,
                    min_cos: float = MIN_EMBEDDING_COS) -> Report:
    """Every group of duplicate files (exact only, or exact and near), keeper chosen."""
    t0 = time.perf_counter()
    ids, hashes, heads = read_hashes_and_spectra(lib)
    away = quarantined_ids(lib)
    if away:
        rows = [r for r in zip(ids, hashes, heads, strict=True) if r[0] not in away]
        ids, hashes, heads = ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    with lib.reading() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        # (raw: 100k rows through the ORM cost ~0.5 s; a path that is not UTF-8 is
        # stored as bytes, decoded as schema.FsPath does)
        info = {int(r[0]): (r[0], os.fsdecode(r[1]) if isinstance(r[1], bytes) else r[1],
                            *r[2:]) for r in raw.execute(
            "SELECT id, path, format, subtype, sample_rate, channels, size, duration_s "
            "FROM samples WHERE status = 'ok'").fetchall()}
    from core.dupstore import count_without_fingerprints

    missing = count_without_fingerprints(lib)
    uf = _Union()
    by_hash: dict[str, int] = {}
    for sid, h in zip(ids, hashes, strict=True):
        if h in by_hash:
            uf.union(by_hash[h], sid)
        else:
            by_hash[h] = sid
    hash_of = dict(zip(ids, hashes, strict=True))
    n_candidates = 0
    note = ""
    parsed: dict[int, dupsig.Signature | None] = {}
    checked: dict[tuple[int, int], dupsig.Verdict] = {}  # pairs found alike, as compared

    def load(sids: Iterable[int]) -> None:
        """Parse the signatures of ``sids`` not parsed yet (read in one go)."""
        want = [s for s in sids if s not in parsed]
        if want:
            blobs = read_signatures(lib, want)
            for s in want:
                parsed[s] = dupsig.parse(blobs.get(s))

    if near:
        model_key = _current_model(lib)
        if model_key is None:
            note = ("near duplicates are found among embedded files, and none is: scan with "
                    "the network")
        else:
            # one BLAS thread: the products come in blocks too small for a second one
            # to pay, and on a busy machine the waiting threads spin (3.4x the CPU time
            # of the candidate stage at 20k files, measured)
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="blas"):
                n_candidates = _near_search(lib, model_key, min_cos, info,
                                            dict(zip(ids, heads, strict=True)), by_hash,
                                            uf, parsed, checked, load)
    members: dict[int, list[int]] = {}
    for sid in ids:
        if sid in info:
            members.setdefault(uf.find(sid), []).append(sid)
    examples = _examples(lib)
    groups = []
    to_compare: list[tuple[Member, Member]] = []
    for sids in members.values():
        if len(sids) < 2:
            continue
        sids = _one_name_a_file(sids, {s: info[s][1] for s in sids})
        if len(sids) < 2:
            continue
        ms = best_first([Member(s, *info[s][1:], example=s in examples)
                         for s in sorted(sids)])
        ms[0].keep, ms[0].match = True, "keeper"
        keeper = ms[0]
        for m in ms[1:]:
            if hash_of[m.sample_id] == hash_of[keeper.sample_id]:
                m.match = "exact"
            else:
                m.match = "near"
                to_compare.append((keeper, m))
        kind = "exact" if len({hash_of[s] for s in sids}) == 1 else "near"
        groups.append(Group(min(sids), kind, ms, keeper_reason(keeper, ms[1:])))
    # each near copy's similarity and level against its keeper's: as the search compared
    # them, else compared now (in batches)
    rest = []
    for k, m in to_compare:
        if (k.sample_id, m.sample_id) in checked:
            v = checked[(k.sample_id, m.sample_id)]
            m.similarity, m.gain_db = v.wave_corr, -v.gain_db
        elif (m.sample_id, k.sample_id) in checked:
            v = checked[(m.sample_id, k.sample_id)]
            m.similarity, m.gain_db = v.wave_corr, v.gain_db
        else:
            rest.append((k, m))
    load(s for k, m in rest for s in (k.sample_id, m.sample_id))
    both = [(k, m) for k, m in rest
            if parsed.get(k.sample_id) is not None and parsed.get(m.sample_id) is not None]
    verdicts = dupsig.compare_many([parsed[k.sample_id] for k, _ in both],  # type: ignore[misc]
                                   [parsed[m.sample_id] for _, m in both])  # type: ignore[misc]
    for (_k, m), v in zip(both, verdicts, strict=True):
        m.similarity, m.gain_db = v.wave_corr, -v.gain_db
    groups.sort(key=lambda g: g.keeper.path)
    return Report(groups, len(ids), missing, near, n_candidates, time.perf_counter() - t0,
                  note)


def _one_name_a_file(sids: list[int], path_of: dict[int, str]) -> list[int]:
    """``sids`` with every name of one file counted once: a symbolic link to a file (a
    "favourites" folder of links, or a folder link an older library scanned twice) is that
    file, not a copy of it to move away. The file's own path is kept over a link's."""
    by_real: dict[str, int] = {}
    for s in sorted(sids):
        path = path_of[s]
        real = os.path.realpath(path)
        if real not in by_real or path == real:
            by_real[real] = s
    return sorted(by_real.values())


# -- quarantine --------------------------------------------------------------------------

QUARANTINE_TREE = "(duplicates)"


def _roots(lib: Library) -> list[str]:
    return sorted(lib.roots(), key=len, reverse=True)


def quarantine_target(path: str, dest: str, roots: Sequence[str]) -> str:
    """Where an extra copy goes: DEST/<its scanned folder's name>/<its path inside it>."""
    root = next((r for r in roots if under(path, r)), None)
    if root is None:
        return os.path.join(dest, os.path.basename(path))
    rel = os.path.relpath(path, root)
    return os.path.join(dest, os.path.basename(root.rstrip(os.sep)) or "root", rel)


def plan_quarantine(lib: Library, groups: Iterable[Group], dest: str | os.PathLike[str],
                    *, keepers: dict[int, int] | None = None,
                    skipped_out: dict[str, int] | None = None,
                    ) -> tuple[int, list[dict[str, Any]]]:
    """Store a relabel batch (mode ``move``, state ``planned``) that moves every file of
    ``groups`` but its keeper into ``dest``; ``keepers`` (group id → sample id) overrides
    the suggested keeper. Returns (batch id, the planned moves); every other copy is
    counted in ``skipped_out`` (when given) under its reason, a key of
    :data:`core.relabel.reports.SKIP_REASONS` (missing, unreadable, not_writable,
    changed). Apply it with
    :func:`core.relabel.apply_batch`; :func:`core.relabel.undo_batch` puts the files back.
    Nothing on disk is touched here.
    """
    from core.relabel.disksteps import _sha256
    from core.relabel.plan import (
        _check_writable,
        _unique,
        changed_since_scan,
        folder_writable,
    )

    dest_abs = os.path.abspath(os.fspath(dest))
    if not os.fspath(dest).strip():
        raise RelabelError("the quarantine folder is empty; give a folder")
    if os.path.lexists(dest_abs) and not os.path.isdir(dest_abs):
        raise RelabelError(f"the quarantine folder {dest_abs} is a file, not a folder")
    roots = _roots(lib)
    real = os.path.realpath(dest_abs)
    for r in roots:
        if under(real, os.path.realpath(r)):
            raise RelabelError(f"the quarantine folder {dest_abs} is inside {r}, a scanned "
                               "folder: the copies would be scanned in again. Choose a "
                               "folder outside it")
    _check_writable(dest_abs)
    with lib.reading() as conn:
        recorded = {p: (size, mtime, fp) for p, size, mtime, fp in conn.execute(
            select(samples.c.path, samples.c.size, samples.c.mtime_ns,
                   samples.c.content_hash))}
    lib_paths = set(recorded)

    def changed(path: str) -> bool:
        """Edited or replaced since the scan: the group's verdict is of other bytes."""
        try:
            st = os.stat(path)
        except OSError:
            return False  # (missing and unreadable are told apart below)
        return path not in recorded or changed_since_scan(path, st, *recorded[path])

    taken: set[str] = set()
    listings: dict[str, set[str]] = {}
    ops: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    folder_ok: dict[str, bool] = {}
    keepers = keepers or {}
    for g in groups:
        keep_id = keepers.get(g.id, g.keeper.sample_id)
        if keep_id not in {m.sample_id for m in g.members}:
            raise RelabelError(f"file {keep_id} is not in duplicate group {g.id}")
        kept_path = next(x.path for x in g.members if x.sample_id == keep_id)
        kept_real = os.path.realpath(kept_path)
        keeper_changed = changed(kept_path)
        for m in g.members:
            if m.sample_id == keep_id:
                continue
            if os.path.realpath(m.path) == kept_real:
                # the kept file itself by another name (a symbolic link to it, or a link
                # to its folder an older library scanned twice): moving it would take the
                # kept file away
                skipped["same_file"] = skipped.get("same_file", 0) + 1
                continue
            if keeper_changed or changed(m.path):
                skipped["changed"] = skipped.get("changed", 0) + 1
                continue
            if not folder_writable(os.path.dirname(m.path), folder_ok):
                skipped["not_writable"] = skipped.get("not_writable", 0) + 1
                continue
            try:
                st = os.stat(m.path)
                digest = _sha256(m.path)
            except FileNotFoundError:
                skipped["missing"] = skipped.get("missing", 0) + 1
                continue
            except OSError:
                skipped["unreadable"] = skipped.get("unreadable", 0) + 1
                continue
            target = _unique(quarantine_target(m.path, dest_abs, roots), taken, lib_paths,
                             listings)
            ops.append({"seq": len(ops) + 1, "sample_id": m.sample_id, "src": m.path,
                        "dst": target, "label": f"duplicate of {os.path.basename(kept_path)}",
                        "confidence": m.similarity if m.match == "near" else 1.0,
                        "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                        "checksum": digest, "state": "planned"})
    new_dirs: set[str] = set()
    for op in ops:
        d = os.path.dirname(op["dst"])
        while under(d, dest_abs) or under(dest_abs, d):
            if os.path.lexists(d):
                break
            new_dirs.add(d)
            d = os.path.dirname(d)
    if skipped_out is not None:
        skipped_out.update(skipped)
    options = {"tree": QUARANTINE_TREE, "purpose": "duplicates", "skipped": skipped,
               "new_dirs": sorted(new_dirs, key=lambda d: (-d.count(os.sep), d))}
    with lib.transaction() as conn:
        batch_id = int(conn.execute(insert(relabel_batches).values(
            tree_id=None, mode="move", dest=dest_abs, options=json.dumps(options),
            state="planned", created_at=time.time())).inserted_primary_key[0])
        if ops:
            conn.execute(insert(relabel_ops), [{"batch_id": batch_id, **op} for op in ops])
    return batch_id, ops


def quarantine(lib: Library, groups: Iterable[Group], dest: str | os.PathLike[str], *,
               keepers: dict[int, int] | None = None) -> Any:
    """Plan and apply: move the extra copies to ``dest`` (undo with
    :func:`core.relabel.undo_batch`). Returns the relabel ApplyReport."""
    from core.relabel import apply_batch, discard_batch
    from core.relabel.reports import SKIP_REASONS

    skipped: dict[str, int] = {}
    batch_id, ops = plan_quarantine(lib, groups, dest, keepers=keepers, skipped_out=skipped)
    if not ops:
        discard_batch(lib, batch_id)
        why = "; ".join(f"{n} {SKIP_REASONS.get(k, k)}" for k, n in skipped.items())
        raise RelabelError("no extra copy to move " + (f"({why})" if why else
                                                       "(none left, or their files are gone)"))
    from core.joblock import JobBusy

    try:
        return apply_batch(lib, batch_id)
    except JobBusy:  # a scan or relabel of another process (or thread) runs: refused
        discard_batch(lib, batch_id)  # before any step; the batch just planned goes too
        raise


def _examples(lib: Library) -> set[int]:
    """Sample ids that are an example (a support) in any tree."""
    from sqlalchemy import select

    from core.schema import supports

    with lib.reading() as conn:
        return {int(r[0]) for r in conn.execute(select(supports.c.sample_id).distinct())}
