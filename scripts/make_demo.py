#!/usr/bin/env python3
"""Render Sampletree's small, redistributable demo sample library.

Every file is rendered by this script from the FluidR3 General MIDI SoundFont (MIT licensed,
Debian package ``fluid-soundfont-gm``) with the ``fluidsynth`` command-line program:

1. write a tiny Standard MIDI File by hand (one note, or the multi-instrument loop);
2. render it with ``fluidsynth -ni -q -F out.wav -r 44100 -R 0 -C 0 -O float -T wav FONT
   file.mid`` (reverb and chorus off, 32-bit float so nothing is dithered or clipped);
3. mix to mono where wanted, trim trailing silence, scale to a velocity-dependent peak;
4. resample with soxr where another rate is wanted and write the file with soundfile.

The files deliberately mix containers and encodings (WAV 16/24-bit and 32-bit float, AIFF,
FLAC, OGG Vorbis, MP3), sample rates (22050/44100/48000 Hz) and channel counts, so the scanner
sees something like a real library. Output is deterministic for a given seed: the same
FluidSynth, font and libsndfile give byte-identical files (the PEAK-chunk time stamp and the
random Ogg stream serial number that libsndfile writes are fixed after writing).

Usage::

    python3 scripts/make_demo.py [--out resources/demo] [--font PATH] [--seed N]

Python dependencies: numpy, soundfile, soxr. System dependency: ``fluidsynth``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "resources" / "demo"
DEFAULT_FONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
DEFAULT_SEED = 2024

RENDER_RATE = 44100
TICKS_PER_QUARTER = 480
TEMPO_US = 500_000  # 120 BPM: 960 ticks a second
TICKS_PER_SECOND = TICKS_PER_QUARTER * 1_000_000 // TEMPO_US
RELEASE_TAIL_S = 3.0  # MIDI time left after the note-off so the release is rendered
DRUM_CHANNEL = 9  # GM channel 10
DRUM_HOLD_S = 1.0  # long enough that a note-off never cuts a drum's natural decay
MAX_WORKERS = min(os.cpu_count() or 2, 8)  # each fluidsynth loads the whole font
AUDIO_SUFFIXES = {".wav", ".aif", ".aiff", ".flac", ".ogg", ".mp3"}

# Trimming and level.
SILENCE_DB = -54.0  # trailing audio quieter than this (relative to the peak) is cut
MIN_LEN_S = 0.3
FADE_S = 0.01  # fade-out after a silence trim
CAP_FADE_S = 0.06  # longer fade where max_s cuts a note still sounding
TOP_PEAK_DB = -1.0  # peak of a velocity-127 note
DB_PER_VELOCITY_STEP = 0.08  # velocity 64 peaks ~5 dB lower than velocity 127
LOSSY_HEADROOM_DB = 1.0  # lossy decoders overshoot the source peak a little

# name: (soundfile format, subtype, file suffix)
FORMATS: dict[str, tuple[str, str, str]] = {
    "wav16": ("WAV", "PCM_16", ".wav"),
    "wav24": ("WAV", "PCM_24", ".wav"),
    "wavf": ("WAV", "FLOAT", ".wav"),
    "aif16": ("AIFF", "PCM_16", ".aif"),
    "aif24": ("AIFF", "PCM_24", ".aiff"),
    "flac16": ("FLAC", "PCM_16", ".flac"),
    "flac24": ("FLAC", "PCM_24", ".flac"),
    "ogg": ("OGG", "VORBIS", ".ogg"),
    "mp3": ("MP3", "MPEG_LAYER_III", ".mp3"),
}
LOSSY = {"ogg", "mp3"}

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class OneShot:
    """One rendered note and how its file is written.

    ``program`` is a 0-based GM program for melodic sounds, or the drum-kit preset (bank 128)
    for percussion (``drums=True``, played on GM channel 10).
    """

    folder: str
    name: str
    program: int
    note: int
    velocity: tuple[int, int]  # the seeded velocity is drawn from this inclusive range
    hold_s: float
    fmt: str
    rate: int
    channels: int
    drums: bool = False
    pan: int = 64
    max_s: float = 4.0


def _shot(
    folder: str,
    name: str,
    program: int,
    note: int,
    vel: tuple[int, int],
    hold: float,
    fmt: str,
    rate: int,
    ch: int,
    *,
    pan: int = 64,
    max_s: float = 4.0,
) -> OneShot:
    """A melodic note: GM ``program`` on channel 1."""
    return OneShot(folder, name, program, note, vel, hold, fmt, rate, ch, pan=pan, max_s=max_s)


def _drum(
    folder: str,
    name: str,
    kit: int,
    note: int,
    vel: tuple[int, int],
    fmt: str,
    rate: int,
    ch: int,
    *,
    max_s: float = 2.0,
) -> OneShot:
    """A percussion hit: drum-kit preset ``kit`` on GM channel 10."""
    return OneShot(
        folder, name, kit, note, vel, DRUM_HOLD_S, fmt, rate, ch, drums=True, max_s=max_s
    )


KICK, SNARE, HAT = "Drums/Kick", "Drums/Snare", "Drums/Hi-hat"
CLAP, TOMS = "Drums/Clap", "Drums/Toms"
BASS, KEYS, STRINGS = "Bass", "Keys", "Strings"
BRASS, SYNTH, VOCALS = "Brass & Winds", "Synth", "Vocals"

# Drum kits (bank 128): 0 Standard, 8 Room, 16 Power, 24 Electronic, 25 TR-808, 32 Jazz, 40 Brush.
# Melodic programs (0-based GM): 0 piano, 4 e-piano, 16 organ, 33/34 finger/pick bass,
# 39 synth bass 2, 40 violin, 42 cello, 48 strings, 52 choir, 56 trumpet, 61 brass section,
# 65 alto sax, 73 flute, 80 square lead, 81 saw lead, 89 warm pad.
SHOTS: tuple[OneShot, ...] = (
    _drum(KICK, "Kick Standard", 0, 36, (105, 122), "wav16", 44100, 1),
    _drum(KICK, "Kick Power", 16, 36, (100, 120), "wav24", 48000, 1, max_s=0.5),
    _drum(KICK, "Kick TR-808", 25, 36, (110, 127), "flac16", 44100, 1, max_s=1.5),
    _drum(KICK, "Kick Room Acoustic", 8, 35, (85, 105), "aif16", 22050, 1),
    _drum(SNARE, "Snare Standard", 0, 38, (100, 120), "wavf", 44100, 1, max_s=0.35),
    _drum(SNARE, "Snare Electronic", 24, 40, (95, 115), "mp3", 44100, 1),
    _drum(SNARE, "Snare Brush", 40, 38, (70, 95), "ogg", 48000, 1),
    _drum(SNARE, "Rimshot Standard", 0, 37, (90, 110), "wav16", 22050, 1, max_s=0.5),
    _drum(HAT, "Hat Closed Standard", 0, 42, (80, 110), "wav24", 44100, 2, max_s=0.35),
    _drum(HAT, "Hat Closed TR-808", 25, 42, (90, 115), "wav16", 48000, 1),
    _drum(HAT, "Hat Pedal Standard", 0, 44, (70, 95), "flac16", 22050, 1),
    _drum(HAT, "Hat Open Standard", 0, 46, (85, 110), "ogg", 44100, 2),
    _drum(HAT, "Hat Open Jazz", 32, 46, (65, 90), "aif24", 44100, 1, max_s=0.5),
    _drum(CLAP, "Clap Standard", 0, 39, (95, 120), "wavf", 48000, 1, max_s=0.5),
    _drum(CLAP, "Clap TR-808", 25, 39, (100, 125), "mp3", 44100, 1),
    _drum(TOMS, "Tom Low Standard", 0, 41, (90, 115), "flac24", 48000, 1, max_s=0.7),
    _drum(TOMS, "Tom Mid Power", 16, 47, (95, 120), "wav16", 44100, 2, max_s=0.5),
    _drum(TOMS, "Tom High Standard", 0, 50, (85, 110), "aif16", 44100, 1, max_s=0.5),
    _shot(BASS, "Fingered Bass", 33, 28, (95, 115), 0.6, "wav24", 22050, 1, max_s=1.0),
    _shot(BASS, "Fingered Bass", 33, 33, (60, 80), 1.0, "flac16", 44100, 1, max_s=1.5),
    _shot(BASS, "Picked Bass", 34, 36, (100, 120), 0.5, "mp3", 48000, 1, max_s=1.5),
    _shot(BASS, "Synth Bass 2", 39, 31, (100, 120), 0.4, "wavf", 22050, 2, pan=44, max_s=0.6),
    _shot(BASS, "Synth Bass 2", 39, 38, (80, 100), 0.7, "ogg", 44100, 1, max_s=1.5),
    _shot(KEYS, "Grand Piano", 0, 60, (90, 110), 1.5, "flac16", 44100, 2, max_s=3.0),
    _shot(KEYS, "Grand Piano", 0, 48, (45, 65), 2.0, "ogg", 48000, 2, max_s=3.5),
    _shot(KEYS, "Rhodes EP", 4, 64, (85, 105), 0.8, "wav24", 22050, 1, max_s=1.2),
    _shot(KEYS, "Rhodes EP", 4, 57, (60, 80), 1.5, "mp3", 44100, 2, max_s=2.5),
    _shot(KEYS, "Drawbar Organ", 16, 60, (100, 110), 0.6, "aif16", 48000, 1, max_s=0.8),
    _shot(KEYS, "Drawbar Organ", 16, 55, (90, 105), 1.5, "flac16", 22050, 2, pan=40, max_s=1.7),
    _shot(STRINGS, "Violin", 40, 69, (80, 100), 1.5, "ogg", 44100, 1, max_s=2.0),
    _shot(STRINGS, "Violin", 40, 76, (95, 115), 0.5, "wav16", 22050, 1, max_s=0.8),
    _shot(STRINGS, "Cello", 42, 48, (85, 105), 1.0, "flac24", 22050, 1, max_s=1.3),
    _shot(STRINGS, "Cello", 42, 43, (60, 80), 2.0, "mp3", 22050, 1, max_s=2.5),
    _shot(STRINGS, "Strings Ensemble", 48, 60, (75, 95), 3.0, "ogg", 48000, 2, pan=80, max_s=3.8),
    _shot(BRASS, "Trumpet", 56, 70, (95, 115), 0.5, "wav24", 22050, 1, max_s=0.8),
    _shot(BRASS, "Brass Section", 61, 53, (100, 120), 1.0, "mp3", 44100, 2, pan=48, max_s=1.6),
    _shot(BRASS, "Flute", 73, 74, (70, 90), 0.8, "aif24", 22050, 1, max_s=1.0),
    _shot(BRASS, "Flute", 73, 81, (85, 105), 0.5, "flac16", 48000, 1, max_s=0.9),
    _shot(BRASS, "Alto Sax", 65, 64, (90, 110), 0.4, "wavf", 22050, 1, max_s=0.6),
    _shot(SYNTH, "Square Lead", 80, 72, (100, 120), 0.3, "wav16", 44100, 1, max_s=0.5),
    _shot(SYNTH, "Square Lead", 80, 67, (80, 100), 0.8, "ogg", 22050, 1, max_s=1.2),
    _shot(SYNTH, "Saw Lead", 81, 69, (100, 120), 0.3, "aif16", 44100, 2, pan=88, max_s=0.45),
    _shot(SYNTH, "Saw Lead", 81, 76, (90, 110), 0.8, "mp3", 48000, 2, pan=40, max_s=1.2),
    _shot(SYNTH, "Warm Pad", 89, 60, (70, 90), 2.5, "flac16", 22050, 2, max_s=3.2),
    _shot(VOCALS, "Choir Aah", 52, 60, (80, 100), 2.0, "ogg", 44100, 2, pan=52, max_s=3.0),
    _shot(VOCALS, "Choir Aah", 52, 67, (70, 90), 0.8, "wav24", 22050, 1, max_s=1.2),
)

# The loop: 4 bars of 4/4 at 120 BPM (8 s), A minor - F - C - G.
LOOP_FOLDER = "Loops"
LOOP_NAME = "Groove 120 BPM Am-F-C-G"
LOOP_FMT, LOOP_RATE, LOOP_CHANNELS = "flac16", 44100, 2
LOOP_BEATS = 16
LOOP_ROOTS = (33, 29, 36, 31)  # A1 F1 C2 G1
LOOP_CHORDS = ((57, 60, 64), (57, 60, 65), (55, 60, 64), (55, 59, 62))  # voicings around C4
LOOP_BASS, LOOP_EP, LOOP_PAD = 33, 4, 89


# --------------------------------------------------------------------------- MIDI writing


def _vlq(value: int) -> bytes:
    """Encode a MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def midi_file(events: Sequence[tuple[int, bytes]], end_tick: int) -> bytes:
    """Build a format-0 Standard MIDI File at 120 BPM from ``(absolute tick, message)`` pairs.

    Events are sorted stably by tick, so callers list note-offs before note-ons that share a
    tick. The end-of-track event is placed at ``end_tick`` (or after the last event).
    """
    header = [
        (0, b"\xff\x51\x03" + TEMPO_US.to_bytes(3, "big")),  # tempo
        (0, b"\xff\x58\x04\x04\x02\x18\x08"),  # 4/4
    ]
    ordered = header + sorted(events, key=lambda e: e[0])
    track = bytearray()
    now = 0
    for tick, message in ordered:
        track += _vlq(tick - now) + message
        now = tick
    track += _vlq(max(end_tick - now, 0)) + b"\xff\x2f\x00"
    head = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
    return head + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def _ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)


