"""Support examples: the library files a user put on tree nodes to teach them.

A support links one sample to one node of one tree (one node per file per tree: putting
a file on another node moves it there), optionally narrowed to one 1 s window. It
references ``samples.id``, which the scanner keeps when a file is moved or renamed, so
supports survive rescans; a support whose file has gone missing stays and is listed
with the status ``missing`` rather than silently dropped.

Files are given as library paths (absolute, or relative to the current folder; matched
exactly against the paths the scanner stored) or as sample ids.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from core.errors import TreeError
from core.library import Library
from core.paths import display_path as _printable
from core.paths import under
from core.schema import roots, samples, supports
from core.trees import read_tree, split_path
from core.words import plural

#: A file as the caller names it: a path (str or os.PathLike) or a sample id.
SampleRef = str | os.PathLike[str] | int

_CHUNK = 500
_SHOWN = 5  # problems named in one message


@dataclass(frozen=True)
class SupportRow:
    """One support example as listed: its file, node, and the file's current status."""

    sample_id: int
    node_id: int
    node_path: str
    window_idx: int | None
    path: str
    status: str


@dataclass(frozen=True)
class _Sample:
    id: int
    path: str
    status: str
    error: str | None
    n_windows: int


def _as_list(refs: SampleRef | Iterable[SampleRef]) -> list[SampleRef]:
    # A lone path is a str, which is iterable too: never take it letter by letter.
    if isinstance(refs, str | bytes | os.PathLike | int):
        return [refs]  # type: ignore[list-item]
    return list(refs)


def _resolve(conn: Connection, refs: Sequence[SampleRef]) -> list[_Sample]:
    """The samples ``refs`` name, in order, without repeats; unknown ones are an error."""
    wanted: list[int | str] = []  # sample ids and absolute paths, in the caller's order
    for ref in refs:
        if isinstance(ref, int) and not isinstance(ref, bool):
            wanted.append(ref)
        elif isinstance(ref, str | bytes | os.PathLike):
            wanted.append(os.path.abspath(os.fsdecode(ref)))
        else:
            raise TreeError(f"{ref!r} is not a file path or a sample id")
    cols = (samples.c.id, samples.c.path, samples.c.status, samples.c.error,
            samples.c.n_windows)
    found: dict[int | str, _Sample] = {}
    ids = list(dict.fromkeys(w for w in wanted if isinstance(w, int)))
    paths = list(dict.fromkeys(w for w in wanted if isinstance(w, str)))
    for values, column in ((ids, samples.c.id), (paths, samples.c.path)):
        for i in range(0, len(values), _CHUNK):
            for row in conn.execute(select(*cols).where(column.in_(values[i:i + _CHUNK]))):
                sample = _Sample(int(row[0]), str(row[1]), str(row[2]), row[3], int(row[4]))
                found[sample.id] = found[sample.path] = sample
    unknown_ids = [i for i in ids if i not in found]
    if unknown_ids:
        raise TreeError(f"no file in the library has the id {unknown_ids[0]}"
                        if len(unknown_ids) == 1 else
                        f"no files in the library have the ids {_shown(unknown_ids)}")
    unknown = [p for p in paths if p not in found]
    folders = [p for p in unknown if os.path.isdir(p)]
    if folders:  # a scanned folder is no sample: say a file is expected, not "scan it"
        raise TreeError(f'"{_printable(folders[0])}" is a folder; give files of the '
                        "library (the files in it), not a folder")
    if len(unknown) == 1:
        root_paths = [str(r[0]) for r in conn.execute(select(roots.c.path))]
        raise TreeError(f'"{_printable(unknown[0])}"'
                        + not_in_library(unknown[0], root_paths))
    if unknown:
        raise TreeError(f"{len(unknown)} files are not in the library; scan their folders "
                        f"first: {_shown(unknown)}")
    return list({found[w].id: found[w] for w in wanted}.values())



def not_in_library(full: str, root_paths: Iterable[str]) -> str:
    """Why the file at the absolute path ``full`` is not in the library, to follow its
    name in a message: no such file, passed over by the scans of its (scanned) folder, or
    in a folder never scanned."""
    if not os.path.lexists(full):
        return ": no such file, and not in the library"
    if any(under(full, r) for r in root_paths):
        return (" is not in the library: the scans of its folder passed it over (not audio) "
                "or it came after the last scan")
    return " is not in the library; scan its folder first"


def _shown(items: Sequence[int | str]) -> str:
    text = ", ".join(f'"{_printable(i)}"' if isinstance(i, str) else str(i)
                     for i in items[:_SHOWN])
    return text + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


@dataclass(frozen=True)
class Labeled:
    """What :func:`label_files` did: the node (its path), files that became examples of
    it (``added``), that were examples of other nodes (``moved``: their old node path →
    how many), and that already were examples of it (``already``: their paths; a new
    window on the same node counts as moved from it)."""

    node_path: str
    added: int
    moved: dict[str, int]
    already: list[str]

    @property
    def changed(self) -> int:
        return self.added + sum(self.moved.values())


def add_supports(lib: Library, tree_name: str, node_path: str | Sequence[str],
                 sample_paths_or_ids: SampleRef | Iterable[SampleRef], *,
                 window_idx: int | None = None) -> int:
    """Make the files examples of the node at ``node_path``; return how many changed
    (:func:`label_files` says what changed)."""
    return label_files(lib, tree_name, node_path, sample_paths_or_ids,
                       window_idx=window_idx).changed


