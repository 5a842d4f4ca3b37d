"""The open library as the windows see it: one object every panel shares.

It holds the current snapshot (:class:`core.browse.Rows`), the current tree and its
counts, the selection, and turns user intents (teach, edit the tree, scan) into engine
requests and jobs. Panels listen to its signals; none of them talks to the library.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QColor

from app.gui.colors import top_colors
from app.gui.engine import Engine, EngineState, Job, JobRunner
from app.gui.settings import Settings
from app.gui.text import plural
from core import browse, trees
from core import builtins as core_builtins
from core.backup import backup_before
from core.browse import Rows
from core.classify import ClassifyError, Thresholds, stored_thresholds
from core.errors import SampletreeError
from core.jobs import CancelToken, Progress
from core.library import Library
from core.supports import add_supports, remove_supports
from core.trees import Tree


def _labels_after_refresh(state: EngineState, tree_name: str) -> tuple[Rows | None, Any]:
    """Re-predict ``tree_name`` (when it has examples) and read its labels back."""
    report = None
    # No examples (or no embeddings) yet: the labels stay empty.
    with contextlib.suppress(ClassifyError):
        report = state.classifier.refresh(tree_name)
    return browse.load_labels(state.lib, tree_name), report


def _backup_words(kept: Path | None) -> str:
    if kept is None:
        return " (no backup: backups are switched off)"
    return (f"; the library before it is backed up (`sampletree restore --from \"{kept}\" "
            "--force` brings it back)")


#: How often the app looks for changes another process made to the library (a
#: ``sampletree`` command, a second window), in milliseconds.
WATCH_MS = 2000
#: A library that keeps changing outside (a long ``sampletree scan``) is read again at most
#: this often, in seconds; one that changed and went quiet is read at the next look.
WATCH_BUSY_S = 10.0


def _outside_version(state: EngineState) -> int:
    """SQLite's ``data_version`` of the app's connection: it moves when another connection
    (another process, or a job of the app's own) commits, never for the app's own writes."""
    return state.lib.revision()[0]


def _snapshot(state: EngineState, tree_name: str | None) -> dict[str, Any]:
    lib = state.lib
    version = _outside_version(state)  # first: a change made while reading is seen next time
    names = trees.list_trees(lib)
    if tree_name is None or tree_name not in names:
        tree_name = names[0] if names else None
    rows = browse.load_rows(lib, tree_name)
    for column in browse.COLUMNS:  # rank once here, so sorting is instant in the UI
        rows.rank(column)
    rows.haystack()
    from core.sources import folder_problems_now

    return {"rows": rows, "roots": lib.roots(), "trees": names, "tree_name": tree_name,
            "version": version, "thresholds": stored_thresholds(lib),
            "folder_problems": folder_problems_now(lib), **_tree_state(state, tree_name)}


def _tree_state(state: EngineState, tree_name: str | None) -> dict[str, Any]:
    if tree_name is None:
        return {"tree": None, "counts": {}, "builtins": (None, False), "builtins_offer": None,
                "builtins_bare": []}
    tree = trees.load_tree(state.lib, tree_name)
    with state.lib.reading() as conn:
        tb = core_builtins.tree_builtins(conn, tree)
    # a tree of the user's own with nodes where a bundled tree has built-ins (Drums/Kick)
    match = core_builtins.matching_default(state.lib, tree) if tb.source is None else None
    return {"tree": tree, "counts": browse.node_counts(state.lib, tree_name),
            "builtins": (tb.source, tb.off), "builtins_offer": match and match[0],
            # the classes the offer would leave without: they lose files until taught
            "builtins_bare": [] if match is None else core_builtins.left_without(tree,
                                                                                 match[1])}


class Session(QObject):
    """Shared state of one open library."""

    #: new files or labels: ``rows`` was replaced
    rowsChanged = Signal()
    #: the tree, its counts or the list of trees changed
    treeChanged = Signal()
    #: source folders changed
    rootsChanged = Signal()
    #: sample ids selected in any view, and the view (an object) that selected them
    selectionChanged = Signal(list, object)
    #: text for the status bar
    message = Signal(str)
    #: an error the user must see
    problem = Signal(str)
    #: a long job started (Job)
    jobStarted = Signal(object)
    #: what "Undo delete" would bring back changed (:attr:`undoable`)
    undoChanged = Signal()

    def __init__(self, library_path: str | Path, settings: Settings,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library_path = Path(library_path)
        self.settings = settings
        self.engine = Engine(self.library_path, None, self)
        self.engine.error.connect(self.problem)
        self.jobs = JobRunner(self.library_path, self)
        self.rows: Rows = browse.empty_rows()
        self.roots: list[str] = []
        self.tree_names: list[str] = []
        self.tree_name: str | None = settings.value("tree")
        self.tree: Tree | None = None
        self._colors: tuple[Tree | None, dict[str, QColor]] = (None, {})
        self.counts: dict[int, tuple[int, int]] = {}
        #: the tree's built-in examples: (bundled tree they come from or None, switched off)
        self.builtins: tuple[str | None, bool] = (None, False)
        #: a tree without built-ins whose nodes a bundled tree's built-ins could label: its name
        self.builtins_offer: str | None = None
        #: with an offer: the tree's classes it would give no built-ins (paths)
        self.builtins_bare: list[str] = []
        self.selected: list[int] = []
        #: the last class or tree deleted in this window: (its name as shown, the tree a
        #: class was in, what core.trees.restore_node / restore_tree need to put it back)
        self.undoable: tuple[str, str, trees.DeletedNode | trees.DeletedTree] | None = None
        #: folders a scan could not read, kept until one reads them (core.sources)
        self.folder_problems: list[dict[str, Any]] = []
        #: the library's label thresholds (kept in the library, shared with the commands)
        self.thresholds = Thresholds()
        self.loaded = False
        #: folders of the scan running now, shown as sources from its first second
        self.scanning: list[str] = []
        # Changes made outside the app (the CLI on the same library): the library's
        # data_version when the snapshot was read, the last one looked at, and since when
        # it has kept changing.
        self._version: int | None = None
        self._polled: int | None = None
        self._changing_since = 0.0
        self._watch_problem: str | None = None  # the last failed look's message
        self._watch = QTimer(self)
        self._watch.setInterval(WATCH_MS)
        self._watch.timeout.connect(self.check_outside)
        self._watch.start()

    # -- loading --------------------------------------------------------------------------

    def reload(self, then: Callable[[], None] | None = None) -> None:
        """Read the whole library again (after opening it, a scan or a relabel)."""
        def done(snap: dict[str, Any]) -> None:
            self._take(snap)
            if then is not None:
                then()
        self.engine.call(_snapshot, self.tree_name, done=done, key="snapshot")

    def check_outside(self) -> None:
        """Read the library again when another process changed it (a ``sampletree``
        command run beside the app): every few seconds, and when the app comes to the
        front. Not while a job of the app's own runs (it reloads when it ends)."""
        if not self.loaded or self.jobs.running or self.scanning or self.engine.pending():
            return
        self.engine.call(_outside_version, done=self._outside_seen,
                         failed=self._watch_failed, key="watch")

    def _watch_failed(self, message: str) -> None:
        """The look failed (the library file gone, its drive removed): said once, not every
        look."""
        if message != self._watch_problem:
            self._watch_problem = message
            self.problem.emit(message)

    def _outside_seen(self, version: int) -> None:
        self._watch_problem = None
        if self._version is None or version == self._version:
            self._polled = None
            return
        now = time.monotonic()
        if version != self._polled:  # still changing: wait until it is quiet for a look
            if self._polled is None:
                self._changing_since = now
            self._polled = version
            if now - self._changing_since < WATCH_BUSY_S:
                return
            self._changing_since = now
        if self.jobs.running or self.engine.pending():
            return
        self._polled = None
        selected = list(self.selected)

        def done() -> None:
            known = self.row_index()
            self.message.emit("The library was changed outside the app (a sampletree "
                              "command or another window): shown as it is now")
            self.select([s for s in selected if s in known])

        self.reload(then=done)

    def _take(self, snap: dict[str, Any]) -> None:
        self._version = snap["version"]
        self.thresholds = snap["thresholds"]
        self.rows = snap["rows"]
        self.roots, self.tree_names = snap["roots"], snap["trees"]
        self.roots += [f for f in self.scanning if f not in self.roots]
        self.tree_name, self.tree, self.counts = snap["tree_name"], snap["tree"], snap["counts"]
        self.builtins, self.builtins_offer = snap["builtins"], snap["builtins_offer"]
        self.builtins_bare = snap["builtins_bare"]
        self.folder_problems = snap.get("folder_problems", [])
        if self.tree_name:
            self.settings.setValue("tree", self.tree_name)
        self.loaded = True
        self.rootsChanged.emit()
        self.treeChanged.emit()
        self.rowsChanged.emit()

    @property
    def colors(self) -> dict[str, QColor]:
        """Top-level class name → its colour, in the current tree's order."""
        tree = self.tree
        if tree is None:
            return {}
        if self._colors[0] is not tree:
            tops = [tree.node(i).name for i in tree.children.get(tree.root_id, [])]
            self._colors = (tree, top_colors(tops))
        return self._colors[1]

    def set_thresholds(self, thresholds: Thresholds) -> None:
        """Store ``thresholds`` in the library and label with them."""
        def done(_none: Any) -> None:
            self.thresholds = thresholds
            self.refresh_labels()
        self.engine.set_thresholds(thresholds, done=done)

    def set_tree(self, name: str) -> None:
        if name == self.tree_name:
            return
        self.tree_name = name
        self.reload()

    def refresh_labels(self) -> None:
        """Re-predict the current tree and show the new labels and counts."""
        name = self.tree_name
        if name is None:
            return

        def work(state: EngineState) -> dict[str, Any]:
            labels, report = _labels_after_refresh(state, name)
            return {"labels": labels, "report": report, **_tree_state(state, name)}

        self.engine.call(work, done=self._take_labels, key="labels")

    def _take_labels(self, got: dict[str, Any]) -> None:
        labels: Rows = got["labels"]
        if labels.tree != self.tree_name:
            return
        self.rows = self.rows.with_labels(labels)
        self.tree, self.counts = got["tree"], got["counts"]
        self.builtins, self.builtins_offer = got["builtins"], got["builtins_offer"]
        self.builtins_bare = got["builtins_bare"]
        report = got["report"]
        if report is not None:
            self.message.emit(
                f"Labeled {plural(report.files, 'file')} with "
                f"{plural(report.classes, 'class', 'classes')} from "
                f"{plural(report.supports, 'example')} in {report.seconds * 1000:.0f} ms")
        self.treeChanged.emit()
        self.rowsChanged.emit()

    # -- selection ------------------------------------------------------------------------

    def select(self, sample_ids: Sequence[int], source: object = None) -> None:
        self.selected = [int(s) for s in sample_ids]
        self.selectionChanged.emit(self.selected, source)

    def path_of(self, sample_id: int) -> str | None:
        row = self.row_index().get(int(sample_id))
        return None if row is None else str(self.rows.path[row])

    def row_index(self) -> dict[int, int]:
        cached = getattr(self, "_row_index", None)
        if cached is None or cached[0] is not self.rows.ids:
            cached = (self.rows.ids, self.rows.row_of())
            self._row_index = cached
        return cached[1]

    # -- teaching -------------------------------------------------------------------------

    def teach(self, node_id: int, sample_ids: Sequence[int]) -> None:
        """Make the files examples of a node, then re-label everything."""
        if self.tree is None or self.tree_name is None:
            self.problem.emit("Create a class tree first (Tree › New tree…)")
            return
        path = self.tree.path(node_id)
        name, ids = self.tree_name, [int(s) for s in sample_ids]

        def work(state: EngineState) -> int:
            return add_supports(state.lib, name, path, ids)

        def done(n: int) -> None:
            where = "/".join(path)
            self.message.emit(f"{plural(n, 'example')} added to {where}" if n else
                              f"Already examples of {where}")
            self.refresh_labels()

        self.engine.call(work, done=done, failed=self.problem.emit)

    def unteach(self, sample_ids: Sequence[int]) -> None:
        if self.tree_name is None:
            return
        name, ids = self.tree_name, [int(s) for s in sample_ids]

        def done(n: int) -> None:
            self.message.emit(f"{plural(n, 'example')} removed")
            self.refresh_labels()

        self.engine.call(lambda state: remove_supports(state.lib, name, ids), done=done,
                         failed=self.problem.emit)

    # -- tree editing -----------------------------------------------------------------------

    def edit_tree(self, fn: Callable[..., Any], *args: Any, message: str = "") -> None:
        """Run a core.trees edit ``fn(lib, tree_name, *args)``, then reload the tree."""
        name = self.tree_name

        def work(state: EngineState) -> Any:
            return fn(state.lib, name, *args)

        def done(_result: Any) -> None:
            if message:
                self.message.emit(message)
            self.refresh_labels() if self.tree_name else self.reload()

        self.engine.call(work, done=done, failed=self.problem.emit)

    def set_builtins(self, on: bool) -> None:
        """Switch the current tree's built-in examples on or off, then relabel."""
        name = self.tree_name
        if name is None:
            return

        def done(_source: str) -> None:
            self.message.emit(f"Built-in examples {'on' if on else 'off'} for {name}")
            self.refresh_labels()

        # a tree of one's own takes them from the bundled tree its nodes match
        source = self.builtins_offer if self.builtins[0] is None else None
        self.engine.call(lambda state: core_builtins.set_builtins(state.lib, name, on, source),
                         done=done, failed=self.problem.emit)

    def create_tree(self, name: str, from_default: str | None = None) -> None:
        def work(state: EngineState) -> Tree:
            tree = trees.create_tree(state.lib, name, from_default=from_default)
            # a copy of a bundled tree labels at once, as `sampletree tree create --from`
            with contextlib.suppress(ClassifyError):
                state.classifier.refresh(tree.name)
            return tree

        def done(tree: Tree) -> None:
            self.tree_name = tree.name
            self.message.emit(f"Tree {tree.name} created")
            self.reload()

        self.engine.call(work, done=done, failed=self.problem.emit)

    def rename_tree(self, name: str, new_name: str) -> None:
        def done(tree: Tree) -> None:
            if self.tree_name == name:
                self.tree_name = tree.name
            if self.undoable is not None and self.undoable[1] == name:
                self.undoable = (self.undoable[0], tree.name, self.undoable[2])
            self.message.emit(f"Renamed the tree {name} to {tree.name}")
            self.reload()

        self.engine.call(lambda state: trees.rename_tree(state.lib, name, new_name),
                         done=done, failed=self.problem.emit)

    def delete_tree(self, name: str) -> None:
        """Delete a tree, after a backup of the library; :meth:`undo_delete` brings it back."""
        def work(state: EngineState) -> tuple[Path | None, trees.Removed]:
            trees.load_tree(state.lib, name)
            kept = backup_before(state.lib, "tree-rm")
            return kept, trees.delete_tree(state.lib, name)

        def done(got: tuple[Path | None, trees.Removed]) -> None:
            kept, removed = got
            if self.tree_name == name:
                self.tree_name = None
            if removed.kept is not None:
                self.undoable = (f"the tree {name}", name, removed.kept)
                self.undoChanged.emit()
            self.message.emit(f"Deleted the tree {name} (Edit › Undo brings it back)"
                              + _backup_words(kept))
            self.reload()

        self.engine.call(work, done=done, failed=self.problem.emit)

    def delete_node(self, path: Sequence[str], name: str) -> None:
        """Delete a node of the current tree and its examples, after a backup; the last
        one deleted can be brought back with :meth:`undo_delete`."""
        tree_name = self.tree_name

        def work(state: EngineState) -> tuple[Path | None, trees.Removed]:
            trees.load_tree(state.lib, tree_name).require(path)
            kept = backup_before(state.lib, "tree-rm")
            return kept, trees.delete_node(state.lib, tree_name, path)

        def done(got: tuple[Path | None, trees.Removed]) -> None:
            kept, removed = got
            if removed.kept is not None and tree_name is not None:
                self.undoable = (name, tree_name, removed.kept)
                self.undoChanged.emit()
            self.message.emit(f"Deleted {name} (Edit › Undo brings it back)"
                              + _backup_words(kept))
            self.refresh_labels() if self.tree_name else self.reload()

        self.engine.call(work, done=done, failed=self.problem.emit)

    def undo_delete(self) -> None:
        """Bring back the class or tree deleted last, with its classes and examples."""
        if self.undoable is None:
            return
        name, tree_name, kept = self.undoable

        def work(state: EngineState) -> trees.Removed:
            if isinstance(kept, trees.DeletedTree):
                return trees.restore_tree(state.lib, kept)
            return trees.restore_node(state.lib, tree_name, kept)

        def done(back: trees.Removed) -> None:
            self.undoable = None
            self.undoChanged.emit()
            self.message.emit(f"Brought back {name}"
                              + (f" with {plural(back.supports, 'example')}"
                                 if back.supports else ""))
            if isinstance(kept, trees.DeletedTree):
                self.tree_name = kept.name
                self.reload()
            else:
                self.refresh_labels() if self.tree_name else self.reload()

        self.engine.call(work, done=done, failed=self.problem.emit)

    # -- sources and scans ------------------------------------------------------------------

    def add_folder(self, folder: str) -> Job | None:
        return self.scan([folder])

    def rescan(self) -> Job | None:
        if not self.roots:
            self.problem.emit("No source folder yet: add a folder of samples first")
            return None
        return self.scan(self.roots)

    def scan(self, folders: Sequence[str]) -> Job | None:
        folders = [os.path.abspath(f) for f in folders]
        for f in folders:
            if not os.path.isdir(f):
                self.problem.emit(f"{f} is not a folder (or cannot be opened)")
                return None
        device, hop, model_path = (self.settings.device(), self.settings.hop(),
                                   self.settings.model_path())
        workers = self.settings.decoders()
        def ended() -> None:
            self.scanning = []
            self.reload()

        job = self.start_job("Scan", lambda lib, progress, cancel: run_scan(
            lib, folders, progress, cancel, device=device, hop=hop, model_path=model_path,
            jobs=workers), on_end=ended)
        # a link to a source or a folder inside one rescans it (core/sources.py)
        from core.sources import plan_sources

        plan = plan_sources(folders, self.roots)
        for note in plan.notes:
            self.message.emit(note)
        if job is not None and (plan.new or plan.absorbed):
            # the folder shows in Sources (and the table replaces the welcome page) at
            # once; its files appear as the scan's batches land
            self.scanning = plan.new
            self.roots = sorted({*self.roots, *plan.new} - set(plan.absorbed))
            self.rootsChanged.emit()
        return job

    def remove_folder(self, folder: str) -> None:
        def done(n: int) -> None:
            self.message.emit(f"Removed {folder} from the library ({plural(n, 'file')} forgotten; "
                              "nothing was deleted from disk)")
            self.reload(then=self.refresh_labels)

        self.engine.call(lambda state: state.lib.remove_root(folder), done=done,
                         failed=self.problem.emit)

    def start_job(self, name: str, fn: Any, on_end: Callable[[], None] | None = None
                  ) -> Job | None:
        try:
            job = self.jobs.start(name, fn)
        except SampletreeError as exc:
            self.problem.emit(str(exc))
            return None
        if on_end is not None:
            self.jobs.ended.connect(lambda j, job=job: on_end() if j is job else None)
        self.jobStarted.emit(job)
        return job

    def close(self) -> None:
        self._watch.stop()
        if self.jobs.current is not None:
            self.jobs.current.cancel()
            self.jobs.wait(30)
        self.engine.shutdown()


def run_scan(lib: Library, folders: Sequence[str], progress: Callable[[Progress], None],
             cancel: CancelToken, *, device: str = "auto", hop: float = 0.5,
             model_path: str | None = None, jobs: int | None = None,
             thresholds: Thresholds | None = None) -> Any:
    """A scan as the CLI runs it (bundled model, labels refreshed after), for a job thread."""
    from core.audio import WindowParams
    from core.classify import Classifier
    from core.scanner import ScanOptions, scan
    from models import ModelError, load_model

    progress(Progress("loading the network", 0, 0))
    try:
        model = load_model(model_path or None, device=device)
    except ModelError as exc:
        raise SampletreeError(str(exc)) from None
    window = WindowParams(sample_rate=model.info.features.sample_rate,
                          window_s=model.info.features.window_s, hop_s=hop)
    batch = 1024 if model.device.type == "cuda" else 32
    options = ScanOptions(window=window, batch_windows=batch)
    if jobs is not None:
        options = ScanOptions(jobs=jobs, window=window, batch_windows=batch)
    report = scan(lib, list(folders), model, options=options, progress=progress, cancel=cancel)
    if not report.cancelled:
        progress(Progress("labeling", 0, 0))
        from core.builtins import ensure_default_tree

        ensure_default_tree(lib)  # a fresh library is labeled with the bundled producer tree
        Classifier(lib, thresholds).refresh_all()
    return report
