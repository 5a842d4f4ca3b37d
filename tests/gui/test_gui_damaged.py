"""The app on a damaged library: a clear message and, where a good backup exists, the
offer to put it back (the damaged file is kept)."""

from __future__ import annotations

import os
import sqlite3

import pytest

from core.errors import SampletreeError


def _damage(db) -> None:
    with sqlite3.connect(db) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(db, "r+b") as f:
        f.seek(page)
        f.write(os.urandom(page))


def test_a_damaged_library_offers_its_backup_and_opens_after(qtbot, synth_library, settings,
                                                            monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.gui import _offer_restore, open_window
    from core import backup
    from core.library import Library

    db, ids = synth_library
    with Library(db) as lib:
        backup.make_backup(lib, "scan", force=True)
    _damage(db)
    with pytest.raises(SampletreeError, match="damaged") as err:
        open_window(db, settings)
    asked = []

    def answer(*args, **_kw):
        asked.append(args[2])
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "warning", answer)
    message = _offer_restore(db, err.value)
    assert message and "Restored" in message
    assert "damaged" in asked[0] and "before a scan" in asked[0]
    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    w = open_window(db, settings)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.session.loaded, timeout=20_000)
    assert len(w.session.rows.ids) == len(ids)
    w.session.close()
    assert list(db.parent.glob(db.name + ".replaced-*"))


def test_declining_the_restore_leaves_everything_as_it_was(synth_library, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.gui import _offer_restore
    from core import backup
    from core.library import Library

    db, _ids = synth_library
    with Library(db) as lib:
        backup.make_backup(lib, "scan", force=True)
    _damage(db)
    before = db.read_bytes()
    with pytest.raises(SampletreeError) as err:
        Library(db)
    monkeypatch.setattr(QMessageBox, "warning",
                        lambda *a, **k: QMessageBox.StandardButton.No)
    assert _offer_restore(db, err.value) is None
    assert db.read_bytes() == before
