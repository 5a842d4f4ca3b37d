"""What the app shows must be true: the waveform, an unreadable file, confidences and
distances, the relabel dialog, formats, playback state, shortcuts, title, map choice
(issue #13, "trust bugs"; offscreen)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PySide6.QtGui import QColor

COLUMNS = 1200


def _column_peaks(signal: np.ndarray, columns: int = COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """Min and max per column, as core.inspect_audio.waveform_peaks computes them."""
    edges = np.linspace(0, len(signal), columns + 1).astype(np.int64)
    mins = np.array([signal[a:b].min() for a, b in itertools.pairwise(edges)])
    maxs = np.array([signal[a:b].max() for a, b in itertools.pairwise(edges)])
    return mins.astype(np.float32), maxs.astype(np.float32)


@pytest.mark.parametrize("width", [1, 2, 7, 97, 300, 301, 380, 599, 600, 1199, 1200, 1500])
def test_a_single_spike_is_drawn_at_any_width(width) -> None:
    from app.gui.inspector import pixel_extents

    mins = np.full(COLUMNS, -0.05, np.float32)
    maxs = np.full(COLUMNS, 0.05, np.float32)
    maxs[601], mins[977] = 1.0, -0.9  # a kick's attack, a negative peak later
    lo, hi = pixel_extents(mins, maxs, width)
    assert len(lo) == len(hi) == width
    assert hi.max() == pytest.approx(1.0) and lo.min() == pytest.approx(-0.9)
    # where it is: the spike's pixel is where its column lies on the time axis
    assert abs(int(np.argmax(hi)) - 601 * width // COLUMNS) <= 1


@pytest.mark.parametrize("width", [120, 380, 500, 799, 1000, 1200, 1600])
def test_a_steady_sine_is_drawn_without_gaps(width) -> None:
    from app.gui.inspector import pixel_extents

    sr = 44100
    t = np.arange(2 * sr) / sr
    mins, maxs = _column_peaks(0.8 * np.sin(2 * np.pi * 55 * t))  # a 55 Hz bass, 2 s
    lo, hi = pixel_extents(mins, maxs, width)
    # every pixel's stroke touches the next one: one continuous shape, no dashes
    # (picking one column per pixel left 279 of 380 neighbours apart)
    assert np.all(np.maximum(lo[1:], lo[:-1]) <= np.minimum(hi[1:], hi[:-1]))
    # and the envelope stays the sine's: nothing drawn beyond its peaks
    assert hi.max() <= 0.8 + 1e-6 and lo.min() >= -0.8 - 1e-6


def test_the_painted_waveform_shows_the_spike(qtbot) -> None:
    from app.gui.inspector import WaveformView
    from core.inspect_audio import Peaks

    view = WaveformView()
    qtbot.addWidget(view)
    view.resize(300, 110)  # 1,200 columns on 300 px: sampling one per pixel skips 601
    mins = np.full(COLUMNS, -0.05, np.float32)
    maxs = np.full(COLUMNS, 0.05, np.float32)
    maxs[601] = 1.0
    view.set_peaks(Peaks(mins, maxs, 2.0, 44100, 1))
    image = view.grab().toImage()
    ink = QColor(view.palette().highlight().color()).rgb()
    top = min((y for x in range(image.width()) for y in range(image.height())
               if image.pixel(x, y) == ink), default=image.height())
    assert top < image.height() * 0.1  # the peak reaches (nearly) the top
