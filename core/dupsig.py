"""Fingerprints for finding duplicate files (``sampletree duplicates``).

Two things are computed in the scan's decode stage, in the worker processes (numpy and
soxr only):

* **The decoded-audio hash** (:class:`PcmHasher`): SHA-256 over the file's samples exactly
  as the decoder returns them (32-bit float, every channel interleaved), together with
  the rate, the channel count and the frame count. Two files share it only when they
  decode to the very same samples: a WAV and a FLAC of the same PCM, the same file with
  other tags or metadata chunks. It is never a guess: a file resampled, re-encoded or with
  one sample changed gets another hash.
* **The near-duplicate signature** (:func:`signature`, ~3.7 KB a file), from the first
  seconds of the 16 kHz mono stream the scan decodes anyway: a 10 ms loudness envelope
  of the first 4 s, 0.256 s of the waveform from the first onset at 8 kHz, and a later
  stretch of it (0.25-0.55 s after the onset, below 1.8 kHz, at 4 kHz).
  :func:`compare` aligns two signatures by cross-correlating their waveforms (to a fraction of
  a sample, over ±200 ms: trimmed and padded copies), then requires both the waveforms
  and the envelopes to agree once gain is taken out. A copy re-encoded, resampled,
  gain-changed, trimmed or padded keeps its waveform; another take of the same
  instrument (another note, another hit, another velocity layer) does not, even when
  its envelope and spectrum look alike. The later stretch catches the velocity layers
  of a tuned bell, whose first quarter second is the same waveform a few dB louder: a
  copy keeps its waveform later on too (the same alignment), another strike drifts away.
  Noise-like sounds (spectral flatness of the snippet, :data:`NOISE_FLATNESS`) are held to
  a looser correlation: a lossy codec blurs them most, and two takes of noise never agree.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Layout version stored as the first byte of every signature. Version 1 (no later
#: stretch) is still read, and compared without it; the next scan replaces it.
SIG_VERSION = 2
SIG_VERSIONS = (1, 2)
SIG_RATE = 16_000
ENV_HOP = 160  # 10 ms at 16 kHz
ENV_FRAMES = 400  # the first 4 s
SNIP_RATE = 8_000
SNIP_LEN = 2_048  # 0.256 s at 8 kHz
N_BANDS = 48  # the snippet's spectrum, 60 Hz-3.8 kHz in log-spaced bands
SPECTRUM_FLOOR_DB = 60.0  # bands further below the loudest count as this low
PRE_ONSET = 160  # the snippet starts 10 ms before the onset (16 kHz samples)
#: The onset: the first sample within -30 dB of the peak of the first 4 s (a copy whose
#: start was trimmed mid-decay still has its onset at once).
ONSET_FRACTION = 0.03
_EDGE = 512  # 16 kHz samples of margin when the snippet is resampled
SNIP_LOWPASS_HZ = 3_400.0
_HEADER = np.dtype([("version", "u1"), ("onset_s", "<f4"), ("peak_db", "<f4"),
                    ("n_env", "<u2"), ("n_snip", "<u2")])
#: The later stretch (version 2): LATE_LEN samples at LATE_RATE from LATE_START_S after
#: the snippet's start, int8 scaled to its own peak; ``late_db`` is that peak against
#: the snippet's (dB), so that both keep their true levels.
LATE_RATE = 4_000
LATE_START_S = 0.25
LATE_LEN = 1_200  # 0.3 s
_LATE_MARGIN = 256  # 16 kHz samples either side, for the resampler's edges
_LATE_HEADER = np.dtype([("n_late", "<u2"), ("late_db", "<f4")])

#: Decision thresholds of :func:`compare` (measured in bench/duplicates_eval.py,
#: docs/eval/duplicates.md).
#: A pair is one recording when its waveforms correlate at least MIN_WAVE_CORR and its
#: envelopes differ by at most MAX_ENV_DEV_DB on average once gain is taken out, or
#: (noisy sounds through a lossy codec) at least LOOSE_WAVE_CORR with envelopes within
#: TIGHT_ENV_DEV_DB. Velocity layers of one drum, recorded one after the other, reach a
#: correlation of 0.97 with envelopes 0.6-1 dB apart: they stay apart.
MIN_WAVE_CORR = 0.985
MAX_ENV_DEV_DB = 1.0
LOOSE_WAVE_CORR = 0.90
TIGHT_ENV_DEV_DB = 0.3
#: ... and then the waveforms below LOW_BAND_HZ, which a lossy codec keeps, must agree
#: closely: velocity layers of one drum share their ringing modes (0.90-0.97 overall,
#: envelopes within 0.3 dB in one kit) but not to this degree.
MIN_LOW_BAND_CORR = 0.995
LOW_BAND_HZ = 1_000.0
MAX_LAG_S = 0.2
MIN_OVERLAP_S = 0.08
#: Files quieter than this everywhere (dBFS peak) are never called near duplicates:
#: their "waveform" is noise or dither.
MIN_PEAK_DB = -70.0
#: Near duplicates last as long as each other, within this (trim and pad at both ends).
DURATION_TOLERANCE_S = 0.25
#: ... and where both later stretches are loud enough (their power within LATE_GATE_DB
#: of the snippet's) and overlap, once aligned, for at least LATE_MIN_OVERLAP_S, those
#: must correlate at least MIN_LATE_CORR. Chosen on tuning seeds (0, 1, 9, 10 of
#: bench/duplicates_eval.py) as the highest value that splits at most 0.1 % of the
#: true pairs the other rules accept (docs/eval/duplicates.md).
MIN_LATE_CORR = 0.95
LATE_GATE_DB = -40.0
LATE_MIN_OVERLAP_S = 0.05
#: Noise-like sounds (applause, cymbals, shakers): where both snippets' spectral flatness
#: (60 Hz-3.4 kHz) is at least NOISE_FLATNESS, two different recordings never share a
#: waveform, while a lossy codec leaves a copy at only 0.91-0.97: waveforms that agree to
#: LOOSE_WAVE_CORR with envelopes within MAX_ENV_DEV_DB and later stretches to
#: NOISE_LATE_CORR are one recording. Tonal sounds, whose strikes share their ringing
#: modes, measure below 0.06 (velocity layers of toms, snares, bells: 0.000-0.051 on the
#: tuning seeds), noisy copies 0.075-0.36.
NOISE_FLATNESS = 0.1
NOISE_LATE_CORR = 0.8


class PcmHasher:
    """Hash of the decoded frames ``[own_a, own_b)`` of a file, fed block by block."""

    def __init__(self, own_a: int, own_b: int) -> None:
        self.own_a, self.own_b = own_a, own_b
        self.frames = 0
        self._h = hashlib.sha256()  # SHA-NI: 1.45x BLAKE2b here

    def update(self, block: np.ndarray, first: int) -> None:
        """``block``: (frames, channels) float32 as decoded, its first frame at ``first``."""
        lo = max(0, self.own_a - first)
        hi = min(len(block), self.own_b - first)
        if hi > lo:
            part = np.ascontiguousarray(block[lo:hi], dtype=np.float32)
            self._h.update(part.data)
            self.frames += hi - lo

    def hexdigest(self) -> str:
        return f"{self.frames}:{self._h.hexdigest()[:32]}"


def combine_hashes(sample_rate: int, channels: int, frames: int, parts: list[str]) -> str:
    """The file's decoded-audio hash from its segments' hashes, in order."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"pcm-f32/{sample_rate}/{channels}/{frames}".encode())
    for p in parts:
        h.update(b"|" + p.encode())
    return h.hexdigest()


