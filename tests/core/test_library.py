"""The SQLite library: schema, migrations, refusal of foreign files, locks, a full disk."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, insert

import core.library
from core import schema
from core.errors import LibraryError
from core.library import Library, SampleRecord
from core.scanner import ScanOptions, scan
from core.schema import SCHEMA_VERSION

DIM = 128


def raw(path: Path) -> sqlite3.Connection:
    """An independent connection: what is really in the file, not what Library says."""
    return sqlite3.connect(str(path), timeout=10)


def integrity_ok(path: Path) -> bool:
    with raw(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def window_counts(path: Path) -> tuple[int, int]:
    with raw(path) as conn:
        return (conn.execute("SELECT count(*) FROM samples").fetchone()[0],
                conn.execute("SELECT count(*) FROM windows").fetchone()[0])


def assert_consistent(path: Path) -> None:
    """Every ok sample has exactly n_windows windows; other samples have none."""
    assert integrity_ok(path)
    with raw(path) as conn:
        rows = conn.execute(
            "SELECT s.path, s.status, s.n_windows, count(w.idx) FROM samples s "
            "LEFT JOIN windows w ON w.sample_id = s.id GROUP BY s.id").fetchall()
        orphans = conn.execute(
            "SELECT count(*) FROM windows WHERE sample_id NOT IN (SELECT id FROM samples)"
        ).fetchone()[0]
    assert orphans == 0
    for path_, status, n_windows, n_rows in rows:
        assert n_rows == n_windows, path_
        if status == "ok":
            assert n_windows >= 1, path_
        elif status == "error":
            assert n_windows == 0, path_


def record(path: str, n: int = 3, *, seed: int = 0, embedded: bool = True,
           model_id: int | None = None) -> SampleRecord:
    rng = np.random.default_rng(seed)
    return SampleRecord(
        path=path, root_id=None, size=1000 + n, mtime_ns=123, status="ok",
        content_hash=f"hash-{seed}", duration_s=n * 0.5, sample_rate=44_100, channels=1,
        format="WAV", subtype="PCM_16",
        starts=np.arange(n, dtype=np.float32) * 0.5,
        loudness=np.full(n, -20.0, np.float32),
        embeddings=rng.standard_normal((n, DIM)).astype(np.float32) if embedded else None,
        model_id=model_id if embedded else None,
    )


def add_model(library: Library, name: str = "m") -> int:
    return library.ensure_model(f"{name}-1-abc", name=name, version="1", sha256="abc" * 20,
                                dim=DIM, trained=False, features={"sample_rate": 16000})


# -- a new library --------------------------------------------------------------------

def test_new_library_is_current_wal_with_foreign_keys(library: Library,
                                                      library_path: Path) -> None:
    assert library.schema_version == SCHEMA_VERSION
    assert library.conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    assert library.conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    library.conn.commit()
    with raw(library_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # WAL is a property of the file, not only of Library's connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"roots", "models", "samples", "windows", "scans"} <= tables


def test_many_new_libraries_in_one_process(tmp_path: Path) -> None:
    """Creating a library must not change the shared table definitions the next one uses."""
    for i in range(3):
        with Library(tmp_path / f"lib{i}.sqlite") as lib:
            assert lib.schema_version == SCHEMA_VERSION
        with raw(tmp_path / f"lib{i}.sqlite") as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master "
                                                "WHERE type = 'index'")}
        assert {"ix_samples_size_hash", "ix_samples_status"} <= names
    assert not schema.samples.indexes


def test_windows_cascade_delete_with_their_sample(library: Library,
                                                  library_path: Path) -> None:
    key = add_model(library)
    library.write_batch([record("/s/a.wav", 3, model_id=key),
                         record("/s/b.wav", 2, seed=1, model_id=key)])
    assert window_counts(library_path) == (2, 5)
    with library.transaction() as conn:
        conn.execute(schema.samples.delete().where(schema.samples.c.path == "/s/a.wav"))
    assert window_counts(library_path) == (1, 2)
    with raw(library_path) as conn:
        left = conn.execute("SELECT DISTINCT s.path FROM windows w "
                            "JOIN samples s ON s.id = w.sample_id").fetchall()
    assert left == [("/s/b.wav",)]


def test_write_batch_round_trips_embeddings_as_float16(library: Library) -> None:
    key = add_model(library)
    rec = record("/s/a.wav", 4, seed=3, model_id=key)
    library.write_batch([rec, record("/s/raw.wav", 2, embedded=False)])
    ids, idx, mat, loud = library.window_embeddings(key)
    assert mat.shape == (4, DIM) and mat.dtype == np.float32
    np.testing.assert_array_equal(loud, np.asarray(rec.loudness, np.float32))
    assert idx.tolist() == [0, 1, 2, 3] and len(set(ids.tolist())) == 1
    np.testing.assert_array_equal(mat, rec.embeddings.astype(np.float16).astype(np.float32))
    rows = {r["path"]: r for r in library.list_samples()}
    assert rows["/s/a.wav"]["embedded_by"] == "m-1-abc" and rows["/s/a.wav"]["windows"] == 4
    assert rows["/s/raw.wav"]["embedded_by"] is None and rows["/s/raw.wav"]["windows"] == 2


def test_rewriting_a_sample_keeps_its_id_and_replaces_its_windows(
        library: Library, library_path: Path) -> None:
    library.write_batch([record("/s/a.wav", 5)])
    first = library.known_samples()["/s/a.wav"].id
    library.write_batch([record("/s/a.wav", 2, seed=9)])
    assert library.known_samples()["/s/a.wav"].id == first
    assert window_counts(library_path) == (1, 2)
    assert_consistent(library_path)


def test_failed_transaction_rolls_back_nested_writes(library: Library) -> None:
    library.ensure_root("/kept")
    with pytest.raises(RuntimeError), library.transaction():
        library.ensure_root("/rolled-back")
        library.write_batch([record("/rolled-back/a.wav")])
        raise RuntimeError("boom")
    assert library.roots() == ["/kept"]
    assert library.known_samples() == {}


# -- migrations and files that are not (our) libraries ------------------------------

def make_v1_library(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        schema.MIGRATIONS[0](conn)
        schema.set_version(conn, 1)
        conn.execute(insert(schema.samples).values(
            path="/old/kick.wav", size=10, mtime_ns=5, status="ok", n_windows=0))
    engine.dispose()


def test_older_schema_is_migrated_with_a_backup(library_path: Path) -> None:
    make_v1_library(library_path)
    with raw(library_path) as conn:
        assert "scans" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}

    with Library(library_path) as lib:
        assert lib.schema_version == SCHEMA_VERSION
        assert [r["path"] for r in lib.list_samples()] == ["/old/kick.wav"]
        assert lib.stats()["last_scan"] is None  # the scans table of v2 exists and works
        assert lib.start_scan(3) > 0

    with raw(library_path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"scans", "ix_samples_status", "ix_samples_size_hash"} <= names

    from core.backup import list_backups

    kept = list_backups(library_path)
    assert [b.reason for b in kept] == ["schema1"] and kept[0].check == "ok"
    backup = kept[0].path
    with raw(backup) as conn:  # the backup is the untouched v1 library
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT path FROM samples").fetchall() == [("/old/kick.wav",)]
        assert "scans" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}

    with Library(library_path) as lib:  # opening a current library migrates nothing
        assert lib.schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused_and_left_alone(library_path: Path) -> None:
    Library(library_path).close()
    with raw(library_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LibraryError, match="newer"):
        Library(library_path)
    with raw(library_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert not list(library_path.parent.glob("*.bak"))


def test_text_file_is_refused_and_not_overwritten(library_path: Path) -> None:
    library_path.parent.mkdir(parents=True)
    text = "these are my notes, not a database\n" * 50
    library_path.write_text(text)
    with pytest.raises(LibraryError, match="not a Sampletree library"):
        Library(library_path)
    assert library_path.read_text() == text


def test_foreign_sqlite_database_is_refused(library_path: Path) -> None:
    library_path.parent.mkdir(parents=True)
    with raw(library_path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    with pytest.raises(LibraryError, match="not a Sampletree library"):
        Library(library_path)
    with raw(library_path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("SELECT total FROM invoices").fetchall() == [(9.5,)]
    assert names == {"invoices"}


def test_folder_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="is a folder"):
        Library(tmp_path)
    missing = tmp_path / "nothing" / "library.sqlite"
    with pytest.raises(LibraryError, match="no library at"):
        Library(missing, create=False)
    assert not missing.exists() and not missing.parent.exists()


# -- another process holds the library --------------------------------------------------

HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("INSERT INTO roots (path, added_at) VALUES ('/other', 0)")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    conn.close()
""")


