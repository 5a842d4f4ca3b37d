"""``sampletree ls`` with tempo, key and type: filters, sorting, -l and --json fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from core.library import Library
from core.scanner import ScanOptions, scan
from tests.analysis_signals import drum_loop, one_shot, progression, write

C, F, G = [60, 64, 67], [65, 69, 72], [67, 71, 74]


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pack")
    write(root / "beat.wav", drum_loop(124.0, 2))
    write(root / "keys.wav", progression([C, F, G, C], bpm=120))
    write(root / "bass.wav", one_shot(45))
    write(root / "Perc_Loop_95bpm_Dm.wav", drum_loop(95.0, 1))
    path = root.parent / "lib.sqlite"
    with Library(path) as library:
        scan(library, [str(root)], None, options=ScanOptions(jobs=0))
    return path


def ls(capsys: pytest.CaptureFixture[str], lib: Path, *args: str) -> tuple[int, str, str]:
    rc = main(["--library", str(lib), "ls", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def names(out: str) -> list[str]:
    return [Path(r["path"]).name for r in json.loads(out)]


def test_ls_json_has_the_analysis_fields(capsys, lib: Path) -> None:
    rc, out, _ = ls(capsys, lib, "--json")
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    assert rc == 0
    beat = rows["beat.wav"]
    assert beat["type"] == "loop" and beat["bpm"] == pytest.approx(124, rel=0.02)
    assert beat["bpm_source"] == "audio" and beat["bars"] == 2 and beat["key"] is None
    assert beat["bit_depth"] == 16 and beat["sample_rate"] == 44100 and beat["channels"] == 1
    assert beat["lufs"] < 0 and beat["peak_dbfs"] == pytest.approx(-1.94, abs=0.05)
    assert rows["bass.wav"]["root_note"] == "A2" and rows["bass.wav"]["type"] == "oneshot"
    assert rows["Perc_Loop_95bpm_Dm.wav"]["bpm_source"] == "name"
    assert rows["Perc_Loop_95bpm_Dm.wav"]["key"] == "Dm"
    assert rows["keys.wav"]["key"] == "C" and rows["keys.wav"]["key_source"] == "audio"


def test_ls_filters(capsys, lib: Path) -> None:
    assert names(ls(capsys, lib, "--json", "--bpm", "120-128")[1]) == ["beat.wav", "keys.wav"]
    assert names(ls(capsys, lib, "--json", "--bpm", "95")[1]) == ["Perc_Loop_95bpm_Dm.wav"]
    assert names(ls(capsys, lib, "--json", "--type", "oneshot")[1]) == ["bass.wav"]
    assert names(ls(capsys, lib, "--json", "--type", "loop", "--key", "C")[1]) == ["keys.wav"]
    # A minor: the A one-shot; compatible: C (relative) and D minor (a fifth down) too
    assert names(ls(capsys, lib, "--json", "--key", "Am")[1]) == ["bass.wav"]
    assert names(ls(capsys, lib, "--json", "--key", "Am", "--compatible")[1]) == [
        "Perc_Loop_95bpm_Dm.wav", "bass.wav", "keys.wav"]
    assert names(ls(capsys, lib, "--json", "--key", "8A", "--compatible", "--bpm",
                    "90-130", "--type", "loop")[1]) == ["Perc_Loop_95bpm_Dm.wav", "keys.wav"]
    rc, _out, err = ls(capsys, lib, "--key", "Am", "--lufs=-100:0")
    assert rc == 0 and "1 file" in err and "1 files" not in err


def test_ls_sort_and_long(capsys, lib: Path) -> None:
    rc, out, _ = ls(capsys, lib, "--sort", "bpm", "-l")
    lines = out.splitlines()
    assert rc == 0 and "Perc_Loop_95bpm_Dm.wav" in lines[0] and "bass.wav" in lines[-1]
    assert "95 BPM (1 bar)" in lines[0] and "Dm" in lines[0] and "LUFS" in lines[0]
    assert "one-shot" in lines[-1] and "A2" in lines[-1]
    rc, out, _ = ls(capsys, lib, "--sort", "key", "--json")
    assert names(out)[:2] == ["Perc_Loop_95bpm_Dm.wav", "keys.wav"]  # 7A, then 8B


@pytest.mark.parametrize(("args", "says"), [
    (["--bpm", "fast"], "argument --bpm: 'fast' is not a tempo or a range"),
    (["--key", "H#"], "argument --key: 'H#' is not a key"),
    (["--type", "drum"], "argument --type: 'drum': choose loop or oneshot"),
    (["--lufs", "loud"], "argument --lufs: 'loud' is not a loudness or a range"),
    (["--lufs=-20:-10:"], "argument --lufs: '-20:-10:' is not a loudness or a range"),
])
def test_bad_filter_values_are_usage_errors(capsys, lib: Path, args: list[str],
                                            says: str) -> None:
    """As every other wrong option value: the usage, one error line, exit 2."""
    with pytest.raises(SystemExit) as done:
        ls(capsys, lib, *args)
    out, err = capsys.readouterr()
    assert done.value.code == 2 and out == "" and err.startswith("usage: sampletree ls")
    assert err.splitlines()[-1] == f"sampletree: error: {says}" or \
        err.splitlines()[-1].startswith(f"sampletree: error: {says}")


def test_compatible_without_a_key_is_one_line(capsys, lib: Path) -> None:
    rc, out, err = ls(capsys, lib, "--compatible")
    assert rc != 0 and out == "" and "--compatible goes with --key" in err
    assert err.count("\n") == 1 and err.startswith("sampletree: error:")


def test_ls_loudness_takes_one_value_and_open_ends(capsys, lib: Path) -> None:
    """Review: --lufs -14, --lufs=-20: and --lufs=:-10 were usage errors."""
    rows = json.loads(ls(capsys, lib, "--json")[1])
    loud = {Path(r["path"]).name: r["lufs"] for r in rows}
    mid = sorted(loud.values())[len(loud) // 2]
    got = names(ls(capsys, lib, "--json", f"--lufs={mid:.2f}:")[1])
    assert got == sorted(n for n, v in loud.items() if v >= round(mid, 2)) and got
    got = names(ls(capsys, lib, "--json", f"--lufs=:{mid:.2f}")[1])
    assert got == sorted(n for n, v in loud.items() if v <= round(mid, 2)) and got
    rc, out, _ = ls(capsys, lib, "--json", "--lufs", f"{mid:.2f}")
    assert rc == 0 and names(out) == sorted(n for n, v in loud.items()
                                            if abs(v - round(mid, 2)) <= 1.0)
    rc, out, _ = ls(capsys, lib, "--json", "--lufs", "-100 to 0")
    assert rc == 0 and len(names(out)) == len(loud)
