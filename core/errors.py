"""Errors the engine raises on purpose. Each carries a message fit for a user."""


class SampletreeError(Exception):
    """Base class: the front ends print ``str(error)`` as one line and exit non-zero."""


class AudioError(SampletreeError):
    """A file could not be decoded; the message says why in plain words.

    ``transient``: the file could not be read at all (permissions, a vanished file, a
    FIFO, an I/O error), so there is no verdict on its content; a rescan tries again.
    """

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        self.transient = message.startswith(_UNREAD) if transient is None else transient


#: How the reasons start that say the bytes could not be read (no verdict on them).
_UNREAD = ("file disappeared", "cannot read file", "permission denied", "not a regular file")


class LibraryError(SampletreeError):
    """The library database cannot be opened, migrated or written."""


class Cancelled(SampletreeError):
    """A job was stopped through its cancel token."""


class TreeError(SampletreeError):
    """A class tree, one of its nodes, a tree file or a support example is not acceptable."""


class RelabelError(SampletreeError):
    """A relabel batch cannot be planned, applied or undone as asked (the message says why)."""
