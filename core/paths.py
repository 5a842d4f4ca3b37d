"""Showing file paths to people."""

from __future__ import annotations

import os
import stat
import sys
import unicodedata
from importlib import resources
from pathlib import Path


def bundled(*parts: str) -> Path:
    """A file or folder of the ``resources`` package, e.g. ``bundled("demo")``: inside the
    installed package, or in PyInstaller's bundle when frozen."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root, "resources", *parts)
    return Path(str(resources.files("resources").joinpath(*parts)))


def under(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or inside it, by name (no link is followed)."""
    folder = folder.rstrip(os.sep) or os.sep
    return path == folder or path.startswith(folder if folder == os.sep else folder + os.sep)


def display_path(path: str | os.PathLike[str] | None) -> str:
    """A path fit for a message (or a TEXT column): bytes that are not UTF-8 show escaped.

    Linux file names may hold any bytes; Python decodes those to lone surrogates, which
    cannot be printed or stored as text as they are.
    """
    if path is None:
        return ""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words ("a FIFO", "a socket"…)."""
    for test, words in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISDIR, "a folder")):
        if test(mode):
            return words
    return "not a regular file"


#: Bidirectional embeddings, overrides and isolates: printed raw, one in a file name
#: reverses the rest of the line on screen (the label and the columns after the name).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def one_line(text: str) -> str:
    """``text`` with control characters (newlines, tabs, escapes…) written as ``\\n``,
    ``\\t``, ``\\x1b``: a file name can hold them, and printed raw they split a record
    over lines or drive the terminal; so are bidirectional overrides (``\\u202e``),
    which reorder what follows them. For human output; JSON keeps names exact."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in _BIDI_CONTROLS:
            out.append(f"\\u{ord(ch):04x}")
        elif (ch.isprintable() or ch == " "
              or unicodedata.category(ch) not in ("Cc", "Zl", "Zp")):
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1] if ch in "\t\n\r" else
                       f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    return "".join(out)
