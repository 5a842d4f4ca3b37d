"""The sample library: a thin layer over SQLite through SQLAlchemy.

One :class:`Library` per database file. Writes go through :meth:`Library.transaction`
(nested calls join the outermost one, which alone commits). SQLite's terse failures
are turned into :class:`LibraryError` with a message a user can act on. Rows leave
this module as plain dataclasses or dicts, never as SQLAlchemy objects.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from core import libfile, schema
from core.errors import LibraryError, LibraryFull
from core.paths import display_path
from core.schema import models, roots, samples, scans, supports, windows

if TYPE_CHECKING:  # numpy is imported where it is used: `status` and `ls` do without it
    import numpy as np

BUSY_TIMEOUT_S = 5.0


def _drive_full(path: Path, exc: BaseException) -> bool:
    """An I/O failure of the log's creation on a drive with no space left."""
    msg = str(exc).lower()
    if "disk i/o error" not in msg and "disk is full" not in msg:
        return False
    try:
        st = os.statvfs(path.parent)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def _read_only_why(path: Path) -> str:
    """Why a library that exists cannot be written: its drive, the file, or its folder."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "its drive is read-only"
    except (OSError, AttributeError):  # (no statvfs on Windows)
        pass
    if not os.access(path, os.W_OK):
        return "the file is read-only (its permissions)"
    return "its folder is read-only"


def _writable(path: Path) -> bool:
    """Whether the library and its folder (where the log lives) can be written."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


@dataclass(frozen=True)
class KnownSample:
    """What the scanner needs to know of a sample already in the library."""

    id: int
    path: str
    size: int
    mtime_ns: int
    status: str
    model_id: int | None
    content_hash: str | None
    n_windows: int = 0
    #: the library holds its waveform thumbnail (core.thumbnail)
    has_peaks: bool = False


@dataclass
class SampleRecord:
    """One decoded (or failed) file, ready to be written in a batch."""

    path: str
    root_id: int | None
    size: int
    mtime_ns: int
    status: str
    content_hash: str | None = None
    error: str | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format: str | None = None
    subtype: str | None = None
    starts: np.ndarray | None = None
    loudness: np.ndarray | None = None
    embeddings: np.ndarray | None = None  # (n, dim) float; None = not embedded
    model_id: int | None = None
    sample_id: int | None = None  # set when rewriting a known sample
    #: core.analysis.Analysis.as_row() (None: none made; a rewritten file loses its old one)
    analysis: dict[str, Any] | None = None
    peaks: bytes | None = None  # waveform thumbnail (core.thumbnail); None: none


_DAMAGE_WORDS = ("malformed", "corrupt", "not a database", "file is encrypted")


def _is_damage(exc: BaseException) -> bool:
    msg = str(getattr(exc, "orig", exc) or exc).lower()
    return any(w in msg for w in _DAMAGE_WORDS)


def _friendly(path: Path, exc: BaseException) -> LibraryError:
    msg = str(getattr(exc, "orig", exc) or exc).lower()
    if "not a database" in msg or "file is encrypted" in msg:
        return LibraryError(f"{path} is not a Sampletree library (not an SQLite database)")
    if "locked" in msg or "busy" in msg:
        return LibraryError(
            f"the library {path} is in use by another process; close it there and try again"
        )
    if "disk is full" in msg or "disk full" in msg:
        return LibraryFull(path)
    if "readonly" in msg or "read-only" in msg:
        return LibraryError(f"the library {path} is read-only")
    if "unable to open" in msg:
        return LibraryError(f"cannot open the library {path} (is its folder writable?)")
    if "malformed" in msg or "corrupt" in msg:
        return LibraryError(f"the library {path} is damaged: {msg}")
    return LibraryError(f"library {path}: {msg}")


def damage_marker(path: str | Path) -> Path:
    """The file that says a library failed a check (written beside it, never into it)."""
    path = Path(path)
    return path.with_name(path.name + "-damaged")


def damage_note(path: str | Path) -> str | None:
    """Why the library was found damaged, or None when it was not."""
    try:
        return json.loads(damage_marker(path).read_text("utf-8")).get("reason") or "damaged"
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "damaged"


def mark_damaged(path: str | Path, reason: str) -> None:
    """Remember that the library failed a check: every later open refuses to write it."""
    marker = damage_marker(path)
    try:
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(json.dumps({"reason": reason, "found_at": time.time()}), "utf-8")
        os.replace(tmp, marker)
    except OSError:
        pass  # the refusal below still stands for this process


