"""Walking sample folders: stat only, no decoding.

Hidden and system files are skipped, symlinked folders are followed once (a loop is
noticed and reported, not followed), and unreadable folders are reported and
skipped while the walk goes on. Only regular files are yielded: a FIFO, socket or
device named like audio (directly or through a symlink), a broken symlink or a symlink
loop is reported at once and never opened.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.audio import AUDIO_EXTENSIONS
from core.paths import file_kind

SYSTEM_NAMES = frozenset({
    "__MACOSX", "$RECYCLE.BIN", "System Volume Information", "Thumbs.db", "desktop.ini",
    "lost+found", "@eaDir",
})

_HASH_CHUNK = 1 << 16

#: Sound-related files Sampletree does not read, worth a word in the scan summary
#: (instruments, note data, archives) — unlike documents and pictures beside samples.
NOT_READ_EXTENSIONS = frozenset({
    ".pat", ".mid", ".midi", ".kar", ".sf2", ".sf3", ".sfz", ".dls", ".gig", ".nki", ".nkx",
    ".nkm", ".exs", ".rex", ".rx2", ".rcy", ".sd2", ".mod", ".xm", ".it", ".s3m", ".syx",
    ".spx", ".orgue", ".zip", ".rar", ".7z",
})


def classify_name(name: str) -> str:
    """``"audio"`` (scanned), ``"not-read"`` (a sound-related type Sampletree does not
    read: counted and listed by type) or ``"other"`` (documents, pictures…: counted)."""
    ext = os.path.splitext(name)[1].lower()
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    return "not-read" if ext in NOT_READ_EXTENSIONS else "other"


def skipped_summary(paths: list[str]) -> str | None:
    """One line for a scan summary about the files ``walk`` passed to ``on_skipped``:
    "skipped 130 files of types not read (.pat 128, .sf2 2); 21 other files (not audio)",
    "skipped 1 other file (not audio)", or None."""
    by_ext: dict[str, int] = {}
    other = 0
    for path in paths:
        name = os.path.basename(path)
        if classify_name(name) == "not-read":
            ext = os.path.splitext(name)[1].lower()
            by_ext[ext] = by_ext.get(ext, 0) + 1
        else:
            other += 1
    parts = []
    if by_ext:
        n = sum(by_ext.values())
        kinds = ", ".join(f"{ext} {k}" for ext, k in
                          sorted(by_ext.items(), key=lambda item: (-item[1], item[0])))
        parts.append(f"skipped {n} file{'s' * (n != 1)} of types not read ({kinds})")
    if other:
        what = f"{other} other file{'s' * (other != 1)}"
        parts.append(what + " (not audio)" if parts else f"skipped {what} (not audio)")
    return "; ".join(parts) or None


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mtime_ns: int
    root: str


def is_skipped(name: str) -> bool:
    """Hidden (dot) files and folders, AppleDouble files and OS litter."""
    return name.startswith(".") or name in SYSTEM_NAMES


def _file_problem(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of symbolic links)"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "broken symbolic link (its target does not exist)"
    return f"cannot read file: {_reason(path, exc)}"


def _reason(path: str, exc: OSError) -> str:
    """An OSError's words for ``path``: the system's, or how long the path is."""
    return too_long(path) if exc.errno == errno.ENAMETOOLONG else exc.strerror or str(exc)


def too_long(path: str) -> str:
    """What ENAMETOOLONG means for ``path``, in words: the whole path, or one name in it,
    is longer than the system allows (the bare "File name too long" named neither)."""
    longest = max((len(os.fsencode(part)) for part in path.split(os.sep)), default=0)
    if longest > 255:
        return f"a name in its path is {longest} bytes, longer than the system allows (255)"
    return (f"its path is {len(os.fsencode(path)):,} bytes, longer than the system allows "
            f"({os.pathconf('/', 'PC_PATH_MAX') if hasattr(os, 'pathconf') else 4096})")


def walk(roots: list[str], on_error: Callable[[str, str], None],
         on_skipped: Callable[[str], None] | None = None,
         on_file_error: Callable[[str, str, str], None] | None = None) -> Iterator[FileEntry]:
    """Yield every regular audio file under ``roots``.

    Problems go to ``on_error(path, why)``; those of an audio-named entry that is not a
    readable regular file go to ``on_file_error(path, why, root)`` when it is given; each
    visible file that is not audio goes to ``on_skipped(path)`` if given.
    """

    def file_error(path: str, why: str, root: str) -> None:
        if on_file_error is None:
            on_error(path, why)
        else:
            on_file_error(path, why, root)

    visited: set[tuple[int, int]] = set()
    for root in roots:
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(folder)
            except OSError as exc:
                on_error(folder, _reason(folder, exc))
                continue
            key = (st.st_dev, st.st_ino)
            if key in visited:
                if os.path.islink(folder):
                    on_error(folder, "symbolic link loop or second link to a folder; skipped")
                continue
            visited.add(key)
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as exc:
                on_error(folder, f"cannot read folder: {_reason(folder, exc)}")
                continue
            subdirs = []
            for entry in sorted(entries, key=lambda e: e.name):
                if is_skipped(entry.name):
                    continue
                audio = os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS
                try:
                    if entry.is_dir():  # follows symlinks; loops are caught by `visited`
                        subdirs.append(entry.path)
                        continue
                except OSError as exc:  # a symlink loop
                    if audio:
                        file_error(entry.path, _file_problem(entry.path, exc), root)
                    else:
                        on_error(entry.path, exc.strerror or str(exc))
                    continue
                if not audio:
                    if on_skipped is not None:
                        on_skipped(entry.path)
                    continue
                try:
                    est = entry.stat()  # follows symlinks: a link to a FIFO is a FIFO
                except OSError as exc:
                    file_error(entry.path, _file_problem(entry.path, exc), root)
                    continue
                if not stat.S_ISREG(est.st_mode):
                    file_error(entry.path, f"not a regular file ({file_kind(est.st_mode)}); "
                               "not opened", root)
                    continue
                yield FileEntry(entry.path, est.st_size, est.st_mtime_ns, root)
            stack.extend(reversed(subdirs))


def content_hash(path: str, size: int | None = None) -> str:
    """A fast fingerprint for move detection: size plus the first, middle and last 64 KiB.

    Files up to 192 KiB are hashed whole. Two different recordings of equal size that
    agree on all three chunks are vanishingly rare in sample libraries.
    """
    digest = hashlib.blake2b(digest_size=16)
    # Never blocks: a FIFO put where a file was is refused, not waited on.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with open(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({file_kind(st.st_mode)})", path)
        if size is None:
            size = st.st_size
        digest.update(size.to_bytes(8, "little"))
        if size <= 3 * _HASH_CHUNK:
            digest.update(fh.read())
        else:
            for offset in (0, size // 2 - _HASH_CHUNK // 2, size - _HASH_CHUNK):
                fh.seek(offset)
                digest.update(fh.read(_HASH_CHUNK))
    return digest.hexdigest()
