"""After ``restore``: the library follows the files its relabel batches moved since the
backup it went back to.

A backup is made *before* each relabel, so the backup ``restore`` puts back does not know
the batches applied after it: the files they moved out of the scanned folders were, to
it, still at their old paths, and the rescan that follows a restore found them missing
(their labels and examples left on records of files that are gone) while the moved files
were not in the library at all. The library that ``restore`` set aside still holds the
journal of those batches (old path → new path, file by file): :func:`carry_journal`
copies the batches the backup lacks (so ``undo`` still works) and moves each record the
way the batch moved its file, as the relabel itself did (the record's labels, examples
and embeddings stay attached). Only steps the disk confirms are followed: the file is at
its new path and the record still at the old one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from core.errors import SampletreeError
from core.library import Library
from core.relabel.journal import _load_batch, _Run
from core.relabel.reports import _PATH_MODES
from core.schema import relabel_batches, relabel_ops, samples, trees


@dataclass
class CarryReport:
    batches: list[int] = field(default_factory=list)  # batches carried over or brought up to date
    followed: int = 0  # records moved to where a batch had moved their file
    note: str | None = None  # why nothing could be carried (the set-aside file unreadable)


def carry_journal(lib: Library, replaced: str | os.PathLike[str]) -> CarryReport:
    """Bring ``lib`` (a backup just restored) the relabel batches that the library it
    replaced (``replaced``, set aside by ``restore``) journaled since, and follow the
    files they moved. Returns what was carried; never raises for an unreadable
    ``replaced`` (its ``note`` says why)."""
    report = CarryReport()
    try:
        old = Library(Path(replaced), create=False, read_only=True, allow_damaged=True,
                      older_schema=True)  # replaced before its upgrade: read as it is
        with old, old.reading() as conn:
            batches = [dict(r) for r in conn.execute(
                select(relabel_batches).order_by(relabel_batches.c.id)).mappings()]
            ops = [dict(r) for r in conn.execute(
                select(relabel_ops).order_by(relabel_ops.c.batch_id, relabel_ops.c.seq)
            ).mappings()]
    except (SampletreeError, OSError) as exc:
        report.note = f"the relabel journal of the replaced library could not be read ({exc})"
        return report
    ops_of: dict[int, list[dict[str, Any]]] = {}
    for op in ops:
        ops_of.setdefault(op["batch_id"], []).append(op)
    with lib.reading() as conn:
        have = {int(r["id"]): dict(r) for r in conn.execute(select(relabel_batches)).mappings()}
        sample_ids = {int(i) for (i,) in conn.execute(select(samples.c.id))}
        tree_ids = {int(i) for (i,) in conn.execute(select(trees.c.id))}
        have_ops = {(int(r["batch_id"]), int(r["seq"])): dict(r)
                    for r in conn.execute(select(relabel_ops)).mappings()}
    for batch in batches:
        bid = int(batch["id"])
        mine = have.get(bid)
        if mine is not None and mine["created_at"] != batch["created_at"]:
            continue  # another batch under the same number: not ours to merge
        theirs = ops_of.get(bid, [])
        changed = [op for op in theirs
                   if have_ops.get((bid, int(op["seq"])), {}).get("state") != op["state"]]
        if mine is not None and not changed and mine["state"] == batch["state"]:
            continue  # the backup knows this batch as it is
        with lib.transaction() as conn:
            if mine is None:  # files and trees the backup lacks are no one's (SET NULL)
                conn.execute(insert(relabel_batches).values(
                    **{**batch, "tree_id": batch["tree_id"] if batch["tree_id"] in tree_ids
                       else None}))
                if theirs:
                    conn.execute(insert(relabel_ops), [
                        {**{k: v for k, v in op.items() if k != "id"},
                         "sample_id": op["sample_id"] if op["sample_id"] in sample_ids
                         else None} for op in theirs])
            else:
                conn.execute(update(relabel_batches).where(relabel_batches.c.id == bid)
                             .values(state=batch["state"], finished_at=batch["finished_at"],
                                     message=batch["message"]))
                for op in changed:
                    conn.execute(update(relabel_ops).where(
                        relabel_ops.c.batch_id == bid, relabel_ops.c.seq == op["seq"])
                        .values(state=op["state"], dst=op["dst"], message=op["message"]))
        report.batches.append(bid)
        if batch["mode"] not in _PATH_MODES:
            continue
        with lib.reading() as conn:
            run = _Run(lib, _load_batch(conn, bid))
        for op in changed if mine is not None else theirs:
            if (op["state"] != "done" or op["sample_id"] not in sample_ids
                    or not op["dst"]):
                continue  # undone steps put files back under the scanned folders: the
                # rescan finds them there by their content, as any moved file
            if not os.path.lexists(op["dst"]) or os.path.lexists(op["src"]):
                continue
            with lib.transaction() as conn:
                before = _path_of(conn, op["sample_id"])
                run._move_sample(conn, op["sample_id"], op["src"], op["dst"],
                                 (op["size"], op["mtime_ns"]))
                if before == op["src"] and _path_of(conn, op["sample_id"]) == op["dst"]:
                    report.followed += 1
    return report


def _path_of(conn: Connection, sample_id: int) -> str | None:
    return conn.execute(select(samples.c.path).where(samples.c.id == sample_id)).scalar()
