"""A small procedural synthesizer (numpy only) for the corpus: synth one-shots and FX.

Each class is one seeded generator: 808 kicks, noise hi-hats, claps, reese, wobble and sub
basses, leads, pads, plucks, and FX (risers, downlifters, sweeps, impacts, reverb tails,
noise beds, vinyl crackle). A sound is drawn at 44.1 kHz (polyBLEP oscillators,
block-wise time-varying biquads) and downsampled with soxr to the corpus rate, as the
SoundFont renders are: drawing straight at 16 kHz would alias.

``render(cls, seed, index)`` is a pure function of its arguments: the same seed and index
give byte-identical audio, whatever else is built.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import soxr
from scipy.signal import fftconvolve, lfilter

from models.corpus import CLIP_S, RENDER_SR, SR

PEAK = 10 ** (-1 / 20)  # -1 dBFS

Gen = Callable[[np.random.Generator], np.ndarray]


# -- building blocks (all at RENDER_SR) --------------------------------------------------

def _t(n: int | None = None) -> np.ndarray:
    return np.arange(n or round(CLIP_S * RENDER_SR)) / RENDER_SR


def _n() -> int:
    return round(CLIP_S * RENDER_SR)


def midi_hz(note: float | np.ndarray) -> float | np.ndarray:
    return 440.0 * 2 ** ((np.asarray(note) - 69) / 12)


def _phase(freq: float | np.ndarray, n: int, start: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Phase in cycles (0..1) and the per-sample increment for a (possibly moving) frequency."""
    inc = np.broadcast_to(np.asarray(freq, dtype=np.float64) / RENDER_SR, (n,))
    ph = (start + np.cumsum(inc) - inc) % 1.0
    return ph, inc


