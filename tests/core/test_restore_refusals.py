"""``restore`` changes nothing it should not: a file that is not a Sampletree library is
refused before anything moves, and a library that passes its check is replaced only when
forced, after naming what it would lose (found by a data-loss review)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from core import backup, schema
from core.errors import LibraryError
from core.library import Library, SampleRecord
from core.supports import add_supports
from core.trees import add_node, create_tree, load_tree


def _record(name: str) -> SampleRecord:
    return SampleRecord(path=f"/s/{name}.wav", root_id=None, size=1, mtime_ns=1, status="ok",
                        starts=np.arange(2) * 0.5, loudness=np.zeros(2))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A library with a tree and two examples, its backup, then more taught after it."""
    db = tmp_path / "lib.sqlite"
    with Library(db) as lib:
        lib.write_batch([_record(f"f{i}") for i in range(6)])
        create_tree(lib, "mine")
        add_node(lib, "mine", "Drums/Kick")
        add_supports(lib, "mine", "Drums/Kick", ["/s/f0.wav", "/s/f1.wav"])
        assert backup.make_backup(lib, "test", force=True) is not None
        add_node(lib, "mine", "Drums/Snare")
        add_supports(lib, "mine", "Drums/Snare", ["/s/f2.wav", "/s/f3.wav", "/s/f4.wav"])
        create_tree(lib, "other")
    return db


def _nothing_moved(db: Path, before: str) -> None:
    assert _sha(db) == before
    assert not list(db.parent.glob(db.name + ".replaced-*"))
    assert not db.with_name(db.name + ".restoring").exists()


@pytest.mark.parametrize("kind", ["other table", "empty", "newer"])
def test_a_database_that_is_not_a_library_is_refused_and_nothing_moves(
        library: Path, tmp_path: Path, kind: str) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        if kind == "other table":
            conn.execute("CREATE TABLE t (x)")
        elif kind == "empty":
            conn.execute("CREATE TABLE t (x)")
            conn.execute("DROP TABLE t")
        else:
            conn.execute("CREATE TABLE samples (x)")
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    before = _sha(library)
    want = {"other table": "is an SQLite database but not a Sampletree library",
            "empty": "empty SQLite database, not a Sampletree library",
            "newer": "written by a newer Sampletree"}[kind]
    for force in (False, True):
        with pytest.raises(LibraryError, match=want):
            backup.restore(library, other, force=force)
        _nothing_moved(library, before)
    with Library(library) as lib:
        assert load_tree(lib, "mine").find("Drums/Snare") is not None


