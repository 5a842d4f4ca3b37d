"""Smaller panels of the main window: sources, filters, suggestions, the job bar and the
first-run guide."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from app.gui import dialogs
from app.gui.engine import EngineState, Job, owned
from app.gui.mime import files_mime
from app.gui.session import Session
from app.gui.text import file_in_source, format_name, plural, source_name
from core.browse import UNCERTAIN, UNKNOWN, Filter
from core.classify import ClassifyError
from core.jobs import Progress
from core.paths import display_path

SAMPLE_ID = Qt.ItemDataRole.UserRole + 2
#: the label filter's entry for files that could not be read (not a tree path: has a NUL)
UNREADABLE = "\x00unreadable"


def _button(text: str, tip: str, slot: Any, parent: QWidget) -> QPushButton:
    b = QPushButton(text, parent)
    b.setToolTip(tip)
    b.setAccessibleName(text.rstrip("…"))
    b.clicked.connect(slot)
    return b


class SourcesPanel(QWidget):
    """The library's source folders: add, remove, rescan."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("sourcesPanel")
        self.list = PlaceholderList(self, fit_empty=False)
        self.list.set_placeholder("No sample folders yet: Add… one to scan it")
        self.list.setObjectName("sourcesList")
        self.list.setAccessibleName("Source folders")
        self.list.setToolTip("Folders the library holds; Delete removes one from the library")
        self.add_button = _button("Add…", "Add a folder of samples and scan it (Ctrl+O)",
                                  self.add_folder, self)
        self.add_button.setAccessibleName("Add folder")
        self.remove_button = _button("Remove", "Forget the selected folder (files on disk are "
                                     "not touched)", self.remove_selected, self)
        self.rescan_button = _button("Rescan", "Read what changed in every folder (F5)",
                                     session.rescan, self)
        row = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.rescan_button):
            # a narrow dock (a laptop) keeps all three: no push-button minimum width
            b.setMinimumWidth(b.fontMetrics().horizontalAdvance(b.text()) + 16)
            b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(row)
        session.rootsChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        for root in self.session.roots:
            item = QListWidgetItem(display_path(source_name(root, self.session.roots)))
            item.setToolTip(display_path(root))
            item.setData(Qt.ItemDataRole.UserRole, root)
            self.list.addItem(item)
        self.remove_button.setEnabled(bool(self.session.roots))
        self.rescan_button.setEnabled(bool(self.session.roots))

    def add_folder(self) -> None:
        folder = dialogs.existing_folder(self, "Add a folder of samples")
        if folder:
            self.session.add_folder(folder)

    def remove_selected(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        root = item.data(Qt.ItemDataRole.UserRole)
        answer = QMessageBox.question(
            self, "Remove folder",
            f"Remove {display_path(root)} from the library?\n\nIts files, their labels and "
            "any examples among them are forgotten by Sampletree. Nothing is deleted from "
            "disk; adding the folder again rescans it.")
        if answer == QMessageBox.StandardButton.Yes:
            self.session.remove_folder(root)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Delete:
            self.remove_selected()
            return
        super().keyPressEvent(event)


def natural_width(w: QWidget) -> int:
    """The width a control asks for, within the maximum it was given."""
    return min(w.sizeHint().width(), w.maximumWidth())


class FilterBar(QWidget):
    """Search box and filters of the library table."""

    changed = Signal(object)  # core.browse.Filter

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.search = QLineEdit(self)
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search names, folders, labels…  (Ctrl+F)")
        self.search.setAccessibleName("Search")
        self.search.setClearButtonEnabled(True)
        self.label = QComboBox(self)
        self.label.setObjectName("labelFilter")
        self.label.setAccessibleName("Label filter")
        self.label.setToolTip("Show only files labeled at or below a class")
        self.format = QComboBox(self)
        self.format.setObjectName("formatFilter")
        self.format.setAccessibleName("Format filter")
        self.format.setToolTip("Show only one file format")
        self.confidence = QDoubleSpinBox(self)
        self.confidence.setObjectName("confidenceFilter")
        self.confidence.setAccessibleName("Minimum confidence")
        self.confidence.setToolTip("Hide files labeled with less confidence than this")
        self.confidence.setRange(0, 100)
        self.confidence.setSuffix(" %")
        self.confidence.setDecimals(0)
        self.confidence.setPrefix("≥ ")
        self._analysis_widgets()
        self.examples = QCheckBox("Examples only", self)
        self.examples.setAccessibleName("Examples only")
        self.examples.setToolTip("Show only the files you gave as examples")
        self.count = QLabel(self)
        self.count.setObjectName("rowCount")
        self.count.setAccessibleName("Files shown")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)  # a search per pause in typing, not per key
        self._timer.timeout.connect(self._emit)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        for combo in (self.label, self.format):
            combo.currentIndexChanged.connect(lambda _i: self._emit())
        self.confidence.valueChanged.connect(lambda _v: self._timer.start())
        self.examples.toggled.connect(lambda _b: self._emit())
        self.search.setMinimumWidth(120)
        self.label.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.label.setMinimumContentsLength(12)
        self.format.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for w in (self.label, self.format, self.confidence, self.examples, self.count,
                  self.kind, self.key, self.compatible):
            w.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.setSpacing(4)
        outer.setSizeConstraint(QVBoxLayout.SizeConstraint.SetNoConstraint)
        self.rows = (QHBoxLayout(), QHBoxLayout(), QHBoxLayout())
        for r in self.rows:
            r.setSpacing(6)
            outer.addLayout(r)
        self.outer = outer
        self.two_rows: bool | None = None
        self._arrange(False)
        session.treeChanged.connect(self._fill_labels)
        session.rowsChanged.connect(self._fill_formats)
        self._fill_labels()
        self._fill_formats()

    def _groups(self) -> tuple[list[QWidget], list[QWidget]]:
        """The label filters, and the tempo/key/type/loudness ones (core/analysis)."""
        return ([self.label, self.format, self.confidence, self.examples],
                [self.kind, self.bpm, self.key, self.compatible, self.lufs])

    def _filters(self) -> list[QWidget]:
        """The controls beside the search box (on rows of their own when narrow)."""
        first, second = self._groups()
        return [*first, *second]

    def _row_width(self, widgets: list[QWidget]) -> int:
        m = self.outer.contentsMargins()
        return sum(natural_width(w) for w in widgets) + 6 * (len(widgets) - 1) + \
            m.left() + m.right()

    def one_row_width(self) -> int:
        """The width every control needs on one row at its natural size."""
        m = self.outer.contentsMargins()
        widths = [self.search.minimumWidth()] + \
            [natural_width(w) for w in [*self._filters(), self.count]]
        return sum(widths) + 6 * (len(widths) - 1) + m.left() + m.right()

    def _arrange(self, two_rows: bool) -> None:
        """One row when everything fits; else the search and the count above the
        filters, so that no control is ever clipped ("All forma", "10 of 409 file")."""
        if two_rows == self.two_rows:
            return
        self.two_rows = two_rows
        top, middle, bottom = self.rows
        for layout in self.rows:
            while layout.count():
                layout.takeAt(0)
        top.addWidget(self.search, 1)
        if two_rows:
            top.addWidget(self.count)
            first, second = self._groups()
            # both groups on one row when they fit, else a row each
            together = self.width() >= self._row_width([*first, *second])
            for w in first:
                middle.addWidget(w)
            for w in second:
                (middle if together else bottom).addWidget(w)
            middle.addStretch(1)
            if not together:
                bottom.addStretch(1)
        else:
            for w in [*self._filters(), self.count]:
                top.addWidget(w)
        self.updateGeometry()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        width = event.size().width()
        folded = width < self.one_row_width()
        together = width >= self._row_width(self._filters())
        if folded and self.two_rows and together != getattr(self, "_together", None):
            self.two_rows = None  # re-arrange the filter rows for the new width
        self._together = together
        self._arrange(folded)

    def minimumSizeHint(self) -> Any:
        hint = super().minimumSizeHint()
        hint.setWidth(max(self._row_width(g) for g in self._groups()))
        return hint

    def _fill(self, combo: QComboBox, items: list[tuple[str, Any]]) -> None:
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        for text, data in items:
            combo.addItem(text, data)
        i = combo.findData(current)
        combo.setCurrentIndex(max(i, 0))
        combo.blockSignals(False)
        if i < 0 and current is not None:
            self._emit()

    def _fill_labels(self) -> None:
        items: list[tuple[str, Any]] = [("All labels", None), ("Unlabeled", ""),
                                        ("Unknown", UNKNOWN), ("Uncertain", UNCERTAIN),
                                        ("Unreadable", UNREADABLE)]
        tree = self.session.tree
        if tree is not None:
            for nid in tree.walk():
                depth = tree.depth(nid) - 1
                items.append(("    " * depth + tree.nodes[nid].name, tree.path_str(nid)))
        self._fill(self.label, items)

    def _fill_formats(self) -> None:
        names: dict[str, list[str]] = {}  # WAV and WAVEX are both "WAV"
        for f in sorted({f for f in self.session.rows.format.tolist() if f}):
            names.setdefault(format_name(f), []).append(f)
        self._fill(self.format, [("All formats", None),
                                 *[(n, ",".join(fs)) for n, fs in sorted(names.items())]])

    def show_node(self, path: str) -> None:
        i = self.label.findData(path or None)
        self.label.setCurrentIndex(max(i, 0))

    def current(self) -> Filter:
        label = self.label.currentData()
        fmt = self.format.currentData()
        conf = self.confidence.value() / 100
        if label == UNREADABLE:
            return Filter(text=self.search.text(), status=("error",),
                          formats=tuple(fmt.split(",")) if fmt else (),
                          supports_only=self.examples.isChecked())
        return Filter(text=self.search.text(), label=label or None, unlabeled=label == "",
                      formats=tuple(fmt.split(",")) if fmt else (),
                      min_confidence=conf if conf > 0 else None,
                      supports_only=self.examples.isChecked(),
                      analysis=self._analysis_filter())

    # -- tempo, key, type and loudness (core/analysis) ---------------------------------

    def _analysis_widgets(self) -> None:
        from core.analysis.keys import PITCH_NAMES

        self.kind = QComboBox(self)
        self.kind.setObjectName("typeFilter")
        self.kind.setAccessibleName("Type filter")
        self.kind.setToolTip("Loops or one-shots")
        for text, data in (("Any type", None), ("Loops", "loop"), ("One-shots", "oneshot")):
            self.kind.addItem(text, data)
        self.bpm = QLineEdit(self)
        self.bpm.setObjectName("bpmFilter")
        self.bpm.setAccessibleName("Tempo filter")
        self.bpm.setPlaceholderText("BPM")
        self.bpm.setToolTip("Tempo: 124, or a range such as 120-128 (a loop whose "
                            "half/double-time reading is in range shows too)")
        self.bpm.setMaximumWidth(90)
        self.key = QComboBox(self)
        self.key.setObjectName("keyFilter")
        self.key.setAccessibleName("Key filter")
        self.key.setToolTip("Files in this key (tonal one-shots: by their root note)")
        self.key.addItem("Any key", None)
        for minor in (False, True):
            for pc, name in enumerate(PITCH_NAMES):
                self.key.addItem(name + ("m" if minor else ""), (pc, minor))
        self.compatible = QCheckBox("+ compatible", self)
        self.compatible.setObjectName("compatibleKeys")
        self.compatible.setToolTip("Also the keys that mix well: the relative key and a fifth "
                                   "either way (Camelot wheel)")
        self.lufs = QLineEdit(self)
        self.lufs.setObjectName("lufsFilter")
        self.lufs.setAccessibleName("Loudness filter")
        self.lufs.setPlaceholderText("LUFS")
        self.lufs.setToolTip("Integrated loudness (LUFS): -20:-10 (a range), -14 (within "
                             "1 LU), -20: (louder than -20) or :-10 (quieter than -10)")
        self.lufs.setMaximumWidth(90)
        for combo in (self.kind, self.key):
            combo.currentIndexChanged.connect(lambda _i: self._emit())
        self.compatible.toggled.connect(lambda _b: self._emit())
        for edit in (self.bpm, self.lufs):
            edit.textChanged.connect(lambda _t: self._timer.start())

    def _analysis_filter(self) -> Any:
        """The tempo/key/type/loudness part; a field that does not parse (yet) is shown in
        red and filters nothing."""
        from core.analysis.keys import compatible_keys, key_name
        from core.analysis.query import AnalysisFilter, parse_bpm, parse_db_range
        from core.errors import SampletreeError

        def parsed(edit: QLineEdit, parse: Any) -> Any:
            text = edit.text().strip()
            value = None
            if text:
                try:
                    value = parse(text)
                except SampletreeError:
                    value = None
            edit.setStyleSheet("color: #c0392b;" if text and value is None else "")
            return value

        key = self.key.currentData()
        keys: tuple[str, ...] = ()
        if key is not None:
            keys = tuple(compatible_keys(*key)) if self.compatible.isChecked() \
                else (key_name(*key),)
        return AnalysisFilter(bpm=parsed(self.bpm, parse_bpm), keys=keys,
                              kind=self.kind.currentData(),
                              lufs=parsed(self.lufs, parse_db_range))

    def _emit(self) -> None:
        self._timer.stop()
        self.changed.emit(self.current())

    def set_count(self, shown: int, total: int) -> None:
        self.count.setText(f"{shown:,} of {plural(total, 'file')}" if shown != total
                           else plural(total, "file"))
        self._arrange(self.width() < self.one_row_width())


