"""The desktop app (PySide6). ``run()`` opens it; nothing here is needed by the engine."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.gui.qtfix import pin_none

pin_none()  # before any Qt call: see app/gui/qtfix.py

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow
    from app.gui.player import Player
    from app.gui.settings import Settings


def has_display() -> bool:
    """Whether a window can be shown (X11 or Wayland on Linux; always elsewhere)."""
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def open_window(library_path: Path, settings: Settings, player: Player | None = None
                ) -> MainWindow:
    """A main window on the library at ``library_path`` (created when missing)."""
    from app.gui.main_window import MainWindow
    from app.gui.session import Session
    from core.library import Library
    from core.relabel import recover

    # Open once here, on the UI thread, so a library that cannot be opened (newer schema,
    # not a library) is a message before any window exists; finish interrupted relabels.
    with Library(library_path, create=True) as lib:
        messages = recover(lib)
    session = Session(library_path, settings)
    window = MainWindow(session, player)
    settings.remember_library(library_path)
    session.reload()
    for text in messages:
        window.show_message(text)
    return window


def run(library_path: Path | None = None, argv: list[str] | None = None) -> int:
    """Open the app and run until its window closes."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.gui.settings import Settings
    from core.errors import SampletreeError

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Sampletree")
    app.setOrganizationName("Sampletree")
    app.setApplicationDisplayName("Sampletree")
    settings = Settings()
    from app.gui.theme import apply_theme

    apply_theme(settings.theme(), app)
    path = library_path or settings.library_path()
    restored = None
    try:
        try:
            window = open_window(path, settings)
        except SampletreeError as exc:
            restored = _offer_restore(path, exc)
            if restored is None:
                raise
            window = open_window(path, settings)
    except SampletreeError as exc:
        QMessageBox.critical(None, "Sampletree", f"Cannot open the library {path}:\n{exc}")
        return 1
    window.show()
    if restored is not None:
        window.show_message(restored)
        window.session.rescan()
    return int(app.exec())


def _offer_restore(path: Path, exc: Exception) -> str | None:
    """A damaged library with a good backup: offer to put the backup back. Returns the
    message to show once restored, None when declined (or nothing to restore)."""
    import time

    from PySide6.QtWidgets import QMessageBox

    from core.backup import WouldLose, list_backups, restore
    from core.errors import SampletreeError
    from core.library import damage_note

    good = [b for b in list_backups(path) if b.check == "ok"]
    if damage_note(path) is None or not good:
        return None
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(good[0].made_at))
    answer = QMessageBox.warning(
        None, "Sampletree",
        f"The library {path} is damaged:\n{exc}\n\nPut back its last good backup (made "
        f"{when}, before a {good[0].reason}) and rescan its folders? The damaged file is "
        "kept beside it. Labels and examples added since the backup are not in it.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes)
    if answer != QMessageBox.StandardButton.Yes:
        return None
    try:
        try:
            restore(path, good[0].path)
        except WouldLose as lose:  # it passes its check after all: the same warning as
            # `sampletree restore`, and replaced only when confirmed (its --force)
            again = QMessageBox.warning(
                None, "Sampletree",
                f"{lose}\n\nReplace the library with the backup anyway?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if again != QMessageBox.StandardButton.Yes:
                return None
            restore(path, good[0].path, force=True)
    except SampletreeError as err:
        QMessageBox.critical(None, "Sampletree", f"The backup could not be restored:\n{err}")
        return None
    return f"Restored the backup of {when}; rescanning the library's folders"