def clear_damaged(path: str | Path) -> None:
    damage_marker(path).unlink(missing_ok=True)


def _restore_hint(path: Path) -> str:
    from core.backup import list_backups

    if list_backups(path):
        return ("; if it was one, it is damaged: 'sampletree restore' puts back its last good "
                "backup")
    return ""


def _damaged_error(path: Path, reason: str) -> LibraryError:
    reason = " ".join(reason.replace("*** in database main ***", "").split())
    if len(reason) > 160:
        reason = reason[:157] + "…"
    error = LibraryError(
        f"the library {path} is damaged ({reason}); nothing was written to it. "
        "'sampletree check' tells more, 'sampletree restore' goes back to the last good "
        "backup and rescans")
    error.damage = reason  # type: ignore[attr-defined]  # (the bare reason: check's report)
    return error


#: rows per fetch when reading embeddings (keeps each GIL hold short)
_CHUNK_ROWS = 4096

#: tables small enough to check page by page on every open (the big ones, samples and
#: windows, only by their first page there; 'sampletree check' reads everything)
_SMALL_TABLES = ("roots", "models", "scans", "trees", "nodes", "supports", "relabel_batches")


class NewerLibrary(LibraryError):
    """The library was written by a newer Sampletree (schema :attr:`version`)."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


class Library:
    """An open library file. Not thread-safe: one writer thread per library.

    ``read_only`` opens without ever writing (a library on a read-only drive is opened
    so by itself); ``allow_damaged`` lets ``check`` and ``restore`` open a library that
    failed a check (read-only). ``older_schema``: with ``read_only``, a library of an older
    schema is opened as it is, not refused for its upgrade (``restore`` reads what it would
    replace; only the tables and columns that schema has can be queried).
    """

    def __init__(self, path: str | Path, *, create: bool = True, read_only: bool = False,
                 allow_damaged: bool = False, older_schema: bool = False) -> None:
        self.path = Path(path)
        self._older_schema_ok = older_schema and read_only
        if not self.path.exists():
            if not create or read_only:
                raise LibraryError(f"no library at {self.path}; run a scan first")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LibraryError(f"cannot create the library folder: {exc}") from None
        elif self.path.is_dir():
            raise LibraryError(f"{self.path} is a folder, not a library file")
        note = damage_note(self.path)
        if note is not None:
            if not allow_damaged:
                raise _damaged_error(self.path, note)
            read_only = True
        asked_read_only = read_only
        if not read_only and self.path.exists() and not _writable(self.path):
            read_only = True
        self.read_only = read_only
        #: why a library opened read-only though it was not asked to (shown to the user)
        self.read_only_reason = ("it failed a check" if note is not None else
                                 "" if asked_read_only or not read_only else
                                 _read_only_why(self.path))
        self._guard = libfile.Guard(self.path, create=create and not read_only,
                                    timeout_s=BUSY_TIMEOUT_S)
        self._conn: Connection | None = None
        self._depth = 0
        self._writing = True
        self._commits = 0  # write transactions committed through this object
        try:
            header = self._guard.header()
            problem = libfile.check_header(self.path, header, self._guard.size())
            if problem is not None and not header.startswith(libfile.SQLITE_MAGIC):
                raise LibraryError(f"{self.path} is not a Sampletree library (not an SQLite "
                                   "database)" + _restore_hint(self.path))
            if problem is not None:
                self._damaged(problem)
            try:
                self._open(probe=note is None)
            except LibraryError as exc:
                if self.read_only or not _drive_full(self.path, exc):
                    raise
                # The log cannot be created on a full drive: read what is there.
                self.read_only = True
                self.read_only_reason = "its drive is full"
                self._open(probe=False)
        except BaseException:
            self._guard.release()
            raise

    def _open(self, *, probe: bool) -> None:
        self._engine = self._make_engine()
        try:
            self._migrate()
            if probe:
                self._probe()
        except BaseException:
            self._drop_connection()
            self._engine.dispose()
            raise

    # -- connection and transactions -------------------------------------------------

    def _make_engine(self) -> Engine:
        url = f"sqlite:///{self.path}"
        connect_args: dict[str, Any] = {"timeout": BUSY_TIMEOUT_S, "isolation_level": None}
        if self.read_only:
            # An URI: mode=ro never writes; with no log beside it, or an empty one (a copy
            # on a read-only drive, a full drive), immutable=1 also skips the
            # shared-memory file that could not be created there.
            log = self.path.with_name(self.path.name + "-wal")
            try:
                empty_log = log.stat().st_size == 0
            except FileNotFoundError:
                empty_log = True
            extra = "&immutable=1" if empty_log else ""
            url = f"sqlite:///file:{quote(str(self.path))}?mode=ro{extra}&uri=true"
            connect_args["uri"] = True
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        path = self.path

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            # Closing never checkpoints or deletes the log (see core/libfile.py); the
            # last Sampletree process out tidies it in close().
            libfile.keep_wal_on_close(dbapi_conn, path)
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cur.execute("PRAGMA foreign_keys = ON")
            if not self.read_only:
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
            cur.close()

        # The driver's own transaction handling is off (isolation_level=None); SQLAlchemy
        # emits BEGIN itself: IMMEDIATE for writes, so the write lock is taken up front
        # and a busy library fails at once rather than halfway through a batch.
        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if self._writing else "BEGIN")

        return engine

    def _damaged(self, reason: str) -> NoReturn:
        mark_damaged(self.path, reason)
        raise _damaged_error(self.path, reason)

    def _file_state(self) -> dict[str, int] | None:
        """What the library file looks like on disk now, when its log is empty (None
        otherwise: with frames in the log the file alone says nothing)."""
        try:
            st = self.path.stat()
            if self.path.with_name(self.path.name + "-wal").stat().st_size:
                return None
        except FileNotFoundError:
            return None
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}

    def _state_note(self) -> Path:
        from core.backup import backup_dir

        return backup_dir(self.path) / "closed-clean.state"

    def _known_state(self) -> bool:
        """The file is exactly as the last Sampletree that closed it alone left it."""
        state = self._file_state()
        try:
            return state is not None and json.loads(self._state_note().read_text()) == state
        except (OSError, ValueError):
            return False

    def _probe(self) -> None:
        """The check on open. When the file is as the last Sampletree to close it left it,
        a cheap one: the schema and every small table page by page, the first page of the
        big ones. Otherwise (changed behind our back, a crash, another Sampletree still
        writing) SQLite's quick_check of every page (~0.5 s per 100 MB). Raises, and
        marks the library, when it is damaged."""
        full = not self._known_state()
        try:
            with self.reading() as conn:
                if full:
                    bad = [r[0] for r in conn.exec_driver_sql("PRAGMA quick_check(5)")
                           if r[0] != "ok"]
                    if bad:
                        self._damaged(bad[0])
                    return
                tables = {r[0] for r in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                for name in _SMALL_TABLES:
                    if name not in tables:
                        continue
                    bad = [r[0] for r in conn.exec_driver_sql(f"PRAGMA quick_check({name})")
                           if r[0] != "ok"]
                    if bad:
                        self._damaged(bad[0])
                for name in sorted(tables - set(_SMALL_TABLES)):
                    conn.exec_driver_sql(f'SELECT * FROM "{name}" LIMIT 1').all()
        except LibraryError as exc:
            if _is_damage(exc) or "damaged" in str(exc):
                note = damage_note(self.path)
                if note is None:
                    self._damaged(str(exc))
            raise

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            try:
                self._conn = self._engine.connect()
            except (sa_exc.DBAPIError, sqlite3.Error) as exc:
                self._conn = None
                raise self._failure(exc) from None
        return self._conn

    def _failure(self, exc: BaseException) -> LibraryError:
        """The user's message for an SQLite failure; damage is remembered beside the file."""
        if _is_damage(exc):
            reason = str(getattr(exc, "orig", exc) or exc)
            mark_damaged(self.path, reason)
            return _damaged_error(self.path, reason)
        return _friendly(self.path, exc)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """A write transaction; nested calls join the outermost, which alone commits."""
        if write and self.read_only:
            raise LibraryError(f"the library {self.path} is open read-only"
                               + (f" ({self.read_only_reason})" if self.read_only_reason
                                  else "") + ": nothing can be written to it now")
        conn = self.conn
        if self._depth:
            self._depth += 1
            try:
                yield conn
            finally:
                self._depth -= 1
            return
        self._writing = write
        with self._guard.writing() if write else nullcontext():
            try:
                conn.begin()
            except (sa_exc.DBAPIError, sqlite3.Error) as exc:
                raise self._failure(exc) from None
            self._depth = 1
            try:
                yield conn
                conn.commit()
                if write:
                    self._commits += 1
            except (sa_exc.DBAPIError, sqlite3.Error) as exc:
                self._rollback(conn)
                raise self._failure(exc) from None
            except BaseException:
                self._rollback(conn)
                raise
            finally:
                self._depth = 0

    def _rollback(self, conn: Connection) -> None:
        try:
            conn.rollback()
        except (sa_exc.DBAPIError, sqlite3.Error):
            # The connection is unusable (a damaged page, a vanished file): start afresh.
            self._drop_connection()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with suppress(sa_exc.DBAPIError, sqlite3.Error):
                self._conn.close()
            self._conn = None

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only snapshot (joins a write transaction when one is open)."""
        if self._depth:
            yield self.conn
            return
        with self.transaction(write=False) as conn:
            yield conn

    def close(self) -> None:
        if self._guard._entry is None:
            return
        try:
            if not self.read_only and self._guard.last_here() and self._guard.alone():
                # No other Sampletree has the library open: fold the log into the file
                # and empty it (it stays on disk, empty, for readers on read-only drives).
                with suppress(sa_exc.DBAPIError, sqlite3.Error, LibraryError, OSError):
                    raw = self.conn.connection.dbapi_connection
                    if raw is not None:  # outside SQLAlchemy: no transaction around it
                        busy = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                        state = None if busy else self._file_state()
                        if state is not None:  # the next open may trust the file as is
                            note = self._state_note()
                            note.parent.mkdir(exist_ok=True)
                            tmp = note.with_name(note.name + ".tmp")
                            tmp.write_text(json.dumps(state))
                            os.replace(tmp, note)
        finally:
            self._drop_connection()
            self._engine.dispose()
            self._guard.release()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema --------------------------------------------------------------------

    def _check_version(self, conn: Connection) -> int:
        version = schema.get_version(conn)
        if version > schema.SCHEMA_VERSION:
            raise NewerLibrary(
                f"the library {self.path} was written by a newer Sampletree (schema "
                f"{version}, this version reads up to {schema.SCHEMA_VERSION}); "
                "upgrade Sampletree to open it", version)
        if version == 0 and conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        ).scalar_one():
            raise LibraryError(f"{self.path} is an SQLite database but not a Sampletree library")
        return version

    def _migrate(self) -> None:
        # A read first: opening an up-to-date library must not wait for the write lock
        # (another process may be scanning into it).
        with self.reading() as conn:
            version = self._check_version(conn)
        if version == schema.SCHEMA_VERSION:
            return
        if self.read_only and self._older_schema_ok:
            return  # read as it is (restore): never written, so never migrated
        if self.read_only:
            raise LibraryError(f"the library {self.path} needs an upgrade (schema {version} to "
                               f"{schema.SCHEMA_VERSION}) but is open read-only")
        if version > 0:
            # Keep the old library until the migration has committed: a failure leaves a copy.
            from core import backup

            backup.make_backup(self, f"schema{version}", force=True)
        with self.transaction() as conn:
            # Another process may have migrated it while we waited for the lock.
            version = self._check_version(conn)
            for step in range(version, schema.SCHEMA_VERSION):
                schema.MIGRATIONS[step](conn)
            schema.set_version(conn, schema.SCHEMA_VERSION)

    def revision(self) -> tuple[int, int]:
        """Changes whenever anything was committed, here or by another process.

        Cheap (no table is read): SQLite's ``data_version`` covers other connections,
        a counter covers this one. Caches compare it before re-validating themselves.
        """
        with self.reading() as conn:
            version = int(conn.exec_driver_sql("PRAGMA data_version").scalar_one())
        return version, self._commits

    @property
    def schema_version(self) -> int:
        with self.reading() as conn:
            return schema.get_version(conn)

    # -- roots and models ------------------------------------------------------------

    def ensure_root(self, path: str) -> int:
        with self.transaction() as conn:
            row = conn.execute(select(roots.c.id).where(roots.c.path == path)).first()
            if row:
                return int(row[0])
            return int(conn.execute(
                insert(roots).values(path=path, added_at=time.time())
            ).inserted_primary_key[0])

    def roots(self) -> list[str]:
        with self.reading() as conn:
            return [r[0] for r in conn.execute(select(roots.c.path).order_by(roots.c.path))]

    def root_usage(self, path: str) -> tuple[int, int]:
        """(files, examples in any tree) the library holds under the source folder ``path``."""
        with self.reading() as conn:
            rid = conn.execute(select(roots.c.id).where(roots.c.path == path)).scalar()
            if rid is None:
                return 0, 0
            n_files = conn.execute(select(func.count()).select_from(samples)
                                   .where(samples.c.root_id == rid)).scalar_one()
            n_sup = conn.execute(select(func.count()).select_from(
                supports.join(samples, samples.c.id == supports.c.sample_id))
                .where(samples.c.root_id == rid)).scalar_one()
        return int(n_files), int(n_sup)

    def remove_root(self, path: str) -> int:
        """Forget a source folder and the library's records of its files (embeddings,
        labels, examples). The files on disk are not touched. Returns files forgotten."""
        with self.transaction() as conn:
            rid = conn.execute(select(roots.c.id).where(roots.c.path == path)).scalar()
            if rid is None:
                raise LibraryError(f"{display_path(path)} is not a source folder of this library")
            n = conn.execute(delete(samples).where(samples.c.root_id == rid)).rowcount
            conn.execute(delete(roots).where(roots.c.id == rid))
        return int(n or 0)

    def ensure_model(self, model_id: str, *, name: str, version: str, sha256: str, dim: int,
                     trained: bool, features: dict[str, Any]) -> int:
        with self.transaction() as conn:
            row = conn.execute(select(models.c.id).where(models.c.model_id == model_id)).first()
            if row:
                return int(row[0])
            return int(conn.execute(insert(models).values(
                model_id=model_id, name=name, version=version, sha256=sha256, dim=dim,
                trained=trained, features=json.dumps(features, sort_keys=True),
            )).inserted_primary_key[0])

    # -- samples -----------------------------------------------------------------------

    def known_samples(self) -> dict[str, KnownSample]:
        cols = (samples.c.id, samples.c.path, samples.c.size, samples.c.mtime_ns,
                samples.c.status, samples.c.model_id, samples.c.content_hash,
                samples.c.n_windows, schema.peaks.c.sample_id.is_not(None))
        query = select(*cols).select_from(
            samples.outerjoin(schema.peaks, schema.peaks.c.sample_id == samples.c.id))
        with self.reading() as conn:
            return {r[1]: KnownSample(*r) for r in conn.execute(query)}

    def write_batch(self, records: Sequence[SampleRecord]) -> None:
        """Insert or rewrite a batch of files and their windows in one transaction.

        Existing rows are found with one query per batch and all windows go in with one
        ``executemany``: per-file statements cost ~1 ms of CPU a file in a scan.
        """
        import numpy as np

        now = time.time()
        with self.transaction() as conn:
            unknown = [r.path for r in records if r.sample_id is None]
            existing: dict[str, int] = {}
            for a in range(0, len(unknown), 500):
                existing.update((p, int(i)) for i, p in conn.execute(
                    select(samples.c.id, samples.c.path)
                    .where(samples.c.path.in_(unknown[a:a + 500]))))
            window_rows: list[dict[str, Any]] = []
            analysis_rows: list[dict[str, Any]] = []
            rewritten: list[int] = []
            peak_rows: list[tuple[int, bytes]] = []  # waveform thumbnails
            peakless: list[int] = []
            sids: list[int] = []
            new_rows: list[dict[str, Any]] = []  # files new to the library, and where
            new_at: list[int] = []
            for rec in records:
                values = {
                    "root_id": rec.root_id, "path": rec.path, "size": rec.size,
                    "mtime_ns": rec.mtime_ns, "content_hash": rec.content_hash,
                    "duration_s": rec.duration_s, "sample_rate": rec.sample_rate,
                    "channels": rec.channels, "format": rec.format, "subtype": rec.subtype,
                    "status": rec.status, "error": rec.error, "model_id": rec.model_id,
                    "n_windows": 0 if rec.starts is None else len(rec.starts),
                    "scanned_at": now,
                }
                # The id stays local: a batch that is rolled back (disk full) must not leave
                # ids that were never committed in its records, or a retry writes to them.
                sid = rec.sample_id if rec.sample_id is not None else existing.get(rec.path)
                if sid is None:
                    new_at.append(len(sids))
                    new_rows.append(values)
                    sid = -1  # given by the insert below
                else:
                    conn.execute(update(samples).where(samples.c.id == sid).values(**values))
                    rewritten.append(sid)
                sids.append(sid)
            if new_rows:
                # -- the batch's new files in one INSERT … RETURNING, ids in the rows' order
                # (a statement a file cost ~0.13 ms of the scan's CPU a file)
                got = conn.execute(insert(samples).returning(samples.c.id,
                                                             sort_by_parameter_order=True),
                                   new_rows).all()
                for k, (sid,) in zip(new_at, got, strict=True):
                    sids[k] = int(sid)
            for rec, sid in zip(records, sids, strict=True):
                if rec.analysis is not None:
                    analysis_rows.append({**rec.analysis, "sample_id": sid})
                if rec.peaks is not None:
                    peak_rows.append((sid, rec.peaks))
                elif rec.sample_id is not None or rec.path in existing:
                    peakless.append(sid)  # rewritten without one: the old one is stale
                if rec.starts is None or not len(rec.starts):
                    continue
                emb = rec.embeddings
                blobs: list[bytes | None] = (
                    [None] * len(rec.starts) if emb is None
                    else [row.tobytes() for row in np.asarray(emb, dtype=np.float16)]
                )
                model = rec.model_id if emb is not None else None
                loud = rec.loudness
                window_rows.extend(
                    {"sample_id": sid, "idx": i, "start_s": float(rec.starts[i]),
                     "loudness_db": float(loud[i]) if loud is not None else 0.0,
                     "embedding": blobs[i], "model_id": model}
                    for i in range(len(rec.starts)))
            for a in range(0, len(rewritten), 500):
                conn.execute(windows.delete().where(
                    windows.c.sample_id.in_(rewritten[a:a + 500])))
                conn.execute(schema.analysis.delete().where(
                    schema.analysis.c.sample_id.in_(rewritten[a:a + 500])))
            if window_rows:
                conn.execute(insert(windows), window_rows)
            if analysis_rows:
                conn.execute(insert(schema.analysis), analysis_rows)
            from core import thumbnail

            thumbnail.drop_peaks(conn, peakless)
            thumbnail.write_peaks(conn, peak_rows)

    # -- analysis (core/analysis) --------------------------------------------------------

    def analysis_missing(self) -> dict[int, str]:
        """Files (id → path) that are ok but have no analysis of the current version."""
        from core.analysis import ANALYSIS_VERSION

        a = schema.analysis
        query = (select(samples.c.id, samples.c.path)
                 .select_from(samples.outerjoin(a, a.c.sample_id == samples.c.id))
                 .where(samples.c.status == "ok")
                 .where((a.c.sample_id.is_(None)) | (a.c.version < ANALYSIS_VERSION)))
        with self.reading() as conn:
            return {int(i): p for i, p in conn.execute(query)}

    def mark_analysis_stale(self, sample_ids: Sequence[int]) -> None:
        """Have the next scan redo these files' analysis (a renamed file: what its name
        states may have changed); their values stay until then."""
        a = schema.analysis
        with self.transaction() as conn:
            for k in range(0, len(sample_ids), 500):
                conn.execute(update(a).where(a.c.sample_id.in_(sample_ids[k:k + 500]))
                             .values(version=0))

    def write_analysis(self, rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Store (sample id, ``Analysis.as_row()``) pairs, replacing older rows."""
        if not rows:
            return
        a = schema.analysis
        with self.transaction() as conn:
            ids = [sid for sid, _ in rows]
            for k in range(0, len(ids), 500):
                conn.execute(a.delete().where(a.c.sample_id.in_(ids[k:k + 500])))
            present = set()
            for k in range(0, len(ids), 500):
                present.update(int(r[0]) for r in conn.execute(
                    select(samples.c.id).where(samples.c.id.in_(ids[k:k + 500]))))
            values = [{**row, "sample_id": sid} for sid, row in rows if sid in present]
            if values:
                conn.execute(insert(a), values)

    def move_sample(self, sample_id: int, path: str, *, root_id: int | None, size: int,
                    mtime_ns: int, status: str = "ok") -> None:
        """A file was moved or renamed: keep its id, windows, labels; change its path.

        ``status="pending"`` when the file is to be decoded again in this scan."""
        with self.transaction() as conn:
            conn.execute(update(samples).where(samples.c.id == sample_id).values(
                path=path, root_id=root_id, size=size, mtime_ns=mtime_ns, status=status,
                error=None, scanned_at=time.time()))

    def mark_missing(self, sample_ids: Sequence[int]) -> None:
        """Files that are gone stay in the library (with labels) marked missing."""
        if not sample_ids:
            return
        with self.transaction() as conn:
            for chunk in range(0, len(sample_ids), 500):
                conn.execute(update(samples)
                             .where(samples.c.id.in_(sample_ids[chunk:chunk + 500]))
                             .values(status="missing", error="file not found at last scan"))

    # -- scans journal -----------------------------------------------------------------

    def start_scan(self, total: int) -> int:
        with self.transaction() as conn:
            # A scan still "running" in the journal was killed: say so.
            conn.execute(update(scans).where(scans.c.state == "running")
                         .values(state="interrupted"))
            return int(conn.execute(insert(scans).values(
                started_at=time.time(), state="running", files_total=total)
            ).inserted_primary_key[0])

    def update_scan(self, scan_id: int, *, files_done: int, state: str = "running",
                    message: str | None = None, report: dict[str, int] | None = None) -> None:
        """``report``: what the scan found (counts: found, new, changed, unchanged, moved,
        restored, missing, failed), shown by ``status``."""
        values: dict[str, Any] = {"files_done": files_done, "state": state}
        if state != "running":
            values["finished_at"] = time.time()
        if message is not None:
            values["message"] = message
        if report is not None:
            values["report"] = json.dumps(report)
        with self.transaction() as conn:
            conn.execute(update(scans).where(scans.c.id == scan_id).values(**values))

    # -- reading -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self.reading() as conn:
            by_status = dict(conn.execute(
                select(samples.c.status, func.count()).group_by(samples.c.status)).all())
            # Counted from samples.n_windows (every window of a sample is embedded by the
            # sample's model, or none is: write_batch): 30 ms on 100k files, where counting
            # the windows table itself took 180 ms of `sampletree status`.
            # Files marked missing keep their windows (a file that comes back is not read
            # again): counted apart, so the figures describe the files on disk.
            gone = samples.c.status == "missing"
            per_model = conn.execute(select(samples.c.model_id, func.sum(samples.c.n_windows))
                                     .where(~gone).group_by(samples.c.model_id)).all()
            n_missing = int(conn.execute(select(func.coalesce(func.sum(samples.c.n_windows), 0))
                                         .where(gone)).scalar_one())
            names = dict(conn.execute(select(models.c.id, models.c.model_id)).all())
            n_windows = sum(int(n or 0) for _key, n in per_model)
            embedded = {names[key]: int(n) for key, n in per_model
                        if key is not None and n and key in names}
            hours = conn.execute(select(func.coalesce(func.sum(samples.c.duration_s), 0.0))
                                 .where(samples.c.status == "ok")).scalar_one()
            last = conn.execute(select(scans).order_by(scans.c.id.desc()).limit(1)).first()
        # the library and its SQLite companions only (not a copy that `restore` set aside
        # as LIBRARY.replaced-…, nor the job lock)
        size = sum(p.stat().st_size for p in (self.path.with_name(self.path.name + x)
                                               for x in ("", "-wal", "-shm"))
                   if p.is_file())
        return {
            "library": str(self.path),
            "schema_version": schema.SCHEMA_VERSION,
            "roots": self.roots(),
            "files": sum(by_status.values()),
            "by_status": by_status,
            "windows": n_windows,  # of the files not missing
            "missing_windows": n_missing,  # kept for files missing at the last scan
            "embedded_windows": embedded,  # of the files not missing
            "audio_hours": round(float(hours) / 3600, 3),
            "bytes": size,
            "bytes_per_window": (round(size / (n_windows + n_missing), 1)
                                 if n_windows + n_missing else None),  # every window stored
            "last_scan": None if last is None else {
                "state": last.state, "files_done": last.files_done,
                "files_total": last.files_total, "started_at": last.started_at,
                "finished_at": last.finished_at, "message": last.message,
                "report": json.loads(last.report) if last.report else None,
            },
        }

    def list_samples(self, status: str | Sequence[str] | None = None,
                     analysis: Any = None, *, noted: bool = False) -> Iterator[dict[str, Any]]:
        """Every file (or those with ``status``, one or several), by path, with its
        analysis (core/analysis); ``analysis``: a ``core.analysis.query.AnalysisFilter``.
        ``noted``: also the files of any status that a scan noted a problem with (a WAV
        cut short reads, so it is ok, with the note as its ``error``)."""
        from core.analysis.keys import note_name
        from core.analysis.level import bit_depth

        a = schema.analysis
        query = (select(samples.c.path, samples.c.status, samples.c.error, samples.c.duration_s,
                        samples.c.n_windows, samples.c.format, samples.c.sample_rate,
                        samples.c.channels, samples.c.subtype,
                        models.c.model_id.label("model"), a.c.kind, a.c.kind_confidence,
                        a.c.kind_source, a.c.bpm, a.c.bpm_alt, a.c.bpm_source, a.c.bars,
                        a.c.key, a.c.key_source, a.c.root_midi, a.c.root_source, a.c.peak_db,
                        a.c.lufs)
                 .select_from(samples.outerjoin(models, samples.c.model_id == models.c.id)
                              .outerjoin(a, a.c.sample_id == samples.c.id))
                 .order_by(samples.c.path))
        wanted = [status] if isinstance(status, str) else list(status or [])
        if wanted and noted:
            query = query.where(samples.c.status.in_(wanted) | samples.c.error.is_not(None))
        elif wanted:
            query = query.where(samples.c.status.in_(wanted))
        if analysis is not None and analysis.active:
            from core.analysis.query import sql_conditions

            query = query.where(*sql_conditions(analysis, a))
        with self.reading() as conn:
            rows = conn.execute(query).mappings().all()
        for row in rows:
            root = row["root_midi"]
            yield {
                "path": row["path"], "status": row["status"], "error": row["error"],
                "duration_s": None if row["duration_s"] is None else round(row["duration_s"], 3),
                "windows": row["n_windows"], "format": row["format"],
                "sample_rate": row["sample_rate"], "channels": row["channels"],
                "embedded_by": row["model"],
                # core/analysis: each value with where it came from (tag, name, audio)
                "bit_depth": bit_depth(row["subtype"]),
                "type": row["kind"], "type_confidence": row["kind_confidence"],
                "type_source": row["kind_source"],
                "bpm": row["bpm"], "bpm_alt": row["bpm_alt"], "bpm_source": row["bpm_source"],
                "bars": row["bars"],
                "key": row["key"], "key_source": row["key_source"],
                "root_note": None if root is None else note_name(root),
                "root_source": row["root_source"],
                "peak_dbfs": row["peak_db"], "lufs": row["lufs"],
            }

    def paths_of(self, sample_ids: Sequence[int]) -> dict[int, str]:
        """Current path of each sample id (ids not in the library are left out)."""
        out: dict[int, str] = {}
        ids = list(sample_ids)
        with self.reading() as conn:
            for a in range(0, len(ids), 500):
                out.update(conn.execute(select(samples.c.id, samples.c.path)
                                        .where(samples.c.id.in_(ids[a:a + 500]))).all())
        return out

    def window_embeddings(self, model_key: int
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(sample_ids, window indices, float32 matrix, loudness in dB as the scanner
        stored it) of every window a model embedded.

        Read in chunks: ``fetchall`` of 300,000 rows holds the GIL for ~0.4 s, which
        froze the desktop app's UI thread while a background thread loaded the index.
        """
        import numpy as np

        ids_parts: list[np.ndarray] = []
        idx_parts: list[np.ndarray] = []
        mat_parts: list[np.ndarray] = []
        loud_parts: list[np.ndarray] = []
        with self.reading() as conn:
            dim = conn.execute(select(models.c.dim).where(models.c.id == model_key)).scalar_one()
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cur = raw.execute(
                "SELECT sample_id, idx, embedding, loudness_db FROM windows WHERE model_id = ? "
                "AND embedding IS NOT NULL ORDER BY sample_id, idx", (model_key,))
            while rows := cur.fetchmany(_CHUNK_ROWS):
                n = len(rows)
                ids_parts.append(np.fromiter((r[0] for r in rows), np.int64, n))
                idx_parts.append(np.fromiter((r[1] for r in rows), np.int64, n))
                mat_parts.append(np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float16)
                                 .reshape(n, dim).astype(np.float32))
                loud_parts.append(np.fromiter((r[3] for r in rows), np.float32, n))
        if not ids_parts:
            return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, dim), np.float32),
                    np.zeros(0, np.float32))
        return (np.concatenate(ids_parts), np.concatenate(idx_parts), np.concatenate(mat_parts),
                np.concatenate(loud_parts))
