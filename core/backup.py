"""Backups of the library, its full check, and going back to the last good copy.

A backup is SQLite's online backup of the open library (a consistent snapshot, taken
through our own connection: the library file is never opened a second time, see
core/libfile.py), checked page by page before it is kept. They live beside the library
in ``<library>.backups/``, newest first, :data:`KEEP` of them; each has a JSON note
(why, when, the check's verdict). Scans, relabels, undos and schema migrations take one
first, unless nothing changed since the newest.

A backup taken before an edit that cannot be undone (``tree rm``, the app's Delete;
:func:`backup_before`) is *kept apart*: its note says ``"kept_apart": true``, the routine
rotation neither counts nor removes it, and the newest :data:`KEEP_APART` of them are kept
on their own. The path ``tree rm`` prints therefore survives any number of later scans.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import LibraryError

if TYPE_CHECKING:
    from core.library import Library

#: backups kept per library ($SAMPLETREE_BACKUPS overrides; 0 turns them off)
KEEP = 3
#: backups taken before an edit that cannot be undone (``tree rm``), kept apart from the
#: routine ones: the newest this many of them
KEEP_APART = 5
_SUFFIX = ".sqlite"


def keep_count() -> int:
    """Backups to keep: $SAMPLETREE_BACKUPS when it is a whole number of 0 or more, else
    the default (:func:`keep_problem` says what was wrong with it)."""
    return KEEP if keep_problem() else int(os.environ.get("SAMPLETREE_BACKUPS", KEEP))


def keep_problem() -> str | None:
    """What is wrong with $SAMPLETREE_BACKUPS (it is then ignored), or None."""
    value = os.environ.get("SAMPLETREE_BACKUPS")
    if value is None:
        return None
    try:
        if int(value) >= 0:
            return None
    except ValueError:
        pass
    return (f"SAMPLETREE_BACKUPS={value!r} is not a whole number of 0 or more: it is "
            f"ignored and {KEEP} backups are kept (0 turns them off)")


def backup_dir(library: str | Path) -> Path:
    library = Path(library)
    return library.with_name(library.name + ".backups")


@dataclass(frozen=True)
class Backup:
    path: Path
    reason: str
    made_at: float
    check: str
    #: taken before an edit that cannot be undone: out of the routine rotation
    kept_apart: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "reason": self.reason, "made_at": self.made_at,
                "check": self.check, "bytes": self.path.stat().st_size,
                "kept_apart": self.kept_apart}


def list_backups(library: str | Path) -> list[Backup]:
    """The kept backups, newest first (those whose note is missing are left out)."""
    out = []
    folder = backup_dir(library)
    if not folder.is_dir():
        return []
    for note in folder.glob("*.json"):
        data_file = note.with_suffix(_SUFFIX)
        try:
            meta = json.loads(note.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if data_file.is_file():
            out.append(Backup(data_file, str(meta.get("reason", "")),
                              float(meta.get("made_at", 0.0)), str(meta.get("check", "")),
                              bool(meta.get("kept_apart", False))))
    return sorted(out, key=lambda b: b.made_at, reverse=True)


def _changed_since(library: Path, when: float) -> bool:
    for p in (library, library.with_name(library.name + "-wal")):
        try:
            if p.stat().st_mtime > when:
                return True
        except FileNotFoundError:
            pass
    return False


def integrity_problems(conn: sqlite3.Connection, *, limit: int = 20) -> list[str]:
    """SQLite's full integrity check plus foreign keys: [] when the file is sound."""
    try:
        found = [str(r[0]) for r in conn.execute(f"PRAGMA integrity_check({int(limit)})")]
        problems = [] if found == ["ok"] else found
        for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check"):
            problems.append(f"{table} row {rowid} points to a missing {parent} row")
            if len(problems) >= limit:
                break
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return problems


