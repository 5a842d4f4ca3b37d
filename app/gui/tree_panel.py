"""The class tree panel: the user's tree, taught by dropping files on its nodes.

Drops are handled by the model (:meth:`ClassTreeModel.dropMimeData`): library files
dropped on a node become its examples; a node dropped on another node moves under it.
Everything else (create, rename, delete, switch or create trees) is an action with a
shortcut, so the panel works from the keyboard as well as with the mouse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QMimeData, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.gui.mime import SAMPLE_IDS, sample_ids
from app.gui.session import Session
from app.gui.text import plural
from core import trees

NODE_MIME = "application/x-sampletree-node"
NODE_ID = Qt.ItemDataRole.UserRole + 1
BUILTINS_TIP = ("Label with the examples that ship with this bundled tree until you teach it; "
                "your own examples outweigh them near them. Labels that rest on them only are "
                "marked ◦.")
#: a tree of the user's own whose nodes a bundled tree has built-ins for ({}: that tree)
BUILTINS_OFFER_TIP = ("Some classes of this tree match classes of the bundled {} tree that "
                      "have built-in examples (Drums › Kick, Piano…, by path or by name): "
                      "switch them on to label those classes before "
                      "you teach them; your own examples outweigh them near them. Labels that "
                      "rest on them only are marked ◦.")
BUILTINS_BARE_TIP = ("\n\n{} of this tree would get none ({}): they would lose files to "
                     "the classes that do until you teach them.")
_Index = QModelIndex | QPersistentModelIndex


class ClassTreeModel(QStandardItemModel):
    """Node | Examples | Files, rebuilt from the session's tree and counts."""

    #: sample ids dropped on a node: (node id, ids)
    filesDropped = Signal(int, list)
    #: a node dropped on another (node id, new parent id; the root id for the top level)
    nodeDropped = Signal(int, int)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeaderLabels(["Class", "★", "Files"])
        self.horizontalHeaderItem(1).setToolTip("Examples you gave this class")
        self.horizontalHeaderItem(2).setToolTip("Files labeled with this class or below it")
        self.root_id: int | None = None

    def rebuild(self, tree: trees.Tree | None, counts: dict[int, tuple[int, int]]) -> None:
        self.removeRows(0, self.rowCount())
        self.root_id = None if tree is None else tree.root_id
        if tree is None:
            return
        items: dict[int, QStandardItem] = {}
        for nid in tree.walk():
            node = tree.nodes[nid]
            n_sup, n_files = counts.get(nid, (0, 0))
            name = QStandardItem(node.name)
            name.setData(nid, NODE_ID)
            name.setEditable(True)
            name.setDropEnabled(True)
            name.setDragEnabled(True)
            name.setToolTip(f"{tree.path_str(nid).replace('/', ' › ')}\n"
                            f"{plural(n_sup, 'example')} here, {plural(n_files, 'file')} "
                            "labeled here or below")
            name.setData(f"{node.name}, {plural(n_sup, 'example')}, {plural(n_files, 'file')}",
                         Qt.ItemDataRole.AccessibleTextRole)
            sup = QStandardItem(str(n_sup) if n_sup else "")
            files = QStandardItem(f"{n_files:,}" if n_files else "")
            for extra in (sup, files):
                extra.setEditable(False)
                extra.setDropEnabled(True)
                extra.setData(nid, NODE_ID)
                extra.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            parent = items.get(node.parent_id) if node.parent_id != tree.root_id else None
            (parent or self.invisibleRootItem()).appendRow([name, sup, files])
            items[nid] = name

    def node_id(self, index: _Index) -> int | None:
        if not index.isValid():
            return None
        value = index.siblingAtColumn(0).data(NODE_ID)
        return None if value is None else int(value)

    def index_of(self, node_id: int) -> QModelIndex:
        hits = self.match(self.index(0, 0), NODE_ID, node_id, 1,
                          Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        return hits[0] if hits else QModelIndex()

    # -- drag and drop ------------------------------------------------------------------

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction | Qt.DropAction.MoveAction | Qt.DropAction.LinkAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [SAMPLE_IDS, NODE_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        ids = sorted({n for i in indexes if (n := self.node_id(i)) is not None})
        mime = QMimeData()
        mime.setData(NODE_MIME, json.dumps(ids[:1]).encode())
        return mime

    def canDropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int,
                        parent: _Index) -> bool:
        if data.hasFormat(SAMPLE_IDS):
            return self.node_id(parent) is not None  # files go on a node, not between
        return data.hasFormat(NODE_MIME)

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int,
                     parent: _Index) -> bool:
        target = self.node_id(parent)
        ids = sample_ids(data)
        if ids:
            if target is None:
                return False
            self.filesDropped.emit(target, ids)
            return False  # the session re-reads the tree; Qt must not insert rows itself
        if data.hasFormat(NODE_MIME):
            try:
                moved = json.loads(bytes(data.data(NODE_MIME).data()).decode())
            except ValueError:
                return False
            if moved and self.root_id is not None:
                self.nodeDropped.emit(int(moved[0]), target if target is not None
                                      else self.root_id)
        return False