def test_library_locked_by_another_process(monkeypatch: pytest.MonkeyPatch,
                                           library_path: Path) -> None:
    monkeypatch.setattr(core.library, "BUSY_TIMEOUT_S", 0.5)
    with Library(library_path) as lib:
        lib.ensure_root("/before")
    lib = Library(library_path)
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(library_path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(LibraryError, match="in use by another process"):
            lib.ensure_root("/mine")
        with pytest.raises(LibraryError, match="in use by another process"):
            lib.write_batch([record("/mine/a.wav")])
        with Library(library_path) as reader:  # opening an up-to-date library only reads
            assert reader.roots() == ["/before"]
        assert time.monotonic() - t0 < 4.5
        assert lib.roots() == ["/before"]  # reading goes on (WAL)
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=20) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # The same Library object works again once the other process is gone.
    lib.ensure_root("/mine")
    lib.write_batch([record("/mine/a.wav")])
    assert lib.roots() == ["/before", "/mine", "/other"]
    lib.close()
    assert integrity_ok(library_path)
    assert_consistent(library_path)


# -- a full disk ---------------------------------------------------------------------------

def limit_pages(library: Library, extra: int | None) -> None:
    """Simulate a full disk: SQLite fails with SQLITE_FULL past max_page_count."""
    with library.transaction() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        limit = 2**30 if extra is None else pages + extra
        conn.exec_driver_sql(f"PRAGMA max_page_count = {limit}")


