"""Planning a relabel batch: each file's effective label in a tree, the filters, and where
the file goes (its layout under DEST, or its new name), checked against the disk and
stored in the library; nothing on disk is touched."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, insert, select

from core.errors import Cancelled, RelabelError
from core.jobs import CancelToken, Progress, ProgressCallback, RateMeter, no_progress
from core.library import Library
from core.paths import display_path as _show
from core.paths import under
from core.relabel.disksteps import (
    _digest_or_none,
    _remove,
    _same_file,
    _sha256,
    _sha256_bytes,
)
from core.relabel.layout import DEFAULT_LAYOUT, Layout, parse_layout, safe_segment
from core.relabel.reports import (
    _NAME_MAX,
    _NAME_ROOM,
    _PATH_MODES,
    _TREE_MODES,
    MODES,
    Plan,
    PlannedOp,
)
from core.schema import (
    analysis,
    predictions,
    relabel_batches,
    relabel_ops,
    roots,
    samples,
    supports,
    trees,
)
from core.schema import nodes as tree_nodes

# -- small helpers -------------------------------------------------------------------------


def _key(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _safe_name(name: str) -> str:
    """A node name as a folder name (the tree module already refuses these; rows may not)."""
    name = name.replace("/", "_").replace("\\", "_").replace("\0", "_").strip()
    return "_" if name in ("", ".", "..") else name


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
    # core/analysis (None: not analysed, or nothing to say)
    kind: str | None = None
    bpm: float | None = None
    key: str | None = None
    root_midi: int | None = None
    # the file as the last scan read it (its label is of those bytes)
    size: int | None = None
    mtime_ns: int | None = None
    content_hash: str | None = None


def changed_since_scan(path: str, st: os.stat_result, size: int | None, mtime_ns: int | None,
                       fingerprint: str | None) -> bool:
    """Whether the file at ``path`` (``st``: its stat) is no longer what the last scan read
    (recorded ``size``, ``mtime_ns`` and content fingerprint): replaced by other audio or
    edited, so its label (or duplicate verdict) is of other bytes. Only touched (same
    bytes, new time): not changed."""
    if st.st_size != size:
        return True
    if st.st_mtime_ns == mtime_ns:
        return False
    if fingerprint is None:
        return True
    from core.walk import content_hash  # (here: core.walk imports numpy, which `status`,
    # `ls` and `tree` never need; tests/app/test_cli.py checks they stay light)

    try:
        return content_hash(path, st.st_size) != fingerprint
    except OSError:
        return True


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
               samples.c.format, analysis.c.kind, analysis.c.bpm, analysis.c.key,
               analysis.c.root_midi, samples.c.size, samples.c.mtime_ns,
               samples.c.content_hash, supports.c.node_id.label("support_node"),
               predictions.c.node_id.label("predicted_node"),
               predictions.c.confidence, predictions.c.unknown)
        .select_from(
            samples
            .outerjoin(supports, and_(supports.c.sample_id == samples.c.id,
                                      supports.c.tree_id == tree_id))
            .outerjoin(predictions, and_(predictions.c.sample_id == samples.c.id,
                                         predictions.c.tree_id == tree_id))
            .outerjoin(analysis, analysis.c.sample_id == samples.c.id)))
    out = []
    for r in conn.execute(query):
        node, conf = None, 0.0
        if r.support_node is not None and r.support_node != root:
            node, conf = int(r.support_node), 1.0
        elif r.predicted_node is not None and not r.unknown and r.predicted_node != root:
            node, conf = int(r.predicted_node), float(r.confidence)
        out.append(_Candidate(int(r.id), r.path, r.root_id, r.status, node, conf,
                              r.duration_s, r.sample_rate, r.channels, r.format,
                              r.kind, r.bpm, r.key, r.root_midi, r.size, r.mtime_ns,
                              r.content_hash))
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
        if under(path, rpath) and (best is None or len(rpath) > best[1]):
            best = (rid, len(rpath))
    return best[0] if best else None


# -- planning --------------------------------------------------------------------------------

def folder_writable(folder: str, cache: dict[str, bool]) -> bool:
    """Whether a file can leave or be renamed inside ``folder`` (write and search
    permission on it); ``cache`` keeps the answer per folder for one plan."""
    if folder not in cache:
        cache[folder] = os.access(folder, os.W_OK | os.X_OK)
    return cache[folder]


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
    """Where each file moved by a batch (still done) was before its first such move, with
    the name a later rename batch gave it."""
    out: dict[int, str] = {}
    for sid, src, dst, mode in conn.execute(
            select(relabel_ops.c.sample_id, relabel_ops.c.src, relabel_ops.c.dst,
                   relabel_batches.c.mode)
            .join(relabel_batches, relabel_batches.c.id == relabel_ops.c.batch_id)
            .where(relabel_batches.c.mode.in_(("move", "rename")),
                   relabel_ops.c.state == "done", relabel_ops.c.sample_id.is_not(None))
            .order_by(relabel_batches.c.id, relabel_ops.c.seq)):
        if mode == "move":
            out.setdefault(int(sid), src)
        elif int(sid) in out:  # renamed after its move: the new name is the user's choice
            out[int(sid)] = os.path.join(os.path.dirname(out[int(sid)]), os.path.basename(dst))
    return out


def _source_folder(folder: str, root_list: list[tuple[int, str]]) -> tuple[str, str]:
    """``(root name, relfolder)`` of a file in ``folder``: its scanned folder's name and
    the path inside it (``/``-separated, empty at its top)."""
    root_id = _root_of(folder, root_list)
    root = dict(root_list).get(root_id) if root_id is not None else None
    if root is None:  # not under a scanned folder: its own folder stands for it
        return os.path.basename(folder), ""
    rel = os.path.relpath(folder, root)
    return (os.path.basename(root.rstrip(os.sep)) or root,
            "" if rel == os.curdir else "/".join(rel.split(os.sep)))


def _layout_values(c: _Candidate, label_parts: tuple[str, ...], origin: str,
                   root_list: list[tuple[int, str]],
                   folders: dict[str, tuple[str, str]]) -> tuple[dict[str, str], str]:
    """The fields of :data:`core.relabel.layout.FIELDS` for one file, and its extension
    (with the dot). ``origin`` is where the file was before any move batch (its path if
    never moved): a file sorted once keeps the folder it came from, so the same relabel
    run again finds it already in place. ``folders`` caches :func:`_source_folder`."""
    folder, name = os.path.split(origin)
    stem, ext = os.path.splitext(name)
    if folder not in folders:
        folders[folder] = _source_folder(folder, root_list)
    root_name, relfolder = folders[folder]
    dur = c.duration_s
    values = {
        "label": "/".join(_safe_name(p) for p in label_parts),
        "leaf": label_parts[-1], "root": root_name, "relfolder": relfolder,
        "name": stem, "ext": ext[1:], "confidence": f"{round(c.confidence * 100)}",
        "duration": "" if dur is None else f"{dur:.2f}".rstrip("0").rstrip("."),
        "rate": "" if c.sample_rate is None else str(c.sample_rate),
        "channels": "" if c.channels is None else str(c.channels),
        "format": c.format or "",
        **analysis_fields(c.kind, c.bpm, c.key, c.root_midi),
    }
    return values, ext


def analysis_fields(kind: str | None, bpm: float | None, key: str | None,
                    root_midi: int | None) -> dict[str, str]:
    """``{type}``, ``{bpm}`` and ``{key}`` of a layout (empty when unknown)."""
    from core.analysis.keys import note_name

    tempo = "" if bpm is None else (f"{bpm:.0f}" if abs(bpm - round(bpm)) < 0.05
                                    else f"{bpm:.1f}")
    tone = key or ("" if root_midi is None else note_name(root_midi))
    return {"type": {"loop": "loop", "oneshot": "one-shot"}.get(kind or "", ""),
            "bpm": tempo, "key": tone}


class _RealPaths:
    """A file's real path (links resolved), each folder resolved once: one lstat a file
    (``os.path.realpath`` per file cost 14 µs, +14 % on a 10,000-file plan)."""

    def __init__(self) -> None:
        self._dirs: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        folder, name = os.path.split(path)
        real_dir = self._dirs.get(folder)
        if real_dir is None:
            real_dir = self._dirs[folder] = os.path.realpath(folder)
        joined = os.path.join(real_dir, name)
        return os.path.realpath(joined) if os.path.islink(joined) else joined


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
    under DEST (:mod:`core.relabel.layout`; default :data:`DEFAULT_LAYOUT`), for move,
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
        if folder_list and not any(under(c.path, f) for f in folder_list):
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
            if under(real_dest, os.path.realpath(s)):
                raise RelabelError(
                    f"the destination {_show(dest_abs)} is inside {_show(s)}, a folder being "
                    "relabeled: the relabeled files would be scanned into the library again. "
                    "Choose a destination outside it")
    if dest_abs is not None:
        _check_writable(dest_abs)

    ops: list[PlannedOp] = []
    op_files: list[tuple[int, int, str]] = []  # size, mtime_ns, sha256 of each op's source
    bases: dict[str, str] = {}  # seq → the target before " (2)" was added, where it was
    source_folders: dict[str, tuple[str, str]] = {}
    rows: list[list[Any]] = []
    taken: set[str] = set()
    folder_ok: dict[str, bool] = {}
    listings: dict[str, set[str]] = {}
    meter = RateMeter()
    chosen_paths = {c.path for c in chosen}
    real_of = _RealPaths()
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
        if mode != "sidecar" and (real := real_of(c.path)) != c.path and real in chosen_paths:
            # a symbolic link to a file this batch sorts by its own path (or a file an
            # older library holds twice through a folder link): moved, it would dangle
            # once its file moves; copied, the file would be copied twice
            skipped["same_file"] += 1
            continue
        if mode in _PATH_MODES and not folder_writable(folder, folder_ok):
            skipped["not_writable"] += 1
            continue
        try:
            st = os.stat(c.path)
            # Replaced or edited since the scan: its label is of other audio (trust review)
            changed = changed_since_scan(c.path, st, c.size, c.mtime_ns, c.content_hash)
            digest = _sha256(c.path) if mode != "sidecar" and not changed else ""
        except FileNotFoundError:
            skipped["missing"] += 1
            continue
        except OSError:
            skipped["unreadable"] += 1
            continue
        if changed:
            skipped["changed"] += 1
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
                                         root_list, source_folders)
            below = shape.render(values, ext) or [safe_segment(name)]
            if any(len(os.fsencode(part)) > _NAME_MAX for part in below):
                skipped["name_too_long"] += 1
                continue
            target = os.path.join(dest_abs, *below)
            if not under(os.path.normpath(target), dest_abs):  # safe names never do this
                raise RelabelError(f'the layout "{shape.text}" puts {_show(name)} outside '
                                   f"the destination")
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
            while under(d, dest_abs) or under(dest_abs, d):
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
