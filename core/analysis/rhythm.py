"""Onsets, loop or one-shot, and tempo, from mono audio (numpy only).

The onset envelope is the spectral flux of a log-magnitude spectrogram (1,024-point frames
every 8 ms at 16 kHz). Tempo candidates come from two places: the envelope's
autocorrelation (the audio's own pulse) and the file's length (a loop is cut to a whole
number of bars, so ``bpm = 240 × bars / seconds`` in 4/4). A candidate is scored by its
pulse (autocorrelation at one beat and at multiples), by a backbeat test (snare-band
onsets on beats 2 and 4 rather than 1 and 3), by a gentle prior around 130 BPM, and by
whether the file is a whole number of bars at it. Between the winner and its half or double,
a small logistic model decides which is the beat (``faster_is_the_beat``: backbeat, 16th and
32nd pulses, whole bars, onset density, how drum-like the onsets are, the tempo itself); the
other is kept as the alternative reading.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

N_FFT = 1024
HOP = 128
MIN_BPM, MAX_BPM = 55.0, 200.0
#: bar counts a loop is cut to, with how common each is (1, 2, 4, 8 bars most)
BAR_PRIOR = {1: 1.0, 2: 1.0, 4: 1.0, 8: 0.9, 16: 0.8, 3: 0.5, 6: 0.5, 12: 0.4, 32: 0.6}


def frames(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Hann-windowed frames, centred (the signal padded by half a frame each side)."""
    pad = np.pad(y.astype(np.float32, copy=False), (n_fft // 2, n_fft // 2))
    # a strided view, one copy when windowed (an index array cost 8x as much)
    return np.lib.stride_tricks.sliding_window_view(pad, n_fft)[::hop] * _hann(n_fft)


@functools.lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    w = np.hanning(n).astype(np.float32)
    w.setflags(write=False)
    return w


def spectrogram(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Magnitude, frames × bins (float32). scipy's FFT: the same pocketfft as numpy's,
    ~9x faster on these float32 frames here (numpy 2.4)."""
    from scipy import fft

    return np.abs(fft.rfft(frames(y, n_fft, hop), axis=1, overwrite_x=True))


@dataclass
class Onsets:
    env: np.ndarray  # onset strength per frame, all bands
    mid: np.ndarray  # the snare band's (150 Hz–4 kHz)
    low: np.ndarray  # the kick band's (< 150 Hz)
    rms: np.ndarray  # frame RMS (linear)
    fps: float
    peaks: np.ndarray  # frame indices of the onsets found
    strengths: np.ndarray


def onsets(y: np.ndarray, sr: int) -> Onsets:
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0:
        y = y / peak  # flux in comparable units whatever the level
    mag = spectrogram(y, N_FFT, HOP)
    fps = sr / HOP
    # (a spectrogram-sized buffer reused once its values are no longer read: two fewer
    # to fill, ~0.8 MB each for 3 s of audio; the same values)
    sq = np.square(mag)
    rms = np.sqrt(np.mean(sq, axis=1) / N_FFT)
    logm = np.multiply(mag, 1000.0, out=sq)
    np.log1p(logm, out=logm)
    # the frame-to-frame rise (the first frame none), in one buffer: np.diff with
    # prepend made two more copies of the spectrogram
    flux = mag
    flux[0] = 0.0
    np.subtract(logm[1:], logm[:-1], out=flux[1:])
    np.maximum(flux, 0.0, out=flux)
    # the last frames run into the zero padding: a sound cut off there smears across the
    # spectrum, which is no onset
    edge = N_FFT // (2 * HOP)
    if len(flux) > 2 * edge:
        flux[-edge:] = 0.0
    freqs = np.fft.rfftfreq(N_FFT, 1 / sr)
    env = flux.sum(axis=1)
    low = flux[:, freqs < 150].sum(axis=1)
    mid = flux[:, (freqs >= 150) & (freqs < 4000)].sum(axis=1)
    peaks, strengths = _peaks(env, rms)
    return Onsets(env, mid, low, rms, fps, peaks, strengths)


#: an onset stands this far above the flux's median over the sounding frames, and above
#: an absolute floor (flux of a peak-normalised signal): measured on kit hits and GM notes,
#: whose sustain wobbles reach ~3× the median and ~150, where drum hits reach 5–20× and 300+
ONSET_RATIO = 5.0
ONSET_FLOOR = 200.0


def _peaks(env: np.ndarray, rms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima (±40 ms) that stand out (ONSET_RATIO, ONSET_FLOOR), ≥ 50 ms apart;
    with their strength relative to the threshold."""
    fps = 1 / (HOP / 16_000)
    if len(env) < 3 or env.max() <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    w = max(1, round(0.04 * fps))
    padded = np.pad(env, w, mode="edge")
    # the running maximum over ±w frames as 2w + 1 shifted maxima (a window view's
    # max(axis=1) cost ~10x as much on these short envelopes; the same values)
    n = len(env)
    top = padded[:n].copy()
    for k in range(1, 2 * w + 1):
        np.maximum(top, padded[k:k + n], out=top)
    is_max = env >= top
    sounding = rms > rms.max() * 10 ** (-40 / 20) if rms.max() > 0 else rms >= 0
    base = float(np.median(env[sounding])) if sounding.any() else 0.0
    floor = max(ONSET_FLOOR, ONSET_RATIO * base)
    cand = np.flatnonzero(is_max & (env > floor))
    keep: list[int] = []
    gap = round(0.05 * fps)
    for c in cand:
        if keep and c - keep[-1] < gap:
            if env[c] > env[keep[-1]]:
                keep[-1] = int(c)
            continue
        keep.append(int(c))
    idx = np.array(keep, np.int64)
    return idx, env[idx] / floor if len(idx) else np.zeros(0)


# -- loop or one-shot ------------------------------------------------------------------

@dataclass(frozen=True)
class KindGuess:
    kind: str  # "loop" | "oneshot"
    confidence: float
    held: bool = False  # a one-shot only because it is one held event (HELD_MAX_S)


#: frame-to-frame level change (dB, standard deviation) below which a sound is held
STEADY_DB = 0.6
#: a held single event shorter than this is a one-shot; longer, it may be a loop of held
#: chords (2.6 s cost a seed-1/2 phrase in seven its loop reading, 1.8 s one in eleven)
HELD_MAX_S = 1.8
#: onsets after the attack that a held note may still show: a sampler patch's sustain loop
#: (GUS .pat, SoundFont) makes one where it starts looping, at a steady level
HELD_MAX_LATER = 1


def _steady(rms: np.ndarray) -> bool:
    """The level after the loudest frame glides (a held or decaying note) rather than
    moving with the music. Chosen on our real-sample set: held notes' median 0.22 dB,
    4 s excerpts of band recordings' 0.73 dB."""
    db = 20 * np.log10(np.maximum(rms, 1e-9))
    after = db[int(np.argmax(db)) + 3:]
    return len(after) <= 4 or float(np.std(np.diff(after))) < STEADY_DB


#: a file whose first 10 ms are this far below its loudest 10 ms starts from silence (a
#: sample begins at its note's attack; an excerpt cut from music starts at full level).
#: Our real-sample set: held organ, brass, string and wind notes −15 to −37 dB, 4 s
#: excerpts of band and guitar recordings −0.5 to −14.5 dB
QUIET_START_DB = -15.0


def starts_quiet(y: np.ndarray, sr: int) -> bool:
    n = max(1, sr // 100)
    blocks = len(y) // n
    if blocks < 2:
        return False
    rms = np.sqrt(np.mean(np.square(y[:blocks * n].reshape(blocks, n), dtype=np.float64),
                          axis=1))
    top = float(rms.max())
    return top > 0 and 20 * math.log10(max(float(rms[0]), 1e-12) / top) <= QUIET_START_DB


def later_onsets(o: Onsets) -> int:
    """Onsets after the attack (its first 0.15 s)."""
    return int(np.sum(o.peaks > 0.15 * o.fps))


def loop_or_oneshot(o: Onsets, duration_s: float) -> KindGuess:
    """A one-shot is short, or one event that dies away; a loop holds repeated events
    and still sounds at its last moment (it is cut at a bar line, not faded out)."""
    if duration_s < 1.0:
        return KindGuess("oneshot", 0.95 if duration_s < 0.7 else 0.8)
    rms = o.rms
    top = float(rms.max()) if len(rms) else 0.0
    if top <= 0:
        return KindGuess("oneshot", 0.5)
    n_tail = max(1, round(0.1 * o.fps))
    tail = rms[-n_tail - 4:-4] if len(rms) > n_tail + 8 else rms[-n_tail:]
    end_db = 20 * math.log10(max(float(tail.mean()), 1e-9) / top)
    later = later_onsets(o)
    score = 1.2 * min(3, later) - 1.5
    # still sounding at the very end: cut at a bar line (a one-shot fades out)
    score += 1.6 if end_db > -20 else (0.3 if end_db > -30 else -1.0)
    score += 0.3 if duration_s >= 1.5 else -0.5
    if later <= HELD_MAX_LATER and duration_s < HELD_MAX_S and _steady(rms):
        # one event and a smooth level after it: a held note or a pad cut while it still
        # sounds (sample packs are full of them) is a one-shot, not a one-event loop; a
        # dense mix (no single onset stands out, but the level moves) can still be a loop
        held = score > 0
        score = min(score, -0.4)
    else:
        held = False
    conf = 1 / (1 + math.exp(-abs(score)))
    return KindGuess("loop" if score > 0 else "oneshot", round(conf, 3), held)


# -- tempo -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TempoGuess:
    bpm: float
    confidence: float
    bars: float | None  # whole bars of 4/4 at ``bpm`` (None: not a whole number)
    alternative: float | None  # the half- or double-time reading


def _acf(env: np.ndarray) -> np.ndarray:
    x = env - env.mean()
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(np.abs(spec) ** 2)[:n]
    acf /= np.maximum(1, n - np.arange(n))  # unbiased: long lags are not penalised
    return acf / acf[0] if acf[0] > 0 else acf


def _at(a: np.ndarray, lag: float) -> float:
    if lag < 1 or lag >= len(a) - 1:
        return 0.0
    i = int(lag)
    f = lag - i
    return float((1 - f) * a[i] + f * a[i + 1])


def _pulse(acf: np.ndarray, fps: float, bpm: float) -> float:
    """Autocorrelation at one beat and at a few multiples (a window's width of slack)."""
    lag = 60.0 * fps / bpm
    total, weight = 0.0, 0.0
    for mult, w in ((1, 1.0), (2, 0.5), (0.5, 0.25)):
        at = lag * mult
        if at >= len(acf) - 2:
            continue
        best = max(_at(acf, at + d) for d in (-1, -0.5, 0, 0.5, 1))
        total += w * best
        weight += w
    return total / weight if weight else 0.0


def _grid(env: np.ndarray, fps: float, bpm: float, beats: list[int], per_bar: int = 4) -> float:
    """Mean of ``env`` (max within ±30 ms) at the given beats of each bar from t = 0."""
    beat = 60.0 * fps / bpm
    w = max(1, round(0.03 * fps))
    # every beat before the envelope's last frame at once (a loop over beats cost ~3 ms
    # a loop file: _backbeat asks for four grids per tempo candidate); the same values
    k = np.arange(math.ceil((len(env) - 1) / beat) + 1 if beat > 0 else 0)
    t = beat * k
    wanted = np.zeros(per_bar, bool)
    wanted[[b % per_bar for b in beats if 0 <= b < per_bar]] = True
    t = t[(t < len(env) - 1) & wanted[k % per_bar]]
    if not len(t):
        return 0.0
    i = np.rint(t).astype(np.int64)  # round half to even, as round() does
    # ±w frames around each (outside the envelope: -inf, never the maximum)
    padded = np.concatenate([np.full(w, -np.inf, env.dtype), env,
                             np.full(w, -np.inf, env.dtype)])
    vals = padded[i[:, None] + np.arange(2 * w + 1)].max(axis=1)
    return float(np.mean(vals.astype(np.float64)))


def _backbeat(o: Onsets, bpm: float) -> float:
    """Snare-band onsets on beats 2 and 4 against 1 and 3 (−1…1; ~0 with no backbeat)."""
    mid = o.mid / (o.mid.max() or 1.0)
    low = o.low / (o.low.max() or 1.0)
    back = _grid(mid, o.fps, bpm, [1, 3]) - _grid(low, o.fps, bpm, [1, 3]) * 0.5
    down = _grid(mid, o.fps, bpm, [0, 2]) - _grid(low, o.fps, bpm, [0, 2]) * 0.5
    return max(-1.0, min(1.0, back - down))


def _whole_bars(duration_s: float, bpm: float, tol: float = 0.02) -> int | None:
    bars = duration_s * bpm / 240.0
    n = round(bars)
    if n >= 1 and abs(bars - n) <= tol * max(1, n) and n in BAR_PRIOR:
        return n
    return None


#: weights of a tempo reading's score (set on the evaluation's development seed)
W_PRIOR = 0.2
#: centre of the tempo prior: the pulse term leans to slower readings (whole bars
#: correlate best), which this offsets
PRIOR_BPM = 130.0
W_BACKBEAT = 0.4
W_32ND = 0.6
W_BARS = 0.4


def tempo(o: Onsets, duration_s: float, *, whole_file: bool = True) -> TempoGuess | None:
    """The tempo of a loop; None when the audio holds no pulse at all.

    ``whole_file`` False: the audio is only the file's first part (its length tells
    nothing of bars)."""
    if len(o.env) < 8 or o.env.max() <= 0:
        return None
    acf = _acf(o.env)
    fps = o.fps
    cands: dict[float, int | None] = {}
    if whole_file:
        for bars in BAR_PRIOR:
            bpm = 240.0 * bars / duration_s
            if MIN_BPM <= bpm <= MAX_BPM:
                cands[round(bpm, 3)] = bars
    # the audio's own peaks (lags of 55–200 BPM)
    lo, hi = int(60 * fps / MAX_BPM), math.ceil(60 * fps / MIN_BPM)
    seg = acf[lo:min(hi + 1, len(acf) - 1)]
    if len(seg) > 2:
        local = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])) + 1
        for i in sorted(local, key=lambda j: -seg[j])[:6]:
            lag = lo + i
            a, b, c = acf[lag - 1], acf[lag], acf[lag + 1]
            den = a - 2 * b + c
            frac = 0.5 * (a - c) / den if den < 0 else 0.0
            bpm = 60.0 * fps / (lag + frac)
            if MIN_BPM <= bpm <= MAX_BPM:
                bars = _whole_bars(duration_s, bpm) if whole_file else None
                if bars is not None:
                    bpm = 240.0 * bars / duration_s  # the file's length is exact
                cands.setdefault(round(bpm, 3), bars)
    if not cands:
        return None
    scored = []
    for bpm, bars in cands.items():
        pulse = _pulse(acf, fps, bpm)
        prior = -0.5 * (math.log2(bpm / PRIOR_BPM) / 0.7) ** 2
        bar_bonus = 0.0 if bars is None else W_BARS * BAR_PRIOR[bars]
        # a reading whose 32nd notes pulse is too slow: hi-hats run in 16ths, not 32nds
        too_fine = max(0.0, _at(acf, 60.0 * fps / bpm / 8))
        score = (pulse + W_PRIOR * prior + bar_bonus + W_BACKBEAT * _backbeat(o, bpm)
                 - W_32ND * too_fine)
        scored.append((score, bpm, bars, pulse))
    scored.sort(reverse=True)
    best_score, best_bpm, best_bars, best_pulse = scored[0]
    alt = None
    for _s, bpm, _bars, _p in scored[1:]:
        ratio = bpm / best_bpm
        if abs(ratio - 2) < 0.04 or abs(ratio - 0.5) < 0.01:
            alt = round(bpm, 2)
            break
    if alt is None:
        for r in (2.0, 0.5):
            if MIN_BPM * 0.75 <= best_bpm * r <= MAX_BPM * 1.25:
                alt = round(best_bpm * r, 2)
                break
    margin = best_score - (scored[1][0] if len(scored) > 1 else 0.0)
    conf = max(0.0, min(1.0, 0.5 * best_pulse + 0.5 * min(1.0, margin * 4)
                        + (0.15 if best_bars else 0.0)))
    if alt is not None:
        # the beat or its half/double: decided apart, by the metrical-level model
        slow, fast = sorted((best_bpm, alt))
        level = fast if faster_is_the_beat(o, acf, duration_s, slow, fast,
                                           whole_file=whole_file) >= 0.5 else slow
        if abs(level - best_bpm) > 1e-6:
            best_bpm, alt = level, round(best_bpm, 2)
            best_bars = _whole_bars(duration_s, best_bpm) if whole_file else None
    return TempoGuess(round(best_bpm, 2), round(conf, 3), best_bars, alt)


# -- metrical level: the beat, or its half or double ---------------------------------------

#: logistic weights of the metrical-level model over ``_level_features`` (in that order),
#: with the bias last; fitted by ``bench.analysis_fit`` on tuning seeds (1, 3, 5, 6, 7),
#: never on the seeds reported (2, 4); see docs/eval/analysis.md
LEVEL_WEIGHTS = (-15.14, 3.224, -16.72, 16.9, -5.77, 4.571, 7.346, 0.1547, 0.1251, 10.61,
                 7.891, -10.76)


def _level_features(o: Onsets, acf: np.ndarray, duration_s: float, slow: float,
                    fast: float, *, whole_file: bool = True) -> list[float]:
    """What tells a beat from its half or double (``fast`` = 2 × ``slow``):

    0. the tempo itself (log2 of the slower reading / 100 BPM): a prior;
    1. backbeat at the faster reading minus backbeat at the slower (snare on 2 and 4);
    2. the faster reading's 32nd-note pulse (hats run in 16ths, rarely 32nds);
    3. the slower reading's 32nd-note pulse (= the faster's 16ths: a trap hat line);
    4. a whole number of bars at the slower reading but not at the faster (or the reverse);
    5. pulse at the faster reading's 8th minus the slower's 8th;
    6. backbeat at the slower reading;
    7. pulse at the slower reading's 16th;
    8. onsets per beat of the slower reading;
    9. the share of the onset strength above 4 kHz (hats and snares: drums, which carry
       their own backbeat, against phrases, whose notes pulse at the 8th or 16th);
    10. 1 times 9: a backbeat counts where there are drums (a phrase's 8th notes fall on
        the faster reading's beats 2 and 4 too)."""
    fps = o.fps
    lag_s, lag_f = 60.0 * fps / slow, 60.0 * fps / fast
    bars_s = whole_file and _whole_bars(duration_s, slow) is not None
    bars_f = whole_file and _whole_bars(duration_s, fast) is not None
    back_s, back_f = _backbeat(o, slow), _backbeat(o, fast)
    beats = duration_s * slow / 60.0
    total = float(o.env.sum())
    high = max(0.0, 1.0 - float(o.low.sum() + o.mid.sum()) / total) if total > 0 else 0.0
    return [math.log2(slow / 100.0), back_f - back_s, max(0.0, _at(acf, lag_f / 8)),
            max(0.0, _at(acf, lag_s / 8)), float(bars_s) - float(bars_f),
            max(0.0, _at(acf, lag_f / 2)) - max(0.0, _at(acf, lag_s / 2)), back_s,
            max(0.0, _at(acf, lag_s / 4)), len(o.peaks) / max(1.0, beats), high,
            (back_f - back_s) * high]


def faster_is_the_beat(o: Onsets, acf: np.ndarray, duration_s: float, slow: float,
                       fast: float, *, whole_file: bool = True) -> float:
    """Probability that ``fast`` (not ``slow``, its half) is the loop's beat."""
    x = _level_features(o, acf, duration_s, slow, fast, whole_file=whole_file)
    if x[9] >= 0.3 and x[6] < 0.1 and x[1] + x[6] > 0.25:
        return 0.9  # drums whose snare is on the faster reading's 2 and 4 and nowhere else
    z = LEVEL_WEIGHTS[-1] + sum(w * v for w, v in zip(LEVEL_WEIGHTS[:-1], x, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
