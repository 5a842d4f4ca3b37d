"""The disk steps of relabeling: move, copy, link and write a file without ever replacing
one, flushed and verified; the hashes and temporary names the journal relies on.

They are module functions so that tests can make them fail; the journal calls them through
this module (``disksteps._rename``) so that such a replacement is the one that runs."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil

from core.paths import display_path as _show

# Errors after which going on would fail the same way for every file: stop the batch.
_STOP_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None),
                                     errno.EROFS, errno.EACCES) if e is not None)
# link(2) refusals that mean "no hard links here", not "no": fall back to rename(2).
_NO_LINKS = frozenset(e for e in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                                  getattr(errno, "ENOSYS", None)) if e is not None)
_CHUNK = 1 << 20


class _Stop(Exception):
    """A failure every later step would repeat (disk full, read-only): stop the batch."""


class _Changed(Exception):
    """The bytes read are not the bytes planned."""


# -- hashes and temporary names -----------------------------------------------------------

def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tmp_for(final: str, batch_id: int, seq: int, tag: str = "") -> str:
    """The temporary name of an op's bytes: hidden (scans skip it) and known to recovery."""
    return os.path.join(os.path.dirname(final), f".sampletree-{batch_id}-{seq}{tag}.part")


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _fsync(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # Windows, or a dangling symlink copied as such: nothing to flush
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _digest_or_none(path: str) -> str | None:
    try:
        return _sha256(path)
    except OSError:
        return None


# -- the disk steps (module functions, so tests can make them fail) -------------------------

def _rename(src: str, dst: str) -> None:
    """Move ``src`` to ``dst`` on one file system, never replacing an existing ``dst``.

    A hard link then an unlink: link(2) fails when ``dst`` exists, where rename(2) would
    silently replace it. On a file system without hard links it falls back to
    check-then-rename. Across file systems it raises ``OSError(EXDEV)``.
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except (OSError, NotImplementedError) as exc:
        if isinstance(exc, OSError) and exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst) from None
        os.rename(src, dst)
        return
    _drop_source(src, dst)


def _drop_source(src: str, dst: str) -> None:
    """The file is in place at ``dst``: delete ``src``. If the original cannot go (its folder
    is read-only), remove ``dst`` again so the file still exists once, and fail the step."""
    try:
        os.unlink(src)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(dst)
        raise


def _copy(src: str, dst: str, *, follow_symlinks: bool = True) -> None:
    """Copy bytes and times to a new file, flushed to the disk."""
    shutil.copy2(src, dst, follow_symlinks=follow_symlinks)
    _fsync(dst)


def _hardlink(src: str, dst: str) -> None:
    os.link(src, dst)


def _symlink(target: str, dst: str) -> None:
    os.symlink(target, dst)


def _write_new(path: str, data: bytes) -> None:
    """Write a new file (``O_EXCL``: never an existing one), flushed to the disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _move(src: str, dst: str, tmp: str, checksum: str | None) -> None:
    """Move a file; across drives: copy to ``tmp``, verify, rename into place, delete ``src``.

    ``checksum`` is the sha256 the bytes must have (the file as planned); a copy that
    differs is removed and :class:`_Changed` raised, the source left alone.
    """
    try:
        _rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    try:
        _copy(src, tmp, follow_symlinks=False)
        if checksum is not None and _sha256(tmp) != checksum:
            raise _Changed()
        _rename(tmp, dst)
    except Exception:
        # (A process killed here leaves the temporary file to recover().)
        with contextlib.suppress(OSError):
            _remove(tmp)
        raise
    _drop_source(src, dst)


def _refusing_folder(new: str | bytes, old: str | bytes | None) -> str:
    """Of the folders of a link or rename's two files, the one this process cannot write
    (the new file's when neither or both say so)."""
    folders = [os.path.dirname(os.fsdecode(new))]
    if old:
        folders.append(os.path.dirname(os.fsdecode(old)))
    for folder in folders:
        if not os.access(folder, os.W_OK | os.X_OK):
            return folder
    return folders[0]


def _problem(exc: OSError, verb: str, src: str, dst: str) -> str:
    name = _show(os.path.basename(src))
    where = _show(os.path.dirname(os.fsdecode(exc.filename)) if exc.filename
                  else os.path.dirname(dst))
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        # The drive being written is the destination's, whatever file the error names
        # (shutil's copy names the source).
        return (f"no space left on the drive of {_show(os.path.dirname(dst))}: {name} was "
                f"not {verb}")
    if exc.errno == errno.EROFS:
        return f"{where} is on a read-only drive: {name} was not {verb}"
    if exc.errno == errno.EACCES:
        if exc.filename2:  # link/rename name both files: the folder refused is most
            where = _show(_refusing_folder(exc.filename2, exc.filename))  # often the new one's
        return f"no permission to write in {where}: {name} was not {verb}"
    return f"{name} was not {verb}: {exc.strerror or exc}"
