"""The library table: a QAbstractTableModel over a :class:`core.browse.Rows` snapshot.

Sorting and filtering are done by :func:`core.browse.select_rows` on the snapshot (a few
milliseconds at 100,000 rows); the model only maps visible rows to snapshot rows, so
Qt never holds per-row objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QIcon,
    QKeySequence,
    QPainter,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QTableView,
    QWidget,
)

from app.gui.colors import node_color
from app.gui.mime import files_mime
from app.gui.session import Session
from app.gui.text import fit_label, folder_in_source, format_name, plain_error
from app.gui.theme import tokens
from app.gui.thumbs import WAVE, install_wave_column, wave_header, wave_sort_as, wave_width
from core.analysis.keys import note_name
from core.browse import (
    COLUMNS,
    SIMILARITY,
    UNCERTAIN,
    UNKNOWN,
    Filter,
    Rows,
    display_label,
    empty_rows,
    select_rows,
)

HEADERS = {"name": "Name", "folder": "Folder", "label": "Label", "confidence": "Conf.",
           "duration": "Length", "format": "Format", "status": "Status",
           "type": "Type", "bpm": "BPM", "key": "Key", "lufs": "LUFS", "peak": "Peak",
           "bits": "Bits", "rate": "Rate", "channels": "Ch", WAVE: wave_header}
#: the headers' words in full (their tooltips)
HEADER_TIPS = {"confidence": "Confidence: how sure the tree is of the label",
               "duration": "Length of the file", "lufs": "Integrated loudness (LUFS)",
               "peak": "Sample peak (dBFS)", "bits": "Bit depth", "rate": "Sample rate",
               "channels": "Channels", "type": "Loop or one-shot",
               "key": "Key (a one-shot's root note)", "bpm": "Tempo (loops)"}
#: natural widths (px at the default font): each header fits with its sort arrow and
#: each value ("100 %", "149.3", "C#m", "One-shot") fits; Name and Label give way on a
#: narrow window
WIDTHS = {"name": 260, "label": 180, "confidence": 60, "duration": 66, "format": 60,
          "folder": 280, "status": 110, "type": 66, "bpm": 52, "key": 48, "lufs": 56,
          "peak": 56, "bits": 45, "rate": 60, "channels": 35}
#: what a producer reads first, in this order from the left (Wave goes after Confidence);
#: the other columns follow in the model's order
LEAD = ("name", "label", "confidence", WAVE, "duration", "bpm", "key", "type")
#: Name keeps this much before the Wave column gives way below its natural width (down
#: to 48 px, then out of the way on a laptop)
NAME_FIRST = 190
#: what the number columns show at their widest, for their least widths on a laptop
COMPACT = {"confidence": ("100 %",), "duration": ("10.00 s", "12:05"),
           "bpm": ("149.3",), "key": ("C#m", "Bbm", "F#2")}
#: pixels a fitted label keeps free of its cell's text room (see _ElideRight)
FIT_SLACK = 4
#: what a Label cell adds to its text: the class dot and the cell's margins (25 px measured
#: with Fusion, and a little room)
LABEL_CHROME = 32
#: what the Status column says for each stored status
STATUS_TEXT = {"ok": "ok", "error": "unreadable", "missing": "missing", "pending": "scanning"}
_ANALYSIS = ("type", "bpm", "key", "lufs", "peak", "bits", "rate", "channels")
#: the snapshot's columns, then the waveform thumbnail (drawn by app/gui/thumbs.py)
TABLE_COLUMNS = (*COLUMNS, WAVE)
_Index = QModelIndex | QPersistentModelIndex


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.2f} s"
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


_DOTS: dict[int, QIcon] = {}


def class_dot(color: QColor) -> QIcon:
    """A small round swatch of a class colour (one icon per colour).

    The same pixmap serves the selected state: left to the style, a selected row's icon is
    tinted with the highlight colour and a dot of a similar hue disappears. A thin
    light-and-dark ring keeps it apart from any highlight or row colour.
    """
    key = color.rgba()
    icon = _DOTS.get(key)
    if icon is None:
        size = 12
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        p = QPainter(pixmap)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(255, 255, 255, 200))
        p.drawEllipse(0, 0, size, size)
        p.setBrush(QColor(0, 0, 0, 200))
        p.drawEllipse(1, 1, size - 2, size - 2)
        p.setBrush(color)
        p.drawEllipse(2, 2, size - 4, size - 4)
        p.end()
        icon = QIcon()
        for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
            icon.addPixmap(pixmap, mode)
        icon = _DOTS[key] = icon
    return icon


class _ElideRight(QStyledItemDelegate):
    """Labels keep their class and marks when narrow ("… › Woodwinds ◦", :func:`fit_label`);
    names and folders keep both ends."""

    def initStyleOption(self, option: Any, index: Any) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight
        if not option.text:
            return
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        room = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, widget)
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, widget) + 1
        fm = option.fontMetrics
        # (a few pixels to spare: under X11 at 1024×700 Qt's drawing cut a bold example's
        # label fitted to the last pixel again, "Brass & Win…  ★" to "Brass & Win… …",
        # losing its mark; seen in the screenshots, where the text's measured widths
        # agree, so the drawn room is a few pixels narrower than this one)
        option.text = fit_label(option.text, fm.horizontalAdvance,
                                room.width() - 2 * margin - FIT_SLACK)


def analysis_cell(rows: Rows, r: int, column: str) -> str:
    """A tempo/key/type/level/header cell; "—" where a scan found nothing to say."""
    if column == "type":
        return {"loop": "Loop", "oneshot": "One-shot"}.get(rows.column("type")[r], "")
    if column == "key":
        key = rows.column("key")[r]
        root = int(rows.column("root")[r])
        if key:
            return key
        return note_name(root) if root >= 0 else ("—" if rows.column("type")[r] else "")
    value = float(rows.column(column)[r])
    if math.isnan(value):
        return "—" if column == "bpm" and rows.column("type")[r] == "loop" else ""
    if column == "bpm":
        return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"
    if column in ("lufs", "peak"):
        return f"{value:.1f}"
    if column == "rate":
        return f"{value / 1000:g} k"
    return f"{value:.0f}"


class LibraryModel(QAbstractTableModel):
    """Visible rows of the snapshot, in the chosen order."""

    #: rows shown, rows in the library
    countChanged = Signal(int, int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: Rows = empty_rows()
        self.view = np.zeros(0, dtype=np.int64)
        self.filter = Filter()
        self.sort_column = "name"
        self.descending = False
        self._muted = QBrush(QColor(tokens().muted))
        self._problem = QBrush(QColor(tokens().problem))
        self._bold = QFont()
        self._bold.setBold(True)
        self.roots: list[str] = []  # source folders (display paths), for the Folder column
        self.colors: dict[str, QColor] = {}  # top-level class → colour (the session's)
        self._folders: dict[int, str] = {}
        #: a "similar sounds" view: the file searched from, then its nearest (None: every
        #: file); the filters still apply on top
        self.similar: tuple[int, ...] | None = None

    def restyle(self) -> None:
        """The theme changed: take its colours."""
        self._muted = QBrush(QColor(tokens().muted))
        self._problem = QBrush(QColor(tokens().problem))
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self.rowCount() - 1, self.columnCount() - 1))

    def set_roots(self, roots: Sequence[str]) -> None:
        from core.paths import display_path

        self.roots = [display_path(r) for r in roots]
        self._folders.clear()
        if self.rowCount():
            c = COLUMNS.index("folder")
            self.dataChanged.emit(self.index(0, c), self.index(self.rowCount() - 1, c))

    def folder_text(self, r: int) -> str:
        """Row ``r``'s folder relative to its source (cached per snapshot)."""
        got = self._folders.get(r)
        if got is None:
            got = self._folders[r] = folder_in_source(str(self.rows.folder[r]), self.roots)
        return got

    # -- contents -------------------------------------------------------------------------

    def set_rows(self, rows: Rows) -> None:
        self.rows = rows
        self._folders.clear()
        self._recompute()

    def set_filter(self, flt: Filter) -> None:
        self.filter = flt
        self._recompute()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(TABLE_COLUMNS):  # no sort column: a similar view's order
            self.sort_column = SIMILARITY if self.similar is not None else "name"
        else:
            self.sort_column = TABLE_COLUMNS[column]
        if self.sort_column == WAVE:
            self.sort_column = wave_sort_as
        self.descending = order == Qt.SortOrder.DescendingOrder
        self._recompute()

    def similar_shown(self) -> tuple[int, int]:
        """In a similar view: the files of it shown (the filters may hide some), and the
        files of it the library still has."""
        if self.similar is None:
            return 0, 0
        have = int(np.isin(self.rows.ids, np.asarray(self.similar, dtype=np.int64)).sum())
        return len(self.view), have

    def _recompute(self) -> None:
        self.beginResetModel()
        flt = self.filter if self.similar is None else replace(self.filter, ids=self.similar)
        self.view = select_rows(self.rows, flt, self.sort_column, self.descending)
        self.endResetModel()
        self.countChanged.emit(len(self.view), len(self.rows))

    def sample_id(self, row: int) -> int:
        return int(self.rows.ids[self.view[row]])

    def sample_ids(self, rows: Sequence[int]) -> list[int]:
        return [int(s) for s in self.rows.ids[self.view[np.asarray(rows, dtype=np.int64)]]]

    def rows_of(self, sample_ids: Sequence[int]) -> list[int]:
        """Visible row of each sample id (ids not shown are left out)."""
        if not len(sample_ids) or not len(self.view):
            return []
        visible_ids = self.rows.ids[self.view]
        hit = np.flatnonzero(np.isin(visible_ids, np.asarray(sample_ids, dtype=np.int64)))
        return hit.tolist()

    # -- QAbstractTableModel ----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.view)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(TABLE_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[TABLE_COLUMNS[section]]
        if orientation == Qt.Orientation.Horizontal and role in (
                Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return HEADER_TIPS.get(TABLE_COLUMNS[section])
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = int(self.view[index.row()])
        column = TABLE_COLUMNS[index.column()]
        if column == WAVE:  # painted by the delegate
            return None
        rows = self.rows
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if column == "label" and rows.status[r] == "error":
                reason = plain_error(rows.error[r]).splitlines()
                return f"unreadable: {reason[0]}" if reason and reason[0] else "unreadable"
            if column == "label":
                text = display_label(rows, r)
                return f"{text}  ★" if rows.support[r] else text
            if column == "confidence":
                c = rows.confidence[r]
                if rows.label[r] == UNKNOWN and not rows.support[r]:
                    return "—"  # far from every class: no probability among them to give
                return "" if math.isnan(c) else f"{c * 100:.0f} %"
            if column == "format":
                return format_name(rows.format[r], str(rows.path[r])) if rows.format[r] \
                    or rows.status[r] != "ok" else ""
            if column == "duration":
                return _duration(float(rows.duration[r]))
            if column == "status":
                return STATUS_TEXT.get(rows.status[r], rows.status[r])
            if column == "folder":
                return self.folder_text(r)
            if column in _ANALYSIS:
                return analysis_cell(rows, r, column)
            return getattr(rows, column)[r]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column in ("status", "label") and rows.status[r] == "error":
                return "This file could not be read" + (
                    f":\n{plain_error(rows.error[r])}" if rows.error[r] else "")
            if column == "label" and rows.label[r]:
                tips = ["Your example" if rows.support[r] else ""]
                if rows.label[r] == UNCERTAIN:
                    tips.append(f"No class is certain; best guess: {rows.leaf[r]}")
                elif rows.backed_off[r] and not rows.support[r]:
                    tips.append(f"Uncertain below this level; best guess: {rows.leaf[r]}")
                return "\n".join(t for t in tips if t) or None
            if column in ("name", "folder"):
                return str(rows.path[r])
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == "label" and rows.label[r] \
                and rows.status[r] == "ok":
            return class_dot(node_color(str(rows.label[r]), self.colors))
        if role == Qt.ItemDataRole.ForegroundRole:
            if rows.status[r] == "error" and column in ("label", "status"):
                return self._problem
            if rows.status[r] != "ok" or (column == "label"
                                          and (rows.label[r] in (UNKNOWN, UNCERTAIN)
                                               or not rows.label[r])):
                return self._muted
            return None
        if role == Qt.ItemDataRole.FontRole and column == "label" and rows.support[r]:
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
                "confidence", "duration", "bpm", "lufs", "peak", "bits", "rate", "channels"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        from app.gui.mime import SAMPLE_IDS

        return ["text/uri-list", "text/plain", SAMPLE_IDS]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> Any:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        ids = self.sample_ids(rows)
        paths = [str(self.rows.path[self.view[r]]) for r in rows]
        return files_mime(ids, paths)

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction | Qt.DropAction.LinkAction


#: what the table says when its filters leave no file
NO_MATCH = ("No file matches the search and filters.\nClear the search box or set the "
            "filters back to All to see every file.")


class LibraryView(QTableView):
    """The table, wired to the session: selection in, selection out, drag out."""

    #: Space or Enter on a file: play (or stop) it
    playRequested = Signal()
    #: the table went into or out of a "similar sounds" view
    similarChanged = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.table = LibraryModel(self)
        self.setModel(self.table)
        self.setObjectName("libraryTable")
        self.setAccessibleName("Library")
        self.setAccessibleDescription("Every file of the library. Enter or Space plays the "
                                      "selected file; drag files onto the class tree to teach.")
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.setTabKeyNavigation(False)
        # "…/Keys/Church Organ (Grand)/042-F#.wav": the start and the end tell files apart
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self._label_delegate = _ElideRight(self)
        self.setItemDelegateForColumn(COLUMNS.index("label"), self._label_delegate)
        vh = self.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 8)
        hh = self.horizontalHeader()
        hh.setSectionsMovable(True)
        hh.setHighlightSections(False)
        self._auto_widths = True  # until the user drags a column edge
        self._sizing = False
        #: what the current tree's longest label needs (px; the natural width until known)
        self._label_need = WIDTHS["label"]
        self.fit_columns()
        hh.setStretchLastSection(True)
        self.wave = install_wave_column(self)
        for i, column in enumerate(LEAD):  # Name, Label, Confidence, Wave, Length, BPM, Key…
            hh.moveSection(hh.visualIndex(TABLE_COLUMNS.index(column)), i)
        hh.sectionResized.connect(self._on_section_resized)
        self._pending_select: list[int] = []
        self._syncing = False
        self.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.modelAboutToBeReset.connect(self._before_reset)
        self.table.modelReset.connect(self._restore_selection)
        session.rowsChanged.connect(self._on_rows)
        session.rootsChanged.connect(lambda: self.table.set_roots(session.roots))
        session.treeChanged.connect(self._on_tree)
        session.selectionChanged.connect(self._on_session_selection)
        self._emit_timer = QTimer(self)
        self._emit_timer.setSingleShot(True)
        self._emit_timer.setInterval(0)
        self._emit_timer.timeout.connect(self._emit_selection)

    def _on_tree(self) -> None:
        self.table.colors = self.session.colors
        self._label_need = self.label_need()
        self.fit_columns()

    def label_need(self) -> int:
        """Width the Label column needs for the current tree's longest label, written as
        an example's (bold, with its star), with the class dot and the cell's margins."""
        tree = self.session.tree
        if tree is None:
            return WIDTHS["label"]
        bold = QFont(self.font())
        bold.setBold(True)
        fm = QFontMetrics(bold)
        texts = [tree.path_str(nid).replace("/", " › ") for nid in tree.walk()]
        widest = max((fm.horizontalAdvance(f"{t}  ★") for t in texts if t), default=0)
        return widest + LABEL_CHROME

    def compact_widths(self) -> dict[str, int]:
        """The least each number column needs on a laptop: its widest usual value, and its
        header with the sort arrow beside it (a sorted header is never cut)."""
        style = self.horizontalHeader().style()
        arrow = style.pixelMetric(QStyle.PixelMetric.PM_HeaderMarkSize) + \
            4 * style.pixelMetric(QStyle.PixelMetric.PM_HeaderMargin)
        fm, hfm = self.fontMetrics(), self.horizontalHeader().fontMetrics()
        return {column: min(WIDTHS[column], max(
            hfm.horizontalAdvance(HEADERS[column]) + arrow,
            max(fm.horizontalAdvance(t) for t in widest) + 10))
            for column, widest in COMPACT.items()}

    def fit_columns(self) -> None:
        """Widths for the viewport: Name, Label and Confidence always fit, then Length, BPM
        and Key. From a 1280-px window every one at its natural width, the Wave column
        narrowing before Name goes below NAME_FIRST; on a laptop (1024 px) the number
        columns take the least they need and the Wave column steps aside (the inspector
        draws the selected file's) before Label goes below what its labels need. Name and
        Label give way last, and the details (Type, Folder, Status…) scroll."""
        wave_column = TABLE_COLUMNS.index(WAVE)
        if not self._auto_widths:
            self.setColumnHidden(wave_column, False)  # the user's widths, every column
            return
        width = self.viewport().width()
        w = dict(WIDTHS)
        share = max(120, width * 0.25)
        numbers = ("confidence", "duration", "bpm", "key")
        fixed = sum(w[c] for c in numbers)
        label_want = min(WIDTHS["label"], self._label_need)
        laptop = width - fixed - NAME_FIRST - min(share, WIDTHS["label"]) - 2 < 48
        if laptop:
            w.update(self.compact_widths())
            fixed = sum(w[c] for c in numbers)
            label = int(max(120, min(label_want, width - fixed - NAME_FIRST - 2)))
            room = width - fixed - NAME_FIRST - label - 2
            wave = int(min(wave_width, room)) if room >= 48 else 0
        else:
            label = int(max(120, min(label_want, share)))
            wave = int(min(wave_width, max(48, width - fixed - NAME_FIRST - label - 2)))
        # no wider than the tree's labels need: the rest goes to Name and Wave
        w["label"] = label
        w["name"] = int(min(WIDTHS["name"], max(140, width - fixed - wave - label - 2)))
        self._sizing = True
        try:
            for column, px in w.items():
                if column in COLUMNS:
                    self.setColumnWidth(COLUMNS.index(column), px)
            self.setColumnHidden(wave_column, wave == 0)
            if wave:
                self.setColumnWidth(wave_column, wave)
        finally:
            self._sizing = False

    def _on_section_resized(self, *_args: Any) -> None:
        if not self._sizing and self.isVisible() and QApplication.mouseButtons():
            self._auto_widths = False  # the user sized a column: keep theirs

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def changeEvent(self, event: Any) -> None:
        from PySide6.QtCore import QEvent

        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.table.restyle()

    def _on_rows(self) -> None:
        self._pending_select = list(self.session.selected)
        self.table.set_rows(self.session.rows)

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        return self.table.sample_ids(rows)

    def _on_selection(self, *_args: Any) -> None:
        if not self._syncing:
            self._emit_timer.start()

    def _emit_selection(self) -> None:
        ids = self.selected_ids()
        current = self.currentIndex()
        if current.isValid() and ids:
            cur = self.table.sample_id(current.row())
            if cur in ids:  # the file the keyboard is on goes first (it is what plays)
                ids.remove(cur)
                ids.insert(0, cur)
        self.session.select(ids, self)

    # -- a "similar sounds" view ------------------------------------------------------------

    def show_similar(self, sample_id: int, nearest: Sequence[int]) -> None:
        """Show the file and its nearest sounds, closest first (as Sononym's or Live's
        similarity search does), keeping the filters; ``show_all`` goes back."""
        hh = self.horizontalHeader()
        if self.table.similar is None:
            self._sort_before = (hh.sortIndicatorSection(), hh.sortIndicatorOrder())
        self.table.similar = (int(sample_id), *(int(i) for i in nearest if i != sample_id))
        self._show_sort(-1, Qt.SortOrder.AscendingOrder)
        self.table.sort_column, self.table.descending = SIMILARITY, False
        self._pending_select = [int(sample_id)]
        self.table._recompute()
        self.scrollToTop()
        self.similarChanged.emit()

    def _show_sort(self, section: int, order: Qt.SortOrder) -> None:
        """The header's sort arrow only: the caller sorts, once (the header's signal would
        sort the table again)."""
        hh = self.horizontalHeader()
        hh.blockSignals(True)
        try:
            hh.setSortIndicator(section, order)
        finally:
            hh.blockSignals(False)

    def show_all(self) -> None:
        """Back from a similar view to every file, in the sort it had, the selection kept
        in view."""
        if self.table.similar is None:
            return
        self.table.similar = None
        section, order = getattr(self, "_sort_before", (0, Qt.SortOrder.AscendingOrder))
        if section < 0:
            section = 0
        self._show_sort(section, order)
        self.table.sort(section, order)
        current = self.currentIndex()
        if current.isValid():
            self.scrollTo(current, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.similarChanged.emit()

    def _before_reset(self) -> None:
        self._syncing = True  # a reset clears the selection: that is not the user's doing

    def _restore_selection(self) -> None:
        ids, self._pending_select = self._pending_select or self.session.selected, []
        if ids:
            self.select_ids(ids, scroll=False)
        self._syncing = False

    def _on_session_selection(self, ids: list[int], source: object) -> None:
        if source is not self:
            if self.table.similar is not None and ids and \
                    not set(ids) <= set(self.table.similar):
                # a file chosen elsewhere ("Label these next", the map) that the similar
                # view does not hold: back to every file, where the table can show it
                self.show_all()
            self.select_ids(ids)

    def select_ids(self, ids: Sequence[int], scroll: bool = True) -> None:
        rows = self.table.rows_of(ids)
        selection = QItemSelection()
        last = self.table.columnCount() - 1
        for r in rows[:5000]:
            selection.select(self.table.index(r, 0), self.table.index(r, last))
        self._syncing = True
        try:
            model = self.selectionModel()
            model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            if rows:
                first = self.table.index(rows[0], 0)
                model.setCurrentIndex(first, QItemSelectionModel.SelectionFlag.NoUpdate)
                if scroll:
                    self.scrollTo(first, QAbstractItemView.ScrollHint.PositionAtCenter)
        finally:
            self._syncing = False

    def copy_selected(self) -> None:
        """The selected files on the clipboard, as files (and their paths as text)."""
        from PySide6.QtWidgets import QApplication

        ids = self.selected_ids()
        if ids:
            paths = [self.session.path_of(s) or "" for s in ids]
            QApplication.clipboard().setMimeData(files_mime(ids, paths))

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        model = self.table
        if model.rowCount() or not len(model.rows):
            return
        # every file filtered away: say so where the rows would be, not only in a corner
        p = QPainter(self.viewport())
        p.setPen(self.palette().placeholderText().color())
        rect = self.viewport().rect().adjusted(24, 24, -24, -24)
        p.drawText(rect, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                             | Qt.TextFlag.TextWordWrap), NO_MATCH)
        p.end()

    def keyPressEvent(self, event: Any) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selected()
            return
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            self.playRequested.emit()
            return
        super().keyPressEvent(event)
