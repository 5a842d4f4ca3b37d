"""Audition: a file as the sound card wants it, block by block.

The app plays files through its own stream rather than a media player: the file is read
with the scanner's decoder (soundfile, or FFmpeg for what libsndfile cannot read), mixed
or spread to the output's channel count and resampled to the output's rate (soxr,
streaming) only as fast as the card consumes it. So every format the library reads
plays, playback starts at once whatever the format (QtMultimedia's FFmpeg player took
2.1 s to start a WAV or FLAC file), and an hour-long file costs no more memory than a
one-shot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from core.audio import open_sound
from core.errors import AudioError

BLOCK_FRAMES = 4096  # frames read from the file per step


def map_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """(n, c) → (n, channels): mono is copied to every output, more channels than the
    output are folded (even ones left, odd ones right), fewer are repeated in turn."""
    have = x.shape[1]
    if have == channels:
        return x
    if channels == 1:
        return x.mean(axis=1, keepdims=True)
    if have == 1:
        return np.repeat(x, channels, axis=1)
    if have > channels:
        return np.stack([x[:, k::channels].mean(axis=1) for k in range(channels)], axis=1)
    return x[:, [k % have for k in range(channels)]]


class AuditionStream:
    """Float32 frames of ``path`` at ``rate`` Hz and ``channels`` channels, from
    ``start_s`` on. Raises :class:`AudioError` (with a readable reason) when the file
    cannot be opened."""

    def __init__(self, path: str | Path, rate: int, channels: int, start_s: float = 0.0
                 ) -> None:
        self.path = Path(path)
        self.rate, self.channels = int(rate), int(channels)
        self._file = open_sound(self.path)
        self.file_rate = self._file.samplerate
        self.duration_s = self._file.frames / self.file_rate if self._file.frames > 0 else 0.0
        self.start_s = min(max(0.0, start_s), self.duration_s)
        if self.start_s > 0 and self._file.seekable():
            self._file.seek(int(self.start_s * self.file_rate))
        self._resampler = None if self.file_rate == self.rate else soxr.ResampleStream(
            self.file_rate, self.rate, self.channels, dtype="float32", quality="HQ")
        self.done = False

    def read(self) -> np.ndarray:
        """The next block, shape (n, channels), values in [-1, 1]; empty at the end."""
        while not self.done:
            try:
                x = self._file.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioError(f"reading failed: {exc}") from None
            last = len(x) < BLOCK_FRAMES
            x = map_channels(x, self.channels)
            if self._resampler is not None:
                x = self._resampler.resample_chunk(np.ascontiguousarray(x), last=last)
            if last:
                self.done = True
                self.close()
            if len(x):
                if not np.isfinite(x).all():
                    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
                return np.clip(x, -1.0, 1.0, dtype=np.float32)
        return np.zeros((0, self.channels), np.float32)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def to_bytes(x: np.ndarray, sample_format: str) -> bytes:
    """Interleaved frames in the output's sample format: float, int16, int32 or uint8."""
    if sample_format == "float":
        return np.ascontiguousarray(x, np.float32).tobytes()
    if sample_format == "int16":
        return (x * 32767).astype("<i2").tobytes()
    if sample_format == "int32":
        return (x.astype(np.float64) * 2147483647).astype("<i4").tobytes()
    if sample_format == "uint8":
        return (x * 127 + 128).astype(np.uint8).tobytes()
    raise ValueError(f"unknown sample format {sample_format!r}")
