"""Class colours: one per top-level class of the tree, the same on the map, in the
legend, in the table and on the inspector's timeline.

Colours follow the tree's order. The first eight come from a palette chosen for
colour-blind viewers: every pair, and every colour against the grey of "no class",
stays at least 20 CIEDE2000 apart in normal vision and at least 12 apart under
simulated protanopia, deuteranopia and tritanopia (Machado et al. 2009, full severity),
while each keeps a contrast of at least 3.5:1 on the dark theme's table (checked in
tests/gui/test_gui_theme.py). Tableau 10, used before, put two colours 0.7 apart for a
deuteranope and FX pink next to Keys red. A tree with more top-level classes continues
with hues a golden angle apart (distinct in normal vision only: eight is about as many
as colour-blind viewers can tell apart). A hash of the name (what the app did first)
let two classes land on nearly the same colour. Files with no class are grey: unknown a
darker grey than uncertain and unlabeled.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QColor

#: blue, red, lime, magenta, green, salmon, aqua, lavender
PALETTE = ("#0080ff", "#ff1900", "#c9dd15", "#ee00b2", "#009954", "#ffb3a6", "#7bddd8",
           "#cea6ff")

#: no class: unlabeled or uncertain (a best guess below the threshold)
NO_CLASS = "#999999"
#: unknown (far from every class): a darker grey, told apart from uncertain's (15
#: CIEDE2000 in normal vision and under each simulated deficiency, as greys stay grey),
#: still 3:1 on the dark theme's base and at least 20 (12 colour-blind) from each class
UNKNOWN_COLOR = "#707070"
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
        return QColor(UNKNOWN_COLOR if top == "unknown" else NO_CLASS)
    if colors and top in colors:
        return QColor(colors[top])
    # a class not in the tree any more (a stale label): stable, from its name
    hue = (sum(ord(c) * 31 ** i for i, c in enumerate(top)) * 47) % 360
    return QColor.fromHsv(hue, 60, 190)
