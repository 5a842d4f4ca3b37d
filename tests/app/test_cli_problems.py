"""Issue #10, command-line side: every problem a scan reports can be found again, and a
file name holding a newline stays on one line of human output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import models.loading
from app.cli import main
from tests.cli_run import run


@pytest.fixture(autouse=True)
def no_bundled_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Index and decode only: these tests are about the listing, not the network."""
    monkeypatch.setattr(models.loading, "bundled_weights_path",
                        lambda: tmp_path / "no-such-dir" / "sampletree.pt")


def test_a_newline_in_a_file_name_is_escaped_in_ls_and_exact_in_json(
        capsys, tmp_path: Path, write_audio) -> None:
    folder = tmp_path / "samples"
    odd = write_audio("two\nlines\x1b[31m.wav", seconds=1.0)
    write_audio("plain.wav", seconds=1.0, seed=2)
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0")
    assert rc == 0, err

    rc, out, err = run(capsys, "--library", lib, "ls")
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 2  # one line a file
    (line,) = [ln for ln in lines if "two" in ln]
    assert "two\\nlines\\x1b[31m.wav" in line and "\x1b" not in out

    rc, out, err = run(capsys, "--library", lib, "ls", "--json")
    assert {r["path"] for r in json.loads(out)} == {str(odd), str(folder / "plain.wav")}


def test_odd_names_stay_on_their_line_in_every_commands_output(
        capsys, tmp_path: Path, write_audio, weights: Path) -> None:
    """Found by hand: only `ls` and the scan escaped a name's newline; `similar`,
    `duplicates`, `classify`, `explain`, the relabel preview and the one-line errors
    printed it raw (a record split over two lines, an error of two lines), and every
    command printed a right-to-left override raw, which turns the rest of the line
    (label, confidence) around on screen."""
    folder = tmp_path / "samples"
    odd = write_audio("two\nlines \u202eevil.wav", seconds=1.0, seed=1)
    plain = write_audio("plain.wav", seconds=1.0, seed=1)  # the same audio: exact copies
    write_audio("other.wav", seconds=1.0, seed=5, freq=880.0)
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                       "--model", weights)
    assert rc == 0, err
    escaped = "two\\nlines \\u202eevil.wav"

    def one_line_each(text: str) -> None:
        assert "\u202e" not in text
        for line in text.splitlines():
            assert ("two" in line) == ("lines" in line), text

    rc, out, err = run(capsys, "--library", lib, "similar", plain)
    assert rc == 0 and escaped in err, (out, err)
    one_line_each(out + err)
    rc, out, err = run(capsys, "--library", lib, "duplicates")
    assert rc == 0 and escaped in out, (out, err)
    one_line_each(out + err)
    rc, out, err = run(capsys, "--library", lib, "ls")
    assert rc == 0 and escaped in out, (out, err)
    one_line_each(out + err)
    rc, out, err = run(capsys, "--library", lib, "duplicates", "--json")
    assert rc == 0, err
    paths = {f["path"] for g in json.loads(out)["duplicates"] for f in g["files"]}
    assert paths == {str(odd), str(plain)}  # JSON keeps names exact
    rc, out, err = run(capsys, "--library", lib, "similar", tmp_path / "gone\nfile.wav")
    assert rc == 1 and err.count("\n") == 1 and "gone\\nfile.wav" in err, err


