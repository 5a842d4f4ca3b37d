"""Loops and phrases for the corpus: drum loops sequenced from real kit hits, and bass lines,
chord stabs, arpeggios and chord progressions played by the General MIDI programs.

A drum loop is 1–4 bars of 4/4 at 70–180 BPM in one of six styles (boom bap, house, rock,
trap, breakbeat, percussion), with swing, ghost notes, hi-hat rolls and fills, its pieces
taken from one kit and sometimes a second one. A phrase is 1–2 bars of a seeded chord
progression in a random key, rendered with fluidsynth at 44.1 kHz. Both are exactly
``bars × 4 × 60 / bpm`` seconds long, like a producer's loop: what rings past the end is
folded back onto the start, so the loop repeats seamlessly. The corpus stores a
``CLIP_S`` window of each, starting on a beat and wrapping around the loop.

Everything is a pure function of the seed and the clip's index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr

from models.corpus import CLIP, RENDER_SR, SR, rendered
from models.synth import class_rng

Bank = dict[str, list[np.ndarray]]  # drum class → hits (float32 at SR)


def loop_samples(bpm: float, bars: int, sr: int = SR) -> int:
    """A loop's length in samples: bars of 4/4 at ``bpm``."""
    return round(bars * 4 * 60 / bpm * sr)


def loop_window(loop: np.ndarray, bpm: float, rng: np.random.Generator,
                length: int = CLIP) -> np.ndarray:
    """``length`` samples of the loop played round, starting on a random beat — one whose
    first second (what training looks at) holds at least a quarter of the loudest such
    second's energy, so that a sparse loop never gives a silent window."""
    beats = max(1, round(len(loop) / (60 / bpm * SR)))
    starts = [round(b * 60 / bpm * SR) for b in range(beats)]
    head = min(length, SR)
    energy = np.array([float(np.square(np.take(loop, np.arange(s, s + head), mode="wrap"),
                                       dtype=np.float64).sum()) for s in starts])
    ok = np.flatnonzero(energy >= 0.25 * energy.max()) if energy.max() > 0 else np.arange(beats)
    start = starts[int(ok[int(rng.integers(0, len(ok)))])]
    return np.take(loop, np.arange(start, start + length), mode="wrap").astype(np.float32)


def fold(y: np.ndarray, n: int) -> np.ndarray:
    """Wrap ``y`` round a loop of ``n`` samples: what rings past the end adds to the start."""
    y = np.asarray(y, dtype=np.float64)
    rows = -(-len(y) // n) if len(y) else 1
    return np.pad(y, (0, rows * n - len(y))).reshape(rows, n).sum(axis=0)


def _peak(y: np.ndarray) -> np.ndarray:
    y = np.nan_to_num(y).astype(np.float32)
    peak = np.abs(y).max()
    return y * np.float32(10 ** (-1 / 20) / peak) if peak > 0 else y


# -- drum loops ---------------------------------------------------------------------------

#: style → (BPM range, swing range: where the off 16th falls, 0.5 = straight)
DRUM_STYLES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "Boom Bap Loop": ((70, 98), (0.54, 0.66)),
    "House Loop": ((118, 130), (0.5, 0.58)),
    "Rock Loop": ((80, 150), (0.5, 0.5)),
    "Trap Loop": ((130, 160), (0.5, 0.52)),
    "Breakbeat Loop": ((130, 180), (0.5, 0.56)),
    "Percussion Loop": ((90, 130), (0.5, 0.62)),
}
PERCUSSION = ("Conga", "Bongo", "Shaker", "Tambourine", "Claves", "Cowbell", "Wood Block",
              "Timbale", "Agogo Bell")
#: a loop's kit must hold these (percussion loops: two of PERCUSSION)
CORE = ("Kick", "Snare", "Closed Hi-Hat")
LEVEL = {"Kick": 1.0, "Snare": 0.9, "Hand Clap": 0.8, "Side Stick": 0.6, "Closed Hi-Hat": 0.45,
         "Open Hi-Hat": 0.45, "Ride Cymbal": 0.45, "Crash Cymbal": 0.55, "Tom": 0.8}


@dataclass
class LoopSpec:
    style: str
    bpm: float
    bars: int
    swing: float
    fill: bool
    events: list[tuple[float, str, float]] = field(default_factory=list)  # (16th step, piece, vel)


def _has(bank: Bank, piece: str) -> bool:
    return bool(bank.get(piece))