class _FitWidth(QStyledItemDelegate):
    """Items as wide as the list, not as their text: a narrow dock elides each line in
    the middle (folder start and file name stay) instead of scrolling sideways."""

    def sizeHint(self, option: Any, index: Any) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(10, hint.height())


def fit_list(lst: QListWidget) -> None:
    """Make ``lst`` elide its (possibly two-line) items to its width."""
    lst.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    lst.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    lst.setItemDelegate(_FitWidth(lst))


class PlaceholderList(QListWidget):
    """A list that, with a placeholder, says it in the muted colour while empty and is then
    only as tall as those words (``emptied`` tells the layout holding it when it empties or
    fills); filled, it may grow to ``filled_height``."""

    #: True: the list has no items now (it was cleared); False: it has some again
    emptied = Signal(bool)

    def __init__(self, parent: QWidget | None = None, filled_height: int = 16_777_215,
                 fit_empty: bool = True) -> None:
        super().__init__(parent)
        self.placeholder = ""
        self.filled_height = filled_height
        #: False: the list keeps its height while empty (a dock's only list)
        self.fit_empty = fit_empty
        self._empty = True
        fit_list(self)
        model = self.model()
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(self._fit_empty)

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self._fit_empty()
        self.viewport().update()

    def _placeholder_rect(self) -> Any:
        return self.viewport().rect().adjusted(6, 4, -6, -4)

    def placeholder_height(self) -> int:
        """How tall the empty list must be to show its placeholder at its width."""
        width = max(self.width() - 2 * self.frameWidth() - 12, 40)
        flags = int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap)
        text = self.fontMetrics().boundingRect(0, 0, width, 10_000, flags, self.placeholder)
        return text.height() + 8 + 2 * self.frameWidth()

    def _fit_empty(self, *_args: Any) -> None:
        """The height for the placeholder while empty; without one (it was set to "") an
        empty list keeps the height it had, a filled one may grow to ``filled_height``."""
        empty = self.count() == 0
        if self.fit_empty and (self.placeholder or not empty):
            self.setMaximumHeight(self.placeholder_height() if empty else self.filled_height)
        self.setAccessibleDescription(self.placeholder if empty else "")
        if empty != self._empty:
            self._empty = empty
            self.emptied.emit(empty)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self.fit_empty and self.placeholder and self.count() == 0:
            height = self.placeholder_height()  # the words wrap anew at a new width
            if height != self.maximumHeight():
                self.setMaximumHeight(height)

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        if self.count() or not self.placeholder:
            return
        p = QPainter(self.viewport())
        p.setPen(self.palette().placeholderText().color())  # the theme's muted text
        p.drawText(self._placeholder_rect(),
                   int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap), self.placeholder)
        p.end()


