"""Decoding audio into 1 s windows at the model's rate.

Files are read with soundfile (libsndfile); what it cannot read (WavPack, M4A, WMA…)
goes to FFmpeg through PyAV (core/audio_ffmpeg.py, imported only then). Everything
here runs in scan worker processes, so it imports neither torch nor the library.
Files are read in blocks and cut into segments of at most ``segment_s`` seconds of
windows, so an hour of 8-channel 96 kHz audio never sits in memory at once.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from core import thumbnail
from core.audio_ffmpeg import FFMPEG_EXTENSIONS, FFmpegSound, file_phrase, read_head, sniff
from core.dupsig import PcmHasher
from core.dupsig import signature as dup_signature
from core.errors import AudioError
from core.paths import file_kind

#: Extensions the scanner looks at (lower case, with the dot): libsndfile's, then
#: those only FFmpeg reads.
AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".bwf", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".opus",
    ".mp3", ".caf", ".w64", ".rf64", ".au", ".snd",
}) | FFMPEG_EXTENSIONS

_READ_BLOCK = 1 << 16  # frames per soundfile read


@dataclass(frozen=True)
class WindowParams:
    """How files become windows. ``gate_db`` is an RMS level in dBFS."""

    sample_rate: int = 16_000
    window_s: float = 1.0
    hop_s: float = 0.5
    gate_db: float = -60.0
    segment_s: float = 30.0

    @property
    def win(self) -> int:
        return round(self.sample_rate * self.window_s)

    @property
    def hop(self) -> int:
        return max(1, round(self.sample_rate * self.hop_s))

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.hop_s <= 0:
            raise ValueError("window and hop must be positive")


@dataclass(frozen=True)
class AudioInfo:
    """What the file's header says."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str
    #: "soundfile" or "ffmpeg": which decoder reads the file
    decoder: str = "soundfile"
    #: what is wrong with a file that still reads (e.g. cut short), "" when nothing
    note: str = ""

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


@dataclass
class Segment:
    """Windows of one segment of a file, after the quiet gate.

    ``audio`` is float32 (n x win) at the model's rate; ``starts`` are in seconds;
    ``loudness`` in dBFS. ``fallback`` is True when no window passed the gate and
    the segment returns only its loudest window, to be kept if the whole file is quiet.
    """

    audio: np.ndarray
    starts: np.ndarray
    loudness: np.ndarray
    fallback: bool
    #: the segment's audio as one signal at the model's rate, mono (only when asked for,
    #: for core.analysis; never sent back from a worker)
    signal: np.ndarray | None = None
    # -- duplicates (core/dupsig.py): the hash of the decoded frames this segment owns,
    # and in segment 0 the file's near-duplicate signature
    audio_hash: str | None = None
    dup_signature: bytes | None = None
    #: waveform thumbnail of the samples this segment owns (core.thumbnail)
    envelope: thumbnail.PartialEnvelope | None = None
    #: samples read that were not numbers (NaN, infinity: a damaged float file), read as
    #: silence (or full scale for an infinity)
    nonfinite: int = 0


#: Longest part of libsndfile's own words kept in a reason.
MAX_REASON = 160


def _sndfile_reason(exc: Exception) -> str:
    """libsndfile's reason alone: soundfile wraps it as "Error opening b'<path>': …"."""
    text = getattr(exc, "error_string", None) or str(exc)
    text = re.sub(r"^Error opening .*?: ", "", str(text)).strip().rstrip(".")
    text = text or "no reason given"
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


def _describe_sndfile_error(path: Path, exc: Exception, fd: int | None = None) -> str:
    """Turn libsndfile's terse messages into something a producer can act on.

    With ``fd`` (the file already open) the head is read from it, not from the path.
    """
    try:
        if fd is not None:
            size = os.fstat(fd).st_size
            os.lseek(fd, 0, os.SEEK_SET)
            head = os.read(fd, 4096)
        else:
            size = path.stat().st_size
            head = read_head(path)
    except FileNotFoundError:
        # libsndfile reports a vanished file as a generic "System error"
        return "file disappeared before it could be read"
    except OSError as err:  # unreadable (permissions), a folder, an I/O error…
        return f"cannot read file: {err.strerror or err}"
    if size == 0:
        return "empty file (0 bytes)"
    text = _sndfile_reason(exc)
    found = sniff(head, path.suffix.lower())
    if found.reason:
        return found.reason
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return f"damaged WAV file ({text})"
    if _looks_like_text(head):
        return "not an audio file: the content is text"
    if found.label:
        return f"damaged {file_phrase(found.label)} ({text})"
    known = (b"RIFF", b"FORM", b"fLaC", b"OggS", b"ID3", b"caff", b"riff", b".snd", b"RF64")
    if not head.startswith(known) and not (len(head) > 1 and head[0] == 0xFF
                                           and head[1] & 0xE0 == 0xE0):
        return "not a recognised audio format (its first bytes match none Sampletree reads)"
    return f"damaged or unsupported audio file ({text})"


