"""The app loses nothing without a way back: deleting a class backs the library up first,
and the restore it offers for a library that turns out sound asks again, as
`sampletree restore` refuses without --force (found by a data-loss review)."""

from __future__ import annotations

import pytest


def test_deleting_a_class_backs_the_library_up_first(qtbot, session, synth_library,
                                                     monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.gui.tree_panel import TreePanel
    from core import backup

    db = synth_library[0]
    ids = synth_library[1]
    kick = next(n for n in session.tree.nodes
                if session.tree.path(n) == ("Drums", "Kick"))
    session.teach(kick, [ids["kick00.wav"], ids["kick01.wav"]])
    qtbot.waitUntil(lambda: session.counts.get(kick, (0, 0))[0] == 2, timeout=10_000)
    assert all(b.reason != "tree-rm" for b in backup.list_backups(db))
    panel = TreePanel(session)
    qtbot.addWidget(panel)
    panel.view.setCurrentIndex(panel.model.index_of(kick))
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **_k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(session.message, timeout=10_000) as got:
        panel.delete_selected()  # the tree panel's Delete class…
    assert "2 examples" in asked[0] and "backed up first" in asked[0]
    kept = [b for b in backup.list_backups(db) if b.reason == "tree-rm"]
    assert len(kept) == 1 and str(kept[0].path) in got.args[0]
    assert f"sampletree restore --from \"{kept[0].path}\" --force" in got.args[0]
    qtbot.waitUntil(lambda: ("Drums", "Kick") not in
                    {session.tree.path(n) for n in session.tree.nodes}, timeout=10_000)
    import sqlite3

    with sqlite3.connect(f"file:{kept[0].path}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM supports").fetchone()[0] == 2
    conn.close()


@pytest.mark.parametrize("confirm", [False, True])
def test_the_offered_restore_of_a_sound_library_asks_again(synth_library, monkeypatch,
                                                           confirm: bool) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.gui import _offer_restore
    from core import backup
    from core.errors import LibraryError
    from core.library import Library, mark_damaged
    from core.trees import add_node

    db = synth_library[0]
    with Library(db) as lib:
        backup.make_backup(lib, "scan", force=True)
        add_node(lib, "mine", "Keys")
    mark_damaged(db, "a scare")  # marked, yet the file passes its check
    before = db.read_bytes()
    asked: list[str] = []

    def answer(*args, **_kw):
        asked.append(args[2])
        if len(asked) == 1:
            return QMessageBox.StandardButton.Yes
        return QMessageBox.StandardButton.Yes if confirm else QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "warning", answer)
    message = _offer_restore(db, LibraryError("a scare"))
    assert len(asked) == 2 and "passes its check" in asked[1] and "mine/Keys" in asked[1]
    if confirm:
        assert message and "Restored" in message
        assert list(db.parent.glob(db.name + ".replaced-*"))
    else:
        assert message is None and db.read_bytes() == before
        assert not list(db.parent.glob(db.name + ".replaced-*"))


def test_edit_undo_brings_a_deleted_class_back_with_its_examples(qtbot, session, synth_library,
                                                                 monkeypatch) -> None:
    """A class deleted by mistake came back only through `sampletree restore`, which also
    undid everything done since; Edit › Undo (Ctrl+Z) puts back the class itself."""
    from PySide6.QtWidgets import QMessageBox

    from app.gui.main_window import MainWindow

    ids = synth_library[1]
    window = MainWindow(session)
    qtbot.addWidget(window)
    session.reload()
    qtbot.waitUntil(lambda: session.tree is not None, timeout=10_000)
    kick = next(n for n in session.tree.nodes if session.tree.path(n) == ("Drums", "Kick"))
    session.teach(kick, [ids["kick00.wav"], ids["kick01.wav"]])
    qtbot.waitUntil(lambda: session.counts.get(kick, (0, 0))[0] == 2, timeout=10_000)
    before = sorted(session.tree.path(n) for n in session.tree.nodes)
    assert not window.act_undo.isEnabled()

    panel = window.tree_panel
    panel.view.setCurrentIndex(panel.model.index_of(kick))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **_k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(session.message, timeout=10_000) as got:
        panel.delete_selected()
    assert "Undo" in got.args[0]
    qtbot.waitUntil(lambda: ("Drums", "Kick") not in
                    {session.tree.path(n) for n in session.tree.nodes}, timeout=10_000)
    assert window.act_undo.isEnabled() and "Kick" in window.act_undo.text()

    with qtbot.waitSignal(session.message, timeout=10_000) as got:
        window.act_undo.trigger()
    assert got.args[0] == "Brought back Kick with 2 examples"
    qtbot.waitUntil(lambda: sorted(session.tree.path(n) for n in session.tree.nodes) == before,
                    timeout=10_000)
    back = next(n for n in session.tree.nodes if session.tree.path(n) == ("Drums", "Kick"))
    qtbot.waitUntil(lambda: session.counts.get(back, (0, 0))[0] == 2, timeout=10_000)
    assert not window.act_undo.isEnabled()