class FileList(PlaceholderList):
    """A list of library files that can be dragged out (to the tree, a DAW…), with a
    placeholder while empty (:class:`PlaceholderList`). Items without a file (a group's
    header, "Searching…") carry no ``SAMPLE_ID``."""

    def __init__(self, session: Session, parent: QWidget | None = None,
                 fit_empty: bool = True) -> None:
        super().__init__(parent, fit_empty=fit_empty)
        self.session = session
        self.setDragEnabled(True)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.itemSelectionChanged.connect(self._selected)

    def ids(self, items: list[QListWidgetItem]) -> list[int]:
        return [int(i.data(SAMPLE_ID)) for i in items if i.data(SAMPLE_ID) is not None]

    def mimeData(self, items: list[QListWidgetItem]) -> QMimeData:
        ids = self.ids(items)
        return files_mime(ids, [self.session.path_of(s) or "" for s in ids])

    def mimeTypes(self) -> list[str]:
        from app.gui.mime import SAMPLE_IDS

        return ["text/uri-list", SAMPLE_IDS]

    def _selected(self) -> None:
        ids = self.ids(self.selectedItems())
        if ids:
            self.session.select(ids, self)


class SuggestionsPanel(QWidget):
    """'Label these next': the least certain files, refreshed with the labels."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.list = FileList(session, self, fit_empty=False)
        self.list.setObjectName("suggestions")
        self.list.setAccessibleName("Label these next")
        self.list.setToolTip("The files the tree is least sure about: drag them onto the "
                             "right class")
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Suggestions note")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.note)
        layout.addWidget(self.list, 1)
        session.rowsChanged.connect(self.refresh)

    def _say(self, text: str) -> None:
        """``text`` above the files, or inside the empty list (not a line over a blank
        box)."""
        self.note.setText(text)
        empty = self.list.count() == 0
        self.note.setVisible(not empty)
        self.list.set_placeholder(text if empty else "")

    def refresh(self) -> None:
        name = self.session.tree_name
        rows = self.session.rows
        # a bundled tree's built-in examples label the library from the first scan: its
        # least certain files are where teaching helps most
        source, off = self.session.builtins
        builtins_on = source is not None and not off
        if name is None or not (rows.support.any() or builtins_on):
            self.list.clear()
            self._say("Suggestions appear once the tree has examples.")
            return
        classes = set(rows.label[rows.support].tolist())
        if len(classes) < 2 and not builtins_on:
            # with one class every file is that class at 100 %: nothing is uncertain yet
            self.list.clear()
            only = next(iter(classes), "").replace("/", " › ")
            self._say(f"Every example is in one class ({only}), so every file matches it "
                      "and none is less certain than another. Give a second class a few "
                      "examples to get suggestions.")
            return

        def work(state: EngineState) -> list[tuple[int, float]]:
            try:
                return state.classifier.suggest(name, 25)
            except ClassifyError:
                return []

        self.session.engine.call(work, done=self._show, key="suggest", owner=self)

    def _show(self, got: list[tuple[int, float]]) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        index = self.session.row_index()
        rows = self.session.rows
        roots = [display_path(r) for r in self.session.roots]
        for sid, conf in got:
            r = index.get(sid)
            if r is None:
                continue
            label = rows.leaf[r].replace("/", " › ") or "uncertain"
            name = file_in_source(display_path(rows.path[r]), roots)
            if rows.label[r] == UNKNOWN:  # far from every class: a percentage means nothing
                item = QListWidgetItem(f"{name}\n    unknown (nearest: {label})")
            else:
                item = QListWidgetItem(f"{name}\n    {label}? {conf * 100:.0f} %")
            item.setData(SAMPLE_ID, sid)
            item.setToolTip(str(rows.path[r]))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._say("Least certain files: drag each onto its class." if self.list.count()
                  else "Every file is labeled with confidence.")


class SimilarBar(QWidget):
    """Above the table while it shows a file's similar sounds: what it shows, and the way
    back to every file (Esc in the table too)."""

    back = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("similarBar")
        self.text = QLabel(self)
        self.text.setObjectName("similarText")
        self.text.setAccessibleName("Similar sounds view")
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.button = QPushButton("All files", self)
        self.button.setObjectName("similarBack")
        self.button.setAccessibleName("Back to all files")
        self.button.setToolTip("Back to every file (Esc in the table)")
        self.button.clicked.connect(self.back)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        row.addWidget(self.text, 1)
        row.addWidget(self.button)
        self.setVisible(False)

    def show_for(self, name: str, nearest: int, shown: int, have: int) -> None:
        """``nearest`` files were found like ``name``; ``shown`` of the ``have`` (it and
        them, as the library holds them now) pass the filters."""
        hidden = have - shown
        more = f" · the filters hide {hidden}" if hidden > 0 else ""
        self._parts = ("Sounds like ", name,
                       f": it and its {plural(nearest, 'nearest sound')}, closest first{more}")
        self.text.setToolTip("".join(self._parts))
        self.setVisible(True)
        self._fit()

    def _fit(self) -> None:
        """The whole sentence on one line: the file's name gives way (in its middle)."""
        head, name, tail = getattr(self, "_parts", ("", "", ""))
        fm = self.text.fontMetrics()
        room = self.text.width() - fm.horizontalAdvance(head + tail) - 4
        self.text.setText(head + fm.elidedText(name, Qt.TextElideMode.ElideMiddle,
                                               max(room, 60)) + tail)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()


