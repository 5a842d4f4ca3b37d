"""The relabel journal: reading batches, and applying, undoing and recovering them step by
step, each step marked ``started`` in the library before the disk is touched and ``done``
after (see :mod:`core.relabel`)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from core.backup import make_backup
from core.errors import LibraryFull, RelabelError
from core.joblock import JobBusy, job_lock
from core.jobs import CancelToken, Progress, ProgressCallback, RateMeter, no_progress
from core.library import Library
from core.paths import display_path as _show
from core.relabel import disksteps as steps
from core.relabel.disksteps import (
    _STOP_ERRNOS,
    _Changed,
    _digest_or_none,
    _problem,
    _remove,
    _same_file,
    _sha256,
    _Stop,
    _tmp_for,
)
from core.relabel.plan import (
    _json_twin,
    _key,
    _render_sidecar,
    _root_of,
    _roots,
    _safe_name,
    _sidecar_pair,
)
from core.relabel.reports import _PATH_MODES, _VERB, ApplyReport, UndoReport
from core.schema import (
    analysis,
    relabel_batches,
    relabel_ops,
    samples,
)
from core.words import plural

# -- the lock --------------------------------------------------------------------------------

@contextlib.contextmanager
def _exclusive(lib: Library, kind: str = "relabel") -> Iterator[None]:
    """Hold the library's job lock (:mod:`core.joblock`; scans take it too) as ``kind``."""
    with job_lock(lib.path, kind):
        yield


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
        # imported here: core.analysis loads numpy, which `status` must not (it imports
        # this module through the library's batch recovery)
        from core.analysis.names import name_facts_differ

        if name_facts_differ(old, new):
            # what the name states (tempo, key, root, loop) changed: the next scan of its
            # folder redoes its analysis, as for a rename a scan finds (kept until then)
            conn.execute(update(analysis).where(analysis.c.sample_id == sample_id)
                         .values(version=0))

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
        report.earlier = already
        self.set_batch("applying", final=False)
        meter = RateMeter()
        done_here = 0
        for i, op in enumerate(todo):
            if cancel.cancelled:
                n = already + done_here
                self.set_batch("cancelled", f"cancelled after {n} of "
                               f"{plural(report.total, 'file')}; {self.finish_hint()}")
                report.state = self.batch.state
                report.message = f"cancelled after {plural(n, 'file')}"
                report.done = done_here
                return
            try:
                outcome, why = (self.apply_sidecar(op, report) if self.batch.mode == "sidecar"
                                else self.apply_one(op, report))
            except _Stop as stop:
                report.failed.append((op["src"], str(stop)))
                report.done = done_here
                msg = (f"{stop}; the batch stopped after {already + done_here} of "
                       f"{plural(report.total, 'file')} — fix this, then "
                       f"{self.finish_hint()}")
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
        parts = [f"{already + done_here} of {plural(report.total, 'file')} "
                 f"{_VERB[self.batch.mode]}"]
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
                steps._move(src, dst, tmp, op["checksum"])
            elif mode == "copy":
                steps._copy(src, tmp)
                if _sha256(tmp) != op["checksum"]:
                    raise _Changed()
                steps._rename(tmp, dst)
            elif mode == "hardlink":
                try:
                    steps._hardlink(src, dst)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    raise RelabelError(
                        f"cannot hard-link {_show(src)} into {_show(os.path.dirname(dst))}: "
                        "a hard link cannot cross drives (file systems); use copy or "
                        "symlink instead") from None
            else:
                steps._symlink(src, dst)
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
            steps._write_new(tmps[0], csv_bytes)
            steps._write_new(tmps[1], json_bytes)
            for tmp, final in zip(tmps, (csv_path, json_path), strict=True):
                steps._rename(tmp, final)
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
                msg = (f"undo cancelled: {plural(left, 'file')} {_are(left)} still relabeled; "
                       "run undo again")
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
            msg = (f"{plural(left, 'file')} could not be put back; fix the problem and run "
                   "undo again" if report is not None else
                   f"{plural(left, 'file')} {_are(left)} still relabeled; run undo again to "
                   "finish")
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
                # (said after the path: "PATH: no longer there", not the path twice)
                why = (f"no longer there (moved or deleted since relabel batch "
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
                steps._move(dst, target, tmp, digest)
            except _Changed:
                # Changed while being copied back: copy what is there now.
                steps._move(dst, target, tmp, None)
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

    def finish_hint(self) -> str:
        """How to finish or reverse a batch that stopped part way: the commands by name (a
        killed quarantine said "apply it again", which made a new batch beside it)."""
        n = self.batch.id
        return (f"resume it to finish (`sampletree relabel --resume {n}`, or Resume in the "
                f"app's relabel history) or undo it (`sampletree undo {n}`, or Undo there)")

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
            msg = f"interrupted after {done} of {plural(len(ops), 'file')}; {self.finish_hint()}"
            self.set_batch("failed", msg)
        else:
            msg = f"{done} of {plural(len(ops), 'file')} {_VERB[self.batch.mode]}"
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


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


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
            return [f"{_batches(pending)} being carried out by another process; left alone"]
        return [f"{_batches(pending, 'interrupted ')} left alone for now ({busy})"]
    except LibraryFull as full:
        # The journal cannot be written: the batch stays in doubt (every file at its old
        # place or its new one) and the next command settles it. Reading goes on; a
        # command that writes meets the full drive itself.
        it = f"{_it(pending)} {_are(pending)}"
        return [f"{_batches(pending, 'interrupted ')} left as {it} for now: the "
                f"disk is full while writing the library {full.path} — free some space and "
                f"the next command settles {_it(pending)} (no file is lost: each is at its "
                "old place or its new one)"]


def _it(n: int) -> str:
    return "it" if n == 1 else "they"


def _batches(n: int, what: str = "") -> str:
    """``1 relabel batch is`` / ``2 interrupted relabel batches are``."""
    return f"{n} {what}relabel batch is" if n == 1 else f"{n} {what}relabel batches are"


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
        run = _Run(lib, batch)
        try:
            run.apply(report, progress, cancel or CancelToken())
        except LibraryFull as full:
            raise LibraryFull(full.path, _when_freed(run.batch)) from None
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
        run = _Run(lib, batch)
        try:
            run.undo(report, progress, cancel or CancelToken())
        except LibraryFull as full:
            raise LibraryFull(full.path, _when_freed(run.batch)) from None
        return report


def _when_freed(batch: _Batch) -> str:
    """What to do once there is space again, for a batch the full library drive stopped
    (its state as far as the journal could record it)."""
    n = batch.id
    if batch.state == "applying":
        return (f"run any sampletree command (or open the app): it settles relabel batch {n} "
                f"(each file is at its old place or its new one); then "
                f"`sampletree relabel --resume {n}` finishes it or `sampletree undo {n}` "
                "undoes it")
    if batch.state == "undoing":
        return (f"run `sampletree undo {n}` again: it settles the files in doubt (each is at "
                "its old place or its new one) and finishes the undo")
    return f"try again (relabel batch {n} had not started: no file was touched)"