def _note(
    channel: int, note: int, velocity: int, start: int, length: int
) -> list[tuple[int, bytes]]:
    return [
        (start, bytes((0x90 | channel, note, velocity))),
        (start + length, bytes((0x80 | channel, note, 0))),
    ]


def one_shot_midi(shot: OneShot, velocity: int) -> bytes:
    """A MIDI file that plays one note of ``shot`` and leaves time for its release."""
    channel = DRUM_CHANNEL if shot.drums else 0
    hold = _ticks(shot.hold_s)
    events = [
        (0, bytes((0xC0 | channel, shot.program))),
        (0, bytes((0xB0 | channel, 10, shot.pan))),
        *_note(channel, shot.note, velocity, 0, hold),
    ]
    return midi_file(events, hold + _ticks(RELEASE_TAIL_S))


def loop_midi(rng: np.random.Generator) -> bytes:
    """Two passes of the 4-bar loop; the second pass is kept, so tails wrap seamlessly."""
    q = TICKS_PER_QUARTER
    e8 = q // 2
    events: list[tuple[int, bytes]] = [
        (0, bytes((0xC0 | DRUM_CHANNEL, 0))),
        (0, bytes((0xC0 | 0, LOOP_BASS))),
        (0, bytes((0xC0 | 1, LOOP_EP))),
        (0, bytes((0xC0 | 2, LOOP_PAD))),
        (0, bytes((0xB0 | 0, 10, 60))),
        (0, bytes((0xB0 | 1, 10, 84))),
        (0, bytes((0xB0 | 2, 10, 44))),
        (0, bytes((0xB0 | 2, 7, 70))),
    ]
    for rep in range(2):
        base = rep * LOOP_BEATS * q
        for bar in range(LOOP_BEATS // 4):
            t0 = base + bar * 4 * q
            # Drums: kick on 1, the "and" of 2 and on 3; snare on 2 and 4; closed hats on 8ths.
            for beat8 in (0, 3, 4):
                events += _note(DRUM_CHANNEL, 36, 115, t0 + beat8 * e8, e8 // 2)
            for beat in (1, 3):
                events += _note(DRUM_CHANNEL, 38, 105, t0 + beat * q, e8 // 2)
            for beat8 in range(8):
                vel = int(rng.integers(70, 96)) if beat8 % 2 == 0 else int(rng.integers(45, 70))
                hat = 46 if (bar == 3 and beat8 == 7) else 42
                events += _note(DRUM_CHANNEL, hat, vel, t0 + beat8 * e8, e8 // 2)
            # Bass: root on 8ths with an octave jump, slightly detached.
            root = LOOP_ROOTS[bar]
            for beat8 in range(8):
                pitch = root + 12 if beat8 in (3, 6) else root
                vel = int(rng.integers(95, 112))
                events += _note(0, pitch, vel, t0 + beat8 * e8, e8 - 40)
            # E-piano stabs on the off-beats of 1 and 3.
            for beat8 in (1, 5):
                for pitch in LOOP_CHORDS[bar]:
                    events += _note(1, pitch, int(rng.integers(70, 88)), t0 + beat8 * e8, e8)
            # Pad: the chord held for the bar.
            for pitch in LOOP_CHORDS[bar]:
                events += _note(2, pitch, 70, t0, 4 * q - 20)
    return midi_file(events, 2 * LOOP_BEATS * q)


# --------------------------------------------------------------------------- rendering


def render(midi: bytes, font: Path, workdir: Path, stem: str) -> np.ndarray:
    """Render ``midi`` with the fluidsynth CLI; returns float64 frames x 2 at RENDER_RATE."""
    mid = workdir / f"{stem}.mid"
    wav = workdir / f"{stem}.wav"
    mid.write_bytes(midi)
    cmd = [
        "fluidsynth",
        "-ni",
        "-q",
        "-F",
        str(wav),
        "-r",
        str(RENDER_RATE),
        "-R",
        "0",
        "-C",
        "0",
        "-O",
        "float",
        "-T",
        "wav",
        str(font),
        str(mid),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not wav.exists():
        raise RuntimeError(f"fluidsynth failed for {stem}: {proc.stderr.strip()}")
    audio, rate = sf.read(wav, dtype="float64", always_2d=True)
    if rate != RENDER_RATE:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz, expected {RENDER_RATE}")
    return audio


def trim(audio: np.ndarray, max_s: float) -> np.ndarray:
    """Cut trailing audio below SILENCE_DB (keeping at least MIN_LEN_S), cap at ``max_s``,
    and fade the end out so the cut never clicks."""
    level = np.abs(audio).max(axis=1)
    peak = float(level.max())
    if peak <= 0.0:
        raise RuntimeError("rendered silence")
    loud = np.flatnonzero(level > peak * 10 ** (SILENCE_DB / 20))
    end = int(loud[-1]) + 1
    end = max(end, round(MIN_LEN_S * RENDER_RATE))
    capped = end > round(max_s * RENDER_RATE)
    end = min(end, round(max_s * RENDER_RATE), len(audio))
    out = audio[:end].copy()
    fade = min(round((CAP_FADE_S if capped else FADE_S) * RENDER_RATE), len(out))
    out[-fade:] *= np.linspace(1.0, 0.0, fade)[:, None]
    return out


def finish(audio: np.ndarray, channels: int, rate: int, peak_db: float) -> np.ndarray:
    """Mix down or keep stereo, scale to ``peak_db`` and resample to ``rate`` with soxr."""
    if channels == 1:
        audio = audio.mean(axis=1, keepdims=True)
    if rate != RENDER_RATE:
        audio = soxr.resample(audio, RENDER_RATE, rate, quality="VHQ")
    peak = float(np.abs(audio).max())
    return audio * (10 ** (peak_db / 20) / peak)


def target_peak_db(velocity: int, fmt: str) -> float:
    """Louder notes keep a louder peak; lossy files keep a little headroom."""
    db = TOP_PEAK_DB - DB_PER_VELOCITY_STEP * (127 - velocity)
    return db - LOSSY_HEADROOM_DB if fmt in LOSSY else db


# --------------------------------------------------------------------------- writing


def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_OGG_CRC = _ogg_crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[((crc >> 24) & 0xFF) ^ byte]
    return crc


def fix_ogg_serial(path: Path, serial: int) -> None:
    """Replace libsndfile's random Ogg stream serial number and recompute each page's CRC."""
    data = bytearray(path.read_bytes())
    pos = 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS":
            raise RuntimeError(f"{path}: bad Ogg page at byte {pos}")
        nsegs = data[pos + 26]
        size = 27 + nsegs + sum(data[pos + 27 : pos + 27 + nsegs])
        struct.pack_into("<I", data, pos + 14, serial)
        struct.pack_into("<I", data, pos + 22, 0)
        struct.pack_into("<I", data, pos + 22, _ogg_crc(bytes(data[pos : pos + size])))
        pos += size
    path.write_bytes(bytes(data))


def fix_peak_timestamp(path: Path) -> None:
    """Zero the time stamp libsndfile writes into the PEAK chunk of float WAV/AIFF files."""
    data = bytearray(path.read_bytes())
    if data[:4] == b"RIFF":
        endian, pos = "<", 12
    elif data[:4] == b"FORM":
        endian, pos = ">", 12
    else:
        return
    while pos + 8 <= len(data):
        chunk_id = bytes(data[pos : pos + 4])
        (size,) = struct.unpack_from(endian + "I", data, pos + 4)
        if chunk_id == b"PEAK":
            struct.pack_into(endian + "I", data, pos + 12, 0)  # after the version field
            path.write_bytes(bytes(data))
            return
        pos += 8 + size + (size & 1)


def write(path: Path, audio: np.ndarray, rate: int, fmt: str, serial: int) -> None:
    """Write ``audio`` in the named format, then make the bytes reproducible."""
    container, subtype, _ = FORMATS[fmt]
    path.parent.mkdir(parents=True, exist_ok=True)
    data = audio.astype(np.float32)
    sf.write(path, data, rate, format=container, subtype=subtype)
    if container == "OGG":
        fix_ogg_serial(path, serial)
    elif subtype == "FLOAT":
        fix_peak_timestamp(path)


def note_name(note: int) -> str:
    """MIDI note number to a name with C4 = 60."""
    return f"{NOTE_NAMES[note % 12]}{note // 12 - 1}"


def shot_filename(shot: OneShot, velocity: int) -> str:
    suffix = FORMATS[shot.fmt][2]
    if shot.drums:
        return f"{shot.name} v{velocity}{suffix}"
    return f"{shot.name} {note_name(shot.note)} v{velocity}{suffix}"


# --------------------------------------------------------------------------- README


def fluidsynth_version() -> str:
    proc = subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True, check=False)
    first = proc.stdout.splitlines()[0] if proc.stdout else "unknown"
    return first.replace("FluidSynth runtime version", "").strip() or first


README_TEMPLATE = """\
# Sampletree demo library

{count} short audio files ({size_kib} KiB) for trying out Sampletree: drums, bass, keys,
strings, brass and winds, synths, vocals and one 8-second loop. Formats are deliberately mixed
(WAV 16/24-bit and 32-bit float, AIFF 16/24-bit, FLAC, OGG Vorbis, MP3; 22050/44100/48000 Hz;
mono and stereo) so the scanner sees something like a real library.

## Source

Every sound was rendered by `scripts/make_demo.py` from the **FluidR3_GM** General MIDI
SoundFont (`FluidR3_GM.sf2`, Debian package `fluid-soundfont-gm` 3.1) with FluidSynth
{fluidsynth} (`fluidsynth -ni -q -F out.wav -r 44100 -R 0 -C 0 -O float -T wav FONT note.mid`:
reverb and chorus off, 32-bit float), then trimmed, level-scaled, resampled with soxr and
written with libsndfile {libsndfile}. No other audio is included.

## License

The FluidR3 SoundFont is **Copyright © 2000-2002, 2008 Frank Wen** and is released under the
**MIT license** ("I hereby release Fluid under the MIT license, as described in COPYING." —
FluidR3 README, quoted in Debian's `/usr/share/doc/fluid-soundfont-gm/copyright`, which also
credits Toby Smithe, © 2008, for the Debian packaging, GPL-2+, no part of these files). These
renderings are derived from the font and are distributed under the same license:

> Permission is hereby granted, free of charge, to any person obtaining a copy of this software
> and associated documentation files (the "Software"), to deal in the Software without
> restriction, including without limitation the rights to use, copy, modify, merge, publish,
> distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
> Software is furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or
> substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
> BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
> NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
> DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
> OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

## Regenerating

From the repository root, with `fluidsynth` and `fluid-soundfont-gm` installed
(`apt-get install fluidsynth fluid-soundfont-gm`) and numpy, soundfile and soxr importable:

```
python3 scripts/make_demo.py --out resources/demo \\
    --font /usr/share/sounds/sf2/FluidR3_GM.sf2 --seed {seed}
```

The output is deterministic: the same seed, FluidSynth, SoundFont and libsndfile reproduce the
files byte for byte. The script deletes the audio files already in the output folder first.

## Files

| file | format | rate | ch | seconds |
| --- | --- | ---: | ---: | ---: |
{table}
"""


def write_readme(out: Path, seed: int) -> None:
    rows = []
    total = 0
    files = sorted(p for p in out.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    for path in files:
        info = sf.info(path)
        total += path.stat().st_size
        rel = path.relative_to(out).as_posix()
        rows.append(
            f"| {rel} | {info.format} {info.subtype} | {info.samplerate} | "
            f"{info.channels} | {info.frames / info.samplerate:.2f} |"
        )
    text = README_TEMPLATE.format(
        count=len(files),
        size_kib=round(total / 1024),
        fluidsynth=fluidsynth_version(),
        libsndfile=sf.__libsndfile_version__,
        seed=seed,
        table="\n".join(rows),
    )
    (out / "README.md").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- main


README_MARKER = "# Sampletree demo library"


def clear_audio(out: Path) -> None:
    """Remove audio files (and then-empty folders) left by an earlier run.

    Refuses to touch a non-empty folder that is not a demo library written by this script, so
    a mistyped ``--out`` cannot delete someone's samples.
    """
    if not out.exists():
        return
    readme = out / "README.md"
    ours = readme.is_file() and readme.read_text(encoding="utf-8").startswith(README_MARKER)
    if any(out.iterdir()) and not ours:
        raise SystemExit(f"{out} is not empty and holds no demo README.md; not overwriting it")
    for path in sorted(out.rglob("*"), reverse=True):
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def check_formats() -> None:
    available = sf.available_formats()
    missing = sorted({c for c, _, _ in FORMATS.values() if c not in available})
    if missing:
        raise SystemExit(f"libsndfile {sf.__libsndfile_version__} cannot write: {missing}")


def build(out: Path, font: Path, seed: int) -> list[Path]:
    """Render every file into ``out``; returns the written paths."""
    rng = np.random.default_rng(seed)
    velocities = [int(rng.integers(s.velocity[0], s.velocity[1] + 1)) for s in SHOTS]
    loop = loop_midi(rng)
    clear_audio(out)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="sampletree-demo-") as tmp:
        workdir = Path(tmp)

        def job(index: int) -> np.ndarray:
            if index == len(SHOTS):
                return render(loop, font, workdir, "loop")
            return render(
                one_shot_midi(SHOTS[index], velocities[index]), font, workdir, f"shot{index:02d}"
            )

        with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
            renders = list(pool.map(job, range(len(SHOTS) + 1)))

    for index, (shot, velocity) in enumerate(zip(SHOTS, velocities, strict=True)):
        audio = trim(renders[index], shot.max_s)
        audio = finish(audio, shot.channels, shot.rate, target_peak_db(velocity, shot.fmt))
        path = out / shot.folder / shot_filename(shot, velocity)
        write(path, audio, shot.rate, shot.fmt, serial=0x5A4D0000 + index)
        written.append(path)

    # The loop: keep the second pass (samples 8 s .. 16 s) so the first pass's tails wrap in.
    length = LOOP_BEATS * TEMPO_US * RENDER_RATE // 1_000_000
    audio = renders[-1][length : 2 * length]
    if len(audio) < length:
        audio = np.pad(audio, ((0, length - len(audio)), (0, 0)))
    audio = finish(audio, LOOP_CHANNELS, LOOP_RATE, TOP_PEAK_DB)
    path = out / LOOP_FOLDER / (LOOP_NAME + FORMATS[LOOP_FMT][2])
    write(path, audio, LOOP_RATE, LOOP_FMT, serial=0x5A4D00FF)
    written.append(path)

    write_readme(out, seed)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--font",
        type=Path,
        default=DEFAULT_FONT,
        help=f"General MIDI SoundFont (default: {DEFAULT_FONT})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed for velocities and loop humanizing (default: {DEFAULT_SEED})",
    )
    args = parser.parse_args(argv)

    if shutil.which("fluidsynth") is None:
        parser.error("the fluidsynth program is not on PATH (apt-get install fluidsynth)")
    if not args.font.is_file():
        parser.error(f"SoundFont not found: {args.font} (apt-get install fluid-soundfont-gm)")
    check_formats()

    written = build(args.out, args.font, args.seed)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files, {total / 1024:.0f} KiB, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