def test_disk_full_rolls_back_the_whole_batch(library: Library, library_path: Path) -> None:
    key = add_model(library)
    earlier = [record(f"/s/a{i}.wav", 50, seed=i, model_id=key) for i in range(5)]
    library.write_batch(earlier)
    before = window_counts(library_path)
    assert before == (5, 250)
    with raw(library_path) as conn:
        a0_before = conn.execute("SELECT idx, embedding FROM windows w JOIN samples s "
                                 "ON s.id = w.sample_id WHERE s.path = '/s/a0.wav' "
                                 "ORDER BY idx").fetchall()

    limit_pages(library, 5)
    # The batch rewrites a known file first, then adds many new windows.
    batch = [record("/s/a0.wav", 7, seed=99, model_id=key)]
    batch += [record(f"/s/b{i}.wav", 50, seed=10 + i, model_id=key) for i in range(20)]
    with pytest.raises(LibraryError, match="disk is full"):
        library.write_batch(batch)

    assert window_counts(library_path) == before
    with raw(library_path) as conn:
        assert conn.execute("SELECT count(*) FROM samples WHERE path LIKE '/s/b%'"
                            ).fetchone()[0] == 0
        a0_after = conn.execute("SELECT idx, embedding FROM windows w JOIN samples s "
                                "ON s.id = w.sample_id WHERE s.path = '/s/a0.wav' "
                                "ORDER BY idx").fetchall()
    assert a0_after == a0_before
    assert library.conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    library.conn.commit()
    assert_consistent(library_path)

    # Space is freed: the very same batch goes through (no stale ids from the failure).
    limit_pages(library, None)
    library.write_batch(batch)
    assert window_counts(library_path) == (25, 4 * 50 + 7 + 20 * 50)
    assert_consistent(library_path)


