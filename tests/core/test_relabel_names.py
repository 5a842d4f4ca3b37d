"""A file that relabel renames or moves gets what its new name states (tempo, key, root
note, loop/one-shot) read again, as a rename a rescan finds does (noted at the end of a
session: relabel's own renames kept the old name's facts for good, since the library's
path follows the batch and no later scan saw a rename); undo too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.analysis import ANALYSIS_VERSION
from core.library import Library
from core.relabel import apply_batch, plan_relabel, undo_batch
from core.scanner import ScanOptions, scan
from tests.analysis_signals import one_shot, write
from tests.core.test_relabel import label, make_tree

INLINE = ScanOptions(jobs=0)


def _facts(lib_path: Path) -> dict[str, tuple]:
    con = sqlite3.connect(str(lib_path))
    try:
        return {Path(p).name: tuple(r) for p, *r in con.execute(
            "SELECT s.path, a.root_midi, a.root_source, a.version FROM samples s "
            "JOIN analysis a ON a.sample_id = s.id")}
    finally:
        con.close()


def _windows(lib_path: Path) -> list[tuple]:
    con = sqlite3.connect(str(lib_path))
    try:
        return con.execute("SELECT * FROM windows ORDER BY sample_id, idx").fetchall()
    finally:
        con.close()


def test_a_relabel_rename_has_the_new_name_read_and_undo_the_old_one(
        tmp_path: Path, untrained_model) -> None:
    pack, dest = tmp_path / "pack", tmp_path / "sorted"
    pack.mkdir()
    write(pack / "Bass_F#2.wav", one_shot(45))  # the name says F#2, the audio A2
    write(pack / "Sub_C1.wav", one_shot(36))  # keeps its name: nothing to read again
    lib_path = tmp_path / "lib.sqlite"
    with Library(lib_path) as lib:
        scan(lib, [str(pack)], untrained_model, options=INLINE)
        known = lib.known_samples()
        tid, nodes = make_tree(lib, "t", ["Bass/Named", "Sub"])
        label(lib, tid, nodes, known[str(pack / "Bass_F#2.wav")].id, "Bass/Named", 0.9,
              "predict")
        label(lib, tid, nodes, known[str(pack / "Sub_C1.wav")].id, "Sub", 0.9, "predict")
    assert _facts(lib_path)["Bass_F#2.wav"] == (42, "name", ANALYSIS_VERSION)
    windows = _windows(lib_path)

    with Library(lib_path) as lib:  # "Bass/Named/Named.wav": a name that states no note
        plan = plan_relabel(lib, "t", "move", dest, layout="{label}/{leaf}_{name}")
        assert plan.files == 2
        apply_batch(lib, plan.batch_id)
    assert (dest / "Bass" / "Named" / "Named_Bass_F#2.wav").exists()
    assert _facts(lib_path)["Named_Bass_F#2.wav"] == (42, "name", ANALYSIS_VERSION)  # same
    with Library(lib_path) as lib:
        plan2 = plan_relabel(lib, "t", "move", tmp_path / "again", layout="{label}/{leaf}")
        report = apply_batch(lib, plan2.batch_id)
        assert report.done == 2
    moved = tmp_path / "again" / "Bass" / "Named" / "Named.wav"
    assert moved.exists()
    got = _facts(lib_path)
    assert got["Named.wav"][:2] == (42, "name")  # kept until the next scan …
    assert got["Named.wav"][2] < ANALYSIS_VERSION  # … which redoes it
    assert got["Sub.wav"][2] < ANALYSIS_VERSION  # "Sub_C1" → "Sub": C1 no longer stated

    with Library(lib_path) as lib:  # the sorted folder scanned: read again, not embedded
        again = scan(lib, [str(tmp_path / "again")], untrained_model, options=INLINE)
    assert again.decoded == 0 and again.analysed == 2
    got = _facts(lib_path)
    assert got["Named.wav"] == (45, "audio", ANALYSIS_VERSION)
    assert _windows(lib_path) == windows

    with Library(lib_path) as lib:  # undo: the old name (F#2) is stated again
        assert undo_batch(lib, plan2.batch_id).restored == 2
    got = _facts(lib_path)
    assert got["Named_Bass_F#2.wav"][2] < ANALYSIS_VERSION
    with Library(lib_path) as lib:
        assert undo_batch(lib, plan.batch_id).restored == 2
        scan(lib, [str(pack)], untrained_model, options=INLINE)
    got = _facts(lib_path)
    assert got["Bass_F#2.wav"] == (42, "name", ANALYSIS_VERSION)
    assert got["Sub_C1.wav"][:2] == (24, "name")
    assert _windows(lib_path) == windows
