"""The app's look: a dark theme by default (light, or the system's, as chosen in Settings).

One place for the colours every widget shares, so that panels and delegates drawn by
hand (waveforms, the map, thumbnails) read them from here rather than hard-coding grey:
:func:`tokens` gives the current theme's named colours; :func:`apply_theme` sets Qt's
Fusion style, a full palette and a small style sheet on the application.

The dark palette follows the browsers producers use (Ableton's browser, XO, Sononym):
near-black panels, a slightly lighter table, one accent colour for the selection,
text at a contrast ratio of at least 7:1 against its background (WCAG AAA) and muted
text at least 4.5:1.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("dark", "light", "system")
DEFAULT_THEME = "dark"


@dataclass(frozen=True)
class Tokens:
    """Named colours of one theme (hex strings)."""

    name: str
    window: str  # panels, docks, menus
    base: str  # tables, lists, text fields, the map and waveform backgrounds
    alt_base: str  # every other table row
    header: str  # table headers, dock title bars
    text: str
    muted: str  # secondary text: unlabeled, units, hints
    border: str
    accent: str  # selection, focus, progress
    accent_text: str  # text on the accent colour
    wave: str  # waveforms drawn on ``base``
    playhead: str
    problem: str  # unreadable files, errors

    @property
    def dark(self) -> bool:
        return QColor(self.base).lightnessF() < 0.5


DARK = Tokens(name="dark", window="#1f2024", base="#26272c", alt_base="#2b2c32",
              header="#2f3036", text="#e8e8ea", muted="#a4a6ad", border="#3a3b42",
              accent="#3470cc", accent_text="#ffffff", wave="#8fb8f0", playhead="#ff5a4e",
              problem="#ff8a80")
LIGHT = Tokens(name="light", window="#eceef1", base="#ffffff", alt_base="#f5f6f8",
               header="#e3e5e9", text="#1c1d21", muted="#5f6169", border="#c9ccd2",
               accent="#2f6fd0", accent_text="#ffffff", wave="#2f6fd0", playhead="#d9342b",
               problem="#b3261e")

_current: Tokens | None = None
_system: tuple[str, QPalette, str] | None = None  # style, palette, style sheet at start


def tokens() -> Tokens:
    """The current theme's colours (the system theme: taken from the app's palette)."""
    if _current is not None:
        return _current
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return _from_palette(app.palette())
    return DARK


def _from_palette(pal: QPalette) -> Tokens:
    role = QPalette.ColorRole
    base = pal.color(role.Base)
    dark = base.lightnessF() < 0.5
    like = DARK if dark else LIGHT
    return Tokens(name="system", window=pal.color(role.Window).name(), base=base.name(),
                  alt_base=pal.color(role.AlternateBase).name(),
                  header=pal.color(role.Button).name(), text=pal.color(role.Text).name(),
                  muted=pal.color(role.PlaceholderText).name(), border=like.border,
                  accent=pal.color(role.Highlight).name(),
                  accent_text=pal.color(role.HighlightedText).name(), wave=like.wave,
                  playhead=like.playhead, problem=like.problem)


def palette(t: Tokens) -> QPalette:
    """A complete QPalette for ``t`` (every role, the disabled group included)."""
    pal = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    c = QColor
    for r, value in ((role.Window, t.window), (role.WindowText, t.text), (role.Base, t.base),
                     (role.AlternateBase, t.alt_base), (role.ToolTipBase, t.header),
                     (role.ToolTipText, t.text), (role.PlaceholderText, t.muted),
                     (role.Text, t.text), (role.Button, t.header), (role.ButtonText, t.text),
                     (role.BrightText, "#ffffff"), (role.Highlight, t.accent),
                     (role.HighlightedText, t.accent_text), (role.Link, t.accent),
                     (role.LinkVisited, t.accent), (role.Light, t.border),
                     (role.Midlight, t.header), (role.Mid, t.border), (role.Dark, t.window),
                     (role.Shadow, "#000000")):
        pal.setColor(r, c(value))
    for r in (role.WindowText, role.Text, role.ButtonText):
        pal.setColor(group.Disabled, r, c(t.muted))
    pal.setColor(group.Disabled, role.Highlight, c(t.border))
    # an inactive window keeps its selection colour (a DAW beside it has the focus)
    pal.setColor(group.Inactive, role.Highlight, c(t.accent).darker(115 if t.dark else 105))
    pal.setColor(group.Inactive, role.HighlightedText, c(t.accent_text))
    return pal


def stylesheet(t: Tokens) -> str:
    """A few rules the palette cannot express: flat headers and dock titles, slim
    scroll bars, the filter bar's compact controls."""
    return f"""
QMainWindow::separator {{ background: {t.window}; width: 4px; height: 4px; }}
QMainWindow::separator:hover {{ background: {t.accent}; }}
QDockWidget::title {{ background: {t.header}; padding: 3px 6px; text-align: left; }}
QHeaderView::section {{ background: {t.header}; color: {t.muted}; border: none;
    border-right: 1px solid {t.border}; border-bottom: 1px solid {t.border};
    padding: 3px 6px; }}
QTableView, QTreeView, QListView {{ border: 1px solid {t.border};
    selection-background-color: {t.accent}; selection-color: {t.accent_text}; }}
QTableView {{ gridline-color: {t.border}; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ background: {t.window}; color: {t.muted}; padding: 4px 14px;
    border: none; border-bottom: 2px solid transparent; }}
QTabBar::tab:selected {{ color: {t.text}; border-bottom: 2px solid {t.accent}; }}
QTabBar::tab:hover {{ color: {t.text}; }}
QMainWindow > QTabBar::tab {{ padding: 4px 8px; }}
QToolTip {{ background: {t.header}; color: {t.text}; border: 1px solid {t.border}; }}
QStatusBar {{ color: {t.muted}; }}
QStatusBar::item {{ border: none; }}
QLabel#rowCount {{ color: {t.muted}; }}
QLabel#fileProblem {{ color: {t.problem}; }}
QCheckBox::indicator, QTreeView::indicator, QListView::indicator,
QTableView::indicator {{ width: 12px; height: 12px; border: 1px solid {t.muted};
    border-radius: 3px; background: {t.base}; }}
QCheckBox::indicator:checked, QTreeView::indicator:checked, QListView::indicator:checked,
QTableView::indicator:checked {{ background: {t.accent}; border-color: {t.accent};
    image: none; }}
QCheckBox::indicator:indeterminate, QTreeView::indicator:indeterminate,
QListView::indicator:indeterminate {{ background: {t.muted}; }}
QCheckBox::indicator:disabled {{ border-color: {t.border}; }}
QScrollBar:vertical {{ background: {t.base}; width: 10px; margin: 0; }}
QScrollBar:horizontal {{ background: {t.base}; height: 10px; margin: 0; }}
QScrollBar::handle:vertical, QScrollBar::handle:horizontal {{ background: {t.border};
    border-radius: 4px; min-height: 24px; min-width: 24px; }}
QScrollBar::handle:hover {{ background: {t.muted}; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
"""


def apply_theme(name: str, app: QApplication | None = None) -> str:
    """Apply theme ``name`` (dark, light or system) to the application; returns the name
    applied (an unknown name falls back to the default)."""
    global _current, _system
    app = app or QApplication.instance()  # type: ignore[assignment]
    if not isinstance(app, QApplication):
        return name
    if name not in THEMES:
        name = DEFAULT_THEME
    if _system is None:
        _system = (app.style().name(), QPalette(app.palette()), app.styleSheet())
    if name == "system":
        style, pal, sheet = _system
        app.setStyle(style)
        app.setPalette(pal)
        app.setStyleSheet(sheet)
        _current = None
        return name
    t = DARK if name == "dark" else LIGHT
    app.setStyle("Fusion")
    app.setPalette(palette(t))
    app.setStyleSheet(stylesheet(t))
    _current = t
    return name


def current_name() -> str:
    return _current.name if _current is not None else "system"
