"""``similar`` lists distinct files: each file once (also by window), exact duplicates once
with their copies named, copies of the query left out; ``--window`` out of a file's range is
a usage error naming the range (found by a fresh-eyes review of the demo: one file listed
three times, and "this file has no window 4" with exit 1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from tests.cli_run import run


@pytest.fixture
def scanned(tmp_path: Path, capsys, weights: Path) -> tuple[Path, Path]:
    """hit.wav and two exact copies (one a FLAC), four other sounds; 2.5 s each."""
    root = tmp_path / "samples"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(["hit.wav", "b.wav", "c.wav", "d.wav", "e.wav"]):
        t = np.arange(int(2.5 * 22_050)) / 22_050
        x = 0.3 * np.sin(2 * np.pi * (110 * (i + 1)) * t) + 0.05 * rng.standard_normal(len(t))
        sf.write(str(root / name), x.astype(np.float32), 22_050, subtype="PCM_16")
    shutil.copy(root / "hit.wav", root / "hit copy.wav")
    data, sr = sf.read(str(root / "hit.wav"), dtype="int16")
    sf.write(str(root / "hit copy.flac"), data, sr, subtype="PCM_16")
    lib = tmp_path / "lib.sqlite"
    rc, _out, err = run(capsys, "--library", lib, "scan", root, "--jobs", "0", "--model",
                        weights, "--quiet")
    assert rc == 0, err
    rc, out, err = run(capsys, "--library", lib, "duplicates", "--json")
    assert json.loads(out)["groups"] == 1, out
    return lib, root


def test_each_file_once_and_copies_named(capsys, scanned: tuple[Path, Path]) -> None:
    lib, root = scanned
    copies = {str(root / "hit.wav"), str(root / "hit copy.wav"), str(root / "hit copy.flac")}
    rc, out, err = run(capsys, "--library", lib, "similar", root / "b.wav", "--json")
    hits = json.loads(out)
    paths = [h["path"] for h in hits]
    assert rc == 0 and len(paths) == len(set(paths)) == 4  # 7 files: b, the hit once, c-e
    (hit,) = [h for h in hits if h["path"] in copies]
    assert {hit["path"], *hit["copies"]} == copies
    assert all(h["copies"] == [] for h in hits if h is not hit)

    rc, out, err = run(capsys, "--library", lib, "similar", root / "hit.wav", "--json")
    assert rc == 0 and not copies & {h["path"] for h in json.loads(out)}
    assert "2 exact copies of" in err and "hit copy.flac" in err and "hit copy.wav" in err

    rc, out, _err = run(capsys, "--library", lib, "similar", root / "b.wav")
    assert rc == 0 and "and 2 exact copies: " in out

    for window in ("0", "3"):  # by one window: each file once, at its nearest window
        rc, out, _err = run(capsys, "--library", lib, "similar", root / "c.wav", "--window",
                            window, "-k", "10", "--json")
        paths = [h["path"] for h in json.loads(out)]
        assert rc == 0 and len(paths) == len(set(paths)) == 4, paths
        assert all(h["window"] is not None for h in json.loads(out))


@pytest.mark.parametrize("argv", [["similar", "FILE", "--window", "WINDOWS"],
                                  ["label", "t", "A", "FILE", "--window", "99"]])
def test_window_out_of_range_is_a_usage_error(capsys, scanned: tuple[Path, Path],
                                              argv: list[str]) -> None:
    lib, root = scanned
    assert run(capsys, "--library", lib, "tree", "create", "t")[0] == 0
    assert run(capsys, "--library", lib, "tree", "add", "t", "A")[0] == 0
    _rc, out, _ = run(capsys, "--library", lib, "ls", "--json")
    n = next(r["windows"] for r in json.loads(out) if r["path"].endswith("c.wav"))
    assert n > 1
    argv = [str(root / "c.wav") if a == "FILE" else str(n) if a == "WINDOWS" else a
            for a in argv]
    with pytest.raises(SystemExit) as stop:
        main(["--library", str(lib), *argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.startswith(f"usage: sampletree {argv[0]}")
    assert err.rstrip().endswith(f"has {n} windows, so --window is 0 to {n - 1}"), err
    assert "sampletree: error: argument --window: " in err and "Traceback" not in err
