"""Audio playback through QtMultimedia, degrading to "playback off" without a device.

QtMultimedia is imported when the first file plays, never at start-up: a missing
multimedia plugin or audio device costs playback, not the app.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal


class Player(QObject):
    stateChanged = Signal(bool)  # playing
    positionChanged = Signal(float)  # seconds
    problem = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._player: Any = None
        self._output: Any = None
        self._checked = False
        self._available = False
        self._told = False
        self.status_text = ""
        self.path: str | None = None

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
            from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
        except ImportError as exc:
            self.status_text = f"Playback is off: QtMultimedia is missing ({exc})"
            return
        try:
            if not QMediaDevices.audioOutputs():
                self.status_text = "No audio output device: playback is off"
                return
            self._output = QAudioOutput(self)
            self._player = QMediaPlayer(self)
            self._player.setAudioOutput(self._output)
            self._player.playbackStateChanged.connect(self._state)
            self._player.positionChanged.connect(lambda ms: self.positionChanged.emit(ms / 1000))
            self._player.errorOccurred.connect(self._error)
        except Exception as exc:  # a broken backend must not take the app down
            self._player = None
            self.status_text = f"Playback is off: {exc}"
            return
        self._available = True
        self.status_text = "Ready"

    def _state(self, state: Any) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        self.stateChanged.emit(state == QMediaPlayer.PlaybackState.PlayingState)

    def _error(self, _error: Any, text: str) -> None:
        if text:
            self.problem.emit(f"Cannot play {os.path.basename(self.path or '')}: {text}")

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
        if not os.path.exists(path):
            self.problem.emit(f"{path} is not there any more (moved or deleted?)")
            return False
        self.path = path
        self._player.setSource(QUrl.fromLocalFile(path))
        if start_s > 0:
            self._player.setPosition(int(start_s * 1000))
        self._player.play()
        return True

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()

    def is_playing(self) -> bool:
        if self._player is None:
            return False
        from PySide6.QtMultimedia import QMediaPlayer

        return self._player.playbackState() == QMediaPlayer.PlaybackState.PlayingState

    def toggle(self, path: str | None) -> bool:
        """Stop when this file plays, else play it. Returns whether it now plays."""
        if self.is_playing() and path == self.path:
            self.stop()
            return False
        return self.play(path)
