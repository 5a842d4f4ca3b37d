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
    # by slimmer dock tabs, not a wider dock: the table keeps its room
    assert window.docks["tree"].width() <= 215


def test_class_names_two_levels_down_fit_the_laptop_dock(qtbot, synth_library, settings,
                                                         dark) -> None:
    """The bundled producer tree at 1024 px: with 20 px a level, "Electric Bass",
    "Acoustic Bass", "Electric Guitar" and "Electric Piano" read "Electric B…" and so on."""
    from app.gui.session import Session
    from core import trees
    from core.library import Library

    path, _ids = synth_library
    with Library(path) as lib:
        trees.create_tree(lib, "Producer", from_default="producer")
    s = Session(path, settings)
    s.reload()
    qtbot.waitUntil(lambda: s.loaded, timeout=10_000)
    s.set_tree("Producer")
    try:
        window = _window(qtbot, s, (1024, 700))
        qtbot.waitUntil(lambda: window.tree_panel.model.rowCount() > 0, timeout=10_000)
        QApplication.processEvents()
        view, model = window.tree_panel.view, window.tree_panel.model
        fm = view.fontMetrics()
        widths = {}

        def walk(parent) -> None:
            for r in range(model.rowCount(parent)):
                index = model.index(r, 0, parent)
                widths[index.data()] = (view.visualRect(index).width(),
                                        fm.horizontalAdvance(index.data()) + 8)
                walk(index)

        walk(view.rootIndex())
        for name in ("Electric Bass", "Acoustic Bass", "Electric Guitar", "Electric Piano"):
            room, need = widths[name]
            assert room >= need, (name, room, need)
    finally:
        s.close()


def test_job_progress_is_said_in_words_not_stage_names() -> None:
    """The status bar read "Scan: decode 129/714 · 136.8/s, 4 s left"."""
    from app.gui.panels import stage_text
    from core.jobs import Progress

    text = stage_text("Scan", Progress("decode", 129, 714, 136.8, 4.2))
    assert text == "Scan: analyzing 129 of 714 files · 137 a second, 4 s left"
    assert stage_text("Scan", Progress("walk", 2000, 0)) == "Scan: finding files…"
    long = stage_text("Scan", Progress("decode", 129, 100_000, 40.0, 2496.0))
    assert long.endswith("· 40 a second, 42 min left"), long
    assert "diff" not in stage_text("Scan", Progress("diff", 0, 714))
    # a stage the app already words is said as it is
    assert stage_text("Map (t-SNE)", Progress("projecting with t-SNE", 0, 0)) == \
        "Map (t-SNE): projecting with t-SNE…"


def test_a_deletion_without_backup_says_so_without_the_variable_name() -> None:
    """A class deleted with backups off ended its message "(no backup:
    SAMPLETREE_BACKUPS=0)"."""
    from app.gui.session import _backup_words

    assert _backup_words(None) == " (no backup: backups are switched off)"


@pytest.fixture
def first_run(qtbot, tmp_path, monkeypatch):
    """The window on a new, empty library (what a user sees first)."""
    from app.gui import open_window
    from app.gui.settings import Settings

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    w = open_window(tmp_path / "new.sqlite", Settings(tmp_path / "s.ini"))
    qtbot.addWidget(w)
    w.resize(1024, 700)
    w.show()
    qtbot.waitUntil(lambda: w.session.loaded, timeout=10_000)
    yield w
    w.session.close()


def test_empty_boxes_of_a_new_library_say_what_goes_there(first_run) -> None:
    """The Sources list and the tree chooser were blank boxes on the first run."""
    w = first_run
    sources = w.sources.list
    assert sources.count() == 0
    assert "Add" in sources.placeholder
    # painted while empty, and the dock's list keeps its height (no gap under it)
    assert sources.maximumHeight() > 1000
    assert sources.accessibleDescription() == sources.placeholder
    chooser = w.tree_panel.chooser
    assert chooser.count() == 0 and chooser.currentIndex() == -1
    assert chooser.placeholderText() == "No tree yet"
    # the placeholders do not widen the laptop's 215-px dock (the table's room)
    assert w.tree_panel.minimumSizeHint().width() <= 215
    assert w.sources.minimumSizeHint().width() <= 215
    # "Label these next": its words inside the empty list, not over a blank box
    panel = w.suggestions
    assert panel.list.count() == 0
    assert panel.list.placeholder == "Suggestions appear once the tree has examples."
    assert panel.note.isHidden()