def make_backup(lib: Library, reason: str, *, force: bool = False,
                kept_apart: bool = False) -> Path | None:
    """Back the library up before ``reason`` (a word: scan, relabel, undo, schema2…).

    Skipped (None) when backups are off, or the newest one is younger than the library's
    last change and ``force`` is not set. Raises :class:`LibraryError` when the copy
    fails its check: the library itself is damaged then, and it is marked so.
    ``kept_apart``: out of the routine rotation (see the module's notes).
    """
    keep = keep_count()
    if keep == 0 and not force:
        return None
    kept = list_backups(lib.path)
    if kept and not force and not _changed_since(lib.path, kept[0].made_at):
        return None
    folder = backup_dir(lib.path)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise LibraryError(f"cannot make the backup folder {folder}: "
                           f"{exc.strerror or exc}") from None
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    final = folder / f"{stamp}-{reason}{_SUFFIX}"
    tmp = final.with_name(final.name + ".part")
    _sweep_leftovers(folder)
    held, created = None, False
    try:
        held = _hold(tmp)
        created = True
        with lib.reading() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            dst = sqlite3.connect(tmp)
            try:
                try:
                    raw.backup(dst)  # type: ignore[attr-defined]
                except sqlite3.Error as exc:
                    # The copy's drive is full: the library is fine (it is only read here),
                    # so say so instead of letting it read as a failed write to the library.
                    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                        raise OSError(errno.ENOSPC, "no space left for the copy") from None
                    raise
                problems = integrity_problems(dst)
                # a plain rollback-journal file: the copy took the library's WAL mode, and
                # every later read of it (restore, check) left -wal/-shm files beside it
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        if problems:
            from core.library import mark_damaged

            mark_damaged(lib.path, problems[0])
            raise LibraryError(
                f"the library {lib.path} is damaged ({problems[0]}); it was not backed up "
                "and nothing was written to it. 'sampletree restore' goes back to the last "
                "good backup")
        os.replace(tmp, final)
        final.with_suffix(".json").write_text(json.dumps(
            {"reason": reason, "made_at": now, "check": "ok", "library": str(lib.path),
             "kept_apart": kept_apart}), "utf-8")
    except OSError as exc:
        raise LibraryError(f"cannot back up the library to {folder}: "
                           f"{exc.strerror or exc} (free some space, or set "
                           "SAMPLETREE_BACKUPS=0 to go on without backups)") from None
    finally:
        if created:  # (never another process's: _hold creates it or fails)
            tmp.unlink(missing_ok=True)
        if held is not None:
            os.close(held)
    _rotate(lib.path, keep)
    return final


#: a leftover younger than this is never swept (its writer may have only just created it)
_LEFTOVER_AGE_S = 60.0


def _hold(path: Path) -> int | None:
    """Create ``path`` and hold an ``flock`` on it while the backup is written (until its
    note is): :func:`_sweep_leftovers` leaves a locked file alone. None where there is no
    ``flock`` (Windows)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        os.close(fd)
        return None
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _sweep_leftovers(folder: Path) -> None:
    """Remove what a backup killed midway (``kill -9``, a power cut) left: a ``.part``
    copy, or a copy whose note was never written (both unknown to :func:`list_backups`,
    so never rotated out: a library-sized file for ever). Only files no process holds
    (a backup being written holds its ``flock``) and older than a minute."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    now = time.time()
    try:
        names = [p for p in folder.iterdir() if p.name.endswith((_SUFFIX, _SUFFIX + ".part"))]
    except OSError:
        return
    for p in names:
        if p.name.endswith(_SUFFIX) and p.with_suffix(".json").exists():
            continue  # a backup
        try:
            if now - p.stat().st_mtime < _LEFTOVER_AGE_S:
                continue
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            p.unlink(missing_ok=True)
        except OSError:
            pass  # being written by another process
        finally:
            os.close(fd)


def _rotate(library: str | Path, keep: int) -> None:
    """Remove the routine backups past the newest ``keep`` and the kept-apart ones past
    the newest :data:`KEEP_APART`; each kind is counted on its own."""
    kept = list_backups(library)
    routine = [b for b in kept if not b.kept_apart]
    apart = [b for b in kept if b.kept_apart]
    for old in routine[max(keep, 1):] + apart[KEEP_APART:]:
        old.path.unlink(missing_ok=True)
        old.path.with_suffix(".json").unlink(missing_ok=True)


