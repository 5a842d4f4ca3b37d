"""The second decoder: FFmpeg (through PyAV) for what libsndfile cannot read.

libsndfile reads WAV, AIFF, FLAC, Ogg, MP3, CAF… but not WavPack (GrandOrgue's organ
sets keep WavPack data in files named ``.wav``), M4A (AAC, ALAC), WMA, Monkey's Audio,
TTA or Matroska audio. Those are decoded here into the same float32 frames soundfile
gives, so resampling, windows and gating stay one code path.

PyAV is imported only when a file needs it (about 0.16 s), never at start-up. A file's
first bytes decide whether FFmpeg is tried at all (:func:`sniff`): random bytes named
``.mp3`` stay "not a recognised audio format" rather than being decoded as noise, and a
file FFmpeg cannot read either (Vorbis inside WAV, a GUS patch) gets an error naming
what it really is.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import AudioError

#: Extensions only this decoder reads (lower case, with the dot).
FFMPEG_EXTENSIONS = frozenset({
    ".m4a", ".aac", ".alac", ".wma", ".wv", ".ape", ".tta", ".mka", ".mpc", ".shn",
})

#: Files longer than this (by the header's estimate) are not decoded whole just to count
#: their frames exactly; the header's duration is trusted instead.
EXACT_COUNT_MAX_S = 600.0

#: Codecs whose sample-exact header length is the audio's length (no codec padding).
_LOSSLESS = frozenset({"wavpack", "alac", "flac", "tta", "ape", "shorten", "mlp", "truehd"})

#: Seeks land this much before the wanted frame, so that codecs with overlapping
#: transforms (AAC, WMA) have settled by the time the wanted samples come.
_PREROLL_S = 0.5

_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")

#: WAV format tags worth naming (RIFF ``fmt `` chunk).
_WAV_TAGS = {
    0x0002: "Microsoft ADPCM", 0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0050: "MPEG audio",
    0x0055: "MP3", 0x0092: "Dolby AC-3", 0x00FF: "AAC", 0x0160: "WMA", 0x0161: "WMA",
    0x0162: "WMA Pro", 0x0163: "WMA Lossless", 0x1610: "AAC", 0x2000: "Dolby AC-3",
    0x2001: "DTS", 0x5756: "WavPack",
}
#: Vorbis packed into WAV (the old "Ogg Vorbis ACM" modes 1, 2, 3, 1+, 2+, 3+).
_VORBIS_WAV_TAGS = frozenset({0x674F, 0x6750, 0x6751, 0x676F, 0x6770, 0x6771})
#: Tags libsndfile decodes itself; a failure with one of these is a damaged file.
_SNDFILE_WAV_TAGS = frozenset({0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0x0031,
                               0x0040, 0x0055, 0xFFFE})

#: Short names for the containers FFmpeg reports (its names are lists like "mov,mp4,…").
_CONTAINER_NAMES = {
    "wv": "WAVPACK", "mov,mp4,m4a,3gp,3g2,mj2": "M4A", "asf": "WMA", "ape": "APE",
    "tta": "TTA", "matroska,webm": "MKA", "mpc": "MPC", "mpc8": "MPC", "shn": "SHN",
    "aac": "AAC", "caf": "CAF", "ogg": "OGG",
    "wav": "WAV", "mp3": "MPEG", "aiff": "AIFF", "flac": "FLAC", "w64": "W64",
}


@dataclass(frozen=True)
class Sniffed:
    """What a file's first bytes say it is.

    ``label`` names it for people ("WavPack", "M4A"); ``ffmpeg`` says
    whether FFmpeg should be tried when libsndfile fails; ``reason`` is set when the
    file is known to be unreadable, and is then the whole error message.
    """

    label: str | None
    ffmpeg: bool = False
    reason: str | None = None


def _wav_format_tag(head: bytes) -> int | None:
    """The format tag of a RIFF/WAVE header's ``fmt `` chunk (None if not found)."""
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if chunk == b"fmt ":
            if pos + 10 > len(head):
                return None
            tag = struct.unpack_from("<H", head, pos + 8)[0]
            if tag == 0xFFFE and pos + 8 + 26 <= len(head):  # WAVE_FORMAT_EXTENSIBLE
                tag = struct.unpack_from("<H", head, pos + 8 + 24)[0]
            return tag
        pos += 8 + size + (size & 1)
    return None


