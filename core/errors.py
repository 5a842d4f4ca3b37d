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


class LibraryFull(LibraryError):
    """The drive holding the library is full: the write in flight was rolled back.

    ``then`` says what to do once space is freed (the job that hit it knows best: a scan
    goes on where it stopped, a relabel batch is settled and resumed)."""

    def __init__(self, path: object, then: str = "try again") -> None:
        self.path = path
        super().__init__(f"the disk is full while writing the library {path}; the change in "
                         f"flight was rolled back and nothing else was lost — free some space "
                         f"and {then}")


class Cancelled(SampletreeError):
    """A job was stopped through its cancel token."""


class TreeError(SampletreeError):
    """A class tree, one of its nodes, a tree file or a support example is not acceptable."""


class RelabelError(SampletreeError):
    """A relabel batch cannot be planned, applied or undone as asked (the message says why)."""
