"""Source folders: a link to a source, a folder inside one and a parent of several are
one source each, with every file once; folders a scan could not read are kept until read."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import core.walk
from core import sources
from core.library import Library
from core.scanner import ScanOptions, scan
from core.sources import folder_problems_now, overlapping_sources, plan_sources
from core.supports import add_supports
from core.trees import add_node, create_tree
from tests.old_library import old_source_plan

INLINE = ScanOptions(jobs=0)


def rows(lib: Library) -> dict[str, tuple[int, int, str]]:
    """path -> (sample id, root id, status)."""
    with closing(sqlite3.connect(lib.path)) as conn:
        return {p: (i, r, s) for i, p, r, s in
                conn.execute("SELECT id, path, root_id, status FROM samples")}


def root_ids(lib: Library) -> dict[str, int]:
    with closing(sqlite3.connect(lib.path)) as conn:
        return {p: i for i, p in conn.execute("SELECT id, path FROM roots")}


@pytest.fixture
def tree_of_files(tmp_path: Path, write_audio) -> Path:
    """samples/lib/{Drums/Kicks,Drums,Bass}/*.wav and samples/liblink -> lib."""
    for i, rel in enumerate(["Drums/Kicks/k.wav", "Drums/snare.wav", "Bass/sub.wav",
                             "Bass/reese.wav"]):
        write_audio(f"lib/{rel}", seconds=0.3, sr=8_000, seed=i, freq=200 + 50 * i)
    (tmp_path / "samples" / "liblink").symlink_to("lib")
    return tmp_path / "samples"


def test_a_link_to_a_source_rescans_that_source(library: Library, tree_of_files: Path) -> None:
    lib = str(tree_of_files / "lib")
    scan(library, [lib], None, options=INLINE)
    before = rows(library)
    report = scan(library, [str(tree_of_files / "liblink")], None, options=INLINE)
    # it was "4 new": every file a second time, under liblink/
    assert (report.found, report.new, report.unchanged) == (4, 0, 4)
    assert report.roots == [lib]
    assert any("already a source: rescanning it" in n for n in report.notes)
    assert library.roots() == [lib] and rows(library) == before


def test_a_source_added_through_a_link_is_stored_by_its_real_path(
        library: Library, tree_of_files: Path) -> None:
    lib = str(tree_of_files / "lib")
    report = scan(library, [str(tree_of_files / "liblink")], None, options=INLINE)
    assert report.new == 4 and library.roots() == [lib]
    assert all(p.startswith(lib + os.sep) for p in rows(library))
    assert any("leads to" in n for n in report.notes)
    again = scan(library, [lib], None, options=INLINE)
    assert (again.new, again.unchanged, again.notes) == (0, 4, [])


def test_a_folder_inside_a_source_rescans_that_part(library: Library,
                                                    tree_of_files: Path) -> None:
    lib = tree_of_files / "lib"
    scan(library, [str(lib)], None, options=INLINE)
    (lib / "Bass" / "reese.wav").unlink()  # outside the part rescanned: not looked at
    (lib / "Drums" / "snare.wav").unlink()
    report = scan(library, [str(lib / "Drums")], None, options=INLINE)
    assert library.roots() == [str(lib)]  # no second source for lib/Drums
    assert report.roots == [str(lib / "Drums")] and report.missing == 1
    assert any("inside the source" in n for n in report.notes)
    r = rows(library)
    assert r[str(lib / "Drums" / "snare.wav")][2] == "missing"
    assert r[str(lib / "Bass" / "reese.wav")][2] == "ok"
    assert {root for _i, root, _s in r.values()} == {root_ids(library)[str(lib)]}
    # through the link too: the part of the source, named by the source's name
    via_link = scan(library, [str(tree_of_files / "liblink" / "Bass")], None, options=INLINE)
    assert via_link.roots == [str(lib / "Bass")] and via_link.missing == 1
    assert library.roots() == [str(lib)] and len(rows(library)) == 4


def test_a_parent_takes_in_the_sources_inside_it(library: Library, tree_of_files: Path,
                                                 write_audio) -> None:
    lib = tree_of_files / "lib"
    scan(library, [str(lib / "Drums"), str(lib / "Bass")], None, options=INLINE)
    assert sorted(library.roots()) == [str(lib / "Bass"), str(lib / "Drums")]
    kick = str(lib / "Drums" / "Kicks" / "k.wav")
    create_tree(library, "mine")
    add_node(library, "mine", "Drums/Kick")
    add_supports(library, "mine", "Drums/Kick", [kick])
    before = {p: i for p, (i, _r, _s) in rows(library).items()}
    write_audio("lib/top.wav", seconds=0.3, sr=8_000, seed=9)
    report = scan(library, [str(lib)], None, options=INLINE)
    assert library.roots() == [str(lib)]
    assert (report.new, report.unchanged) == (1, 4)
    assert any("takes in the sources inside it" in n for n in report.notes)
    after = rows(library)
    assert {p: after[p][0] for p in before} == before  # the same records, ids kept
    assert {root for _i, root, _s in after.values()} == {root_ids(library)[str(lib)]}
    with closing(sqlite3.connect(library.path)) as conn:
        assert conn.execute("SELECT sample_id FROM supports").fetchall() == [(before[kick],)]


def test_one_scan_naming_a_folder_its_subfolder_and_a_link_to_it(
        library: Library, tree_of_files: Path) -> None:
    lib = str(tree_of_files / "lib")
    report = scan(library, [str(tree_of_files / "lib" / "Drums"),
                            str(tree_of_files / "liblink"), lib], None, options=INLINE)
    assert report.roots == [lib] and library.roots() == [lib]
    assert report.found == report.new == 4 and len(rows(library)) == 4


def test_a_source_an_older_library_stored_by_a_links_name_stays_the_same_source(
        library: Library, tmp_path: Path, write_audio) -> None:
    """~/Samples scanned when it was a folder, then made a link to the real one: scanning
    either name rescans the source as stored (no second copy of every file)."""
    write_audio("Samples/a.wav", seconds=0.3, sr=8_000)
    home = tmp_path / "samples" / "Samples"
    scan(library, [str(home)], None, options=INLINE)
    real = tmp_path / "disk" / "Samples"
    real.parent.mkdir()
    home.rename(real)
    home.symlink_to(real)
    for name in (real, home, real / "."):
        report = scan(library, [str(name)], None, options=INLINE)
        assert (report.new, report.unchanged, report.roots) == (0, 1, [str(home)])
    assert library.roots() == [str(home)] and list(rows(library)) == [str(home / "a.wav")]


def test_an_older_library_with_a_link_source_twice_is_not_made_worse(
        library: Library, tree_of_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib, link = str(tree_of_files / "lib"), str(tree_of_files / "liblink")

    with monkeypatch.context() as m:
        m.setattr(sources, "plan_sources", old_source_plan)
        scan(library, [lib], None, options=INLINE)
        scan(library, [link], None, options=INLINE)
    assert len(rows(library)) == 8
    assert overlapping_sources(library.roots()) == [(link, lib, True)]
    # rescanning every source, or either name, adds nothing and loses nothing
    for dirs in ([lib, link], [lib], [link]):
        scan(library, dirs, None, options=INLINE)
        assert len(rows(library)) == 8 and sorted(library.roots()) == [lib, link]
        assert all(s == "ok" for _i, _r, s in rows(library).values())


def test_plan_of_nested_sources_of_an_older_library_merges_them(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "a" / "b"
    b.mkdir(parents=True)
    plan = plan_sources([str(a), str(b)], [str(a), str(b)])
    assert plan.walk == [str(a)] and plan.absorbed == {str(b): str(a)} and plan.new == []
    plan = plan_sources([str(b)], [str(a), str(b)])
    assert plan.walk == [str(b)] and plan.source_of == {str(b): str(a)}
    assert plan.absorbed == {str(b): str(a)}


def _deny(monkeypatch: pytest.MonkeyPatch, folder: str) -> None:
    """Make ``folder`` unreadable to the walk (chmod binds no root)."""
    real_scandir = os.scandir

    def scandir(path=".", *args, **kwargs):
        if os.path.abspath(os.fsdecode(path)) == folder:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path, *args, **kwargs)

    monkeypatch.setattr(core.walk.os, "scandir", scandir)


def test_an_unreadable_folder_is_kept_until_a_scan_reads_it(
        library: Library, tree_of_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = tree_of_files / "lib"
    scan(library, [str(lib)], None, options=INLINE)
    bass = str(lib / "Bass")
    with monkeypatch.context() as m:
        _deny(m, bass)
        report = scan(library, [str(lib)], None, options=INLINE)
    assert report.folder_problems == 1 and report.missing == 0
    kept = folder_problems_now(library)
    assert [(f["path"], f["error"]) for f in kept] == [
        (bass, "cannot read folder: Permission denied")]
    assert library.stats()["last_scan"]["report"]["folder_problems"] == 1
    # its files known before stay ok
    assert all(s == "ok" for _i, _r, s in rows(library).values())
    # a scan of another part of the source leaves it; a scan that reads it clears it
    scan(library, [str(lib / "Drums")], None, options=INLINE)
    assert len(folder_problems_now(library)) == 1
    report = scan(library, [bass], None, options=INLINE)
    assert report.folder_problems == 0 and folder_problems_now(library) == []