def test_a_tree_is_renamed_deleted_and_brought_back_from_the_class_tree(
        qtbot, session, synth_library, monkeypatch) -> None:
    """The app could create trees but not rename or delete them (only `sampletree tree`
    could); deleting one now says what goes and Edit › Undo brings it back."""
    from PySide6.QtWidgets import QInputDialog, QMessageBox

    from app.gui.main_window import MainWindow

    ids = synth_library[1]
    window = MainWindow(session)
    qtbot.addWidget(window)
    session.reload()
    qtbot.waitUntil(lambda: session.tree is not None, timeout=10_000)
    old = session.tree_name
    kick = next(n for n in session.tree.nodes if session.tree.path(n) == ("Drums", "Kick"))
    session.teach(kick, [ids["kick00.wav"]])
    qtbot.waitUntil(lambda: session.counts.get(kick, (0, 0))[0] == 1, timeout=10_000)
    classes = sorted(session.tree.path(n) for n in session.tree.nodes)

    panel = window.tree_panel
    from PySide6.QtCore import QPoint, QTimer
    from PySide6.QtWidgets import QApplication

    shown: list[str] = []

    def look() -> None:
        popup = QApplication.activePopupWidget()
        if popup is not None:
            shown.extend(a.text() for a in popup.actions())
            popup.close()

    QTimer.singleShot(100, look)
    panel._menu(QPoint(5, 5))  # the class tree's right-click menu offers both
    assert f"Rename the tree “{old}”…" in shown and f"Delete the tree “{old}”…" in shown
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **_k: ("Kit & more", True))
    with qtbot.waitSignal(session.message, timeout=10_000) as got:
        panel.rename_tree()
    assert got.args[0] == f"Renamed the tree {old} to Kit & more"
    qtbot.waitUntil(lambda: session.tree is not None and session.tree.name == "Kit & more",
                    timeout=10_000)
    assert panel.chooser.currentText() == "Kit & more"

    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **_k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(session.message, timeout=10_000) as got:
        panel.delete_tree()
    assert "1 example" in asked[0] and "Undo" in asked[0] and "backed up" in asked[0]
    assert got.args[0].startswith("Deleted the tree Kit & more (Edit › Undo brings it back)")
    qtbot.waitUntil(lambda: "Kit & more" not in session.tree_names, timeout=10_000)
    assert window.act_undo.isEnabled()
    assert window.act_undo.text() == "&Undo delete of the tree Kit && more"

    with qtbot.waitSignal(session.message, timeout=10_000) as got:
        window.act_undo.trigger()
    assert got.args[0] == "Brought back the tree Kit & more with 1 example"
    qtbot.waitUntil(lambda: session.tree is not None and session.tree.name == "Kit & more",
                    timeout=10_000)
    assert sorted(session.tree.path(n) for n in session.tree.nodes) == classes
    back = next(n for n in session.tree.nodes if session.tree.path(n) == ("Drums", "Kick"))
    qtbot.waitUntil(lambda: session.counts.get(back, (0, 0))[0] == 1, timeout=10_000)
    assert not window.act_undo.isEnabled()
