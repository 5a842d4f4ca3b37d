"""The relabel dialog's preview names files inside their source and their destination."""

from __future__ import annotations


def test_relabel_preview_shows_paths_inside_source_and_destination(qtbot, disk_session,
                                                                    tmp_path) -> None:
    """Found by a fresh-eyes review: Now and Becomes showed whole paths elided in the
    middle ("/home/me/Sor…ss/Fingered A1.flac"), which cut out exactly the label folders
    a preview is there to check."""
    from PySide6.QtCore import Qt

    from app.gui.relabel_dialog import RelabelDialog

    session, lib = disk_session
    ids = {session.rows.name[i]: int(session.rows.ids[i]) for i in range(len(session.rows))}
    for node, kind in (("Drums/Kick", "kick"), ("Drums/Snare", "snare"), ("Bass", "bass")):
        session.teach(session.tree.find(node).id, [ids[f"{kind}{i:02d}.wav"] for i in range(3)])
    qtbot.waitUntil(lambda: int(session.rows.support.sum()) == 9, timeout=20_000)
    session.roots = [str(lib)]
    dialog = RelabelDialog(session)
    qtbot.addWidget(dialog)
    dialog.mode.setCurrentIndex(dialog.mode.findData("copy"))
    dest = tmp_path / "Sorted"
    dest.mkdir()
    dialog.dest.setText(str(dest))
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=30_000)
    model = dialog.preview_model
    assert model.rowCount() > 0, (dialog.summary.text(), dialog.plan)
    r = next(i for i, row in enumerate(model.rows) if row["src"].endswith("kick03.wav"))
    now, becomes = model.index(r, 0), model.index(r, 1)
    assert model.data(now) == "kicks/kick03.wav"
    full = model.rows[r]["dst"]
    assert full.startswith(str(dest / "Drums" / "Kick"))
    assert model.data(becomes) == "Sorted/" + full[len(str(dest)) + 1:]
    assert model.data(becomes).startswith("Sorted/Drums/Kick/")
    assert model.data(becomes, Qt.ItemDataRole.ToolTipRole) == full
    assert model.data(now, Qt.ItemDataRole.ToolTipRole) == str(lib / "kicks" / "kick03.wav")
