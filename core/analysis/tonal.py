"""Key (tonic and mode) of tonal material and the root note of a tonal one-shot (numpy).

Key: a chroma vector per 8,192-point frame from its spectral peaks (40 Hz–2.5 kHz), each
peak's magnitude (log-compressed) going to its pitch class, and the frame's bass (lowest
strong peak). Each of the 24 keys is scored by a weighted sum of what speaks for it
(``key_features``: Krumhansl–Kessler correlation of the whole file and of its first
quarter, the tonic triad in the first chord, the scale's share, the bass on the tonic and
the fifth, the third, a V before the loop comes round); the weights were fitted on tuning
seeds of ``bench.analysis_eval``.

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
MIN_KEY_CORR = 0.30
#: and the chosen key's share of the key model's probability (``key_features``)
MIN_KEY_P = 0.2


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


def frame_chroma(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(chroma per sounding frame (rows sum to 1), the bass pitch class per frame (one-hot:
    each frame's lowest strong peak), tonality, flatness)."""
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
        return np.zeros((0, 12)), np.zeros((0, 12)), tonality, flatness
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
    return per_frame, bass, tonality, flatness


def chroma(y: np.ndarray, sr: int) -> tuple[np.ndarray, float, float]:
    """(12-bin chroma summed over time, tonality, flatness)."""
    per_frame, bass, tonality, flatness = frame_chroma(y, sr)
    if not len(per_frame):
        return np.zeros(12), tonality, flatness
    # a loop starts on its first chord, most often the tonic: its first quarter counts more
    n = len(per_frame)
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


_MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR_SCALE = np.array([0, 2, 3, 5, 7, 8, 10])


def _unit(v: np.ndarray) -> np.ndarray:
    total = float(v.sum())
    return v / total if total > 0 else v


def _kk(v: np.ndarray) -> np.ndarray:
    x = v - v.mean()
    n = float(np.linalg.norm(x))
    return _PROFILES @ (x / n) if n > 0 else np.zeros(24)


def _key_index() -> tuple[np.ndarray, ...]:
    """Per key (24): tonic, third, the other mode's third, fifth, second, scale (24 × 7)."""
    t = np.arange(24) % 12
    minor = np.arange(24) >= 12
    third = np.where(minor, t + 3, t + 4) % 12
    other = np.where(minor, t + 4, t + 3) % 12
    scale = (t[:, None] + np.where(minor[:, None], _MINOR_SCALE, _MAJOR_SCALE)) % 12
    return t, third, other, (t + 7) % 12, (t + 2) % 12, scale


_KEY_INDEX = _key_index()