def label_files(lib: Library, tree_name: str, node_path: str | Sequence[str],
                sample_paths_or_ids: SampleRef | Iterable[SampleRef], *,
                window_idx: int | None = None) -> Labeled:
    """Make the files examples of the node at ``node_path``; say what changed.

    A file that already supports another node of this tree moves to this one; a file
    already on this node (with the same ``window_idx``) is left as it is and not
    counted. ``window_idx`` narrows every given file to one window (None: the whole
    file). Refused, with nothing written: a file not in the library, a missing file, a
    file that could not be read, a window the file does not have, the hidden root.
    """
    refs = _as_list(sample_paths_or_ids)
    if window_idx is not None and (isinstance(window_idx, bool)
                                   or not isinstance(window_idx, int) or window_idx < 0):
        raise TreeError(f"a window index is a whole number from 0 up, not {window_idx!r}")
    parts = split_path(node_path)
    with lib.transaction() as conn:
        tree = read_tree(conn, tree_name)
        if not parts:
            raise TreeError("choose a node for the examples (the tree's root cannot hold any)")
        node = tree.require(parts)
        found = _resolve(conn, refs)
        for s in found:
            shown = f'"{_printable(s.path)}"'
            if s.status == "missing":
                raise TreeError(f"{shown} is missing (it was not found at the last scan); a "
                                "missing file cannot be an example — restore it and rescan")
            if s.status == "error":
                raise TreeError(f"{shown} could not be read ({s.error or 'unknown error'}); "
                                "it cannot be an example")
            if window_idx is not None and s.n_windows and window_idx >= s.n_windows:
                raise TreeError(f"{shown} has {plural(s.n_windows, 'window')} "
                                f"(0–{s.n_windows - 1}); there is no window {window_idx}")
        current: dict[int, tuple[int, int | None]] = {}
        ids = [s.id for s in found]
        for i in range(0, len(ids), _CHUNK):
            for row in conn.execute(
                    select(supports.c.sample_id, supports.c.node_id, supports.c.window_idx)
                    .where((supports.c.tree_id == tree.id)
                           & supports.c.sample_id.in_(ids[i:i + _CHUNK]))):
                current[int(row[0])] = (int(row[1]), row[2])
        now = time.time()
        new: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []
        moved_from: dict[str, int] = {}
        for sid in ids:
            if sid not in current:
                new.append({"tree_id": tree.id, "node_id": node.id, "sample_id": sid,
                            "window_idx": window_idx, "created_at": now})
            elif current[sid] != (node.id, window_idx):
                moved.append({"sid": sid, "nid": node.id, "win": window_idx, "now": now})
                old = tree.path_str(current[sid][0])
                moved_from[old] = moved_from.get(old, 0) + 1
        if new:
            conn.execute(insert(supports), new)
        if moved:
            conn.execute(update(supports)
                         .where((supports.c.tree_id == tree.id)
                                & (supports.c.sample_id == bindparam("sid")))
                         .values(node_id=bindparam("nid"), window_idx=bindparam("win"),
                                 created_at=bindparam("now")), moved)
        return Labeled(tree.path_str(node.id), len(new), moved_from,
                       [s.path for s in found if current.get(s.id) == (node.id, window_idx)])


def remove_supports(lib: Library, tree_name: str,
                    samples_: SampleRef | Iterable[SampleRef]) -> int:
    """Stop using the files as examples in this tree; return how many were examples.

    Files that were not examples are ignored; a file the library does not know is a
    :class:`TreeError` (and nothing is removed).
    """
    return sum(unlabel_files(lib, tree_name, samples_)[0].values())


def unlabel_files(lib: Library, tree_name: str, samples_: SampleRef | Iterable[SampleRef]
                  ) -> tuple[dict[str, int], list[str]]:
    """Like :func:`remove_supports`; returns (node path → examples removed from it, the
    paths of the given files that were not examples in this tree)."""
    refs = _as_list(samples_)
    with lib.transaction() as conn:
        tree = read_tree(conn, tree_name)
        found = _resolve(conn, refs)
        ids = [s.id for s in found]
        node_of: dict[int, int] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            node_of.update((int(r[0]), int(r[1])) for r in conn.execute(
                select(supports.c.sample_id, supports.c.node_id).where(
                    (supports.c.tree_id == tree.id) & supports.c.sample_id.in_(chunk))))
            conn.execute(delete(supports).where(
                (supports.c.tree_id == tree.id) & supports.c.sample_id.in_(chunk)))
        removed: dict[str, int] = {}
        for nid in node_of.values():
            path = tree.path_str(nid)
            removed[path] = removed.get(path, 0) + 1
        return removed, [s.path for s in found if s.id not in node_of]


def list_supports(lib: Library, tree_name: str,
                  node_path: str | Sequence[str] | None = None) -> list[SupportRow]:
    """The tree's examples in tree display order, then by path; ``node_path`` limits the
    list to that node's subtree. Missing files are listed with the status ``missing``."""
    with lib.reading() as conn:
        tree = read_tree(conn, tree_name)
        rows = conn.execute(
            select(supports.c.sample_id, supports.c.node_id, supports.c.window_idx,
                   samples.c.path, samples.c.status)
            .join(samples, samples.c.id == supports.c.sample_id)
            .where(supports.c.tree_id == tree.id)).all()
    order = {nid: i for i, nid in enumerate(tree.walk())}
    if node_path is not None:
        top = tree.require(node_path)
        within = {top.id, *tree.descendants(top.id)}
        rows = [r for r in rows if r[1] in within]
    out = [SupportRow(int(r[0]), int(r[1]), tree.path_str(int(r[1])),
                      None if r[2] is None else int(r[2]), str(r[3]), str(r[4])) for r in rows]
    out.sort(key=lambda s: (order.get(s.node_id, -1), s.path))
    return out
