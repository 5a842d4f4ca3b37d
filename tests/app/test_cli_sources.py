"""``scan`` of a link to a source or of a folder inside one, and folders a scan could not
read, as the command line shows them (found by a fresh-eyes review)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import app.cli
from core import sources
from tests.app.unprivileged import run_unprivileged
from tests.cli_run import run
from tests.old_library import old_source_plan


@pytest.fixture
def lib_and_link(tmp_path: Path, write_audio) -> tuple[Path, Path]:
    for i, rel in enumerate(["Drums/k.wav", "Drums/s.wav", "Bass/b.wav"]):
        write_audio(f"lib/{rel}", seconds=0.3, sr=8_000, seed=i, freq=200 + 90 * i)
    link = tmp_path / "samples" / "liblink"
    link.symlink_to("lib")
    return tmp_path / "samples" / "lib", link


def scan_args(lib: Path, folder: Path, weights: Path) -> list:
    return ["--library", lib, "scan", folder, "--jobs", "0", "--model", weights, "--quiet"]


def test_scanning_a_link_or_a_subfolder_of_a_source_adds_nothing(
        capsys, tmp_path: Path, lib_and_link: tuple[Path, Path], weights: Path,
        trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, link = lib_and_link
    lib = tmp_path / "lib.sqlite"
    assert run(capsys, *scan_args(lib, folder, weights))[0] == 0
    rc, out, err = run(capsys, *scan_args(lib, link, weights))
    assert rc == 0, err
    assert "3 audio files (0 new" in out
    assert f"{link} is {folder}, already a source: rescanning it" in out
    rc, out, err = run(capsys, *scan_args(lib, folder / "Drums", weights))
    assert rc == 0, err
    assert f"{folder / 'Drums'} is inside the source {folder}: rescanning that part" in out
    rc, out, _err = run(capsys, "--library", lib, "status")
    assert f"Folders: {folder}\n" in out and "Files: 3 — 3 ok" in out
    # and with nothing to read (the quick path) it still says what the link is
    rc, out, err = run(capsys, *scan_args(lib, link, trained))  # embedded by these weights
    quick = []
    real_quick = app.cli._nothing_changed
    monkeypatch.setattr(app.cli, "_nothing_changed",
                        lambda *a, **k: quick.append(1) or real_quick(*a, **k))
    rc, out, err = run(capsys, *scan_args(lib, link, trained))
    assert rc == 0 and "3 unchanged" in out and "already a source: rescanning it" in out
    assert quick == [1]
    rc, out, _err = run(capsys, "--library", lib, "ls", "--json")
    assert sorted(Path(r["path"]).name for r in json.loads(out)) == ["b.wav", "k.wav", "s.wav"]


def test_status_names_sources_an_older_library_holds_twice(
        capsys, tmp_path: Path, lib_and_link: tuple[Path, Path], weights: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder, link = lib_and_link
    lib = tmp_path / "lib.sqlite"

    with monkeypatch.context() as m:
        m.setattr(sources, "plan_sources", old_source_plan)
        for f in (folder, link, folder / "Drums"):
            assert run(capsys, *scan_args(lib, f, weights))[0] == 0
    rc, out, _err = run(capsys, "--library", lib, "status")
    assert f"! {link} is the same folder as {folder}" in out
    assert f"! {folder / 'Drums'} is inside {folder}" in out
    # rescanning every source: the nested one is merged, the link's files stay as they were
    rc, out, err = run(capsys, *scan_args(lib, folder, weights)[:3], folder, link,
                       folder / "Drums", "--jobs", "0", "--model", weights, "--quiet")
    assert rc == 0, err
    stats = json.loads(run(capsys, "--library", lib, "status", "--json")[1])
    assert sorted(stats["roots"]) == [str(folder), str(link)] and stats["files"] == 6
    assert stats["overlapping_roots"] == [{"root": str(link), "overlaps": str(folder),
                                           "same_folder": True}]



@pytest.mark.timeout(300)
def test_an_unreadable_folder_is_listed_until_a_scan_reads_it(
        capsys, tmp_path: Path, write_audio, trained: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    weights = trained
    odd = tmp_path / "samples" / "odd"
    write_audio("odd/open/a.wav", seconds=0.3, sr=8_000)
    write_audio("odd/locked/b.wav", seconds=0.3, sr=8_000, seed=2)
    lib = tmp_path / "lib.sqlite"
    assert run(capsys, *scan_args(lib, odd, weights))[0] == 0
    locked = odd / "locked"
    locked.chmod(0)
    try:
        rc, out, err = run_unprivileged(*scan_args(lib, odd, weights))
    finally:
        locked.chmod(0o755)
    assert rc == 0, (out, err)
    assert f"! {locked}: cannot read folder: Permission denied" in out
    # it was printed once and then forgotten
    rc, out, err = run(capsys, "--library", lib, "ls", "--problems")
    assert rc == 0 and out.split() == ["folder", "-", "-", f"{locked}{os.sep}", "cannot",
                                       "read", "folder:", "Permission", "denied"]
    assert "1 folder a scan could not read" in err
    rows = json.loads(run(capsys, "--library", lib, "ls", "--problems", "--json")[1])
    assert [(r["path"], r["status"]) for r in rows] == [(str(locked), "folder")]
    rc, out, _err = run(capsys, "--library", lib, "status")
    assert "Folders not read: 1 (`sampletree ls --problems` lists them)" in out
    assert "1 folder not read)" in out  # the last scan's line
    assert "Files: 2 — 2 ok" in out  # its files known before stay ok
    stats = json.loads(run(capsys, "--library", lib, "status", "--json")[1])
    assert stats["last_scan"]["report"]["folder_problems"] == 1
    assert [f["path"] for f in stats["folder_problems"]] == [str(locked)]
    # read again (nothing else changed, the quick path): cleared
    quick = []
    real_quick = app.cli._nothing_changed
    monkeypatch.setattr(app.cli, "_nothing_changed",
                        lambda *a, **k: quick.append(1) or real_quick(*a, **k))
    rc, out, err = run(capsys, *scan_args(lib, odd, weights))
    assert rc == 0 and quick == [1], err
    rc, out, err = run(capsys, "--library", lib, "ls", "--problems")
    assert out == "" and "folder" not in err
    stats = json.loads(run(capsys, "--library", lib, "status", "--json")[1])
    assert stats["folder_problems"] == [] and stats["last_scan"]["report"]["folder_problems"] == 0
