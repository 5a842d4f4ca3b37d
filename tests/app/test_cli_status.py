"""``status`` says what the library holds now: what the last scan found (a rescan that only
found files missing is not "nothing had changed"), when it ran, whether a "running" scan is
still alive, the labels of each tree, the library's own size (found by a fresh-eyes review
of the demo)."""

from __future__ import annotations

import json
from pathlib import Path

from core.library import Library
from core.words import plural
from tests.cli_run import run


def test_status_after_a_rescan(capsys, write_audio, tmp_path: Path, weights: Path) -> None:
    files = [write_audio(f"kit/{n}.wav", freq=f) for n, f in (("a", 220), ("b", 440),
                                                              ("c", 880))]
    lib = tmp_path / "lib.sqlite"
    scan = ["--library", lib, "scan", files[0].parent, "--jobs", "0", "--model", weights,
            "--quiet"]
    assert run(capsys, *scan)[0] == 0
    for argv in (["tree", "create", "t"], ["tree", "add", "t", "A"],
                 ["label", "t", "A", files[0]]):
        assert run(capsys, "--library", lib, *argv)[0] == 0
    files[2].unlink()
    assert run(capsys, *scan)[0] == 0  # finds c missing, reads nothing

    rc, out, _ = run(capsys, "--library", lib, "status", "--json")
    stats = json.loads(out)
    assert rc == 0 and stats["by_status"] == {"ok": 2, "missing": 1}
    assert stats["last_scan"]["report"] == {"found": 2, "new": 0, "changed": 0,
                                            "unchanged": 2, "moved": 0, "restored": 0,
                                            "missing": 1, "failed": 0,
                                            "folder_problems": 0}
    _rc, _out, ls_err = run(capsys, "--library", lib, "ls", "--tree", "t")
    counts = stats["labels"]["t"]
    assert sum(counts.values()) == 3 and counts["unlabeled"] == 0
    rc, out, _ = run(capsys, "--library", lib, "status")
    last = next(ln for ln in out.splitlines() if ln.startswith("Last scan: "))
    assert last.endswith("(done): 2 audio files (0 new, 0 changed, 2 unchanged, 0 moved, "
                         "1 missing); nothing to read"), last
    labels = next(ln for ln in out.splitlines() if ln.startswith("Labels (t): "))
    assert labels.removeprefix("Labels (t): ") + " (tree t)" == ls_err.strip()

    # a scan killed mid-way left "running" behind: its process is gone
    with Library(lib) as library:
        library.start_scan(5)
    rc, out, _ = run(capsys, "--library", lib, "status")
    assert "(interrupted)" in out and "running" not in out

    # what `restore` set aside beside the library is not the library's size
    aside = lib.with_name(lib.name + ".replaced-20261130-101010")
    aside.write_bytes(b"\0" * 4_000_000)
    size = json.loads(run(capsys, "--library", lib, "status", "--json")[1])["bytes"]
    assert 0 < size < 4_000_000


def test_a_library_from_before_gets_the_scan_report(capsys, write_audio, tmp_path: Path,
                                                    weights: Path) -> None:
    """Migration ``_scan_report``: an older library's scans have no report (status says
    what it knows), the next scan's has one."""
    from core import schema
    from tests.old_library import as_before

    f = write_audio("kit/a.wav")
    lib = tmp_path / "lib.sqlite"
    scan = ["--library", lib, "scan", f.parent, "--jobs", "0", "--model", weights, "--quiet"]
    assert run(capsys, *scan)[0] == 0
    as_before(lib, schema._scan_report, "ALTER TABLE scans DROP COLUMN report")
    rc, out, _ = run(capsys, "--library", lib, "status", "--json")
    stats = json.loads(out)
    assert rc == 0 and stats["schema_version"] == schema.SCHEMA_VERSION
    assert stats["last_scan"]["report"] is None
    assert "Last scan: " in run(capsys, "--library", lib, "status")[1]
    f.unlink()
    assert run(capsys, *scan)[0] == 0
    rc, out, _ = run(capsys, "--library", lib, "status", "--json")
    assert json.loads(out)["last_scan"]["report"]["missing"] == 1


def test_status_counts_the_windows_of_files_on_disk(capsys, write_audio, tmp_path: Path,
                                                     weights: Path) -> None:
    """Noted at the end of a session: the windows and embedded counts took in the windows a
    missing file keeps (the audio hours did not): they now describe the files on disk and
    say the kept ones apart."""
    files = [write_audio(f"kit/{n}.wav", freq=f) for n, f in (("a", 220), ("b", 440))]
    lib = tmp_path / "lib.sqlite"
    scan = ["--library", lib, "scan", files[0].parent, "--jobs", "0", "--model", weights,
            "--quiet"]
    assert run(capsys, *scan)[0] == 0
    before = json.loads(run(capsys, "--library", lib, "status", "--json")[1])
    with Library(lib) as library:
        per_file = {Path(r["path"]).name: r["windows"] for r in library.list_samples()}
    assert before["windows"] == sum(per_file.values()) and before["missing_windows"] == 0
    files[1].unlink()
    assert run(capsys, *scan)[0] == 0  # b.wav: missing, its windows kept

    stats = json.loads(run(capsys, "--library", lib, "status", "--json")[1])
    assert stats["by_status"] == {"ok": 1, "missing": 1}
    assert stats["windows"] == per_file["a.wav"]
    assert stats["missing_windows"] == per_file["b.wav"] > 0
    assert sum(stats["embedded_windows"].values()) == per_file["a.wav"]
    out = run(capsys, "--library", lib, "status")[1]
    audio = next(ln for ln in out.splitlines() if ln.startswith("Audio: "))
    assert f"in {per_file['a.wav']} window" in audio
    assert audio.endswith(f"; {plural(per_file['b.wav'], 'window')} kept for 1 missing file"), \
        audio
