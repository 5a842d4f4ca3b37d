"""Class colours: distinct per top-level class, grey for no class, stable for stale ones."""

from __future__ import annotations

from app.gui.colors import NO_CLASS, PALETTE, node_color, top_colors


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
    for special in ("", "unknown", "uncertain"):
        assert node_color(special, colors).name() == NO_CLASS
    # a class no longer in the tree: a stable colour of its own, not a palette one
    stale = node_color("Gone/x", colors)
    assert stale.name() == node_color("Gone", colors).name()
    assert stale.name() not in PALETTE
