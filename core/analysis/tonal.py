"""Key (tonic and mode) of tonal material and the root note of a tonal one-shot (numpy).

Key: a chroma vector from the spectral peaks of 8,192-point frames (40 Hz–2.5 kHz), each
peak's magnitude (log-compressed) going to its pitch class, summed over the file, then
correlated with the 24 rotations of Krumhansl–Kessler's major and minor profiles.

Root note: YIN (de Cheveigné & Kawahara) on 2,048-sample frames after the attack; the
median of the voiced frames' pitch, rounded to the nearest semitone.

Both say nothing (None) unless the material is tonal: a key needs peaky spectra (most of
the energy in narrow peaks) and a clear winner; a root note needs most frames voiced and
steady. Drums, noise and FX get "—", never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.keys import key_name, note_name
from core.analysis.rhythm import spectrogram

# Krumhansl & Kessler (1982) probe-tone profiles
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
KEY_N_FFT = 8192
KEY_HOP = 2048
#: a key is claimed only above these (set on the evaluation's development seed, see
#: docs/eval/analysis.md): tonality = share of the 200 Hz–2.5 kHz energy in narrow peaks
#: (drum loops: median 0.30, tonal phrases: 0.74), flatness = median spectral flatness of
#: 100 Hz–4 kHz (drums 0.52, phrases 0.25), and the best profile correlation
MIN_TONALITY = 0.45
MAX_FLATNESS = 0.45
MIN_KEY_CORR = 0.60


def _profiles() -> np.ndarray:
    rows = [np.roll(_MAJOR, t) for t in range(12)] + [np.roll(_MINOR, t) for t in range(12)]
    p = np.array(rows)
    p = p - p.mean(axis=1, keepdims=True)
    return p / np.linalg.norm(p, axis=1, keepdims=True)


_PROFILES = _profiles()


@dataclass(frozen=True)
class KeyGuess:
    key: str | None  # "Am", "F#"; None when not tonal enough
    confidence: float
    tonality: float  # share of the energy in spectral peaks (0…1)
    flatness: float
    best: str  # the best-matching key even when not claimed (for evaluation)
    chroma: np.ndarray


def chroma(y: np.ndarray, sr: int) -> tuple[np.ndarray, float, float]:
    """(12-bin chroma summed over time, tonality, flatness)."""
    if len(y) < KEY_N_FFT // 4:
        y = np.pad(y, (0, KEY_N_FFT // 4 - len(y)))
    mag = spectrogram(y, KEY_N_FFT, KEY_HOP)
    freqs = np.fft.rfftfreq(KEY_N_FFT, 1 / sr)
    tonality, flatness = _tonality(mag, freqs)
    band = (freqs >= 40) & (freqs <= 2500)
    m = mag[:, band]
    f = freqs[band]
    energy = np.square(m)
    frame_e = energy.sum(axis=1)
    loud = frame_e > frame_e.max() * 1e-3 if frame_e.max() > 0 else frame_e > 0
    m = m[loud]
    if not len(m):
        return np.zeros(12), tonality, flatness
    # peaks: local maxima over ±2 bins, 8× the frame's median
    pad = np.pad(m, ((0, 0), (2, 2)), mode="edge")
    is_max = m >= np.lib.stride_tricks.sliding_window_view(pad, 5, axis=1).max(axis=2)
    peak = is_max & (m > 8 * np.median(m, axis=1, keepdims=True) + 1e-12)
    pc = np.round(12 * np.log2(f / 440.0) + 69).astype(int) % 12
    weight = np.log1p(100.0 * m / (m.max() + 1e-12)) * peak
    per_frame = np.zeros((len(m), 12))
    for k in range(12):
        per_frame[:, k] = weight[:, pc == k].sum(axis=1)
    per_frame /= per_frame.sum(axis=1, keepdims=True) + 1e-12
    # the bass: each frame's lowest strong peak (chords in loops sit on their root)
    strong = peak & (m > 0.2 * m.max(axis=1, keepdims=True))
    has = strong.any(axis=1)
    lowest = np.argmax(strong, axis=1)
    bass = np.zeros((len(m), 12))
    bass[np.flatnonzero(has), pc[lowest[has]]] = 1.0
    # a loop starts on its first chord, most often the tonic: its first quarter counts more
    n = len(m)
    q = max(1, n // 4)
    c = (per_frame.sum(axis=0) + 0.5 * (n / q) * per_frame[:q].sum(axis=0)
         + 0.5 * bass.sum(axis=0) + 0.5 * (n / q) * bass[:q].sum(axis=0))
    return c, tonality, flatness


def _tonality(mag: np.ndarray, freqs: np.ndarray) -> tuple[float, float]:
    """(share of the 200 Hz–2.5 kHz energy in narrow peaks 8× the frame's median, median
    spectral flatness of 100 Hz–4 kHz) over the sounding frames. Above 200 Hz so that a
    kick's sine-like body does not count as tonal."""
    total = np.square(mag).sum(axis=1)
    if not len(total) or total.max() <= 0:
        return 0.0, 1.0
    mag = mag[total > total.max() * 1e-3]
    band = (freqs >= 200) & (freqs <= 2500)
    m = mag[:, band]
    e = np.square(m)
    pad = np.pad(m, ((0, 0), (2, 2)), mode="edge")
    is_max = m >= np.lib.stride_tricks.sliding_window_view(pad, 5, axis=1).max(axis=2)
    peak = is_max & (m > 8 * np.median(m, axis=1, keepdims=True))
    lobe = peak | np.roll(peak, 1, axis=1) | np.roll(peak, -1, axis=1)
    tonality = float(e[lobe].sum() / max(float(e.sum()), 1e-12))
    band = (freqs >= 100) & (freqs <= 4000)
    m = mag[:, band] + 1e-9
    flat = np.exp(np.mean(np.log(m), axis=1)) / np.mean(m, axis=1)
    return tonality, float(np.median(flat))


