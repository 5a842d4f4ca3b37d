"""The library survives code in the process that opens and closes its file, a second
process beside it, damage, and read-only drives (issue: never lose a library)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import backup
from core.errors import LibraryError
from core.library import Library, SampleRecord, damage_note
from tests.lockprobe import deleted_fds, posix_locks

ROOT = Path(__file__).resolve().parents[2]


def _cli(library: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "app.cli", "--library", str(library), *args],
                         capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def _record(name: str, n: int = 2) -> SampleRecord:
    return SampleRecord(path=f"/s/{name}.wav", root_id=None, size=1, mtime_ns=1, status="ok",
                        starts=np.arange(n) * 0.5, loudness=np.zeros(n))


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


_OTHER_PROCESS_WRITES = (
    "import sys, numpy as np\n"
    "from core.library import Library, SampleRecord\n"
    "lib = Library(sys.argv[1])\n"
    "lib.write_batch([SampleRecord(path=f'/cli/{i}.wav', root_id=None, size=1, mtime_ns=1,"
    " status='ok', starts=np.arange(3) * 0.5, loudness=np.zeros(3)) for i in range(800)])\n"
    "lib.close()\n")


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc")
def test_a_stray_open_and_close_in_the_process_loses_nothing(tmp_path: Path) -> None:
    """What a file dialog did: open and close the library's files in the app's process.
    The process loses SQLite's locks; a CLI beside it then deleted the log under it, and
    the app's close folded its stale log over the CLI's writes: on the code before this
    guard, the 800 files the other process wrote were gone, with integrity_check "ok"."""
    db = tmp_path / "lib.sqlite"
    lib = Library(db)
    lib.write_batch([_record(f"a{i}", 3) for i in range(50)])
    assert posix_locks(db), "an open library holds SQLite's lock"
    for suffix in ("", "-wal", "-shm"):  # the dialog sniffing each file's type
        with open(str(db) + suffix, "rb") as f:
            f.read(64)
    assert not posix_locks(db)  # the kernel did drop them: the hazard is real

    _cli(db, "status")
    assert not deleted_fds(db), "the CLI deleted the log under the open library"
    lib.write_batch([_record(f"b{i}", 3) for i in range(800)])  # the app goes on writing
    out = subprocess.run([sys.executable, "-c", _OTHER_PROCESS_WRITES, str(db)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    lib.write_batch([_record(f"c{i}", 3) for i in range(300)])
    lib.close()
    assert _integrity(db) == "ok"
    with sqlite3.connect(db) as conn:
        counts = dict(conn.execute(
            "SELECT substr(path, 1, 4), count(*) FROM samples GROUP BY 1").fetchall())
    assert counts == {"/s/a": 50, "/s/b": 800, "/s/c": 300, "/cli": 800}


def test_two_processes_never_write_at_once(tmp_path: Path) -> None:
    """The writer lock is ours, not SQLite's: even with SQLite's locks gone, a second
    process waits for (then reports) the first's write transaction."""
    db = tmp_path / "lib.sqlite"
    lib = Library(db)
    with lib.transaction():
        with open(db, "rb"):
            pass  # SQLite's locks of this process are gone now
        code = ("import sys; from core.library import Library, BUSY_TIMEOUT_S\n"
                "import core.library as L; L.BUSY_TIMEOUT_S = 0.3\n"
                "from core.errors import LibraryError\n"
                "try:\n"
                "    lib = Library(sys.argv[1])\n"
                "    lib._guard.timeout_s = 0.3\n"
                "    with lib.transaction(): pass\n"
                "except LibraryError as e: print('busy' if 'in use' in str(e) else e)\n"
                "else: print('wrote')\n")
        out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
        assert out.stdout.strip() == "busy", out.stderr
    lib.close()


