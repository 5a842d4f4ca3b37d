"""Commands given a folder they cannot read, and a folder where a file is expected."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.app.unprivileged import run_unprivileged
from tests.cli_run import run


def roots_of(lib: Path) -> list[str]:
    with closing(sqlite3.connect(lib)) as conn:
        return [p for (p,) in conn.execute("SELECT path FROM roots")]


@pytest.mark.timeout(300)
def test_scan_of_a_folder_that_cannot_be_read_is_an_error_and_adds_no_root(
        capsys, tmp_path: Path, write_audio, weights: Path) -> None:
    write_audio("kick.wav", seconds=0.2, sr=8_000)
    ok = tmp_path / "samples"
    locked = tmp_path / "locked"
    (locked / "sub").mkdir(parents=True)
    write_audio("sub/snare.wav", seconds=0.2, sr=8_000, root=locked)
    lib = tmp_path / "lib.sqlite"
    rc, _out, err = run(capsys, "--library", lib, "scan", ok, "--jobs", "0", "--model",
                        weights, "--quiet")
    assert rc == 0, err
    before = roots_of(lib)
    locked.chmod(0)
    try:
        rc, out, err = run_unprivileged("--library", lib, "scan", locked, "--jobs", "0",
                                        "--model", weights, "--quiet")
    finally:
        locked.chmod(0o755)
    assert rc == 1, (out, err)
    assert err.count("sampletree: error:") == 1 and "cannot be read" in err, err
    assert "Traceback" not in err and "Scanned" not in out + err
    assert roots_of(lib) == before


@pytest.mark.timeout(300)
def test_a_read_only_library_file_is_said_to_be_the_files_doing(tmp_path: Path) -> None:
    """Trust review: a library file made read-only (chmod 444) in a writable folder was
    "open read-only (its drive or folder is read-only)", which sends the user to the
    wrong place. The note names the file's permissions; a read-only folder is named so."""
    from core.library import Library

    lib = tmp_path / "lib" / "library.sqlite"
    Library(lib).close()
    lib.chmod(0o444)
    try:
        rc, out, err = run_unprivileged("--library", lib, "tree", "list")
    finally:
        lib.chmod(0o644)
    assert rc == 0, (out, err)
    assert "the file is read-only (its permissions)" in err, err
    lib.parent.chmod(0o555)
    try:
        rc, out, err = run_unprivileged("--library", lib, "tree", "list")
    finally:
        lib.parent.chmod(0o755)
    assert rc == 0, (out, err)
    assert "its folder is read-only" in err, err