def _ffmpeg_fallback(path: Path, exc: Exception, frames: int | None = None) -> FFmpegSound:
    """Open with FFmpeg what libsndfile refused, when the file's first bytes (or its
    extension) name a format FFmpeg reads; otherwise raise a worded :class:`AudioError`."""
    try:
        head = read_head(path)
    except FileNotFoundError:
        raise AudioError("file disappeared before it could be read") from None
    except OSError as err:
        raise AudioError(f"cannot read file: {err.strerror or err}") from None
    found = sniff(head, path.suffix.lower())
    by_extension = (found.label is None and path.suffix.lower() in FFMPEG_EXTENSIONS
                    and not _looks_like_text(head))
    if head and not found.reason and (found.ffmpeg or by_extension):
        try:
            return FFmpegSound(path, frames=frames)
        except FileNotFoundError:
            raise AudioError("file disappeared before it could be read") from None
        except PermissionError:
            raise AudioError("permission denied") from None
    raise AudioError(_describe_sndfile_error(path, exc)) from None


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
    return printable / len(decoded) > 0.95


def _sf_path(path: Path) -> str | bytes:
    """What libsndfile opens: on POSIX the raw bytes, so non-UTF-8 names work too."""
    return os.fsencode(path) if os.name == "posix" else str(path)


def _open_regular(path: Path) -> int:
    """A descriptor on ``path`` if it is a regular file; :class:`AudioError` otherwise.

    Opened without blocking, so a FIFO (or a device) named like audio is reported at once
    instead of stalling the reader until a writer appears. Python opens the file, not
    libsndfile: its own path buffer is shorter than the system's (a 2,500-byte path
    failed with "Supplied filename too long").
    """
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise AudioError("file disappeared before it could be read") from None
    except PermissionError:
        raise AudioError("permission denied") from None
    except OSError as exc:  # a symlink loop, a name too long, an I/O error…
        raise AudioError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise AudioError("cannot read file: it is a folder")
        if not stat.S_ISREG(mode):
            raise AudioError(f"not a regular file ({file_kind(mode)})")
        if flags & getattr(os, "O_NONBLOCK", 0):
            import fcntl  # POSIX only, as O_NONBLOCK is

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _soundfile_of(path: Path) -> sf.SoundFile:
    """libsndfile on a descriptor of ours (a regular file): it gets its own copy, which
    it closes with the file, or at once when it cannot open it."""
    fd = _open_regular(path)
    try:
        return sf.SoundFile(os.dup(fd), closefd=True)
    finally:
        os.close(fd)


def open_sound(path: str | Path) -> sf.SoundFile | FFmpegSound:
    """Open a file for block reads (close it, or use ``with``): a soundfile.SoundFile, or
    for what libsndfile cannot read an :class:`FFmpegSound` with the same ``samplerate``,
    ``channels``, ``frames``, ``seek`` and ``read(n, dtype="float32", always_2d=True)``.
    Raises :class:`AudioError` with a readable reason, as :func:`probe` does. Only
    regular files are opened."""
    path = Path(path)
    try:
        return _soundfile_of(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        return _ffmpeg_fallback(path, exc)


#: libsndfile's log of a WAV or AIFF whose audio chunk is shorter than its header says:
#: "data : 96000 (should be 31970)" (RIFF/RF64 ``data``, AIFF ``SSND``)
_CUT_SHORT = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)


def truncation_note(log: str, frames: int, rate: int) -> str:
    """"" or what to tell a user about a file cut short (an interrupted download or copy),
    from libsndfile's log of its header: it reads what is there, ``frames`` of them."""
    m = _CUT_SHORT.search(log or "")
    if m is None or rate <= 0:
        return ""
    promised, present = int(m.group(1)), int(m.group(2))
    if present <= 0 or promised <= present:
        return ""
    whole = frames * promised / present / rate
    return (f"truncated: its header promises {whole:.2f} s, the file holds "
            f"{frames / rate:.2f} s (cut short by an interrupted download or copy?)")


def probe(path: str | Path) -> AudioInfo:
    """Read the header only. Raises :class:`AudioError` with a readable reason."""
    note = ""
    with open_sound(path) as snd:
        if isinstance(snd, FFmpegSound):
            (fmt, subtype), decoder = snd.describe(), "ffmpeg"
        else:
            fmt, subtype, decoder = snd.format, snd.subtype, "soundfile"
        frames, rate, channels = int(snd.frames), int(snd.samplerate), int(snd.channels)
        if decoder == "soundfile":
            note = truncation_note(snd.extra_info, frames, rate)
    if frames <= 0:
        raise AudioError("the file holds no audio (0 frames)")
    if rate <= 0 or channels <= 0:
        raise AudioError("the header is invalid (no sample rate or channels)")
    return AudioInfo(rate, channels, frames, fmt, subtype, decoder, note)


