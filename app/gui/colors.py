"""Class colours: one per top-level class of the tree, the same on the map, in the
legend and on the inspector's timeline.

Colours follow the tree's order, from a qualitative palette of far-apart colours
(Tableau 10 without its grey, which means "no class" here, and three more chosen for
distance from the rest); a tree with more top-level classes than the palette continues
with hues a golden angle apart. A hash of the name (what the app did first) let two
classes land on nearly the same colour.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QColor

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
           "#b07aa1", "#ff9da7", "#9c755f", "#003f5c", "#17becf", "#a0cbe8")

#: no class: unlabeled, unknown or uncertain
NO_CLASS = "#b4b4b4"
SPECIAL = ("", "unknown", "uncertain")


def top_colors(tops: Sequence[str]) -> dict[str, QColor]:
    """A colour for each top-level class name, in tree order."""
    out: dict[str, QColor] = {}
    for i, name in enumerate(tops):
        if i < len(PALETTE):
            out[name] = QColor(PALETTE[i])
        else:
            hue = int((i - len(PALETTE)) * 137.508 + 20) % 360
            out[name] = QColor.fromHsv(hue, 140, 200)
    return out


def node_color(path: str, colors: dict[str, QColor] | None = None) -> QColor:
    """The colour of a label (a tree path with "/"): its top-level class's colour."""
    top = path.split("/")[0] if path else ""
    if top in SPECIAL:
        return QColor(NO_CLASS)
    if colors and top in colors:
        return QColor(colors[top])
    # a class not in the tree any more (a stale label): stable, from its name
    hue = (sum(ord(c) * 31 ** i for i, c in enumerate(top)) * 47) % 360
    return QColor.fromHsv(hue, 60, 190)
