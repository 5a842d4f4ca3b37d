"""The inspector's nearest examples (screenshot review: an empty "Nearest examples" box
150 px tall)."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from app.gui.player import Player


def test_the_empty_nearest_examples_box_says_why_and_stays_small(qtbot, qapp, session,
                                                                 synth_library,
                                                                 monkeypatch) -> None:
    """Review: with nothing to show, "Nearest examples" was an empty box 150 px tall. It
    now says what fills it, in the muted colour, and is only as tall as those words;
    filled, it is as tall as before (at most 150 px)."""
    from app.gui import theme
    from app.gui.inspector import NEAREST_PLACEHOLDER, Inspector

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
    finally:
        theme.apply_theme("system", qapp)
        assert session.engine.wait_idle()