def test_the_guide_is_a_left_aligned_column_of_reading_width(first_run) -> None:
    """At 1600 px the guide's numbered steps were centred lines 750 px long."""
    from PySide6.QtCore import Qt

    w = first_run
    w.resize(1600, 1000)
    QApplication.processEvents()
    guide = w.welcome
    assert guide.isVisible()
    assert not guide.steps.alignment() & Qt.AlignmentFlag.AlignHCenter
    assert guide.column.width() <= 100 * guide.fontMetrics().averageCharWidth()
    # and it stays in the middle of the window's centre
    left = guide.column.geometry().left()
    right = guide.width() - guide.column.geometry().right()
    assert abs(left - right) < 0.2 * guide.width()


def test_help_lists_every_menu_shortcut(first_run) -> None:
    """Help › Keyboard shortcuts left out Duplicates (Ctrl+Shift+D), Open library
    (Ctrl+Shift+O), Settings (Ctrl+,) and Getting started (F1)."""
    from PySide6.QtGui import QKeySequence

    from app.gui.main_window import SHORTCUTS

    listed: set[str] = set()
    for keys, _what in SHORTCUTS:
        for part in keys.replace(" … ", " / ").split(" / "):
            listed.add(part.split(" (")[0])
    listed |= {"Ctrl+4", "Ctrl+5"}  # "Ctrl+3 … Ctrl+6"
    missing = []

    def walk(menu) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu())
            elif action.shortcuts():
                names = {k.toString(QKeySequence.SequenceFormat.PortableText)
                         for k in action.shortcuts()}
                if not names & listed and "Ctrl+Q" not in names:  # Quit: known to all
                    missing.append((action.text(), names))

    for top in first_run.menuBar().actions():
        walk(top.menu())
    assert not missing


def test_the_shortcuts_dialog_shows_every_row_without_scrolling(qtbot, first_run) -> None:
    from app.gui.dialogs_shortcuts import ShortcutsDialog
    from app.gui.main_window import SHORTCUTS

    # a list some rows longer than today's (the fixed 640×560 scrolled at 21 rows on a
    # desktop's fonts, at about 28 in the tests' smaller ones)
    dialog = ShortcutsDialog(SHORTCUTS + SHORTCUTS[:8], first_run)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    QApplication.processEvents()
    assert not dialog.table.verticalScrollBar().isVisible()
    screen = dialog.screen().availableGeometry().height()
    assert dialog.height() <= 0.9 * screen  # and within the screen


def test_the_map_says_how_many_files_not_its_method_and_timing(qtbot, session) -> None:
    """The map's status read "714 files · PCA · 0.0 s": the method is the combo box beside
    it, the seconds are the code's."""
    window = _window(qtbot, session, (1280, 800))
    window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.map.projection is not None, timeout=10_000)
    text = window.map.status.text()
    assert text.startswith("30 files")
    assert "PCA" not in text and " s" not in text.replace("files", "")


def test_settings_rows_are_named_in_a_producers_words(qtbot, settings) -> None:
    """"Window hop" and "Back-off below" are the code's words; the note under the
    thresholds spoke of "the sampletree commands"."""
    from PySide6.QtWidgets import QLabel

    from app.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    words = " ".join(label.text() for label in dialog.findChildren(QLabel)).lower()
    assert "analysis step" in words and "broader label below" in words
    for jargon in ("hop", "back-off", "sampletree commands"):
        assert jargon not in words


def test_a_cancelled_scan_says_how_far_it_got() -> None:
    """Review: a scan cancelled after ~90 of 714 new files said "(714 files, 714 new, …)"."""
    from app.gui.panels import _summary
    from core.scanner import ScanReport

    stopped = ScanReport(roots=["/x"], found=714, new=714, decoded=88, failed=2, seconds=1.3,
                         cancelled=True)
    assert _summary(stopped) == " (90 of 714 files to read were read; Rescan reads the rest, 1.3 s)"
    done = ScanReport(roots=["/x"], found=714, new=714, decoded=712, failed=2, seconds=9.0)
    assert _summary(done) == " (714 files, 714 new, 2 unreadable, 9.0 s)"