def estimate_key(y: np.ndarray, sr: int) -> KeyGuess:
    c, tonality, flatness = chroma(y, sr)
    if c.sum() <= 0:
        return KeyGuess(None, 0.0, tonality, flatness, "", c)
    x = c - c.mean()
    norm = np.linalg.norm(x)
    if norm <= 0:
        return KeyGuess(None, 0.0, tonality, flatness, "", c)
    corr = _PROFILES @ (x / norm)
    order = np.argsort(corr)[::-1]
    best = int(order[0])
    name = key_name(best % 12, best >= 12)
    r1, r2 = float(corr[order[0]]), float(corr[order[1]])
    conf = max(0.0, min(1.0, (r1 - 0.3) / 0.5)) * min(1.0, tonality / 0.7) * min(
        1.0, 0.5 + 5 * (r1 - r2))
    claimed = name if (tonality >= MIN_TONALITY and flatness <= MAX_FLATNESS
                       and r1 >= MIN_KEY_CORR) else None
    return KeyGuess(claimed, round(conf, 3), round(tonality, 3), round(flatness, 3), name, c)


# -- root note -------------------------------------------------------------------------

YIN_N = 2048
YIN_HOP = 512
MIN_F0, MAX_F0 = 30.0, 2000.0
YIN_THRESHOLD = 0.15
MIN_VOICED = 0.5


@dataclass(frozen=True)
class PitchGuess:
    midi: int | None
    note: str | None
    confidence: float
    f0: float | None
    voiced: float  # share of frames with a clear period


