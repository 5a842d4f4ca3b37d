"""What every sample browser shows: loop or one-shot, tempo, key, root note, loudness.

Computed in the scan's decode workers from the audio segment 0 already decoded (16 kHz
mono, the file's first 30 s), the file's header, its ``acid``/``smpl`` chunks and its
name; peak and loudness come from the file's own samples as they are read. numpy only
(plus scipy.fft); no torch, no Qt, no library.

Each value says where it came from: ``tag`` (the file's chunks), ``name`` (its file
name), or ``audio`` (estimated here). Stated facts win over estimates. Estimates are made
only where they mean something: a tempo for loops, a key for tonal loops, a root note for
tonal one-shots; below a confidence threshold the value stays None ("—").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from core.analysis.chunks import ChunkFacts, read_chunks
from core.analysis.keys import note_name
from core.analysis.names import NameFacts, parse_name

if TYPE_CHECKING:
    from core.analysis.level import LevelMeter, SplitLevelMeter

#: Bump when an estimate changes: rows of an older version are redone by the next scan.
ANALYSIS_VERSION = 9

__all__ = ["ANALYSIS_VERSION", "Analysis", "analyse", "analyse_file"]


@dataclass
class Analysis:
    kind: str | None = None  # "loop" | "oneshot"
    kind_confidence: float | None = None
    kind_source: str | None = None  # "tag" | "name" | "audio"
    bpm: float | None = None
    bpm_alt: float | None = None  # the half- or double-time reading
    bpm_confidence: float | None = None
    bpm_source: str | None = None
    bars: float | None = None
    key: str | None = None  # "Am", "F#"
    key_confidence: float | None = None
    key_source: str | None = None
    root_midi: int | None = None
    root_confidence: float | None = None
    root_source: str | None = None
    peak_db: float | None = None
    lufs: float | None = None
    version: int = ANALYSIS_VERSION

    @property
    def root_note(self) -> str | None:
        return None if self.root_midi is None else note_name(self.root_midi)

    def withhold_audio(self) -> None:
        """Unsay what the audio said (a damaged float file, its NaN and infinite samples
        read as silence and full scale: a "root note" of that is noise dressed up as a
        fact); what a tag or the name says stays, and so do the levels."""
        if self.kind_source == "audio":
            self.kind = self.kind_confidence = self.kind_source = None
        if self.bpm_source == "audio":
            self.bpm = self.bpm_alt = self.bpm_confidence = self.bpm_source = None
            self.bars = None
        if self.key_source == "audio":
            self.key = self.key_confidence = self.key_source = None
        if self.root_source == "audio":
            self.root_midi = self.root_confidence = self.root_source = None

    def as_row(self) -> dict[str, Any]:
        # every field is a plain value: a shallow copy is asdict's result, 10x cheaper
        return dict(self.__dict__)


class _LazyOnsets:
    """A file's onsets (core.analysis.rhythm.onsets), computed when first read: a one-shot
    under a second never reads them (its length decides), nor does a file whose chunks or
    name say what it is (a third of the decode worker's analysis time went to them)."""

    def __init__(self, y: np.ndarray, sr: int) -> None:
        self._args: tuple[np.ndarray, int] = (y, sr)
        self._done: Any = None

    def __getattr__(self, name: str) -> Any:  # only for what the instance lacks
        if self._done is None:
            from core.analysis.rhythm import onsets

            self._done = onsets(*self._args)
        return getattr(self._done, name)


def analyse(y: np.ndarray, sr: int, duration_s: float, *, name: str = "",
            chunks: ChunkFacts | None = None,
            meter: LevelMeter | SplitLevelMeter | None = None) -> Analysis:
    """Analyse ``y`` (mono float at ``sr``: the file's first part or all of it)."""
    from core.analysis.rhythm import Onsets, later_onsets, loop_or_oneshot, starts_quiet, tempo
    from core.analysis.tonal import (
        PitchGuess,
        estimate_key,
        one_clear_note,
        one_held_note,
        oneshot_tonal,
        root_note,
    )

    chunks = chunks or ChunkFacts()
    facts: NameFacts = parse_name(name) if name else NameFacts()
    out = Analysis()
    if meter is not None:
        out.peak_db, out.lufs = meter.peak_db, meter.lufs
    y = np.asarray(y, dtype=np.float32)
    if not np.isfinite(y).all():  # (nan_to_num copied every file's signal; the scan's is clean)
        y = np.nan_to_num(y)
    whole_file = len(y) / sr >= duration_s - 0.05
    silent = not len(y) or max(float(y.max()), -float(y.min())) < 1e-5
    o = None if silent else cast(Onsets, _LazyOnsets(y, sr))
    pitch: PitchGuess | None = None

    # loop or one-shot
    if chunks.oneshot is not None:
        out.kind, out.kind_confidence, out.kind_source = (
            "oneshot" if chunks.oneshot else "loop"), 1.0, "tag"
    elif facts.kind is not None:
        out.kind, out.kind_confidence, out.kind_source = facts.kind, 1.0, "name"
    elif facts.root_midi is not None and facts.bpm is None and chunks.bpm is None:
        # a name that gives one note with its octave and no tempo ("Piano.ff.C5",
        # "A0v10") is a multisampled note: a one-shot however long it rings (a long
        # piano note's decay read as a loop on the real-sample set)
        out.kind, out.kind_confidence, out.kind_source = "oneshot", 0.9, "name"
    elif o is not None:
        guess = loop_or_oneshot(o, duration_s)
        out.kind, out.kind_confidence, out.kind_source = guess.kind, guess.confidence, "audio"
        alone = guess.held or (guess.kind == "loop" and later_onsets(o) == 0)
        quiet = alone and starts_quiet(y, sr)
        if guess.kind == "loop" and quiet:
            # one attack and nothing after it: a held single note (an organ, brass or pad
            # note cut while it sounds) is a one-shot whatever its length; a held chord
            # (one attack too) stays a loop, and so does an excerpt cut from music (which
            # starts at full level, where a sample starts from silence)
            pitch = root_note(y, sr)
            if one_held_note(y, sr, pitch):
                out.kind, out.kind_confidence = "oneshot", 0.8
        elif guess.kind == "loop" and alone:
            # no onset after the start and no attack from silence (a note whose attack is
            # cut, a tone or a tremolo note starting at full level): a loop only if it is
            # not one clear pitch throughout; one note, however it wavers, is a one-shot
            # (an excerpt of music or a held chord fails the stricter one-note test)
            pitch = root_note(y, sr)
            if one_clear_note(y, sr, pitch):
                out.kind, out.kind_confidence = "oneshot", 0.7
        elif guess.held and not quiet:
            # one held event under HELD_MAX_S that starts at full level: a held chord (a
            # virtual pitch below its notes) is a one-bar loop of that chord; a note, or a
            # sound with no pitch, stays a one-shot
            pitch = root_note(y, sr)
            if pitch.midi is not None and not one_held_note(y, sr, pitch):
                out.kind, out.kind_confidence = "loop", 0.6

    # tempo
    if chunks.bpm is not None:
        out.bpm, out.bpm_confidence, out.bpm_source = chunks.bpm, 1.0, "tag"
        if chunks.beats:
            out.bars = round(chunks.beats / (chunks.meter or (4, 4))[0], 3)
    elif facts.bpm is not None:
        out.bpm, out.bpm_confidence, out.bpm_source = facts.bpm, 1.0, "name"
    elif o is not None and out.kind == "loop":
        t = tempo(o, duration_s, whole_file=whole_file)
        if t is not None and t.confidence >= 0.2:
            out.bpm, out.bpm_alt, out.bpm_confidence, out.bpm_source = (
                t.bpm, t.alternative, t.confidence, "audio")
    if out.bpm is not None and out.bars is None and whole_file:
        bars = duration_s * out.bpm / 240.0
        if round(bars) >= 1 and abs(bars - round(bars)) <= 0.02 * round(bars):
            out.bars = float(round(bars))

    # key: loops; and one-shots that are chords (a stab, a held chord), under stricter
    # thresholds: one note has a root note, not a key (docs/eval/analysis.md, third round),
    # so a one-shot whose name gives its note gets no key from the audio
    if facts.key is not None:
        out.key, out.key_confidence, out.key_source = facts.key, 1.0, "name"
    elif o is not None and out.kind == "loop":
        k = estimate_key(y, sr)
        if k.key is not None:
            out.key, out.key_confidence, out.key_source = k.key, k.confidence, "audio"
    elif o is not None and out.kind == "oneshot" and facts.root_midi is None \
            and oneshot_tonal(y, sr) is not None:
        # cheapest test first: tonal enough on half the frames (most drums stop here),
        # then not one note (the root note below needs the pitch anyway), then the key
        # itself, which tests the tonality again on every frame
        pitch = pitch if pitch is not None else root_note(y, sr)
        if not one_held_note(y, sr, pitch):
            k = estimate_key(y, sr, oneshot=True)
            if k.key is not None:
                out.key, out.key_confidence, out.key_source = k.key, k.confidence, "audio"
    stated_root, root_source = None, None
    if chunks.acid_root is not None:
        stated_root, root_source = chunks.acid_root, "tag"
    elif chunks.unity_note is not None and not (chunks.unity_note == 60
                                                and chunks.unity_fraction == 0):
        stated_root, root_source = chunks.unity_note, "tag"
    elif facts.root_midi is not None:
        stated_root, root_source = facts.root_midi, "name"
    if stated_root is not None:
        out.root_midi, out.root_confidence, out.root_source = stated_root, 1.0, root_source
    elif o is not None and out.kind == "oneshot":
        p = pitch if pitch is not None else root_note(y, sr)
        if p.midi is not None:
            out.root_midi, out.root_confidence, out.root_source = p.midi, p.confidence, "audio"
        elif chunks.unity_note is not None:
            # smpl's 60 is what many editors write by default: taken only when the audio
            # cannot tell (and then it is the file's word, not ours)
            out.root_midi, out.root_confidence, out.root_source = chunks.unity_note, 0.5, "tag"
    return out


def analyse_file(path: str | os.PathLike[str]) -> Analysis:
    """Analyse a file on its own as a scan does (decode of segment 0, chunks, name)."""
    from core.analysis.level import scan_meter
    from core.audio import WindowParams, decode_segment, plan_segments, probe

    params = WindowParams()
    info = probe(path)
    meter = scan_meter(info.sample_rate, info.channels)
    seg = decode_segment(path, info, params, *plan_segments(info, params)[0], meter=meter,
                         keep_signal=True)
    assert seg.signal is not None
    return analyse(seg.signal, params.sample_rate, info.duration_s, name=Path(path).name,
                   chunks=read_chunks(path), meter=meter)