@pytest.mark.timeout(120)  # a FIFO used to hang a --jobs 0 scan for ever
def test_every_problem_of_a_scan_can_be_found_again(capsys, tmp_path: Path,
                                                    write_audio) -> None:
    folder = tmp_path / "samples"
    write_audio("good.wav", seconds=1.0)
    gone = write_audio("to_be_gone.wav", seconds=1.0, seed=3)
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0")
    assert rc == 0, err
    gone.unlink()
    for i in range(22):
        (folder / f"text{i:02}.wav").write_text("not audio\n" * 10)
    os.mkfifo(folder / "fifo.wav")
    os.symlink("self.wav", folder / "self.wav")
    (folder / "kit").mkdir()
    os.symlink("..", folder / "kit" / "up")  # a folder loop: no file, a folder problem

    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0")
    assert rc == 0, err
    # the folder loop is printed whatever the number of file problems, and ls lists it
    assert f"! {folder / 'kit' / 'up'}: symbolic link loop" in out
    assert "`sampletree ls --problems` lists them all" in out
    assert "--status error" not in out

    rc, out, err = run(capsys, "--library", lib, "ls", "--problems", "--json")
    assert rc == 0, err
    listed = {Path(r["path"]).name: r for r in json.loads(out)}
    assert set(listed) == ({f"text{i:02}.wav" for i in range(22)}
                           | {"fifo.wav", "self.wav", "to_be_gone.wav", "up"})
    assert listed["up"]["status"] == "folder" and "loop" in listed["up"]["error"]
    assert listed["to_be_gone.wav"]["status"] == "missing"
    assert "FIFO" in listed["fifo.wav"]["error"]
    assert "loop" in listed["self.wav"]["error"]

    rc, out, err = run(capsys, "--library", lib, "ls", "--problems")
    assert rc == 0 and len(out.splitlines()) == 26 and "good.wav" not in out
    assert "1 folder a scan could not read" in err
    assert "25 files with a problem" in err and "class" not in err  # no label summary

    with pytest.raises(SystemExit) as exited:
        main(["--library", str(lib), "ls", "--problems", "--status", "ok"])
    assert exited.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_files_of_types_not_read_are_counted_and_errors_counted_from_the_library(
        capsys, tmp_path: Path, write_audio) -> None:
    """Issue #15: 128 .pat files were skipped without a word, and a rescan said
    "0 unreadable" while files were still in error."""
    folder = tmp_path / "samples"
    write_audio("kick.wav", seconds=1.0)
    for i in range(3):
        (folder / f"piano{i}.pat").write_bytes(b"GF1PATCH110\x00ID#000002\x00" + bytes(200))
    (folder / "readme.txt").write_text("notes")
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0")
    assert rc == 0, err
    assert "skipped 3 files of types not read (.pat 3); 1 other file (not audio)" in out
    assert "1 unreadable" in out

    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0")
    assert rc == 0, err
    assert "0 unreadable now, 1 in the library" in out

    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0", "--json")
    data = json.loads(out)
    assert sorted(os.path.basename(p) for p in data["skipped"]) == [
        "piano0.pat", "piano1.pat", "piano2.pat"]
    assert data["skipped_other"] == 1 and data["errors_in_library"] == 1


@pytest.mark.parametrize("fmt", ["WAV", "AIFF"])
def test_a_file_cut_short_reads_and_says_so(capsys, tmp_path: Path, write_audio,
                                             fmt: str) -> None:
    """Review of 2026-11-30: a WAV cut to a third of its bytes (an interrupted download)
    scanned as `ok 0.31s` with nothing said."""
    import numpy as np
    import soundfile as sf

    folder = tmp_path / "samples"
    write_audio("whole.wav", seconds=1.0)
    full = folder / f"cut.{fmt.lower()}"
    sf.write(str(full), np.random.default_rng(1).standard_normal(48_000) * 0.1, 16_000,
             format=fmt, subtype="PCM_16")
    data = full.read_bytes()
    full.write_bytes(data[:len(data) // 3])
    lib = tmp_path / "lib.sqlite"
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0")
    assert rc == 0, err
    assert f"! {full}: truncated: its header promises 3.00 s" in out
    rc, out, err = run(capsys, "--library", lib, "ls", "--problems", "--json")
    (row,) = json.loads(out)  # the whole file is no problem
    assert row["status"] == "ok" and row["error"].startswith("truncated:")
    assert row["duration_s"] == pytest.approx(1.0, abs=0.02)
    rc, out, _err = run(capsys, "--library", lib, "ls")
    assert "truncated: its header promises 3.00 s, the file holds 1.00 s" in out


# -- a mistyped --library, a wrong $SAMPLETREE_BACKUPS ------------------------------------

def test_a_library_in_a_folder_that_is_not_there_is_refused(
        capsys, tmp_path: Path, write_audio, monkeypatch: pytest.MonkeyPatch) -> None:
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
    # the app refuses it the same way, before it looks for a display (none here, so a
    # check made after that would fail with "no display" instead of opening a window)
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    rc, _out, err = run(capsys, "--library", typo, "gui")
    assert rc != 0 and "create it first, or check the --library path" in err, err
    assert not (tmp_path / "Muisc").exists()


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