class PreviewBar(QWidget):
    """Preview controls under the table, as in a DAW's browser: auto-play (arrow keys
    audition the list) and the preview volume; both remembered."""

    def __init__(self, session: Session, player: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("previewBar")
        self.session, self.player = session, player
        self.autoplay = QCheckBox("Auto-play", self)
        self.autoplay.setObjectName("previewAutoplay")
        self.autoplay.setAccessibleName("Auto-play on selection")
        self.autoplay.setToolTip("Play each file as it is selected: Up and Down audition "
                                 "the list")
        self.autoplay.setChecked(session.settings.autoplay())
        self.autoplay.toggled.connect(self._autoplay)
        self.volume = QSlider(Qt.Orientation.Horizontal, self)
        self.volume.setObjectName("previewVolume")
        self.volume.setAccessibleName("Preview volume")
        self.volume.setRange(0, 100)
        self.volume.setPageStep(10)
        self.volume.setFixedWidth(110)
        self.volume.setValue(round(session.settings.volume() * 100))
        self.volume.valueChanged.connect(self._volume)
        self.volume_text = QLabel(self)
        self.volume_text.setObjectName("volumeText")
        self.volume_text.setMinimumWidth(self.volume_text.fontMetrics().horizontalAdvance("100 %"))
        hint = QLabel("Space plays · ↑ ↓ audition", self)
        hint.setObjectName("previewHint")
        hint.setEnabled(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        row.addWidget(hint)
        row.addStretch(1)
        row.addWidget(self.autoplay)
        row.addSpacing(12)
        row.addWidget(QLabel("Volume", self))
        row.addWidget(self.volume)
        row.addWidget(self.volume_text)
        self._volume(self.volume.value(), save=False)

    def _autoplay(self, on: bool) -> None:
        self.session.settings.setValue("audio/autoplay", on)

    def _volume(self, value: int, save: bool = True) -> None:
        self.volume_text.setText(f"{value} %")
        self.volume.setToolTip(f"Preview volume: {value} %")
        self.player.set_volume(value / 100)
        if save:
            self.session.settings.setValue("audio/volume", value / 100)


#: the engine's stage names (core.jobs.Progress.stage) as the status bar says them
STAGE_WORDS = {"walk": "finding files", "diff": "comparing with the library",
               "decode": "analyzing", "plan": "planning", "relabel": "done",
               "undo": "undone"}


def stage_text(name: str, p: Progress) -> str:
    """"Scan: analyzing 129 of 714 files · 137 a second, 4 s left": a job's progress in
    words (the core's stage names, "decode 129/714 · 136.8/s", are the code's)."""
    stage = STAGE_WORDS.get(p.stage, p.stage)
    if not p.total:
        return f"{name}: {stage}…"
    rate = f" · {p.rate:,.0f} a second" if p.rate and p.rate >= 1 else ""
    eta = "" if p.eta_s is None else (f", {p.eta_s:.0f} s left" if p.eta_s < 90 else
                                      f", {p.eta_s / 60:.0f} min left")
    return f"{name}: {stage} {p.done:,} of {plural(p.total, 'file')}{rate}{eta}"


class JobBar(QWidget):
    """Progress of the running job, with a Cancel button (lives in the status bar)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.text = QLabel(self)
        self.text.setAccessibleName("Job status")
        self.bar = QProgressBar(self)
        self.bar.setAccessibleName("Job progress")
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel job")
        self.cancel_button.setToolTip("Stop the running job; what it finished is kept (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.text)
        row.addWidget(self.bar)
        row.addWidget(self.cancel_button)
        self.job: Job | None = None
        self.last: Progress | None = None
        self.setVisible(False)
        session.jobStarted.connect(self.attach)

    def attach(self, job: Job) -> None:
        self.job = job
        self.last = None
        self.text.setText(f"{job.name}: starting…")
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.setVisible(True)
        job.progress.connect(self._progress)
        # the job may outlive this bar (a window closed while it stops): dropped then
        job.finished.connect(owned(self, lambda r, j=job: self._end(j, r, None)))
        job.failed.connect(owned(self, lambda m, j=job: self._end(j, None, m)))
        job.cancelled.connect(owned(self, lambda j=job: self._end(j, j.result, "cancelled")))

    def _progress(self, p: Progress) -> None:
        self.last = p
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        else:
            self.bar.setRange(0, 0)
        self.text.setText(stage_text(self.job.name if self.job else "", p))

    def cancel(self) -> None:
        if self.job is not None and not self.job.done:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.text.setText(f"{self.job.name}: stopping after the current batch…")

    def _end(self, job: Job, result: Any, problem: str | None) -> None:
        if job is not self.job:
            return
        self.setVisible(False)
        if problem == "cancelled":
            self.session.message.emit(f"{job.name} cancelled; what it finished is kept"
                                      + _summary(result))
        elif problem:
            self.session.problem.emit(f"{job.name} failed: {problem}")
        else:
            self.session.message.emit(f"{job.name} finished" + _summary(result))


def _summary(result: Any) -> str:
    if result is None or not hasattr(result, "found"):
        return ""
    to_read = result.new + result.changed
    read = result.decoded + result.failed
    if getattr(result, "cancelled", False) and read < to_read:
        # what the walk found is not what was read: say how far it got
        return (f" ({read:,} of {plural(to_read, 'file')} to read were read; "
                f"Rescan reads the rest, {result.seconds:.1f} s)")
    parts = [plural(result.found, "file"), f"{result.new:,} new"]
    if result.changed:
        parts.append(f"{result.changed:,} changed")
    if changed := getattr(result, "examples_changed", None):
        parts.append(f"{plural(len(changed), 'example')} changed on disk since taught "
                     "(check them: the tree learns from the new audio)")
    if getattr(result, "reembedded", 0):
        parts.append(f"{result.reembedded:,} embedded again by the new network")
    if result.moved:
        parts.append(f"{result.moved:,} moved")
    if result.missing:
        parts.append(f"{result.missing:,} missing")
    if result.failed:
        parts.append(f"{result.failed:,} unreadable")
    return f" ({', '.join(parts)}, {result.seconds:.1f} s)"


class Welcome(QWidget):
    """The first-run guide, shown while the library has no source folder."""

    def __init__(self, add_folder: Any, open_demo: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        title = QLabel("<h2>Welcome to Sampletree</h2>", self)
        steps = QLabel(
            "<ol>"
            "<li><b>Add a folder of samples.</b> Sampletree listens to every file "
            "(WAV, AIFF, FLAC, OGG, MP3…), finds loops, tempo and key, and labels it at once "
            "with the bundled producer tree (Drums › Kick, Keys › Piano, Loops…); "
            "◦ marks a label that rests on the tree's built-in examples.</li>"
            "<li><b>Teach it where it is wrong:</b> drag a file onto its class in the class "
            "tree (\u201cLabel these next\u201d lists the least certain ones). The whole "
            "library is labeled again at once. Or start your own tree: New tree…</li>"
            "<li><b>Audition</b> (Space, ↑ ↓), <b>filter</b> by tempo, key and type, "
            "<b>find similar</b>, then <b>relabel</b> folders in batch — with undo.</li>"
            "</ol>", self)
        steps.setWordWrap(True)
        steps.setAccessibleName("Getting started")
        self.add_button = _button("Add a folder of samples…", "Choose a folder to scan (Ctrl+O)",
                                  add_folder, self)
        self.demo_button = _button("Try the demo library", "Scan the small demo library that "
                                   "comes with Sampletree", open_demo, self)
        # a column of reading width in the middle, its text aligned left: centred lines
        # of a numbered list, 750 px long at 1600 px, read badly
        self.column = QWidget(self)
        self.column.setObjectName("welcomeColumn")
        self.column.setMaximumWidth(90 * self.fontMetrics().averageCharWidth())
        inner = QVBoxLayout(self.column)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(title)
        inner.addWidget(steps)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        inner.addLayout(buttons)
        self.steps = steps
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.column, 8)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
