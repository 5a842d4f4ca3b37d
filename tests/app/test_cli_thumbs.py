"""Waveform thumbnails on the command line: ``ls --peaks``, and a rescan of a library whose
files lack them (made before thumbnails existed) adding them without embedding again."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from app.cli import main
from core import thumbnail
from tests.cli_run import run


@pytest.fixture
def folder(write_audio, tmp_path: Path) -> Path:
    write_audio("kick.wav", seconds=0.5, seed=1)
    write_audio("loops/pad.flac", seconds=2.5, channels=2, seed=2, amp=0.1)
    (tmp_path / "samples" / "broken.wav").write_text("not audio, just text\n" * 10)
    return tmp_path / "samples"



def test_ls_peaks(capsys, tmp_path: Path, folder: Path, trained: Path) -> None:
    lib = tmp_path / "lib.sqlite"
    rc, _out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                        "--model", trained)
    assert rc == 0, err
    rc, out, _ = run(capsys, "--library", lib, "ls", "--json")
    assert rc == 0 and all("peaks" not in r for r in json.loads(out))  # not by default
    rc, out, _ = run(capsys, "--library", lib, "ls", "--json", "--peaks")
    by_name = {Path(r["path"]).name: r for r in json.loads(out)}
    assert by_name["broken.wav"]["peaks"] is None
    kick = bytes.fromhex(by_name["kick.wav"]["peaks"])
    pad = bytes.fromhex(by_name["pad.flac"]["peaks"])
    assert len(kick) == len(pad) == thumbnail.BYTES
    assert max(pad[:thumbnail.COLUMNS]) < min(kick[:thumbnail.COLUMNS])  # pad is quieter
    rc, out, _ = run(capsys, "--library", lib, "ls", "--peaks")
    line = next(x for x in out.splitlines() if x.endswith("kick.wav"))
    assert "█" in line or "▇" in line


def test_rescan_adds_missing_thumbnails_without_embedding(
        capsys, tmp_path: Path, folder: Path, trained: Path) -> None:
    lib = tmp_path / "lib.sqlite"
    assert main(["--library", str(lib), "scan", str(folder), "--jobs", "0",
                 "--model", str(trained)]) == 0
    capsys.readouterr()
    with sqlite3.connect(lib) as conn:
        before = conn.execute("SELECT sample_id, data FROM peaks ORDER BY 1").fetchall()
        embedded = conn.execute("SELECT * FROM windows ORDER BY 1, 2").fetchall()
        conn.execute("DELETE FROM peaks")  # as a library scanned before thumbnails
    rc, out, err = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                       "--model", trained, "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert (report["unchanged"], report["decoded"], report["embedded_windows"],
            report["thumbnails_added"]) == (3, 0, 0, 2)
    with sqlite3.connect(lib) as conn:
        assert conn.execute("SELECT sample_id, data FROM peaks ORDER BY 1").fetchall() == before
        assert conn.execute("SELECT * FROM windows ORDER BY 1, 2").fetchall() == embedded
    # and the summary says so; the next rescan has nothing left to do
    with sqlite3.connect(lib) as conn:
        conn.execute("DELETE FROM peaks WHERE sample_id = ?", (before[0][0],))
    rc, out, _ = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                     "--model", trained)
    assert rc == 0 and "added waveform thumbnails to 1 unchanged file " in out, out
    rc, out, _ = run(capsys, "--library", lib, "scan", folder, "--jobs", "0",
                     "--model", trained, "--json")
    assert json.loads(out)["thumbnails_added"] == 0
