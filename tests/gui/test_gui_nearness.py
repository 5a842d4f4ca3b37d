"""How near two sounds are, in words: the inspector's nearest examples and similar sounds
(screenshot review: every row read "3.19 (close)", twenty times the same word, and an empty
"Nearest examples" box 150 px tall)."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from app.gui.panels import SAMPLE_ID
from app.gui.player import Player

NUMBER = re.compile(r"\d\.\d")


def test_finer_grades_of_close_keep_the_old_bounds() -> None:
    """Close (no farther than two examples of a class: the spread) and far (beyond the
    unknown bound) keep their bounds; "near" is now "related"; within the spread two finer
    grades: a quarter of it (edited copies of one recording) and 1/√2 (nearer each other
    than an example is to its class's middle)."""
    from app.gui.text import NEARNESS, nearness

    spread, bound = 2.0, 5.0
    assert nearness(0.5, spread, bound) == "almost the same"  # 0.25 of the spread
    assert nearness(0.51, spread, bound) == "very close"
    assert nearness(1.41, spread, bound) == "very close"  # 2 / √2 = 1.414
    assert nearness(1.42, spread, bound) == "close"
    assert nearness(1.5, spread, bound) == "close"
    assert nearness(2.0, spread, bound) == "close"
    assert nearness(2.01, spread, bound) == "related"
    assert nearness(5.0, spread, bound) == "related"
    assert nearness(5.01, spread, bound) == "far"
    # without a spread no finer grade can be told: within the bound is all it says
    assert nearness(0.01, None, bound) == "related"
    # without a bound: far beyond twice the spread, as before
    assert nearness(4.0, spread, None) == "related" and nearness(4.1, spread, None) == "far"
    assert NEARNESS == ("almost the same", "very close", "close", "related", "far")


@pytest.fixture
def inspector(qtbot, session, synth_library, monkeypatch):
    from app.gui.inspector import Inspector

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    ids = synth_library[1]
    for node, kind in {"Drums/Kick": "kick", "Drums/Snare": "snare"}.items():
        session.teach(session.tree.find(node).id, [ids[f"{kind}{i:02d}.wav"] for i in range(3)])
    qtbot.waitUntil(lambda: int(session.rows.support.sum()) == 6 and session.rows.label.all(),
                    timeout=20_000)
    w = Inspector(session, Player())
    qtbot.addWidget(w)
    w.autoplay.setChecked(False)
    yield w
    assert session.engine.wait_idle()


def test_nearest_examples_say_how_near_in_words_the_number_in_the_tooltip(
        qtbot, inspector, synth_library) -> None:
    from app.gui.text import NEARNESS

    inspector.session.select([synth_library[1]["kick07.wav"]], None)
    lst = inspector.nearest
    qtbot.waitUntil(lambda: lst.count() > 0, timeout=10_000)
    for item in (lst.item(i) for i in range(lst.count())):
        first = item.text().split("\n")[0]
        assert not NUMBER.search(item.text()), item.text()  # was "Drums › Kick · 1.07 (close)"
        assert first.rsplit(" · ", 1)[1] in NEARNESS, first
        tip = item.toolTip()
        assert re.search(r"Distance \d+\.\d\d \(", tip), tip
        assert "Two examples of a class usually lie" in tip and "unknown beyond" in tip, tip


def test_similar_sounds_name_each_grade_once_over_its_run(qtbot, inspector,
                                                          synth_library) -> None:
    """The similar list is closest first: a muted header names each run of equally near
    files (not "(close)" on each of twenty rows); the rows carry no number, their tooltip
    does. The headers are neither selectable nor draggable, and arrow keys step over them."""
    from app.gui.text import NEARNESS, nearness

    inspector.session.select([synth_library[1]["kick03.wav"]], None)
    qtbot.waitUntil(lambda: inspector._spread is not None, timeout=10_000)
    inspector.find_similar()
    lst = inspector.similar_list
    qtbot.waitUntil(lambda: lst.count() > 3 and lst.item(0).text() != "Searching…",
                    timeout=20_000)
    items = [lst.item(i) for i in range(lst.count())]
    files = [i for i in items if i.data(SAMPLE_ID) is not None]
    headers = [i for i in items if i.data(SAMPLE_ID) is None]
    assert len(files) == 20
    said = [h.text() for h in headers]
    # kicks (close to the kick), snares (a class away), the bass (beyond the bound)
    assert len(said) >= 2 and len(set(said)) == len(said), said
    order = [w.capitalize() for w in NEARNESS]
    assert said == sorted(said, key=order.index), said  # nearest grade first
    muted = lst.palette().placeholderText().color().name()
    current = None
    for item in items:
        if item.data(SAMPLE_ID) is None:
            current = item.text()
            assert item.flags() == Qt.ItemFlag.NoItemFlags
            assert item.foreground().color().name() == muted
            assert item.toolTip().startswith(f"{current}: ")
            continue
        assert not NUMBER.search(item.text()) and "(close)" not in item.text(), item.text()
        distance = float(re.search(r"Distance (\d+\.\d\d)", item.toolTip()).group(1))
        word = nearness(distance, inspector._spread, inspector._bound)
        assert current == word.capitalize(), (item.text(), distance, current)
    assert items[0].data(SAMPLE_ID) is None  # the first row's grade is said above it
    # arrow keys walk the files, never stopping on a header
    lst.setFocus()
    lst.setCurrentItem(files[0])
    seen = []
    for _ in range(len(files) - 1):
        qtbot.keyClick(lst, Qt.Key.Key_Down)
        seen.append(lst.currentItem().data(SAMPLE_ID))
    assert seen == [f.data(SAMPLE_ID) for f in files[1:]]
    assert lst.ids(lst.selectedItems()) == [files[-1].data(SAMPLE_ID)]
    assert lst.ids(headers) == []  # nor is a row without a file ("Searching…") one


def test_the_empty_nearest_examples_box_says_why_and_stays_small(qtbot, qapp, session,
                                                                 synth_library,
                                                                 monkeypatch) -> None:
    """Review: with nothing to show, "Nearest examples" was an empty box 150 px tall. It
    now says what fills it, in the muted colour, and is only as tall as those words;
    filled, it is as tall as before (at most 150 px)."""
    from app.gui import theme
    from app.gui.inspector import NEAREST_NO_FILE, NEAREST_PLACEHOLDER, Inspector

    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    theme.apply_theme("dark", qapp)
    try:
        inspector = Inspector(session, Player())
        qtbot.addWidget(inspector)
        inspector.autoplay.setChecked(False)
        inspector.resize(330, 900)
        inspector.show()
        qtbot.waitExposed(inspector)
        ids = synth_library[1]
        session.select([ids["kick05.wav"]], None)  # the tree has no examples yet
        QApplication.processEvents()
        lst = inspector.nearest
        assert lst.count() == 0 and lst.placeholder == NEAREST_PLACEHOLDER
        assert lst.accessibleDescription() == NEAREST_PLACEHOLDER
        muted = theme.tokens().muted
        image = lst.viewport().grab().toImage()
        assert muted in {QColor(image.pixel(x, y)).name() for x in range(image.width())
                         for y in range(image.height())}
        empty = lst.height()
        assert empty <= lst.placeholder_height() < 5 * lst.fontMetrics().height()
        assert empty < 100  # was 150
        for node, kind in {"Drums/Kick": "kick", "Drums/Snare": "snare"}.items():
            session.teach(session.tree.find(node).id,
                          [ids[f"{kind}{i:02d}.wav"] for i in range(3)])
        qtbot.waitUntil(lambda: int(session.rows.support.sum()) == 6, timeout=20_000)
        assert session.engine.wait_idle()  # the labels refreshed: the list reloaded
        qtbot.waitUntil(lambda: lst.count() > 0, timeout=20_000)
        QApplication.processEvents()
        assert lst.accessibleDescription() == ""
        filled = lst.height()
        assert empty < filled <= 150
        # another file: emptied while its examples are compared, but no smaller meanwhile
        # (no jump at each file)
        session.select([ids["snare05.wav"]], None)
        assert lst.count() == 0 and lst.maximumHeight() == 150
        qtbot.waitUntil(lambda: lst.count() > 0, timeout=10_000)
        QApplication.processEvents()
        assert lst.height() == filled
        # no file selected, the tree taught: the box says what it shows for a file, and
        # the captioned rows of a file are not left blank
        session.select([], None)
        QApplication.processEvents()
        assert lst.count() == 0 and lst.placeholder == NEAREST_NO_FILE
        assert not inspector.form.isRowVisible(inspector.label)
        assert not inspector.form.isRowVisible(inspector.info)
        session.select([ids["kick05.wav"]], None)
        QApplication.processEvents()
        assert inspector.form.isRowVisible(inspector.label) and inspector.label.text()
    finally:
        theme.apply_theme("system", qapp)
        assert session.engine.wait_idle()
