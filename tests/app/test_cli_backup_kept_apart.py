"""The backup ``tree rm`` names stays there: later scans' routine backups (3 kept) never
rotate it out, so ``sampletree restore --from PATH --force`` still finds it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from core import backup
from core.library import Library, SampleRecord
from core.supports import add_supports
from core.trees import add_node, create_tree, list_trees, load_tree
from tests.cli_run import run


def _record(i: int) -> SampleRecord:
    return SampleRecord(path=f"/s/f{i}.wav", root_id=None, size=1, mtime_ns=1, status="ok",
                        starts=np.arange(2) * 0.5, loudness=np.zeros(2))


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    db = tmp_path / "lib.sqlite"
    with Library(db) as library:
        library.write_batch([_record(i) for i in range(4)])
        create_tree(library, "mine")
        add_node(library, "mine", "Drums/Kick")
        add_supports(library, "mine", "Drums/Kick", ["/s/f0.wav", "/s/f1.wav"])
    return db


def _routine_backups(db: Path, n: int, start: int = 100) -> None:
    """``n`` scans' worth of routine backups, the library changing before each."""
    with Library(db) as library:
        for i in range(n):
            library.write_batch([_record(start + i)])
            assert backup.make_backup(library, "scan", force=True) is not None


def test_the_tree_rm_backup_survives_later_scans_and_restores(capsys, lib: Path) -> None:
    rc, out, err = run(capsys, "--library", lib, "tree", "rm", "mine")
    assert rc == 0, err
    named = Path(re.search(r"(/\S+\.sqlite)", out).group(1))  # the path the user was told
    assert named.is_file()

    _routine_backups(lib, backup.KEEP + 2)

    assert named.is_file(), "the backup tree rm named was rotated out by later scans"
    kept = backup.list_backups(lib)
    assert sum(not b.kept_apart for b in kept) == backup.KEEP
    assert [b.path for b in kept if b.kept_apart] == [named]
    rc, out, err = run(capsys, "--library", lib, "backups")
    assert rc == 0 and f"{named}  (kept apart)" in out
    rc, out, _err = run(capsys, "--library", lib, "backups", "--json")
    assert [b["path"] for b in json.loads(out) if b["kept_apart"]] == [str(named)]

    rc, out, err = run(capsys, "--library", lib, "restore", "--from", named, "--force",
                       "--no-rescan")
    assert rc == 0, err
    with Library(lib) as library:
        assert load_tree(library, "mine").find("Drums/Kick") is not None


def test_a_routine_backup_reused_by_tree_rm_is_kept_apart(lib: Path) -> None:
    """Nothing changed since the last scan's backup: ``tree rm`` names that one, and from
    then on it is out of the rotation too."""
    with Library(lib) as library:
        scan_backup = backup.make_backup(library, "scan", force=True)
        named = backup.backup_before(library, "tree-rm")
    assert named is not None and named.is_file()
    if named == scan_backup:  # the usual case: the file did not change in between
        assert backup.list_backups(lib)[0].kept_apart
    _routine_backups(lib, backup.KEEP + 2)
    assert named.is_file()
    with Library(lib) as library:
        assert backup.backup_before(library, "tree-rm") != named  # changed since: a new one


def test_only_the_newest_kept_apart_backups_stay(lib: Path) -> None:
    named = []
    with Library(lib) as library:
        for i in range(backup.KEEP_APART + 2):
            add_node(library, "mine", f"Node{i}")
            named.append(backup.make_backup(library, "tree-rm", force=True, kept_apart=True))
            library.write_batch([_record(200 + i)])
            backup.make_backup(library, "scan", force=True)
    kept = backup.list_backups(lib)
    assert [b.path for b in kept if b.kept_apart] == named[::-1][:backup.KEEP_APART]
    assert sum(not b.kept_apart for b in kept) == backup.KEEP
    assert not named[0].exists() and not named[0].with_suffix(".json").exists()


def test_no_backups_means_none_before_tree_rm(lib: Path, monkeypatch) -> None:
    monkeypatch.setenv("SAMPLETREE_BACKUPS", "0")
    with Library(lib) as library:
        assert backup.backup_before(library, "tree-rm") is None
        assert list_trees(library)
    assert backup.list_backups(lib) == []


def test_leftovers_of_a_killed_backup_are_swept_but_not_one_being_written(lib: Path) -> None:
    """A backup killed midway left a library-sized ``.part`` (or a copy with no note) that
    no rotation ever removed. The next backup removes those over a minute old that no
    process is writing (a writer holds an flock on its file)."""
    import fcntl
    import os

    with Library(lib) as library:
        backup.make_backup(library, "scan", force=True)
    folder = backup.backup_dir(lib)
    part = folder / "20000101-000000-000-scan.sqlite.part"
    orphan = folder / "20000101-000000-001-relabel.sqlite"  # its note never written
    writing = folder / "20000101-000000-002-undo.sqlite.part"
    young = folder / "29990101-000000-000-scan.sqlite.part"
    for p in (part, orphan, writing, young):
        p.write_bytes(b"x" * 4096)
    for p in (part, orphan, writing):
        os.utime(p, (p.stat().st_atime, p.stat().st_mtime - 120))
    fd = os.open(writing, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as make_backup holds the file it writes
    try:
        with Library(lib) as library:
            library.write_batch([_record(300)])
            made = backup.make_backup(library, "scan", force=True)
    finally:
        os.close(fd)
    assert made is not None and made.is_file()
    assert not part.exists() and not orphan.exists()
    assert writing.exists() and young.exists()
    assert all(b.path.with_suffix(".json").is_file() for b in backup.list_backups(lib))