def _damage(db: Path, offset: int, size: int = 4096) -> None:
    with open(db, "r+b") as f:
        f.seek(offset)
        f.write(os.urandom(size))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A closed library with a tree, a few hundred files and a backup."""
    db = tmp_path / "lib.sqlite"
    with Library(db) as lib:
        lib.write_batch([_record(f"f{i:04d}", 3) for i in range(600)])
        backup.make_backup(lib, "test", force=True)
        from core.trees import add_node, create_tree

        create_tree(lib, "mine")
        add_node(lib, "mine", "Drums/Kick")
    return db


@pytest.mark.parametrize("offset", [4096, "middle"])
def test_a_damaged_library_is_noticed_and_never_written(filled: Path, offset) -> None:
    page = 4096
    with sqlite3.connect(filled) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    at = page if offset == 4096 else (pages // 2) * page
    _damage(filled, at, page)
    before = _sha(filled)
    for args in (["status"], ["ls"], ["classify", "mine"], ["tree", "list"],
                 ["relabel", "mine", "--mode", "copy", "--dest", str(filled.parent / "o"),
                  "--dry-run"], ["scan", str(filled.parent)]):
        out = _cli(filled, *args, check=False)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        assert out.stderr.count("\n") == 1 and "damaged" in out.stderr, (args, out.stderr)
        assert _sha(filled) == before, f"{args} wrote to the damaged library"
    out = _cli(filled, "check", check=False)
    assert out.returncode == 1 and "DAMAGED" in out.stdout
    assert damage_note(filled)

    out = _cli(filled, "restore", "--no-rescan")
    assert "Restored" in out.stdout
    assert _cli(filled, "check").returncode == 0
    with Library(filled) as lib:
        assert len(lib.known_samples()) == 600
    assert list(filled.parent.glob("lib.sqlite.replaced-*")), "the damaged file is kept"


def test_check_passes_on_a_sound_library_and_clears_a_stale_mark(filled: Path) -> None:
    from core.library import mark_damaged

    mark_damaged(filled, "a scare")
    with pytest.raises(LibraryError, match="damaged"):
        Library(filled)
    out = _cli(filled, "check")
    assert "ok" in out.stdout
    Library(filled).close()


def test_backups_rotate_and_skip_when_nothing_changed(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "lib.sqlite"
    with Library(db) as lib:
        lib.write_batch([_record("a")])
        first = backup.make_backup(lib, "scan")
        assert first is not None
        assert backup.make_backup(lib, "scan") is None  # nothing changed since
        made = [first]
        for i in range(4):
            lib.write_batch([_record(f"b{i}")])
            os.utime(db.with_name(db.name + "-wal"), None)
            made.append(backup.make_backup(lib, "scan", force=True))
    kept = backup.list_backups(db)
    assert len(kept) == backup.KEEP
    assert [b.path for b in kept] == list(reversed(made))[:backup.KEEP]
    with sqlite3.connect(kept[0].path) as conn:
        assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 5


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a read-only bind")
def test_a_library_on_a_read_only_drive_can_be_read(filled: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "--bind", "-o", "ro", str(filled.parent), str(ro)],
                      capture_output=True).returncode:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=False)
        lib_ro = ro / filled.name
        out = _cli(lib_ro, "status")
        assert "Files: 600" in out.stdout
        assert "read-only" in out.stderr
        out = _cli(lib_ro, "ls", check=False)
        assert out.returncode == 0 and out.stdout.count("\n") == 600
        out = _cli(lib_ro, "tree", "create", "other", check=False)
        assert out.returncode == 1 and "read-only" in out.stderr
    finally:
        if subprocess.run(["umount", str(ro)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(ro)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs")
def test_a_library_whose_log_cannot_be_created_on_a_full_drive_is_still_read(
        tmp_path: Path) -> None:
    """Before: every command failed with "disk i/o error"; now reads work, writes say why,
    and with space again everything works."""
    drive = tmp_path / "drive"
    drive.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(drive)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        db = drive / "lib.sqlite"
        with Library(db) as lib:
            lib.write_batch([_record(f"f{i}", 3) for i in range(200)])
        for suffix in ("-wal", "-shm"):  # as an older Sampletree left it
            Path(str(db) + suffix).unlink()
        with open(drive / "fill", "wb", buffering=0) as f, pytest.raises(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        out = _cli(db, "status")
        assert "Files: 200" in out.stdout and "drive is full" in out.stderr
        out = _cli(db, "tree", "create", "x", check=False)
        assert out.returncode == 1 and "drive is full" in out.stderr
        assert "Traceback" not in out.stderr
        (drive / "fill").unlink()
        _cli(db, "tree", "create", "x")
        assert _integrity(db) == "ok"
    finally:
        if subprocess.run(["umount", str(drive)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(drive)], check=False)


def test_damage_deep_in_a_big_table_is_found_when_the_file_changed_behind_our_back(
        filled: Path) -> None:
    """The cheap check reads only the small tables and the first page of the big ones;
    a file that is not as the last Sampletree to close it left it gets SQLite's
    quick_check of every page (the fault suite's garbage mid-file used to go unnoticed
    by status and ls)."""
    with sqlite3.connect(filled) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    _damage(filled, (pages - 2) * page, page)
    before = _sha(filled)
    for args in (["status"], ["ls"]):
        out = _cli(filled, *args, check=False)
        assert out.returncode == 1 and "damaged" in out.stderr, (args, out.stderr)
    assert _sha(filled) == before


def test_a_library_closed_clean_opens_with_the_cheap_check(filled: Path,
                                                         monkeypatch) -> None:
    calls: list[str] = []
    real = Library._probe

    def spy(self: Library) -> None:
        calls.append("full" if not self._known_state() else "cheap")
        real(self)

    monkeypatch.setattr(Library, "_probe", spy)
    Library(filled).close()  # the fixture's last close was alone: state recorded
    assert calls == ["cheap"]
    os.utime(filled, ns=(1, 1))  # changed behind Sampletree's back
    Library(filled).close()
    assert calls == ["cheap", "full"]


def test_a_full_drive_under_the_backups_blames_the_backup_not_the_library(
        tmp_path: Path, monkeypatch) -> None:
    """Trust review: with no room for the backup copy, a scan said "the disk is full while
    writing the library ...; the batch in flight was rolled back", though the library is
    only read for a backup. The message names the backup folder and the way on."""
    db = tmp_path / "lib.sqlite"
    real_connect = sqlite3.connect

    def tiny_copy(path, *args, **kwargs):
        conn = real_connect(path, *args, **kwargs)
        if str(path).endswith(".part"):  # the backup copy: one page, then "disk full"
            conn.execute("PRAGMA max_page_count=1")
        return conn

    with Library(db) as lib:
        lib.write_batch([_record(f"a{i}") for i in range(50)])
        monkeypatch.setattr(backup.sqlite3, "connect", tiny_copy)
        with pytest.raises(LibraryError) as err:
            backup.make_backup(lib, "scan", force=True)
        monkeypatch.undo()
        message = str(err.value)
        assert "cannot back up the library to" in message
        assert "SAMPLETREE_BACKUPS=0" in message
        assert "writing the library" not in message
        assert damage_note(db) is None
    assert backup.list_backups(db) == []
    assert not list(backup.backup_dir(db).glob("*.part"))
    assert _integrity(db) == "ok"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 50


def test_check_of_a_truncated_library_reports_the_reason_once(tmp_path: Path) -> None:
    """Trust review: after `check` on a truncated library, every later message nested the
    whole error in itself ("damaged (the library … is damaged (its size …)…); …"), and
    check's own line told the user to run check."""
    db = tmp_path / "lib.sqlite"
    with Library(db) as lib:
        lib.write_batch([_record(f"a{i}") for i in range(300)])
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2 + 100)
    with pytest.raises(LibraryError) as first:
        Library(db)
    problems = backup.check(db)
    assert len(problems) == 1
    assert "is damaged" not in problems[0] and "sampletree check" not in problems[0]
    assert "whole number" in problems[0]
    with pytest.raises(LibraryError) as again:
        Library(db)
    assert str(again.value).count("is damaged") == 1
    assert str(again.value) == str(first.value)
