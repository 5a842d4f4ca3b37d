"""The training corpus: General MIDI SoundFonts rendered note by note, real drum kits, and
a producer's library (synths, FX, drum loops, music loops, vocals).

Everything comes from Debian packages (nothing is downloaded): fluidsynth renders every
GM program of each SoundFont over the instrument's playable range at several velocities
and note lengths, plus the GM percussion pieces; Hydrogen's drum kits (and the AVL kits)
add real recordings of drum pieces. Clips are 1.5 s from the note's onset, 16 kHz mono,
peak-normalised, stored as one int16 array ``clips.npy`` (memory-mapped when training)
and an index ``clips.jsonl`` (class, source, independence group, pitch, velocity, …).

Version 2 of the taxonomy adds classes from further sources, each its own independence
group: one-shots and FX from a procedural synth (models/synth.py), drum loops sequenced
from the kits' hits and phrases played by the GM programs (models/phrases.py), and speech
and vocal chops spoken by espeak-ng (models/vocals.py). Loops and phrases are stored as a
1.5 s window of the loop, starting on a beat.

Rendering is at 44.1 kHz, downsampled with soxr: rendering straight at 16 kHz aliases.
Seeded and reproducible: the same packages and seed give the same corpus.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from models.taxonomy import Taxonomy

SR = 16_000
RENDER_SR = 44_100
CLIP_S = 1.5
CLIP = round(SR * CLIP_S)
SLOT_S = 2.6  # note (≤ 1 s) + release before the next note starts
SILENCE_DBFS = -60.0


@dataclass(frozen=True)
class Font:
    name: str
    path: str
    group: str  # fonts of one origin share a group: never support and query of one episode
    melodic: bool = True
    #: drum-kit-only fonts: the families they really hold (other notes are empty or other
    #: sounds); None = every GM percussion piece
    drum_families: tuple[str, ...] | None = None


#: Debian's SoundFonts. MuseScore General is a fork of FluidR3Mono (FluidR3 in mono): one group.
FONTS = [
    Font("FluidR3", "/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluidr3"),
    Font("MuseScore", "/usr/share/sounds/sf3/MuseScore_General.sf3", "fluidr3"),
    Font("TimGM6mb", "/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb"),
    # AVL drum kits (percussion only); samples by the author of three Hydrogen kits.
    Font("AVL Black Pearl", "/usr/lib/lv2/avldrums.lv2/Black_Pearl_4_LV2.sf2", "macarthur",
         melodic=False, drum_families=("Drum Kit", "Toms", "Hi-Hats", "Cymbals")),
    Font("AVL Red Zeppelin", "/usr/lib/lv2/avldrums.lv2/Red_Zeppelin_4_LV2.sf2", "macarthur",
         melodic=False, drum_families=("Drum Kit", "Toms", "Hi-Hats", "Cymbals")),
]
PACKAGES = {
    "fluidsynth": "fluidsynth",
    "FluidR3": "fluid-soundfont-gm",
    "MuseScore": "musescore-general-soundfont",
    "TimGM6mb": "timgm6mb-soundfont",
    "AVL Black Pearl": "avldrums.lv2-soundfont",
    "AVL Red Zeppelin": "avldrums.lv2-soundfont",
    "hydrogen": "hydrogen-drumkits",
    "espeak-ng": "espeak-ng",
}
#: the sources of taxonomy version 2's classes (their ``source`` in models/taxonomy.json)
EXTRA_SOURCES = ("synth", "fx", "drum_loop", "phrase", "vocal")
#: real recordings from Debian packages (models/realsources.py; taxonomy version 3): opt-in,
#: ``--sources all`` builds them with the rest
REAL_SOURCES = ("real_speech", "real_fx")
ALL_SOURCES = EXTRA_SOURCES + REAL_SOURCES
HYDROGEN_DIRS = ["/usr/share/hydrogen/data/drumkits"]
#: Kit authors that are one origin (independence groups), by a word of the author field.
AUTHOR_GROUPS = {"macarthur": "macarthur", "emillo": "emillo", "artemio": "artemiolabs"}

#: Hydrogen instrument names → corpus classes; first match wins, unknown names are skipped.
HYDROGEN_RULES: list[tuple[tuple[str, ...], str]] = [
    (("kick", "bassdrum", "bass drum"), "Kick"),
    (("side stick", "stick", "rim click"), "Side Stick"),
    (("snare",), "Snare"),
    (("tom",), "Tom"),
    (("open hh", "hat open", "hat op", "hi hat opened", "hat semi-open", "hi-hat open",
      "1 op", "hh open"), "Open Hi-Hat"),
    (("closed hh", "hat closed", "hh closed", "hi-hat closed", "pedal hh", "hat pedal",
      "hi-hat pedal", "1 cl", "2 cl", "3 cl", "1 pd", "closed"), "Closed Hi-Hat"),
    (("splash",), "Splash Cymbal"),
    (("china",), "China Cymbal"),
    (("ride bell", "ride-cup", "ride cup", "paiste bell"), "Ride Bell"),
    (("ride",), "Ride Cymbal"),
    (("crash",), "Crash Cymbal"),
    (("clap",), "Hand Clap"),
    (("cowbell",), "Cowbell"),
    (("tambourine",), "Tambourine"),
    (("maraca", "shaker"), "Shaker"),
    (("bongo",), "Bongo"),
    (("conga",), "Conga"),
    (("clave",), "Claves"),
    (("woodblock", "wood block"), "Wood Block"),
    (("whistle",), "Samba Whistle"),
]


@dataclass
class CorpusOptions:
    out: Path
    seed: int = 0
    pitches: int = 8
    velocities: tuple[int, ...] = (40, 80, 120)
    lengths: tuple[float, ...] = (0.25, 1.0)
    drum_velocities: tuple[int, ...] = (30, 55, 80, 100, 115, 127)
    fonts: list[Font] = field(default_factory=lambda: list(FONTS))
    hydrogen: bool = True
    programs: list[int] | None = None  # None: all 128
    drums: bool = True
    max_per_class: int = 400
    #: which of EXTRA_SOURCES to build, and how many clips a class of theirs
    sources: tuple[str, ...] = EXTRA_SOURCES
    per_class: int = 400
    extra_classes: list[str] | None = None  # None: every class of those sources
    #: the real sources' cap: at most this many clips a class from real recordings
    real_per_class: int = 800
    #: folders holding Debian packages unpacked with ``dpkg-deb -x`` (``/`` is always searched)
    pkgroots: tuple[str, ...] = ()
    jobs: int = max(1, min(4, os.cpu_count() or 1))


@dataclass
class Clip:
    cls: str
    source: str  # font or kit name
    group: str
    kind: str  # "note" | "drum" | "recording" (a drum kit's) | "real" (models/realsources.py)
    pitch: int = -1
    velocity: int = -1
    length_s: float = 0.0  # a note's length; a loop's or phrase's whole length
    file: str = ""
    bpm: float = 0.0  # loops and phrases
    detail: str = ""  # e.g. a phrase's GM program, a loop's kits, a vocal's voice


class CorpusError(Exception):
    """The corpus cannot be built or read; the message says why and how to fix it."""


def check_requirements(opt: CorpusOptions) -> list[str]:
    """What is missing to build the corpus, as apt packages to install."""
    missing: list[str] = []
    if shutil.which("fluidsynth") is None and (opt.fonts or "phrase" in opt.sources):
        missing.append(PACKAGES["fluidsynth"])
    for font in opt.fonts:
        if not Path(font.path).is_file():
            missing.append(PACKAGES.get(font.name, font.name))
    if opt.hydrogen and not any(Path(d).is_dir() for d in HYDROGEN_DIRS):
        missing.append(PACKAGES["hydrogen"])
    if "vocal" in opt.sources and shutil.which("espeak-ng") is None:
        missing.append(PACKAGES["espeak-ng"])
    if any(s in REAL_SOURCES for s in opt.sources):
        from models.realsources import missing_packages

        missing.extend(missing_packages(opt))
    return sorted(set(missing))


# -- MIDI ------------------------------------------------------------------------------

def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_file(events: list[tuple[float, bytes]]) -> bytes:
    """A format-0 MIDI file; ``events`` are (seconds, message). 1 tick = 1 ms."""
    track = bytearray()
    track += _varlen(0) + b"\xff\x51\x03" + (1_000_000).to_bytes(3, "big")  # 1 s a quarter
    last = 0
    for t, msg in sorted(events, key=lambda e: e[0]):
        tick = round(t * 1000)
        track += _varlen(tick - last) + msg
        last = tick
    track += _varlen(0) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1000)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


@dataclass
class _Note:
    clip: Clip
    channel: int
    program: int
    note: int


def _plan_notes(taxonomy: Taxonomy, font: Font, opt: CorpusOptions) -> list[_Note]:
    rng = random.Random(f"{opt.seed}:{font.name}")
    notes: list[_Note] = []
    for name, info in taxonomy.classes.items():
        if "program" in info and font.melodic:
            program = int(info["program"])
            if opt.programs is not None and program not in opt.programs:
                continue
            lo, hi = info["range"]
            n = opt.pitches
            for i in range(n):
                # evenly over the range, jittered a little so fonts differ in pitch too
                centre = lo + (hi - lo) * (i + 0.5) / n
                pitch = int(np.clip(round(centre + rng.uniform(-1.5, 1.5)), lo, hi))
                for vel in opt.velocities:
                    for length in opt.lengths:
                        notes.append(_Note(Clip(name, font.name, font.group, "note", pitch, vel,
                                                length), 0, program, pitch))
        elif "drum_notes" in info and opt.drums and (
                font.drum_families is None or info["family"] in font.drum_families):
            # GM fonts keep their kit on the percussion channel (10); the AVL kit fonts
            # hold it as an ordinary preset (bank 0, program 0) on channel 1.
            channel = 9 if font.melodic else 0
            for pitch in info["drum_notes"]:
                for vel in opt.drum_velocities:
                    notes.append(_Note(Clip(name, font.name, font.group, "drum", pitch, vel,
                                            0.1), channel, 0, pitch))
    return notes


def _render_chunk(font: Font, notes: list[_Note], workdir: Path) -> np.ndarray:
    """Render ``notes`` one per slot with fluidsynth → clips [len(notes) x CLIP] float32."""
    events: list[tuple[float, bytes]] = []
    program = {0: -1}
    for i, n in enumerate(notes):
        t = 0.2 + i * SLOT_S
        if n.channel == 0 and program[0] != n.program:
            events.append((t - 0.1, bytes([0xC0, n.program])))
            program[0] = n.program
        events.append((t, bytes([0x90 | n.channel, n.note, n.clip.velocity])))
        events.append((t + n.clip.length_s, bytes([0x80 | n.channel, n.note, 0])))
    events.append((0.2 + len(notes) * SLOT_S, bytes([0xB0, 123, 0])))  # all notes off
    out = np.zeros((len(notes), CLIP), np.float32)
    with rendered(events, font.path, workdir, gain=0.6) as f:
        sr = f.samplerate
        for i in range(len(notes)):
            start = round((0.2 + i * SLOT_S) * sr)
            f.seek(min(start, f.frames))
            block = f.read(round(CLIP_S * sr) + 64, dtype="float32", always_2d=True)
            if not len(block):
                continue
            y = soxr.resample(block.mean(axis=1), sr, SR, quality="HQ")[:CLIP]
            out[i, : len(y)] = y
    return out


@contextmanager
def rendered(events: list[tuple[float, bytes]], font_path: str, workdir: Path, *,
             gain: float) -> Iterator[sf.SoundFile]:
    """MIDI ``events`` rendered by fluidsynth with ``font_path`` at RENDER_SR, opened for
    reading; the MIDI and WAV files in ``workdir`` are gone afterwards."""
    fd, mid_name = tempfile.mkstemp(suffix=".mid", dir=workdir)
    os.close(fd)
    mid, wav = Path(mid_name), Path(mid_name).with_suffix(".wav")
    try:
        mid.write_bytes(midi_file(events))
        cmd = ["fluidsynth", "-ni", "-q", "-F", str(wav), "-T", "wav", "-O", "float",
               "-r", str(RENDER_SR), "-R", "0", "-C", "0", "-g", str(gain), font_path,
               str(mid)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0 or not wav.is_file():
            raise CorpusError(f"fluidsynth failed on {font_path}: "
                              f"{(proc.stderr or proc.stdout).strip()[:300]}")
        with sf.SoundFile(str(wav)) as f:
            yield f
    finally:
        mid.unlink(missing_ok=True)
        wav.unlink(missing_ok=True)


def _hydrogen_clips(rng: random.Random) -> Iterable[tuple[Clip, Path]]:
    from models.realset import HYDROGEN_KITS_RESERVED

    for base in HYDROGEN_DIRS:
        for kit_xml in sorted(Path(base).glob("*/drumkit.xml")):
            kit = kit_xml.parent
            if kit.name in HYDROGEN_KITS_RESERVED:
                continue  # the real-sample validation set's kits: never trained on
            try:
                root = ET.parse(kit_xml).getroot()
            except ET.ParseError:
                continue
            ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
            author = (root.findtext(f"{ns}author") or "").lower()
            group = next((g for k, g in AUTHOR_GROUPS.items() if k in author),
                         f"kit:{kit.name}")
            for inst in root.iter(f"{ns}instrument"):
                name = (inst.findtext(f"{ns}name") or "").strip().lower()
                cls = next((c for keys, c in HYDROGEN_RULES if any(k in name for k in keys)),
                           None)
                if cls is None:
                    continue
                files = [el.text.strip() for el in inst.iter(f"{ns}filename") if el.text]
                for fname in dict.fromkeys(files):
                    path = kit / fname
                    if path.is_file():
                        yield Clip(cls, kit.name, group, "recording", file=str(path)), path


def _load_recording(path: Path) -> np.ndarray | None:
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            block = f.read(round(CLIP_S * sr) + 64, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    if not len(block):
        return None
    y = block.mean(axis=1)
    if sr != SR:
        y = soxr.resample(y, sr, SR, quality="HQ")
    out = np.zeros(CLIP, np.float32)
    out[: min(CLIP, len(y))] = y[:CLIP]
    return out


def _normalise(clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peak-normalise to −1 dBFS; return int16 clips and which ones hold any sound."""
    peak = np.abs(clips).max(axis=1)
    audible = peak > 10 ** (SILENCE_DBFS / 20)
    gain = np.where(audible, 10 ** (-1 / 20) / np.maximum(peak, 1e-9), 0.0)
    return np.round(clips * gain[:, None] * 32767).astype(np.int16), audible


