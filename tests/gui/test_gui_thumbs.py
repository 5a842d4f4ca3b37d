"""The table's Wave column: present after Name, painted offscreen by its delegate from the
stored envelopes, which are read lazily for the rows on screen only."""

from __future__ import annotations

import numpy as np
import pytest

from core import thumbnail
from core.browse import COLUMNS
from core.library import Library

SR = 16_000


def _sine_blob(amp: float) -> bytes:
    t = np.arange(SR) / SR
    return thumbnail.envelope_of((amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32))


@pytest.fixture
def with_peaks(synth_library):
    """Envelopes for every file but the bass ones (as if those were never rescanned)."""
    path, ids = synth_library
    with Library(path) as lib, lib.transaction() as conn:
        thumbnail.write_peaks(conn, [(sid, _sine_blob(0.8)) for name, sid in ids.items()
                                     if not name.startswith("bass")])
    return ids


def _view(qtbot, session, height: int = 160):
    from app.gui.library_table import LibraryView

    view = LibraryView(session)
    qtbot.addWidget(view)
    view.resize(900, height)
    view.show()
    view._on_rows()
    qtbot.waitUntil(lambda: view.table.rowCount() == len(session.rows), timeout=5000)
    return view


def _wave_pixels(view, row: int) -> np.ndarray:
    """RGB of the Wave cell of ``row`` as drawn on screen."""
    col = view.wave.column
    rect = view.visualRect(view.table.index(row, col))
    image = view.viewport().grab(rect).toImage()
    return np.array([[image.pixelColor(x, y).getRgb()[:3] for x in range(image.width())]
                     for y in range(image.height())], dtype=int)


def test_wave_column_is_present_after_confidence(qtbot, session, with_peaks) -> None:
    from PySide6.QtCore import Qt

    view = _view(qtbot, session)
    model = view.table
    assert model.columnCount() == len(COLUMNS) + 1
    col = view.wave.column
    assert model.headerData(col, Qt.Orientation.Horizontal) == "Wave"
    header = view.horizontalHeader()  # right after Confidence
    assert header.visualIndex(col) == header.visualIndex(COLUMNS.index("confidence")) + 1
    assert view.columnWidth(col) >= 80
    # sorting by it is sorting by length, and never fails
    view.sortByColumn(col, Qt.SortOrder.AscendingOrder)
    durations = [float(model.rows.duration[model.view[r]]) for r in range(model.rowCount())]
    assert durations == sorted(durations)


def test_delegate_paints_envelopes_of_visible_rows_only(qtbot, session, with_peaks) -> None:
    from PySide6.QtCore import Qt

    view = _view(qtbot, session, height=160)
    view.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # snares first: they have envelopes
    delegate = view.wave
    view.viewport().grab()  # paint once: the visible rows ask for their envelopes
    qtbot.waitUntil(lambda: len(delegate.store) > 0, timeout=5000)
    view.viewport().grab()
    visible = view.rowAt(view.viewport().height() - 1) - view.rowAt(0) + 1
    total = view.table.rowCount()
    assert 0 < visible < total
    # only what was painted was read (Qt may paint a row or two beyond the edge)
    assert len(delegate.store) <= visible + 2 < total
    assert delegate.store.requests <= 2
    assert delegate.rendered >= 1
    row = view.rowAt(0)
    px = _wave_pixels(view, row)
    background = _wave_pixels(view, row)[0, 0]
    painted = np.abs(px - background).sum(axis=2) > 60
    # a steady tone: painted from the left edge to the right, and over most of the height
    cols = np.flatnonzero(painted.any(axis=0))
    assert cols.min() <= 6 and cols.max() >= px.shape[1] - 7
    rows_painted = np.flatnonzero(painted.any(axis=1))
    assert rows_painted.max() - rows_painted.min() + 1 >= (px.shape[0] - 6) * 0.75  # 3 px margins


def test_rows_without_an_envelope_stay_blank(qtbot, session, with_peaks) -> None:
    view = _view(qtbot, session)
    from PySide6.QtCore import Qt

    view.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # bass files first
    view.viewport().grab()
    qtbot.waitUntil(lambda: len(view.wave.store) > 0, timeout=5000)
    view.viewport().grab()
    name = view.table.rows.name[view.table.view[0]]
    assert str(name).startswith("bass")
    px = _wave_pixels(view, 0)
    assert (np.abs(px - px[0, 0]).sum(axis=2) <= 60).all()
    assert view.wave.store.get(view.table.sample_id(0)) is None


def test_new_envelopes_show_after_a_reload(qtbot, session, synth_library, with_peaks) -> None:
    """After a scan (the session reloads its rows) envelopes are read again."""
    view = _view(qtbot, session)
    from PySide6.QtCore import Qt

    view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    view.viewport().grab()
    sid = view.table.sample_id(0)
    qtbot.waitUntil(lambda: sid in view.wave.store._cache, timeout=5000)
    assert view.wave.store.get(sid) is None
    with Library(synth_library[0]) as lib, lib.transaction() as conn:
        thumbnail.write_peaks(conn, [(sid, _sine_blob(0.5))])
    session.reload()
    qtbot.waitUntil(lambda: view.wave.store.get(sid) is not None, timeout=5000)


def test_render_uses_the_colour_and_the_shape() -> None:
    from PySide6.QtGui import QColor

    red = QColor("#e15759")
    loud = thumbnail.encode(thumbnail.merge([thumbnail.partial(
        np.r_[np.ones(800), np.zeros(800)].astype(np.float32), 0, 0, 1600, 1600)]))
    image = render_image(loud, red)
    mid = image.height() // 2
    left, right = image.pixelColor(5, mid), image.pixelColor(image.width() - 5, mid)
    assert (left.red(), left.green(), left.blue()) == (0xe1, 0x57, 0x59)
    assert left.alpha() == 255
    assert right.alpha() < 255  # silence: only a hairline at the centre…
    assert image.pixelColor(image.width() - 5, mid - 3).alpha() == 0  # …nothing above it
    # the loud half reaches near the top
    assert image.pixelColor(5, 1).alpha() > 0


def render_image(blob: bytes, color):
    from app.gui.thumbs import render

    return render(blob, 100, 20, color)