def _yin_frame_batch(fr: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(f0 Hz, aperiodicity) per frame (frames × YIN_N), tau up to YIN_N // 2."""
    w = YIN_N // 2
    n = fr.shape[1]
    # d(tau) = sum_{j<w} (x_j - x_{j+tau})^2 = e(0..w) + e(tau..tau+w) - 2 r_w(tau),
    # r_w(tau) = sum_{j<w} x_j x_{j+tau}: the first half against the whole frame
    head = np.zeros_like(fr)
    head[:, :w] = fr[:, :w]
    # j + tau < 2w = n for every term: a circular correlation of length n is the linear
    # one (half the FFT work of 2n)
    cross = np.fft.rfft(fr, n, axis=1) * np.conj(np.fft.rfft(head, n, axis=1))
    acf = np.fft.irfft(cross, n, axis=1)[:, :w + 1]
    sq = np.square(fr)
    cs = np.concatenate([np.zeros((len(fr), 1)), np.cumsum(sq, axis=1)], axis=1)
    taus = np.arange(w + 1)
    e0 = cs[:, w][:, None]
    et = cs[:, w:2 * w + 1] - cs[:, :w + 1]
    d = np.maximum(0.0, e0 + et - 2 * acf)
    d[:, 0] = 0
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)
    lo = max(2, int(sr / MAX_F0))
    hi = min(w - 1, int(sr / MIN_F0))
    # per frame: the first tau under the threshold, then on down to the dip's bottom
    # (else the lowest tau), all frames at once
    sub = cmnd[:, lo:hi]
    below = sub < YIN_THRESHOLD
    first = np.argmax(below, axis=1)
    stop = np.ones_like(below)
    stop[:, :-1] = ~(sub[:, 1:] < sub[:, :-1])
    stop &= np.arange(hi - lo)[None, :] >= first[:, None]
    t = lo + np.where(below.any(axis=1), np.argmax(stop, axis=1), np.argmin(sub, axis=1))
    rows = np.arange(len(fr))
    a, b, c = cmnd[rows, t - 1], cmnd[rows, t], cmnd[rows, t + 1]
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(den > 0, 0.5 * (a - c) / den, 0.0)
    f0 = sr / (t + frac)
    ap = b.astype(np.float64)
    return f0, ap


def root_note(y: np.ndarray, sr: int) -> PitchGuess:
    """The root note of a one-shot, or None (unpitched, or pitch sliding)."""
    if len(y) < YIN_N:
        y = np.pad(y, (0, YIN_N - len(y)))
    env = np.abs(y)
    onset = int(np.argmax(env > 0.1 * env.max())) if env.max() > 0 else 0
    start = onset + int(0.03 * sr)
    stop = min(len(y), onset + int(1.5 * sr))
    seg = y[start:stop] if stop - start >= YIN_N else y[max(0, stop - YIN_N):stop]
    if len(seg) < YIN_N:
        seg = np.pad(seg, (0, YIN_N - len(seg)))
    n = 1 + (len(seg) - YIN_N) // YIN_HOP
    idx = np.arange(YIN_N)[None, :] + YIN_HOP * np.arange(n)[:, None]
    fr = seg[idx].astype(np.float64)
    rms = np.sqrt(np.mean(np.square(fr), axis=1))
    live = rms > rms.max() * 10 ** (-30 / 20) if rms.max() > 0 else rms > 0
    fr = fr[live]
    if not len(fr):
        return PitchGuess(None, None, 0.0, None, 0.0)
    f0, ap = _yin_frame_batch(fr, sr)
    voiced = ap < 0.25
    share = float(voiced.mean())
    if share < MIN_VOICED or voiced.sum() < 1:
        return PitchGuess(None, None, round(share * 0.5, 3), None, round(share, 3))
    midis = 69 + 12 * np.log2(f0[voiced] / 440.0)
    med = float(np.median(midis))
    spread = float(np.median(np.abs(midis - med)))
    if spread > 0.6:  # a slide or a chord: no single root
        return PitchGuess(None, None, 0.3, None, round(share, 3))
    midi = round(med)
    if not 12 <= midi <= 120:
        return PitchGuess(None, None, 0.2, None, round(share, 3))
    cents_off = abs(med - midi)
    conf = share * (1 - min(1.0, spread)) * (1 - cents_off)
    return PitchGuess(midi, note_name(midi), round(max(0.0, min(1.0, conf)), 3),
                      round(float(440 * 2 ** ((med - 69) / 12)), 2), round(share, 3))


