"""File dialogs that never open the files they list.

Qt's file dialog asks its icon provider for each file's type and icon, and the stock
provider finds them with ``QMimeDatabase`` in its default mode, which reads the first
bytes of every file whose name does not settle the type. On the library's folder that
means opening and closing ``library.sqlite``, ``-wal`` and ``-shm`` on the UI thread.
POSIX advisory locks belong to the process, so that close silently drops every lock
SQLite holds on the library in this process; a command-line ``sampletree`` beside the
app then believes it is alone and checkpoints or resets the write-ahead log under the
app (SQLite's "How To Corrupt An SQLite Database File", section 2.2). Measured here:
one File › Open library… on the library's folder, even cancelled, left the app with no
lock in ``/proc/locks``.

Every dialog of the app is made here, non-native (a native GTK dialog sniffs contents
the same way and we cannot give it a provider), with a provider that names types and
icons from the file name alone. ``tests/gui/test_gui_dialogs.py`` traces the app's own
dialogs on a library folder and fails if any of them opens a file there.
"""

from __future__ import annotations

from PySide6.QtCore import QFileInfo, QMimeDatabase, QMimeType
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QFileDialog, QFileIconProvider, QWidget


class NameOnlyIconProvider(QFileIconProvider):
    """Icons and type names from the file's name and kind only: no file is opened."""

    def __init__(self) -> None:
        super().__init__()
        self._mimes = QMimeDatabase()
        self._icons: dict[str, QIcon] = {}

    def _mime(self, info: QFileInfo) -> QMimeType:
        return self._mimes.mimeTypeForFile(info.fileName(),
                                           QMimeDatabase.MatchMode.MatchExtension)

    def icon(self, what):  # type: ignore[no-untyped-def]  # IconType or QFileInfo, as Qt's
        if not isinstance(what, QFileInfo):
            return super().icon(what)
        if what.isDir():
            return super().icon(QFileIconProvider.IconType.Folder)
        name = self._mime(what).iconName()
        if name not in self._icons:
            fallback = super().icon(QFileIconProvider.IconType.File)
            self._icons[name] = QIcon.fromTheme(name, fallback)
        return self._icons[name]

    def type(self, info: QFileInfo) -> str:
        if info.isDir():
            return "Folder"
        mime = self._mime(info)
        return "File" if mime.isDefault() else mime.comment()


def _dialog(parent: QWidget | None, caption: str, folder: str,
            name_filter: str = "") -> QFileDialog:
    dialog = QFileDialog(parent, caption, folder, name_filter)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    provider = NameOnlyIconProvider()
    dialog.setIconProvider(provider)
    dialog._name_only_provider = provider  # type: ignore[attr-defined]  # keep it alive
    return dialog


def _run(dialog: QFileDialog) -> str:
    try:
        if dialog.exec() and dialog.selectedFiles():
            return dialog.selectedFiles()[0]
        return ""
    finally:
        dialog.deleteLater()


def existing_folder(parent: QWidget | None, caption: str, folder: str = "") -> str:
    """A folder chosen by the user, or ``""``."""
    dialog = _dialog(parent, caption, folder)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    return _run(dialog)


def save_file(parent: QWidget | None, caption: str, path: str = "", name_filter: str = "",
              *, confirm_overwrite: bool = True) -> str:
    """A file name to write (it may exist already), or ``""``."""
    dialog = _dialog(parent, caption, path, name_filter)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setOption(QFileDialog.Option.DontConfirmOverwrite, not confirm_overwrite)
    return _run(dialog)


def open_file(parent: QWidget | None, caption: str, path: str = "",
              name_filter: str = "") -> str:
    """An existing file chosen by the user, or ``""``."""
    dialog = _dialog(parent, caption, path, name_filter)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    return _run(dialog)
