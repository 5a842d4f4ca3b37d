"""``explain`` (and ``similar``) on a file it cannot explain say why in one line, exit 1,
no traceback: an unreadable or damaged file names its reason, a folder, a path that does not
exist, a file its folder's scans passed over, an empty path (found by a fresh-eyes review:
"this file has no embeddings (not scanned with the current model, or unreadable)")."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main


@pytest.fixture
def scanned(write_audio, tmp_path: Path, capsys, weights: Path) -> tuple[Path, Path]:
    good = write_audio("kit/good.wav")
    (good.parent / "garbage.wav").write_bytes(bytes(range(256)) * 8)
    (good.parent / "cut.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ")
    (good.parent / "notes.txt").write_text("not audio")
    lib = tmp_path / "lib.sqlite"
    assert main(["--library", str(lib), "scan", str(good.parent), "--jobs", "0", "--model",
                 str(weights), "--quiet"]) == 0
    assert main(["--library", str(lib), "tree", "create", "t"]) == 0
    assert main(["--library", str(lib), "tree", "add", "t", "A"]) == 0
    assert main(["--library", str(lib), "label", "t", "A", str(good)]) == 0
    capsys.readouterr()
    return lib, good.parent


@pytest.mark.parametrize("command", ["explain", "similar"])
@pytest.mark.parametrize("name, words", [
    ("garbage.wav", "garbage.wav could not be read at the last scan: "),
    ("cut.wav", "cut.wav could not be read at the last scan: "),
    ("", "kit is a folder, not a file of the library"),
    ("nowhere.wav", "nowhere.wav: no such file, and not in the library"),
    ("notes.txt", "notes.txt is not in the library: the scans of its folder passed it over"),
    ("EMPTY", "no file given"),
])
def test_one_clear_line(capsys, scanned: tuple[Path, Path], command: str, name: str,
                        words: str) -> None:
    lib, kit = scanned
    path = "" if name == "EMPTY" else str(kit / name)
    argv = ["explain", "t", path] if command == "explain" else ["similar", path]
    assert main(["--library", str(lib), *argv]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("sampletree: error: "), err
    assert words in err
    if "could not be read" in words:
        assert err.rstrip().endswith("it has no embeddings to "
                                     + ("explain" if command == "explain" else "compare"))
