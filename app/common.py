"""Small helpers every command module shares."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from app.paths import default_library_path
from core.paths import display_path as printable

if TYPE_CHECKING:
    from core.library import Library

EXIT_OK, EXIT_ERROR, EXIT_CANCELLED = 0, 1, 130

__all__ = ["EXIT_CANCELLED", "EXIT_ERROR", "EXIT_OK", "open_library", "printable",
           "sample_id_for"]


def open_library(args: argparse.Namespace, *, create: bool) -> Library:
    """The library named by ``--library`` (or the default); finishes interrupted relabels."""
    from core.library import Library
    from core.relabel import recover

    lib = Library(args.library or default_library_path(), create=create)
    if lib.read_only:
        print(f"sampletree: note: the library {printable(str(lib.path))} is open read-only "
              f"({lib.read_only_reason}): nothing will be written", file=sys.stderr)
        return lib
    try:
        for message in recover(lib):
            print(f"sampletree: {message}", file=sys.stderr)
    except BaseException:
        lib.close()
        raise
    return lib



def sample_id_for(lib: Library, path: str) -> int:
    """The library's id of a file given on the command line."""
    from core.errors import SampletreeError

    full = os.path.abspath(path)
    known = lib.known_samples().get(full)
    if known is None:
        raise SampletreeError(f"{path} is not in the library; scan its folder first")
    return known.id
