"""A workaround for a reference-counting bug of PySide6 6.12.0 on CPython 3.11.

Every call of a Qt method that returns ``void`` (``QLabel.setText``, ``QWidget.update``,
``QApplication.processEvents``…) drops one reference to ``None`` it never took
(measured here: 1,000 calls of ``QLabel.setText`` lower ``sys.getrefcount(None)`` by
1,000); some calls do the same to ``True``/``False`` (a GUI benchmark run ended in
"deallocating True or False"). ``None`` starts with ~5,000 references, so any PySide6
program dies with "Fatal Python error: none_dealloc" after a few thousand such calls.
CPython 3.12 made these objects immortal, which hides the bug; PySide6 6.12.0 is the only
release the package index offers here. We do what 3.12 does: give them so many
references that the count can never reach zero. Harmless where the bug is absent.
"""

from __future__ import annotations

import ctypes
import sys

_PINNED = False


def pin_none() -> None:
    """Make the reference counts of ``None``, ``True`` and ``False`` unreachable for the
    bug (once per process)."""
    global _PINNED
    if _PINNED or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in (None, True, False):  # bool results are dropped the same way
        refcnt = ctypes.c_ssize_t.from_address(id(obj))
        refcnt.value += 1 << 60
    _PINNED = True
