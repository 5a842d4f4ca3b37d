"""Guards every process keeps on a library file, beside SQLite's own locks.

SQLite coordinates processes with POSIX advisory locks, and those belong to the process:
closing *any* descriptor of the file, opened by any code in the process, drops them all
(a file dialog that sniffs the folder's files did exactly that in the app). Another
``sampletree`` then believes it is alone: on close it checkpointed and deleted the
write-ahead log under the app, whose next commit overwrote pages with stale ones.

This module keeps, once per process and library file:

- a *presence* lock (shared) held while any :class:`~core.library.Library` of the file is
  open here. It is an open-file-description lock (Linux; ``flock`` elsewhere), owned by
  our descriptor rather than the process, so no other code's ``close()`` can drop it.
  A process may tidy the write-ahead log on close only when it can take this lock
  exclusively, that is when no other Sampletree has the library open;
- a *writer* lock (exclusive, on another byte of the same kind) held across every write
  transaction, so two processes never write at once even if SQLite's locks were lost;
- the descriptor itself, open until the last library object of the file in this
  process is closed (closing them earlier would drop SQLite's locks, the very bug);
- the first bytes of the file, read through that descriptor, for the cheap health check.

Each connection also gets ``SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`` (:func:`keep_wal_on_close`):
closing never checkpoints or deletes the log, whatever SQLite believes about other
processes. On Windows, whose file locks do not have this flaw, the guards are no-ops.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import LibraryError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

HEADER_BYTES = 100
SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE = 1006


class _Entry:
    def __init__(self, path: Path, create: bool) -> None:
        self.path = path
        cloexec = getattr(os, "O_CLOEXEC", 0)
        # Read-write where allowed: an exclusive byte lock needs a descriptor open for
        # writing (nothing is ever written through it).
        try:
            flags = os.O_RDWR | cloexec | (os.O_CREAT if create else 0)
            self.fd = os.open(path, flags, 0o644)
        except OSError:
            if create and not path.exists():
                raise
            self.fd = os.open(path, os.O_RDONLY | cloexec)
        st = os.fstat(self.fd)
        self.key = (st.st_dev, st.st_ino)
        self.refs = 0
        self.writers = 0
        self.write_lock = threading.Lock()

    def close(self) -> None:
        os.close(self.fd)  # drops our locks with it


_REGISTRY: dict[tuple[int, int], _Entry] = {}
_REGISTRY_LOCK = threading.Lock()
_KEPT: list[_Entry] = []


# Byte ranges far past anything SQLite locks (it uses 0x40000000 + 512 bytes), locked
# with open-file-description locks: owned by our descriptor, not by the process, so no
# other descriptor's close() drops them, and independent of SQLite's own locks.
_PRESENCE_AT = 1 << 40
_WRITER_AT = _PRESENCE_AT + 1
_OFD = fcntl is not None and hasattr(fcntl, "F_OFD_SETLK")


def _lock(fd: int, kind: int, at: int, timeout_s: float) -> bool:
    """Lock one byte at ``at`` (``kind``: F_RDLCK, F_WRLCK or F_UNLCK) within
    ``timeout_s`` (0: try once). False when it stayed busy."""
    if fcntl is None:
        return True
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    while True:
        try:
            if _OFD:
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK,
                            struct.pack("hhxxxxqqi4x", kind, os.SEEK_SET, at, 1, 0))
            elif at == _PRESENCE_AT:  # no OFD locks (macOS): flock, presence only
                op = {fcntl.F_RDLCK: fcntl.LOCK_SH, fcntl.F_WRLCK: fcntl.LOCK_EX,
                      fcntl.F_UNLCK: fcntl.LOCK_UN}[kind]
                fcntl.flock(fd, op | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno == errno.EBADF:  # read-only descriptor: no exclusive lock
                return kind == fcntl.F_UNLCK
            if time.monotonic() >= deadline or not isinstance(
                    exc, BlockingIOError | PermissionError):
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


class Guard:
    """One library object's share of its file's per-process guard."""

    def __init__(self, path: Path, *, create: bool, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        with _REGISTRY_LOCK:
            # A file this process guards already is never opened again: closing a second
            # descriptor later would drop the locks SQLite holds on it here.
            try:
                st = os.stat(path)
                entry = _REGISTRY.get((st.st_dev, st.st_ino))
            except OSError:
                entry = None
            if entry is None:
                try:
                    entry = _Entry(path, create)
                except OSError as exc:
                    raise LibraryError(f"cannot open the library {path}: "
                                       f"{exc.strerror or exc}") from None
                if entry.key in _REGISTRY:  # replaced under us between stat and open:
                    _KEPT.append(entry)  # never closed, for the reason above
                    entry = _REGISTRY[entry.key]
                elif fcntl is not None and not _lock(entry.fd, fcntl.F_RDLCK, _PRESENCE_AT,
                                                     timeout_s):
                    entry.close()
                    raise LibraryError(f"the library {path} is being closed by another "
                                       "process; try again")
                else:
                    _REGISTRY[entry.key] = entry
            entry.refs += 1
        self._entry: _Entry | None = entry

    @property
    def entry(self) -> _Entry:
        if self._entry is None:
            raise LibraryError("the library is closed")
        return self._entry

    def header(self) -> bytes:
        """The file's first bytes, read without opening (or closing) it again."""
        if not hasattr(os, "pread"):  # Windows: its locks survive a second open
            with open(self.entry.path, "rb") as f:
                return f.read(HEADER_BYTES)
        return os.pread(self.entry.fd, HEADER_BYTES, 0)

    def size(self) -> int:
        return os.fstat(self.entry.fd).st_size

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the cross-process writer lock (threads of this process share it)."""
        entry = self.entry
        with entry.write_lock:
            if entry.writers == 0 and fcntl is not None and not _lock(
                    entry.fd, fcntl.F_WRLCK, _WRITER_AT, self.timeout_s):
                raise LibraryError(f"the library {entry.path} is in use by another process; "
                                   "close it there and try again")
            entry.writers += 1
        try:
            yield
        finally:
            with entry.write_lock:
                entry.writers -= 1
                if entry.writers == 0 and fcntl is not None:
                    _lock(entry.fd, fcntl.F_UNLCK, _WRITER_AT, 0)

    def last_here(self) -> bool:
        """No other library object of this file is open in this process."""
        return self.entry.refs == 1

    def alone(self) -> bool:
        """No other process has the library open (takes the presence lock exclusively
        until :meth:`release`; only meaningful when :meth:`last_here`)."""
        if fcntl is None:
            return False
        return _lock(self.entry.fd, fcntl.F_WRLCK, _PRESENCE_AT, 0)

    def release(self) -> None:
        """Give up this object's share; the last one closes the descriptors. Call it only
        after this object's SQLite connections are closed."""
        entry, self._entry = self._entry, None
        if entry is None:
            return
        with _REGISTRY_LOCK:
            entry.refs -= 1
            if entry.refs:
                return
            del _REGISTRY[entry.key]
            entry.close()