def plan_drum_loop(style: str, rng: np.random.Generator, bank: Bank) -> LoopSpec:
    """The pattern of one loop: 16th steps across the bars, pieces and velocities."""
    (lo, hi), (s_lo, s_hi) = DRUM_STYLES[style]
    bpm = round(float(rng.uniform(lo, hi)), 1)
    bars = int(rng.choice([1, 2, 2, 4, 4]))
    swing = float(rng.uniform(s_lo, s_hi))
    fill = bool(rng.random() < 0.35)
    ev: list[tuple[float, str, float]] = []
    v = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    backbeat = "Hand Clap" if style in ("House Loop", "Trap Loop") and _has(bank, "Hand Clap") \
        else "Snare"
    ride = style in ("Rock Loop", "Breakbeat Loop") and _has(bank, "Ride Cymbal") and \
        rng.random() < 0.3
    hat = "Ride Cymbal" if ride else "Closed Hi-Hat"
    if style == "Boom Bap Loop":
        kicks = [0, *rng.choice([7, 10, 11, 13, 14], int(rng.integers(1, 3)), replace=False)]
        snares, hats = [4, 12], list(range(0, 16, 2 if rng.random() < 0.7 else 1))
        ghosts = [s for s in (3, 9, 15) if rng.random() < 0.3]
    elif style == "House Loop":
        kicks, snares = [0, 4, 8, 12], [4, 12]
        hats = [s for s in range(16) if s % 4 != 2 and rng.random() < 0.6]
        ghosts = []
    elif style == "Rock Loop":
        kicks = [0, 8, *rng.choice([6, 10, 14, 3], int(rng.integers(0, 3)), replace=False)]
        snares, hats, ghosts = [4, 12], list(range(0, 16, 2)), []
    elif style == "Trap Loop":
        kicks = [0, *rng.choice([3, 6, 7, 10, 11, 14], int(rng.integers(1, 4)), replace=False)]
        snares, hats, ghosts = [8], list(range(16)), []
    elif style == "Breakbeat Loop":
        kicks = [0, 10, *rng.choice([2, 6, 11, 14], int(rng.integers(0, 2)), replace=False)]
        snares, hats = [4, 12], list(range(0, 16, 2))
        ghosts = [s for s in (7, 9, 13, 15) if rng.random() < 0.4]
    else:
        kicks, snares, hats, ghosts = [], [], [], []
    for bar in range(bars):
        base = 16 * bar
        last = bar == bars - 1 and fill
        stop = 12 if last else 16  # a fill takes the last beat
        for s in kicks:
            if s < stop:
                ev.append((base + s, "Kick", v(0.8, 1.0)))
        for s in snares:
            if s < stop:
                ev.append((base + s, backbeat, v(0.85, 1.0)))
        for s in ghosts:
            if s < stop:
                ev.append((base + s, "Snare", v(0.2, 0.4)))
        for s in hats:
            if s < stop:
                ev.append((base + s, hat, v(0.7, 0.9) if s % 4 == 0 else v(0.35, 0.7)))
        if style == "House Loop":
            for s in (2, 6, 10, 14):
                if s < stop and _has(bank, "Open Hi-Hat"):
                    ev.append((base + s, "Open Hi-Hat", v(0.5, 0.8)))
        if style == "Trap Loop":  # rolls: one or two beats of 32nds or triplets
            for beat in rng.choice(4, int(rng.integers(0, 3)), replace=False):
                div = int(rng.choice([2, 3]))
                for k in range(1, 4 * div):
                    step = base + 4 * beat + k * 4 / (4 * div)
                    if step < base + stop:
                        ev.append((float(step), "Closed Hi-Hat", v(0.25, 0.6)))
        if style == "Percussion Loop":
            pieces = [p for p in PERCUSSION if _has(bank, p)]
            for p in rng.permutation(pieces)[: int(rng.integers(2, 5))]:
                if p in ("Shaker", "Tambourine"):
                    steps = list(range(16))
                elif p == "Claves":
                    steps = [0, 3, 6, 10, 12]  # son clave, 3-2
                elif p == "Cowbell":
                    steps = [0, 4, 8, 12]
                else:
                    steps = [s for s in range(16) if rng.random() < 0.35]
                for s in steps:
                    if s < stop:
                        ev.append((base + s, str(p), v(0.7, 1.0) if s % 4 == 0 else v(0.3, 0.7)))
        if bar == 0 and _has(bank, "Crash Cymbal") and style in ("Rock Loop", "Breakbeat Loop") \
                and rng.random() < 0.4:
            ev.append((0.0, "Crash Cymbal", v(0.7, 1.0)))
        if last:
            piece = "Tom" if _has(bank, "Tom") and style != "Percussion Loop" else (
                "Snare" if style != "Percussion Loop" else "Conga")
            for k in range(4):
                ev.append((base + 12 + k, piece, v(0.6, 1.0)))
                if rng.random() < 0.5:
                    ev.append((base + 12 + k + 0.5, piece, v(0.4, 0.8)))
    return LoopSpec(style, bpm, bars, swing, fill, sorted(ev))


