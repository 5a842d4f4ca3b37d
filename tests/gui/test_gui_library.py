"""The library table, the class tree panel and teaching by drag and drop (offscreen)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QModelIndex, Qt

from app.gui.library_table import LibraryView
from app.gui.mime import SAMPLE_IDS, files_mime, sample_ids
from app.gui.tree_panel import ClassTreeModel, TreePanel
from core.browse import COLUMNS, Filter


def _node(session, path: str) -> int:
    return session.tree.find(path).id


def _labels(session) -> dict[str, str]:
    rows = session.rows
    return {n: lab for n, lab in zip(rows.name.tolist(), rows.label.tolist(), strict=True)}


def test_table_shows_every_file_sorted_and_filtered(qtbot, session) -> None:
    view = LibraryView(session)
    qtbot.addWidget(view)
    session.rowsChanged.emit()
    model = view.table
    assert model.rowCount() == 30
    names = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    assert names == sorted(names)
    model.sort(0, Qt.SortOrder.DescendingOrder)
    assert model.data(model.index(0, 0)) == max(names)
    model.sort(COLUMNS.index("duration"))
    durations = [session.rows.duration[model.view[r]] for r in range(model.rowCount())]
    assert durations == sorted(durations)
    model.set_filter(Filter(text="snare0"))
    assert model.rowCount() == 10
    assert all("snare" in model.data(model.index(r, 0)) for r in range(10))
    model.set_filter(Filter(text="bass 05"))
    assert [model.data(model.index(r, 0)) for r in range(model.rowCount())] == ["bass05.wav"]
    model.set_filter(Filter(folder="/lib/kicks"))
    assert model.rowCount() == 10


def test_drag_from_table_carries_file_urls_and_ids(qtbot, session) -> None:
    view = LibraryView(session)
    qtbot.addWidget(view)
    session.rowsChanged.emit()
    model = view.table
    mime = model.mimeData([model.index(0, 0), model.index(0, 2), model.index(1, 0)])
    assert sample_ids(mime) == [model.sample_id(0), model.sample_id(1)]
    assert [u.toLocalFile() for u in mime.urls()] == [
        str(session.rows.path[model.view[0]]), str(session.rows.path[model.view[1]])]
    assert model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsDragEnabled


def test_drop_on_a_node_creates_examples_and_relabels_everything(qtbot, session,
                                                                  synth_library) -> None:
    ids = synth_library[1]
    panel = TreePanel(session)
    qtbot.addWidget(panel)
    assert not session.rows.label.any()
    model: ClassTreeModel = panel.model
    for node, kind in (("Drums/Kick", "kick"), ("Drums/Snare", "snare"), ("Bass", "bass")):
        index = model.index_of(_node(session, node))  # the model is rebuilt after each drop
        assert index.isValid()
        mime = files_mime([ids[f"{kind}{i:02d}.wav"] for i in range(3)], ["/x"] * 3)
        assert model.canDropMimeData(mime, Qt.DropAction.CopyAction, -1, -1, index)
        with qtbot.waitSignal(session.rowsChanged, timeout=10_000):
            model.dropMimeData(mime, Qt.DropAction.CopyAction, -1, -1, index)
    session.engine.wait_idle()
    qtbot.waitUntil(lambda: session.rows.support.sum() == 9, timeout=10_000)
    labels = _labels(session)
    # every file is labeled, and the held-out ones land in their own cluster
    assert labels["kick07.wav"].startswith("Drums")
    assert labels["snare08.wav"].startswith("Drums")
    assert labels["bass09.wav"] == "Bass"
    assert sum(1 for n, lab in labels.items() if lab.endswith(n[:4].title())) >= 20
    # counts per node: 3 examples each, files labeled at or below
    assert session.counts[_node(session, "Drums/Kick")][0] == 3
    assert session.counts[_node(session, "Drums")][1] >= 18
    # the tree panel shows them
    kick = panel.model.index_of(_node(session, "Drums/Kick"))
    assert panel.model.data(kick.siblingAtColumn(1)) == "3"


def test_correcting_a_file_moves_its_example(qtbot, session, synth_library) -> None:
    ids = synth_library[1]
    panel = TreePanel(session)
    qtbot.addWidget(panel)
    bass = panel.model.index_of(_node(session, "Bass"))
    panel.model.dropMimeData(files_mime([ids["kick00.wav"]], ["/x"]),
                             Qt.DropAction.CopyAction, -1, -1, bass)  # a mistake
    qtbot.waitUntil(lambda: _labels(session).get("kick00.wav") == "Bass", timeout=10_000)
    kick = panel.model.index_of(_node(session, "Drums/Kick"))
    panel.model.dropMimeData(files_mime([ids["kick00.wav"]], ["/x"]),
                             Qt.DropAction.CopyAction, -1, -1, kick)  # corrected
    qtbot.waitUntil(lambda: _labels(session).get("kick00.wav") == "Drums/Kick", timeout=10_000)
    assert session.rows.support.sum() == 1


def test_files_cannot_be_dropped_between_nodes(qtbot, session) -> None:
    panel = TreePanel(session)
    qtbot.addWidget(panel)
    mime = files_mime([1], ["/x"])
    assert mime.hasFormat(SAMPLE_IDS)
    assert not panel.model.canDropMimeData(mime, Qt.DropAction.CopyAction, 0, 0, QModelIndex())


def test_tree_edits_create_rename_move_delete(qtbot, session) -> None:
    from core import trees

    panel = TreePanel(session)
    qtbot.addWidget(panel)

    def names() -> list[str]:
        t = session.tree
        return [t.path_str(n) for n in t.walk()]

    session.edit_tree(trees.add_node, "Drums/Hat")
    qtbot.waitUntil(lambda: "Drums/Hat" in names(), timeout=10_000)
    # rename in place, as the delegate's editor does
    item = panel.model.itemFromIndex(panel.model.index_of(_node(session, "Drums/Hat")))
    item.setText("Hi-hat")
    qtbot.waitUntil(lambda: "Drums/Hi-hat" in names(), timeout=10_000)
    # drag a node onto another: re-parent
    mime = panel.model.mimeData([panel.model.index_of(_node(session, "Drums/Hi-hat"))])
    panel.model.dropMimeData(mime, Qt.DropAction.MoveAction, -1, -1,
                             panel.model.index_of(_node(session, "Bass")))
    qtbot.waitUntil(lambda: "Bass/Hi-hat" in names(), timeout=10_000)
    # dropped on empty space: top level
    mime = panel.model.mimeData([panel.model.index_of(_node(session, "Bass/Hi-hat"))])
    panel.model.dropMimeData(mime, Qt.DropAction.MoveAction, -1, -1, QModelIndex())
    qtbot.waitUntil(lambda: "Hi-hat" in names(), timeout=10_000)
    session.edit_tree(trees.delete_node, "Hi-hat")
    qtbot.waitUntil(lambda: "Hi-hat" not in names(), timeout=10_000)


def test_a_refused_edit_is_a_message_not_a_crash(qtbot, session) -> None:
    from core import trees

    with qtbot.waitSignal(session.problem, timeout=10_000) as got:
        session.edit_tree(trees.move_node, "Drums", "Drums/Kick")
    assert "Drums" in got.args[0]


def test_label_filter_includes_the_subtree(qtbot, session, synth_library) -> None:
    ids = synth_library[1]
    session.teach(_node(session, "Drums/Kick"), [ids["kick00.wav"], ids["kick01.wav"]])
    session.teach(_node(session, "Bass"), [ids["bass00.wav"], ids["bass01.wav"]])
    qtbot.waitUntil(lambda: session.rows.support.sum() == 4, timeout=10_000)
    from core.browse import select_rows

    drums = select_rows(session.rows, Filter(label="Drums"))
    assert len(drums) >= 9  # the kicks (snares, with no class of their own, are unknown)
    assert all(session.rows.label[r].startswith("Drums") for r in drums)
    assert len(select_rows(session.rows, Filter(supports_only=True))) == 4
    assert np.all(session.rows.confidence[select_rows(
        session.rows, Filter(min_confidence=0.9))] >= 0.9)
