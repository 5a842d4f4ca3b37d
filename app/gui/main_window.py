"""The main window: sources, class tree and suggestions on the left, the library table
(or the map) in the middle, the inspector on the right, jobs in the status bar."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QRect, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QTabBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.gui import dialogs
from app.gui.engine import owned
from app.gui.inspector import Inspector
from app.gui.library_table import LibraryView
from app.gui.map_view import MapView
from app.gui.panels import (
    FilterBar,
    JobBar,
    PreviewBar,
    SimilarBar,
    SourcesPanel,
    SuggestionsPanel,
    Welcome,
)
from app.gui.player import Player
from app.gui.session import Session
from app.gui.text import plural
from app.gui.tree_panel import TreePanel


def demo_folder() -> Path:
    """The demo library bundled with the app (resources/demo; scanned only as a copy:
    :meth:`MainWindow.scan_demo`)."""
    from core.demo import bundled_demo

    return bundled_demo()


#: the window's size on a first run, where the screen has room (a saved size wins later)
FIRST_SIZE = (1400, 860)


def first_size(available: QRect | None) -> tuple[int, int]:
    """The first-run size: :data:`FIRST_SIZE`, or the screen's free area where that is
    smaller (a 1024 x 700 laptop screen would otherwise hold a window whose inspector lies
    off the screen's edge)."""
    width, height = FIRST_SIZE
    if available is None or available.isEmpty():
        return width, height
    return min(width, available.width()), min(height, available.height())


class MainWindow(QMainWindow):
    def __init__(self, session: Session, player: Player | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.player = player or Player(self)
        self.setObjectName("mainWindow")
        # only the document: Qt appends the application's display name ("— Sampletree")
        self.setWindowTitle(session.library_path.name)
        self.setWindowFilePath(str(session.library_path))
        self.setAccessibleName("Sampletree")
        self.resize(*first_size(self.screen().availableGeometry() if self.screen() else None))

        # centre: welcome guide, or the library table and the map
        self.library = LibraryView(session, self)
        self.filters = FilterBar(session, self)
        self.filters.changed.connect(self.library.table.set_filter)
        self.library.table.countChanged.connect(self.filters.set_count)
        self.library.playRequested.connect(self.inspector_play)
        table_page = QWidget(self)
        box = QVBoxLayout(table_page)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.preview = PreviewBar(session, self.player, self)
        self.similar_bar = SimilarBar(self)
        self.similar_bar.back.connect(self.library.show_all)
        self.library.similarChanged.connect(self._similar_changed)
        self.library.similarChanged.connect(self._similar_left)
        self.library.table.countChanged.connect(lambda *_: self._similar_changed())
        box.addWidget(self.filters)
        box.addWidget(self.similar_bar)
        box.addWidget(self.library, 1)
        box.addWidget(self.preview)
        self.map = MapView(session, self.player, self)
        self.library.table.countChanged.connect(
            lambda _shown, total: self.map.set_table_rows(self.library.table.view, total))
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("views")
        self.tabs.setAccessibleName("Views")
        self.tabs.addTab(table_page, "&Library")
        self.tabs.addTab(self.map, "&Map")
        self.welcome = Welcome(self.add_folder, self.scan_demo, self)
        self.center = QStackedWidget(self)
        self.center.addWidget(self.welcome)
        self.center.addWidget(self.tabs)
        self.setCentralWidget(self.center)

        # docks
        self.sources = SourcesPanel(session, self)
        self.tree_panel = TreePanel(session, self)
        self.tree_panel.showNode.connect(self._show_node)
        self.suggestions = SuggestionsPanel(session, self)
        self.inspector = Inspector(session, self.player, self)
        self.inspector.similarFound.connect(self._show_similar)
        self.docks: dict[str, QDockWidget] = {}
        for key, title, widget, area in (
                ("sources", "Sources", self.sources, Qt.DockWidgetArea.LeftDockWidgetArea),
                ("tree", "Class tree", self.tree_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
                ("suggestions", "Label these next", self.suggestions,
                 Qt.DockWidgetArea.LeftDockWidgetArea),
                ("inspector", "Inspector", self.inspector,
                 Qt.DockWidgetArea.RightDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"{key}Dock")
            dock.setAccessibleName(title)
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        for dock in self.docks.values():  # each can be closed (View menu brings it back)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                             | QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.sources.setMinimumWidth(0)
        self.inspector.setMinimumWidth(220)
        self._laid_out = False
        # Tab: search, filters, the table, then the preview controls
        chain = [self.filters.search, *self.filters._filters(), self.library,
                 self.preview.autoplay, self.preview.volume]
        for a, b in itertools.pairwise(chain):
            QWidget.setTabOrder(a, b)
        self.preview.autoplay.toggled.connect(self.inspector.autoplay.setChecked)
        self.inspector.autoplay.toggled.connect(self.preview.autoplay.setChecked)

        # status bar
        self.status_text = QLabel(self)
        self.status_text.setAccessibleName("Status")
        self.library_text = QLabel(self)
        self.library_text.setAccessibleName("Library summary")
        self.job_bar = JobBar(session, self)
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.job_bar)
        self.statusBar().addPermanentWidget(self.library_text)

        self._actions()
        session.message.connect(self.show_message)
        session.problem.connect(self.show_problem)
        session.rowsChanged.connect(self._update_state)
        session.rootsChanged.connect(self._update_state)
        session.jobStarted.connect(self._job_started)
        self._scan_job: Any = None
        self._scan_done = self._scan_seen = -1
        self._scan_timer = QTimer(self)
        self._scan_timer.timeout.connect(self._scan_tick)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.applicationStateChanged.connect(self._app_state)
        self.player.problem.connect(self.show_problem)
        self._restore_layout()
        self._update_state()

    # -- look and layout --------------------------------------------------------------------

    def apply_theme(self, name: str) -> None:
        """Switch the whole app to theme ``name`` (dark, light, system)."""
        from app.gui.theme import apply_theme

        apply_theme(name)
        self.map.canvas.invalidate()
        self.library.table.restyle()
        self.update()

    def fit_docks(self) -> None:
        """Dock widths for the window's width: on a laptop (1024 px) the class tree and
        the inspector narrow, and "Label these next" shares the tree's place as a tab, so
        the table keeps Name, Label, Confidence, Length, BPM and Key in view."""
        width = self.width()
        left, right = (215, 245) if width < 1200 else (270, 330) if width < 1500 else (310, 380)
        if width < 1200 and not self.docks["suggestions"].isFloating():
            # wide enough for both tab titles whole (215 px cut "Class tree" to "Class tr…")
            left = max(left, self._tabs_width([self.docks["tree"], self.docks["suggestions"]]))
            self.tabifyDockWidget(self.docks["tree"], self.docks["suggestions"])
            self.docks["tree"].raise_()
            self.resizeDocks([self.docks["sources"], self.docks["tree"]], [90, 500],
                             Qt.Orientation.Vertical)
        else:
            self.resizeDocks([self.docks["sources"], self.docks["tree"],
                              self.docks["suggestions"]], [110, 420, 200],
                             Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["tree"], self.docks["inspector"]], [left, right],
                         Qt.Orientation.Horizontal)

    def _tabs_width(self, docks: list[QDockWidget]) -> int:
        """The width a tab bar needs to show these docks' titles whole (the tabs of
        tabified docks, drawn with the theme's padding)."""
        bar = QTabBar(self)
        bar.setVisible(False)
        for dock in docks:
            bar.addTab(dock.windowTitle())
        bar.ensurePolished()
        width = sum(bar.tabSizeHint(i).width() for i in range(bar.count()))
        bar.deleteLater()
        return width

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._laid_out:
            self._laid_out = True
            if not self._restored:
                self.fit_docks()

    def _app_state(self, state: Qt.ApplicationState) -> None:
        """Back in front: look at once for what a command changed meanwhile."""
        if state == Qt.ApplicationState.ApplicationActive:
            self.session.check_outside()

    # -- scans as they happen -----------------------------------------------------------------

    def _job_started(self, job: Any) -> None:
        """A scan fills the table as its batches land instead of all at once at the end:
        while it runs, the library is read again once a second at most, and never more
        often than a quarter of the time (a snapshot of 100,000 files takes a while)."""
        if job.name != "Scan":
            return
        self._scan_job, self._scan_done, self._scan_seen = job, -1, -1
        self._scan_timer.setInterval(1000)
        self._scan_timer.start()
        job.progress.connect(self._scan_progress)

    def _scan_progress(self, p: Any) -> None:
        if p.stage == "decode":
            self._scan_done = p.done

    def _scan_tick(self) -> None:
        import time

        job = self._scan_job
        if job is None or job.done:
            self._scan_timer.stop()
            self._scan_job = None
            return
        if self._scan_done <= self._scan_seen or self.session.engine.pending():
            return
        self._scan_seen = self._scan_done
        started = time.monotonic()

        def taken() -> None:
            spent = time.monotonic() - started
            self._scan_timer.setInterval(int(max(1000, 4000 * spent)))

        self.session.reload(then=owned(self, taken))  # dropped if the window closed

    # -- menus and shortcuts ----------------------------------------------------------------

    def _act(self, menu: Any, text: str, slot: Any, key: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if key is not None:
            action.setShortcut(QKeySequence(key))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _undo_changed(self) -> None:
        last = self.session.undoable
        self.act_undo.setEnabled(last is not None)
        self.act_undo.setText("&Undo delete" if last is None
                              else f"&Undo delete of {last[0].replace('&', '&&')}")

    def _actions(self) -> None:
        bar = self.menuBar()
        f = bar.addMenu("&File")
        self._act(f, "&Add folder…", self.add_folder, QKeySequence.StandardKey.Open,
                  "Add a folder of samples and scan it")
        self._act(f, "&Rescan all folders", self.session.rescan, QKeySequence.StandardKey.Refresh,
                  "Read what changed in every source folder")
        self._act(f, "Scan the &demo library", self.scan_demo)
        f.addSeparator()
        self._act(f, "&Open library…", self.open_library, "Ctrl+Shift+O",
                  "Open another library file")
        self.recent_menu = f.addMenu("Recent &libraries")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        f.addSeparator()
        self._act(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        e = bar.addMenu("&Edit")
        self.act_undo = self._act(e, "&Undo delete", self.session.undo_delete,
                                  QKeySequence.StandardKey.Undo,
                                  "Bring back the class deleted last, with its examples")
        self.session.undoChanged.connect(self._undo_changed)
        self._undo_changed()
        e.addSeparator()
        self._act(e, "&Find…", self.focus_search, QKeySequence.StandardKey.Find,
                  "Search names, folders and labels")
        self._act(e, "&Copy selected files", self.library.copy_selected, None,
                  "Copy the files (paste them in a file manager or a DAW)")
        e.addSeparator()
        prefs = self._act(e, "&Settings…", self.open_settings)
        prefs.setShortcuts([QKeySequence("Ctrl+,"), QKeySequence.StandardKey.Preferences])

        lab = bar.addMenu("&Label")
        self.act_teach = self._act(
            lab, "Make selected files &examples of the current class", self.teach_selected,
            "Ctrl+L", "Keyboard teaching: selected files become examples of the class "
            "selected in the tree")
        self._act(lab, "&Remove selected files as examples", self.unteach_selected,
                  "Ctrl+Shift+L")
        self._act(lab, "Find &similar", self.find_similar, "Ctrl+Shift+F",
                  "The 20 files that sound most like the selected one")
        lab.addSeparator()
        self._act(lab, "&Relabel folders…", self.open_relabel, "Ctrl+R",
                  "Rename, copy, move or link files into a folder per label; with undo")
        self._act(lab, "&Duplicates…", self.open_duplicates, "Ctrl+Shift+D",
                  "Groups of duplicate files: audition, keep one, move the others to a "
                  "quarantine folder; with undo")

        v = bar.addMenu("&View")
        self._act(v, "&Library", lambda: self.tabs.setCurrentIndex(0), "Ctrl+1")
        self._act(v, "&Map", lambda: self.tabs.setCurrentIndex(1), "Ctrl+2")
        self._act(v, "Class &tree", lambda: self._focus_dock("tree", self.tree_panel.view),
                  "Ctrl+3")
        self._act(v, "&Inspector", lambda: self._focus_dock("inspector", self.inspector),
                  "Ctrl+4")
        self._act(v, "&Sources", lambda: self._focus_dock("sources", self.sources.list),
                  "Ctrl+5")
        self._act(v, "Label these &next", lambda: self._focus_dock(
            "suggestions", self.suggestions.list), "Ctrl+6")
        v.addSeparator()
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())

        h = bar.addMenu("&Help")
        self._act(h, "&Getting started", self.show_guide, QKeySequence.StandardKey.HelpContents)
        self._act(h, "&Keyboard shortcuts", self.show_shortcuts)
        self._act(h, "&About Sampletree", self.show_about)

        # Space plays and stops, unless a text field has the focus.
        play = QAction("Play / stop", self)
        play.setShortcut(QKeySequence(Qt.Key.Key_Space))
        play.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        play.triggered.connect(self.toggle_play)
        self.addAction(play)
        self.act_play = play
        cancel = QAction("Cancel job", self)
        cancel.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        cancel.triggered.connect(self._escape)
        self.addAction(cancel)

    def _escape(self) -> None:
        """Esc: cancel the running job; with none, leave a similar-sounds view."""
        job = self.job_bar.job
        if job is not None and not job.done:
            self.job_bar.cancel()
        elif self.library.table.similar is not None:
            self.library.show_all()

    # -- state --------------------------------------------------------------------------------

    def _update_state(self) -> None:
        s = self.session
        if s.loaded:
            self.center.setCurrentWidget(self.tabs if s.roots or len(s.rows) else self.welcome)
        rows = s.rows
        n_ok = int((rows.status == "ok").sum()) if len(rows) else 0
        n_err = int((rows.status == "error").sum()) if len(rows) else 0
        text = plural(len(rows), "file")
        if n_err:
            text += f" · {n_err:,} unreadable"
        folders = s.folder_problems
        if folders:  # as `sampletree status` says them (trust review: the app did not)
            text += f" · {plural(len(folders), 'folder')} not read"
        if len(rows) and n_ok:
            text += f" · {plural(int(rows.support.sum()), 'example')}"
        self.library_text.setText(text)
        self.library_text.setToolTip(
            "Folders a scan could not read (scanned again, they are read when they can "
            "be):\n" + "\n".join(f"{f['path']}: {f['error']}" for f in folders[:20])
            if folders else "")

    def show_message(self, text: str) -> None:
        self.status_text.setText(text)
        self.status_text.setToolTip(text)

    def show_problem(self, text: str) -> None:
        self.status_text.setText(f"⚠ {text}")
        self.status_text.setToolTip(text)
        QApplication.beep()  # audible feedback for eyes-free use

    # -- commands -----------------------------------------------------------------------------

    def add_folder(self) -> None:
        folder = dialogs.existing_folder(self, "Add a folder of samples")
        if folder:
            self.session.add_folder(folder)

    def scan_demo(self) -> None:
        """Scan a copy of the demo library in the user's data folder (made once, reused
        while intact), never the app's own files: a relabel or a quarantine may move them."""
        from app.paths import demo_copy_parent
        from core.demo import DemoCopyError, copy_demo

        try:
            folder = copy_demo(demo_copy_parent(), demo_folder())
        except DemoCopyError as exc:
            self.session.problem.emit(str(exc))
            return
        self.session.add_folder(str(folder))

    def focus_search(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.filters.search.setFocus()
        self.filters.search.selectAll()

    def _focus_dock(self, key: str, widget: QWidget) -> None:
        dock = self.docks[key]
        dock.show()
        dock.raise_()
        widget.setFocus()

    def _show_node(self, path: str) -> None:
        self.tabs.setCurrentIndex(0)
        self.library.show_all()  # a class's files, not those of a similar-sounds view
        self.filters.show_node(path)

    def selected_ids(self) -> list[int]:
        return list(self.session.selected)

    def teach_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            self.show_problem("Select files in the library first")
            return
        self.tree_panel.teach_selected(ids)

    def unteach_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.session.unteach(ids)

    def find_similar(self) -> None:
        if not self.selected_ids():
            self.show_problem("Select a file first")
            return
        self._focus_dock("inspector", self.inspector)
        self.inspector.find_similar()

    def _show_similar(self, sample_id: int, nearest: list[int]) -> None:
        """The inspector found a file's similar sounds: the table shows them, closest first
        (the Library tab comes to the front)."""
        self.tabs.setCurrentIndex(0)
        self.library.show_similar(sample_id, nearest)

    def _similar_changed(self) -> None:
        table = self.library.table
        if table.similar is None:
            self.similar_bar.setVisible(False)
            return
        index = self.session.row_index()
        first = index.get(table.similar[0])
        name = str(self.session.rows.name[first]) if first is not None else "a removed file"
        shown, have = table.similar_shown()
        self.similar_bar.show_for(name, len(table.similar) - 1, shown, have)

    def _similar_left(self) -> None:
        """The table left a similar-sounds view (Esc, "All files", a class shown, a file
        chosen outside it): the inspector's list of them and the status bar's "N similar
        sounds to …" go too (a message said since stays)."""
        if self.library.table.similar is not None:
            return
        self.inspector.clear_similar()
        said = self.inspector.similar_message
        if said and self.status_text.text() == said:
            self.show_message("")

    def inspector_play(self) -> None:
        self.inspector.play_selected()

    def toggle_play(self) -> None:
        focus = QApplication.focusWidget()
        if isinstance(focus, QLineEdit):
            focus.insert(" ")
            return
        self.inspector.play_selected()

    def open_relabel(self) -> None:
        from app.gui.relabel_dialog import RelabelDialog

        if self.session.tree_name is None:
            self.show_problem("Create a class tree and label files before relabeling")
            return
        dialog = RelabelDialog(self.session, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.relabel_dialog = dialog

    def open_duplicates(self) -> None:
        from app.gui.duplicates_dialog import DuplicatesDialog

        dialog = DuplicatesDialog(self.session, self.player, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        dialog.find()
        self.duplicates_dialog = dialog

    def open_settings(self) -> None:
        from app.gui.settings_dialog import SettingsDialog

        # The label thresholds are the library's (shared with the commands): the dialog
        # shows and edits those.
        self.session.settings.set_thresholds(self.session.thresholds)
        dialog = SettingsDialog(self.session.settings, self)
        if dialog.exec():
            changed = set(dialog.changed_keys())
            if any(k.startswith("labels/") for k in changed):
                self.session.set_thresholds(self.session.settings.thresholds())
            if "view/theme" in changed:
                self.apply_theme(self.session.settings.theme())
            if "audio/autoplay" in changed:
                self.inspector.autoplay.setChecked(self.session.settings.autoplay())
            if "library/path" in changed:
                self.show_message("The new library location is used from the next start "
                                  "(or File › Open library…)")

    def open_library(self) -> None:
        path = dialogs.save_file(
            self, "Open or create a library", str(self.session.library_path.parent),
            "Sampletree library (*.sqlite);;All files (*)", confirm_overwrite=False)
        if path:
            self._switch_library(path)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.session.settings.recent_libraries():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _c=False, p=path: self._switch_library(p))

    def _switch_library(self, path: str) -> None:
        from app.gui import open_window

        if Path(path) == self.session.library_path:
            return
        try:
            window = open_window(Path(path), self.session.settings, self.player)
        except Exception as exc:  # a message, never a crash
            self.show_problem(f"Cannot open {path}: {exc}")
            return
        window.show()
        self.close()

    def show_guide(self) -> None:
        self.center.setCurrentWidget(self.welcome)

    def show_shortcuts(self) -> None:
        from app.gui.dialogs_shortcuts import ShortcutsDialog

        dialog = ShortcutsDialog(SHORTCUTS, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.shortcuts_dialog = dialog

    def show_about(self) -> None:
        QMessageBox.about(self, "About Sampletree",
                          "Sampletree organizes sample libraries with a few-shot hierarchical "
                          "network (Flores García et al., ISMIR 2021).\n\nLibrary: "
                          f"{self.session.library_path}")

    # -- layout persistence ---------------------------------------------------------------------

    def _restore_layout(self) -> None:
        from app.gui.library_table import TABLE_COLUMNS

        s = self.session.settings
        geometry, state = s.value("window/geometry"), s.value("window/state")
        self._restored = False
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(QByteArray(geometry))
        if isinstance(state, QByteArray | bytes):
            self._restored = self.restoreState(QByteArray(state))
        header = s.value("window/table_header")
        # column widths only for the same columns (their order changed, others may be added;
        # a header saved before the Wave column existed would put it last)
        if isinstance(header, QByteArray | bytes) and \
                s.value("window/table_columns") == ",".join(TABLE_COLUMNS) and \
                self.library.horizontalHeader().restoreState(QByteArray(header)):
            self.library._auto_widths = str(s.value("window/table_auto", "true")) \
                in ("true", "1")

    def save_layout(self) -> None:
        s = self.session.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        from app.gui.library_table import TABLE_COLUMNS

        s.setValue("window/table_header", self.library.horizontalHeader().saveState())
        s.setValue("window/table_columns", ",".join(TABLE_COLUMNS))
        s.setValue("window/table_auto", self.library._auto_widths)
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.session.jobs.running:
            job = self.session.jobs.current
            answer = QMessageBox.question(
                self, "A job is running",
                f"{job.name if job else 'A job'} is still running. Stop it and quit? What it "
                "finished is kept; a scan resumes where it stopped next time.")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.save_layout()
        self.player.stop()
        self.session.close()
        event.accept()


#: (keys, what they do), shown as a two-column table by Help › Keyboard shortcuts
SHORTCUTS: list[tuple[str, str]] = [
    ("Ctrl+O", "Add a folder of samples"),
    ("F5", "Rescan every folder"),
    ("Ctrl+Shift+O", "Open another library"),
    ("Ctrl+F", "Search"),
    ("Space", "Play / stop the selected file"),
    ("Ctrl+L", "Selected files become examples of the class selected in the tree"),
    ("Ctrl+Shift+L", "Selected files stop being examples"),
    ("Ctrl+Shift+F", "Find similar sounds"),
    ("Ctrl+R", "Relabel folders (preview, apply, undo)"),
    ("Ctrl+Shift+D", "Find duplicate files"),
    ("Ctrl+1 / Ctrl+2", "Library table / map"),
    ("Ctrl+3 … Ctrl+6", "Class tree, inspector, sources, label these next"),
    ("Insert (tree)", "Add a class"),
    ("F2 (tree)", "Rename the class"),
    ("Delete (tree)", "Delete the class"),
    ("Ctrl+Z", "Bring back the class deleted last"),
    ("Enter (tree)", "Show the class's files"),
    ("Space / K (duplicates)", "Play the selected copy / keep it (the others move)"),
    ("Esc", "Cancel the running job; or back from similar sounds to every file"),
    ("Ctrl+C", "Copy the selected files (paste them in a file manager)"),
    ("Ctrl+,", "Settings"),
    ("F1", "Getting started"),
]