def _db(x: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(x, 1e-12))


def signature(y: np.ndarray, rate: int = SIG_RATE) -> bytes:
    """The near-duplicate signature of a file from its mono stream ``y`` (from frame 0)."""
    import soxr

    y = np.asarray(y, dtype=np.float32)
    if rate != SIG_RATE and len(y):
        y = soxr.resample(y, rate, SIG_RATE, quality="HQ").astype(np.float32)
    head = y[:ENV_FRAMES * ENV_HOP]
    n_env = max(1, -(-len(head) // ENV_HOP))
    frames = np.zeros(n_env * ENV_HOP, np.float32)
    frames[:len(head)] = head
    power = np.mean(np.square(frames.reshape(n_env, ENV_HOP), dtype=np.float64), axis=1)
    env = np.clip(np.round(2.0 * (_db(power) + 100.0)), 0, 255).astype(np.uint8)
    peak = float(np.max(np.abs(head))) if len(head) else 0.0
    peak_db = float(20.0 * np.log10(max(peak, 1e-9)))
    onset = int(np.argmax(np.abs(head) >= ONSET_FRACTION * peak)) if peak > 0 else 0
    start = max(0, onset - PRE_ONSET)
    need = SNIP_LEN * (SIG_RATE // SNIP_RATE)
    # resampled with a margin either side (silence before the file's start, as in a
    # padded copy), so that no copy's snippet carries the resampler's edges at a place
    # where another's does not
    ratio = SIG_RATE // SNIP_RATE
    body = y[start:start + need + _EDGE]
    part = np.concatenate([np.zeros(_EDGE, np.float32), body]).astype(np.float32)
    valid = min(SNIP_LEN, len(y[start:start + need]) // ratio)
    snip = (soxr.resample(part, SIG_RATE, SNIP_RATE, quality="HQ")[
        _EDGE // ratio:_EDGE // ratio + valid] if valid >= 8 else np.zeros(0, np.float32))
    if len(snip):
        # below 3.4 kHz only: what the resampler lets alias near 4 kHz depends on the
        # copy's sample phase (a copy one 16 kHz sample later correlated 0.97, not 1)
        n = 1 << int(np.ceil(np.log2(len(snip) + 256)))
        spec = np.fft.rfft(snip, n)
        spec[_lowpass_cut(n):] = 0
        snip = np.fft.irfft(spec, n)[:len(snip)].astype(np.float32)
    n_snip = len(snip)
    scale = float(np.max(np.abs(snip))) if n_snip else 0.0
    q = np.zeros(SNIP_LEN, np.int8)
    if scale > 0:
        q[:n_snip] = np.clip(np.round(snip / scale * 127.0), -127, 127).astype(np.int8)
    header = np.zeros(1, _HEADER)
    header[0] = (SIG_VERSION, start / SIG_RATE, peak_db, n_env, n_snip)
    late = _late(y, start, scale)
    return (header.tobytes() + env.tobytes() + q.tobytes() + late
            + _spectrum(snip).tobytes())


def _late(y: np.ndarray, start: int, snip_scale: float) -> bytes:
    """The later stretch of the waveform (see :data:`LATE_START_S`), as stored."""
    import soxr

    ratio = SIG_RATE // LATE_RATE
    a = start + int(LATE_START_S * SIG_RATE)
    valid = min(LATE_LEN, max(0, len(y) - a) // ratio)
    q = np.zeros(LATE_LEN, np.int8)
    late_db = 0.0
    if valid >= 16 and snip_scale > 0:
        lo = max(0, a - _LATE_MARGIN)
        part = y[lo:a + valid * ratio + _LATE_MARGIN]
        z = soxr.resample(part, SIG_RATE, LATE_RATE, quality="HQ")
        k = (a - lo) // ratio
        z = z[k:k + valid]
        valid = len(z)
        scale = float(np.max(np.abs(z))) if valid else 0.0
        if scale > 0:
            q[:valid] = np.clip(np.round(z / scale * 127.0), -127, 127).astype(np.int8)
            late_db = 20.0 * np.log10(scale / snip_scale)
        else:
            valid = 0
    else:
        valid = 0
    head = np.zeros(1, _LATE_HEADER)
    head[0] = (valid, late_db)
    return head.tobytes() + q.tobytes()


@functools.lru_cache(maxsize=16)
def _lowpass_cut(n: int) -> int:
    """The first bin of an ``n``-point real FFT at SNIP_RATE above SNIP_LOWPASS_HZ (the
    bins are in rising order: zeroing from it on is zeroing where they are above)."""
    above = np.fft.rfftfreq(n, 1.0 / SNIP_RATE) > SNIP_LOWPASS_HZ
    return int(np.argmax(above)) if above.any() else len(above)


@functools.lru_cache(maxsize=64)
def _hanning(n: int) -> np.ndarray:
    """``np.hanning(n)``, made once a length (most snippets are SNIP_LEN long)."""
    w = np.hanning(n)
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=1)
def _band_edges() -> np.ndarray:
    """(Made once: geomspace cost ~0.1 ms a file in the scan's decoders.)"""
    freqs = np.fft.rfftfreq(SNIP_LEN, 1.0 / SNIP_RATE)
    edges = np.geomspace(60.0, 0.48 * SNIP_RATE, N_BANDS + 1)
    idx = np.searchsorted(freqs, edges)
    idx.setflags(write=False)
    return idx


def _spectrum(snip: np.ndarray) -> np.ndarray:
    """Band levels of the snippet (uint8, 0.5 dB a step below the loudest band): a
    shift-free summary two copies share however they are aligned."""
    if not len(snip):
        return np.full(N_BANDS, 255, np.uint8)
    x = np.zeros(SNIP_LEN, np.float32)
    x[:len(snip)] = snip * _hanning(len(snip))
    power = np.abs(np.fft.rfft(x)) ** 2
    idx = _band_edges()
    starts = np.minimum(idx[:-1], len(power) - 1)
    sums = np.add.reduceat(power[:max(int(idx[-1]), int(starts[-1]) + 1)], starts)
    bands = sums / np.maximum(np.diff(idx), 1)  # a band narrower than a bin: that bin
    db = _db(bands)
    return np.clip(np.round(2.0 * (db.max() - db)), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Signature:
    onset_s: float
    peak_db: float
    env: np.ndarray  # dB, float32, 10 ms frames
    snip: np.ndarray  # float32, SNIP_LEN (zero past n_snip)
    n_snip: int
    #: the later stretch, in the snippet's scale (float32, n_late long), or None
    #: (version 1, or the file ends before it)
    late: np.ndarray | None = None

    def flatness(self) -> float:
        """Spectral flatness of the snippet, 60 Hz-3.4 kHz (geometric over arithmetic
        mean of the power spectrum: ~0 for a few ringing modes, ~0.5 for white noise),
        computed once."""
        cached = self.__dict__.get("_flatness")
        if cached is None:
            cached = _flatness(self.snip[:self.n_snip])
            object.__setattr__(self, "_flatness", cached)
        return cached

    def smooth_env(self) -> np.ndarray:
        """:func:`_smooth` of the envelope, computed once."""
        cached = self.__dict__.get("_smooth")
        if cached is None:
            cached = _smooth(self.env)
            object.__setattr__(self, "_smooth", cached)
        return cached


def _flatness(x: np.ndarray) -> float:
    if len(x) < 16:
        return 0.0
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)), SNIP_LEN)) ** 2
    freqs = np.fft.rfftfreq(SNIP_LEN, 1.0 / SNIP_RATE)
    p = power[(freqs >= 60.0) & (freqs <= SNIP_LOWPASS_HZ)].astype(np.float64) + 1e-12
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def parse(blob: bytes | None) -> Signature | None:
    """A stored signature, or None (absent, or of another layout version)."""
    if not blob or len(blob) < _HEADER.itemsize or blob[0] not in SIG_VERSIONS:
        return None
    h = np.frombuffer(blob, _HEADER, count=1)[0]
    n_env, n_snip = int(h["n_env"]), int(h["n_snip"])
    off = _HEADER.itemsize
    late_size = _LATE_HEADER.itemsize + LATE_LEN if blob[0] >= 2 else 0
    if len(blob) != off + n_env + SNIP_LEN + late_size + N_BANDS:
        return None
    env = np.frombuffer(blob, np.uint8, n_env, off).astype(np.float32) / 2.0 - 100.0
    snip = np.frombuffer(blob, np.int8, SNIP_LEN, off + n_env).astype(np.float32) / 127.0
    late = None
    if late_size:
        at = off + n_env + SNIP_LEN
        lh = np.frombuffer(blob, _LATE_HEADER, count=1, offset=at)[0]
        n_late = int(lh["n_late"])
        if n_late:
            late = (np.frombuffer(blob, np.int8, n_late, at + _LATE_HEADER.itemsize)
                    .astype(np.float32) * np.float32(10.0 ** (float(lh["late_db"]) / 20.0)
                                                     / 127.0))
    return Signature(float(h["onset_s"]), float(h["peak_db"]), env, snip, n_snip, late)


def _band_levels(blobs: list[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """(n x N_BANDS uint8 band levels, whether each signature has them), in one pass."""
    _empty = bytes(N_BANDS)
    have = np.array([bool(b) and b[0] in SIG_VERSIONS and len(b) > N_BANDS  # type: ignore[index]
                     for b in blobs], bool)
    joined = b"".join(b[-N_BANDS:] if h else _empty  # type: ignore[index]
                      for b, h in zip(blobs, have, strict=True))
    return np.frombuffer(joined, np.uint8).reshape(len(blobs), N_BANDS), have


def spectra(blobs: list[bytes | None]) -> np.ndarray:
    """The band levels of many signatures at once (n x N_BANDS float32, dB below the
    loudest band), centred and of unit length, for :func:`spectral_similarity`; a row of
    zeros where a signature is missing."""
    levels, _have = _band_levels(blobs)
    out = levels.astype(np.float32)
    out = -np.minimum(out, 2.0 * SPECTRUM_FLOOR_DB) / 2.0
    out -= out.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(norms > 0, out / np.maximum(norms, 1e-9), 0.0).astype(np.float32)


def peak_bands(blobs: list[bytes | None]) -> np.ndarray:
    """The loudest band of each signature's snippet spectrum (-100 where missing)."""
    levels, have = _band_levels(blobs)
    return np.where(have, np.argmin(levels, axis=1), -100).astype(np.int64)


def spectral_centres(blobs: list[bytes | None]) -> np.ndarray:
    """The power-weighted centre of each signature's snippet spectrum, in half bands
    (rounded; -100 where missing): unlike the loudest band it does not jump between two
    peaks of nearly one level, so spectra that correlate closely have centres close
    together."""
    levels, have = _band_levels(blobs)
    power = _LEVEL_POWER[levels]  # (a table: np.power over 100k x 48 cost ~0.1 s)
    centre = (power @ np.arange(N_BANDS, dtype=np.float32)
              / np.maximum(power.sum(axis=1), np.float32(1e-12)))
    return np.where(have, np.round(2.0 * centre), -100).astype(np.int64)


#: The power of each stored band level (0.5 dB steps below the loudest, floored).
_LEVEL_POWER = np.power(10.0, -np.minimum(np.arange(256), 2.0 * SPECTRUM_FLOOR_DB) / 20.0
                        ).astype(np.float32)


def spectral_similarity(spec: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Correlation of the band levels of pairs (i, j): a cheap first check, vectorised."""
    return np.einsum("ij,ij->i", spec[i], spec[j])


@dataclass(frozen=True)
class Verdict:
    duplicate: bool
    wave_corr: float
    env_dev_db: float
    lag_s: float
    gain_db: float
    reason: str = ""
    #: the later stretches' correlation once aligned, and the quieter one's level against
    #: its snippet (dB); None where there is no later stretch to compare
    late_corr: float | None = None
    late_db: float | None = None




def _best_lag(a: np.ndarray, b: np.ndarray, na: int, nb: int, max_lag: int) -> float | None:
    """Lag (in snippet samples, fractional) where b best matches a (a[n] ≈ b[n - lag]):
    the highest cross-correlation normalised by the energies of the overlapping parts,
    among lags whose overlap holds at least half of one snippet's energy and lasts
    :data:`MIN_OVERLAP_S`. None when no lag qualifies."""
    n = 1 << int(np.ceil(np.log2(2 * len(a))))
    spec = np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n))
    # on a half-sample grid: a copy one sample later at 16 kHz is half a sample later
    # here, and a bright periodic sound then peaks one period off on the whole-sample grid
    cc = np.fft.irfft(spec, 2 * n) * 2
    m = 2 * max_lag
    window = np.concatenate([cc[-m:], cc[:m + 1]])  # lags -max..+max in half samples
    lags = np.arange(-m, m + 1) / 2.0
    li = np.round(lags).astype(np.int64)
    ca = np.concatenate([[0.0], np.cumsum(np.square(a[:na], dtype=np.float64))])
    cb = np.concatenate([[0.0], np.cumsum(np.square(b[:nb], dtype=np.float64))])
    a0, a1 = np.clip(li, 0, na), np.clip(nb + li, 0, na)
    b0, b1 = np.clip(-li, 0, nb), np.clip(na - li, 0, nb)
    ea = ca[np.maximum(a1, a0)] - ca[a0]
    eb = cb[np.maximum(b1, b0)] - cb[b0]
    overlap = a1 - a0
    ok = ((overlap >= min(MIN_OVERLAP_S * SNIP_RATE, 0.6 * min(na, nb)))
          & ((ea >= 0.5 * ca[-1]) | (eb >= 0.5 * cb[-1])) & (ea > 0) & (eb > 0))
    if not ok.any():
        return None
    ncc = np.where(ok, window / np.sqrt(np.maximum(ea * eb, 1e-30)), -np.inf)
    best = int(np.argmax(ncc))
    lag = float(lags[best])
    if 0 < best < len(window) - 1:  # finer: the parabola through the peak
        y0, y1, y2 = window[best - 1], window[best], window[best + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            lag += float(np.clip(0.25 * (y0 - y2) / den, -0.25, 0.25))
    return lag


def _shift(x: np.ndarray, lag: float) -> np.ndarray:
    """x delayed by ``lag`` samples (fractional, through the spectrum), same length."""
    n = 1 << int(np.ceil(np.log2(2 * len(x))))
    freqs = np.fft.rfftfreq(n)
    out = np.fft.irfft(np.fft.rfft(x, n) * np.exp(-2j * np.pi * freqs * lag), n)
    return out[:len(x)].astype(np.float32)


def _late_corr(a: Signature, b: Signature, lag: float) -> tuple[float, float] | None:
    """(correlation, level) of the later stretches with b moved onto a by ``lag`` (in
    snippet samples, as from :func:`_best_lag`): the level is the quieter stretch's
    power over the overlap against its own snippet's, in dB. None when either has no
    later stretch or they overlap too little."""
    if a.late is None or b.late is None:
        return None
    lag = lag * LATE_RATE / SNIP_RATE
    na, nb = len(a.late), len(b.late)
    i = int(np.ceil(max(0.0, lag))) + 2  # a[n] ≈ b[n - lag]; past the shift's edges
    j = int(np.floor(min(na, nb + lag))) - 2
    if j - i < LATE_MIN_OVERLAP_S * LATE_RATE:
        return None
    xb = np.zeros(max(na, nb), np.float32)
    xb[:nb] = b.late
    xa, xb = a.late[i:j], _shift(xb, lag)[i:j]
    pa, pb = float(np.dot(xa, xa)), float(np.dot(xb, xb))
    if pa <= 0 or pb <= 0:
        return None
    sa = float(np.mean(np.square(a.snip[:a.n_snip])))
    sb = float(np.mean(np.square(b.snip[:b.n_snip])))
    level = min(_db(np.float64(pa / (j - i) / max(sa, 1e-12))),
                _db(np.float64(pb / (j - i) / max(sb, 1e-12))))
    return float(np.dot(xa, xb) / np.sqrt(pa * pb)), float(level)


def _low_band_corr(xa: np.ndarray, xb: np.ndarray) -> float:
    """Correlation of two aligned snippets below :data:`LOW_BAND_HZ`."""
    n = len(xa)
    fa, fb = np.fft.rfft(xa), np.fft.rfft(xb)
    k = max(2, int(LOW_BAND_HZ * n / SNIP_RATE))
    fa, fb = fa[1:k], fb[1:k]
    den = float(np.sqrt(np.sum(np.abs(fa) ** 2) * np.sum(np.abs(fb) ** 2)))
    return float(np.real(np.sum(fa * np.conj(fb))) / den) if den > 0 else 0.0


def _smooth(env_db: np.ndarray) -> np.ndarray:
    """The envelope over 30 ms at each 10 ms step (in power): two copies' frame grids
    sit up to 5 ms apart, and a noisy sound's 10 ms levels swing by several dB."""
    p = np.power(10.0, env_db / 10.0)
    padded = np.r_[p[0], p, p[-1]]
    return (10.0 * np.log10((padded[:-2] + padded[1:-1] + padded[2:]) / 3.0 + 1e-12)
            ).astype(np.float32)


def compare(a: Signature, b: Signature) -> Verdict:
    """Whether two signatures are of the same recording (see the module's words)."""
    return compare_many([a], [b])[0]


#: Pairs compared at once by :func:`compare_many` (memory: ~70 KB a pair).
BATCH = 128
#: Pairs whose best lag correlates below LOOSE_WAVE_CORR by more than this are not
#: refined to a fraction of a sample (no verdict changes: checked on the tuning seeds).
PRE_CORR_MARGIN = 0.15


def compare_many(left: Sequence[Signature], right: Sequence[Signature]) -> list[Verdict]:
    """:func:`compare` of each pair ``(left[k], right[k])``, vectorised over the pairs:
    the lag search and the waveform correlation, which cost most, run as one batch of
    FFTs per :data:`BATCH` pairs; the envelope and the later stretch are looked at only
    for pairs whose waveforms agree. A pair's verdict is the same alone or in a batch."""
    out: list[Verdict] = []
    for a in range(0, len(left), BATCH):
        out += _compare_batch(left[a:a + BATCH], right[a:a + BATCH])
    return out


_N_FFT = 1 << int(np.ceil(np.log2(2 * SNIP_LEN)))


_FREQS32 = np.fft.rfftfreq(_N_FFT).astype(np.float32)


def _shift_many(spec_b: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Rows of b (given as their complex64 spectra over _N_FFT) delayed by ``lags``
    samples (float32)."""
    theta = (np.float32(-2 * np.pi) * _FREQS32[None, :]) * lags[:, None].astype(np.float32)
    phase = np.empty(theta.shape, np.complex64)
    phase.real = np.cos(theta)
    phase.imag = np.sin(theta)
    return np.fft.irfft(spec_b * phase, _N_FFT, axis=1)[:, :SNIP_LEN]


def _masked_corr(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """Row-wise correlation of two float32 batches (already masked to the overlap)."""
    num = np.einsum("ij,ij->i", xa, xb, dtype=np.float64)
    den = np.sqrt(np.einsum("ij,ij->i", xa, xa, dtype=np.float64)
                  * np.einsum("ij,ij->i", xb, xb, dtype=np.float64))
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _overlap_norms(sa: np.ndarray, sb: np.ndarray, na: np.ndarray, nb: np.ndarray,
                   max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row and whole-sample lag in -max_lag..max_lag (a[n] ≈ b[n - lag]):
    whether the overlap qualifies (as in :func:`_best_lag`) and 1/sqrt of the two
    overlapping parts' energies (0 where it does not qualify)."""
    rows = len(sa)
    whole = np.arange(-max_lag, max_lag + 1)
    zeros = np.zeros((rows, 1))
    ca = np.concatenate([zeros, np.cumsum(np.square(sa, dtype=np.float64), axis=1)], axis=1)
    cb = np.concatenate([zeros, np.cumsum(np.square(sb, dtype=np.float64), axis=1)], axis=1)
    ea = np.empty((rows, len(whole)))
    eb = np.empty((rows, len(whole)))
    overlap = np.empty((rows, len(whole)), np.int64)
    full = (na == SNIP_LEN) & (nb == SNIP_LEN)
    if full.any():
        # both snippets whole: the overlaps are plain slices of the running sums
        n = SNIP_LEN
        fa, fb = ca[full], cb[full]
        ea[full] = np.concatenate([fa[:, n - max_lag:n], fa[:, n:n + 1] - fa[:, :max_lag + 1]],
                                  axis=1)
        eb[full] = np.concatenate([fb[:, n:n + 1] - fb[:, max_lag:0:-1],
                                   fb[:, n::-1][:, :max_lag + 1]], axis=1)
        overlap[full] = n - np.abs(whole)
    part = ~full
    if part.any():
        w = whole[None, :]
        na_, nb_ = na[part, None], nb[part, None]
        pa, pb = ca[part], cb[part]
        a0, a1 = np.clip(w, 0, na_), np.clip(nb_ + w, 0, na_)
        b0, b1 = np.clip(-w, 0, nb_), np.clip(na_ - w, 0, nb_)
        ea[part] = np.take_along_axis(pa, np.maximum(a1, a0), 1) - np.take_along_axis(pa, a0, 1)
        eb[part] = np.take_along_axis(pb, np.maximum(b1, b0), 1) - np.take_along_axis(pb, b0, 1)
        overlap[part] = a1 - a0
    ta = np.take_along_axis(ca, na[:, None], 1)
    tb = np.take_along_axis(cb, nb[:, None], 1)
    need = np.minimum(MIN_OVERLAP_S * SNIP_RATE, 0.6 * np.minimum(na, nb))[:, None]
    ok = ((overlap >= need) & ((ea >= 0.5 * ta) | (eb >= 0.5 * tb)) & (ea > 0) & (eb > 0))
    norm = np.zeros_like(ea)
    np.divide(1.0, np.sqrt(ea * eb, where=ok, out=norm), where=ok, out=norm)
    return ok, norm


def _compare_batch(left: Sequence[Signature], right: Sequence[Signature]) -> list[Verdict]:
    n_pairs = len(left)
    verdicts: list[Verdict | None] = [None] * n_pairs
    live: list[int] = []
    for k, (a, b) in enumerate(zip(left, right, strict=True)):
        if a.peak_db < MIN_PEAK_DB or b.peak_db < MIN_PEAK_DB:
            verdicts[k] = Verdict(False, 0.0, 99.0, 0.0, 0.0, "silent")
        elif a.n_snip < 16 or b.n_snip < 16:
            verdicts[k] = Verdict(False, 0.0, 99.0, 0.0, 0.0, "too short")
        else:
            live.append(k)
    if not live:
        return [v for v in verdicts if v is not None]
    sa = np.stack([left[k].snip for k in live])  # float32
    sb = np.stack([right[k].snip for k in live])
    na = np.array([left[k].n_snip for k in live], np.int64)
    nb = np.array([right[k].n_snip for k in live], np.int64)
    # -- the lag (as _best_lag, row by row)
    max_lag = int(MAX_LAG_S * SNIP_RATE)
    # (in single precision: the correlations then move by ~1e-6)
    fa, fb = np.fft.rfft(sa, _N_FFT, axis=1), np.fft.rfft(sb, _N_FFT, axis=1)
    cc = np.fft.irfft(fa * np.conj(fb), 2 * _N_FFT, axis=1) * np.float32(2)
    m = 2 * max_lag
    window = np.concatenate([cc[:, -m:], cc[:, :m + 1]], axis=1)
    lags = np.arange(-m, m + 1) / 2.0
    li = np.round(lags).astype(np.int64)[None, :]
    # the overlaps' energies, on the whole-sample grid (a half-sample lag rounds to one)
    ok_whole, norm_whole = _overlap_norms(sa, sb, na, nb, max_lag)
    at = li[0] + max_lag
    # (in single precision, and the overlap's test read off the norm, which is 0 where
    # the overlap does not qualify and > 0 where it does: the two gathers and the
    # double-precision products onto the half-sample grid cost more than the FFTs)
    norm_half = norm_whole.astype(np.float32)[:, at]
    ncc = window * norm_half
    ncc[norm_half == 0] = -np.inf
    best = np.argmax(ncc, axis=1)
    rows = np.arange(len(live))
    found = lags[best].copy()
    inner = (best > 0) & (best < window.shape[1] - 1)
    y0 = window[rows, np.maximum(best - 1, 0)]
    y1 = window[rows, best]
    y2 = window[rows, np.minimum(best + 1, window.shape[1] - 1)]
    den = y0 - 2 * y1 + y2
    fine = inner & (den < 0)
    found[fine] += np.clip(0.25 * (y0 - y2)[fine] / den[fine], -0.25, 0.25)
    has_lag = ok_whole.any(axis=1)
    # -- the overlap
    i = np.ceil(np.maximum(0.0, found + 0.5)).astype(np.int64)
    j = np.floor(np.minimum(na, nb + found - 0.5)).astype(np.int64)
    enough = (j - i) >= np.minimum(MIN_OVERLAP_S * SNIP_RATE, 0.6 * np.minimum(na, nb))
    go = has_lag & enough
    # waveforms that correlate this little at their best lag are not refined: the
    # refinement moves the correlation by far less than the gap to LOOSE_WAVE_CORR
    # (the peak between grid points, from the parabola through the three around it)
    top = y1 - np.where(fine, (y0 - y2) ** 2 / np.where(fine, 8 * den, -1.0), 0.0)
    peak = np.where(has_lag, top * norm_whole[rows, at[best]], 0.0)
    poor = go & (peak < LOOSE_WAVE_CORR - PRE_CORR_MARGIN)
    for r in np.flatnonzero(poor):
        k = live[r]
        verdicts[k] = Verdict(False, float(peak[r]), 99.0,
                              float(found[r]) / SNIP_RATE + left[k].onset_s - right[k].onset_s,
                              0.0, "waveforms differ")
    go &= ~poor
    for r in np.flatnonzero(~go & ~poor):
        k = live[r]
        verdicts[k] = (Verdict(False, 0.0, 99.0, 0.0, 0.0, "no overlap") if not has_lag[r]
                       else Verdict(False, 0.0, 99.0, float(found[r]) / SNIP_RATE, 0.0,
                                    "no overlap"))
    keep = np.flatnonzero(go)
    if len(keep):
        _finish(left, right, [live[r] for r in keep], sa[keep],
                fb[keep], found[keep],
                i[keep], j[keep], verdicts)
    return [v for v in verdicts if v is not None]


def _finish(left: Sequence[Signature], right: Sequence[Signature], idx: list[int],
            sa: np.ndarray, fb: np.ndarray, found: np.ndarray, i: np.ndarray,
            j: np.ndarray, verdicts: list[Verdict | None]) -> None:
    """The waveform correlation at the refined lag, then (where it is high enough to
    matter) the envelopes and the later stretches."""
    at = np.arange(SNIP_LEN)[None, :]
    mask = ((at >= i[:, None]) & (at < j[:, None])).astype(np.float32)
    xa = sa * mask

    def corr_at(lag: np.ndarray) -> np.ndarray:
        return _masked_corr(xa, _shift_many(fb, lag) * mask)

    r0, r1, r2 = corr_at(found - 0.25), corr_at(found), corr_at(found + 0.25)
    lag, rho = found.copy(), r1.copy()
    curve = r0 - 2 * r1 + r2
    bend = curve < 0
    if bend.any():
        step = np.zeros_like(found)
        step[bend] = np.clip(0.125 * (r0 - r2)[bend] / curve[bend], -0.25, 0.25)
        r_step = corr_at(found + step)
        better = bend & (r_step > rho)
        lag[better], rho[better] = (found + step)[better], r_step[better]
    side = np.maximum(r0, r2) > rho
    lag[side] = np.where(r0 > r2, found - 0.25, found + 0.25)[side]
    rho[side] = np.where(r0 > r2, r0, r2)[side]
    for r, k in enumerate(idx):
        a, b = left[k], right[k]
        rho_r, lag_r = float(rho[r]), float(lag[r])
        lag_s = lag_r / SNIP_RATE + (a.onset_s - b.onset_s)
        if rho_r < LOOSE_WAVE_CORR:
            verdicts[k] = Verdict(False, rho_r, 99.0, lag_s, 0.0, "waveforms differ")
            continue
        verdicts[k] = _envelope_verdict(a, b, rho_r, lag_r, lag_s,
                                        int(i[r]), int(j[r]))


def _envelope_verdict(a: Signature, b: Signature, rho: float, lag: float, lag_s: float,
                      i: int, j: int) -> Verdict:
    lf = round(lag_s * SIG_RATE / ENV_HOP)
    ea, eb = a.smooth_env(), b.smooth_env()
    ia, ib = max(0, lf), max(0, -lf)
    n = min(len(ea) - ia, len(eb) - ib)
    if n <= 0:
        return Verdict(False, rho, 99.0, lag_s, 0.0, "no envelope overlap")
    ea, eb = ea[ia:ia + n], eb[ib:ib + n]
    top = max(float(ea.max()), float(eb.max()))
    loud = (np.maximum(ea, eb) > top - 40.0) & (np.minimum(ea, eb) > -95.0)
    if not loud.any():
        return Verdict(False, rho, 99.0, lag_s, 0.0, "silent")
    diff = ea[loud] - eb[loud]
    gain = float(np.median(diff))
    # each frame against the nearest of b's frames one either side: the 10 ms grid of
    # two copies can sit up to 5 ms apart, which at an attack is many dB
    near_b = np.stack([eb, np.r_[eb[1:], eb[-1]], np.r_[eb[0], eb[:-1]]])
    dev = float(np.mean(np.min(np.abs(ea[None, :] - gain - near_b), axis=0)[loud]))
    dup = rho >= MIN_WAVE_CORR and dev <= MAX_ENV_DEV_DB
    if not dup and dev <= TIGHT_ENV_DEV_DB:
        # the low band, which a lossy codec keeps, then has to agree closely
        xb = _shift(b.snip, lag)[i:j]
        dup = _low_band_corr(a.snip[i:j], xb) >= MIN_LOW_BAND_CORR
    noisy = False
    if not dup and dev <= MAX_ENV_DEV_DB:
        noisy = min(a.flatness(), b.flatness()) >= NOISE_FLATNESS
        dup = noisy
    reason = "" if dup else ("envelopes differ" if dev > MAX_ENV_DEV_DB else
                             "waveforms and envelopes differ a little")
    late = _late_corr(a, b, lag)
    late_corr, late_db = (None, None) if late is None else late
    if (dup and late_corr is not None and late_db is not None and late_db >= LATE_GATE_DB
            and late_corr < (NOISE_LATE_CORR if noisy else MIN_LATE_CORR)):
        dup, reason = False, "later waveforms differ"
    return Verdict(dup, rho, dev, lag_s, gain, reason, late_corr, late_db)
