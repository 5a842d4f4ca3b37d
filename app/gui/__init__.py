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
    path = library_path or settings.library_path()
    try:
        window = open_window(path, settings)
    except SampletreeError as exc:
        QMessageBox.critical(None, "Sampletree", f"Cannot open the library {path}:\n{exc}")
        return 1
    window.show()
    return int(app.exec())
