"""Relabeling sample files on disk in batches: plan, preview, apply, undo, recover.

A batch is planned first (:func:`plan_relabel`): each file's effective label in a tree,
the filters, and where the file will go, checked against the disk and stored in the
library (``relabel_batches`` and one ``relabel_ops`` row per step, with the size, mtime
and sha256 of each source) — nothing on disk is touched yet. :func:`preview` lists it,
:func:`apply_batch` carries it out, :func:`undo_batch` reverses it.

Modes: ``move``, ``copy``, ``hardlink``, ``symlink`` put each file into DEST where its
layout says (:mod:`core.relabel_layout`; by default ``DEST/<node path>/<its folder inside
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
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from core.backup import make_backup
from core.errors import Cancelled, RelabelError
from core.joblock import JobBusy, job_lock
from core.jobs import CancelToken, Progress, ProgressCallback, RateMeter, no_progress
from core.library import Library
from core.paths import display_path as _show
from core.relabel_layout import DEFAULT_LAYOUT, Layout, parse_layout
from core.schema import nodes as tree_nodes
from core.schema import (
    predictions,
    relabel_batches,
    relabel_ops,
    roots,
    samples,
    supports,
    trees,
)

MODES = ("move", "copy", "hardlink", "symlink", "rename", "sidecar")
_TREE_MODES = frozenset({"move", "copy", "hardlink", "symlink"})  # into DEST/<node path>/
_PATH_MODES = frozenset({"move", "rename"})  # the file itself changes place: the library follows
_VERB = {"move": "moved", "copy": "copied", "hardlink": "linked", "symlink": "linked",
         "rename": "renamed", "sidecar": "written"}

#: Why files were left out of a plan (the keys of :attr:`Plan.skipped`).
SKIP_REASONS = {
    "other_folders": "outside the chosen folders",
    "not_ok": "not readable in the library (missing, unreadable or not scanned yet)",
    "unlabeled": "unknown, uncertain or unlabeled (no class to sort by: see sampletree classify)",
    "other_nodes": "labeled outside the chosen nodes",
    "low_confidence": "below the minimum confidence",
    "missing": "no longer on disk",
    "unreadable": "cannot be read",
    "not_writable": "its folder is not writable",
    "already_named": "already carries its label in its name",
    "already_there": "already where the plan puts it (relabeled before)",
    "name_too_long": "the new name would be too long",
}

# Errors after which going on would fail the same way for every file: stop the batch.
_STOP_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None),
                                     errno.EROFS, errno.EACCES) if e is not None)
# link(2) refusals that mean "no hard links here", not "no": fall back to rename(2).
_NO_LINKS = frozenset(e for e in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                                  getattr(errno, "ENOSYS", None)) if e is not None)
_NAME_MAX = 255  # bytes in one file name on every common file system
_NAME_ROOM = 16  # kept free for " (123)" or " (restored 12)"
_CHUNK = 1 << 20


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
    done: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (planned, used instead)
    message: str | None = None
    recovered: list[str] = field(default_factory=list)


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


class _Stop(Exception):
    """A failure every later step would repeat (disk full, read-only): stop the batch."""


class _Changed(Exception):
    """The bytes read are not the bytes planned."""


# -- small helpers -------------------------------------------------------------------------


def _key(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _under(path: str, folder: str) -> bool:
    folder = folder.rstrip(os.sep) or os.sep
    return path == folder or path.startswith(folder if folder == os.sep else folder + os.sep)


def _safe_name(name: str) -> str:
    """A node name as a folder name (the tree module already refuses these; rows may not)."""
    name = name.replace("/", "_").replace("\\", "_").replace("\0", "_").strip()
    return "_" if name in ("", ".", "..") else name


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tmp_for(final: str, batch_id: int, seq: int, tag: str = "") -> str:
    """The temporary name of an op's bytes: hidden (scans skip it) and known to recovery."""
    return os.path.join(os.path.dirname(final), f".sampletree-{batch_id}-{seq}{tag}.part")


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _fsync(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # Windows, or a dangling symlink copied as such: nothing to flush
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _digest_or_none(path: str) -> str | None:
    try:
        return _sha256(path)
    except OSError:
        return None


# -- the disk steps (module functions, so tests can make them fail) -------------------------

def _rename(src: str, dst: str) -> None:
    """Move ``src`` to ``dst`` on one file system, never replacing an existing ``dst``.

    A hard link then an unlink: link(2) fails when ``dst`` exists, where rename(2) would
    silently replace it. On a file system without hard links it falls back to
    check-then-rename. Across file systems it raises ``OSError(EXDEV)``.
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except (OSError, NotImplementedError) as exc:
        if isinstance(exc, OSError) and exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst) from None
        os.rename(src, dst)
        return
    _drop_source(src, dst)


def _drop_source(src: str, dst: str) -> None:
    """The file is in place at ``dst``: delete ``src``. If the original cannot go (its folder
    is read-only), remove ``dst`` again so the file still exists once, and fail the step."""
    try:
        os.unlink(src)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(dst)
        raise


def _copy(src: str, dst: str, *, follow_symlinks: bool = True) -> None:
    """Copy bytes and times to a new file, flushed to the disk."""
    shutil.copy2(src, dst, follow_symlinks=follow_symlinks)
    _fsync(dst)


def _hardlink(src: str, dst: str) -> None:
    os.link(src, dst)


def _symlink(target: str, dst: str) -> None:
    os.symlink(target, dst)


def _write_new(path: str, data: bytes) -> None:
    """Write a new file (``O_EXCL``: never an existing one), flushed to the disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _move(src: str, dst: str, tmp: str, checksum: str | None) -> None:
    """Move a file; across drives: copy to ``tmp``, verify, rename into place, delete ``src``.

    ``checksum`` is the sha256 the bytes must have (the file as planned); a copy that
    differs is removed and :class:`_Changed` raised, the source left alone.
    """
    try:
        _rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    try:
        _copy(src, tmp, follow_symlinks=False)
        if checksum is not None and _sha256(tmp) != checksum:
            raise _Changed()
        _rename(tmp, dst)
    except Exception:
        # (A process killed here leaves the temporary file to recover().)
        with contextlib.suppress(OSError):
            _remove(tmp)
        raise
    _drop_source(src, dst)


def _problem(exc: OSError, verb: str, src: str, dst: str) -> str:
    name = _show(os.path.basename(src))
    where = _show(os.path.dirname(os.fsdecode(exc.filename)) if exc.filename
                  else os.path.dirname(dst))
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        # The drive being written is the destination's, whatever file the error names
        # (shutil's copy names the source).
        return (f"no space left on the drive of {_show(os.path.dirname(dst))}: {name} was "
                f"not {verb}")
    if exc.errno == errno.EROFS:
        return f"{where} is on a read-only drive: {name} was not {verb}"
    if exc.errno == errno.EACCES:
        return f"no permission to write in {where}: {name} was not {verb}"
    return f"{name} was not {verb}: {exc.strerror or exc}"


# -- the lock --------------------------------------------------------------------------------

@contextlib.contextmanager
def _exclusive(lib: Library, kind: str = "relabel") -> Iterator[None]:
    """Hold the library's job lock (:mod:`core.joblock`; scans take it too) as ``kind``."""
    with job_lock(lib.path, kind):
        yield


# -- labels ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Candidate:
    sample_id: int
    path: str
    root_id: int | None
    status: str
    node_id: int | None  # None: unlabeled
    confidence: float
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format: str | None = None


def _find_tree(conn: Connection, name: str) -> tuple[int, str]:
    rows = conn.execute(select(trees.c.id, trees.c.name)).all()
    for tid, tname in rows:
        if tname == name:
            return int(tid), tname
    for tid, tname in rows:
        if _key(tname) == _key(name.strip()):
            return int(tid), tname
    known = ", ".join(f'"{n}"' for _, n in sorted(rows, key=lambda r: r[1])) or "none yet"
    raise RelabelError(f'there is no tree named "{name}" (trees: {known})')


def _node_paths(conn: Connection, tree_id: int) -> tuple[int, dict[int, tuple[str, ...]]]:
    """The tree's root id, and every node's path of names below the root."""
    rows = conn.execute(select(tree_nodes.c.id, tree_nodes.c.parent_id, tree_nodes.c.name)
                        .where(tree_nodes.c.tree_id == tree_id)).all()
    parent = {int(i): p for i, p, _ in rows}
    names = {int(i): n for i, _, n in rows}
    root = next((i for i, p in parent.items() if p is None), None)
    if root is None:
        raise RelabelError(f"tree {tree_id} has no root node; the library is damaged")
    paths: dict[int, tuple[str, ...]] = {root: ()}
    for start in parent:
        chain: list[int] = []
        cur: int | None = start
        while cur is not None and cur not in paths and len(chain) <= len(parent):
            chain.append(cur)
            cur = parent.get(cur)
        base = paths.get(cur, ()) if cur is not None else ()
        for nid in reversed(chain):
            base = (*base, names[nid])
            paths[nid] = base
    return root, paths


def _labels(conn: Connection, tree_id: int, root: int) -> list[_Candidate]:
    """Every sample with its effective label in the tree, sorted by path.

    A support (the user's own choice) wins with confidence 1.0; otherwise the
    prediction's reported node, unless it is unknown or the root (unlabeled).
    """
    query = (
        select(samples.c.id, samples.c.path, samples.c.root_id, samples.c.status,
               samples.c.duration_s, samples.c.sample_rate, samples.c.channels,
               samples.c.format,
               supports.c.node_id.label("support_node"),
               predictions.c.node_id.label("predicted_node"),
               predictions.c.confidence, predictions.c.unknown)
        .select_from(
            samples
            .outerjoin(supports, and_(supports.c.sample_id == samples.c.id,
                                      supports.c.tree_id == tree_id))
            .outerjoin(predictions, and_(predictions.c.sample_id == samples.c.id,
                                         predictions.c.tree_id == tree_id))))
    out = []
    for r in conn.execute(query):
        node, conf = None, 0.0
        if r.support_node is not None and r.support_node != root:
            node, conf = int(r.support_node), 1.0
        elif r.predicted_node is not None and not r.unknown and r.predicted_node != root:
            node, conf = int(r.predicted_node), float(r.confidence)
        out.append(_Candidate(int(r.id), r.path, r.root_id, r.status, node, conf,
                              r.duration_s, r.sample_rate, r.channels, r.format))
    out.sort(key=lambda c: c.path)
    return out


def _wanted_nodes(tree: str, paths: dict[int, tuple[str, ...]],
                  wanted: Sequence[str]) -> set[int]:
    """Node ids at or under each of ``wanted`` ("Drums/Kick"; names compared ignoring case)."""
    by_key = {tuple(_key(p) for p in path): nid for nid, path in paths.items()}
    out: set[int] = set()
    for text in wanted:
        parts = tuple(_key(p.strip()) for p in text.replace("\\", "/").split("/") if p.strip())
        if not parts or parts not in by_key:
            raise RelabelError(f'tree "{tree}" has no node "{text}"')
        out.update(nid for key, nid in by_key.items() if key[:len(parts)] == parts)
    return out


def _roots(conn: Connection) -> list[tuple[int, str]]:
    return [(int(i), p) for i, p in conn.execute(select(roots.c.id, roots.c.path))]


def _root_of(path: str, root_list: list[tuple[int, str]]) -> int | None:
    best: tuple[int, int] | None = None
    for rid, rpath in root_list:
        if _under(path, rpath) and (best is None or len(rpath) > best[1]):
            best = (rid, len(rpath))
    return best[0] if best else None


# -- planning --------------------------------------------------------------------------------

def _check_writable(folder: str) -> None:
    """Refuse a destination we could not write: os.access, then a real write."""
    probe = folder
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise RelabelError(f"{_show(probe)} is not a folder: cannot write into "
                           f"{_show(folder)}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RelabelError(f"the destination {_show(folder)} is not writable "
                           f"(no permission to write in {_show(probe)})")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sampletree-write-test-", dir=probe)
        try:
            os.write(fd, b"sampletree")
            os.fsync(fd)
        finally:
            os.close(fd)
            _remove(tmp)
    except OSError as exc:
        raise RelabelError(f"the destination {_show(folder)} is not writable: "
                           f"{exc.strerror or exc}") from None


def _already_placed(src: str, target: str, mode: str, size: int, digest: str) -> bool:
    """Is ``src`` already relabeled to ``target`` (or to ``target (2)``… that a former run
    chose when the name was taken)? Then the plan leaves it alone: running the same
    relabel again must not move ``a.wav`` to ``a (2).wav`` nor make a second copy."""
    folder, name = os.path.split(target)
    stem, ext = os.path.splitext(name)
    cand, n = target, 1
    while True:
        if mode in _PATH_MODES:
            if cand == src or (_key(cand) == _key(src) and _same_file(cand, src)):
                return True
        elif mode == "hardlink":
            if _same_file(cand, src):
                return True
        elif mode == "symlink":
            if os.path.islink(cand) and os.readlink(cand) == src:
                return True
        elif mode == "copy":
            with contextlib.suppress(OSError):
                st = os.lstat(cand)
                if (not os.path.islink(cand) and st.st_size == size
                        and _digest_or_none(cand) == digest):
                    return True
        n += 1
        cand = os.path.join(folder, f"{stem} ({n}){ext}")
        if not os.path.lexists(cand):
            return False


def _unique(path: str, taken: set[str], lib_paths: set[str],
            listings: dict[str, set[str]]) -> str:
    """``path``, or ``name (2).ext``, ``name (3).ext``… — the first that nothing holds.

    Names are compared ignoring case — with the plan's earlier targets (``taken``) and
    the files already in the folder — since on a case-insensitive drive ``A.wav`` and
    ``a.wav`` are one file; ``lib_paths`` are the library's paths.
    """
    folder, name = os.path.split(path)
    if folder not in listings:
        try:
            listings[folder] = {_key(n) for n in os.listdir(folder)}
        except OSError:
            listings[folder] = set()
    here = listings[folder]
    stem, ext = os.path.splitext(name)
    cand, n = path, 1
    while (os.path.lexists(cand) or _key(os.path.basename(cand)) in here
           or _key(cand) in taken or cand in lib_paths):
        n += 1
        cand = os.path.join(folder, f"{stem} ({n}){ext}")
    taken.add(_key(cand))
    return cand


def _sidecar_pair(dest: str) -> tuple[str, str]:
    n = 1
    while True:
        stem = "labels" if n == 1 else f"labels-{n}"
        csv_path, json_path = (os.path.join(dest, stem + ext) for ext in (".csv", ".json"))
        if not (os.path.lexists(csv_path) or os.path.lexists(json_path)):
            return csv_path, json_path
        n += 1


def _json_twin(csv_path: str) -> str:
    return os.path.splitext(csv_path)[0] + ".json"


def _render_sidecar(tree: str, rows: list[list[Any]]) -> tuple[bytes, bytes]:
    """CSV and JSON bytes of ``rows`` ([sample id, path, label, confidence]); deterministic."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "confidence"])
    for _sid, path, label, conf in rows:
        writer.writerow([path, label, f"{conf:.4f}"])
    # A path that is not UTF-8 keeps its raw bytes in the CSV.
    csv_bytes = buf.getvalue().encode("utf-8", "surrogateescape")
    data = {"format": "sampletree-labels", "version": 1, "tree": tree,
            "files": [{"path": p, "label": lab, "confidence": round(c, 4)}
                      for _sid, p, lab, c in rows]}
    try:
        json_bytes = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
    except UnicodeEncodeError:  # such a path becomes a \udcxx escape: still valid JSON
        json_bytes = json.dumps(data, indent=1).encode("ascii")
    return csv_bytes, json_bytes + b"\n"


def _origins(conn: Connection) -> dict[int, str]:
    """Where each file moved by a batch (still done) was before its first such move."""
    out: dict[int, str] = {}
    for sid, src in conn.execute(
            select(relabel_ops.c.sample_id, relabel_ops.c.src)
            .join(relabel_batches, relabel_batches.c.id == relabel_ops.c.batch_id)
            .where(relabel_batches.c.mode == "move", relabel_ops.c.state == "done",
                   relabel_ops.c.sample_id.is_not(None))
            .order_by(relabel_batches.c.id, relabel_ops.c.seq)):
        out.setdefault(int(sid), src)
    return out


def _layout_values(c: _Candidate, label_parts: tuple[str, ...], origin: str,
                   root_list: list[tuple[int, str]]) -> tuple[dict[str, str], str]:
    """The fields of :data:`core.relabel_layout.FIELDS` for one file, and its extension
    (with the dot). ``origin`` is where the file was before any move batch (its path if
    never moved): a file sorted once keeps the folder it came from, so the same relabel
    run again finds it already in place."""
    folder, name = os.path.split(origin)
    stem, ext = os.path.splitext(name)
    root_id = _root_of(origin, root_list)
    root = dict(root_list).get(root_id) if root_id is not None else None
    if root is not None:
        rel = os.path.relpath(folder, root)
        relfolder = "" if rel == os.curdir else "/".join(rel.split(os.sep))
        root_name = os.path.basename(root.rstrip(os.sep)) or root
    else:  # not under a scanned folder: its own folder stands for it
        relfolder, root_name = "", os.path.basename(folder)
    dur = c.duration_s
    values = {
        "label": "/".join(_safe_name(p) for p in label_parts),
        "leaf": label_parts[-1], "root": root_name, "relfolder": relfolder,
        "name": stem, "ext": ext[1:], "confidence": f"{round(c.confidence * 100)}",
        "duration": "" if dur is None else f"{dur:.2f}".rstrip("0").rstrip("."),
        "rate": "" if c.sample_rate is None else str(c.sample_rate),
        "channels": "" if c.channels is None else str(c.channels),
        "format": c.format or "",
    }
    return values, ext


def plan_relabel(lib: Library, tree_name: str, mode: str, dest: str | os.PathLike[str] | None
                 = None, *, min_confidence: float = 0.0, nodes: Sequence[str] | None = None,
                 folders: Sequence[str | os.PathLike[str]] | None = None,
                 prefix_sep: str = " - ", layout: str | None = None,
                 progress: ProgressCallback = no_progress,
                 cancel: CancelToken | None = None) -> Plan:
    """Plan a batch (stored in state ``planned``; the disk is not touched).

    ``nodes``: only files labeled at or under these node paths ("Drums/Kick");
    ``folders``: only files under these folders; ``min_confidence``: only files whose
    label is at least this sure (supports count as 1.0); ``layout``: where each file goes
    under DEST (:mod:`core.relabel_layout`; default :data:`DEFAULT_LAYOUT`), for move,
    copy, hardlink and symlink only. Sources are hashed (sha256) so that
    :func:`apply_batch` can tell a file changed since. Raises :class:`RelabelError` for
    an unknown tree, mode or node, a bad layout, a destination that is missing, not
    writable, or inside a folder being relabeled.
    """
    if mode not in MODES:
        raise RelabelError(f'unknown relabel mode "{mode}"; choose one of {", ".join(MODES)}')
    shape: Layout | None = None
    if mode in _TREE_MODES:
        shape = parse_layout(DEFAULT_LAYOUT if layout is None else layout)
    elif layout is not None:
        raise RelabelError(
            "rename puts the label before each name, in place: it takes no layout"
            if mode == "rename" else
            "sidecar places no file: it takes no layout (each file's label is listed)")
    if mode != "rename" and dest is not None and not os.fspath(dest).strip():
        # "" would mean the current folder: files would land wherever the command ran.
        raise RelabelError(f"the destination is empty; {mode} needs a destination folder")
    if mode == "rename":
        if dest is not None:
            raise RelabelError("rename works in place, in each file's own folder; "
                               "it takes no destination")
        if "/" in prefix_sep or "\\" in prefix_sep or "\0" in prefix_sep:
            raise RelabelError(f'the separator "{prefix_sep}" cannot hold "/" or "\\"')
    elif dest is None:
        raise RelabelError(f"{mode} needs a destination folder")
    dest_abs = os.path.abspath(os.fspath(dest)) if dest is not None else None
    if dest_abs is not None and os.path.lexists(dest_abs) and not os.path.isdir(dest_abs):
        raise RelabelError(f"the destination {_show(dest_abs)} is a file, not a folder")
    folder_list = [os.path.abspath(os.fspath(f)) for f in folders or ()]
    for f in folder_list:
        if not os.path.isdir(f):
            raise RelabelError(f"{_show(f)} is not a folder")
    cancel = cancel or CancelToken()

    with lib.reading() as conn:
        tree_id, tree = _find_tree(conn, tree_name)
        root, node_paths = _node_paths(conn, tree_id)
        candidates = _labels(conn, tree_id, root)
        root_list = _roots(conn)
        lib_paths = {p for (p,) in conn.execute(select(samples.c.path))}
        origins = _origins(conn) if mode in _TREE_MODES else {}
    wanted = _wanted_nodes(tree, node_paths, nodes) if nodes else None

    skipped: Counter[str] = Counter()
    chosen: list[_Candidate] = []
    for c in candidates:
        if folder_list and not any(_under(c.path, f) for f in folder_list):
            skipped["other_folders"] += 1
        elif c.status != "ok":
            skipped["not_ok"] += 1
        elif c.node_id is None or c.node_id not in node_paths:
            skipped["unlabeled"] += 1
        elif wanted is not None and c.node_id not in wanted:
            skipped["other_nodes"] += 1
        elif c.confidence < min_confidence:
            skipped["low_confidence"] += 1
        else:
            chosen.append(c)

    root_paths = dict(root_list)
    if mode in _TREE_MODES and dest_abs is not None:
        sources = folder_list or sorted({root_paths.get(c.root_id or -1)
                                         or os.path.dirname(c.path) for c in chosen})
        real_dest = os.path.realpath(dest_abs)
        for s in sources:
            if _under(real_dest, os.path.realpath(s)):
                raise RelabelError(
                    f"the destination {_show(dest_abs)} is inside {_show(s)}, a folder being "
                    "relabeled: the relabeled files would be scanned into the library again. "
                    "Choose a destination outside it")
    if dest_abs is not None:
        _check_writable(dest_abs)

    ops: list[PlannedOp] = []
    op_files: list[tuple[int, int, str]] = []  # size, mtime_ns, sha256 of each op's source
    bases: dict[str, str] = {}  # seq → the target before " (2)" was added, where it was
    rows: list[list[Any]] = []
    taken: set[str] = set()
    folder_ok: dict[str, bool] = {}
    listings: dict[str, set[str]] = {}
    meter = RateMeter()
    for i, c in enumerate(chosen):
        if cancel.cancelled:
            raise Cancelled("planning cancelled; nothing was stored")
        if i % 20 == 0:
            rate = meter.update(i)
            progress(Progress("plan", i, len(chosen), rate, RateMeter.eta(i, len(chosen), rate),
                              _show(c.path)))
        label_parts = node_paths[c.node_id]  # type: ignore[index]
        label = "/".join(label_parts)
        folder, name = os.path.split(c.path)
        if mode in _PATH_MODES:
            if folder not in folder_ok:
                folder_ok[folder] = os.access(folder, os.W_OK | os.X_OK)
            if not folder_ok[folder]:
                skipped["not_writable"] += 1
                continue
        try:
            st = os.stat(c.path)
            digest = _sha256(c.path) if mode != "sidecar" else ""
        except FileNotFoundError:
            skipped["missing"] += 1
            continue
        except OSError:
            skipped["unreadable"] += 1
            continue
        if mode == "sidecar":
            rows.append([c.sample_id, c.path, label, round(c.confidence, 6)])
            continue
        leaf = _safe_name(label_parts[-1])
        if mode == "rename":
            if name.startswith(leaf + prefix_sep):
                skipped["already_named"] += 1
                continue
            target = os.path.join(folder, leaf + prefix_sep + name)
            if len(os.fsencode(os.path.basename(target))) > _NAME_MAX - _NAME_ROOM:
                skipped["name_too_long"] += 1
                continue
        else:
            assert dest_abs is not None and shape is not None
            values, ext = _layout_values(c, label_parts, origins.get(c.sample_id, c.path),
                                         root_list)
            below = shape.render(values, ext) or [name]
            if any(len(os.fsencode(part)) > _NAME_MAX for part in below):
                skipped["name_too_long"] += 1
                continue
            target = os.path.join(dest_abs, *below)
        if _already_placed(c.path, target, mode, st.st_size, digest):
            skipped["already_there"] += 1
            continue
        wanted_target, target = target, _unique(target, taken, lib_paths, listings)
        if target != wanted_target:
            bases[str(len(ops) + 1)] = wanted_target
        ops.append(PlannedOp(len(ops) + 1, c.sample_id, c.path, target, label, c.confidence))
        op_files.append((st.st_size, st.st_mtime_ns, digest))

    options: dict[str, Any] = {
        "tree": tree, "min_confidence": min_confidence, "nodes": list(nodes or []),
        "folders": folder_list, "prefix_sep": prefix_sep, "skipped": dict(skipped),
    }
    if shape is not None:
        options.update(layout=shape.text, bases=bases)
    if mode == "sidecar":
        assert dest_abs is not None
        csv_path, _json = _sidecar_pair(dest_abs)
        csv_bytes, json_bytes = _render_sidecar(tree, rows)
        options["sidecar"] = {"rows": rows, "json_sha256": _sha256_bytes(json_bytes)}
        ops = [PlannedOp(1, None, dest_abs, csv_path, None, None)] if rows else []
        op_files = [(len(rows), 0, _sha256_bytes(csv_bytes))] if rows else []
    if mode in _TREE_MODES or mode == "sidecar":
        assert dest_abs is not None
        new_dirs: set[str] = set()
        for op in ops:
            d = os.path.dirname(op.dst)
            while _under(d, dest_abs) or _under(dest_abs, d):
                if os.path.lexists(d):
                    break
                new_dirs.add(d)
                d = os.path.dirname(d)
        options["new_dirs"] = sorted(new_dirs, key=lambda d: (-d.count(os.sep), d))

    with lib.transaction() as conn:
        batch_id = int(conn.execute(insert(relabel_batches).values(
            tree_id=tree_id, mode=mode, dest=dest_abs, options=json.dumps(options),
            state="planned", created_at=time.time())).inserted_primary_key[0])
        if ops:
            conn.execute(insert(relabel_ops), [
                {"batch_id": batch_id, "seq": op.seq, "sample_id": op.sample_id,
                 "src": op.src, "dst": op.dst, "label": op.label, "confidence": op.confidence,
                 "size": size, "mtime_ns": mtime, "checksum": digest, "state": "planned"}
                for op, (size, mtime, digest) in zip(ops, op_files, strict=True)])
    progress(Progress("plan", len(chosen), len(chosen)))
    files = len(rows) if mode == "sidecar" else len(ops)
    return Plan(batch_id, tree, mode, dest_abs, ops, files, dict(skipped),
                shape.text if shape is not None else None)


# -- reading batches -------------------------------------------------------------------------

@dataclass
class _Batch:
    id: int
    mode: str
    dest: str | None
    options: dict[str, Any]
    state: str

    @property
    def tree(self) -> str:
        return str(self.options.get("tree", ""))


def _load_batch(conn: Connection, batch_id: int) -> _Batch:
    row = conn.execute(select(relabel_batches)
                       .where(relabel_batches.c.id == batch_id)).mappings().first()
    if row is None:
        raise RelabelError(f"there is no relabel batch {batch_id}")
    return _Batch(int(row["id"]), row["mode"], row["dest"], json.loads(row["options"]),
                  row["state"])


def _ops(conn: Connection, batch_id: int, states: Sequence[str] | None = None,
         *, reverse: bool = False) -> list[dict[str, Any]]:
    query = select(relabel_ops).where(relabel_ops.c.batch_id == batch_id)
    if states is not None:
        query = query.where(relabel_ops.c.state.in_(list(states)))
    order = relabel_ops.c.seq.desc() if reverse else relabel_ops.c.seq
    return [dict(r) for r in conn.execute(query.order_by(order)).mappings()]


def preview(lib: Library, batch_id: int) -> list[dict[str, Any]]:
    """What a batch does (or did), file by file: ``src`` → ``dst``, label, confidence, state.

    For a sidecar batch: one row per file, ``dst`` being the sidecar it is listed in.
    """
    with lib.reading() as conn:
        batch = _load_batch(conn, batch_id)
        ops = _ops(conn, batch_id)
    keys = ("seq", "sample_id", "src", "dst", "label", "confidence", "state", "message")
    if batch.mode == "sidecar":
        if not ops:
            return []
        op = ops[0]
        return [{"seq": i + 1, "sample_id": sid, "src": path, "dst": op["dst"], "label": label,
                 "confidence": conf, "state": op["state"], "message": op["message"]}
                for i, (sid, path, label, conf) in enumerate(batch.options["sidecar"]["rows"])]
    return [{k: op[k] for k in keys} for op in ops]


def list_batches(lib: Library) -> list[dict[str, Any]]:
    """Every batch, oldest first, with its op counts by state."""
    with lib.reading() as conn:
        rows = conn.execute(select(relabel_batches).order_by(relabel_batches.c.id)).mappings().all()
        counts: dict[int, dict[str, int]] = {}
        for bid, state, n in conn.execute(
                select(relabel_ops.c.batch_id, relabel_ops.c.state, func.count())
                .group_by(relabel_ops.c.batch_id, relabel_ops.c.state)):
            counts.setdefault(int(bid), {})[state] = int(n)
    out = []
    for r in rows:
        options = json.loads(r["options"])
        by_state = counts.get(int(r["id"]), {})
        out.append({
            "id": int(r["id"]), "tree": options.get("tree"), "mode": r["mode"],
            "dest": r["dest"], "state": r["state"], "created_at": r["created_at"],
            "finished_at": r["finished_at"], "message": r["message"],
            "files": (len(options.get("sidecar", {}).get("rows", [])) if r["mode"] == "sidecar"
                      else sum(by_state.values())),
            "ops": by_state, "skipped": options.get("skipped", {}),
        })
    return out


def discard_batch(lib: Library, batch_id: int) -> None:
    """Forget a batch that was only planned (a dry run, a preview the user closed).

    Only a ``planned`` batch can go: nothing of it ever touched the disk. Its id is
    free again for the next plan.
    """
    with lib.transaction() as conn:
        batch = _load_batch(conn, batch_id)
        if batch.state != "planned":
            raise RelabelError(f"relabel batch {batch_id} is {batch.state}; only a planned "
                               "batch can be discarded")
        conn.execute(relabel_ops.delete().where(relabel_ops.c.batch_id == batch_id))
        conn.execute(relabel_batches.delete().where(relabel_batches.c.id == batch_id))


def unfinished_batches(lib: Library) -> list[dict[str, Any]]:
    """Batches that stopped part-way (failed, cancelled, interrupted) with files left to
    do: each can be applied again to finish it, or undone."""
    with lib.reading() as conn:
        rows = conn.execute(
            select(relabel_batches.c.id, func.count(relabel_ops.c.id))
            .join(relabel_ops, relabel_ops.c.batch_id == relabel_batches.c.id)
            .where(relabel_batches.c.state.in_(("failed", "cancelled")),
                   relabel_ops.c.state.in_(("planned", "failed")))
            .group_by(relabel_batches.c.id).order_by(relabel_batches.c.id)).all()
    return [{"id": int(bid), "left": int(n)} for bid, n in rows]


# -- applying, undoing, recovering -----------------------------------------------------------

class _Run:
    """One batch being applied, undone or recovered, with its journal writes."""

    def __init__(self, lib: Library, batch: _Batch) -> None:
        self.lib = lib
        self.batch = batch
        with lib.reading() as conn:
            self.roots = _roots(conn)

    # journal -------------------------------------------------------------------------

    def set_op(self, op: dict[str, Any], *, move: tuple[str, str] | None = None,
               before: tuple[int, int] | None = None, lost: str | None = None,
               **values: Any) -> None:
        """Update an op; with ``move=(old, new)`` the sample's library path too, atomically;
        with ``lost=path`` the sample is marked missing (if the library has it there), with
        the op's message as the reason."""
        with self.lib.transaction() as conn:
            conn.execute(update(relabel_ops).where(relabel_ops.c.id == op["id"]).values(**values))
            if move is not None and op["sample_id"] is not None and move[0] != move[1]:
                self._move_sample(conn, op["sample_id"], move[0], move[1], before)
            if lost is not None and op["sample_id"] is not None:
                conn.execute(update(samples).where(samples.c.id == op["sample_id"],
                                                   samples.c.path == lost)
                             .values(status="missing", error=values.get("message")))
        op.update(values)

    def _move_sample(self, conn: Connection, sample_id: int, old: str, new: str,
                     before: tuple[int, int] | None) -> None:
        row = conn.execute(select(samples.c.path, samples.c.size, samples.c.mtime_ns)
                           .where(samples.c.id == sample_id)).first()
        if row is None or row.path != old:
            return  # a scan (or the user) already moved it in the library: not ours to touch
        values: dict[str, Any] = {"path": new, "root_id": _root_of(new, self.roots)}
        # Keep size/mtime as the scanner knew them, so a file changed before the batch is
        # still seen as changed; refresh them only if the move itself changed them.
        if before is not None and (row.size, row.mtime_ns) == before:
            with contextlib.suppress(OSError):
                st = os.stat(new)
                values.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
        conn.execute(update(samples).where(samples.c.id == sample_id).values(**values))

    def set_batch(self, state: str, message: str | None = None, *, final: bool = True) -> None:
        values: dict[str, Any] = {"state": state, "message": message}
        if final:
            values["finished_at"] = time.time()
        with self.lib.transaction() as conn:
            conn.execute(update(relabel_batches).where(relabel_batches.c.id == self.batch.id)
                         .values(**values))
        self.batch.state = state

    def taken_in_library(self, path: str, sample_id: int | None) -> bool:
        with self.lib.reading() as conn:
            row = conn.execute(select(samples.c.id).where(samples.c.path == path)).first()
        return row is not None and row[0] != sample_id

    def holds(self, path: str, sample_id: int | None) -> bool:
        """Is ``path`` taken: on disk (names compared ignoring case) or in the library?"""
        if os.path.lexists(path) or self.taken_in_library(path, sample_id):
            return True
        folder, name = os.path.split(path)
        try:
            return _key(name) in {_key(n) for n in os.listdir(folder)}
        except OSError:
            return False

    def free_name(self, path: str, sample_id: int | None, *, base: str | None = None,
                  label: str = "") -> str:
        """``path`` if nothing holds it, else the first free ``name (2).ext``… made from
        ``base`` (default ``path``), or ``name (restored).ext``, ``name (restored 2).ext``
        with ``label="restored"``."""
        if not self.holds(path, sample_id):
            return path
        folder, name = os.path.split(base or path)
        stem, ext = os.path.splitext(name)
        n = 1 if label else 2
        while True:
            tag = (label if n == 1 else f"{label} {n}") if label else str(n)
            cand = os.path.join(folder, f"{stem} ({tag}){ext}")
            if not self.holds(cand, sample_id):
                return cand
            n += 1

    def base_name(self, op: dict[str, Any]) -> str:
        """The target an op had before the plan numbered it (``a.wav`` for ``a (2).wav``)."""
        if "layout" in self.batch.options:  # planned with a layout: kept where numbered
            return str(self.batch.options.get("bases", {}).get(str(op["seq"]), op["dst"]))
        name = os.path.basename(op["src"])
        if self.batch.mode == "rename":
            leaf = _safe_name((op["label"] or "").split("/")[-1])
            name = leaf + str(self.batch.options.get("prefix_sep", " - ")) + name
        return os.path.join(os.path.dirname(op["dst"]), name)

    def tmp_paths(self, op: dict[str, Any]) -> list[str]:
        b, s = self.batch.id, op["seq"]
        out = []
        if op["dst"]:
            out += [_tmp_for(op["dst"], b, s), _tmp_for(op["dst"], b, s, "-csv"),
                    _tmp_for(op["dst"], b, s, "-json")]
        out.append(_tmp_for(op["src"], b, s, "-undo"))
        target = self.undo_target(op)
        if target:
            out.append(_tmp_for(target, b, s, "-undo"))
        return out

    @staticmethod
    def undo_target(op: dict[str, Any]) -> str | None:
        try:
            note = json.loads(op["message"] or "")
        except ValueError:
            return None
        return note.get("to") if isinstance(note, dict) else None

    # apply -----------------------------------------------------------------------------

    def apply(self, report: ApplyReport, progress: ProgressCallback,
              cancel: CancelToken) -> None:
        with self.lib.reading() as conn:
            todo = _ops(conn, self.batch.id, ("planned", "failed"))
            report.total = len(_ops(conn, self.batch.id))
            already = len(_ops(conn, self.batch.id, ("done",)))
        self.set_batch("applying", final=False)
        meter = RateMeter()
        done_here = 0
        for i, op in enumerate(todo):
            if cancel.cancelled:
                n = already + done_here
                self.set_batch("cancelled", f"cancelled after {n} of {report.total} files; "
                               "resume it (apply it again) to finish, or undo it")
                report.state, report.message = self.batch.state, f"cancelled after {n} files"
                report.done = done_here
                return
            try:
                outcome, why = (self.apply_sidecar(op, report) if self.batch.mode == "sidecar"
                                else self.apply_one(op, report))
            except _Stop as stop:
                report.failed.append((op["src"], str(stop)))
                report.done = done_here
                msg = (f"{stop}; the batch stopped after {already + done_here} of "
                       f"{report.total} files — undo it, or fix this and resume it "
                       "(apply it again)")
                self.set_batch("failed", msg)
                report.state, report.message = "failed", msg
                return
            if outcome == "done":
                done_here += 1
            elif outcome == "skipped":
                report.skipped.append((op["src"], why or ""))
            else:
                report.failed.append((op["src"], why or ""))
            rate = meter.update(i + 1)
            progress(Progress("relabel", i + 1, len(todo), rate,
                              RateMeter.eta(i + 1, len(todo), rate), _show(op["src"])))
        report.done = done_here
        parts = [f"{already + done_here} of {report.total} files {_VERB[self.batch.mode]}"]
        if report.skipped:
            parts.append(f"{len(report.skipped)} skipped")
        if report.failed:
            parts.append(f"{len(report.failed)} failed")
        self.set_batch("applied", ", ".join(parts))
        report.state, report.message = "applied", ", ".join(parts)

    def source_as_planned(self, op: dict[str, Any]) -> str | None:
        """None if the source is still the file planned, else why not."""
        src = op["src"]
        try:
            st = os.stat(src)
        except FileNotFoundError:
            return "the file is gone since the plan"
        except OSError as exc:
            return f"cannot read the file: {exc.strerror or exc}"
        if (st.st_size, st.st_mtime_ns) != (op["size"], op["mtime_ns"]):
            digest = _digest_or_none(src)
            if digest != op["checksum"]:
                return "changed since the plan"
        return None

    def apply_one(self, op: dict[str, Any], report: ApplyReport) -> tuple[str, str | None]:
        mode, src = self.batch.mode, op["src"]
        why = self.source_as_planned(op)
        if why is not None:
            self.set_op(op, state="skipped", message=why)
            return "skipped", why
        planned = op["dst"]
        dst = self.free_name(planned, op["sample_id"] if mode in _PATH_MODES else None,
                             base=self.base_name(op))
        note = None
        if dst != planned:
            note = f"{_show(os.path.basename(planned))} was taken since the plan"
            report.renamed.append((planned, dst))
        tmp = _tmp_for(dst, self.batch.id, op["seq"])
        try:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            self.set_op(op, state="started", dst=dst, message=note)
            if mode in _PATH_MODES:
                _move(src, dst, tmp, op["checksum"])
            elif mode == "copy":
                _copy(src, tmp)
                if _sha256(tmp) != op["checksum"]:
                    raise _Changed()
                _rename(tmp, dst)
            elif mode == "hardlink":
                try:
                    _hardlink(src, dst)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    raise RelabelError(
                        f"cannot hard-link {_show(src)} into {_show(os.path.dirname(dst))}: "
                        "a hard link cannot cross drives (file systems); use copy or "
                        "symlink instead") from None
            else:
                _symlink(src, dst)
        except _Changed:
            _remove(tmp)
            self.set_op(op, state="skipped", message="changed since the plan")
            return "skipped", "changed since the plan"
        except RelabelError as exc:
            self.set_op(op, state="failed", message=str(exc))
            return "failed", str(exc)
        except OSError as exc:
            with contextlib.suppress(OSError):
                _remove(tmp)
            msg = _problem(exc, _VERB[mode], src, dst)
            self.set_op(op, state="failed", message=msg)
            if exc.errno in _STOP_ERRNOS:
                raise _Stop(msg) from None
            return "failed", msg
        self.set_op(op, state="done", message=note,
                    move=(src, dst) if mode in _PATH_MODES else None,
                    before=(op["size"], op["mtime_ns"]))
        return "done", None

    def sidecar_bytes(self) -> tuple[bytes, bytes]:
        return _render_sidecar(self.batch.tree, self.batch.options["sidecar"]["rows"])

    def apply_sidecar(self, op: dict[str, Any], report: ApplyReport) -> tuple[str, str | None]:
        assert self.batch.dest is not None
        csv_bytes, json_bytes = self.sidecar_bytes()
        csv_path = op["dst"]
        note = None
        if os.path.lexists(csv_path) or os.path.lexists(_json_twin(csv_path)):
            csv_path, _ = _sidecar_pair(self.batch.dest)
            note = f"{_show(os.path.basename(op['dst']))} was taken since the plan"
            report.renamed.append((op["dst"], csv_path))
        json_path = _json_twin(csv_path)
        b, s = self.batch.id, op["seq"]
        tmps = [_tmp_for(csv_path, b, s, "-csv"), _tmp_for(csv_path, b, s, "-json")]
        placed: list[str] = []
        try:
            os.makedirs(self.batch.dest, exist_ok=True)
            self.set_op(op, state="started", dst=csv_path, message=note)
            # Both written in full before either takes its final name.
            _write_new(tmps[0], csv_bytes)
            _write_new(tmps[1], json_bytes)
            for tmp, final in zip(tmps, (csv_path, json_path), strict=True):
                _rename(tmp, final)
                placed.append(final)
        except OSError as exc:
            for path in (*tmps, *placed):
                with contextlib.suppress(OSError):
                    _remove(path)
            msg = _problem(exc, "written", csv_path, csv_path)
            self.set_op(op, state="failed", message=msg)
            if exc.errno in _STOP_ERRNOS:
                raise _Stop(msg) from None
            return "failed", msg
        self.set_op(op, state="done", message=note)
        return "done", None

    # undo ------------------------------------------------------------------------------

    def undo(self, report: UndoReport, progress: ProgressCallback, cancel: CancelToken) -> None:
        with self.lib.reading() as conn:
            todo = _ops(conn, self.batch.id, ("done",), reverse=True)
        report.total = len(todo)
        self.set_batch("undoing", final=False)
        meter = RateMeter()
        for i, op in enumerate(todo):
            if cancel.cancelled:
                left = len(todo) - i
                msg = f"undo cancelled: {left} files are still relabeled; run undo again"
                self.set_batch("cancelled", msg)
                report.state, report.message = "cancelled", msg
                return
            try:
                self.undo_one(op, report)
            except _Stop as stop:
                report.failed.append((op["dst"], str(stop)))
                msg = f"undo stopped: {stop}; fix this and run undo again"
                self.set_batch("failed", msg)
                report.state, report.message = "failed", msg
                return
            rate = meter.update(i + 1)
            progress(Progress("undo", i + 1, len(todo), rate,
                              RateMeter.eta(i + 1, len(todo), rate), _show(op["dst"])))
        self.finish_undo(report)

    def finish_undo(self, report: UndoReport | None = None) -> str:
        with self.lib.reading() as conn:
            left = len(_ops(conn, self.batch.id, ("done",)))
        if left:
            msg = (f"{left} files could not be put back; fix the problem and run undo again"
                   if report is not None else
                   f"{left} files are still relabeled; run undo again to finish")
            self.set_batch("failed", msg)
        else:
            for d in self.batch.options.get("new_dirs", []):
                with contextlib.suppress(OSError):
                    os.rmdir(d)  # only if empty: anything the user put there stays
            problems = []
            if report is not None:
                for items, what in ((report.modified, "moved back although modified"),
                                    (report.kept, "kept"), (report.missing, "not found"),
                                    (report.restored_as, "restored under another name")):
                    if items:
                        problems.append(f"{len(items)} {what}")
            msg = "undone" + (f" ({', '.join(problems)})" if problems else "")
            self.set_batch("undone", msg)
        if report is not None:
            report.state, report.message = self.batch.state, msg
        return msg

    def undo_action(self, op: dict[str, Any]) -> tuple[str, str]:
        """What undoing a done op takes: ``move_back``, ``delete`` or ``keep``, and why."""
        mode, src, dst = self.batch.mode, op["src"], op["dst"]
        if mode in _PATH_MODES:
            return "move_back", ""
        if mode == "symlink":
            if os.path.islink(dst) and os.readlink(dst) == src:
                return "delete", ""
            return "keep", "replaced since the batch; kept"
        if not os.path.lexists(src):
            # The original is gone: the copy (or link) is the only one left — put it back.
            return "move_back", "the original was gone: put back in its place"
        if mode == "hardlink" and _same_file(src, dst):
            return "delete", ""
        if _digest_or_none(dst) == op["checksum"]:
            return "delete", ""
        return "keep", "modified since it was made; kept"

    def undo_one(self, op: dict[str, Any], report: UndoReport) -> None:
        mode, src, dst = self.batch.mode, op["src"], op["dst"]
        if mode == "sidecar":
            self.undo_sidecar(op, report)
            return
        if not os.path.lexists(dst):
            lost = None
            if mode in _PATH_MODES or not os.path.lexists(src):
                # The library must not go on calling it ok: where it has the file (the
                # new path for a move, the original for a copy), it is now marked missing.
                lost = dst if mode in _PATH_MODES else src
                why = (f"no longer at {_show(dst)} (moved or deleted since relabel batch "
                       f"{self.batch.id}); nothing to put back")
                report.missing.append((dst, why))
            else:
                why = "already removed"
            self.set_op(op, state="undone", message=why, lost=lost)
            return
        action, why = self.undo_action(op)
        if action == "keep":
            report.kept.append((dst, why))
            self.set_op(op, state="undone", message=why)
            return
        tmp = None
        try:
            if action == "delete":
                self.set_op(op, state="started", message=json.dumps({"undo": "delete"}))
                os.unlink(dst)
                self.set_op(op, state="undone", message=None)
                report.removed += 1
                return
            st = os.stat(dst)
            digest = _digest_or_none(dst)
            target = self.free_name(src, op["sample_id"], label="restored")
            tmp = _tmp_for(target, self.batch.id, op["seq"], "-undo")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self.set_op(op, state="started",
                        message=json.dumps({"undo": "move_back", "to": target}))
            try:
                _move(dst, target, tmp, digest)
            except _Changed:
                # Changed while being copied back: copy what is there now.
                _move(dst, target, tmp, None)
        except OSError as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    _remove(tmp)
            msg = _problem(exc, "put back", dst, src)
            self.set_op(op, state="done", message=msg)
            if exc.errno in _STOP_ERRNOS:
                raise _Stop(msg) from None
            report.failed.append((dst, msg))
            return
        notes = [why] if why else []
        if mode in _PATH_MODES and digest is not None and digest != op["checksum"]:
            report.modified.append(target)
            notes.append("modified since the batch: moved back as it is now")
        if target != src:
            report.restored_as.append((src, target))
            notes.append(f"{_show(os.path.basename(src))} was taken: restored as "
                         f"{_show(os.path.basename(target))}")
        old = dst if mode in _PATH_MODES else src
        self.set_op(op, state="undone", message="; ".join(notes) or None, move=(old, target),
                    before=(st.st_size, st.st_mtime_ns))
        report.restored += 1

    def undo_sidecar(self, op: dict[str, Any], report: UndoReport) -> None:
        csv_path = op["dst"]
        wanted = ((csv_path, op["checksum"]),
                  (_json_twin(csv_path), self.batch.options["sidecar"]["json_sha256"]))
        self.set_op(op, state="started", message=json.dumps({"undo": "delete"}))
        for path, digest in wanted:
            if not os.path.lexists(path):
                continue
            if _digest_or_none(path) != digest:
                report.kept.append((path, "changed since it was written; kept"))
                continue
            try:
                os.unlink(path)
            except OSError as exc:
                msg = _problem(exc, "removed", path, path)
                report.failed.append((path, msg))
                self.set_op(op, state="done", message=msg)
                return
            report.removed += 1
        self.set_op(op, state="undone", message=None)

    # recovery --------------------------------------------------------------------------

    def recover(self) -> str:
        """Settle a batch a dead process left ``applying`` or ``undoing``."""
        was = self.batch.state
        with self.lib.reading() as conn:
            started = _ops(conn, self.batch.id, ("started",))
        for op in started:
            if was == "applying":
                self.resolve_apply(op)
            else:
                self.resolve_undo(op)
            for tmp in self.tmp_paths(op):
                with contextlib.suppress(OSError):
                    _remove(tmp)
        if was == "undoing":
            msg = self.finish_undo()
            return (f"relabel batch {self.batch.id} was interrupted while being undone: "
                    f"{'it is now undone' if self.batch.state == 'undone' else msg}")
        with self.lib.reading() as conn:
            ops = _ops(conn, self.batch.id)
        done = sum(op["state"] == "done" for op in ops)
        left = sum(op["state"] == "planned" for op in ops)
        if left:
            msg = (f"interrupted after {done} of {len(ops)} files; resume it (apply it "
                   "again) to finish, or undo it")
            self.set_batch("failed", msg)
        else:
            msg = f"{done} of {len(ops)} files {_VERB[self.batch.mode]}"
            self.set_batch("applied", msg)
        return f"relabel batch {self.batch.id} was interrupted while being applied: {msg}"

    def resolve_apply(self, op: dict[str, Any]) -> None:
        """A ``started`` apply step: done if the disk says so, else back to planned."""
        mode, src, dst = self.batch.mode, op["src"], op["dst"]
        has_src, has_dst = os.path.lexists(src), os.path.lexists(dst)
        done = False
        if mode in _PATH_MODES:
            if has_src and has_dst:
                # Killed between link and unlink, or between placing a verified
                # cross-drive copy and deleting the original: finish the move.
                if _same_file(src, dst) or _digest_or_none(dst) == op["checksum"]:
                    os.unlink(src)
                    done = True
            elif has_dst:
                done = True
            elif not has_src:
                self.set_op(op, state="failed",
                            message=f"the file is gone from {_show(src)} and {_show(dst)}")
                return
        elif mode == "copy":
            done = has_dst and _digest_or_none(dst) == op["checksum"]
        elif mode == "hardlink":
            done = has_dst and _same_file(src, dst)
        elif mode == "symlink":
            done = os.path.islink(dst) and os.readlink(dst) == src
        elif mode == "sidecar":
            json_path = _json_twin(dst)
            digests = (op["checksum"], self.batch.options["sidecar"]["json_sha256"])
            present = [os.path.lexists(p) and _digest_or_none(p) == d
                       for p, d in zip((dst, json_path), digests, strict=True)]
            done = all(present)
            if not done:
                for path, ours in zip((dst, json_path), present, strict=True):
                    if ours:
                        os.unlink(path)
        if done:
            self.set_op(op, state="done", move=(src, dst) if mode in _PATH_MODES else None,
                        before=(op["size"], op["mtime_ns"]))
        else:
            self.set_op(op, state="planned", message=None)

    def resolve_undo(self, op: dict[str, Any]) -> None:
        """A ``started`` undo step: undone if the disk says so, else back to done."""
        mode, src, dst = self.batch.mode, op["src"], op["dst"]
        target = self.undo_target(op)
        if target is None:  # a deletion
            if mode == "sidecar":
                json_path = _json_twin(dst)
                digests = (op["checksum"], self.batch.options["sidecar"]["json_sha256"])
                ours = [os.path.lexists(p) and _digest_or_none(p) == d
                        for p, d in zip((dst, json_path), digests, strict=True)]
                undone = not any(ours)
            else:
                undone = not os.path.lexists(dst)
            self.set_op(op, state="undone" if undone else "done", message=None)
            return
        has_to, has_dst = os.path.lexists(target), os.path.lexists(dst)
        undone = False
        if has_to and has_dst:
            digest = _digest_or_none(dst)
            if _same_file(target, dst) or (digest is not None
                                           and _digest_or_none(target) == digest):
                os.unlink(dst)
                undone = True
        elif has_to or not has_dst:
            undone = True
        if undone:
            old = dst if mode in _PATH_MODES else src
            note = None if has_to else f"no longer at {_show(dst)}; nothing to put back"
            self.set_op(op, state="undone", message=note, move=(old, target) if has_to else None,
                        before=(op["size"], op["mtime_ns"]),
                        lost=None if has_to or os.path.lexists(old) else old)
        else:
            self.set_op(op, state="done", message=None)


def _recover_locked(lib: Library) -> list[str]:
    with lib.reading() as conn:
        ids = [int(i) for (i,) in conn.execute(
            select(relabel_batches.c.id)
            .where(relabel_batches.c.state.in_(("applying", "undoing")))
            .order_by(relabel_batches.c.id))]
    messages = []
    for bid in ids:
        with lib.reading() as conn:
            batch = _load_batch(conn, bid)
        messages.append(_Run(lib, batch).recover())
    return messages


def recover(lib: Library) -> list[str]:
    """Finish or roll back batches a killed process left half applied or half undone.

    Run it at the start of every command. Each op in doubt is settled by looking at the
    disk, so that every file exists exactly once, where the journal says; temporary
    files are removed. Returns one message per batch settled (none in the usual case).
    """
    with lib.reading() as conn:
        pending = conn.execute(select(func.count()).select_from(relabel_batches).where(
            relabel_batches.c.state.in_(("applying", "undoing")))).scalar_one()
    if not pending:
        return []
    try:
        with _exclusive(lib, "recover"):
            return _recover_locked(lib)
    except JobBusy as busy:
        if busy.kind in ("relabel", "undo", "recover"):
            return [f"{pending} relabel batch(es) are being carried out by another process; "
                    "left alone"]
        return [f"{pending} interrupted relabel batch(es) left alone for now ({busy})"]


def apply_batch(lib: Library, batch_id: int, *, progress: ProgressCallback = no_progress,
                cancel: CancelToken | None = None) -> ApplyReport:
    """Carry out a planned batch (or finish a ``failed`` / ``cancelled`` one).

    Each file is re-checked first: one changed since the plan is skipped. A failure
    every later file would share (disk full, read-only drive, no permission) stops the
    batch in state ``failed``; a cancel stops it between files in state ``cancelled``.
    Either way what was done stays undoable.
    """
    with _exclusive(lib):
        recovered = _recover_locked(lib)
        with lib.reading() as conn:
            batch = _load_batch(conn, batch_id)
        if batch.state not in ("planned", "failed", "cancelled"):
            raise RelabelError(f"relabel batch {batch_id} is {batch.state}; only a planned "
                               "(or failed, or cancelled) batch can be applied")
        make_backup(lib, "relabel")
        report = ApplyReport(batch_id, recovered=recovered)
        _Run(lib, batch).apply(report, progress, cancel or CancelToken())
        return report


def undo_batch(lib: Library, batch_id: int, *, progress: ProgressCallback = no_progress,
               cancel: CancelToken | None = None) -> UndoReport:
    """Reverse every done step of a batch, last first; lose nothing.

    Moved and renamed files go back (as ``name (restored).ext`` if their old place is
    taken); copies, links and sidecars are deleted only while unchanged, else kept and
    reported; files the user moved away or deleted are reported. Library paths follow.
    """
    with _exclusive(lib, "undo"):
        recovered = _recover_locked(lib)
        with lib.reading() as conn:
            batch = _load_batch(conn, batch_id)
        if batch.state == "undone":
            raise RelabelError(f"relabel batch {batch_id} was already undone")
        if batch.state == "planned":
            raise RelabelError(f"relabel batch {batch_id} was never applied: nothing to undo")
        if batch.state not in ("applied", "failed", "cancelled"):
            raise RelabelError(f"relabel batch {batch_id} is {batch.state}; it cannot be undone")
        make_backup(lib, "undo")
        report = UndoReport(batch_id, recovered=recovered)
        _Run(lib, batch).undo(report, progress, cancel or CancelToken())
        return report
