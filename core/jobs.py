"""The one interface every long job shares: a progress callback and a cancel token.

A job calls ``progress(Progress(...))`` as it goes and checks ``cancel`` between
steps. The CLI renders progress as a bar; the GUI will forward it to its worker
thread's signal. Nothing here knows about either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """A job's state: ``done`` of ``total`` units (files, for a scan) at ``rate`` per second."""

    stage: str
    done: int
    total: int
    rate: float = 0.0
    eta_s: float | None = None
    message: str = ""


ProgressCallback = Callable[[Progress], None]


def no_progress(_progress: Progress) -> None:
    """A callback that ignores progress."""


class CancelToken:
    """Set from any thread; the job notices at its next check and stops cleanly."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


class RateMeter:
    """Units per second over a sliding window, and the ETA it implies."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._marks: list[tuple[float, int]] = []

    def update(self, done: int) -> float:
        now = time.monotonic()
        self._marks.append((now, done))
        while len(self._marks) > 2 and now - self._marks[0][0] > self.window_s:
            self._marks.pop(0)
        t0, d0 = self._marks[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0

    @staticmethod
    def eta(done: int, total: int, rate: float) -> float | None:
        return (total - done) / rate if rate > 0 and total >= done else None
