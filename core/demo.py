"""The demo library's working copy.

The demo library ships inside Sampletree (``resources/demo``: the package, a git clone, or
a read-only frozen bundle). Scanning it in place would let a relabel (move, rename) or a
duplicates quarantine change the app's own files, so the app and ``sampletree scan --demo``
scan a copy in the user's data folder instead (:func:`copy_demo`).
"""

from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
from pathlib import Path

from core.errors import SampletreeError
from core.paths import bundled, display_path

#: The folder the copy goes in, inside the user's data folder.
COPY_NAME = "Sampletree Demo"


class DemoCopyError(SampletreeError):
    """The demo library could not be copied (disk full, no permission, …)."""


def bundled_demo() -> Path:
    """The demo library shipped with Sampletree (inside the package, or PyInstaller's
    bundle)."""
    return bundled("demo")


def _files(root: Path) -> list[Path]:
    """The demo's files, relative to ``root``, in a stable order."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def is_intact_copy(copy: Path, source: Path) -> bool:
    """Whether every file of ``source`` is in ``copy`` with the same bytes (files the
    user added to the copy do not matter; one moved, renamed or changed does)."""
    if not copy.is_dir():
        return False
    try:
        return all((copy / rel).is_file()
                   and filecmp.cmp(source / rel, copy / rel, shallow=False)
                   for rel in _files(source))
    except OSError:
        return False


def copy_demo(parent: str | os.PathLike[str], source: Path | None = None) -> Path:
    """The demo library's working copy under ``parent``: ``parent/Sampletree Demo`` when
    it is there and intact (reused), else a fresh copy there — or beside it, as
    ``Sampletree Demo (2)``, … when that folder holds a copy the user changed (relabeled
    files stay theirs). The copy is made in a temporary folder and renamed into place, so
    a failure (a full disk) leaves no half copy; it is a :class:`DemoCopyError` saying
    why."""
    source = source or bundled_demo()
    if not source.is_dir():
        raise DemoCopyError(f"the demo library is not there ({display_path(source)}): this "
                            "installation of Sampletree is incomplete")
    parent = Path(parent)
    for n in range(1, 100):
        dest = parent / (COPY_NAME if n == 1 else f"{COPY_NAME} ({n})")
        if is_intact_copy(dest, source):
            return dest
        if not os.path.lexists(dest):
            break
    else:
        raise DemoCopyError(f"{display_path(parent)} already holds 99 changed copies of the "
                            "demo library; remove some")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{COPY_NAME}.", suffix=".partial", dir=parent))
        try:
            shutil.copytree(source, tmp / "demo", copy_function=shutil.copy2)
            os.replace(tmp / "demo", dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if isinstance(exc, shutil.Error):  # copytree's list of (src, dst, why)
            why = str(exc.args[0][0][2]) if exc.args and exc.args[0] else str(exc)
        raise DemoCopyError(f"could not copy the demo library to {display_path(dest)}: "
                            f"{why}") from None
    return dest
