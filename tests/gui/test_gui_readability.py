"""Read as a user reads it (a review of the app's screens at 1024×700 to 1600×1000): dock
tabs show their titles whole, empty boxes say what goes there, and the words are a
producer's, not the code's (no environment variable names, no internal stage names)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication, QTabBar

from tests.gui.test_gui_browse import _window


@pytest.fixture
def dark(qapp) -> Iterator[None]:
    """The app's own look (its tab padding, fonts), then back to what other tests expect."""
    from app.gui import theme

    theme.apply_theme("dark", qapp)
    yield
    theme.apply_theme("system", qapp)


def _dock_tab_bars(window) -> list[QTabBar]:
    """The tab bars of tabified docks (not the Library/Map tabs)."""
    return [b for b in window.findChildren(QTabBar)
            if b is not window.tabs.tabBar() and b.isVisible() and b.count() > 1]


def test_dock_tabs_show_their_titles_whole_on_a_laptop(qtbot, session, dark) -> None:
    """At 1024 px "Label these next" shares the class tree's place as a tab; a dock one
    pixel narrower than the two tabs cut the first to "Class tr…"."""
    window = _window(qtbot, session, (1024, 700))
    QApplication.processEvents()
    bars = _dock_tab_bars(window)
    assert bars, "at 1024 px the class tree and its suggestions are tabs"
    for bar in bars:
        for i in range(bar.count()):
            assert bar.tabRect(i).width() >= bar.tabSizeHint(i).width(), bar.tabText(i)