@pytest.mark.slow
def test_disk_full_during_a_scan_then_rescan(library: Library, library_path: Path,
                                             write_audio, untrained_model,
                                             tmp_path: Path) -> None:
    opts = ScanOptions(jobs=0, commit_files=3, batch_windows=8)
    write_audio("first.wav", seconds=1.0, root=tmp_path / "first")
    scan(library, [str(tmp_path / "first")], untrained_model, options=opts)
    for i in range(12):
        write_audio(f"f{i:02}.wav", seconds=3.0, seed=i, freq=200 + 50 * i)
    folder = str(tmp_path / "samples")

    limit_pages(library, 2)
    with pytest.raises(LibraryError, match=r"disk is full.*run the scan again: it goes on"):
        scan(library, [folder], untrained_model, options=opts)
    assert integrity_ok(library_path)
    assert_consistent(library_path)
    committed = [p for p, k in library.known_samples().items()
                 if p.startswith(folder) and k.status == "ok"]
    assert len(committed) < 12
    last = library.stats()["last_scan"]
    assert last["state"] == "failed" and "disk is full" in last["message"]

    limit_pages(library, None)
    report = scan(library, [folder], untrained_model, options=opts)
    assert report.decoded == 12 - len(committed)
    assert report.unchanged == len(committed)
    rows = [r for r in library.list_samples() if r["path"].startswith(folder)]
    assert len(rows) == 12
    assert all(r["status"] == "ok" and r["windows"] == 5 for r in rows)
    assert library.stats()["last_scan"]["state"] == "done"
    assert_consistent(library_path)


# -- paths that are not UTF-8 -----------------------------------------------------------

def test_non_utf8_paths_round_trip(library: Library, library_path: Path) -> None:
    bad = os.fsdecode(b"/x/bad\xff.wav")
    accented = "/x/caf\u00e9 \u00e0 la cr\u00e8me.wav"
    root = os.fsdecode(b"/x/r\xfe\xfd")
    library.ensure_root(root)
    library.write_batch([record(bad, 2), record(accented, 3, seed=1)])
    assert library.roots() == [root]
    known = library.known_samples()
    assert set(known) == {bad, accented}
    assert {r["path"] for r in library.list_samples()} == {bad, accented}
    with raw(library_path) as conn:
        stored = dict(conn.execute("SELECT typeof(path), path FROM samples").fetchall())
    assert stored["blob"] == b"/x/bad\xff.wav"  # the exact bytes of the name
    assert stored["text"] == accented
    # A rewrite finds the row by its path (no duplicate)
    library.write_batch([record(bad, 4, seed=2)])
    assert library.known_samples()[bad].id == known[bad].id
    assert window_counts(library_path) == (2, 7)


def test_a_batchs_new_files_go_in_with_one_insert_and_keep_their_own_rows(
        library: Library, library_path: Path) -> None:
    """The new files of a batch are inserted by one execution of INSERT … RETURNING
    (SQLAlchemy compiles and runs it once for the batch; one ``execute`` a file cost ~0.13
    ms of the scan's CPU a file); each file's windows, analysis and thumbnail still go to
    its own id, new files and rewritten ones mixed in any order."""
    from sqlalchemy import event
    from sqlalchemy.sql.dml import Insert

    from core.schema import samples

    library.write_batch([record("/s/old1.wav", 2, seed=1), record("/s/old2.wav", 3, seed=2)])
    known = library.known_samples()
    recs = []
    for i in range(40):
        path = "/s/old1.wav" if i == 7 else "/s/old2.wav" if i == 23 else f"/s/new{i}.wav"
        r = record(path, 1 + i % 4, seed=100 + i)
        r.analysis = {"kind": "loop", "bpm": 100.0 + i, "version": 1}
        r.peaks = bytes([i]) * 8
        recs.append(r)
    inserts: list[str] = []

    def count(conn: object, clause: object, *args: object) -> None:
        if isinstance(clause, Insert) and clause.table is samples:
            inserts.append(str(clause))

    event.listen(library._engine, "before_execute", count)
    try:
        library.write_batch(recs)
    finally:
        event.remove(library._engine, "before_execute", count)
    assert len(inserts) == 1  # 38 new files, one execution
    now = library.known_samples()
    assert now["/s/old1.wav"].id == known["/s/old1.wav"].id
    assert now["/s/old2.wav"].id == known["/s/old2.wav"].id
    con = sqlite3.connect(library_path)
    try:
        for i, r in enumerate(recs):
            sid = now[r.path].id
            n, = con.execute("SELECT COUNT(*) FROM windows WHERE sample_id = ?", (sid,)).fetchone()
            bpm, = con.execute("SELECT bpm FROM analysis WHERE sample_id = ?", (sid,)).fetchone()
            size, = con.execute("SELECT size FROM samples WHERE id = ?", (sid,)).fetchone()
            assert (n, bpm, size) == (1 + i % 4, 100.0 + i, 1000 + 1 + i % 4), r.path
    finally:
        con.close()
    assert_consistent(library_path)
