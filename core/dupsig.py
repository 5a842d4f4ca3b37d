"""Fingerprints for finding duplicate files (``sampletree duplicates``).

Two things are computed in the scan's decode stage, in the worker processes (numpy and
soxr only):

* **The decoded-audio hash** (:class:`PcmHasher`): SHA-256 over the file's samples exactly
  as the decoder returns them (32-bit float, every channel interleaved), together with
  the rate, the channel count and the frame count. Two files share it only when they
  decode to the very same samples: a WAV and a FLAC of the same PCM, the same file with
  other tags or metadata chunks. It is never a guess: a file resampled, re-encoded or with
  one sample changed gets another hash.
* **The near-duplicate signature** (:func:`signature`, ~2.5 KB a file), from the first
  seconds of the 16 kHz mono stream the scan decodes anyway: a 10 ms loudness envelope
  of the first 4 s and 0.256 s of the waveform from the first onset, at 8 kHz.
  :func:`compare` aligns two signatures by cross-correlating their waveforms (to a fraction of
  a sample, over ±200 ms: trimmed and padded copies), then requires both the waveforms
  and the envelopes to agree once gain is taken out. A copy re-encoded, resampled,
  gain-changed, trimmed or padded keeps its waveform; another take of the same
  instrument (another note, another hit, another velocity layer) does not, even when
  its envelope and spectrum look alike.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

#: Layout version stored as the first byte of every signature.
SIG_VERSION = 1
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
        spec[np.fft.rfftfreq(n, 1.0 / SNIP_RATE) > SNIP_LOWPASS_HZ] = 0
        snip = np.fft.irfft(spec, n)[:len(snip)].astype(np.float32)
    n_snip = len(snip)
    scale = float(np.max(np.abs(snip))) if n_snip else 0.0
    q = np.zeros(SNIP_LEN, np.int8)
    if scale > 0:
        q[:n_snip] = np.clip(np.round(snip / scale * 127.0), -127, 127).astype(np.int8)
    header = np.zeros(1, _HEADER)
    header[0] = (SIG_VERSION, start / SIG_RATE, peak_db, n_env, n_snip)
    return header.tobytes() + env.tobytes() + q.tobytes() + _spectrum(snip).tobytes()


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
    x[:len(snip)] = snip * np.hanning(len(snip))
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


def parse(blob: bytes | None) -> Signature | None:
    """A stored signature, or None (absent, or of another layout version)."""
    if not blob or len(blob) < _HEADER.itemsize or blob[0] != SIG_VERSION:
        return None
    h = np.frombuffer(blob, _HEADER, count=1)[0]
    n_env, n_snip = int(h["n_env"]), int(h["n_snip"])
    off = _HEADER.itemsize
    if len(blob) != off + n_env + SNIP_LEN + N_BANDS:
        return None
    env = np.frombuffer(blob, np.uint8, n_env, off).astype(np.float32) / 2.0 - 100.0
    snip = np.frombuffer(blob, np.int8, SNIP_LEN, off + n_env).astype(np.float32) / 127.0
    return Signature(float(h["onset_s"]), float(h["peak_db"]), env, snip, n_snip)


def spectra(blobs: list[bytes | None]) -> np.ndarray:
    """The band levels of many signatures at once (n x N_BANDS float32, dB below the
    loudest band), centred and of unit length, for :func:`spectral_similarity`; a row of
    zeros where a signature is missing."""
    out = np.zeros((len(blobs), N_BANDS), np.float32)
    for i, blob in enumerate(blobs):
        if blob and blob[0] == SIG_VERSION and len(blob) > N_BANDS:
            out[i] = np.frombuffer(blob, np.uint8, N_BANDS, len(blob) - N_BANDS)
    out = -np.minimum(out, 2.0 * SPECTRUM_FLOOR_DB) / 2.0
    out -= out.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(norms > 0, out / np.maximum(norms, 1e-9), 0.0).astype(np.float32)


def peak_bands(blobs: list[bytes | None]) -> np.ndarray:
    """The loudest band of each signature's snippet spectrum (-100 where missing)."""
    out = np.full(len(blobs), -100, np.int64)
    for i, blob in enumerate(blobs):
        if blob and blob[0] == SIG_VERSION and len(blob) > N_BANDS:
            out[i] = int(np.argmin(np.frombuffer(blob, np.uint8, N_BANDS,
                                                 len(blob) - N_BANDS)))
    return out


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
    if a.peak_db < MIN_PEAK_DB or b.peak_db < MIN_PEAK_DB:
        return Verdict(False, 0.0, 99.0, 0.0, 0.0, "silent")
    if a.n_snip < 16 or b.n_snip < 16:
        return Verdict(False, 0.0, 99.0, 0.0, 0.0, "too short")
    max_lag = int(MAX_LAG_S * SNIP_RATE)
    found = _best_lag(a.snip, b.snip, a.n_snip, b.n_snip, max_lag)
    if found is None:
        return Verdict(False, 0.0, 99.0, 0.0, 0.0, "no overlap")
    i = int(np.ceil(max(0.0, found + 0.5)))
    j = int(np.floor(min(a.n_snip, b.n_snip + found - 0.5)))
    if j - i < min(MIN_OVERLAP_S * SNIP_RATE, 0.6 * min(a.n_snip, b.n_snip)):
        return Verdict(False, 0.0, 99.0, found / SNIP_RATE, 0.0, "no overlap")
    xa = a.snip[i:j]

    def corr_at(lag: float) -> tuple[float, np.ndarray]:
        """Correlation over the overlap, with b moved onto a by ``lag``."""
        xb = _shift(b.snip, lag)[i:j]
        den = float(np.sqrt(np.dot(xa, xa) * np.dot(xb, xb)))
        return (float(np.dot(xa, xb) / den) if den > 0 else 0.0), xb

    # the fraction of a sample matters for bright sustained sounds: refine the lag on the
    # correlation itself (a parabola through three shifts a quarter sample apart)
    (r0, _), (r1, xb), (r2, _) = (corr_at(found - 0.25), corr_at(found), corr_at(found + 0.25))
    lag, rho = found, r1
    curve = r0 - 2 * r1 + r2
    if curve < 0:
        step = float(np.clip(0.125 * (r0 - r2) / curve, -0.25, 0.25))
        r_step, xb_step = corr_at(found + step)
        if r_step > rho:
            lag, rho, xb = found + step, r_step, xb_step
    if max(r0, r2) > rho:
        lag, rho = (found - 0.25, r0) if r0 > r2 else (found + 0.25, r2)
        xb = corr_at(lag)[1]
    rho_low = _low_band_corr(xa, xb)
    # The snippets start at each file's onset: the lag between the files themselves.
    lag_s = lag / SNIP_RATE + (a.onset_s - b.onset_s)
    lf = round(lag_s * SIG_RATE / ENV_HOP)
    ea, eb = _smooth(a.env), _smooth(b.env)
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
    dup = ((rho >= MIN_WAVE_CORR and dev <= MAX_ENV_DEV_DB)
           or (rho >= LOOSE_WAVE_CORR and rho_low >= MIN_LOW_BAND_CORR
               and dev <= TIGHT_ENV_DEV_DB))
    reason = "" if dup else ("waveforms differ" if rho < LOOSE_WAVE_CORR else
                             "envelopes differ" if dev > MAX_ENV_DEV_DB else
                             "waveforms and envelopes differ a little")
    return Verdict(dup, rho, dev, lag_s, gain, reason)
