"""Showing file paths to people."""

from __future__ import annotations

import os


def display_path(path: str | os.PathLike[str] | None) -> str:
    """A path fit for a message (or a TEXT column): bytes that are not UTF-8 show escaped.

    Linux file names may hold any bytes; Python decodes those to lone surrogates, which
    cannot be printed or stored as text as they are.
    """
    if path is None:
        return ""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
