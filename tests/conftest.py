"""Shared fixtures: real audio files made with numpy + soundfile, a fresh library."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

# pytest-qt aborts without a display; the GUI tests run offscreen by default.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WriteAudio = Callable[..., Path]

#: How long the interpreter may take to exit once pytest is done before the run is
#: declared hung: every thread's stack is printed and the process exits 1, so CI fails
#: with a diagnosis instead of running into its time limit.
EXIT_GRACE_S = 120


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Say (and end) what a test left running: child processes, non-daemon threads."""
    lines: list[str] = []
    try:
        import psutil

        kids = psutil.Process().children(recursive=True)
    except Exception:  # psutil is a dev extra; without it only threads are checked
        kids = []
    for kid in kids:
        try:
            cmd = " ".join(kid.cmdline())
            # multiprocessing's own helpers end when this process does
            if "multiprocessing.resource_tracker" in cmd or "multiprocessing.forkserver" in cmd:
                continue
            lines.append(f"child process {kid.pid}: {cmd[:160]}")
            kid.kill()
        except Exception:
            pass
    for t in threading.enumerate():
        if t is not threading.main_thread() and not t.daemon and t.is_alive():
            lines.append(f"non-daemon thread still running: {t.name}")
    if lines:
        sys.__stderr__.write("\nleft running after the tests:\n  " + "\n  ".join(lines) + "\n")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    faulthandler.dump_traceback_later(EXIT_GRACE_S, exit=True, file=sys.__stderr__)


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
