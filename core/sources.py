"""Source folders (the library's roots): each folder on disk is one source, listed once.

A scan names folders; :func:`plan_sources` decides what each one is to the library:

* a folder the library already has (by its stored name, or by where it really is: a
  symbolic link to a source, a path spelled through a link) rescans that source;
* a folder inside a source rescans that part of the source: no second source entry;
* a new folder becomes a source, stored by its real path (links resolved). Sources already
  inside it are taken into it: their files are the same files, kept with their ids (labels,
  examples, the relabel journal follow), and it becomes one source with every file once.

Libraries made before this rule may hold a source twice (a link to another source) or a
source inside another: a source named by its stored name is still scanned under that name,
so its records stay as they are (nothing new is duplicated); :func:`overlapping_sources`
names them for ``sampletree status``.

Folders a scan could not read (or skipped as a loop) are kept in ``folder_problems``
until a later scan of that folder reads it (:func:`record_folder_problems`), so that
``ls --problems`` and ``status`` still show them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from core.paths import display_path, under
from core.schema import folder_problems, roots, samples

if TYPE_CHECKING:
    from core.library import Library


@dataclass
class SourcePlan:
    #: the folders to walk, as the library names them (outermost first, none inside another)
    walk: list[str] = field(default_factory=list)
    #: each walked folder -> the source folder its files belong to
    source_of: dict[str, str] = field(default_factory=dict)
    #: source folders to add
    new: list[str] = field(default_factory=list)
    #: source folder -> the source that takes it in (it lies inside it)
    absorbed: dict[str, str] = field(default_factory=dict)
    #: what was decided, one line each, for the user
    notes: list[str] = field(default_factory=list)


def plan_sources(dirs: Sequence[str], existing: Iterable[str]) -> SourcePlan:
    """What scanning ``dirs`` means for a library whose sources are ``existing``.
    Touches nothing (reads the file system's links only)."""
    known = [(s, os.path.realpath(s)) for s in existing]
    stored = {s for s, _r in known}
    resolved: list[tuple[str, str, str, str | None]] = []  # (asked, walk, source, note)
    for d in dirs:
        given = os.path.abspath(d)
        shown = display_path(d)
        note = None
        literal = [s for s in stored if under(given, s)]
        if literal:  # named as the library names it (a link source of an older library too)
            src = min(literal, key=len)
            walk = given
        else:
            real = os.path.realpath(given)
            outer = [(s, r) for s, r in known if under(real, r)]
            if outer:
                # the outermost; among sources that are one folder, the one stored by its
                # real path
                src, r = min(outer, key=lambda sr: (len(sr[1]), sr[0] != sr[1], sr[0]))
                walk = src if real == r else os.path.join(src, os.path.relpath(real, r))
            else:
                src = walk = real
                if given != real:
                    note = (f"{shown} leads to {display_path(real)}: "
                            "added as a source under that name")
        if src != walk:
            note = (f"{shown} is inside the source {display_path(src)}: "
                    "rescanning that part of it")
        elif given != src and src in stored:
            note = f"{shown} is {display_path(src)}, already a source: rescanning it"
        resolved.append((d, walk, src, note))

    plan = SourcePlan()
    # Every walked folder is named in its source's terms, so one inside another is seen
    # by name (two sources of an older library that are one folder are both walked, as
    # they were: their records stay as they are).
    for d, walk, src, note in sorted(resolved, key=lambda t: (len(t[1]), t[1])):
        cover = next((w for w in plan.walk if under(walk, w)), None)
        if cover is not None:
            if cover != walk:
                plan.notes.append(f"{display_path(d)} is inside {display_path(cover)}, "
                                  "scanned now as well")
            continue
        if note is not None:
            plan.notes.append(note)
        plan.walk.append(walk)
        plan.source_of[walk] = src
        if src == walk and src not in stored:
            plan.new.append(src)
        inner = sorted(s for s in stored if s != src and under(s, walk)
                       and s not in plan.absorbed)
        for s in inner:
            plan.absorbed[s] = src
        if inner:
            names = ", ".join(display_path(s) for s in inner)
            plan.notes.append(
                f"{display_path(src)} takes in the source{'s' * (len(inner) > 1)} inside it "
                f"({names}): one source now, each file kept once with its labels")
    return plan


def apply_plan(lib: Library, plan: SourcePlan) -> dict[str, int]:
    """Add the new sources and merge the absorbed ones into theirs (their files keep their
    ids: only the source they belong to changes). Returns each walked folder's source id."""
    with lib.transaction() as conn:
        ids = {p: int(i) for i, p in conn.execute(select(roots.c.id, roots.c.path))}
        for path in plan.new:
            if path not in ids:
                ids[path] = int(conn.execute(insert(roots).values(
                    path=path, added_at=time.time())).inserted_primary_key[0])
        for path, into in plan.absorbed.items():
            if path in ids and into in ids:
                conn.execute(update(samples).where(samples.c.root_id == ids[path])
                             .values(root_id=ids[into]))
                conn.execute(delete(roots).where(roots.c.id == ids.pop(path)))
    return {w: ids[plan.source_of[w]] for w in plan.walk}


def overlapping_sources(existing: Iterable[str]) -> list[tuple[str, str, bool]]:
    """(source, the source it overlaps, True: the very same folder; False: inside it) for
    sources an older library holds twice: a link to another source, or a folder inside
    another (by real path). The one stored by its real path comes first."""
    known = sorted(((s, os.path.realpath(s)) for s in existing),
                   key=lambda t: (len(t[1]), t[0] != t[1], t[0]))
    out = []
    for i, (s, r) in enumerate(known):
        other = next(((o, orr) for o, orr in known[:i] if under(r, orr)), None)
        if other is not None:
            out.append((s, other[0], r == other[1]))
    return out


# -- folders a scan could not read -----------------------------------------------------

def record_folder_problems(lib: Library, walked: Sequence[str],
                           problems: Sequence[tuple[str, str]]) -> None:
    """After a scan's walk of ``walked``: the folder problems it met replace those kept
    for folders inside ``walked`` (a folder read now, or gone, is cleared)."""
    now = time.time()
    with lib.transaction() as conn:
        kept = [p for (p,) in conn.execute(select(folder_problems.c.path))]
        gone = [p for p in kept if any(under(p, w) for w in walked)]
        for a in range(0, len(gone), 500):
            conn.execute(delete(folder_problems)
                         .where(folder_problems.c.path.in_(gone[a:a + 500])))
        rows = {p: why for p, why in problems}
        if rows:
            conn.execute(insert(folder_problems),
                         [{"path": p, "error": why, "seen_at": now} for p, why in rows.items()])


def folder_problems_now(lib: Library) -> list[dict[str, Any]]:
    """The folder problems kept for folders of the library's sources, by path."""
    srcs = lib.roots()
    with lib.reading() as conn:
        rows = conn.execute(select(folder_problems.c.path, folder_problems.c.error,
                                   folder_problems.c.seen_at)
                            .order_by(folder_problems.c.path)).all()
    return [{"path": p, "error": e, "seen_at": t} for p, e, t in rows
            if any(under(p, s) for s in srcs)]