def window_starts(n_samples: int, params: WindowParams) -> np.ndarray:
    """Start of each window, in samples at the model's rate.

    Windows tile the file at ``hop``; one last window is aligned to the end so the tail
    is covered; a file shorter than a window gets one window (padded later).
    """
    win, hop = params.win, params.hop
    if n_samples <= win:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_samples - win + 1, hop, dtype=np.int64)
    if starts[-1] + win < n_samples:
        starts = np.append(starts, n_samples - win)
    return starts


def output_length(info: AudioInfo, params: WindowParams) -> int:
    return max(1, round(info.frames * params.sample_rate / info.sample_rate))


def plan_segments(info: AudioInfo, params: WindowParams) -> list[tuple[int, int]]:
    """Ranges ``[k0, k1)`` of window indices, one per segment task."""
    n = len(window_starts(output_length(info, params), params))
    per = max(1, int(params.segment_s / params.hop_s))
    return [(k0, min(n, k0 + per)) for k0 in range(0, n, per)]


def _read_mono(snd: sf.SoundFile | FFmpegSound, start: int, stop: int,
               meter: Callable[[np.ndarray], None] | None = None,
               hasher: PcmHasher | None = None, bad: list[int] | None = None) -> np.ndarray:
    """Frames [start, stop) mixed to mono, read in blocks to keep memory flat. ``meter``
    (core.analysis) sees each block with all its channels, at the file's rate; so does
    ``hasher`` (core.dupsig), before the mix."""
    snd.seek(start)
    out = np.empty(stop - start, dtype=np.float32)
    pos = 0
    while pos < len(out):
        block = snd.read(min(_READ_BLOCK, len(out) - pos), dtype="float32", always_2d=True)
        if len(block) == 0:
            break
        if meter is not None:
            meter(block)
        if hasher is not None:
            hasher.update(block, start + pos)
        _mix(block, out[pos : pos + len(block)])
        pos += len(block)
    out = out[:pos]
    # float files can carry NaN/inf; they would poison every embedding downstream
    finite = np.isfinite(out)
    if not finite.all():
        if bad is not None:  # counted (in the mono mix), for the file's note
            bad.append(int(len(out) - np.count_nonzero(finite)))
        np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    return out


def _mix(block: np.ndarray, out: np.ndarray) -> None:
    """``block.mean(axis=1)`` into ``out``, bit for bit: numpy's mean over a short inner
    axis costs ~30x a plain sum (0.57 vs 0.02 ms for 1.2 s of stereo at 44.1 kHz); the
    sum of two float32 halved is what it computes for two channels."""
    if block.shape[1] == 1:
        out[:] = block[:, 0]
    elif block.shape[1] == 2:
        np.add(block[:, 0], block[:, 1], out=out)
        out *= np.float32(0.5)
    else:
        out[:] = block.mean(axis=1)


def _cut_windows_indexed(y: np.ndarray, rel: np.ndarray, win: int) -> np.ndarray:
    """Windows of ``win`` samples of ``y`` from ``rel``: index arrays, clipped at 0 and
    zero past the end."""
    padded = np.concatenate([y, np.zeros(win, dtype=np.float32)])
    idx = rel[:, None] + np.arange(win)[None, :]
    idx = np.clip(idx, 0, len(padded) - 1)
    idx[idx >= len(y)] = len(padded) - 1  # past the end → the zero pad
    return padded[idx].astype(np.float32, copy=False)


def _cut_windows(y: np.ndarray, rel: np.ndarray, win: int) -> np.ndarray:
    """:func:`_cut_windows_indexed`, the same bytes; where every window starts inside the
    signal (always, from the decoder) a strided view of the zero-padded signal, copied
    once (the index array cost ~0.15 ms a file)."""
    if not len(rel) or rel.min() < 0 or rel.max() > len(y):
        return _cut_windows_indexed(y, rel, win)
    padded = np.concatenate([y, np.zeros(win, dtype=np.float32)])
    return np.lib.stride_tricks.sliding_window_view(padded, win)[rel].astype(
        np.float32, copy=False)


def _loudness_db(windows: np.ndarray) -> np.ndarray:
    power = np.mean(np.square(windows, dtype=np.float64), axis=1)
    return (10.0 * np.log10(power + 1e-12)).astype(np.float32)


