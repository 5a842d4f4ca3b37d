"""A mistyped --library makes no folders, and a wrong $SAMPLETREE_BACKUPS is said."""

from __future__ import annotations

from pathlib import Path

import pytest

import models.loading
from tests.cli_run import run


@pytest.fixture(autouse=True)
def no_bundled_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(models.loading, "bundled_weights_path",
                        lambda: tmp_path / "no-such-dir" / "sampletree.pt")


def test_a_library_in_a_folder_that_is_not_there_is_refused(
        capsys, tmp_path: Path, write_audio) -> None:
    folder = tmp_path / "samples"
    write_audio("a.wav", seconds=1.0)
    typo = tmp_path / "Muisc" / "Libs" / "lib.sqlite"
    rc, _out, err = run(capsys, "--library", typo, "scan", folder, "--jobs", "0")
    assert rc != 0 and "create it first, or check the --library path" in err, err
    assert not (tmp_path / "Muisc").exists()
    # a new library file in a folder that is there is made as before
    rc, _out, err = run(capsys, "--library", tmp_path / "lib.sqlite", "scan", folder,
                        "--jobs", "0")
    assert rc == 0 and (tmp_path / "lib.sqlite").is_file(), err


@pytest.mark.parametrize("value", ["abc", "-3", "2.5"])
def test_a_wrong_backup_count_is_said_and_the_default_kept(
        capsys, tmp_path: Path, write_audio, monkeypatch: pytest.MonkeyPatch,
        value: str) -> None:
    from core.backup import KEEP, keep_count

    monkeypatch.setenv("SAMPLETREE_BACKUPS", value)
    assert keep_count() == KEEP  # "-3" once turned backups off without a word
    folder = tmp_path / "samples"
    write_audio("a.wav", seconds=1.0)
    rc, _out, err = run(capsys, "--library", tmp_path / "lib.sqlite", "scan", folder,
                        "--jobs", "0")
    assert rc == 0, err
    assert f"note: SAMPLETREE_BACKUPS={value!r} is not a whole number of 0 or more" in err
    monkeypatch.setenv("SAMPLETREE_BACKUPS", "0")
    assert keep_count() == 0
    run(capsys, "--library", tmp_path / "lib.sqlite", "status")
    assert "SAMPLETREE_BACKUPS" not in capsys.readouterr().err
