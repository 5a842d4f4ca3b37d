"""Key (tonic and mode) of tonal material and the root note of a tonal one-shot (numpy).

Key: per 8,192-point frame, a chroma vector from its spectral peaks (40 Hz–2.5 kHz), each
peak's magnitude (log-compressed) going to its pitch class, the frame's bass (lowest strong
peak), and its energy by semitone (E1–C6). Each of the 24 keys is scored by a small
network (``KeyModel``: one hidden layer per mode over eleven profiles rotated to the key's
tonic: the chroma of the whole file, its first and its last quarter, the salient bass of
the same three, the chroma of the notes below C4, the loudness-weighted bass notes of the
whole file and its first and last quarter) beside the first model (``key_features``:
Krumhansl–Kessler correlations, the tonic triad in the first chord, the scale's share, the
bass on the tonic and the fifth, the third, a V before the loop comes round); both were
fitted on tuning seeds of ``bench.analysis_eval``, never on the seeds reported.

Root note: YIN (de Cheveigné & Kawahara) on 2,048-sample frames after the attack; the
median of the voiced frames' pitch, rounded to the nearest semitone.

Both say nothing (None) unless the material is tonal: a key needs a clear winner and
spectral peaks in tune (``tuning``: on a grid of semitones, as pitched instruments are), and
either peaky spectra (most of the energy in narrow peaks) or, for noisier material such as
a slap bass, peaks on the A4 = 440 Hz grid itself (a one-shot: stricter thresholds, and a
chord, not one note); a root note needs most frames voiced and steady. Drums, noise and FX
get "—", never a guess.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.analysis.keys import key_name, note_name
from core.analysis.rhythm import spectrogram
from core.paths import bundled

# Krumhansl & Kessler (1982) probe-tone profiles
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
KEY_N_FFT = 8192
KEY_HOP = 2048
#: a key is claimed only above these (set on the evaluation's development seed, see
#: docs/eval/analysis.md): tonality = share of the 200 Hz–2.5 kHz energy in narrow peaks
#: (drum loops: median 0.30, tonal phrases: 0.74), flatness = median spectral flatness of
#: 100 Hz–4 kHz (drums 0.52, phrases 0.25)
MIN_TONALITY = 0.45
MAX_FLATNESS = 0.45
#: and the chosen key's share of the probability (``key_probabilities``), and how much of
#: the spectrum's peaks lie on a grid of equal-tempered semitones (``tuning``: pitched
#: instruments share a tuning, a drum's body and its noise land anywhere). A loop that passes
#: the two thresholds above needs p ≥ ``MIN_KEY_P`` and its peaks in tune with one another
#: (``MIN_TUNED``: the grid placed where the file's own peaks sit, so a loop tuned off
#: A4 = 440 Hz keeps its key). One that fails them (slap, picked and synth basses look as
#: noisy as drums there; no key before) gets a key only when its peaks sit on the A4 = 440 Hz
#: grid itself (``MIN_TUNED_UNTONAL``: a drum's body is in tune with itself, rarely with
#: A440) and p ≥ ``MIN_KEY_P_UNTONAL``. Chosen on tuning seeds 16–21 with the key model
#: fitted on 1, 3, 5–11 (exact 67.8 → 69.5 %, drum loops given a key 2.5 → 1.2 %), checked on
#: tuning seeds 12–15 (65.8 → 67.5 %, 1.7 → 1.5 %): docs/eval/analysis.md, "Key, fourth round"
MIN_KEY_P = 0.3
MIN_TUNED = 0.48
MIN_TUNED_UNTONAL = 0.47
MIN_KEY_P_UNTONAL = 0.4
#: how far from the grid a peak may lie (cents) and the band looked at (a bass's harmonics
#: and the chords' notes; below 90 Hz a 8,192-point frame cannot place a peak to 20 cents)
TUNED_CENTS = 20.0
TUNED_BAND = (90.0, 1000.0)


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
    f = key_frames(y, sr)
    return f.chroma, f.bass, f.tonality, f.flatness


@dataclass(frozen=True)
class KeyFrames:
    """What the key is read from, per sounding frame (8,192 points, hop 2,048)."""

    chroma: np.ndarray  # frames × 12: spectral peaks by pitch class (rows sum to 1)
    bass: np.ndarray  # frames × 12, one-hot: the lowest strong peak's pitch class
    notes: np.ndarray  # frames × len(NOTE_MIDI): energy by semitone (nearest bin)
    tonality: float
    flatness: float


#: the semitones whose energy ``key_frames`` keeps (E1…C6)
NOTE_MIDI = np.arange(28, 85)


@functools.lru_cache(maxsize=4)
def _note_bins(n_fft: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(the FFT bins from E1 − ½ semitone to C6 + ½, the index into NOTE_MIDI of each)."""
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    with np.errstate(divide="ignore"):
        midi = 12 * np.log2(np.maximum(freqs, 1e-6) / 440.0) + 69
    sel = np.flatnonzero((midi >= NOTE_MIDI[0] - 0.5) & (midi < NOTE_MIDI[-1] + 0.5))
    idx = np.round(midi[sel]).astype(int) - NOTE_MIDI[0]
    return sel, idx