def _keep_apart(backup: Backup) -> None:
    """Take a routine backup out of the rotation (its note says so from now on)."""
    note = backup.path.with_suffix(".json")
    try:
        meta = json.loads(note.read_text("utf-8"))
        meta["kept_apart"] = True
        tmp = note.with_name(note.name + ".part")
        tmp.write_text(json.dumps(meta), "utf-8")
        os.replace(tmp, note)
    except (OSError, ValueError) as exc:
        raise LibraryError(f"cannot keep the backup {backup.path} apart: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None


def check(library: str | Path) -> list[str]:
    """The full check of a library: [] when sound. Sets or clears its damage mark.

    A library of an older schema (not upgraded yet) is checked as it is: it is not
    damaged for being older. One written by a newer Sampletree raises
    :class:`core.library.NewerLibrary` (this version cannot judge it) and is not marked.
    """
    from core.library import Library, NewerLibrary, clear_damaged, mark_damaged

    path = Path(library)
    if not path.is_file():
        raise LibraryError(f"no library at {path}")
    try:
        with Library(path, create=False, read_only=True, allow_damaged=True,
                     older_schema=True) as lib, lib.reading() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            problems = integrity_problems(raw)  # type: ignore[arg-type]
    except NewerLibrary:
        raise
    except LibraryError as exc:
        # The bare reason of a damage found on opening, not the whole message: marked as
        # the reason, that message came back nested in itself on the next open.
        problems = [getattr(exc, "damage", None) or str(exc)]
    if problems:
        mark_damaged(path, problems[0])
    else:
        clear_damaged(path)
    return problems


class WouldLose(LibraryError):
    """``restore`` refused: the library passes its check, and what differs between it and
    the backup would be lost without ``force`` (:attr:`differences`)."""

    def __init__(self, message: str, differences: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.differences = differences


def backup_before(lib: Library, reason: str) -> Path | None:
    """A backup holding the library as it is now, before an edit that cannot be undone
    (``tree rm``): a new one, or the newest when nothing changed since it, either way
    kept apart from the routine rotation (the path the user is told stays there through
    any number of scans). None when backups are off ($SAMPLETREE_BACKUPS=0)."""
    if keep_count() == 0:
        return None
    made = make_backup(lib, reason, kept_apart=True)
    if made is not None:
        return made
    kept = [b for b in list_backups(lib.path) if b.check == "ok"]
    if not kept:
        return None
    if not kept[0].kept_apart:
        _keep_apart(kept[0])
        _rotate(lib.path, keep_count())
    return kept[0].path


def _node_paths(conn: sqlite3.Connection) -> tuple[dict[int, str], dict[int, str]]:
    """Tree names by id, and each node's ``tree/A/B`` by id (the hidden root: ``tree``)."""
    tree_names = {int(i): str(n) for i, n in conn.execute("SELECT id, name FROM trees")}
    rows = {int(i): (int(t), p, str(n))
            for i, t, p, n in conn.execute("SELECT id, tree_id, parent_id, name FROM nodes")}
    out: dict[int, str] = {}

    def path(nid: int, depth: int = 0) -> str:
        if nid in out:
            return out[nid]
        tree_id, parent, name = rows[nid]
        if parent is None or parent not in rows or depth > 1000:
            got = tree_names.get(tree_id, "?")
        else:
            got = f"{path(int(parent), depth + 1)}/{name}"
        out[nid] = got
        return got

    for nid in rows:
        path(nid)
    return tree_names, out


def _contents(conn: sqlite3.Connection) -> dict[str, dict[Any, str]]:
    """The trees, nodes and examples of a library, each keyed so that two libraries
    compare (a file by its content hash when it has one: a relabel that moved it does not
    make it another file), with the words to show for it."""
    have = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"trees", "nodes", "supports", "samples"} <= have:  # a library before trees
        return {"trees": {}, "nodes": {}, "examples": {}}
    tree_names, node_path = _node_paths(conn)
    trees = {n: n for n in tree_names.values()}
    nodes = {p: p for nid, p in node_path.items() if "/" in p}
    examples: dict[Any, str] = {}
    for node_id, window, path, digest in conn.execute(
            "SELECT s.node_id, s.window_idx, f.path, f.content_hash FROM supports s "
            "JOIN samples f ON f.id = s.sample_id"):
        where = node_path.get(int(node_id), "?")
        name = os.fsdecode(path) if isinstance(path, bytes) else str(path)
        examples[(where, digest or name, window)] = f"{Path(name).name} in {where}"
    return {"trees": trees, "nodes": nodes, "examples": examples}


def differences(current: sqlite3.Connection, backup: sqlite3.Connection) -> dict[str, list[str]]:
    """What the library holds that the backup does not (``lost_*``: a restore drops it)
    and the other way round (``back_*``)."""
    now, then = _contents(current), _contents(backup)
    out: dict[str, list[str]] = {}
    for kind in ("trees", "nodes", "examples"):
        out[f"lost_{kind}"] = sorted(now[kind][k] for k in now[kind].keys() - then[kind].keys())
        out[f"back_{kind}"] = sorted(then[kind][k] for k in then[kind].keys() - now[kind].keys())
    return out


def _few(items: list[str], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def describe_loss(diff: dict[str, list[str]]) -> str:
    """The differences in words, for the refusal and the app's confirmation."""
    from core.words import plural

    parts = []
    for kind, one, many in (("trees", "tree", "trees"), ("nodes", "tree node", "tree nodes"),
                            ("examples", "example", "examples")):
        lost = diff.get(f"lost_{kind}", [])
        if lost:
            parts.append(f"{plural(len(lost), one, many)} ({_few(lost)})")
    back = sum(len(diff.get(f"back_{k}", [])) for k in ("trees", "nodes", "examples"))
    text = ("it would lose what was made since: " + "; ".join(parts) if parts else
            "the library holds no tree, node or example that the backup lacks")
    if back:
        brought = plural(back, "tree, node or example", "trees, nodes or examples")
        text += f"; the backup brings back {brought} that the library no longer has"
    return text


def _library_problems(conn: sqlite3.Connection) -> str | None:
    """Why the SQLite file ``conn`` reads is not a library this version can open, or None."""
    from core import schema

    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        return f"it cannot be read ({exc})"
    if version > schema.SCHEMA_VERSION:
        return (f"it was written by a newer Sampletree (schema {version}, this version reads "
                f"up to {schema.SCHEMA_VERSION})")
    needed = {"samples", "trees", "nodes", "supports"}
    if version == 0 or not needed <= tables:
        return ("it is an SQLite database but not a Sampletree library" if tables else
                "it is an empty SQLite database, not a Sampletree library")
    return None


def restore(library: str | Path, source: str | Path | None = None, *,
            force: bool = False) -> dict[str, Any]:
    """Put the newest good backup (or ``source``) in the library's place.

    The current file (and its log) is kept beside it as ``<name>.replaced-<time>``, never
    deleted. Refused while another process has the library open, when ``source`` is not
    a Sampletree library, and (:class:`WouldLose`) when the library passes its check and
    ``force`` is not set: examples and tree edits since the backup would be dropped.
    """
    from core.library import clear_damaged, damage_marker, libfile

    path = Path(library)
    if source is None:
        good = [b for b in list_backups(path) if b.check == "ok"]
        if not good:
            raise LibraryError(f"no good backup of {path} to restore "
                               f"(looked in {backup_dir(path)})")
        chosen = good[0].path
        made_at = good[0].made_at
    else:
        chosen = Path(source)
        if not chosen.is_file():
            raise LibraryError(f"no backup at {chosen}")
        made_at = chosen.stat().st_mtime
    src = sqlite3.connect(f"file:{chosen}?mode=ro", uri=True)
    try:
        problems = integrity_problems(src)
        if problems:
            raise LibraryError(f"the backup {chosen} is damaged ({problems[0]}); nothing "
                               "was changed (`sampletree backups` lists the others)")
        why = _library_problems(src)
        if why is not None:
            raise LibraryError(f"{chosen} cannot be restored: {why}; nothing was changed")
        _refuse_if_healthy(path, src, chosen, force)
    finally:
        src.close()
    guard = None
    if path.exists():
        guard = libfile.Guard(path, create=False, timeout_s=1.0)
        if not guard.last_here() or not guard.alone():
            guard.release()
            raise LibraryError(f"the library {path} is open in another Sampletree (the app, "
                               "or a command still running): close it there, then restore")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept_aside: list[str] = []
    tmp = path.with_name(path.name + ".restoring")
    try:
        dst = sqlite3.connect(tmp)
        src = sqlite3.connect(f"file:{chosen}?mode=ro", uri=True)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = WAL")
        finally:
            src.close()
            dst.close()
        for suffix in ("", "-wal", "-shm"):
            cur = path.with_name(path.name + suffix)
            if cur.exists():
                aside = path.with_name(f"{path.name}.replaced-{stamp}{suffix}")
                os.replace(cur, aside)
                kept_aside.append(str(aside))
        os.replace(tmp, path)
    except OSError as exc:
        raise LibraryError(f"cannot restore {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
        if guard is not None:
            guard.release()
    clear_damaged(path)
    damage_marker(path).unlink(missing_ok=True)
    return {"library": str(path), "restored_from": str(chosen), "backup_made_at": made_at,
            "kept_aside": kept_aside, "relabels": _carry_relabels(path, kept_aside)}


def _refuse_if_healthy(path: Path, src: sqlite3.Connection, chosen: Path, force: bool) -> None:
    """Raise :class:`WouldLose` when the library passes its check and ``force`` is off.

    A library of an older schema (not upgraded yet: nothing opened it since this version
    was installed) is read as it is, and one written by a newer Sampletree is refused too:
    neither is damaged, and both hold work the backup may lack."""
    from core import schema
    from core.library import Library, NewerLibrary

    if force or not path.is_file():
        return
    try:
        with Library(path, create=False, read_only=True, allow_damaged=True,
                     older_schema=True) as lib, lib.reading() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            if integrity_problems(raw):  # type: ignore[arg-type]
                return
            diff = differences(raw, src)  # type: ignore[arg-type]
    except NewerLibrary as exc:
        raise WouldLose(f"the library {path} was written by a newer Sampletree (schema "
                        f"{exc.version}, this version reads up to {schema.SCHEMA_VERSION}), "
                        f"so it was not replaced by the backup {chosen.name}: it is not "
                        "damaged, and the backup lacks what that version wrote. Restore with "
                        "that version, or `sampletree restore --force` replaces it anyway "
                        "(the replaced file is kept beside it)", {}) from None
    except (LibraryError, sqlite3.DatabaseError):
        return  # a library that cannot be opened or read: damaged, restore as asked
    raise WouldLose(f"the library {path} passes its check, so it was not replaced by the "
                    f"backup {chosen.name}: {describe_loss(diff)}. "
                    "`sampletree restore --force` replaces it anyway (the replaced file is "
                    "kept beside it)", diff)


def _carry_relabels(path: Path, kept_aside: list[str]) -> dict[str, Any]:
    """The relabel batches the replaced library journaled since the backup, carried into
    the restored one with the moves they made (:mod:`core.relabel.carry`): the files they
    moved are known at their new place, not missing."""
    from core.library import Library
    from core.relabel.carry import carry_journal

    replaced = next((p for p in kept_aside if not p.endswith(("-wal", "-shm"))), None)
    if replaced is None:
        return {"batches": [], "followed": 0, "note": None}
    try:
        with Library(path, create=False) as lib:
            got = carry_journal(lib, replaced)
    except Exception as exc:  # the backup is in place all the same: never fail the
        # restore for what could not be carried (a damaged replaced library)
        return {"batches": [], "followed": 0,
                "note": f"the relabels made since the backup could not be kept ({exc})"}
    return {"batches": got.batches, "followed": got.followed, "note": got.note}
