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

__all__ = ["EXIT_CANCELLED", "EXIT_ERROR", "EXIT_OK", "file_count", "open_library",
           "printable", "sample_id_for"]


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



def file_count(lib: Library) -> int:
    """Every file of the library, whatever its status."""
    from sqlalchemy import func, select

    from core.schema import samples

    with lib.reading() as conn:
        return int(conn.execute(select(func.count()).select_from(samples)).scalar_one())


def label_counts(lib: Library, tree_name: str) -> dict[str, int]:
    """Files per label state (:mod:`core.labeltext`) for a tree, every file counted once:
    the numbers ``classify``, ``ls`` and the app print."""
    from sqlalchemy import func, select

    from core.labeltext import UNLABELED, count_states, label_state
    from core.schema import predictions
    from core.trees import load_tree

    tree = load_tree(lib, tree_name)
    with lib.reading() as conn:
        got = conn.execute(
            select(predictions.c.node_id, predictions.c.backed_off, predictions.c.unknown,
                   func.count())
            .where(predictions.c.tree_id == tree.id)
            .group_by(predictions.c.node_id, predictions.c.backed_off,
                      predictions.c.unknown)).all()
    counts = count_states((), 0)
    for node_id, backed_off, unknown, n in got:
        root = node_id is None or node_id == tree.root_id
        counts[label_state("" if root else "x", backed_off=bool(backed_off),
                           unknown=bool(unknown))] += int(n)
    counts[UNLABELED] = max(0, file_count(lib) - sum(counts.values()))
    return counts


def sample_id_for(lib: Library, path: str) -> int:
    """The library's id of a file given on the command line."""
    from core.errors import SampletreeError

    full = os.path.abspath(path)
    known = lib.known_samples().get(full)
    if known is None:
        raise SampletreeError(f"{path} is not in the library; scan its folder first")
    return known.id
