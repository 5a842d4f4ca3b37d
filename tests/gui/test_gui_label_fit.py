"""A narrow Label column keeps the class, not the group (review of 2026-11-30: the table
showed "Brass & Winds › Woo…" and "Drums › Kick …", cutting the class and the ★)."""

from __future__ import annotations

import pytest

from app.gui.text import fit_label


def _w(text: str) -> int:  # one pixel a character
    return len(text)


@pytest.mark.parametrize(("text", "width", "want"), [
    ("Brass & Winds › Woodwinds", 40, "Brass & Winds › Woodwinds"),  # fits: as is
    ("Brass & Winds › Woodwinds", 20, "… › Woodwinds"),
    ("Drums › Kick  ★", 14, "… › Kick  ★"),
    ("~ Strings › Solo Strings ◦", 22, "~ … › Solo Strings ◦"),
    ("Abc › B › Electric Piano", 22, "… › B › Electric Piano"),
    ("Abc › B › Electric Piano", 21, "… › Electric Piano"),
    ("Brass & Winds › Woodwinds ◦", 8, "Woodw… ◦"),  # even the class does not fit
    ("uncertain", 5, "unce…"),
])
def test_a_label_loses_its_groups_first(text: str, width: int, want: str) -> None:
    got = fit_label(text, _w, width)
    assert got == want
    assert len(got) <= max(width, 2)


def test_the_table_shows_the_class_in_a_narrow_label_column(qtbot, session,
                                                             synth_library) -> None:
    from PySide6.QtWidgets import QStyleOptionViewItem

    from app.gui.library_table import TABLE_COLUMNS
    from tests.gui.test_gui_browse import _window

    _path, ids = synth_library
    window = _window(qtbot, session, (1024, 700))
    view = window.library
    kick = session.tree.require("Drums/Kick").id
    session.teach(kick, [ids["kick00.wav"]])
    qtbot.waitUntil(lambda: session.counts.get(kick, (0, 0))[0] == 1, timeout=10_000)
    column = TABLE_COLUMNS.index("label")
    model = view.model()
    r = next(r for r in range(model.rowCount())
             if model.index(r, 0).data() == "kick00.wav")
    index = model.index(r, column)
    assert index.data() == "Drums › Kick  ★"
    fm = view.fontMetrics()
    short = "… › Kick  ★"
    # the widest column where the whole label no longer fits
    for width in range(300, 20, -1):
        view.setColumnWidth(column, width)
        option = QStyleOptionViewItem()
        option.initFrom(view)
        option.rect = view.visualRect(index)
        view.itemDelegateForColumn(column).initStyleOption(option, index)
        if option.text != index.data():
            break
    assert fm.horizontalAdvance(short) < fm.horizontalAdvance(index.data())
    assert option.text == short  # was "Drums › Ki…" (the mark cut too)


def test_a_search_that_matches_nothing_says_so_in_the_table(qtbot, session) -> None:
    """Review of 2026-11-30: a search with no match left a blank table, "0 of 72 files"
    in a corner the only hint."""
    from PySide6.QtGui import QImage

    from app.gui.library_table import LibraryView
    from core.browse import Filter

    view = LibraryView(session)
    qtbot.addWidget(view)
    view.resize(700, 400)
    view.show()
    view.table.set_rows(session.rows)

    def ink() -> int:  # pixels of the viewport that differ from its background
        view.viewport().repaint()
        img = view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        bg = img.pixel(img.width() - 2, img.height() - 2)
        return sum(img.pixel(x, y) != bg for x in range(0, img.width(), 2)
                   for y in range(0, min(img.height(), 120), 2))

    view.table.set_filter(Filter(text="no-such-sound-anywhere"))
    assert view.table.rowCount() == 0
    assert ink() > 50  # the message is drawn


def test_a_name_with_a_newline_stays_on_one_line() -> None:
    """Trust review: "Label these next" showed a file named "new\\nline.wav" on two lines
    (Linux names may hold any character but / and NUL)."""
    from app.gui.text import file_in_source

    assert file_in_source("/lib/s/new\nline.wav", ["/lib"]) == "s/new\\nline.wav"
    assert file_in_source("new\tline.wav", []) == "new\\tline.wav"
    assert file_in_source("/lib/s/Kick 01.wav", ["/lib"]) == "s/Kick 01.wav"  # as it was