def decode_segment(path: str | Path, info: AudioInfo, params: WindowParams,
                   k0: int, k1: int, envelope: bool = True, *, meter: Any = None,
                   keep_signal: bool = False) -> Segment:
    """Decode windows ``k0..k1-1`` of a file, mono at ``params.sample_rate``, gated.

    With ``envelope``, the segment also carries the thumbnail envelope of its samples. For
    core.analysis: ``meter`` (a ``LevelMeter``) is fed the raw blocks read, and
    ``keep_signal`` keeps the segment's resampled audio in ``Segment.signal``."""
    path = Path(path)
    target, sr = params.sample_rate, info.sample_rate
    n_out = output_length(info, params)
    all_starts = window_starts(n_out, params)
    starts = all_starts[k0:k1]
    need_a, need_b = int(starts[0]), int(starts[-1]) + params.win
    # Read from a source frame that maps onto a whole output sample, with a margin
    # around the segment so the resampler's edge transient falls outside it.
    step = sr // math.gcd(sr, target)
    margin = sr // 50 + step
    src_a = max(0, (need_a * sr // target - margin) // step * step)
    src_b = min(info.frames, math.ceil(need_b * sr / target) + margin)
    # -- duplicates: this segment hashes the source frames it owns, [own_a, own_b);
    # the segments' ranges tile the file (core/dupsig.py)
    own_a = 0 if k0 == 0 else int(all_starts[k0]) * sr // target
    own_b = info.frames if k1 >= len(all_starts) else int(all_starts[k1]) * sr // target
    src_b = max(src_b, min(info.frames, own_b))  # a hop longer than a window leaves gaps
    hasher = PcmHasher(own_a, own_b)
    bad: list[int] = []
    try:
        if info.decoder == "ffmpeg":
            os.close(_open_regular(Path(path)))  # only regular files reach FFmpeg
            snd = FFmpegSound(path, frames=info.frames)
        else:
            snd = _soundfile_of(path)
        with snd:
            mono = _read_mono(snd, src_a, src_b, None if meter is None else meter.feed, hasher,
                              bad)
    except FileNotFoundError:
        raise AudioError("file disappeared while it was being read") from None
    except PermissionError:
        raise AudioError("permission denied") from None
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(_describe_sndfile_error(path, exc)) from None
    if len(mono) == 0:
        raise AudioError("the file holds no audio data (header promises more than is there)")
    y = mono if sr == target else soxr.resample(mono, sr, target, quality="HQ")
    if meter is not None:  # core.analysis.level: the loudness's low band is this signal
        meter.low_band(y, target)
    offset = src_a * target // sr
    part = None
    if envelope:
        # -- waveform thumbnail: this segment owns samples [its first window's start, the
        # next segment's first window's start), the last one up to the end of the file.
        # Made here, while ``y`` is still in the CPU's cache (after the windows are cut
        # it cost 4x as much: 0.18 vs 0.05 ms a file).
        own_b = int(all_starts[k1]) if k1 < len(all_starts) else n_out
        part = thumbnail.partial(y, offset, int(all_starts[k0]), own_b, n_out)
    windows = _cut_windows(y, starts - offset, params.win)
    loud = _loudness_db(windows)
    keep = loud > params.gate_db
    fallback = not keep.any()
    if fallback:
        keep = np.zeros_like(keep)
        keep[int(np.argmax(loud))] = True
    return Segment(
        audio=np.ascontiguousarray(windows[keep]),
        starts=(starts[keep] / target).astype(np.float32),
        loudness=loud[keep],
        fallback=bool(fallback),
        signal=y if keep_signal else None,
        audio_hash=hasher.hexdigest(),
        dup_signature=dup_signature(y, target) if k0 == 0 else None,
        envelope=part,
        nonfinite=sum(bad),
    )


def segments_to_keep(segments: list[Segment]) -> list[int]:
    """Indices of the segments a file keeps after the gate.

    Segments whose windows passed the gate; if none did (a quiet file), the one
    holding the loudest window, so every file keeps at least one window.
    """
    real = [i for i, s in enumerate(segments) if not s.fallback]
    if real:
        return real
    return [max(range(len(segments)), key=lambda i: float(segments[i].loudness.max()))]


def merge_segments(segments: list[Segment]) -> Segment:
    """Join a file's segments; quiet-only fallbacks survive only if nothing else did."""
    real = [segments[i] for i in segments_to_keep(segments)]
    if len(real) == 1:
        return real[0]
    return Segment(
        audio=np.concatenate([s.audio for s in real]),
        starts=np.concatenate([s.starts for s in real]),
        loudness=np.concatenate([s.loudness for s in real]),
        fallback=False,
    )


def load_windows(path: str | Path, params: WindowParams | None = None) -> Segment:
    """All gated windows of a file (convenience for small files and tests)."""
    params = params or WindowParams()
    info = probe(path)
    return merge_segments(
        [decode_segment(path, info, params, k0, k1) for k0, k1 in plan_segments(info, params)]
    )