def render_drum_loop(spec: LoopSpec, kits: list[Bank], rng: np.random.Generator) -> np.ndarray:
    """Mix the pattern's hits into a loop of exactly ``loop_samples(bpm, bars)`` samples.

    Each piece comes from the first kit that holds it; the tails past the end wrap round.
    """
    n = loop_samples(spec.bpm, spec.bars)
    out = np.zeros(n, np.float64)
    step_s = 60 / spec.bpm / 4
    for step, piece, vel in spec.events:
        bank = next((k for k in kits if k.get(piece)), None)
        if bank is None:
            continue
        hit = bank[piece][int(rng.integers(0, len(bank[piece])))]
        pair, frac = divmod(step, 2)
        # swing: the off 16th of each pair moves to ``swing`` of the pair (0.5 = straight)
        frac = frac * 2 * spec.swing if frac <= 1 else 2 * spec.swing + (frac - 1) * 2 * (
            1 - spec.swing)
        t = (pair * 2 + frac) * step_s
        t += float(rng.normal(0, 0.004))  # a player's timing
        start = round(t * SR) % n
        y = hit * (LEVEL.get(piece, 0.6) * vel ** 1.5)
        # the hit from ``start``, wrapped round the loop (a hit may outlast a short loop)
        pos, i = start, 0
        while i < len(y):
            k = min(n - pos, len(y) - i)
            out[pos:pos + k] += y[i:i + k]
            i, pos = i + k, 0
    return _peak(out)


def drum_loop(style: str, kits: list[Bank], seed: int, index: int) -> tuple[LoopSpec, np.ndarray]:
    rng = class_rng(seed, "loop", style, index)
    spec = plan_drum_loop(style, rng, kits[0])
    return spec, render_drum_loop(spec, kits, rng)


# -- phrases from General MIDI programs ----------------------------------------------------

#: phrase class → GM programs that play it
PHRASE_PROGRAMS: dict[str, list[int]] = {
    "Bass Line": [32, 33, 34, 35, 36, 37, 38, 39],
    "Chord Stabs": [0, 1, 2, 4, 5, 16, 17, 18, 27, 48, 50, 61, 62, 63, 80, 81, 90],
    "Arpeggio": [0, 4, 5, 6, 8, 9, 10, 11, 12, 13, 24, 25, 46, 80, 81, 82, 84, 98],
    "Chord Progression": [0, 4, 16, 19, 48, 49, 50, 52, 88, 89, 90, 91, 92, 94, 95],
}
SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10]}
PROGRESSIONS = [[0, 5, 3, 4], [0, 3, 4, 4], [0, 4, 5, 3], [5, 3, 0, 4], [0, 6, 5, 6],
                [1, 4, 0, 0], [0, 0, 3, 3], [0, 2, 5, 4]]


@dataclass
class Phrase:
    cls: str
    program: int
    bpm: float
    bars: int
    notes: list[tuple[float, float, int, int]]  # (start s, length s, MIDI note, velocity)