def check_header(path: Path, header: bytes, size: int) -> str | None:
    """What is wrong with the file judging by its header and size, or None.

    Cheap (no page beyond the first is read): a wrong magic, an impossible page size, or
    a size that is not a whole number of pages.
    """
    if size == 0:
        return None  # a new, empty library
    if len(header) < HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        return "not an SQLite database (its header is wrong)"
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return f"its header gives an impossible page size ({page})"
    if size % page:
        return f"its size ({size} bytes) is not a whole number of {page}-byte pages"
    return None


# -- SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE through the C API -------------------------------------

_LIB: ctypes.CDLL | None = None
_LIB_TRIED = False


def _sqlite_lib() -> ctypes.CDLL | None:
    global _LIB, _LIB_TRIED
    if not _LIB_TRIED:
        _LIB_TRIED = True
        try:
            import _sqlite3

            lib = ctypes.CDLL(_sqlite3.__file__)
            lib.sqlite3_db_filename.restype = ctypes.c_char_p
            lib.sqlite3_db_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            _LIB = lib
        except (OSError, AttributeError, ImportError):
            _LIB = None
    return _LIB


def _handle(conn: sqlite3.Connection, path: Path) -> int | None:
    """The ``sqlite3 *`` behind a Python connection, checked by asking it its file name.

    CPython keeps it as the first field after the object header (3.11 to 3.13); the
    check makes a different layout a refusal, never a wild pointer call.
    """
    lib = _sqlite_lib()
    if lib is None or type(conn) is not sqlite3.Connection:
        return None
    handle = ctypes.c_void_p.from_address(id(conn) + object.__basicsize__).value
    if not handle:
        return None
    name = lib.sqlite3_db_filename(handle, b"main")
    if not name or os.path.realpath(os.fsdecode(name)) != os.path.realpath(path):
        return None
    return handle


def keep_wal_on_close(conn: sqlite3.Connection, path: Path) -> bool:
    """Tell SQLite never to checkpoint or delete the log when ``conn`` closes.

    Returns False where this build cannot be told (then the presence lock still keeps
    Sampletree processes from tidying the log under each other)."""
    handle = _handle(conn, path)
    lib = _sqlite_lib()
    if handle is None or lib is None:
        return False
    out = ctypes.c_int(-1)
    rc = lib.sqlite3_db_config(ctypes.c_void_p(handle),
                               ctypes.c_int(_SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE),
                               ctypes.c_int(1), ctypes.byref(out))
    return rc == 0 and out.value == 1
