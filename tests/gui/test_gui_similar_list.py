"""The inspector's similar-sounds list: what it says while empty, and that it empties when
the table leaves its similar-sounds view (screenshot review, offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from app.gui.player import Player


@pytest.fixture
def window(qtbot, qapp, session, monkeypatch):
    from app.gui import theme
    from app.gui.main_window import MainWindow

    theme.apply_theme("dark", qapp)  # the app's look (its muted colour is exact)
    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    w = MainWindow(session, Player())
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    session.reload()
    qtbot.waitUntil(lambda: w.library.table.rowCount() > 0, timeout=10_000)
    w.inspector.autoplay.setChecked(False)
    QApplication.processEvents()
    yield w
    theme.apply_theme("system", qapp)  # as the other tests expect it
    assert session.engine.wait_idle()
    qtbot.waitUntil(lambda: not session.engine.pending(), timeout=10_000)


def _ids(session) -> dict[str, int]:
    return {str(session.rows.name[i]): int(session.rows.ids[i]) for i in range(len(session.rows))}


def _colours(widget) -> set[str]:
    image = widget.grab().toImage()
    return {QColor(image.pixel(x, y)).name() for x in range(image.width())
            for y in range(image.height())}


def test_the_empty_similar_list_says_what_fills_it_and_stays_small(qtbot, window) -> None:
    """Review: before any search the list was a big empty box, no words. It now names the
    command that fills it, in the muted colour, and is only as tall as that text; filled,
    it takes the pane's spare height again."""
    from app.gui.inspector import SIMILAR_PLACEHOLDER
    from app.gui.theme import tokens

    inspector = window.inspector
    lst = inspector.similar_list
    assert lst.count() == 0 and lst.placeholder == SIMILAR_PLACEHOLDER
    assert "Find similar (Ctrl+Shift+F)" in SIMILAR_PLACEHOLDER
    shortcut = next(a.shortcut().toString() for a in window.findChildren(type(
        window.menuBar().actions()[0])) if a.text().replace("&", "") == "Find similar")
    assert f"({shortcut})" in SIMILAR_PLACEHOLDER
    QApplication.processEvents()
    # the words are drawn, in the theme's muted text colour
    muted = tokens().muted
    assert lst.palette().placeholderText().color().name() == muted
    assert muted in _colours(lst.viewport())
    assert lst.accessibleDescription() == SIMILAR_PLACEHOLDER
    # small: as tall as its words, far less than the pane's spare height
    empty_height = lst.height()
    assert empty_height <= lst.placeholder_height() < 6 * lst.fontMetrics().height()
    session = window.session
    session.select([_ids(session)["kick03.wav"]], None)
    window.find_similar()
    qtbot.waitUntil(lambda: lst.count() > 3, timeout=20_000)
    QApplication.processEvents()
    assert lst.accessibleDescription() == ""
    assert lst.height() > 2 * empty_height  # filled: room for its files
    assert muted not in _colours(lst.viewport())  # the files, not the placeholder


def test_leaving_the_similar_view_clears_its_list_and_status_message(qtbot, window) -> None:
    """Review: after going back from similar sounds to every file, the status bar still
    said "20 similar sounds to …" and the inspector still listed them. Every way out of
    the view (Esc, "All files", a class shown, a file chosen outside it) clears both; a
    message said since then stays."""
    from PySide6.QtCore import Qt

    from app.gui.inspector import SIMILAR_PLACEHOLDER

    session, table = window.session, window.library.table
    lst, status = window.inspector.similar_list, window.status_text
    ids = _ids(session)
    kick = ids["kick03.wav"]

    def find() -> None:
        session.select([kick], None)
        window.find_similar()
        qtbot.waitUntil(lambda: table.similar is not None and lst.count() > 3, timeout=20_000)
        assert "similar sound" in status.text() and "kick03.wav" in status.text()

    def left() -> None:
        assert table.similar is None
        assert lst.count() == 0 and lst.accessibleDescription() == SIMILAR_PLACEHOLDER
        assert "similar sound" not in status.text()

    find()
    window.library.setFocus()
    qtbot.keyClick(window.library, Qt.Key.Key_Escape)
    left()
    find()
    window.similar_bar.button.click()
    left()
    find()
    window._show_node("Drums/Kick")
    left()
    find()
    outside = next(s for name, s in ids.items() if name.startswith("bass")
                   and s not in table.similar)
    session.select([outside], None)
    left()
    # a message said after the search is not the search's: it stays
    find()
    window.show_message("Saved")
    window.similar_bar.button.click()
    assert lst.count() == 0 and status.text() == "Saved"
