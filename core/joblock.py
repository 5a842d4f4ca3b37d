"""One job at a time per library for the jobs that change files or their paths on disk.

A scan and a relabel (apply, undo, recovery) must not interleave their view of the
disk: a scan walking a folder while a relabel moves files out of it records files as
missing that are present at their new path, and as ``ok`` at paths that no longer
exist. Both take this lock: an OS lock (``flock``) on a file next to the library,
``<library>-job.lock``, which the kernel drops when the process dies. The holder writes
its job kind and process id into the file, so that the one refused can say which job
is running. The file is removed when the job ends.

Removing a lock file is racy unless done with care: a process may have opened the path
just before it is removed and then lock the removed file, while a third one creates a
new file and locks that. So the file is only ever removed by its holder, while locked,
and whoever gets a lock checks that the path still names the file it locked (same
inode); if not, it starts again.

``flock`` locks belong to an open file, not to a process: two jobs in one process (the
desktop app's threads) exclude each other as two processes do.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from core.errors import SampletreeError
from core.paths import display_path as _show

_RETRY_S = 0.05  # how often a waiting job tries again

#: What each job kind is called in the busy message.
JOB_NAMES = {"scan": "a scan", "relabel": "a relabel", "undo": "an undo of a relabel",
             "recover": "the recovery of an interrupted relabel"}


class JobBusy(SampletreeError):
    """Another job (in this or another process) holds the library's job lock."""

    def __init__(self, message: str, kind: str | None = None, pid: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.pid = pid


def lock_path(library_path: str | os.PathLike[str]) -> Path:
    p = Path(library_path)
    return p.with_name(p.name + "-job.lock")


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(library_path: str | os.PathLike[str]) -> tuple[str | None, int | None]:
    """The job kind and pid written in the lock file (None, None when unknown)."""
    try:
        text = lock_path(library_path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None, None
    parts = text.split()
    if len(parts) >= 2 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return None, None


def _busy(library_path: Path, wanted: str) -> JobBusy:
    kind, pid = holder(library_path)
    who = f"{JOB_NAMES.get(kind, kind)} is running" if kind else "another job is running"
    if pid == os.getpid():
        where = "in this program"
    elif pid is not None:
        where = f"(process {pid})"
    else:
        where = "(another Sampletree process)"
    return JobBusy(f"busy: {who} on this library {where}; {JOB_NAMES.get(wanted, wanted)} "
                   "cannot start until it has finished, try again then", kind, pid)


def _same(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


@contextlib.contextmanager
def job_lock(library_path: str | os.PathLike[str], kind: str, *,
             wait_s: float = 0.0) -> Iterator[None]:
    """Hold the library's job lock as job ``kind`` ("scan", "relabel", "undo", "recover").

    Raises :class:`JobBusy`, naming the job that holds it, if another job still holds it
    after ``wait_s`` seconds (0: do not wait). The lock file is removed on the way out.
    """
    path = lock_path(library_path)
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SampletreeError(f"cannot create the library's lock file {_show(str(path))}: "
                                  f"{exc.strerror or exc}") from None
        if not _try_lock(fd):
            os.close(fd)
            if time.monotonic() >= deadline:
                raise _busy(Path(library_path), kind)
            time.sleep(_RETRY_S)
            continue
        if _same(fd, path):
            break
        os.close(fd)  # locked a file its holder removed meanwhile: take the new one
    try:
        # Versions before this lock kept an empty "<library>-relabel.lock" for ever.
        with contextlib.suppress(OSError):
            os.unlink(Path(library_path).with_name(Path(library_path).name + "-relabel.lock"))
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{kind} {os.getpid()}\n".encode("ascii"))
        yield
    finally:
        # Removed while still held (see the module's notes), then released.
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