def _blep(ph: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """PolyBLEP residual that rounds off a saw's jump (suppresses most aliasing)."""
    out = np.zeros_like(ph)
    a = ph < dt
    x = ph[a] / dt[a]
    out[a] = x + x - x * x - 1.0
    b = ph > 1.0 - dt
    x = (ph[b] - 1.0) / dt[b]
    out[b] = x * x + x + x + 1.0
    return out


def saw(freq, n: int, start: float = 0.0) -> np.ndarray:
    ph, dt = _phase(freq, n, start)
    return 2.0 * ph - 1.0 - _blep(ph, dt)


def square(freq, n: int, width: float | np.ndarray = 0.5, start: float = 0.0) -> np.ndarray:
    ph, dt = _phase(freq, n, start)
    a = 2.0 * ph - 1.0 - _blep(ph, dt)
    ph2 = (ph + width) % 1.0
    b = 2.0 * ph2 - 1.0 - _blep(ph2, dt)
    return 0.5 * (a - b)


def sine(freq, n: int, start: float = 0.0) -> np.ndarray:
    ph, _ = _phase(freq, n, start)
    return np.sin(2 * np.pi * ph)


def _biquad(kind: str, fc: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """RBJ cookbook biquad at RENDER_SR."""
    w = 2 * np.pi * min(max(fc, 10.0), 0.45 * RENDER_SR) / RENDER_SR
    cw, alpha = np.cos(w), np.sin(w) / (2 * q)
    if kind == "lp":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
    elif kind == "hp":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
    else:  # band pass, 0 dB peak
        b = [alpha, 0.0, -alpha]
    a = [1 + alpha, -2 * cw, 1 - alpha]
    return np.array(b) / a[0], np.array(a) / a[0]


def filt(x: np.ndarray, kind: str, fc: float | np.ndarray, q: float = 0.707,
         block: int = 256) -> np.ndarray:
    """A biquad whose cutoff may move: coefficients change every ``block`` samples."""
    if np.ndim(fc) == 0:
        b, a = _biquad(kind, float(fc), q)
        return lfilter(b, a, x)
    fc = np.asarray(fc)
    out = np.empty_like(x)
    zi = np.zeros(2)
    for i in range(0, len(x), block):
        b, a = _biquad(kind, float(fc[min(i + block // 2, len(fc) - 1)]), q)
        # transposed direct form II keeps its state meaningful across coefficient changes
        out[i:i + block], zi = lfilter(b, a, x[i:i + block], zi=zi)
    return out


def adsr(n: int, a: float, d: float, s: float, r_at: float | None = None,
         r: float = 0.05) -> np.ndarray:
    """Attack, decay to sustain level ``s``; release starts at ``r_at`` seconds (if given)."""
    t = _t(n)
    env = np.where(t < a, t / max(a, 1e-4),
                   s + (1 - s) * np.exp(-(t - a) / max(d, 1e-4)))
    if r_at is not None:
        rel = t >= r_at
        level = env[min(round(r_at * RENDER_SR), n - 1)]
        env[rel] = level * np.exp(-(t[rel] - r_at) / max(r, 1e-4))
    return env


def decay(n: int, tau: float, attack: float = 0.001) -> np.ndarray:
    t = _t(n)
    return np.minimum(1.0, t / attack) * np.exp(-t / tau)


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal(n)


def _pink(rng: np.random.Generator, n: int, slope: float = 1.0) -> np.ndarray:
    """Noise with a 1/f^slope power spectrum (1 = pink, 2 = brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / RENDER_SR), 20.0)
    y = np.fft.irfft(spec / f ** (slope / 2), n)
    return y / (np.abs(y).max() + 1e-12)


def _sat(x: np.ndarray, drive: float) -> np.ndarray:
    return np.tanh(drive * x) / np.tanh(drive)


def _norm(x: np.ndarray) -> np.ndarray:
    return x / (np.abs(x).max() + 1e-12)


# -- synth one-shots ----------------------------------------------------------------------

def kick_808(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    f0 = rng.uniform(38, 62)
    sweep = rng.uniform(2.5, 7.0)
    tau_p = rng.uniform(0.015, 0.06)
    f = f0 * (1 + (sweep - 1) * np.exp(-t / tau_p))
    body = sine(f, n) * decay(n, rng.uniform(0.15, 0.9), 0.0015)
    click = filt(_noise(rng, n), "hp", rng.uniform(1500, 5000)) * decay(n, 0.004, 0.0002)
    y = body + rng.uniform(0.0, 0.4) * click
    return _sat(y, rng.uniform(1.0, 6.0))


def noise_hat(rng: np.random.Generator) -> np.ndarray:
    n = _n()
    if rng.random() < 0.5:  # six detuned squares, the analog drum machine's metal
        base = rng.uniform(280, 420)
        ratios = np.array([1.0, 1.4471, 1.6170, 1.9265, 2.5028, 2.6637]) * rng.uniform(
            0.97, 1.03, 6)
        src = sum(square(base * r, n) for r in ratios)
    else:
        src = _noise(rng, n)
    # two high-pass stages (24 dB/octave): the corpus keeps 0–8 kHz, and what a gentler
    # filter lets through below would be all that is left of the hat after normalising
    fc = rng.uniform(3000, 6500)
    y = filt(filt(src, "hp", fc, q=rng.uniform(0.7, 1.5)), "hp", fc)
    y = filt(y, "bp", rng.uniform(5000, 7500), q=0.6) + 0.5 * y
    return y * decay(n, rng.choice([rng.uniform(0.015, 0.06), rng.uniform(0.12, 0.45)]),
                     0.0005)


def synth_clap(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    src = filt(_noise(rng, n), "bp", rng.uniform(900, 2200), q=rng.uniform(0.8, 2.0))
    env = np.zeros(n)
    gap = rng.uniform(0.006, 0.014)
    bursts = int(rng.integers(3, 5))
    for k in range(bursts):
        t0 = k * gap
        env += np.where(t >= t0, np.exp(-(t - t0) / 0.004), 0.0) * (t < t0 + 0.03)
    t_tail = bursts * gap
    env += np.where(t >= t_tail, np.exp(-(t - t_tail) / rng.uniform(0.06, 0.25)), 0.0)
    return src * env


def reese_bass(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    f0 = midi_hz(rng.integers(28, 46))
    voices = int(rng.integers(2, 5))
    spread = rng.uniform(0.08, 0.5)  # semitones
    y = sum(saw(f0 * 2 ** (spread * (k / max(voices - 1, 1) - 0.5) / 12), n,
                start=rng.random()) for k in range(voices))
    cutoff = rng.uniform(250, 1400) * (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t))
    y = filt(y, "lp", cutoff, q=rng.uniform(0.7, 2.0))
    y = _sat(y / voices, rng.uniform(1.0, 4.0))
    return y * adsr(n, rng.uniform(0.003, 0.05), 0.3, 0.9, rng.uniform(0.9, 1.4), 0.08)


def wobble_bass(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    f0 = midi_hz(rng.integers(28, 46))
    bpm = rng.uniform(130, 175)
    rate = bpm / 60 * rng.choice([0.5, 1.0, 1.5, 2.0, 3.0, 4.0])  # tempo-synced LFO
    osc = saw(f0, n) + rng.uniform(0.3, 1.0) * square(f0 * 1.003, n)
    lfo = 0.5 - 0.5 * np.cos(2 * np.pi * rate * t)
    cutoff = 120 * (rng.uniform(15, 40)) ** lfo
    y = filt(osc, "lp", cutoff, q=rng.uniform(2.0, 6.0), block=128)
    y = _sat(y, rng.uniform(1.5, 5.0)) + 0.6 * sine(f0, n)
    return y * adsr(n, 0.005, 0.3, 0.95, rng.uniform(1.0, 1.45), 0.05)


def sub_bass(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    note = rng.integers(24, 43)
    f = midi_hz(note) * np.ones(n)
    if rng.random() < 0.4:  # glide from a nearby note
        f = midi_hz(note + rng.integers(-7, 8) * np.exp(-t / rng.uniform(0.03, 0.15)))
    y = sine(f, n)
    y = _sat(y, rng.uniform(1.0, 3.0))
    off = rng.uniform(0.25, 1.4)
    return y * adsr(n, rng.uniform(0.002, 0.03), rng.uniform(0.1, 0.6), rng.uniform(0.5, 1.0),
                    off, rng.uniform(0.02, 0.1))


def analog_lead(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    notes = rng.integers(55, 86, size=int(rng.integers(1, 4)))
    seg = np.minimum((t / (CLIP_S / len(notes))).astype(int), len(notes) - 1)
    pitch = notes[seg].astype(float)
    glide = rng.uniform(0.005, 0.06)
    # portamento: a one-pole smoother on the pitch (in semitones)
    a = np.exp(-1 / (glide * RENDER_SR))
    pitch = lfilter([1 - a], [1, -a], pitch, zi=[a * pitch[0]])[0]
    vib = np.clip((t - 0.25) / 0.3, 0, 1) * rng.uniform(0.0, 0.3) * np.sin(
        2 * np.pi * rng.uniform(4.5, 6.5) * t)
    f = midi_hz(pitch + vib)
    if rng.random() < 0.5:
        osc = saw(f, n) + saw(f * 2 ** (rng.uniform(0.02, 0.12) / 12), n)
    else:
        osc = square(f, n, 0.5 + 0.35 * np.sin(2 * np.pi * rng.uniform(0.3, 2) * t))
    env_f = rng.uniform(1500, 6000) * (1 + 2 * np.exp(-t / rng.uniform(0.05, 0.3)))
    y = filt(osc, "lp", env_f, q=rng.uniform(0.7, 3.0))
    return y * adsr(n, rng.uniform(0.003, 0.04), 0.2, 0.85, rng.uniform(0.8, 1.4), 0.1)


def _chord(rng: np.random.Generator, root: int) -> list[int]:
    shape = [[0, 4, 7], [0, 3, 7], [0, 4, 7, 11], [0, 3, 7, 10], [0, 5, 7], [0, 7, 12],
             [0, 3, 7, 14]][int(rng.integers(0, 7))]
    return [root + s for s in shape]


def analog_pad(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    notes = _chord(rng, int(rng.integers(48, 66)))
    y = np.zeros(n)
    for note in notes:
        for d in (-1, 1) if rng.random() < 0.7 else (0,):
            y += saw(midi_hz(note) * 2 ** (d * rng.uniform(0.03, 0.15) / 12), n,
                     start=rng.random())
    cutoff = rng.uniform(600, 3000) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.6) * t))
    y = filt(y, "lp", cutoff, q=rng.uniform(0.6, 1.5))
    return y * adsr(n, rng.uniform(0.15, 0.8), 0.5, 0.9)


def saw_pluck(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    notes = _chord(rng, int(rng.integers(48, 72))) if rng.random() < 0.4 else [
        int(rng.integers(48, 85))]
    y = sum(saw(midi_hz(m), n, start=rng.random()) + saw(midi_hz(m) * 1.004, n)
            for m in notes)
    env_f = 200 + rng.uniform(3000, 9000) * np.exp(-t / rng.uniform(0.03, 0.2))
    y = filt(y, "lp", env_f, q=rng.uniform(0.7, 4.0), block=64)
    return y * decay(n, rng.uniform(0.12, 0.6), 0.001)


def fm_pluck(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    fc = midi_hz(rng.integers(48, 90))
    ratio = rng.choice([1.0, 2.0, 3.0, 3.5, 4.0, 7.0])
    index = rng.uniform(1.5, 8.0) * np.exp(-t / rng.uniform(0.02, 0.25))
    mod = sine(fc * ratio, n)
    ph, _ = _phase(fc, n)
    y = np.sin(2 * np.pi * ph + index * mod)
    return y * decay(n, rng.uniform(0.1, 0.7), 0.0008)


# -- FX -----------------------------------------------------------------------------------

def riser(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    u = t / CLIP_S
    curve = u ** rng.uniform(1.0, 2.5)
    cutoff = rng.uniform(150, 500) * (rng.uniform(10, 40)) ** curve
    y = filt(_noise(rng, n), "bp" if rng.random() < 0.5 else "lp", cutoff,
             q=rng.uniform(0.8, 4.0))
    if rng.random() < 0.6:  # a pitched layer rising an octave or two
        f = midi_hz(rng.integers(40, 64) + rng.choice([12, 24, 36]) * curve)
        y = _norm(y) + rng.uniform(0.2, 0.8) * _norm(saw(f, n))
    return y * (0.05 + curve)


def downlifter(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    u = t / CLIP_S
    curve = (1 - u) ** rng.uniform(1.0, 3.0)
    cutoff = rng.uniform(150, 400) * (rng.uniform(10, 40)) ** curve
    y = filt(_noise(rng, n), "lp", cutoff, q=rng.uniform(0.7, 3.0))
    if rng.random() < 0.6:
        f = midi_hz(rng.integers(50, 76) - rng.choice([12, 24, 36]) * (1 - curve))
        y = _norm(y) + rng.uniform(0.2, 0.8) * _norm(sine(f, n) + 0.3 * saw(f, n))
    return y * np.minimum(1, t / 0.005) * curve


def sweep(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    cycles = rng.choice([0.5, 1.0, 1.5])
    lfo = 0.5 - 0.5 * np.cos(2 * np.pi * cycles * t / CLIP_S + rng.uniform(0, np.pi))
    cutoff = rng.uniform(200, 600) * (rng.uniform(8, 30)) ** lfo
    src = _noise(rng, n) if rng.random() < 0.6 else saw(midi_hz(rng.integers(36, 60)), n)
    y = filt(src, "bp" if rng.random() < 0.6 else "lp", cutoff, q=rng.uniform(2.0, 8.0),
             block=128)
    return y * adsr(n, rng.uniform(0.05, 0.3), 1.0, 1.0, rng.uniform(1.1, 1.4), 0.1)


def impact(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    boom = sine(rng.uniform(28, 55) * (1 + rng.uniform(1, 4) * np.exp(-t / 0.05)), n)
    boom *= decay(n, rng.uniform(0.3, 1.0), 0.001)
    crack = filt(_noise(rng, n), "lp", rng.uniform(2000, 9000)) * decay(n, rng.uniform(0.01, 0.05))
    tail = filt(_noise(rng, n), "lp", rng.uniform(600, 3000)) * decay(n, rng.uniform(0.3, 1.2),
                                                                     0.01)
    return _sat(boom + rng.uniform(0.3, 1.0) * crack + rng.uniform(0.1, 0.5) * tail,
                rng.uniform(1.0, 3.0))


def _ir(rng: np.random.Generator, rt60: float, n: int) -> np.ndarray:
    t = _t(n)
    bright = _noise(rng, n) * np.exp(-6.9 * t / (rt60 * rng.uniform(0.3, 0.7)))
    dark = filt(_noise(rng, n), "lp", rng.uniform(1500, 5000)) * np.exp(-6.9 * t / rt60)
    return bright + 2 * dark


def reverb_tail(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    src_n = round(0.12 * RENDER_SR)
    kind = rng.integers(0, 3)
    if kind == 0:  # a noise hit (snare-ish)
        src = filt(_noise(rng, src_n), "bp", rng.uniform(800, 4000), q=0.8)
    elif kind == 1:  # a short chord
        src = sum(saw(midi_hz(m), src_n) for m in _chord(rng, int(rng.integers(48, 72))))
    else:  # a click
        src = np.zeros(src_n)
        src[:8] = 1.0
    if kind != 2:
        src = src * decay(src_n, 0.03)
    y = fftconvolve(src, _ir(rng, rng.uniform(1.0, 4.0), n))[:n]
    # the tail without (most of) its dry source: what a producer cuts from a reverb return
    dry = np.zeros(n)
    dry[:src_n] = src
    return y * np.minimum(1, t / rng.uniform(0.005, 0.05)) + rng.uniform(0, 0.2) * _norm(dry) * (
        np.abs(y).max())


def noise_bed(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    y = _pink(rng, n, rng.choice([0.0, 1.0, 2.0]))
    cutoff = rng.uniform(400, 8000) * (1 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 1) * t))
    y = filt(y, "lp", cutoff, q=rng.uniform(0.5, 2.0))
    if rng.random() < 0.3:  # mains hum
        hz = rng.choice([50.0, 60.0])
        y = _norm(y) + rng.uniform(0.05, 0.3) * sum(sine(hz * k, n) / k for k in (1, 2, 3))
    return y * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.8) * t))


def vinyl_crackle(rng: np.random.Generator) -> np.ndarray:
    n, t = _n(), _t()
    clicks = np.zeros(n)
    count = int(rng.integers(20, 200))
    pos = rng.integers(0, n, size=count)
    clicks[pos] = rng.standard_normal(count) * rng.pareto(2.0, count)
    clicks = filt(clicks, "hp", rng.uniform(800, 3000))
    pops = np.zeros(n)
    k = int(rng.integers(0, 4))
    pops[rng.integers(0, n, size=k)] = rng.uniform(2, 6, size=k)
    pops = filt(pops, "lp", rng.uniform(400, 1500))
    hiss = filt(_noise(rng, n), "bp", rng.uniform(2000, 6000), q=0.5) * rng.uniform(0.01, 0.08)
    wow = rng.uniform(0.5, 0.6)  # the rumble swells once a turn of a 33⅓ rpm record
    rumble = filt(_noise(rng, n), "lp", 40) * rng.uniform(0.0, 0.5) * (
        1 + wow * np.sin(2 * np.pi * (33.33 / 60) * t))
    return _norm(clicks) + 0.6 * _norm(pops) * (k > 0) + hiss + 0.2 * rumble


#: class → generator. The class names are leaves of models/taxonomy.json.
SYNTH: dict[str, Gen] = {
    "808 Kick": kick_808, "Noise Hi-Hat": noise_hat, "Synth Clap": synth_clap,
    "Reese Bass": reese_bass, "Wobble Bass": wobble_bass, "Sub Bass": sub_bass,
    "Analog Lead": analog_lead, "Analog Pad": analog_pad,
    "Saw Pluck": saw_pluck, "FM Pluck": fm_pluck,
}
FX: dict[str, Gen] = {
    "Riser": riser, "Downlifter": downlifter, "Sweep": sweep, "Impact": impact,
    "Reverb Tail": reverb_tail, "Noise Bed": noise_bed, "Vinyl Crackle": vinyl_crackle,
}
GENERATORS: dict[str, Gen] = {**SYNTH, **FX}


def class_rng(*key: int | str) -> np.random.Generator:
    """A generator seeded by a tuple of ints and strings (strings by CRC-32: stable)."""
    ints = [k if isinstance(k, int) else zlib.crc32(k.encode("utf-8")) for k in key]
    return np.random.default_rng([int(abs(i)) for i in ints])


def downsample(y: np.ndarray, length: int) -> np.ndarray:
    """RENDER_SR → SR with soxr, cut or padded to ``length`` samples, peak at -1 dBFS."""
    y = np.nan_to_num(np.asarray(y, dtype=np.float64))
    z = soxr.resample(y, RENDER_SR, SR, quality="HQ")[:length]
    out = np.zeros(length, np.float32)
    out[: len(z)] = z
    peak = np.abs(out).max()
    if peak > 0:
        out *= np.float32(PEAK / peak)
    return out


def render(cls: str, seed: int, index: int) -> np.ndarray:
    """Clip ``index`` of class ``cls``: CLIP_S seconds, float32 at SR, peak -1 dBFS."""
    gen = GENERATORS[cls]
    y = gen(class_rng(seed, "synth", cls, index))
    return downsample(y, round(CLIP_S * SR))
