"""Synthetic signals whose analysis is known (tests of core/analysis): drum patterns at
known tempi, chord progressions, tones at known notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44_100


def _hit(kind: str, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    if kind == "kick":
        f = 50 + 90 * np.exp(-t * 30)
        return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t * 12)
    noise = rng.normal(0, 1, n)
    if kind == "snare":
        return 0.6 * noise * np.exp(-t * 25) + 0.4 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 20)
    hp = np.diff(noise, prepend=0.0)  # a hat: bright, short
    return 0.3 * hp * np.exp(-t * 80)


def drum_loop(bpm: float, bars: int = 2, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Kick on 1 and 3, snare on 2 and 4, hats on 8ths; exactly ``bars`` bars long."""
    rng = np.random.default_rng(seed)
    n = round(bars * 4 * 60 / bpm * sr)
    out = np.zeros(n + sr)
    beat = 60 / bpm
    for b in range(bars * 4):
        for piece, at in (("kick" if b % 2 == 0 else "snare", 0.0), ("hat", 0.0),
                          ("hat", 0.5)):
            start = round((b + at) * beat * sr)
            h = _hit(piece, rng, sr)
            out[start:start + len(h)] += h
    y = out[:n]
    y[: len(out) - n] += out[n:][: n]  # the tail rings round, as in a real loop
    return 0.8 * y / np.abs(y).max()


def _tone(midi: float, t: np.ndarray) -> np.ndarray:
    f = 440 * 2 ** ((midi - 69) / 12)
    return sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3, 4))


def progression(chords: list[list[int]], bpm: float = 100, sr: int = SR, *,
                per_bar: int = 1, bass: bool = True) -> np.ndarray:
    """``per_bar`` chords a bar (root-position triads, with the root an octave down in the
    bass when ``bass``)."""
    bar = 4 * 60 / bpm / per_bar
    t = np.arange(round(bar * sr)) / sr
    env = np.minimum(1, t / 0.01) * (0.6 + 0.4 * np.exp(-t * 2))
    parts = [sum(_tone(m, t) for m in ([c[0] - 12] if bass else []) + list(c)) * env
             for c in chords]
    y = np.concatenate(parts)
    return 0.8 * y / np.abs(y).max()


def one_shot(midi: int, seconds: float = 1.2, sr: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    y = _tone(midi, t) * np.exp(-t * 4) * np.minimum(1, t / 0.005)
    return 0.7 * y / np.abs(y).max()


def write(path: Path, y: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), y, sr, subtype=subtype)
    return path




def trap_loop(bpm: float, bars: int = 2, sr: int = SR, seed: int = 0,
              hats: tuple[float, float] = (0.35, 0.2)) -> np.ndarray:
    """Trap: quiet hats on every 16th (``hats``: on the beat, off it), the snare on beat 3
    only (a half-time feel), kicks on steps 1, 8 and 11; exactly ``bars`` bars long."""
    rng = np.random.default_rng(seed)
    n = round(bars * 4 * 60 / bpm * sr)
    out = np.zeros(n + sr)
    step = 60 / bpm / 4
    for bar in range(bars):
        for s in range(16):
            pieces = [("hat", hats[0] if s % 4 == 0 else hats[1])]
            pieces += [("kick", 1.0)] if s in (0, 7, 10) else []
            pieces += [("snare", 0.9)] if s == 8 else []
            for piece, level in pieces:
                start = round((16 * bar + s) * step * sr)
                h = _hit(piece, rng, sr) * level
                out[start:start + len(h)] += h
    y = out[:n]
    y[: len(out) - n] += out[n:][: n]
    return 0.8 * y / np.abs(y).max()


def arpeggio(chords: list[list[int]], bpm: float, per_beat: int = 2, sr: int = SR) -> np.ndarray:
    """One chord a bar played as a rising arpeggio, ``per_beat`` notes a beat, each note
    ringing until the next (no drums): exactly ``len(chords)`` bars long."""
    step = 60 / bpm / per_beat
    n_step = round(step * sr)
    t = np.arange(n_step) / sr
    env = np.minimum(1, t / 0.005) * np.exp(-t * 3)
    notes = []
    for c in chords:
        tones = [*c, c[0] + 12]
        for k in range(4 * per_beat):
            notes.append(_tone(tones[k % len(tones)], t) * env)
    y = np.concatenate(notes)
    return 0.8 * y / np.abs(y).max()
