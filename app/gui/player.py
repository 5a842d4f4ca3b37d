"""Audio playback through QtMultimedia's QAudioSink, degrading to "playback off" without
a device.

The sink pulls blocks from :class:`core.audition.AuditionStream` (the file read with the
library's own decoder and converted to the card's format as it plays), so playback
starts within milliseconds whatever the format; QMediaPlayer's FFmpeg backend took 2.1 s
to start any WAV or FLAC file here. QtMultimedia is imported when the first file plays,
never at start-up: a missing multimedia plugin or audio device costs playback, not the app.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QIODevice, QObject, QTimer, Signal

from core.audition import AuditionStream, to_bytes
from core.errors import AudioError

#: How much audio the sink holds: enough to ride out a busy UI thread (≤ 100 ms stalls).
BUFFER_S = 0.25


class _Feed(QIODevice):
    """The sink's source: bytes of the stream, read when the sink asks for them."""

    def __init__(self, stream: AuditionStream, sample_format: str, parent: QObject) -> None:
        super().__init__(parent)
        self.stream, self.sample_format = stream, sample_format
        self.pending = b""
        self.error = ""

    def readData(self, maxlen: int) -> bytes:
        out = self.pending
        try:
            while len(out) < maxlen and not self.stream.done:
                out += to_bytes(self.stream.read(), self.sample_format)
        except AudioError as exc:
            self.error = str(exc)
            self.stream.done = True
        self.pending = out[maxlen:]
        return out[:maxlen]

    def bytesAvailable(self) -> int:
        # the sink reads only what a device says it has; the file has more until the end
        return len(self.pending) + (0 if self.stream.done else 1 << 20)

    def writeData(self, _data: bytes) -> int:
        return -1

    def isSequential(self) -> bool:
        return True

    @property
    def finished(self) -> bool:
        return self.stream.done and not self.pending


class Player(QObject):
    stateChanged = Signal(bool)  # playing
    positionChanged = Signal(float)  # seconds
    problem = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._device: Any = None
        self._format: Any = None
        self._sample_format = "float"
        self._sink: Any = None
        self._feed: _Feed | None = None
        self._start_s = 0.0
        self._checked = False
        self._available = False
        self._told = False
        self.status_text = ""
        self.path: str | None = None
        self.volume = 1.0  # linear gain of previews, 0..1
        self._clock = QTimer(self)
        self._clock.setInterval(30)
        self._clock.timeout.connect(self._tick)

    def set_volume(self, volume: float) -> None:
        """Preview gain, 0..1; applies to the file playing now too."""
        self.volume = min(max(float(volume), 0.0), 1.0)
        if self._sink is not None:
            self._sink.setVolume(self.volume)

    @property
    def available(self) -> bool:
        self._setup()
        return self._available

    def _setup(self) -> None:
        if self._checked:
            return
        self._checked = True
        if os.environ.get("SAMPLETREE_NO_AUDIO"):
            self.status_text = "Playback is off (SAMPLETREE_NO_AUDIO is set)"
            return
        try:
            from PySide6.QtMultimedia import QAudioFormat, QMediaDevices
        except ImportError as exc:
            self.status_text = f"Playback is off: QtMultimedia is missing ({exc})"
            return
        try:
            if not QMediaDevices.audioOutputs():
                self.status_text = "No audio output device: playback is off"
                return
            self._device = QMediaDevices.defaultAudioOutput()
            fmt = self._device.preferredFormat()
            wanted = QAudioFormat(fmt)
            wanted.setSampleFormat(QAudioFormat.SampleFormat.Float)
            if self._device.isFormatSupported(wanted):
                fmt = wanted
            names = {QAudioFormat.SampleFormat.Float: "float",
                     QAudioFormat.SampleFormat.Int16: "int16",
                     QAudioFormat.SampleFormat.Int32: "int32",
                     QAudioFormat.SampleFormat.UInt8: "uint8"}
            if fmt.sampleFormat() not in names or fmt.sampleRate() <= 0 \
                    or fmt.channelCount() <= 0:
                self.status_text = "The audio device offers no usable format: playback is off"
                return
            self._format, self._sample_format = fmt, names[fmt.sampleFormat()]
        except Exception as exc:  # a broken backend must not take the app down
            self.status_text = f"Playback is off: {exc}"
            return
        self._available = True
        self.status_text = (f"Ready ({self._device.description()}, {fmt.sampleRate()} Hz, "
                            f"{fmt.channelCount()} ch)")

    def play(self, path: str | None, start_s: float = 0.0, *, asked: bool = True) -> bool:
        """Play ``path`` from ``start_s``; False when playback is off, with a message —
        once only for plays the user did not ask for (auto-play on selection)."""
        if not path:
            return False
        self._setup()
        if not self._available:
            if asked or not self._told:
                self._told = True
                self.problem.emit(self.status_text)
            return False
        self._halt()
        name = os.path.basename(path)
        try:
            stream = AuditionStream(path, self._format.sampleRate(),
                                    self._format.channelCount(), start_s)
        except AudioError as exc:
            self.problem.emit(f"Cannot play {name}: {exc}")
            self.stateChanged.emit(False)
            return False
        # QAudio too: its State type converts for stateChanged only once QAudio is imported
        from PySide6.QtMultimedia import QAudio, QAudioSink  # noqa: F401

        self.path, self._start_s = path, stream.start_s
        self._feed = _Feed(stream, self._sample_format, self)
        self._feed.open(QIODevice.OpenModeFlag.ReadOnly | QIODevice.OpenModeFlag.Unbuffered)
        self._sink = QAudioSink(self._device, self._format, self)
        self._sink.setBufferSize(int(BUFFER_S * self._format.bytesForDuration(1_000_000)))
        self._sink.setVolume(self.volume)
        sink = self._sink
        self._sink.stateChanged.connect(lambda state: self._sink_state(sink, state))
        self._sink.start(self._feed)
        if self._sink.error() != self._sink.error().NoError:
            self.problem.emit(f"Cannot play {name}: the audio device refused it "
                              f"({self._sink.error().name})")
            self._halt()
            self.stateChanged.emit(False)
            return False
        self._clock.start()
        self.positionChanged.emit(self._start_s)
        self.stateChanged.emit(True)
        return True

    def _sink_state(self, sink: Any, state: Any) -> None:
        from PySide6.QtMultimedia import QAudio

        feed = self._feed
        if feed is None or sink is not self._sink:
            return  # a sink already replaced or stopped
        if state == QAudio.State.IdleState and feed.finished:
            # the whole file went out (or reading it failed half-way)
            if feed.error:
                self.problem.emit(f"Cannot play {os.path.basename(self.path or '')}: "
                                  f"{feed.error}")
            self.stop()

    def _tick(self) -> None:
        if self._sink is not None:
            self.positionChanged.emit(self._start_s + self._sink.processedUSecs() / 1e6)

    def _halt(self) -> None:
        """Stop and drop the current sink and stream (no signal)."""
        self._clock.stop()
        sink, feed = self._sink, self._feed
        self._sink = self._feed = None
        if sink is not None:
            sink.stop()
            sink.deleteLater()
        if feed is not None:
            feed.stream.close()
            feed.close()
            feed.deleteLater()

    def stop(self) -> None:
        was = self._sink is not None
        self._halt()
        if was:
            self.stateChanged.emit(False)

    def is_playing(self) -> bool:
        return self._sink is not None

    def toggle(self, path: str | None) -> bool:
        """Stop when this file plays, else play it. Returns whether it now plays."""
        if self.is_playing() and path == self.path:
            self.stop()
            return False
        return self.play(path)