def sniff(head: bytes, ext: str = "") -> Sniffed:
    """Name a file from its first bytes (4 KiB is plenty)."""
    if head[:4] == b"wvpk":
        return Sniffed("WavPack", ffmpeg=True)
    if head[4:8] == b"ftyp":
        return Sniffed("M4A", ffmpeg=True)
    if head[:16] == _ASF_GUID:
        return Sniffed("WMA", ffmpeg=True)
    if head[:4] == b"MAC ":
        return Sniffed("Monkey's Audio", ffmpeg=True)
    if head[:4] == b"TTA1":
        return Sniffed("TTA", ffmpeg=True)
    if head[:4] == b"MPCK" or head[:3] == b"MP+":
        return Sniffed("Musepack", ffmpeg=True)
    if head[:4] == b"ajkg":
        return Sniffed("Shorten", ffmpeg=True)
    if head[:4] == b"\x1aE\xdf\xa3":
        return Sniffed("Matroska/WebM", ffmpeg=True)
    if head[:4] == b"caff":
        return Sniffed("CAF", ffmpeg=True)
    if head[:4] == b"OggS":
        return Sniffed("Ogg", ffmpeg=True)
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return Sniffed("AIFF", ffmpeg=True)
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return Sniffed("AAC", ffmpeg=True)
    if head[:3] == b"ID3" and ext in (".aac", ".m4a"):
        return Sniffed("AAC", ffmpeg=True)
    if head[:8] == b"GF1PATCH":
        return Sniffed("GUS patch", reason="a GUS instrument patch (.pat), not audio "
                                           "Sampletree reads")
    if head[:4] == b"MThd":
        return Sniffed("MIDI", reason="a MIDI file (notes, not recorded audio)")
    if head[:4] == b"PK\x03\x04":
        return Sniffed("ZIP", reason="a ZIP archive, not audio: unpack it first")
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"sfbk":
        return Sniffed("SoundFont", reason="a SoundFont instrument bank (.sf2), not audio "
                                           "Sampletree reads")
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        tag = _wav_format_tag(head)
        if tag in _VORBIS_WAV_TAGS:
            return Sniffed("Vorbis in WAV", reason=(
                f"Vorbis audio inside a WAV file (format 0x{tag:04X}), which no decoder "
                "here reads; convert it to plain WAV, FLAC or Ogg"))
        if tag is not None and tag not in _SNDFILE_WAV_TAGS:
            name = _WAV_TAGS.get(tag, "audio")
            return Sniffed(f"WAV file with {name} (format 0x{tag:04X})", ffmpeg=True)
        return Sniffed("WAV")
    return Sniffed(None)


def file_phrase(label: str) -> str:
    """ "WavPack" → "WavPack file"; a label that already says "file" stays as it is."""
    return label if " file" in label else f"{label} file"


def read_head(path: Path, n: int = 4096) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def _import_av():
    try:
        import av
    except ImportError:
        raise AudioError("this format needs the PyAV decoder, which is not installed "
                         "(pip install av)") from None
    return av