def _degree(scale: list[int], d: int) -> int:
    return scale[d % 7] + 12 * (d // 7)


def plan_phrase(cls: str, rng: np.random.Generator, *, bass_on_tonic: bool = False) -> Phrase:
    """One phrase's notes. A bass line's roots sit on MIDI 28 (E1) + the chord's degree
    above ``key``, so it sounds four semitones above the key it was planned in: the corpus
    was built so and stays reproducible (the default). ``bass_on_tonic`` builds it on the
    key's own tonic instead (E1–D#2, the same register), for evaluation sets whose truth is
    the key; every random draw is the same either way."""
    program = int(rng.choice(PHRASE_PROGRAMS[cls]))
    bpm = round(float(rng.uniform(70, 150)), 1)
    bars = int(rng.choice([1, 2]))
    beat = 60 / bpm
    scale = SCALES[str(rng.choice(list(SCALES)))]
    key = int(rng.integers(0, 12))
    prog = PROGRESSIONS[int(rng.integers(0, len(PROGRESSIONS)))]
    per_bar = int(rng.choice([1, 2]))  # chord changes a bar
    n_chords = bars * per_bar
    chord_len = 4 * beat / per_bar
    notes: list[tuple[float, float, int, int]] = []

    def chord(d: int, base: int, size: int) -> list[int]:
        return [base + key + _degree(scale, d + 2 * k) for k in range(size)]

    for c in range(n_chords):
        d = prog[c % len(prog)]
        t0 = c * chord_len
        if cls == "Bass Line":
            step = beat / int(rng.choice([2, 4]))
            legato = float(rng.uniform(0.4, 0.95))
            for k in range(round(chord_len / step)):
                if k and rng.random() > 0.65:
                    continue
                pc = (key + _degree(scale, d) - (4 if bass_on_tonic else 0)) % 12
                root = 28 + pc + (12 if key > 6 and rng.random() < .5 else 0)
                pitch = root + int(rng.choice([0, 0, 0, 7, 12, -5]))
                notes.append((t0 + k * step, step * legato, int(np.clip(pitch, 24, 60)),
                              int(rng.integers(70, 121))))
        elif cls == "Chord Stabs":
            voicing = chord(d, 48 + 12 * int(rng.integers(0, 2)), int(rng.choice([3, 4])))
            slots = sorted(rng.choice(round(chord_len / (beat / 2)),
                                      int(rng.integers(1, 4)), replace=False))
            for s in slots:
                length = beat * float(rng.uniform(0.1, 0.35))
                vel = int(rng.integers(80, 121))
                notes += [(t0 + s * beat / 2, length, p, vel) for p in voicing]
        elif cls == "Arpeggio":
            div = int(rng.choice([2, 3, 4]))
            step = beat / div
            tones = chord(d, 48 + 12 * int(rng.integers(0, 2)), 3)
            tones = tones + [p + 12 for p in tones]
            order = {"up": tones, "down": tones[::-1], "updown": tones + tones[-2:0:-1]}[
                str(rng.choice(["up", "down", "updown"]))]
            for k in range(round(chord_len / step)):
                notes.append((t0 + k * step, step * 0.85, order[k % len(order)],
                              int(rng.integers(60, 111))))
        else:  # sustained chords
            voicing = chord(d, 48 + 12 * int(rng.integers(0, 2)), int(rng.choice([3, 4])))
            vel = int(rng.integers(60, 111))
            notes += [(t0, chord_len * 0.98, p, vel) for p in voicing]
    return Phrase(cls, program, bpm, bars, notes)


TAIL_S = 2.0  # rendered past a phrase's end, then folded back onto its start


def render_phrases(font_path: str, phrases: list[Phrase], workdir: Path) -> list[np.ndarray]:
    """Render phrases one after another in one fluidsynth run → loops at SR, each exactly
    ``loop_samples(bpm, bars)`` long."""
    events: list[tuple[float, bytes]] = []
    starts, t = [], 0.5
    for ph in phrases:
        events.append((t - 0.2, bytes([0xC0, ph.program])))
        for s, length, pitch, vel in ph.notes:
            events.append((t + s, bytes([0x90, pitch, vel])))
            events.append((t + s + length, bytes([0x80, pitch, 0])))
        starts.append(t)
        t += loop_samples(ph.bpm, ph.bars) / SR + TAIL_S
        events.append((t - 0.3, bytes([0xB0, 123, 0])))  # all notes off
    out = []
    with rendered(events, font_path, workdir, gain=0.5) as f:
        for ph, start in zip(phrases, starts, strict=True):
            n_hi = loop_samples(ph.bpm, ph.bars, RENDER_SR)
            f.seek(min(round(start * RENDER_SR), f.frames))
            block = f.read(n_hi + round(TAIL_S * RENDER_SR), dtype="float32",
                           always_2d=True).mean(axis=1)
            loop = fold(block, n_hi)
            n = loop_samples(ph.bpm, ph.bars)
            y = soxr.resample(loop, RENDER_SR, SR, quality="HQ")[:n]
            out.append(_peak(np.pad(y, (0, n - len(y)))))
    return out
