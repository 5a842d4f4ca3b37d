"""Support examples: adding, moving, removing, listing, and surviving real rescans."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import TreeError
from core.library import Library, SampleRecord
from core.scanner import ScanOptions, scan
from core.supports import SupportRow, add_supports, list_supports, remove_supports
from core.trees import (
    FORMAT,
    Removed,
    delete_node,
    import_tree,
    load_tree,
    move_node,
    rename_node,
)

INLINE = ScanOptions(jobs=0)

KIT = {"format": FORMAT, "version": 1, "name": "kit", "nodes": [
    {"name": "Drums", "children": [{"name": "Kick"}, {"name": "Snare"}]},
    {"name": "Bass"},
]}


@pytest.fixture
def kit(library: Library) -> Library:
    import_tree(library, KIT)
    return library


def add_samples(library: Library, folder: Path, names: list[str], *, status: str = "ok",
                windows: int = 3) -> dict[str, int]:
    """Library rows for ``folder/name`` (no audio needed): name → sample id."""
    recs = [SampleRecord(path=str(folder / n), root_id=None, size=1, mtime_ns=1, status=status,
                         error="cannot decode" if status == "error" else None,
                         starts=np.arange(windows, dtype=np.float32) if status == "ok" else None)
            for n in names]
    library.write_batch(recs)
    known = library.known_samples()
    return {n: known[str(folder / n)].id for n in names}


def raises(words: str, func: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(TreeError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    message.encode("utf-8")  # printable: no lone surrogates
    for word in words.split("|"):
        assert word.lower() in message.lower(), message
    return message


def where(library: Library, tree: str = "kit") -> dict[str, tuple[str, int | None]]:
    return {Path(s.path).name: (s.node_path, s.window_idx) for s in list_supports(library, tree)}


# -- adding -----------------------------------------------------------------------------------

def test_add_by_path_id_and_pathlike(kit: Library, tmp_path: Path) -> None:
    ids = add_samples(kit, tmp_path, ["a.wav", "b.wav", "c.wav", "d.wav"])
    assert add_supports(kit, "kit", "Drums/Kick", [str(tmp_path / "a.wav"), ids["b.wav"],
                                                   tmp_path / "c.wav"]) == 3
    assert add_supports(kit, "kit", "drums/kick", str(tmp_path / "d.wav")) == 1  # a lone path
    assert where(kit) == {n: ("Drums/Kick", None) for n in ids}
    # Again on the same node: nothing changes, nothing is counted.
    assert add_supports(kit, "kit", "Drums/Kick", [ids["a.wav"], ids["a.wav"]]) == 0


def test_relative_paths_resolve_against_the_working_folder(
        kit: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_samples(kit, tmp_path / "s", ["a.wav"])
    (tmp_path / "s").mkdir()
    monkeypatch.chdir(tmp_path / "s")
    assert add_supports(kit, "kit", "Bass", ["a.wav"]) == 1
    monkeypatch.chdir(tmp_path)
    assert add_supports(kit, "kit", "Drums", [os.path.join("s", ".", "a.wav")]) == 1
    assert where(kit) == {"a.wav": ("Drums", None)}


def test_a_file_supports_one_node_per_tree(kit: Library, tmp_path: Path) -> None:
    ids = add_samples(kit, tmp_path, ["a.wav", "b.wav"])
    import_tree(kit, {**KIT, "name": "other"})
    add_supports(kit, "kit", "Drums/Kick", list(ids.values()))
    add_supports(kit, "other", "Bass", [ids["a.wav"]])
    assert add_supports(kit, "kit", "Drums/Snare", [ids["a.wav"]]) == 1  # moved, not copied
    assert where(kit) == {"a.wav": ("Drums/Snare", None), "b.wav": ("Drums/Kick", None)}
    assert where(kit, "other") == {"a.wav": ("Bass", None)}  # other trees are separate
    with kit.reading() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM supports").scalar_one() == 3


def test_window_index(kit: Library, tmp_path: Path) -> None:
    ids = add_samples(kit, tmp_path, ["a.wav", "pending.wav"], windows=3)
    assert add_supports(kit, "kit", "Bass", [ids["a.wav"]], window_idx=2) == 1
    assert where(kit)["a.wav"] == ("Bass", 2)
    assert add_supports(kit, "kit", "Bass", [ids["a.wav"]]) == 1  # the whole file now
    assert where(kit)["a.wav"] == ("Bass", None)
    raises('has 3 windows (0–2)|there is no window 3', add_supports, kit, "kit", "Bass",
           [ids["a.wav"]], window_idx=3)
    for bad in (-1, True, 1.5):
        raises("window index is a whole number", add_supports, kit, "kit", "Bass",
               [ids["a.wav"]], window_idx=bad)
    assert where(kit)["a.wav"] == ("Bass", None)


def test_unknown_files_are_refused_and_nothing_is_written(kit: Library, tmp_path: Path) -> None:
    ids = add_samples(kit, tmp_path, ["a.wav"])
    stray = tmp_path / "new" / "stray.wav"
    raises(f'"{stray}": no such file, and not in the library', add_supports, kit,
           "kit", "Bass", [ids["a.wav"], str(stray)])
    stray.parent.mkdir()
    stray.write_bytes(b"RIFF")  # there, in a folder never scanned
    raises(f'"{stray}" is not in the library; scan its folder first', add_supports, kit,
           "kit", "Bass", [ids["a.wav"], str(stray)])
    raises("7 files are not in the library; scan their folders first|and 2 more",
           add_supports, kit, "kit", "Bass", [str(tmp_path / f"{i}.wav") for i in range(7)])
    raises("no file in the library has the id 999", add_supports, kit, "kit", "Bass", [999])
    raises("no files in the library have the ids 998, 999", add_supports, kit, "kit", "Bass",
           [998, 999])
    raises("not a file path or a sample id", add_supports, kit, "kit", "Bass", [1.5])
    raises("not a file path or a sample id", add_supports, kit, "kit", "Bass", [True])
    assert list_supports(kit, "kit") == []


def test_missing_and_unreadable_files_are_refused(kit: Library, tmp_path: Path) -> None:
    ok = add_samples(kit, tmp_path, ["ok.wav"])
    gone = add_samples(kit, tmp_path, ["gone.wav"], status="missing")
    bad = add_samples(kit, tmp_path, ["bad.wav"], status="error")
    raises(f'"{tmp_path / "gone.wav"}" is missing|restore it and rescan', add_supports, kit,
           "kit", "Bass", [ok["ok.wav"], gone["gone.wav"]])
    raises("could not be read (cannot decode)", add_supports, kit, "kit", "Bass",
           [str(tmp_path / "bad.wav")])
    raises("could not be read", add_supports, kit, "kit", "Bass", [bad["bad.wav"]])
    assert add_supports(kit, "kit", "Bass", []) == 0
    assert list_supports(kit, "kit") == []  # all or nothing


def test_bad_nodes_and_trees(kit: Library, tmp_path: Path) -> None:
    ids = add_samples(kit, tmp_path, ["a.wav"])
    raises("the tree's root cannot hold any", add_supports, kit, "kit", "", [ids["a.wav"]])
    raises('no node "Drums/Kik"|did you mean: Drums/Kick', add_supports, kit, "kit",
           "Drums/Kik", [ids["a.wav"]])
    raises('no tree named "kot"|did you mean: kit', add_supports, kit, "kot", "Bass",
           [ids["a.wav"]])
    raises('no tree named "kot"', list_supports, kit, "kot")
    raises('no tree named "kot"', remove_supports, kit, "kot", [ids["a.wav"]])


def test_paths_that_are_not_utf8(kit: Library, tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.wav")
    ids = add_samples(kit, tmp_path, [name])
    assert add_supports(kit, "kit", "Bass", [str(tmp_path / name)]) == 1
    [row] = list_supports(kit, "kit")
    assert (row.sample_id, row.path) == (ids[name], str(tmp_path / name))
    other = os.fsdecode(b"na\xefve.wav")
    raises(r'na\xefve.wav": no such file, and not in the library', add_supports, kit, "kit", "Bass",
           [str(tmp_path / other)])


# -- removing and listing ---------------------------------------------------------------------

def test_remove_supports(kit: Library, tmp_path: Path) -> None:
    ids = add_samples(kit, tmp_path, ["a.wav", "b.wav", "c.wav"])
    import_tree(kit, {**KIT, "name": "other"})
    add_supports(kit, "kit", "Bass", [ids["a.wav"], ids["b.wav"]])
    add_supports(kit, "other", "Bass", [ids["a.wav"]])
    assert remove_supports(kit, "kit", [str(tmp_path / "a.wav"), ids["c.wav"]]) == 1
    assert remove_supports(kit, "kit", ids["a.wav"]) == 0  # no longer an example
    assert where(kit) == {"b.wav": ("Bass", None)}
    assert where(kit, "other") == {"a.wav": ("Bass", None)}
    raises("no such file, and not in the library", remove_supports, kit, "kit",
           [ids["b.wav"], str(tmp_path / "zzz.wav")])
    assert where(kit) == {"b.wav": ("Bass", None)}  # nothing removed


def test_list_supports_in_tree_order(kit: Library, tmp_path: Path) -> None:
    ids = add_samples(kit, tmp_path, ["z.wav", "y.wav", "x.wav", "w.wav"])
    add_supports(kit, "kit", "Bass", [ids["w.wav"]])
    add_supports(kit, "kit", "Drums/Snare", [ids["x.wav"]])
    add_supports(kit, "kit", "Drums/Kick", [ids["z.wav"], ids["y.wav"]], window_idx=1)
    add_supports(kit, "kit", "Drums", [ids["x.wav"]])
    rows = list_supports(kit, "kit")
    tree = load_tree(kit, "kit")
    assert rows == [
        SupportRow(ids["x.wav"], tree.require("Drums").id, "Drums", None,
                   str(tmp_path / "x.wav"), "ok"),
        SupportRow(ids["y.wav"], tree.require("Drums/Kick").id, "Drums/Kick", 1,
                   str(tmp_path / "y.wav"), "ok"),
        SupportRow(ids["z.wav"], tree.require("Drums/Kick").id, "Drums/Kick", 1,
                   str(tmp_path / "z.wav"), "ok"),
        SupportRow(ids["w.wav"], tree.require("Bass").id, "Bass", None,
                   str(tmp_path / "w.wav"), "ok"),
    ]
    assert [r.path for r in list_supports(kit, "kit", "drums/kick")] == [
        str(tmp_path / "y.wav"), str(tmp_path / "z.wav")]
    assert len(list_supports(kit, "kit", "Drums")) == 3
    assert len(list_supports(kit, "kit", "")) == 4
    raises('no node "Keys"', list_supports, kit, "kit", "Keys")


def test_supports_follow_node_edits(kit: Library, tmp_path: Path) -> None:
    ids = add_samples(kit, tmp_path, ["k.wav", "s.wav", "b.wav"])
    add_supports(kit, "kit", "Drums/Kick", [ids["k.wav"]])
    add_supports(kit, "kit", "Drums/Snare", [ids["s.wav"]])
    add_supports(kit, "kit", "Bass", [ids["b.wav"]])
    rename_node(kit, "kit", "Drums/Kick", "Kick Drum")
    move_node(kit, "kit", "Drums/Snare", "Bass")
    assert where(kit) == {"k.wav": ("Drums/Kick Drum", None), "s.wav": ("Bass/Snare", None),
                          "b.wav": ("Bass", None)}
    assert delete_node(kit, "kit", "Bass") == Removed(nodes=2, supports=2)
    assert where(kit) == {"k.wav": ("Drums/Kick Drum", None)}


# -- real files, real scans -------------------------------------------------------------------

def test_supports_survive_moves_and_missing_files_across_rescans(
        library: Library, write_audio, untrained_model, tmp_path: Path) -> None:
    root = tmp_path / "samples"
    kick = write_audio("drums/kick.wav", seconds=1.2, freq=80)
    write_audio("drums/snare.wav", seconds=1.0, freq=900, seed=1)
    first = scan(library, [str(root)], untrained_model, options=INLINE)
    assert first.new == 2
    import_tree(library, KIT)
    assert add_supports(library, "kit", "Drums/Kick", [str(kick)]) == 1
    [before] = list_supports(library, "kit")
    assert (before.path, before.status) == (str(kick), "ok")

    moved = root / "sorted" / "Kick 01.wav"
    moved.parent.mkdir()
    os.rename(kick, moved)
    second = scan(library, [str(root)], untrained_model, options=INLINE)
    assert second.moved == 1
    [after] = list_supports(library, "kit")
    assert (after.sample_id, after.node_path) == (before.sample_id, "Drums/Kick")
    assert (after.path, after.status) == (str(moved), "ok")

    moved.unlink()
    third = scan(library, [str(root)], untrained_model, options=INLINE)
    assert third.missing == 1
    [gone] = list_supports(library, "kit")  # still listed, reported, not dropped
    assert (gone.sample_id, gone.path, gone.status) == (before.sample_id, str(moved), "missing")
    raises("is missing", add_supports, library, "kit", "Bass", [str(moved)])
    assert remove_supports(library, "kit", [str(moved)]) == 1  # a missing one can be removed
    assert list_supports(library, "kit") == []
