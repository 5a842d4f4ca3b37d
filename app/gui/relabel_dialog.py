"""Relabel folders in batch: choose, preview, apply with progress, undo from the history."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.gui import dialogs
from app.gui.engine import Job, owned
from app.gui.session import Session
from app.gui.text import file_in_source, plural
from core.errors import RelabelError
from core.joblock import JobBusy
from core.paths import display_path
from core.relabel import (
    MODES,
    SKIP_REASONS,
    ApplyReport,
    Plan,
    UndoReport,
    apply_batch,
    discard_batch,
    list_batches,
    plan_relabel,
    preview,
    undo_batch,
)
from core.relabel.layout import DEFAULT_LAYOUT, FIELDS, PRESETS, parse_layout, preset_name

#: the class and folder filters' lists: five rows, then they scroll (the preview below
#: keeps room on a laptop screen)
FILTER_HEIGHT = 96
MODE_TEXT = {
    "copy": "Copy each file into the destination folder, sorted as chosen below — your "
            "originals stay where they are",
    "move": "Move each file into the destination folder, sorted as chosen below — the "
            "library follows the files",
    "hardlink": "Hard-link each file into the destination folder, sorted as chosen below "
                "(same drive; takes no extra space)",
    "symlink": "Put links to your files in the destination folder, sorted as chosen below",
    "rename": "Rename each file where it is, its class before its name: 'Kick - BD 01.wav'",
    "sidecar": "Write labels.csv and labels.json into the destination folder; no file is "
               "touched",
}
VERBS = {"copy": "copied", "move": "moved", "hardlink": "hard-linked", "symlink": "linked",
         "rename": "renamed", "sidecar": "listed in the sidecar"}
#: the mode a new batch starts with: copies leave the originals where they are
DEFAULT_MODE = "copy"
#: the file the layout's example line is rendered for (what its fields hold)
EXAMPLE_FILE = ({"label": "Drums/Kick", "leaf": "Kick", "root": "Samples",
                 "relfolder": "Analog Pack/Kicks", "name": "BD 01", "ext": "wav",
                 "confidence": "87", "duration": "0.42", "rate": "44100", "channels": "2",
                 "format": "WAV", "type": "one-shot", "bpm": "", "key": "F#2"}, ".wav")
#: the Sort choice that leaves the layout to the user
CUSTOM = "Custom layout"
#: the modes that place files under DESTINATION by the layout
LAYOUT_MODES = frozenset({"move", "copy", "hardlink", "symlink"})
_Index = QModelIndex | QPersistentModelIndex


class RowsModel(QAbstractTableModel):
    """A read-only table of dicts."""

    def __init__(self, columns: list[tuple[str, str]], parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self.rows: list[dict[str, Any]] = []
        #: (column, full path) → the path as the table shows it (the tooltip keeps it whole)
        self.shorten: Callable[[str, str], str] | None = None

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section][1]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole,
                                               Qt.ItemDataRole.ToolTipRole):
            return None
        column = self.columns[index.column()][0]
        value = self.rows[index.row()].get(column)
        if value is None:
            return ""
        if self.shorten is not None and column in ("src", "dst") and isinstance(value, str) \
                and role == Qt.ItemDataRole.DisplayRole:
            return self.shorten(column, display_path(value))
        if isinstance(value, float):
            return f"{value * 100:.0f} %"
        if self.columns[index.column()][0] == "label" and isinstance(value, str):
            return value.replace("/", " › ")  # as everywhere else in the app
        return display_path(value) if isinstance(value, str) else str(value)


def _stretch(view: QTableView, columns: tuple[int, ...]) -> None:
    """``columns`` share the spare width (paths); the others fit their contents."""
    header = view.horizontalHeader()
    header.setStretchLastSection(False)
    for c in range(view.model().columnCount()):
        header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch if c in columns
                                    else QHeaderView.ResizeMode.ResizeToContents)


def _table(model: QAbstractTableModel, name: str, parent: QWidget) -> QTableView:
    view = QTableView(parent)
    view.setModel(model)
    view.setObjectName(name)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    rows = view.verticalHeader()
    rows.setVisible(False)
    # one line of text a row, as the library table (the style's default was 30 px: three
    # files of a preview in view on a laptop screen)
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setStretchLastSection(True)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a path keeps its file name
    return view


class RelabelDialog(QDialog):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("relabelDialog")
        self.setWindowTitle("Relabel folders")
        self.setAccessibleName("Relabel folders")
        self.resize(980, 640)
        self.setMinimumWidth(600)
        self.plan: Plan | None = None
        self.last_batch_id: int | None = None
        self.job: Job | None = None
        self.last_report: ApplyReport | UndoReport | None = None

        # -- choices
        self.tree = QComboBox(self)
        self.tree.setAccessibleName("Tree")
        self.tree.addItems(session.tree_names)
        if session.tree_name:
            self.tree.setCurrentText(session.tree_name)
        self.tree.currentTextChanged.connect(lambda _t: self._fill_nodes())
        self.mode = QComboBox(self)
        self.mode.setObjectName("mode")
        self.mode.setAccessibleName("Mode")
        for m in MODES:
            self.mode.addItem(m.capitalize() if m != "hardlink" else "Hard link", m)
        # Copy first: the safe choice (originals stay); Move is one click away
        self.mode.setCurrentIndex(self.mode.findData(DEFAULT_MODE))
        self.mode.currentIndexChanged.connect(lambda _i: self._mode_changed())
        self.mode_text = QLabel(self)
        self.mode_text.setWordWrap(True)
        self.mode_text.setAccessibleName("What the mode does")
        # the same height whatever the mode (what the longest description needs at the
        # dialog's width, see resizeEvent): the fields below do not jump when it changes
        self._fit_mode_text()
        self.mode_text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.dest = QLineEdit(self)
        self.dest.setObjectName("destination")
        self.dest.setAccessibleName("Destination folder")
        self.dest.setPlaceholderText("Folder to sort into")
        self.browse = QPushButton("Browse…", self)
        self.browse.setAccessibleName("Choose destination")
        self.browse.clicked.connect(self._browse)
        self.layout_edit = QLineEdit(DEFAULT_LAYOUT, self)
        self.layout_edit.setObjectName("layout")
        self.layout_edit.setAccessibleName("Layout")
        self.layout_edit.setToolTip(
            "Where each file goes under the destination. The default keeps the folder a file "
            "had inside its scanned folder, so same-named files of a sample pack stay apart.\n"
            + "\n".join(f"{{{name}}}: {what}" for name, what in FIELDS.items()))
        self.layout_edit.textChanged.connect(lambda _t: self._layout_changed())
        # the layouts producers ask for, in words; the template beside it is the truth
        self.layout_preset = QComboBox(self)
        self.layout_preset.setObjectName("layoutPreset")
        self.layout_preset.setAccessibleName("Sort into folders")
        for name, layout in PRESETS:
            self.layout_preset.addItem(name, layout)
        self.layout_preset.addItem(CUSTOM, None)
        self.layout_preset.setToolTip("How the files are sorted into folders under the "
                                      "destination; edit the layout beside it for your own")
        self.layout_preset.activated.connect(lambda _i: self._preset_chosen())
        self.layout_error = QLabel(self)
        self.layout_error.setObjectName("layoutError")
        self.layout_error.setAccessibleName("Where a file goes, or what is wrong with the layout")
        self.layout_error.setWordWrap(True)
        # always two lines high, empty or not: the fields below never jump
        self.layout_error.setFixedHeight(2 * self.layout_error.fontMetrics().lineSpacing() + 4)
        self.layout_error.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.min_conf = QDoubleSpinBox(self)
        self.min_conf.setObjectName("minConfidence")
        self.min_conf.setAccessibleName("Minimum confidence")
        self.min_conf.setRange(0, 100)
        self.min_conf.setSuffix(" %")
        self.min_conf.setDecimals(0)
        self.min_conf.setToolTip("Leave files labeled with less confidence where they are")
        self.nodes = QListWidget(self)
        self.nodes.setObjectName("nodes")
        self.nodes.setAccessibleName("Only these classes")
        self.nodes.setToolTip("Tick classes to relabel only files labeled there or below; "
                              "none ticked: every class")
        self.nodes.setMaximumHeight(FILTER_HEIGHT)
        self.folders = QListWidget(self)
        self.folders.setObjectName("folders")
        self.folders.setAccessibleName("Only these folders")
        self.folders.setToolTip("Tick source folders to relabel only files under them; none "
                                "ticked: every folder")
        self.folders.setMaximumHeight(FILTER_HEIGHT)
        for root in session.roots:
            item = QListWidgetItem(display_path(root))
            item.setData(Qt.ItemDataRole.UserRole, root)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.folders.addItem(item)
        self._fill_nodes()

        dest_row = QHBoxLayout()
        dest_row.addWidget(self.dest, 1)
        dest_row.addWidget(self.browse)
        form = QFormLayout()
        form.addRow("Tree", self.tree)
        form.addRow("Mode", self.mode)
        form.addRow("", self.mode_text)
        form.addRow("Destination", dest_row)
        # the minimum confidence beside the layout: one row fewer above the preview
        layout_row = QHBoxLayout()
        layout_row.addWidget(self.layout_preset, 1)
        layout_row.addWidget(self.layout_edit, 1)
        min_caption = QLabel("Minimum confidence", self)
        min_caption.setBuddy(self.min_conf)
        layout_row.addSpacing(12)
        layout_row.addWidget(min_caption)
        layout_row.addWidget(self.min_conf)
        form.addRow("Sort", layout_row)
        form.addRow("", self.layout_error)
        # the two filters side by side: the preview below keeps room on a laptop screen
        only = QHBoxLayout()
        for title, lst in (("Only these classes", self.nodes),
                           ("Only these folders", self.folders)):
            col = QVBoxLayout()
            caption = QLabel(title, self)
            caption.setBuddy(lst)
            col.addWidget(caption)
            col.addWidget(lst)
            only.addLayout(col, 1)
        form.addRow(only)

        # -- preview
        self.preview_model = RowsModel([("src", "Now"), ("dst", "Becomes"), ("label", "Label"),
                                        ("confidence", "Confidence"), ("state", "State")], self)
        self.preview_model.shorten = self._short_path
        #: the destination of the batch shown (its files show under its name)
        self.shown_dest: str | None = None
        self.preview_view = _table(self.preview_model, "previewTable", self)
        self.preview_view.setAccessibleName("Preview")
        _stretch(self.preview_view, (0, 1))  # Now and Becomes share the width
        self.summary = QLabel("Choose what to do, then Preview: nothing changes on disk until "
                              "you Apply.", self)
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Summary")
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Progress")
        self.progress.setVisible(False)
        self.preview_button = QPushButton("&Preview", self)
        self.preview_button.setObjectName("previewButton")
        self.preview_button.setAccessibleName("Preview")
        self.preview_button.clicked.connect(self.preview)
        self.apply_button = QPushButton("&Apply", self)
        self.apply_button.setObjectName("applyButton")
        self.apply_button.setAccessibleName("Apply")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply)
        self.cancel_button = QPushButton("Cancel job", self)
        self.cancel_button.setAccessibleName("Cancel job")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._cancel)
        actions = QHBoxLayout()
        actions.addWidget(self.preview_button)
        actions.addWidget(self.apply_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.progress, 1)

        new_page = QWidget(self)
        left = QVBoxLayout(new_page)
        left.addLayout(form)
        left.addLayout(actions)
        left.addWidget(self.summary)
        left.addWidget(self.preview_view, 1)

        # -- history
        self.history_model = RowsModel([("id", "Batch"), ("when", "When"), ("tree", "Tree"),
                                        ("mode", "Mode"), ("dest", "Destination"),
                                        ("files", "Files"), ("state", "State")], self)
        self.history_view = _table(self.history_model, "historyTable", self)
        self.history_view.setAccessibleName("Batch history")
        _stretch(self.history_view, (4,))  # the destination
        self.history_view.doubleClicked.connect(lambda _i: self._show_batch())
        self.undo_button = QPushButton("&Undo batch…", self)
        self.undo_button.setObjectName("undoButton")
        self.undo_button.setAccessibleName("Undo batch")
        self.undo_button.setToolTip("Put every file of the selected batch back")
        self.undo_button.clicked.connect(lambda: self.undo(self._selected_batch()))
        self.resume_button = QPushButton("&Resume batch", self)
        self.resume_button.setObjectName("resumeButton")
        self.resume_button.setAccessibleName("Resume batch")
        self.resume_button.setToolTip("Finish the selected batch where it stopped (a full "
                                      "disk, a cancel, a closed app): its files not done yet")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(lambda: self.resume(self._selected_batch()))
        self.show_button = QPushButton("Show files", self)
        self.show_button.setAccessibleName("Show the batch's files")
        self.show_button.clicked.connect(self._show_batch)
        hist_page = QWidget(self)
        hist = QVBoxLayout(hist_page)
        hist.addWidget(self.history_view, 1)
        row = QHBoxLayout()
        row.addWidget(self.undo_button)
        row.addWidget(self.resume_button)
        row.addWidget(self.show_button)
        row.addStretch(1)
        hist.addLayout(row)

        self.tabs = QTabWidget(self)
        self.tabs.setAccessibleName("Relabel pages")
        self.tabs.addTab(new_page, "&New batch")
        self.tabs.addTab(hist_page, "&History")
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(close)
        self._mode_changed()
        self.history_view.selectionModel().selectionChanged.connect(
            lambda *_: self._resumable())
        self.refresh_history()

    # -- choices -----------------------------------------------------------------------------

    def _fill_nodes(self) -> None:
        self.nodes.clear()
        tree = self.session.tree if self.tree.currentText() == self.session.tree_name else None
        if tree is None:
            return
        for nid in tree.walk():
            item = QListWidgetItem("    " * (tree.depth(nid) - 1) + tree.nodes[nid].name)
            item.setData(Qt.ItemDataRole.UserRole, tree.path_str(nid))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.nodes.addItem(item)

    def _fit_mode_text(self) -> None:
        """The mode's description as high as the longest one needs at the label's width
        (one line in a 980-px dialog, two or three in a narrow one)."""
        label = self.mode_text
        width = label.width() if label.isVisible() else self.width() - 180
        fm = label.fontMetrics()
        flags = int(Qt.TextFlag.TextWordWrap)
        need = max(fm.boundingRect(0, 0, max(100, width - 4), 10_000, flags, text).height()
                   for text in MODE_TEXT.values())
        label.setFixedHeight(need + 4)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit_mode_text()

    def _mode_changed(self) -> None:
        mode = self.mode.currentData()
        self.mode_text.setText(MODE_TEXT[mode])
        in_place = mode == "rename"
        # disabled, never hidden: the layout stays where it is
        self.dest.setEnabled(not in_place)
        self.browse.setEnabled(not in_place)
        self.dest.setToolTip("Rename works in place: no destination" if in_place else "")
        self.layout_edit.setEnabled(mode in LAYOUT_MODES)
        self.layout_preset.setEnabled(mode in LAYOUT_MODES)
        self._layout_changed()

    def layout_problem(self) -> str | None:
        """What is wrong with the layout typed, or None (also when the mode takes none)."""
        if self.mode.currentData() not in LAYOUT_MODES:
            return None
        text = self.layout_edit.text()
        try:
            parse_layout(text)
        except RelabelError as exc:
            # the layout is right above: the message need not repeat it (two lines fit)
            return str(exc).replace(f'the layout "{text}"', "this layout", 1)
        return None

    def _preset_chosen(self) -> None:
        layout = self.layout_preset.currentData()
        if layout is None:  # Custom: the template is the user's to edit
            self.layout_edit.setFocus()
            self.layout_edit.selectAll()
        else:
            self.layout_edit.setText(layout)

    def example_path(self) -> str | None:
        """Where the example file would go with the layout typed (None if it is wrong)."""
        try:
            parts = parse_layout(self.layout_edit.text()).render(*EXAMPLE_FILE)
        except RelabelError:
            return None
        return "/".join(parts) or None

    def _layout_changed(self) -> None:
        mode = self.mode.currentData()
        text = self.layout_edit.text()
        name = preset_name(text)
        self.layout_preset.setCurrentIndex(self.layout_preset.findText(name or CUSTOM))
        problem = self.layout_problem()
        example = self.example_path() if mode in LAYOUT_MODES and not problem else None
        self.layout_error.setText(
            problem or ("e.g. " + example if example else "") if mode in LAYOUT_MODES
            else f"{mode.capitalize()} takes no layout")
        self.layout_error.setToolTip(self.layout_error.text())  # whole, if cut at 2 lines
        self.apply_button.setEnabled(False)
        self.plan = None

    def _browse(self) -> None:
        folder = dialogs.existing_folder(self, "Destination folder", self.dest.text())
        if folder:
            self.dest.setText(folder)

    def _checked(self, widget: QListWidget) -> list[str]:
        return [widget.item(i).data(Qt.ItemDataRole.UserRole) for i in range(widget.count())
                if widget.item(i).checkState() == Qt.CheckState.Checked]

    # -- jobs --------------------------------------------------------------------------------

    def _run(self, name: str, fn: Any, done: Any) -> Job | None:
        job = self.session.start_job(name, fn)
        if job is None:
            self.summary.setText("Another job is running: wait for it, or cancel it.")
            return None
        self.job = job
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        for b in (self.preview_button, self.apply_button, self.undo_button,
                  self.resume_button):
            b.setEnabled(False)
        job.progress.connect(self._progress)
        # the job outlives the dialog (closing it cancels the job): its end is dropped
        # once the dialog is gone
        job.finished.connect(owned(self, lambda result: self._ended(done, result, None)))
        job.failed.connect(owned(self, lambda text: self._ended(done, None, text)))
        job.cancelled.connect(owned(self, lambda: self._ended(done, job.result, "cancelled")))
        return job

    def _progress(self, p: Any) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(min(p.done, p.total))
        self.progress.setFormat(f"{p.stage} %v/%m" if p.total else p.stage)

    def _ended(self, done: Any, result: Any, problem: str | None) -> None:
        self.job = None
        self.progress.setVisible(False)
        self.cancel_button.setEnabled(False)
        self.preview_button.setEnabled(True)
        self.undo_button.setEnabled(True)
        self._resumable()
        done(result, problem)

    def _cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    # -- preview / apply / undo ----------------------------------------------------------------

    def preview(self) -> None:
        tree, mode = self.tree.currentText(), self.mode.currentData()
        dest = None if mode == "rename" else (self.dest.text().strip() or None)
        if mode != "rename" and not dest:
            self.summary.setText("Choose a destination folder first.")
            return
        problem = self.layout_problem()
        if problem:
            self.summary.setText(f"Fix the layout first: {problem}")
            return
        layout = self.layout_edit.text() if mode in LAYOUT_MODES else None
        min_conf = self.min_conf.value() / 100
        nodes, folders = self._checked(self.nodes) or None, self._checked(self.folders) or None

        def work(lib: Any, progress: Any, cancel: Any) -> tuple[Plan, list[dict[str, Any]]]:
            plan = plan_relabel(lib, tree, mode, dest, min_confidence=min_conf, nodes=nodes,
                                folders=folders, layout=layout, progress=progress,
                                cancel=cancel)
            return plan, preview(lib, plan.batch_id)

        def done(result: Any, problem: str | None) -> None:
            if problem:
                self.summary.setText(f"Cannot plan this batch: {problem}")
                return
            plan, rows = result
            self.plan = plan
            self.last_batch_id = plan.batch_id
            self.shown_dest = dest
            self.preview_model.set_rows(rows)
            skipped = ", ".join(f"{n:,} {SKIP_REASONS.get(k, k)}"
                                for k, n in plan.skipped.items() if n)
            sort = preset_name(plan.layout) if plan.layout else None
            where = (f", {sort[0].lower()}{sort[1:]}" if sort
                     else f" as {plan.layout}" if plan.layout else "")
            self.summary.setText(
                f"Batch {plan.batch_id}: {plural(plan.files, 'file')} will be {VERBS[mode]}"
                + where + (f"; left alone: {skipped}" if skipped else "")
                + ". Nothing has changed yet.")
            self.apply_button.setEnabled(plan.files > 0)
            self.refresh_history()

        self._run("Relabel preview", work, done)

    def apply(self) -> None:
        if self.plan is None:
            return
        batch = self.plan.batch_id

        def work(lib: Any, progress: Any, cancel: Any) -> tuple[ApplyReport, list[dict]]:
            try:
                report = apply_batch(lib, batch, progress=progress, cancel=cancel)
            except JobBusy:  # a scan or relabel runs (here, or a `sampletree` command):
                discard_batch(lib, batch)  # refused before any step; as the CLI does,
                raise  # the batch goes (the dialog asks for a new preview anyway)
            return report, preview(lib, batch)

        def done(result: Any, problem: str | None) -> None:
            self.plan = None
            self.apply_button.setEnabled(False)
            self._show_result(result, f"Batch {batch} failed: {problem}", _apply_text)

        self._run("Relabel", work, done)

    def _show_result(self, result: Any, failed: str, text: Callable[[Any], str],
                     show_rows: bool = False) -> None:
        """A job's end: its report in the summary and its batch's rows in the preview, or
        ``failed``; the history and the library read again."""
        if result is None:
            self.summary.setText(failed)
        else:
            report, rows = result
            self.last_report = report
            self.preview_model.set_rows(rows)
            self.summary.setText(text(report))
            if show_rows:
                self.tabs.setCurrentIndex(0)
        self.refresh_history()
        self.session.reload()

    def resume(self, batch_id: int | None) -> None:
        """Finish a batch that stopped part way (as ``sampletree relabel --resume``)."""
        if batch_id is None:
            self.summary.setText("Select a batch in the history first.")
            return
        self.shown_dest = self._batch_dest(batch_id) or self.shown_dest

        def work(lib: Any, progress: Any, cancel: Any) -> tuple[ApplyReport, list[dict]]:
            report = apply_batch(lib, batch_id, progress=progress, cancel=cancel)
            return report, preview(lib, batch_id)

        def done(result: Any, problem: str | None) -> None:
            self._show_result(result, f"Batch {batch_id} did not resume: {problem}",
                              _apply_text, show_rows=True)

        self._run("Relabel", work, done)

    def _resumable(self) -> None:
        """Resume is for a batch that stopped part way (failed or cancelled)."""
        rows = self.history_view.selectionModel().selectedRows()
        state = self.history_model.rows[rows[0].row()].get("state") if rows else None
        self.resume_button.setEnabled(self.job is None and state in ("failed", "cancelled"))

    def undo(self, batch_id: int | None) -> None:
        if batch_id is None:
            self.summary.setText("Select a batch in the history first.")
            return
        answer = QMessageBox.question(
            self, "Undo batch",
            f"Undo batch {batch_id}? Moved and renamed files go back where they were; copies, "
            "links and sidecars are removed if unchanged (a changed one is kept and "
            "reported). Nothing is lost.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.undo_now(batch_id)

    def undo_now(self, batch_id: int) -> None:
        self.shown_dest = self._batch_dest(batch_id) or self.shown_dest
        def work(lib: Any, progress: Any, cancel: Any) -> tuple[UndoReport, list[dict]]:
            report = undo_batch(lib, batch_id, progress=progress, cancel=cancel)
            return report, preview(lib, batch_id)

        def done(result: Any, problem: str | None) -> None:
            if result is not None:  # each row now says "undone"; nothing left to apply
                self.plan = None
                self.apply_button.setEnabled(False)
            self._show_result(result, f"Undo of batch {batch_id} failed: {problem}",
                              _undo_text, show_rows=True)

        self._run("Undo", work, done)

    # -- history -----------------------------------------------------------------------------

    def refresh_history(self) -> None:
        def done(batches: list[dict[str, Any]]) -> None:
            for b in batches:
                b["when"] = datetime.datetime.fromtimestamp(b["created_at"]).strftime(
                    "%Y-%m-%d %H:%M")
                b["dest"] = b["dest"] or "(in place)"
            self.history_model.set_rows(list(reversed(batches)))
            if batches:
                self.history_view.selectRow(0)

        self.session.engine.call(lambda state: list_batches(state.lib), done=done,
                                 key="batches", owner=self)

    def _selected_batch(self) -> int | None:
        rows = self.history_view.selectionModel().selectedRows()
        if not rows:
            return None
        return int(self.history_model.rows[rows[0].row()]["id"])

    def _batch_dest(self, batch: int) -> str | None:
        for row in self.history_model.rows:
            if int(row["id"]) == batch and row.get("dest") not in (None, "(in place)"):
                return str(row["dest"])
        return None

    def _short_path(self, column: str, path: str) -> str:
        """Where a file is and where it goes, as a producer reads them: inside its source
        folder (``Bass/Fingered A1.flac``), and under the destination's name
        (``Sorted/Bass/Electric Bass/Fingered A1.flac``): the label's folders stay in view
        where a full path elided in the middle lost them."""
        dest = display_path(self.shown_dest) if self.shown_dest else ""
        dest = dest.rstrip("/\\") or dest
        if column == "dst" and dest and path.startswith(dest + os.sep):
            return f"{os.path.basename(dest) or dest}/{path[len(dest) + 1:]}"
        return file_in_source(path, [display_path(r) for r in self.session.roots])

    def _show_batch(self) -> None:
        batch = self._selected_batch()
        if batch is None:
            return
        self.shown_dest = self._batch_dest(batch)

        def done(rows: list[dict[str, Any]]) -> None:
            self.preview_model.set_rows(rows)
            self.summary.setText(f"Batch {batch}: {plural(len(rows), 'file')}")
            self.tabs.setCurrentIndex(0)

        self.session.engine.call(lambda state: preview(state.lib, batch), done=done,
                                 owner=self)

    def closeEvent(self, event: Any) -> None:
        if self.job is not None:
            self.job.cancel()
        super().closeEvent(event)


def _pairs(title: str, pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    shown = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in pairs[:5])
    more = f" and {len(pairs) - 5} more" if len(pairs) > 5 else ""
    return f"\n{title}: {shown}{more}"


def _apply_text(r: ApplyReport) -> str:
    head = {"applied": "Done", "cancelled": "Cancelled", "failed": "Stopped"}.get(r.state, r.state)
    done = (f"{r.done:,} done now, {r.earlier + r.done:,} of {plural(r.total, 'file')} in all"
            if r.earlier else f"{r.done:,} of {plural(r.total, 'file')} done")
    return (f"{head}: batch {r.batch_id}, {done}"
            + (f" — {r.message}" if r.message else "")
            + ". Undo it from the History tab." + _pairs("Skipped", r.skipped)
            + _pairs("Failed", r.failed) + _pairs("Renamed (name taken since)", r.renamed))


def _undo_text(r: UndoReport) -> str:
    head = {"undone": f"Batch {r.batch_id} undone",
            "cancelled": f"Undo of batch {r.batch_id} cancelled; run it again to finish",
            "failed": f"Batch {r.batch_id} only partly undone"}.get(
                r.state, f"Batch {r.batch_id}: undo {r.state}")
    done = [f"{plural(r.restored, 'file')} put back" if r.restored else "",
            f"{r.removed:,} {'copy or link' if r.removed == 1 else 'copies or links'} removed"
            if r.removed else ""]
    return (f"{head}: {', '.join(d for d in done if d) or 'nothing to put back'}"
            + _pairs("Kept (changed since)", r.kept) + _pairs("Not found", r.missing)
            + _pairs("Restored under another name", r.restored_as)
            + _pairs("Failed", r.failed)
            + (f"\nModified since, moved back anyway: {len(r.modified)}" if r.modified else ""))
