"""Counts in the command line's output agree with their number: "1 file", never "1 files"
(found by a fresh-eyes review of the demo)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.cli import main
from core.words import plural

#: "1" followed by a plural noun of the CLI's vocabulary (not "0.1 files", not "21 files")
ONE_PLURAL = re.compile(r"(?<![\d.,])1 (audio files|files|examples|windows|groups|extra copies"
                        r"|copies|classes|nodes|trees|labels|problems)\b")


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out + err


def test_plural() -> None:
    assert plural(1, "file") == "1 file" and plural(0, "file") == "0 files"
    assert plural(2, "copy") == "2 copies" and plural(1, "copy") == "1 copy"
    assert plural(3, "class") == "3 classes" and plural(2, "extra copy") == "2 extra copies"
    assert plural(2, "mouse", "mice") == "2 mice"


def test_one_file_one_window_one_example(capsys, write_audio, tmp_path: Path,
                                         weights: Path) -> None:
    f = write_audio("one/a.wav", seconds=0.5)
    lib = tmp_path / "lib.sqlite"
    said = []
    rc, text = run(capsys, "--library", lib, "scan", f.parent, "--jobs", "0", "--model",
                   weights, "--quiet")
    assert rc == 0, text
    assert "1 audio file (1 new" in text and "decoded 1 file into 1 window;" in text
    said.append(text)
    for argv, words in ((["status"], "in 1 window"), (["ls"], "1 file"),
                        (["tree", "create", "t"], "created tree 't' with 0 nodes"),
                        (["tree", "add", "t", "A"], ""),
                        (["label", "t", "A", f], "1 example of A"),
                        (["classify", "t"], "1 class from 1 example"),
                        (["unlabel", "t", f], "removed 1 example")):
        rc, text = run(capsys, "--library", lib, *argv)
        assert rc == 0 and words in text, (argv, text)
        said.append(text)
    bad = [m.group(0) for text in said for m in ONE_PLURAL.finditer(text)]
    assert not bad, bad
