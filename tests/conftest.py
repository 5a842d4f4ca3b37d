"""Shared fixtures: real audio files made with numpy + soundfile, a fresh library."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

# pytest-qt aborts without a display; the GUI tests run offscreen by default.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WriteAudio = Callable[..., Path]


def tone(seconds: float, sr: int, channels: int = 1, freq: float = 440.0,
         amp: float = 0.5, seed: int = 0) -> np.ndarray:
    """A sine plus a little noise, shape (frames, channels), float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sr)) / sr
    mono = amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


@pytest.fixture
def write_audio(tmp_path: Path) -> WriteAudio:
    """``write_audio("a/b.flac", seconds=1.5, sr=44100, channels=2, subtype=None)`` → path."""

    def _write(rel: str, seconds: float = 1.0, sr: int = 44_100, channels: int = 1,
               subtype: str | None = None, freq: float = 440.0, amp: float = 0.5,
               seed: int = 0, root: Path | None = None) -> Path:
        path = (root or tmp_path / "samples") / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), tone(seconds, sr, channels, freq, amp, seed), sr, subtype=subtype)
        return path

    return _write


@pytest.fixture
def library_path(tmp_path: Path) -> Path:
    return tmp_path / "lib" / "library.sqlite"


@pytest.fixture
def library(library_path: Path):
    from core.library import Library

    lib = Library(library_path)
    yield lib
    lib.close()


@pytest.fixture(scope="session")
def untrained_model():
    """A small randomly initialised network: plumbing tests only, never the app."""
    from models import NetworkConfig, build_untrained

    return build_untrained(network=NetworkConfig(channels=16), device="cpu")
