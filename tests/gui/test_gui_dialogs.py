"""The app's own file dialogs, on the library's folder, with the CLI beside the app:
SQLite's locks stay, the log is never deleted under the app, nothing is lost."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lockprobe import deleted_fds, posix_locks

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc")


def _close_dialog_after_listing(qtbot, folder: Path) -> None:
    """Wait until the open dialog has listed ``folder`` (type a path into it as a user
    would, so its completer looks too), then cancel it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(50, act)
            return
        dialog.setDirectory(str(folder))
        edit = dialog.findChild(QLineEdit)
        if edit is not None:
            edit.setText(str(folder / "lib"))
        QTimer.singleShot(900, dialog.reject)

    QTimer.singleShot(50, act)


def test_the_apps_dialogs_keep_the_librarys_locks_and_the_cli_beside_loses_nothing(
        qtbot, synth_library, settings, monkeypatch) -> None:
    from app.gui import dialogs, open_window

    db, _ids = synth_library
    monkeypatch.setenv("SAMPLETREE_NO_AUDIO", "1")
    monkeypatch.chdir(db.parent)
    w = open_window(db, settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.loaded, timeout=20_000)
    qtbot.waitUntil(lambda: bool(posix_locks(db)), timeout=10_000)

    # every file dialog the app has, pointed at the library's folder
    for open_it in (w.open_library, w.add_folder,
                    lambda: dialogs.open_file(w, "Network weights", str(db.parent)),
                    lambda: dialogs.existing_folder(w, "Destination", str(db.parent))):
        _close_dialog_after_listing(qtbot, db.parent)
        open_it()
        assert posix_locks(db), f"{open_it} dropped SQLite's locks on the library"

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["status"], ["tree", "create", "from-cli"], ["ls"]):
        out = subprocess.run([sys.executable, "-m", "app.cli", "--library", str(db), *args],
                             capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
    assert not deleted_fds(db), "the CLI deleted the library's log under the app"

    w.session.create_tree("from-app")  # the app writes after the CLI did
    qtbot.waitUntil(lambda: w.session.tree_name == "from-app", timeout=10_000)
    w.session.close()
    w.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        names = {r[0] for r in conn.execute("SELECT name FROM trees")}
    assert {"mine", "from-cli", "from-app"} <= names


def test_no_dialog_of_the_app_bypasses_the_guarded_ones() -> None:
    """Qt's static QFileDialog helpers use the stock icon provider, which reads files."""
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        if path.name == "dialogs.py":
            continue
        text = path.read_text("utf-8")
        if re.search(r"QFileDialog\s*[.(]", text) or "QFileSystemModel" in text \
                or "QFileIconProvider" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
