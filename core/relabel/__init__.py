"""Relabeling sample files on disk in batches: plan, preview, apply, undo, recover.

A batch is planned first (:func:`plan_relabel`): each file's effective label in a tree,
the filters, and where the file will go, checked against the disk and stored in the
library (``relabel_batches`` and one ``relabel_ops`` row per step, with the size, mtime
and sha256 of each source) — nothing on disk is touched yet. :func:`preview` lists it,
:func:`apply_batch` carries it out, :func:`undo_batch` reverses it.

Modes: ``move``, ``copy``, ``hardlink``, ``symlink`` put each file into DEST where its
layout says (:mod:`core.relabel.layout`; by default ``DEST/<node path>/<its folder inside
its scanned folder>/<file name>``); ``rename`` prefixes the name in place
(``"Kick - a.wav"``); ``sidecar`` writes ``DEST/labels.csv`` and ``DEST/labels.json``.

Nothing is ever overwritten or lost:

* A name that is taken (on disk, by another file of the plan, or by another library
  sample) gets ``" (2)"``, ``" (3)"``…; a same-drive move is a hard link then an unlink,
  which fails rather than replace a file that appeared in the meantime.
* Bytes are written under a temporary hidden name (``.sampletree-<batch>-<seq>.part``) in
  the destination folder, fsynced, verified by sha256, and only then renamed into place.
* Every step is journaled ahead: its op is marked ``started`` (committed) before the disk
  is touched, and ``done`` after, in the same transaction that moves the sample's path
  in the library (the sample id stays, so labels and supports follow). A process killed
  at any moment leaves at most one op in doubt; :func:`recover`, run at the start of
  every command, settles it by looking at the disk.

States. Batch: ``planned`` → ``applying`` → ``applied`` | ``failed`` | ``cancelled`` →
``undoing`` → ``undone`` (a ``failed`` or ``cancelled`` batch can be applied again to
finish it, or undone). Op: ``planned`` → ``started`` → ``done`` | ``skipped`` |
``failed``, then ``done`` → ``started`` → ``undone``; the batch's state says which way a
``started`` op was going. One job at a time per library: the job lock of
:mod:`core.joblock` (an OS lock released by the kernel when a process dies, which scans
take too) keeps :func:`recover` from "recovering" a batch another process is still
applying, and a scan from seeing a folder half moved.

Where to read what: :mod:`core.relabel.plan` (labels, filters, targets, the stored plan),
:mod:`core.relabel.layout` (the ``--layout`` template), :mod:`core.relabel.disksteps` (each
disk operation, never replacing a file), :mod:`core.relabel.journal` (apply, undo, recover,
and reading batches), :mod:`core.relabel.reports` (modes, skip reasons, plan and reports).

The names below load their module on first use (PEP 562), so that importing
:mod:`core.relabel.layout` alone — the CLI does, to write its help — stays as light as that
module: no SQLAlchemy, no library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.relabel.journal import (
        apply_batch,
        discard_batch,
        list_batches,
        preview,
        recover,
        undo_batch,
        unfinished_batches,
    )
    from core.relabel.layout import DEFAULT_LAYOUT, FIELDS, Layout, parse_layout
    from core.relabel.plan import plan_relabel
    from core.relabel.reports import (
        MODES,
        SKIP_REASONS,
        ApplyReport,
        Plan,
        PlannedOp,
        UndoReport,
    )

_WHERE = {
    "apply_batch": "journal", "discard_batch": "journal", "list_batches": "journal",
    "preview": "journal", "recover": "journal", "undo_batch": "journal",
    "unfinished_batches": "journal",
    "DEFAULT_LAYOUT": "layout", "FIELDS": "layout", "Layout": "layout",
    "parse_layout": "layout",
    "plan_relabel": "plan",
    "MODES": "reports", "SKIP_REASONS": "reports", "ApplyReport": "reports", "Plan": "reports",
    "PlannedOp": "reports", "UndoReport": "reports",
}
_PARTS = ("disksteps", "journal", "layout", "plan", "reports")

__all__ = [
    "DEFAULT_LAYOUT", "FIELDS", "MODES", "SKIP_REASONS", "ApplyReport", "Layout", "Plan",
    "PlannedOp", "UndoReport", "apply_batch", "discard_batch", "list_batches", "parse_layout",
    "plan_relabel", "preview", "recover", "undo_batch", "unfinished_batches",
]
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _PARTS:
        return importlib.import_module(f"{__name__}.{name}")
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value
