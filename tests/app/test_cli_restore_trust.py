"""``restore`` and ``tree rm`` on the command line lose nothing without saying so: a
non-library is refused in one line, a sound library is replaced only with --force, and
``tree rm`` backs the library up first and says how to get it back."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from core import backup
from core.library import Library, SampleRecord
from core.supports import add_supports
from core.trees import add_node, create_tree, list_trees, load_tree
from tests.cli_run import run


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    db = tmp_path / "lib.sqlite"
    with Library(db) as library:
        library.write_batch([SampleRecord(path=f"/s/f{i}.wav", root_id=None, size=1,
                                          mtime_ns=1, status="ok", starts=np.arange(2) * 0.5,
                                          loudness=np.zeros(2)) for i in range(4)])
        create_tree(library, "mine")
        add_node(library, "mine", "Drums/Kick")
        add_node(library, "mine", "Keys")
        add_supports(library, "mine", "Drums/Kick", ["/s/f0.wav", "/s/f1.wav"])
    return db


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_restore_from_a_database_that_is_not_a_library(capsys, lib: Path,
                                                       tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    with sqlite3.connect(empty) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    before = _sha(lib)
    rc, out, err = run(capsys, "--library", lib, "restore", "--from", empty, "--force")
    assert rc == 1 and out == ""
    assert err.startswith("sampletree: error: ") and err.count("\n") == 1, err
    assert "not a Sampletree library" in err and "nothing was changed" in err
    assert _sha(lib) == before and not list(tmp_path.glob("lib.sqlite.replaced-*"))
    rc, _out, _err = run(capsys, "--library", lib, "tree", "show", "mine")
    assert rc == 0


def test_tree_rm_backs_up_and_restore_force_brings_it_back(capsys, lib: Path,
                                                           tmp_path: Path) -> None:
    rc, out, err = run(capsys, "--library", lib, "tree", "rm", "mine", "Drums")
    assert rc == 0, err
    assert "deleted 2 nodes and 2 examples" in out
    kept = backup.list_backups(lib)
    assert len(kept) == 1 and kept[0].reason == "tree-rm"
    assert str(kept[0].path) in out and "sampletree restore" in out and "--force" in out
    with sqlite3.connect(kept[0].path) as conn:
        assert conn.execute("SELECT count(*) FROM supports").fetchone()[0] == 2
    conn.close()

    rc, out, err = run(capsys, "--library", lib, "tree", "rm", "mine")
    assert rc == 0 and "sampletree restore" in out
    newest = backup.list_backups(lib)[0].path

    # the library is sound: restore says what it would drop and changes nothing
    before = _sha(lib)
    rc, _out, err = run(capsys, "--library", lib, "restore", "--no-rescan")
    assert rc == 1 and err.count("\n") == 1 and "passes its check" in err, err
    assert "--force" in err and "brings back" in err
    assert _sha(lib) == before
    with Library(lib) as library:
        assert list_trees(library) == []

    rc, out, err = run(capsys, "--library", lib, "restore", "--from", newest, "--force",
                       "--no-rescan")
    assert rc == 0, err
    assert "the replaced file is kept as" in out
    with Library(lib) as library:
        assert load_tree(library, "mine").find("Keys") is not None
        assert load_tree(library, "mine").find("Drums/Kick") is None  # the state before 2nd rm
    rc, out, err = run(capsys, "--library", lib, "restore", "--from", kept[0].path, "--force",
                       "--no-rescan")
    assert rc == 0, err
    with Library(lib) as library:
        assert load_tree(library, "mine").find("Drums/Kick") is not None
        with library.reading() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM supports").scalar_one() == 2


def test_restore_names_what_a_sound_library_would_lose(capsys, lib: Path) -> None:
    with Library(lib) as library:
        backup.make_backup(library, "scan", force=True)
        add_node(library, "mine", "Bass")
        add_supports(library, "mine", "Bass", ["/s/f2.wav"])
    rc, _out, err = run(capsys, "--library", lib, "restore", "--no-rescan")
    assert rc == 1
    assert "1 tree node (mine/Bass)" in err and "1 example (f2.wav in mine/Bass)" in err, err
    rc, _out, err = run(capsys, "--library", lib, "restore", "--no-rescan", "--force")
    assert rc == 0, err


def test_tree_rm_of_an_unknown_node_makes_no_backup(capsys, lib: Path) -> None:
    rc, _out, err = run(capsys, "--library", lib, "tree", "rm", "mine", "Nope")
    assert rc == 1 and err.startswith("sampletree: error: ")
    assert backup.list_backups(lib) == []