def key_features(per_frame: np.ndarray, bass: np.ndarray) -> np.ndarray:
    """24 keys (C…B major, then C…B minor) × what speaks for each as the key:

    0. Krumhansl–Kessler correlation of the whole file's chroma;
    1. the same for the first quarter (a loop starts on its first chord, most often I);
    2. share of the first quarter's chroma in the key's tonic triad;
    3. share of the whole file's chroma in the tonic triad;
    4. share of the whole file's chroma in the key's scale (major / natural minor);
    5. share of the first quarter's bass on the tonic;
    6. share of the whole file's bass on the tonic;
    7. share of the whole file's bass on the fifth;
    8. the key's third against the other mode's third (the mode);
    9. share of the last quarter's chroma on the fifth and second degrees (a V chord
       before the loop comes round to I)."""
    n = len(per_frame)
    q = max(1, n // 4)
    whole, first, last = (_unit(per_frame.sum(axis=0)), _unit(per_frame[:q].sum(axis=0)),
                          _unit(per_frame[-q:].sum(axis=0)))
    b_whole, b_first = _unit(bass.sum(axis=0)), _unit(bass[:q].sum(axis=0))
    t, third, other, fifth, second, scale = _KEY_INDEX
    triad = np.stack([t, third, fifth], axis=1)
    return np.stack([_kk(whole), _kk(first), first[triad].sum(axis=1),
                     whole[triad].sum(axis=1), whole[scale].sum(axis=1), b_first[t],
                     b_whole[t], b_whole[fifth], whole[third] - whole[other],
                     last[fifth] + last[second]], axis=1)


#: weights of ``key_features`` (a key's score is their sum; the best score is the key),
#: fitted by ``bench.analysis_fit`` as a conditional logit on the phrases of tuning seeds
#: (1, 3, 5, 6, 7) of ``bench.analysis_eval``, never on the seeds reported (2, 4); see
#: docs/eval/analysis.md
KEY_WEIGHTS = np.array([0.05599, 0.8467, 2.162, -0.6727, 18.18, 1.547, 1.15, 1.319, -0.6154,
                        2.053])


def estimate_key(y: np.ndarray, sr: int) -> KeyGuess:
    per_frame, bass, tonality, flatness = frame_chroma(y, sr)
    c = per_frame.sum(axis=0) if len(per_frame) else np.zeros(12)
    if c.sum() <= 0 or float(np.ptp(c)) <= 0:
        return KeyGuess(None, 0.0, tonality, flatness, "", c)
    scores = key_features(per_frame, bass) @ KEY_WEIGHTS
    p = np.exp(scores - scores.max())
    p /= p.sum()
    best = int(np.argmax(p))
    name = key_name(best % 12, best >= 12)
    r1 = float(_kk(_unit(c))[best])
    conf = float(p[best]) * min(1.0, tonality / 0.7)
    claimed = name if (tonality >= MIN_TONALITY and flatness <= MAX_FLATNESS
                       and float(p[best]) >= MIN_KEY_P and r1 >= MIN_KEY_CORR) else None
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
    lo = max(2, int(sr / MAX_F0))
    hi = min(w - 1, int(sr / MIN_F0))
    top = hi + 1  # the search reads taus up to hi (533 at 16 kHz): nothing past it is made
    # d(tau) = sum_{j<w} (x_j - x_{j+tau})^2 = e(0..w) + e(tau..tau+w) - 2 r_w(tau),
    # r_w(tau) = sum_{j<w} x_j x_{j+tau}: the first half against the whole frame
    # j + tau < 2w = n for every term: a circular correlation of length n is the linear
    # one (half the FFT work of 2n); rfft zero-pads the first half itself
    cross = np.fft.rfft(fr, n, axis=1) * np.conj(np.fft.rfft(fr[:, :w], n, axis=1))
    acf = np.fft.irfft(cross, n, axis=1)[:, :top]
    # running sums are prefix sums: cut where they are no longer read, same values
    cs = np.zeros((len(fr), w + top))
    np.cumsum(np.square(fr[:, :w + top - 1]), axis=1, out=cs[:, 1:])
    taus = np.arange(top)
    e0 = cs[:, w][:, None]
    et = cs[:, w:w + top] - cs[:, :top]
    d = np.maximum(0.0, e0 + et - 2 * acf)
    d[:, 0] = 0
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)
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
    # the frames: a strided view, copied once as float64 (an index array cost more)
    fr = np.lib.stride_tricks.sliding_window_view(seg, YIN_N)[::YIN_HOP].astype(np.float64)
    rms = np.sqrt(np.mean(np.square(fr), axis=1))
    live = rms > rms.max() * 10 ** (-30 / 20) if rms.max() > 0 else rms > 0
    fr = fr[live]
    if not len(fr):
        return PitchGuess(None, None, 0.0, None, 0.0)
    # a little over half the frames first: when even all the others voiced could not
    # reach MIN_VOICED, the answer is None already (most drum hits and noises: ~45 % of
    # their YIN saved; the frames are independent, so f0 is the same either way)
    n = len(fr)
    h = n // 2 + 1 if n >= 8 else n
    f0, ap = _yin_frame_batch(fr[:h], sr)
    voiced = ap < 0.25
    if h < n:
        if (int(voiced.sum()) + n - h) / n < MIN_VOICED:
            share = float(voiced.mean())  # (of the frames looked at)
            return PitchGuess(None, None, round(share * 0.5, 3), None, round(share, 3))
        f_rest, ap_rest = _yin_frame_batch(fr[h:], sr)
        f0, ap = np.concatenate([f0, f_rest]), np.concatenate([ap, ap_rest])
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