class ClassTreeView(QTreeView):
    """A tree view that accepts drops on items (and node moves to the top level)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)

    def dragEnterEvent(self, event: Any) -> None:
        if event.mimeData().hasFormat(SAMPLE_IDS) or event.mimeData().hasFormat(NODE_MIME):
            event.setDropAction(Qt.DropAction.CopyAction if event.mimeData().hasFormat(
                SAMPLE_IDS) else Qt.DropAction.MoveAction)
            event.accept()
            return
        event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        super().dragMoveEvent(event)
        index = self.indexAt(event.position().toPoint())
        if event.mimeData().hasFormat(SAMPLE_IDS):
            if index.isValid():
                event.setDropAction(Qt.DropAction.CopyAction)
                event.accept()
            else:
                event.ignore()
        elif event.mimeData().hasFormat(NODE_MIME):
            event.setDropAction(Qt.DropAction.MoveAction)
            event.accept()

    def dropEvent(self, event: Any) -> None:
        index = self.indexAt(event.position().toPoint())
        model = self.model()
        if isinstance(model, ClassTreeModel):
            model.dropMimeData(event.mimeData(), event.dropAction(), -1, -1, index)
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            return
        super().dropEvent(event)


class TreePanel(QWidget):
    """Tree chooser, the tree, and the actions on it."""

    #: the user asked to see a node's files (node path, "" for all)
    showNode = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("treePanel")
        self.model = ClassTreeModel(self)
        self.model.filesDropped.connect(self.session.teach)
        self.model.nodeDropped.connect(self._move)
        self.model.itemChanged.connect(self._renamed)

        self.chooser = QComboBox(self)
        self.chooser.setAccessibleName("Class tree")
        # short: the combo box is at least as wide as its placeholder, and "No class tree
        # yet" widened the laptop's 215-px dock by 13 px
        self.chooser.setPlaceholderText("No tree yet")
        self.chooser.setToolTip("The class tree whose labels are shown")
        self.chooser.activated.connect(lambda _i: self._choose())
        self.new_tree_button = QToolButton(self)
        self.new_tree_button.setText("New tree…")
        self.new_tree_button.setAccessibleName("New tree")
        self.new_tree_button.setToolTip("Create a class tree, empty or from a bundled one")
        self.new_tree_button.clicked.connect(self.new_tree)

        self.view = ClassTreeView(self)
        self.view.setObjectName("classTree")
        self.view.setModel(self.model)
        self.view.setAccessibleName("Class tree nodes")
        self.view.setAccessibleDescription(
            "Drop files on a node to make them its examples. F2 renames, Insert adds a "
            "child, Delete removes; a click (or Enter) shows the node's files.")
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.SelectedClicked)
        self.view.setUniformRowHeights(True)
        # a browser sidebar's compact steps: at 1024 px (a 216-px dock) the default 20 px
        # a level cut "Electric Bass" and "Electric Piano" two levels down
        self.view.setIndentation(12)
        self.view.setAlternatingRowColors(True)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        # a click shows the class's files, as a browser's sidebar does (Enter and a
        # double-click too)
        self.view.clicked.connect(self._activated)
        self.view.activated.connect(self._activated)

        self.hint = QLabel(self)
        self.hint.setObjectName("treeHint")
        self.hint.setWordWrap(True)
        self.hint.setAccessibleName("Tree hint")

        add = QToolButton(self)
        add.setText("+")
        add.setAccessibleName("Add class")
        add.setToolTip("Add a class under the selected one (Insert)")
        add.clicked.connect(self.add_child)
        remove = QToolButton(self)
        remove.setText("−")
        remove.setAccessibleName("Delete class")
        remove.setToolTip("Delete the selected class and its examples (Delete)")
        remove.clicked.connect(self.delete_selected)
        self.builtins_button = QToolButton(self)
        self.builtins_button.setText("Built-in examples")
        self.builtins_button.setCheckable(True)
        self.builtins_button.setAccessibleName("Built-in examples")
        self.builtins_button.setToolTip(BUILTINS_TIP)
        self.builtins_button.toggled.connect(self.session.set_builtins)

        self.act_add = self._action("Add class…", QKeySequence(Qt.Key.Key_Insert), self.add_child)
        self.act_rename = self._action("Rename", QKeySequence(Qt.Key.Key_F2), self.rename)
        self.act_delete = self._action("Delete class…", QKeySequence.StandardKey.Delete,
                                       self.delete_selected)
        self.act_top = self._action("Move to top level", QKeySequence(), self._to_top)

        top = QHBoxLayout()
        top.addWidget(self.chooser, 1)
        top.addWidget(self.new_tree_button)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        buttons.addWidget(self.builtins_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.hint)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        session.treeChanged.connect(self.rebuild)
        session.rootsChanged.connect(self._rehint)  # a scan starts or ends
        self.rebuild()

    def _action(self, text: str, key: QKeySequence, slot: Any) -> QAction:
        action = QAction(text, self.view)
        action.setShortcut(key)
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(slot)
        self.view.addAction(action)
        return action

    # -- state ------------------------------------------------------------------------------

    def rebuild(self) -> None:
        s = self.session
        current = self.current_node()
        self.chooser.blockSignals(True)
        self.chooser.clear()
        self.chooser.addItems(s.tree_names)
        if s.tree_name:
            self.chooser.setCurrentText(s.tree_name)
        self.chooser.blockSignals(False)
        self.chooser.setEnabled(bool(s.tree_names))
        self.model.blockSignals(True)
        self.model.rebuild(s.tree, s.counts)
        self.model.blockSignals(False)
        self.view.reset()
        self.view.expandAll()
        if current is not None:
            index = self.model.index_of(current)
            if index.isValid():
                self.view.setCurrentIndex(index)
        self.hint.setText(self._hint())
        self.hint.setVisible(bool(self.hint.text()))
        source, off = s.builtins
        self.builtins_button.blockSignals(True)
        self.builtins_button.setChecked(source is not None and not off)
        self.builtins_button.blockSignals(False)
        self.builtins_button.setVisible(source is not None or s.builtins_offer is not None)
        bare = s.builtins_bare
        shown = ", ".join(bare[:3]) + (", …" if len(bare) > 3 else "")
        self.builtins_button.setToolTip(
            BUILTINS_TIP if source is not None or s.builtins_offer is None else
            BUILTINS_OFFER_TIP.format(s.builtins_offer) + (
                BUILTINS_BARE_TIP.format(plural(len(bare), "class", "classes"), shown)
                if bare else ""))

    def _rehint(self) -> None:
        self.hint.setText(self._hint())
        self.hint.setVisible(bool(self.hint.text()))

    def _hint(self) -> str:
        s = self.session
        if s.tree is None and s.scanning:  # the first scan makes the producer tree
            return ("When this scan ends, its files are labeled with the bundled producer "
                    "tree: it shows here.")
        if s.tree is None:
            return "Create a class tree to start teaching: New tree…"
        if not len(s.tree):
            return "Add classes with + (or Insert)."
        if not any(n for n, _f in s.counts.values()) and s.builtins[0] and not s.builtins[1]:
            return ("Labels marked ◦ come from the built-in examples of this bundled tree. "
                    "Drag your own files onto a class to teach it where they are wrong.")
        if not any(n for n, _f in s.counts.values()):
            return ("Drag a few examples from the library onto a class: five kicks on Kick, "
                    "five snares on Snare… every file is labeled at once.")
        return ""

    def current_node(self) -> int | None:
        return self.model.node_id(self.view.currentIndex())

    def _path(self, node_id: int | None) -> str:
        if node_id is None or self.session.tree is None:
            return ""
        return self.session.tree.path_str(node_id)

    # -- actions ------------------------------------------------------------------------------

    def _choose(self) -> None:
        self.session.set_tree(self.chooser.currentText())

    def new_tree(self) -> None:
        choices = ["Empty tree", *[f"Copy of the bundled tree “{d}”" for d in
                                   trees.default_trees()]]
        choice, ok = QInputDialog.getItem(self, "New class tree", "Start from:", choices, 1
                                          if len(choices) > 1 else 0, False)
        if not ok:
            return
        default = None if choice == choices[0] else trees.default_trees()[choices.index(choice) - 1]
        name, ok = QInputDialog.getText(self, "New class tree", "Name of the tree:",
                                        text=default or "My tree")
        if ok and name.strip():
            self.session.create_tree(name.strip(), default)

    def add_child(self) -> None:
        if self.session.tree_name is None:
            self.new_tree()
            return
        parent = self.current_node()
        where = self._path(parent).replace("/", " › ") or "the top level"
        name, ok = QInputDialog.getText(self, "Add class", f"New class under {where}:")
        if ok and name.strip():
            path = [*(self.session.tree.path(parent) if parent and self.session.tree else ()),
                    name.strip()]
            self.session.edit_tree(trees.add_node, path, message=f"Added {name.strip()}")

    def rename(self) -> None:
        index = self.view.currentIndex()
        if index.isValid():
            self.view.edit(index.siblingAtColumn(0))

    def _renamed(self, item: QStandardItem) -> None:
        nid = item.data(NODE_ID)
        tree = self.session.tree
        if nid is None or tree is None or item.column() != 0:
            return
        new = item.text().strip()
        old = tree.nodes[int(nid)].name
        if new and new != old:
            self.session.edit_tree(trees.rename_node, tree.path(int(nid)), new,
                                   message=f"Renamed {old} to {new}")
        elif not new:
            self.rebuild()

    def delete_selected(self) -> None:
        nid = self.current_node()
        tree = self.session.tree
        if nid is None or tree is None:
            return
        below = len(tree.descendants(nid))
        n_sup = sum(self.session.counts.get(n, (0, 0))[0] for n in [nid, *tree.descendants(nid)])
        text = (f"Delete the class {tree.path_str(nid).replace('/', ' › ')}"
                + (f" and the {plural(below, 'class', 'classes')} below it" if below else "")
                + (f"? Its {plural(n_sup, 'example')} stop being examples" if n_sup else "?")
                + " (your files are not touched; the library is backed up first).")
        if QMessageBox.question(self, "Delete class", text) == QMessageBox.StandardButton.Yes:
            self.session.delete_node(tree.path(nid), tree.nodes[nid].name)

    def _move(self, node_id: int, new_parent: int) -> None:
        tree = self.session.tree
        if tree is None or node_id not in tree.nodes or node_id == new_parent:
            return
        if tree.nodes[node_id].parent_id == new_parent:
            return
        self.session.edit_tree(trees.move_node, tree.path(node_id),
                               tree.path(new_parent) if new_parent != tree.root_id else "",
                               message=f"Moved {tree.nodes[node_id].name}")

    def _to_top(self) -> None:
        nid = self.current_node()
        if nid is not None and self.model.root_id is not None:
            self._move(nid, self.model.root_id)

    def _activated(self, index: QModelIndex) -> None:
        self.showNode.emit(self._path(self.model.node_id(index)))

    def teach_selected(self, sample_ids: Sequence[int]) -> None:
        """Keyboard teaching: the selected files become examples of the current node."""
        nid = self.current_node()
        if nid is None:
            self.session.problem.emit("Select a class in the tree first")
            return
        self.session.teach(nid, sample_ids)

    def _menu(self, pos: Any) -> None:
        menu = QMenu(self)
        menu.addAction(self.act_add)
        menu.addAction(self.act_rename)
        menu.addAction(self.act_top)
        menu.addSeparator()
        menu.addAction(self.act_delete)
        if self.session.tree_name is not None:
            menu.addSeparator()
            shown = self.session.tree_name.replace("&", "&&")
            menu.addAction(f"Rename the tree “{shown}”…", self.rename_tree)
            menu.addAction(f"Delete the tree “{shown}”…", self.delete_tree)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def rename_tree(self) -> None:
        old = self.session.tree_name
        if old is None:
            return
        new, ok = QInputDialog.getText(self, "Rename class tree", "New name of the tree:",
                                       text=old)
        if ok and new.strip() and new.strip() != old:
            self.session.rename_tree(old, new.strip())

    def delete_tree(self) -> None:
        tree = self.session.tree
        if tree is None:
            return
        n_sup = sum(n for n, _files in self.session.counts.values())
        text = (f"Delete the tree {tree.name} with its "
                f"{plural(len(tree), 'class', 'classes')}"
                + (f" and {plural(n_sup, 'example')}" if n_sup else "")
                + "? Your files are not touched; Edit › Undo brings it back, and the library "
                "is backed up first.")
        if QMessageBox.question(self, "Delete class tree", text) == QMessageBox.StandardButton.Yes:
            self.session.delete_tree(tree.name)
