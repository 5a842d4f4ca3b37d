"""Duplicates: review groups of duplicate files, audition them, choose the copy to keep and
move the others to a quarantine folder (a relabel batch: undoable, nothing deleted)."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui import dialogs
from app.gui.session import Session
from app.gui.text import file_in_source, plural
from core.duplicates import Group, Report, find_duplicates, quarantine
from core.paths import display_path
from core.relabel import undo_batch

_ROLE = Qt.ItemDataRole.UserRole
#: the key that makes the current file the copy to keep (Space auditions, as in the table)
KEEP_KEY = Qt.Key.Key_K


class _GroupTree(QTreeWidget):
    """The groups: Space or Enter plays the current file (as in the library table and a
    producer's browser) instead of ticking its box; K keeps it."""

    playRequested = Signal()
    keepRequested = Signal()

    def keyPressEvent(self, event: Any) -> None:
        plain = not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if plain and event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.playRequested.emit()
            return
        if plain and event.key() == KEEP_KEY:
            self.keepRequested.emit()
            return
        super().keyPressEvent(event)


class DuplicatesDialog(QDialog):
    """Find duplicates (exact, or exact and near), pick keepers, quarantine the rest."""

    def __init__(self, session: Session, player: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.player = player
        self.setObjectName("duplicatesDialog")
        self.setWindowTitle("Duplicates")
        self.resize(980, 620)
        self.report: Report | None = None
        self.groups: dict[int, Group] = {}
        self.last_batch_id: int | None = None
        self.last_report: Any = None
        self._filling = False
        self._pending: tuple[Any, Any] | None = None
        #: what the last move or undo did: kept above the next find's summary
        self._outcome = ""

        top = QHBoxLayout()
        self.near = QCheckBox("&Near duplicates too (re-encoded, resampled, gain-changed, "
                              "trimmed or padded copies)", self)
        self.near.setChecked(True)
        self.find_button = QPushButton("&Find", self)
        self.find_button.clicked.connect(self.find)
        top.addWidget(self.near, 1)
        top.addWidget(self.find_button)

        self.tree = _GroupTree(self)
        self.tree.setObjectName("duplicateGroups")
        self.tree.setAccessibleName("Duplicate groups")
        self.tree.setAccessibleDescription("Space or Enter plays the selected file; K keeps "
                                           "it (the other copies of its group move)")
        self.tree.setToolTip("Space plays the selected file · K keeps it")
        self.tree.playRequested.connect(lambda: self.audition(self.tree.currentItem()))
        self.tree.keepRequested.connect(lambda: self.keep(self.tree.currentItem()))
        self.tree.setHeaderLabels(["Keep", "File", "Quality", "Match"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        # "Kick/copy of Kick 808.wav": the folder's start and the name tell copies apart
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.itemChanged.connect(self._keep_changed)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self.play(item))

        dest_row = QHBoxLayout()
        dest_row.addWidget(QLabel("Quarantine folder:", self))
        self.dest = QLineEdit(self)
        self.dest.setPlaceholderText("a folder outside your sample folders")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        dest_row.addWidget(self.dest, 1)
        dest_row.addWidget(browse)

        buttons = QHBoxLayout()
        self.play_button = QPushButton("&Play", self)
        self.play_button.setToolTip("Play the selected file (Space)")
        self.play_button.clicked.connect(lambda: self.play(self.tree.currentItem()))
        self.move_button = QPushButton("&Move the other copies to quarantine", self)
        self.move_button.clicked.connect(self.move_extras)
        self.move_button.setEnabled(False)
        self.undo_button = QPushButton("&Undo the move", self)
        self.undo_button.clicked.connect(self.undo_move)
        self.undo_button.setEnabled(False)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        for b in (self.play_button, self.move_button, self.undo_button):
            buttons.addWidget(b)
        keys = QLabel("Space plays · K keeps", self)  # as the table's "Space plays" line
        keys.setEnabled(False)
        buttons.addWidget(keys)
        buttons.addStretch(1)
        buttons.addWidget(close)

        self.summary = QLabel("Press Find to look for duplicate files.", self)
        self.summary.setWordWrap(True)
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(self.tree, 1)
        box.addLayout(dest_row)
        box.addWidget(self.summary)
        box.addLayout(buttons)

    # -- finding ---------------------------------------------------------------------------

    def find(self) -> None:
        near = self.near.isChecked()
        self.find_button.setEnabled(False)
        self.summary.setText("Looking for duplicates…")

        def failed(text: str) -> None:
            self.find_button.setEnabled(True)
            self.summary.setText(f"Could not look for duplicates: {text}")

        self.session.engine.call(lambda state: find_duplicates(state.lib, near=near),
                                 done=self._show, failed=failed, key="duplicates",
                                 owner=self)  # dropped if the dialog closed meanwhile

    def _show(self, report: Report) -> None:
        self.report = report
        self.groups = {g.id: g for g in report.groups}
        self.find_button.setEnabled(True)
        self._filling = True
        self.tree.clear()
        roots = [display_path(r) for r in self.session.roots]
        for g in report.groups:
            # one line across the row: the Quality column, sized by the files' qualities
            # alone, leaves the File column its room on a laptop screen
            title = (f"{g.kind.capitalize()} duplicates: {plural(len(g.members), 'file')}"
                     f" — {g.reason}")
            top = QTreeWidgetItem(self.tree, [title, "", "", ""])
            top.setToolTip(0, title)
            top.setData(0, _ROLE, ("group", g.id))
            top.setFirstColumnSpanned(True)
            for m in g.members:
                match = "" if m.keep else ("same audio" if m.match == "exact" else
                                           f"near ({m.similarity or 0:.3f}, "
                                           f"{round(m.gain_db or 0.0, 1) + 0.0:+.1f} dB)")
                child = QTreeWidgetItem(top, ["", file_in_source(display_path(m.path), roots),
                                              m.quality(), match])
                child.setData(0, _ROLE, ("file", g.id, m.sample_id, m.path))
                child.setFlags(child.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                child.setCheckState(0, Qt.CheckState.Checked if m.keep
                                    else Qt.CheckState.Unchecked)
                child.setToolTip(1, m.path)
            top.setExpanded(True)
        self._filling = False
        for col in (0, 2, 3):
            self.tree.resizeColumnToContents(col)
        kind = "exact and near" if report.near else "exact"
        text = (f"{plural(len(report.groups), 'group')} of {kind} duplicates, "
                f"{plural(report.extras, 'extra copy', 'extra copies')} "
                f"({plural(report.files, 'file')} checked).")
        if report.unfingerprinted:
            text += (f" {plural(report.unfingerprinted, 'file')} were scanned before "
                     "duplicates were looked for: rescan to include them.")
        if self._outcome:  # the move or undo just done stays in view, with its batch
            text = f"{self._outcome}\nNow: {text}"
            self._outcome = ""
        self.summary.setText(text)
        self.move_button.setEnabled(bool(report.groups))

    def _keep_changed(self, item: QTreeWidgetItem, column: int) -> None:
        """One keeper per group: checking a file unchecks the others."""
        if self._filling or column != 0:
            return
        data = item.data(0, _ROLE)
        if not data or data[0] != "file":
            return
        parent = item.parent()
        self._filling = True
        if item.checkState(0) == Qt.CheckState.Checked:
            for i in range(parent.childCount()):
                other = parent.child(i)
                if other is not item:
                    other.setCheckState(0, Qt.CheckState.Unchecked)
        elif not any(parent.child(i).checkState(0) == Qt.CheckState.Checked
                     for i in range(parent.childCount())):
            item.setCheckState(0, Qt.CheckState.Checked)  # a group always keeps one
        self._filling = False

    def keepers(self) -> dict[int, int]:
        """Group id → the sample id checked to keep."""
        out: dict[int, int] = {}
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                child = top.child(j)
                if child.checkState(0) == Qt.CheckState.Checked:
                    data = child.data(0, _ROLE)
                    out[data[1]] = data[2]
        return out

    def set_keeper(self, group_id: int, sample_id: int) -> None:
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                data = top.child(j).data(0, _ROLE)
                if data[1] == group_id and data[2] == sample_id:
                    top.child(j).setCheckState(0, Qt.CheckState.Checked)

    # -- audition --------------------------------------------------------------------------

    def play(self, item: QTreeWidgetItem | None) -> None:
        path = self._path_of(item)
        if path is not None and self.player is not None:
            self.player.play(path)

    def audition(self, item: QTreeWidgetItem | None) -> None:
        """Space: play the file (a group's row: the copy kept), or stop it if it plays."""
        path = self._path_of(item)
        if path is None or self.player is None:
            return
        toggle = getattr(self.player, "toggle", None)
        if toggle is not None:
            toggle(path)
        else:
            self.player.play(path)

    def keep(self, item: QTreeWidgetItem | None) -> None:
        """K: keep this file of its group (the others become the extra copies)."""
        data = item.data(0, _ROLE) if item is not None else None
        if data and data[0] == "file":
            item.setCheckState(0, Qt.CheckState.Checked)

    def _path_of(self, item: QTreeWidgetItem | None) -> str | None:
        """A file row's path; a group row's: the copy checked to keep."""
        data = item.data(0, _ROLE) if item is not None else None
        if not data:
            return None
        if data[0] == "file":
            return str(data[3])
        for i in range(item.childCount()):
            child = item.child(i)
            if child.checkState(0) == Qt.CheckState.Checked:
                return str(child.data(0, _ROLE)[3])
        return None

    # -- quarantine ------------------------------------------------------------------------

    def _browse(self) -> None:
        folder = dialogs.existing_folder(self, "Quarantine folder", self.dest.text())
        if folder:
            self.dest.setText(folder)

    def move_extras(self) -> None:
        dest = self.dest.text().strip()
        if not dest:
            self.summary.setText("Choose a quarantine folder first (outside your sample "
                                 "folders).")
            return
        groups = list(self.groups.values())
        keepers = self.keepers()
        dest = os.path.expanduser(dest)

        def work(lib: Any, _progress: Any, _cancel: Any) -> Any:
            return quarantine(lib, groups, dest, keepers=keepers)

        job = self.session.start_job("Quarantine duplicates", work)
        if job is None:
            self.summary.setText("Another job is running: wait for it, or cancel it.")
            return
        self.move_button.setEnabled(False)
        self._follow(job, self._moved, self._move_failed)

    def _follow(self, job: Any, finished: Any, failed: Any) -> None:
        """Call ``finished(result)`` or ``failed(message)`` once, on this thread, even when
        the job ended before these connections were made (a refusal comes back at once)."""
        self._pending = (finished, failed)
        job.finished.connect(self._job_finished)
        job.failed.connect(self._job_failed)
        if job.message is not None:
            self._job_failed(job.message)
        elif job.result is not None:
            self._job_finished(job.result)

    def _job_finished(self, result: Any) -> None:
        if self._pending is not None:
            finished, _failed = self._pending
            self._pending = None
            finished(result)

    def _job_failed(self, text: str) -> None:
        if self._pending is not None:
            _finished, failed = self._pending
            self._pending = None
            failed(text)

    def _move_failed(self, text: str) -> None:
        self.move_button.setEnabled(bool(self.groups))
        self.summary.setText(f"Nothing moved: {text}")

    def _undo_failed(self, text: str) -> None:
        self.undo_button.setEnabled(True)
        self.summary.setText(f"Undo failed: {text}")

    def _moved(self, report: Any) -> None:
        self.last_report = report
        self.last_batch_id = report.batch_id
        self.undo_button.setEnabled(True)
        self._outcome = (f"Batch {report.batch_id}: {report.message}. Undo puts every file "
                         f"back (or `sampletree undo {report.batch_id}`).")
        self.summary.setText(self._outcome)
        self.session.reload()
        self.find()

    def undo_move(self) -> None:
        batch_id = self.last_batch_id
        if batch_id is None:
            return

        def work(lib: Any, progress: Any, cancel: Any) -> Any:
            return undo_batch(lib, batch_id, progress=progress, cancel=cancel)

        job = self.session.start_job("Undo quarantine", work)
        if job is None:
            self.summary.setText("Another job is running: wait for it, or cancel it.")
            return
        self.undo_button.setEnabled(False)
        self._follow(job, self._undone, self._undo_failed)

    def _undone(self, report: Any) -> None:
        self.last_report = report
        self.last_batch_id = None
        self._outcome = (f"Batch {report.batch_id} undone: "
                         f"{plural(report.restored, 'file')} back where they were.")
        self.summary.setText(self._outcome)
        self.session.reload()
        self.find()