def test_a_damaged_backup_of_a_sound_library_is_not_called_damaged_too(
        library: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(backup.list_backups(library)[0].path.read_bytes())
    with sqlite3.connect(bad) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(bad, "r+b") as f:
        f.seek(page)
        f.write(os.urandom(page))
    before = _sha(library)
    with pytest.raises(LibraryError) as err:
        backup.restore(library, bad, force=True)
    assert "the backup" in str(err.value) and "is damaged" in str(err.value)
    assert " too " not in str(err.value)
    _nothing_moved(library, before)


def test_a_sound_library_is_replaced_only_when_forced(library: Path) -> None:
    before = _sha(library)
    with pytest.raises(backup.WouldLose) as err:
        backup.restore(library)
    text = str(err.value)
    assert "passes its check" in text and "--force" in text
    assert "3 examples (f2.wav in mine/Drums/Snare" in text, text
    assert "1 tree (other)" in text and "mine/Drums/Snare" in text
    assert err.value.differences["lost_examples"] == [
        f"f{i}.wav in mine/Drums/Snare" for i in (2, 3, 4)]
    assert err.value.differences["lost_trees"] == ["other"]
    assert err.value.differences["lost_nodes"] == ["mine/Drums/Snare"]
    _nothing_moved(library, before)

    done = backup.restore(library, force=True)
    assert done["kept_aside"] and Path(done["kept_aside"][0]).is_file()
    with Library(library) as lib:
        assert load_tree(lib, "mine").find("Drums/Snare") is None
        assert load_tree(lib, "mine").find("Drums/Kick") is not None
    # what was replaced is all there beside it
    with Library(done["kept_aside"][0], create=False, read_only=True) as old:
        assert load_tree(old, "mine").find("Drums/Snare") is not None


def _scramble_a_page(library: Path) -> None:
    """Random bytes over the page in the middle of the file (its -wal and -shm removed)."""
    with sqlite3.connect(library) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    for sfx in ("-wal", "-shm"):
        library.with_name(library.name + sfx).unlink(missing_ok=True)
    with open(library, "r+b") as f:
        f.seek((pages // 2) * page)
        f.write(os.urandom(page))


def test_a_damaged_library_restores_without_force(library: Path) -> None:
    _scramble_a_page(library)
    assert backup.check(library)
    done = backup.restore(library)
    assert done["kept_aside"]
    assert backup.check(library) == []


def _as_older_schema(db: Path) -> None:
    """The library as the release before the newest migration left it (not opened by
    this version since: not upgraded yet)."""
    from tests.old_library import as_before

    as_before(db, schema.MIGRATIONS[-1], *_UNDO_NEWEST)


# What the newest migration added, dropped again (kept beside MIGRATIONS' last entry).
_UNDO_NEWEST = {schema._scan_report: ("ALTER TABLE scans DROP COLUMN report",)}.get(
    schema.MIGRATIONS[-1], ())


def test_a_sound_library_of_an_older_schema_is_not_taken_for_damaged(library: Path) -> None:
    """It was restored over without --force, dropping the work made since the backup."""
    _as_older_schema(library)
    with sqlite3.connect(library) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] < schema.SCHEMA_VERSION
    conn.close()
    before = _sha(library)
    with pytest.raises(backup.WouldLose) as err:
        backup.restore(library)
    assert "passes its check" in str(err.value)
    assert err.value.differences["lost_examples"] == [
        f"f{i}.wav in mine/Drums/Snare" for i in (2, 3, 4)]
    assert err.value.differences["lost_trees"] == ["other"]
    _nothing_moved(library, before)
    # still the older schema: reading it for the refusal did not upgrade it
    with sqlite3.connect(library) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] < schema.SCHEMA_VERSION
    conn.close()
    # opened normally it is upgraded and holds everything
    with Library(library) as lib:
        assert load_tree(lib, "mine").find("Drums/Snare") is not None
    # forced, it is replaced (kept aside) as for any sound library (the upgrade just
    # made a backup of its own: restore the one made before the Snare examples)
    first = min(backup.list_backups(library), key=lambda b: b.made_at).path
    _as_older_schema(library)
    done = backup.restore(library, first, force=True)
    assert done["kept_aside"]
    with Library(library) as lib:
        assert load_tree(lib, "mine").find("Drums/Snare") is None


def test_a_damaged_library_of_an_older_schema_restores_without_force(library: Path) -> None:
    _as_older_schema(library)
    _scramble_a_page(library)
    assert backup.restore(library)["kept_aside"]
    assert backup.check(library) == []


def test_a_library_written_by_a_newer_version_is_not_replaced_without_force(
        library: Path) -> None:
    with sqlite3.connect(library) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    before = _sha(library)
    with pytest.raises(backup.WouldLose, match=r"written by a newer Sampletree .* --force"):
        backup.restore(library)
    _nothing_moved(library, before)
    assert backup.restore(library, force=True)["kept_aside"]
    with Library(library) as lib:
        assert load_tree(lib, "mine").find("Drums/Kick") is not None


def test_check_of_a_sound_library_of_an_older_schema_finds_it_sound(library: Path) -> None:
    """`sampletree check` right after an upgrade of Sampletree called the library DAMAGED
    ("needs an upgrade ... but is open read-only") and marked it, so that every command
    then refused it."""
    from core.library import damage_note

    _as_older_schema(library)
    assert backup.check(library) == []
    assert damage_note(library) is None
    with Library(library) as lib:  # opens (and upgrades) as usual
        assert load_tree(lib, "mine").find("Drums/Snare") is not None


def test_check_of_a_library_written_by_a_newer_version_says_so_and_marks_nothing(
        library: Path) -> None:
    from core.library import damage_note

    with sqlite3.connect(library) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(LibraryError, match="written by a newer Sampletree"):
        backup.check(library)
    assert damage_note(library) is None


def test_reading_a_backup_leaves_nothing_beside_it(library: Path) -> None:
    """Trust review: a backup kept the library's WAL mode, so restore (or check) reading it
    left -wal/-shm files in the backups folder."""
    (b,) = backup.list_backups(library)[:1]
    with sqlite3.connect(b.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    backup.restore(library, b.path, force=True)
    folder = backup.backup_dir(library)
    assert not [p.name for p in folder.iterdir() if p.name.endswith(("-wal", "-shm"))]