def _local_max(m: np.ndarray) -> np.ndarray:
    """``m`` ≥ the maximum of its ±2 neighbours along axis 1 (edges repeated): what
    ``sliding_window_view(np.pad(m, ((0, 0), (2, 2)), mode="edge"), 5, axis=1).max(axis=2)``
    compares with, from four shifted maxima instead (the same values: max is exact)."""
    pad = np.pad(m, ((0, 0), (2, 2)), mode="edge")
    n = m.shape[1]
    mx = np.maximum(pad[:, 0:n], pad[:, 1:n + 1])
    np.maximum(mx, pad[:, 3:n + 3], out=mx)
    np.maximum(mx, pad[:, 4:n + 4], out=mx)
    return m >= mx  # the window's middle is m itself


def _key_spectrogram(y: np.ndarray, hop: int = KEY_HOP) -> np.ndarray:
    if len(y) < KEY_N_FFT // 4:
        y = np.pad(y, (0, KEY_N_FFT // 4 - len(y)))
    return spectrogram(y, KEY_N_FFT, hop)


def key_frames(y: np.ndarray, sr: int, *, mag: np.ndarray | None = None,
               tonal: tuple[float, float] | None = None) -> KeyFrames:
    """``mag`` (``_key_spectrogram(y)``) and ``tonal`` (its ``_tonality``) when known."""
    mag = _key_spectrogram(y) if mag is None else mag
    freqs = np.fft.rfftfreq(KEY_N_FFT, 1 / sr)
    tonality, flatness = _tonality(mag, freqs) if tonal is None else tonal
    band = (freqs >= 40) & (freqs <= 2500)
    m = mag[:, band]
    f = freqs[band]
    energy = np.square(m)
    frame_e = energy.sum(axis=1)
    loud = frame_e > frame_e.max() * 1e-3 if frame_e.max() > 0 else frame_e > 0
    m = m[loud]
    if not len(m):
        return KeyFrames(np.zeros((0, 12)), np.zeros((0, 12)), np.zeros((0, len(NOTE_MIDI))),
                         tonality, flatness)
    # energy by semitone: each bin to its nearest note (bins sorted, so one reduceat)
    sel, idx = _note_bins(KEY_N_FFT, sr)
    e = np.square(mag[loud][:, sel], dtype=np.float64)
    starts = np.flatnonzero(np.diff(idx, prepend=-1))
    notes = np.zeros((len(m), len(NOTE_MIDI)))
    notes[:, idx[starts]] = np.add.reduceat(e, starts, axis=1)
    # peaks: local maxima over ±2 bins, 8× the frame's median
    is_max = _local_max(m)
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
    return KeyFrames(per_frame, bass, notes, tonality, flatness)


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


def _tonality(mag: np.ndarray, freqs: np.ndarray,
              max_flatness: float | None = None) -> tuple[float, float]:
    """(share of the 200 Hz–2.5 kHz energy in narrow peaks 8× the frame's median, median
    spectral flatness of 100 Hz–4 kHz) over the sounding frames. Above 200 Hz so that a
    kick's sine-like body does not count as tonal. A flatness above ``max_flatness`` stops
    there: (0.0, flatness), the peaks not measured."""
    total = np.square(mag).sum(axis=1)
    if not len(total) or total.max() <= 0:
        return 0.0, 1.0
    mag = mag[total > total.max() * 1e-3]
    band = (freqs >= 100) & (freqs <= 4000)
    m = mag[:, band] + 1e-9
    flat = np.exp(np.mean(np.log(m), axis=1)) / np.mean(m, axis=1)
    flatness = float(np.median(flat))
    if max_flatness is not None and flatness > max_flatness:
        return 0.0, flatness
    band = (freqs >= 200) & (freqs <= 2500)
    m = mag[:, band]
    e = np.square(m)
    peak = _local_max(m) & (m > 8 * np.median(m, axis=1, keepdims=True))
    lobe = peak.copy()  # the peak and its two neighbours (wrapping round, as np.roll did)
    lobe[:, 1:] |= peak[:, :-1]
    lobe[:, 0] |= peak[:, -1]
    lobe[:, :-1] |= peak[:, 1:]
    lobe[:, -1] |= peak[:, 0]
    tonality = float(e[lobe].sum() / max(float(e.sum()), 1e-12))
    return tonality, flatness


def tuning(mag: np.ndarray, sr: int) -> tuple[float, float]:
    """(share on the A4 = 440 Hz grid, share on the file's own grid): of the 90 Hz–1 kHz
    spectral peaks (local maxima ≥ 5 % of the frame's highest there, each weighted by its
    magnitude, over the sounding frames), placed between bins by a parabola through the log
    magnitudes, the share within ``TUNED_CENTS`` of an equal-tempered semitone; the file's
    own grid is shifted by the peaks' mean offset from A440 (a circular mean, in cents).
    ±20 cents of every 100 hold 0.4 by chance; tuned instruments 0.5–1; drum loops 0.25–0.45
    on A440's grid, more on their own (a drum's body is in tune with itself)."""
    total = np.square(mag).sum(axis=1)
    if not len(total) or total.max() <= 0:
        return 0.0, 0.0
    mag = mag[total > total.max() * 1e-3]
    n_fft = 2 * (mag.shape[1] - 1)
    lo = max(1, int(np.ceil(TUNED_BAND[0] * n_fft / sr)))
    hi = min(mag.shape[1] - 2, int(TUNED_BAND[1] * n_fft / sr))
    a, b, c = mag[:, lo - 1:hi], mag[:, lo:hi + 1], mag[:, lo + 1:hi + 2]
    peak = (b > a) & (b >= c) & (b > 0.05 * b.max(axis=1, keepdims=True))
    rows, cols = np.nonzero(peak)
    w = b[rows, cols]
    if not len(w) or w.sum() <= 0:
        return 0.0, 0.0
    la, lb, lc = (np.log(v[rows, cols] + 1e-12) for v in (a, b, c))
    den = la - 2 * lb + lc
    frac = np.where(den < 0, 0.5 * (la - lc) / np.minimum(den, -1e-9), 0.0)
    freq = (lo + cols + frac) * sr / n_fft
    cents = (1200 * np.log2(freq / 440.0) + 50) % 100 - 50
    total_w = float(w.sum())
    on_grid = float(w[np.abs(cents) <= TUNED_CENTS].sum()) / total_w
    offset = np.angle(np.sum(w * np.exp(2j * np.pi * cents / 100))) * 100 / (2 * np.pi)
    own = (cents - offset + 50) % 100 - 50
    return on_grid, float(w[np.abs(own) <= TUNED_CENTS].sum()) / total_w


def _unit(v: np.ndarray) -> np.ndarray:
    total = float(v.sum())
    return v / total if total > 0 else v


def _bass_salience(notes: np.ndarray) -> np.ndarray:
    """Frames × the low notes (E1…C4): how much of each note's first harmonics (1, 2, 3, 4:
    +0, +12, +19, +24 semitones) sounds; a bass's fundamental is often weak, and the lowest
    strong peak of ``key_frames`` misses it."""
    amp = np.sqrt(notes / (notes.max(axis=1, keepdims=True) + 1e-20))
    n = len(NOTE_MIDI) - 24
    return (amp[:, :n] + 0.6 * amp[:, 12:12 + n] + 0.4 * amp[:, 19:19 + n]
            + 0.3 * amp[:, 24:24 + n])


def _salient_bass(notes: np.ndarray, sal: np.ndarray | None = None) -> np.ndarray:
    """Per frame, one-hot: the pitch class of the most salient low note
    (``_bass_salience``)."""
    sal = _bass_salience(notes) if sal is None else sal
    out = np.zeros((len(notes), 12))
    out[np.arange(len(notes)), NOTE_MIDI[np.argmax(sal, axis=1)] % 12] = 1.0
    return out


_SAL_FOLD = (NOTE_MIDI[:len(NOTE_MIDI) - 24, None] % 12 == np.arange(12)[None, :]).astype(
    np.float64)


def _bass_notes(notes: np.ndarray, sal: np.ndarray) -> np.ndarray:
    """Frames × 12: the low notes within 0.7 of each frame's most salient one (a share of
    their salience above that line), weighted by the frame's loudness (square root of its
    energy against the loudest frame's): where a bass line dwells, counted by how loud."""
    s = np.maximum(sal - 0.7 * sal.max(axis=1, keepdims=True), 0.0)
    s /= s.sum(axis=1, keepdims=True) + 1e-12
    e = notes.sum(axis=1)
    w = np.sqrt(e / (e.max() + 1e-20))
    return (s * w[:, None]) @ _SAL_FOLD


_LOW = NOTE_MIDI < 60
_LOW_FOLD = (NOTE_MIDI[_LOW, None] % 12 == np.arange(12)[None, :]).astype(np.float64)
_ROLL = (np.arange(12)[:, None] + np.arange(12)[None, :]) % 12  # [t, i] = (t + i) % 12


def key_inputs(f: KeyFrames) -> tuple[np.ndarray, float]:
    """(12 tonics × 132: eleven 12-bin profiles, each rotated so that its first bin is the
    tonic; the share of the energy below C3). The profiles: the peak chroma of the whole
    file, its first quarter and its last quarter (a loop starts on its first chord, most
    often I, and ends before it comes round); the salient bass of the same three; the
    chroma of the notes below C4 (log energy) of the whole file and its first quarter; the
    loudness-weighted bass notes (``_bass_notes``) of the whole file, its first and last
    quarter."""
    n = len(f.chroma)
    q = max(1, n // 4)
    sal_map = _bass_salience(f.notes)
    sal = _salient_bass(f.notes, sal_map)
    soft = _bass_notes(f.notes, sal_map)
    low_e = np.log1p(f.notes[:, _LOW] / (f.notes.max(axis=1, keepdims=True) * 1e-3 + 1e-20))
    low = low_e @ _LOW_FOLD
    low /= low.sum(axis=1, keepdims=True) + 1e-12
    profiles = [_unit(x.sum(axis=0)) for x in (
        f.chroma, f.chroma[:q], f.chroma[-q:], sal, sal[:q], sal[-q:], low, low[:q],
        soft, soft[:q], soft[-q:])]
    rotated = np.concatenate([v[_ROLL] for v in profiles], axis=1)
    total = float(f.notes.sum())
    bassy = float(f.notes[:, NOTE_MIDI < 48].sum()) / total if total > 0 else 0.0
    return rotated, bassy


_MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR_SCALE = np.array([0, 2, 3, 5, 7, 8, 10])


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


#: weights of ``key_features`` (the first key model: a conditional logit, fitted by the
#: earlier ``bench.analysis_fit`` on the phrases of tuning seeds 1, 3, 5, 6, 7 of
#: ``bench.analysis_eval``, never on the seeds reported (2, 4)); its log-probabilities
#: count ``OLD_MODEL_WEIGHT`` times beside ``KeyModel``'s (docs/eval/analysis.md)
KEY_WEIGHTS = np.array([0.05599, 0.8467, 2.162, -0.6727, 18.18, 1.547, 1.15, 1.319, -0.6154,
                        2.053])


#: the first model's share of the key's log-probability (chosen on tuning seeds 16–21 with
#: a ``KeyModel`` fitted on the other tuning seeds: 71.2 % exact alone, 73.0 % with 0.5)
OLD_MODEL_WEIGHT = 0.5


@dataclass(frozen=True)
class KeyModel:
    """Scores the 24 keys: for each tonic, its rotated ``key_inputs`` (standardised) go
    through a one-hidden-layer network per mode; a softmax over the 24 scores. Fitted by
    ``bench.analysis_fit --key-model`` on tuning seeds of ``bench.analysis_eval``."""

    mean: np.ndarray
    std: np.ndarray
    w1: np.ndarray  # 2 modes × (inputs + 1) × hidden
    b1: np.ndarray  # 2 × hidden
    w2: np.ndarray  # 2 × hidden
    b2: np.ndarray  # 2

    def probabilities(self, rotated: np.ndarray, bassy: float) -> np.ndarray:
        z = np.concatenate([(rotated - self.mean) / self.std,
                            np.full((12, 1), bassy)], axis=1)
        scores = np.concatenate([np.maximum(0.0, z @ self.w1[m] + self.b1[m]) @ self.w2[m]
                                 + self.b2[m] for m in (0, 1)])
        p = np.exp(scores - scores.max())
        return p / p.sum()


def key_model_path() -> Path:
    return bundled("analysis", "key_model.npz")


@functools.lru_cache(maxsize=1)
def key_model() -> KeyModel:
    with np.load(key_model_path()) as z:
        return KeyModel(*(z[k].astype(np.float64) for k in
                          ("mean", "std", "w1", "b1", "w2", "b2")))


def key_probabilities(f: KeyFrames) -> np.ndarray:
    """The 24 keys' probabilities: ``KeyModel``'s, with the first model's beside it."""
    log_p = np.log(key_model().probabilities(*key_inputs(f)) + 1e-12)
    first = key_features(f.chroma, f.bass) @ KEY_WEIGHTS
    log_p += OLD_MODEL_WEIGHT * (first - first.max() - np.log(np.exp(first - first.max()).sum()))
    p = np.exp(log_p - log_p.max())
    return p / p.sum()


#: a one-shot gets a key only when it is a chord (not one held note, see
#: ``one_held_note``) and clears stricter thresholds than a loop: tonality, flatness and the
#: key's probability (tuning seeds 1, 3, 5, 6: 0 of 399 drum hits and 0 of 595 notes given a
#: key, 67 of 108 phrases read as one-shots, 56 right; at 0.8, 6 drum hits: see
#: docs/eval/analysis.md, "third round")
ONESHOT_MIN_TONALITY = 0.5
ONESHOT_MAX_FLATNESS = 0.4
ONESHOT_MIN_KEY_P = 0.9
#: or p ≥ 0.8 when its peaks sit on the A440 grid (``tuning``: ≥ 0.55; a drum hit's body is
#: tuned by chance). Tuning seeds (the hits and notes of 1, 3, 5, 6; the 108 phrases of 14
#: tuning seeds read as one-shots): drum hits given a key 0 of 399 at any p with the tuning
#: test (24 at p ≥ 0.5 without it), notes 0 of 595, phrases claimed / right 67 / 56 → 79 / 66
#: (docs/eval/analysis.md, "Key, fourth round")
ONESHOT_MIN_KEY_P_TUNED = 0.8
ONESHOT_MIN_TUNED = 0.55
#: a one-shot's key is read from its first seconds (a chord one-shot states its chord at
#: once; long textures would cost a spectrogram of up to 30 s each)
ONESHOT_KEY_S = 4.0
#: The first test of a one-shot's key (``oneshot_tonal``) looks at half the frames
#: (8,192 points every 4,096): nearly every one-shot (drums) stops there. One that passes
#: is tested again on every frame before its key is read, as before (``estimate_key``):
#: the key read from half the frames lost a chord's (docs/eval/analysis.md, "Cost,
#: fourth round")
ONESHOT_GATE_HOP = 2 * KEY_HOP


def oneshot_tonal(y: np.ndarray, sr: int, hop: int = ONESHOT_GATE_HOP
                  ) -> tuple[np.ndarray, float, float] | None:
    """(key spectrogram, tonality, flatness) of a one-shot tonal enough for a key, else
    None: the cheap first test of a one-shot's key (most one-shots are drums, and most
    drums are too flat: their peaks are not even measured), on frames ``hop`` apart."""
    y = y[:round(ONESHOT_KEY_S * sr)]
    mag = _key_spectrogram(y, hop)
    tonality, flatness = _tonality(mag, np.fft.rfftfreq(KEY_N_FFT, 1 / sr),
                                   ONESHOT_MAX_FLATNESS)
    if tonality >= ONESHOT_MIN_TONALITY and flatness <= ONESHOT_MAX_FLATNESS:
        return mag, tonality, flatness
    return None


def estimate_key(y: np.ndarray, sr: int, *, oneshot: bool = False,
                 tonal: tuple[np.ndarray, float, float] | None = None) -> KeyGuess:
    """The key of ``y``; ``oneshot``: the stricter thresholds of a chord one-shot, on
    every frame; ``tonal``: ``oneshot_tonal(y, sr, KEY_HOP)`` when known."""
    min_t, max_f, min_p = ((ONESHOT_MIN_TONALITY, ONESHOT_MAX_FLATNESS, ONESHOT_MIN_KEY_P)
                           if oneshot else (MIN_TONALITY, MAX_FLATNESS, MIN_KEY_P))
    if oneshot and tonal is None:
        tonal = oneshot_tonal(y, sr, KEY_HOP)
        if tonal is None:
            return KeyGuess(None, 0.0, 0.0, 1.0, "", np.zeros(12))
    if tonal is not None:
        mag, tonality, flatness = tonal
        y = y[:round(ONESHOT_KEY_S * sr)] if oneshot else y
    else:
        mag = _key_spectrogram(y)
        tonality, flatness = _tonality(mag, np.fft.rfftfreq(KEY_N_FFT, 1 / sr))
    f = key_frames(y, sr, mag=mag, tonal=(tonality, flatness))
    c = f.chroma.sum(axis=0) if len(f.chroma) else np.zeros(12)
    if c.sum() <= 0 or float(np.ptp(c)) <= 0:
        return KeyGuess(None, 0.0, f.tonality, f.flatness, "", c)
    p = key_probabilities(f)
    best = int(np.argmax(p))
    name = key_name(best % 12, best >= 12)
    conf = float(p[best]) * min(1.0, f.tonality / 0.7)
    tonal_ok = f.tonality >= min_t and f.flatness <= max_f
    if oneshot:
        ok = tonal_ok and (float(p[best]) >= min_p or (
            float(p[best]) >= ONESHOT_MIN_KEY_P_TUNED
            and tuning(mag, sr)[0] >= ONESHOT_MIN_TUNED))
    else:
        # a loop: in tune as well as sure (the tuning is measured only when p could pass)
        if tonal_ok:
            ok = float(p[best]) >= min_p and tuning(mag, sr)[1] >= MIN_TUNED
        else:
            ok = (float(p[best]) >= MIN_KEY_P_UNTONAL
                  and tuning(mag, sr)[0] >= MIN_TUNED_UNTONAL)
    return KeyGuess(name if ok else None, round(conf, 3), round(f.tonality, 3),
                    round(f.flatness, 3), name, c)


# -- root note -------------------------------------------------------------------------

YIN_N = 2048
#: every 64 ms: a root note is the median over the frames of a held sound; half as many
#: as at 32 ms named the same notes on the tuning seeds (one drum hit in 100 more got a
#: root note; docs/eval/analysis.md, "Cost, fourth round")
YIN_HOP = 1024
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
    # (scipy's FFT, in the frames' own precision: root_note gives float32 frames, whose
    # correlation then costs ~40 % less than in float64; the energies below stay float64)
    from scipy import fft

    half = np.zeros_like(fr)
    half[:, :w] = fr[:, :w]
    cross = fft.rfft(fr, n, axis=1) * np.conj(fft.rfft(half, axis=1, overwrite_x=True))
    acf = fft.irfft(cross, n, axis=1, overwrite_x=True)[:, :top]
    # running sums are prefix sums: cut where they are no longer read, same values
    cs = np.zeros((len(fr), w + top))
    np.cumsum(np.square(fr[:, :w + top - 1], dtype=np.float64), axis=1, out=cs[:, 1:])
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
    # the frames: a strided view (an index array cost more), in the signal's float32 for
    # the correlation's FFTs; their levels in float64 as before
    fr = np.lib.stride_tricks.sliding_window_view(
        np.asarray(seg, np.float32), YIN_N)[::YIN_HOP]
    rms = np.sqrt(np.mean(np.square(fr, dtype=np.float64), axis=1))
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




#: a sound whose pitch (YIN's f0) has at least this share of its 30 Hz–5 kHz energy within
#: ±3 % of f0, 2 f0 and 3 f0 is one note; a held chord's common period lies below its notes
#: (C–E–G: a C two octaves down), whose first three harmonics hold nothing (tuning seeds.
#: held-chord phrases: under 0.035; GM notes: 0.06 and up, median 0.92)
ONE_NOTE_SHARE = 0.05


def one_note_share(y: np.ndarray, sr: int, f0: float) -> float:
    """Share of the energy of the second after the attack in f0's first three harmonics."""
    env = np.abs(y)
    onset = int(np.argmax(env > 0.1 * env.max())) if len(env) and env.max() > 0 else 0
    seg = y[onset + int(0.05 * sr):onset + int(1.05 * sr)]
    if len(seg) < 4096:
        seg = y[-sr:]
    n = len(seg)
    power = np.square(np.abs(np.fft.rfft(seg * np.hanning(n))))
    f = np.fft.rfftfreq(n, 1 / sr)
    band = (f >= 30) & (f <= 5000)
    k = np.round(f / f0)
    low = (k >= 1) & (k <= 3) & (np.abs(f - k * f0) <= np.maximum(0.03 * k * f0, 2.5 * sr / n))
    total = float(power[band].sum())
    return float(power[band & low].sum()) / total if total > 0 else 0.0


def one_held_note(y: np.ndarray, sr: int, pitch: PitchGuess,
                  share: float = ONE_NOTE_SHARE) -> bool:
    """``pitch`` (``root_note`` of ``y``) is one steady note, not a chord's common period:
    at least ``share`` of the energy lies in its first three harmonics."""
    return (pitch.midi is not None and pitch.f0 is not None
            and one_note_share(y, sr, pitch.f0) >= share)


#: a file with no attack from silence and no onset after its start is one note (not an
#: excerpt of music nor a held chord, whose common period has 0.03–0.15 of the energy) when
#: its pitch is voiced throughout, confident, and most of its energy lies in that pitch's
#: first three harmonics (a tone, a Rhodes or tremolo note: 0.9 and up)
CLEAR_NOTE_SHARE = 0.5
CLEAR_NOTE_CONFIDENCE = 0.8
CLEAR_NOTE_VOICED = 0.9


def one_clear_note(y: np.ndarray, sr: int, pitch: PitchGuess) -> bool:
    """``one_held_note`` under stricter thresholds, for a sound with no attack to go by."""
    return (pitch.confidence >= CLEAR_NOTE_CONFIDENCE
            and (pitch.voiced or 0.0) >= CLEAR_NOTE_VOICED
            and one_held_note(y, sr, pitch, CLEAR_NOTE_SHARE))
