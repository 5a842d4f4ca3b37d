"""Class colours: distinct per top-level class, grey for no class, stable for stale ones."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from app.gui.colors import NO_CLASS, PALETTE, UNKNOWN_COLOR, node_color, top_colors


def _distance(a, b) -> float:
    return sum((x - y) ** 2 for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True)) ** 0.5


def test_top_level_classes_get_far_apart_colours_in_tree_order() -> None:
    tops = [f"class {i}" for i in range(20)]
    colors = top_colors(tops)
    assert list(colors) == tops
    assert [c.name() for c in list(colors.values())[:len(PALETTE)]] == list(PALETTE)
    first = list(colors.values())[:len(PALETTE)]
    # no two palette colours are near each other, nor near the "no class" grey
    assert min(_distance(a, b) for i, a in enumerate(first) for b in first[i + 1:]) > 60
    grey = node_color("")
    assert min(_distance(c, grey) for c in first) > 55
    assert len({c.name() for c in colors.values()}) == 20


def test_a_label_takes_its_top_level_class_colour() -> None:
    colors = top_colors(["Drums", "Brass & Winds"])
    assert node_color("Drums/Kick/808", colors).name() == colors["Drums"].name()
    for special in ("", "uncertain"):
        assert node_color(special, colors).name() == NO_CLASS
    assert node_color("unknown", colors).name() == UNKNOWN_COLOR
    # a class no longer in the tree: a stable colour of its own, not a palette one
    stale = node_color("Gone/x", colors)
    assert stale.name() == node_color("Gone", colors).name()
    assert stale.name() not in PALETTE


def test_unknown_and_uncertain_look_different(qtbot) -> None:
    """Screenshot review: the map's legend drew "uncertain" and "unknown" with one grey
    dot. Unknown (far from every class) is a darker grey than uncertain (a best guess):
    apart in normal vision and for colour-blind eyes (greys stay grey), still readable on
    the dark theme, and no nearer a class's colour than the palette allows."""
    from app.gui import theme
    from tests.gui.test_gui_theme import CVD, _lab_of, contrast, delta_e

    unknown, uncertain = node_color("unknown").name(), node_color("uncertain").name()
    assert unknown != uncertain
    for deficiency in (None, *CVD):
        assert delta_e(_lab_of(unknown, deficiency), _lab_of(uncertain, deficiency)) >= 15
        assert min(delta_e(_lab_of(unknown, deficiency), _lab_of(c, deficiency))
                   for c in PALETTE) >= (20 if deficiency is None else 12)
    assert contrast(unknown, theme.DARK.base) >= 3.0  # WCAG's minimum for graphics
    assert contrast(unknown, theme.LIGHT.base) >= 3.0


def test_map_points_and_legend_tell_unknown_from_uncertain(qtbot, session) -> None:
    """The map draws unknown and uncertain files in their own greys, the legend shows the
    same two, and each legend dot stays on one line with its words ("FX ●" / "uncertain"
    wrapped between them)."""
    from app.gui.map_view import MapView
    from app.gui.player import Player

    view = MapView(session, Player())
    qtbot.addWidget(view)
    view.resize(320, 400)
    view.show()
    view.recompute()
    qtbot.waitUntil(lambda: view.projection is not None, timeout=20_000)
    rows = session.rows
    labels = np.array(["Drums/Kick"] * len(rows), dtype=object)
    labels[:10], labels[10:20] = "unknown", "uncertain"
    rows.label[:] = labels
    view._recolor()
    legend = view.legend.text()
    for word, color in (("unknown", UNKNOWN_COLOR), ("uncertain", NO_CLASS)):
        assert f"color:{color}'>●</span>\u00a0{word}" in legend, legend
    assert "●</span> " not in legend  # no breakable space between a dot and its class
    # the points: each file in its label's grey
    image = view.canvas._render()
    pts = view.canvas.to_screen(view.projection.xy)
    seen = {QColor(image.pixel(round(float(x)), round(float(y)))).name()
            for x, y in pts[view.colors == QColor(UNKNOWN_COLOR).rgba()]}
    assert UNKNOWN_COLOR in seen
    seen = {QColor(image.pixel(round(float(x)), round(float(y)))).name()
            for x, y in pts[view.colors == QColor(NO_CLASS).rgba()]}
    assert NO_CLASS in seen
    # laid out narrow, no line of the legend ends with a dot (its class on the next line)
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setDefaultFont(view.legend.font())
    doc.setHtml(legend)
    wrapped = 0
    for width in range(60, 320, 7):
        doc.setTextWidth(width)
        doc.size()  # lays the text out
        block = doc.begin()
        layout = block.layout()
        text = block.text()
        wrapped += layout.lineCount() > 1
        for i in range(layout.lineCount()):
            line = layout.lineAt(i)
            piece = text[line.textStart():line.textStart() + line.textLength()].rstrip()
            assert not piece.endswith(("●", "○")), (width, piece)
    assert wrapped > 5  # most widths tried are narrow enough to wrap
    assert session.engine.wait_idle()