def build(opt: CorpusOptions, taxonomy: Taxonomy | None = None,
          log: Callable[[str], None] = print) -> dict:
    """Build the corpus into ``opt.out``; returns the report (also written as report.json)."""
    unknown = [s for s in opt.sources if s not in ALL_SOURCES]
    if unknown:
        raise ValueError(f"unknown corpus source {unknown[0]!r}")
    missing = check_requirements(opt)
    if missing:
        from models.realsources import PACKAGES as REAL_PACKAGES

        unpack = (" (or unpack their .debs with dpkg-deb -x into a folder given as --pkgroot)"
                  if set(missing) & set(REAL_PACKAGES) else "")
        raise CorpusError("the corpus needs Debian packages that are not installed: "
                          f"apt-get install {' '.join(missing)}{unpack}")
    taxonomy = taxonomy or Taxonomy.load()
    out = Path(opt.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rng = random.Random(opt.seed)

    jobs: list[tuple[Font, list[_Note]]] = []
    for font in opt.fonts:
        notes = _plan_notes(taxonomy, font, opt)
        per_chunk = 240  # ~10 min of audio a fluidsynth run; .sf3 fonts load once per chunk
        for i in range(0, len(notes), per_chunk):
            jobs.append((font, notes[i:i + per_chunk]))
    log(f"rendering {sum(len(n) for _, n in jobs)} notes from {len(opt.fonts)} fonts "
        f"in {len(jobs)} fluidsynth runs ({opt.jobs} at a time)")

    clips: list[np.ndarray] = []
    meta: list[Clip] = []
    dropped = Counter()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sampletree-render-") as tmp, \
            ThreadPoolExecutor(opt.jobs) as pool:
        results = pool.map(lambda j: _render_chunk(j[0], j[1], Path(tmp)), jobs)
        for k, ((_font, notes), audio) in enumerate(zip(jobs, results, strict=True)):
            pcm, audible = _normalise(audio)
            for n, row, ok in zip(notes, pcm, audible, strict=True):
                if ok:
                    clips.append(row)
                    meta.append(n.clip)
                else:
                    dropped[n.clip.cls] += 1
            if (k + 1) % 8 == 0 or k + 1 == len(jobs):
                log(f"  {k + 1}/{len(jobs)} runs, {len(meta)} clips, "
                    f"{time.monotonic() - started:.0f} s")
    if opt.hydrogen:
        n_rec = 0
        for clip, path in _hydrogen_clips(rng):
            if clip.cls not in taxonomy.classes:
                continue
            audio = _load_recording(path)
            if audio is None:
                dropped[clip.cls] += 1
                continue
            pcm, audible = _normalise(audio[None])
            if audible[0]:
                clips.append(pcm[0])
                meta.append(clip)
                n_rec += 1
        log(f"  {n_rec} drum recordings from Hydrogen kits")
    timings["fonts+kits"] = round(time.monotonic() - started, 1)

    real_sources = [s for s in opt.sources if s in REAL_SOURCES]
    if [s for s in opt.sources if s not in REAL_SOURCES]:
        from models.sources import extra_clips

        for clip, audio, phase in extra_clips(opt, taxonomy, clips, meta, log):
            if audio is None:  # a source finished: its time
                timings[phase] = round(time.monotonic() - started - sum(timings.values()), 1)
                continue
            pcm, audible = _normalise(audio[None])
            if audible[0]:
                clips.append(pcm[0])
                meta.append(clip)
            else:
                dropped[clip.cls] += 1

    # Balance: at most max_per_class clips a class (seeded choice, groups kept mixed).
    by_class: dict[str, list[int]] = {}
    for i, c in enumerate(meta):
        by_class.setdefault(c.cls, []).append(i)
    keep: list[int] = []
    for cls in sorted(by_class):
        idx = by_class[cls]
        if len(idx) > opt.max_per_class:
            idx = sorted(rng.sample(idx, opt.max_per_class))
        keep.extend(idx)
    rows = [clips[i] for i in keep]
    kept = [meta[i] for i in keep]
    del clips, meta
    # Real recordings (corpus v3) come after everything else, with their own cap a class
    # (models/realsources.py): the rows before them are the version-2 corpus, unchanged.
    real_stats: dict = {}
    if real_sources:
        from models.realsources import real_clips

        t0 = time.monotonic()
        for clip, audio in real_clips(opt, taxonomy, real_sources, log, real_stats):
            pcm, audible = _normalise(audio[None])
            if audible[0]:
                rows.append(pcm[0])
                kept.append(clip)
            else:
                dropped[clip.cls] += 1
        timings["+".join(real_sources)] = round(time.monotonic() - t0, 1)
    array = np.stack(rows) if rows else np.zeros((0, CLIP), np.int16)
    del rows
    tmp_npy = out / "clips.npy.part"
    with tmp_npy.open("wb") as fh:
        np.save(fh, array)
    os.replace(tmp_npy, out / "clips.npy")
    with (out / "clips.jsonl.part").open("w", encoding="utf-8") as fh:
        for c in kept:
            fh.write(json.dumps(asdict(c)) + "\n")
    os.replace(out / "clips.jsonl.part", out / "clips.jsonl")

    counts = Counter(c.cls for c in kept)
    groups: dict[str, Counter] = {}
    for c in kept:
        groups.setdefault(c.cls, Counter())[c.group] += 1
    report = {
        "seed": opt.seed,
        "clips": len(kept),
        "hours": round(len(kept) * CLIP_S / 3600, 3),
        "seconds": round(time.monotonic() - started, 1),
        "seconds_by_source": timings,
        "sources": list(opt.sources),
        "fonts": [asdict(f) for f in opt.fonts],
        "classes": {cls: {"clips": counts[cls], "hours": round(counts[cls] * CLIP_S / 3600, 4),
                          "split": taxonomy.split_of(cls), "groups": dict(groups[cls])}
                    for cls in sorted(counts)},
        "missing_classes": sorted(set(taxonomy.classes) - set(counts)),
        "taxonomy_version": taxonomy.version,
        "silent_dropped": dict(dropped),
    }
    if real_sources:
        from models.realsources import summary

        report["real_sources"] = summary(kept, real_stats)
        report["pkgroots"] = list(opt.pkgroots)
        report["real_per_class"] = opt.real_per_class
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    log(f"corpus: {len(kept)} clips, {report['hours']:.2f} h, {len(counts)} classes "
        f"in {report['seconds']:.0f} s → {out}")
    return report


def read_clips(root: Path, record: type, what: str, missing: str) -> tuple[np.ndarray, list]:
    """``clips.npy`` (memory-mapped) and the ``record`` of each line of ``clips.jsonl`` in
    ``root``; CorpusError(``missing``) when they are not there, and one saying the ``what``
    is damaged when they cannot be read or do not agree."""
    try:
        audio = np.load(root / "clips.npy", mmap_mode="r")
        with (root / "clips.jsonl").open(encoding="utf-8") as fh:
            meta = [record(**json.loads(line)) for line in fh if line.strip()]
    except FileNotFoundError:
        raise CorpusError(missing) from None
    except (ValueError, TypeError, OSError) as exc:
        raise CorpusError(f"the {what} in {root} is damaged ({exc}): build it again") from None
    if len(meta) != len(audio):
        raise CorpusError(f"the {what} in {root} is damaged (index and audio disagree): "
                          "build it again")
    return audio, meta


@dataclass
class Corpus:
    """A built corpus: ``audio[i]`` (int16, CLIP samples) with ``meta[i]``."""

    root: Path
    audio: np.ndarray
    meta: list[Clip]

    @classmethod
    def open(cls, root: str | Path) -> Corpus:
        root = Path(root)
        audio, meta = read_clips(root, Clip, "corpus", f"no corpus in {root}: run `sampletree "
                                 f"corpus build --out {root}` first")
        return cls(root, audio, meta)

    def by_class(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, c in enumerate(self.meta):
            out.setdefault(c.cls, []).append(i)
        return out