def _av_reason(exc: Exception) -> str:
    """FFmpeg's own words without the errno and the path PyAV appends."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".")


def _to_float(frame) -> np.ndarray:
    """An AudioFrame as float32 (samples, channels) in [-1, 1]."""
    fmt = frame.format
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not fmt.is_planar:
        arr = arr.reshape(-1, channels).T
    kind = fmt.name.rstrip("p")
    if kind == "s16":
        out = arr.astype(np.float32) / 32768.0
    elif kind == "s32":
        out = arr.astype(np.float32) / 2147483648.0
    elif kind == "u8":
        out = (arr.astype(np.float32) - 128.0) / 128.0
    elif kind == "s64":
        out = (arr / 9223372036854775808.0).astype(np.float32)
    else:  # flt, dbl
        out = arr.astype(np.float32, copy=False)
    return out.T[: frame.samples]


class FFmpegSound:
    """A file decoded by FFmpeg, with the part of soundfile.SoundFile's interface the
    app uses: ``samplerate``, ``channels``, ``frames``, ``seek``, ``read``, ``close``.

    Positions are counted in decoded frames from the first frame of the stream; a seek
    lands a little early (:data:`_PREROLL_S`) and decodes forward to the exact frame.
    """

    def __init__(self, path: str | Path, frames: int | None = None) -> None:
        av = _import_av()
        self.path = Path(path)
        self._av = av
        self.closed = True
        self._fh = None
        try:
            self._container = self._open(av)
        except (FileNotFoundError, PermissionError):
            raise  # the caller words these (av's own errors derive from them too)
        except av.FFmpegError as exc:
            raise AudioError(self._open_failure(exc)) from None
        self.closed = False
        try:
            streams = self._container.streams.audio
            if not streams:
                raise AudioError(f"{file_phrase(self.label)} without an audio stream")
            self._stream = streams[0]
            ctx = self._stream.codec_context
            if ctx is None:  # FFmpeg knows the container but has no decoder for the codec
                raise AudioError(f"{file_phrase(self._error_label())}, whose codec no "
                                 "decoder here reads")
            self.codec = ctx.name
            self.samplerate = int(ctx.sample_rate or self._stream.sample_rate or 0)
            self.channels = int(ctx.channels or 0)
            if self.samplerate <= 0 or self.channels <= 0:
                raise AudioError("the header is invalid (no sample rate or channels)")
            self._tb = self._stream.time_base
            # timestamps that count samples (WavPack, M4A) place a seek exactly; coarser
            # ones (WMA's milliseconds) only with a codec's fixed frame size to snap to
            self._exact_pts = self._tb.denominator % self.samplerate == 0
            self._first_pts: int | None = None
            self._frame_size = 0
            self._restart()
            self.frames = int(frames) if frames is not None else self._count_frames()
        except av.FFmpegError as exc:
            label = self._error_label()
            self.close()
            raise AudioError(f"damaged {file_phrase(label)} ({_av_reason(exc)})") from None
        except BaseException:
            self.close()
            raise

    # -- opening ------------------------------------------------------------------------

    def _open(self, av):
        name = os.fsdecode(self.path)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # a non-UTF-8 name: hand FFmpeg a Python file
            self._fh = self.path.open("rb")
            return av.open(self._fh, "r")
        self._fh = None
        return av.open(name, "r")

    @property
    def label(self) -> str:
        try:
            fmt = self._container.format.name
        except AttributeError:
            return sniff(read_head(self.path), self.path.suffix.lower()).label or "audio"
        return _CONTAINER_NAMES.get(fmt, fmt.split(",")[0].upper())

    def _error_label(self) -> str:
        """What the file is, for an error: its first bytes' name (which says the codec
        inside a WAV), else the container's."""
        try:
            found = sniff(read_head(self.path), self.path.suffix.lower()).label
        except OSError:
            found = None
        return found or self.label

    def _open_failure(self, exc: Exception) -> str:
        label = sniff(read_head(self.path), self.path.suffix.lower()).label
        what = label or f"{self.path.suffix[1:].upper() or 'audio'}"
        return f"damaged or unreadable {file_phrase(what)} ({_av_reason(exc)})"

    # -- decoding -----------------------------------------------------------------------

    def _restart(self) -> None:
        """Back to the first frame (the container is opened afresh: reliable for every
        format, where seeking to 0 is not)."""
        if getattr(self, "_started", False):
            self._container.close()
            if self._fh is not None:
                self._fh.close()
            self._container = self._open(self._av)
            self._stream = self._container.streams.audio[0]
        self._started = True
        self._frames_iter = self._container.decode(self._stream)
        self._buf = np.zeros((0, self.channels), np.float32)
        self._pos = 0  # frame index of self._buf[0]
        self._eof = False
        self._decoded_any = False

    def _next_frame(self):
        """The next decoded frame, or None at the end (a damaged tail ends the file)."""
        if self._eof:
            return None
        try:
            frame = next(self._frames_iter)
        except StopIteration:
            frame = None
        except self._av.FFmpegError as exc:
            if not self._decoded_any:
                raise AudioError(f"damaged {file_phrase(self._error_label())} "
                                 f"({_av_reason(exc)})") from None
            frame = None  # decoded what could be: the rest is damaged
        if frame is None:
            self._eof = True
            return None
        self._decoded_any = True
        if self._first_pts is None:
            self._first_pts = frame.pts if frame.pts is not None else 0
            self._frame_size = frame.samples
        return frame

    def _frame_index(self, frame) -> int | None:
        """Where a frame decoded after a seek starts, or None when that is unsure."""
        if frame.pts is None or self._first_pts is None:
            return None
        index = float((frame.pts - self._first_pts) * self._tb) * self.samplerate
        if self._exact_pts:
            return round(index)
        size = self._frame_size
        if size <= 0 or frame.samples != size:
            return None
        snapped = round(index / size) * size
        # the timestamp's rounding must be far smaller than a frame to snap safely
        return snapped if abs(snapped - index) < size / 4 else None

    def _count_frames(self) -> int:
        """Frames in the stream. A lossless codec's sample-exact header is trusted (as
        soundfile trusts a WAV's); otherwise, for files up to :data:`EXACT_COUNT_MAX_S`,
        the decoded frames are counted (lossy codecs pad their last frame; WMA's header
        counts milliseconds), and longer files trust the header's estimate."""
        stream, container = self._stream, self._container
        header = None
        if stream.duration:
            header = round(float(stream.duration * self._tb) * self.samplerate)
        elif container.duration:
            header = round(container.duration / 1_000_000 * self.samplerate)
        sample_exact = header is not None and self._exact_pts
        if sample_exact and header > 0 and (self.codec in _LOSSLESS
                                            or self.codec.startswith("pcm_")):
            return header
        if header is not None and header > EXACT_COUNT_MAX_S * self.samplerate:
            return header
        counted = 0
        while (frame := self._next_frame()) is not None:
            counted += frame.samples
        self._restart()
        if counted == 0:
            raise AudioError("the file holds no audio (0 frames)")
        # a codec's padding past the header's length (AAC's last frame) is not audio
        return min(counted, header) if sample_exact else counted

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, frame: int) -> int:
        frame = max(0, int(frame))
        if frame == self._pos:
            return frame
        if self._pos < frame < self._pos + len(self._buf):
            self._buf = self._buf[frame - self._pos:]
            self._pos = frame
            return frame
        if self._first_pts is None and self._pos == 0 and not len(self._buf):
            got = self._next_frame()  # the first frame's timestamp anchors every seek
            if got is not None:
                self._buf = _to_float(got)
            if self._pos < frame < self._pos + len(self._buf):
                self._buf = self._buf[frame - self._pos:]
                self._pos = frame
                return frame
        ahead = frame - (self._pos + len(self._buf))
        if 0 <= ahead < 2 * self.samplerate:  # near: decode forward
            self._skip_to(frame)
            return frame
        if frame < 2 * self.samplerate or self._first_pts is None:
            self._restart()
            self._skip_to(frame)
            return frame
        # far: seek a little before, then decode to the exact frame
        target = max(0, frame - round(_PREROLL_S * self.samplerate))
        ts = self._first_pts + int(target / self.samplerate / self._tb)
        self._container.seek(ts, stream=self._stream, backward=True)
        self._frames_iter = self._container.decode(self._stream)
        self._buf = np.zeros((0, self.channels), np.float32)
        self._eof = False
        first = self._next_frame()
        index = None if first is None else self._frame_index(first)
        if index is None or index > frame:  # landed past it, or cannot tell: go slow
            self._restart()
            self._skip_to(frame)
            return frame
        self._pos = index
        self._buf = _to_float(first)
        self._skip_to(frame)
        return frame

    def _skip_to(self, frame: int) -> None:
        while self._pos + len(self._buf) < frame:
            self._pos += len(self._buf)
            self._buf = np.zeros((0, self.channels), np.float32)
            got = self._next_frame()
            if got is None:
                return
            self._buf = _to_float(got)
        self._buf = self._buf[frame - self._pos:]
        self._pos = frame

    def read(self, frames: int = -1, dtype: str = "float32", always_2d: bool = True
             ) -> np.ndarray:
        """Up to ``frames`` frames from the current position, (n, channels) float32."""
        if dtype != "float32":
            raise ValueError("FFmpegSound reads float32 only")
        want = self.frames - self._pos if frames < 0 else int(frames)
        want = max(0, min(want, self.frames - self._pos))
        parts = []
        have = 0
        while have < want:
            if not len(self._buf):
                got = self._next_frame()
                if got is None:
                    break
                self._buf = _to_float(got)
            take = self._buf[: want - have]
            parts.append(take)
            have += len(take)
            self._buf = self._buf[len(take):]
            self._pos += len(take)
        out = np.concatenate(parts) if parts else np.zeros((0, self.channels), np.float32)
        return out if always_2d or self.channels > 1 else out[:, 0]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._container.close()
        finally:
            if getattr(self, "_fh", None) is not None:
                self._fh.close()

    def __enter__(self) -> FFmpegSound:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> tuple[str, str]:
        """(format, subtype) as the library stores them: ("M4A", "ALAC")."""
        return self.label, self.codec.upper()
