"""What relabeling tells its callers: the modes, why files were left out, the plan and
the reports of applying and undoing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MODES = ("move", "copy", "hardlink", "symlink", "rename", "sidecar")
_TREE_MODES = frozenset({"move", "copy", "hardlink", "symlink"})  # into DEST/<node path>/
_PATH_MODES = frozenset({"move", "rename"})  # the file itself changes place: the library follows
_VERB = {"move": "moved", "copy": "copied", "hardlink": "linked", "symlink": "linked",
         "rename": "renamed", "sidecar": "written"}

#: Why files were left out of a plan (the keys of :attr:`Plan.skipped`).
SKIP_REASONS = {
    "other_folders": "outside the chosen folders",
    "not_ok": "not readable in the library (missing, unreadable or not scanned yet)",
    "unlabeled": "unknown, uncertain or unlabeled (no class to sort them by)",
    "other_nodes": "labeled outside the chosen nodes",
    "low_confidence": "below the minimum confidence",
    "missing": "no longer on disk",
    "changed": "changed on disk since the last scan (scan again first)",
    "unreadable": "cannot be read",
    "not_writable": "its folder is not writable",
    "already_named": "already carries its label in its name",
    "already_there": "already where the plan puts it (relabeled before)",
    "name_too_long": "the new name would be too long",
    "same_file": "the kept file itself by another name (a link to it)",
}
_NAME_MAX = 255  # bytes in one file name on every common file system
_NAME_ROOM = 16  # kept free for " (123)" or " (restored 12)"


# -- reports -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedOp:
    """One step of a plan: ``src`` becomes (or is copied/linked to) ``dst``.

    For ``sidecar`` the one op has ``src`` = DEST and ``dst`` = the CSV file (the JSON
    file is its twin with the ``.json`` extension).
    """

    seq: int
    sample_id: int | None
    src: str
    dst: str
    label: str | None
    confidence: float | None


@dataclass
class Plan:
    batch_id: int
    tree: str
    mode: str
    dest: str | None
    ops: list[PlannedOp]
    files: int  # files the batch covers (for sidecar: rows in the sidecar)
    skipped: dict[str, int]  # reason (a key of SKIP_REASONS) → files
    layout: str | None = None  # where files go under DEST (None for rename and sidecar)

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "tree": self.tree, "mode": self.mode,
                "dest": self.dest, "layout": self.layout, "files": self.files,
                "skipped": dict(self.skipped), "ops": [op.__dict__ for op in self.ops]}


class _ReportMixin:
    """What both reports answer: was the job cancelled, and the report as plain data."""

    state: str

    @property
    def cancelled(self) -> bool:
        return self.state == "cancelled"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ApplyReport(_ReportMixin):
    batch_id: int
    state: str = "applying"
    total: int = 0
    done: int = 0  # steps this run did
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (planned, used instead)
    message: str | None = None
    recovered: list[str] = field(default_factory=list)
    earlier: int = 0  # steps done before this run (a resumed batch)


@dataclass
class UndoReport(_ReportMixin):
    batch_id: int
    state: str = "undoing"
    total: int = 0
    restored: int = 0  # files put back where they were (or next to it)
    removed: int = 0  # copies, links and sidecars deleted
    modified: list[str] = field(default_factory=list)  # moved back although changed since
    kept: list[tuple[str, str]] = field(default_factory=list)  # (path, why) left in place
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path, why) not found
    restored_as: list[tuple[str, str]] = field(default_factory=list)  # (original, used)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, why) still relabeled
    message: str | None = None
    recovered: list[str] = field(default_factory=list)
