"""Relabeling real files on disk: every mode round-trips through undo byte for byte, names
never clash, refusals, disk full / read-only / cross-drive paths, files the user changed,
and a process killed (SIGKILL) mid-batch whose journal recovery loses nothing."""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import insert, select

import core.relabel as relabel
from core.errors import RelabelError
from core.joblock import JobBusy
from core.jobs import CancelToken, Progress
from core.library import Library
from core.relabel import (
    MODES,
    apply_batch,
    list_batches,
    plan_relabel,
    preview,
    recover,
    undo_batch,
)
from core.scanner import ScanOptions, scan
from core.schema import nodes, predictions, relabel_ops, samples, supports, trees

INLINE = ScanOptions(jobs=0)
REPO = Path(__file__).resolve().parents[2]

# rel path → (label path, confidence, how): "predict", "support" (the user's choice, beats
# the prediction), "unknown" (a prediction flagged unknown), "none" (no prediction).
SPEC: dict[str, tuple[str, float, str]] = {
    "bass/b1.wav": ("Bass", 0.99, "support"),
    "kicks/k1.wav": ("Drums/Kick", 0.9, "predict"),
    "kicks/k2.wav": ("Drums/Kick", 0.4, "predict"),
    "misc/n1.wav": ("", 0.0, "none"),
    "misc/r1.wav": ("", 0.3, "predict"),  # the root: no label
    "misc/u1.wav": ("Bass", 0.7, "unknown"),
    "snares/s1.wav": ("Drums/Snare", 0.8, "predict"),
    "snares/s2.wav": ("Drums", 0.6, "predict"),  # backed off to the family
}
LABELED = ["bass/b1.wav", "kicks/k1.wav", "kicks/k2.wav", "snares/s1.wav", "snares/s2.wav"]
TREE_TARGETS = {  # where each labeled file goes under DEST (the default layout keeps its folder,
    # less a first folder that only repeats the label: bass/ under Bass)
    "bass/b1.wav": "Bass/b1.wav", "kicks/k1.wav": "Drums/Kick/kicks/k1.wav",
    "kicks/k2.wav": "Drums/Kick/kicks/k2.wav", "snares/s1.wav": "Drums/Snare/snares/s1.wav",
    "snares/s2.wav": "Drums/snares/s2.wav",
}
RENAMED = {
    "bass/b1.wav": "bass/Bass - b1.wav", "kicks/k1.wav": "kicks/Kick - k1.wav",
    "kicks/k2.wav": "kicks/Kick - k2.wav", "snares/s1.wav": "snares/Snare - s1.wav",
    "snares/s2.wav": "snares/Drums - s2.wav",
}


# -- helpers ------------------------------------------------------------------------------

def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def disk(*folders: Path) -> dict[str, str]:
    """Every file under the folders: path → sha256 (a symlink → "-> target")."""
    out: dict[str, str] = {}
    for folder in folders:
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                p = os.path.join(dirpath, name)
                out[p] = f"-> {os.readlink(p)}" if os.path.islink(p) else sha(p)
    return out


def temps(*folders: Path) -> list[str]:
    return [p for p in disk(*folders) if ".sampletree-" in os.path.basename(p)]


def lib_paths(lib: Library) -> dict[int, str]:
    with lib.reading() as conn:
        return {int(i): p for i, p in conn.execute(select(samples.c.id, samples.c.path))}


def op_states(lib: Library, batch_id: int) -> list[str]:
    with lib.reading() as conn:
        return [s for (s,) in conn.execute(select(relabel_ops.c.state).where(
            relabel_ops.c.batch_id == batch_id).order_by(relabel_ops.c.seq))]


def make_tree(lib: Library, name: str, paths: list[str]) -> tuple[int, dict[str, int]]:
    """A tree with a root ("") and nodes at ``paths`` (ancestors made as needed)."""
    with lib.transaction() as conn:
        tid = conn.execute(insert(trees).values(name=name, created_at=time.time())
                           ).inserted_primary_key[0]
        ids = {"": conn.execute(insert(nodes).values(tree_id=tid, parent_id=None, name="")
                                ).inserted_primary_key[0]}
        for path in paths:
            parts = path.split("/")
            for i in range(1, len(parts) + 1):
                key = "/".join(parts[:i])
                if key not in ids:
                    ids[key] = conn.execute(insert(nodes).values(
                        tree_id=tid, parent_id=ids["/".join(parts[:i - 1])], name=parts[i - 1],
                        position=len(ids))).inserted_primary_key[0]
    return tid, ids


def label(lib: Library, tree_id: int, node_ids: dict[str, int], sample_id: int,
          node: str, confidence: float, how: str) -> None:
    if how == "none":
        return
    with lib.transaction() as conn:
        if how == "support":
            conn.execute(insert(supports).values(tree_id=tree_id, node_id=node_ids[node],
                                                 sample_id=sample_id, created_at=time.time()))
            # The prediction disagrees: the user's choice must win.
            node, confidence = "Drums/Kick", 0.99
        conn.execute(insert(predictions).values(
            tree_id=tree_id, sample_id=sample_id, leaf_id=node_ids[node],
            node_id=node_ids[node], leaf_confidence=confidence, confidence=confidence,
            distance=0.5, backed_off=False, unknown=how == "unknown"))


@dataclass
class Kit:
    lib: Library
    root: Path  # the scanned folder
    tmp: Path
    ids: dict[str, int]  # rel path → sample id
    content: dict[int, str]  # sample id → sha256 when scanned

    def path(self, rel: str) -> Path:
        return self.root / rel


@pytest.fixture
def make_kit(library: Library, write_audio, untrained_model, tmp_path: Path):
    """``make_kit(spec)``: write the files, scan them for real, label them in tree "kit"."""

    def _make(spec: dict[str, tuple[str, float, str]] = SPEC) -> Kit:
        for i, rel in enumerate(sorted(spec)):
            write_audio(rel, seconds=0.2, sr=16_000, seed=i, freq=110.0 + 37 * i)
        root = tmp_path / "samples"
        report = scan(library, [str(root)], untrained_model, options=INLINE)
        assert report.decoded == len(spec) and not report.failed
        known = library.known_samples()
        ids = {rel: known[str(root / rel)].id for rel in spec}
        tid, node_ids = make_tree(library, "kit", ["Drums/Kick", "Drums/Snare", "Bass"])
        for rel, (node, conf, how) in spec.items():
            label(library, tid, node_ids, ids[rel], node, conf, how)
        content = {ids[rel]: sha(root / rel) for rel in spec}
        return Kit(library, root, tmp_path, ids, content)

    return _make


@pytest.fixture
def kit(make_kit) -> Kit:
    return make_kit()


def assert_library_matches_disk(kit: Kit) -> None:
    for sid, path in lib_paths(kit.lib).items():
        assert os.path.isfile(path), path
        assert sha(path) == kit.content[sid], path


def assert_each_file_once(kit: Kit, *folders: Path) -> None:
    """Every scanned file's bytes exist exactly once under the folders, nothing else."""
    found = Counter(v for v in disk(kit.root, *folders).values())
    assert found == Counter(kit.content.values())


# -- every mode round-trips --------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_each_mode_applies_and_undo_restores_every_byte(kit: Kit, mode: str) -> None:
    dest = kit.tmp / "sorted"
    before, before_lib = disk(kit.root), lib_paths(kit.lib)

    plan = plan_relabel(kit.lib, "kit", mode, None if mode == "rename" else dest)

    assert plan.skipped == {"unlabeled": 3}  # unknown, the root, no prediction
    assert plan.files == 5 and not dest.exists()  # planning touches nothing
    assert disk(kit.root) == before
    rows = preview(kit.lib, plan.batch_id)
    assert [r["src"] for r in rows] == [str(kit.path(r)) for r in LABELED]
    assert [r["label"] for r in rows] == [SPEC[r][0] for r in LABELED]
    assert rows[0]["confidence"] == 1.0  # a support: the user's own choice
    assert [r["confidence"] for r in rows[1:]] == pytest.approx([0.9, 0.4, 0.8, 0.6])
    if mode in ("move", "copy", "hardlink", "symlink"):
        assert [r["dst"] for r in rows] == [str(dest / TREE_TARGETS[r]) for r in LABELED]
    elif mode == "rename":
        assert [r["dst"] for r in rows] == [str(kit.path(RENAMED[r])) for r in LABELED]
    else:
        assert {r["dst"] for r in rows} == {str(dest / "labels.csv")}

    progress: list[Progress] = []
    report = apply_batch(kit.lib, plan.batch_id, progress=progress.append)

    assert report.state == "applied" and not report.failed and not report.skipped
    assert op_states(kit.lib, plan.batch_id) == ["done"] * len(plan.ops)
    assert progress[-1].done == progress[-1].total == len(plan.ops)
    assert not temps(kit.root, dest) if dest.exists() else not temps(kit.root)
    after = disk(kit.root, dest) if dest.exists() else disk(kit.root)
    for rel in LABELED:
        src, sid = kit.path(rel), kit.ids[rel]
        if mode == "move":
            target = dest / TREE_TARGETS[rel]
            assert not src.exists() and sha(target) == before[str(src)]
            assert lib_paths(kit.lib)[sid] == str(target)  # same id: labels follow
        elif mode == "rename":
            target = kit.path(RENAMED[rel])
            assert not src.exists() and sha(target) == before[str(src)]
            assert lib_paths(kit.lib)[sid] == str(target)
        elif mode == "copy":
            target = dest / TREE_TARGETS[rel]
            assert not target.is_symlink() and not target.samefile(src)
            assert sha(target) == sha(src) == before[str(src)]
        elif mode == "hardlink":
            assert (dest / TREE_TARGETS[rel]).samefile(src)
        elif mode == "symlink":
            assert after[str(dest / TREE_TARGETS[rel])] == f"-> {src}"
        if mode not in ("move", "rename"):
            assert lib_paths(kit.lib)[sid] == str(src)
    if mode == "sidecar":
        with open(dest / "labels.csv", newline="") as fh:
            table = list(csv.DictReader(fh))
        assert [(r["path"], r["label"], float(r["confidence"])) for r in table] == [
            (str(kit.path(rel)), SPEC[rel][0], pytest.approx(1.0 if rel == "bass/b1.wav"
                                                             else SPEC[rel][1]))
            for rel in LABELED]
        data = json.loads((dest / "labels.json").read_text())
        assert data["tree"] == "kit"
        assert [f["path"] for f in data["files"]] == [str(kit.path(r)) for r in LABELED]
        assert set(after) == {*before, str(dest / "labels.csv"), str(dest / "labels.json")}
    assert_library_matches_disk(kit)
    # Supports follow the sample id wherever the file went.
    with kit.lib.reading() as conn:
        assert conn.execute(select(supports.c.sample_id)).scalar_one() == kit.ids["bass/b1.wav"]

    undone = undo_batch(kit.lib, plan.batch_id)

    assert undone.state == "undone", undone
    assert not undone.kept and not undone.missing and not undone.failed
    assert not undone.modified and not undone.restored_as
    assert disk(kit.root) == before
    assert not dest.exists()  # the folders the batch made are gone again
    assert lib_paths(kit.lib) == before_lib
    assert op_states(kit.lib, plan.batch_id) == ["undone"] * len(plan.ops)
    with pytest.raises(RelabelError, match="already undone"):
        undo_batch(kit.lib, plan.batch_id)
    batches = list_batches(kit.lib)
    assert [(b["id"], b["mode"], b["state"], b["tree"]) for b in batches] == [
        (plan.batch_id, mode, "undone", "kit")]


def test_a_rescan_after_a_move_and_after_its_undo_changes_nothing(
        kit: Kit, untrained_model) -> None:
    """Moving inside a scanned folder: the library already knows every new path."""
    dest = kit.tmp / "sorted"
    plan = plan_relabel(kit.lib, "kit", "rename")
    apply_batch(kit.lib, plan.batch_id)
    again = scan(kit.lib, [str(kit.root)], untrained_model, options=INLINE)
    assert (again.unchanged, again.new, again.moved, again.missing) == (8, 0, 0, 0)
    undo_batch(kit.lib, plan.batch_id)
    again = scan(kit.lib, [str(kit.root)], untrained_model, options=INLINE)
    assert (again.unchanged, again.new, again.moved, again.missing) == (8, 0, 0, 0)
    assert not dest.exists()


# -- what a plan selects -----------------------------------------------------------------

def test_filters_select_files_by_confidence_node_and_folder(kit: Kit) -> None:
    dest = kit.tmp / "out"

    def srcs(plan: relabel.Plan) -> list[str]:
        return [os.path.relpath(op.src, kit.root) for op in plan.ops]

    plan = plan_relabel(kit.lib, "kit", "copy", dest, min_confidence=0.5)
    assert srcs(plan) == ["bass/b1.wav", "kicks/k1.wav", "snares/s1.wav", "snares/s2.wav"]
    assert plan.skipped == {"unlabeled": 3, "low_confidence": 1}
    plan = plan_relabel(kit.lib, "kit", "copy", dest, nodes=["drums/kick"])  # any case
    assert srcs(plan) == ["kicks/k1.wav", "kicks/k2.wav"]
    assert plan.skipped == {"unlabeled": 3, "other_nodes": 3}
    plan = plan_relabel(kit.lib, "kit", "copy", dest, nodes=["Drums"])  # a node and below
    assert srcs(plan) == ["kicks/k1.wav", "kicks/k2.wav", "snares/s1.wav", "snares/s2.wav"]
    plan = plan_relabel(kit.lib, "kit", "copy", dest, nodes=["Bass", "Drums/Snare"],
                        folders=[kit.root / "snares", kit.root / "bass"])
    assert srcs(plan) == ["bass/b1.wav", "snares/s1.wav"]
    assert plan.skipped == {"other_folders": 5, "other_nodes": 1}
    plan = plan_relabel(kit.lib, "KIT", "copy", dest, folders=[kit.root / "kicks"],
                        min_confidence=0.95)
    assert srcs(plan) == [] and plan.skipped == {"other_folders": 6, "low_confidence": 2}
    with pytest.raises(RelabelError, match='no node "Drums/Tom"'):
        plan_relabel(kit.lib, "kit", "copy", dest, nodes=["Drums/Tom"])
    with pytest.raises(RelabelError, match="not a folder"):
        plan_relabel(kit.lib, "kit", "copy", dest, folders=[kit.tmp / "nowhere"])
    assert not dest.exists()


def test_files_not_ok_in_the_library_are_left_out(kit: Kit) -> None:
    kit.lib.mark_missing([kit.ids["kicks/k1.wav"]])
    plan = plan_relabel(kit.lib, "kit", "rename")
    assert [os.path.basename(op.src) for op in plan.ops] == ["b1.wav", "k2.wav", "s1.wav",
                                                             "s2.wav"]
    assert plan.skipped == {"unlabeled": 3, "not_ok": 1}


def test_two_files_with_one_name_and_a_taken_name_never_overwrite(make_kit) -> None:
    spec = {"a/k.wav": ("Drums/Kick", 0.9, "predict"), "b/k.wav": ("Drums/Kick", 0.8, "predict"),
            "c/K.WAV": ("Drums/Kick", 0.7, "predict")}
    kit = make_kit(spec)
    dest = kit.tmp / "out"
    (dest / "Drums" / "Kick").mkdir(parents=True)
    (dest / "Drums" / "Kick" / "k.wav").write_bytes(b"the user's own file")
    before = disk(kit.root, dest)

    plan = plan_relabel(kit.lib, "kit", "move", dest, layout="{label}/{name}")  # flat

    kick = dest / "Drums" / "Kick"
    # Sorted by path, so the plan is the same every time; names compared ignoring case.
    assert [op.dst for op in plan.ops] == [str(kick / "k (2).wav"), str(kick / "k (3).wav"),
                                           str(kick / "K (4).WAV")]
    # Someone takes a planned name before the batch runs: the next free one is used.
    (kick / "k (3).wav").write_bytes(b"appeared since the plan")
    report = apply_batch(kit.lib, plan.batch_id)
    assert report.state == "applied"
    assert report.renamed == [(str(kick / "k (3).wav"), str(kick / "k (4).wav")),
                              (str(kick / "K (4).WAV"), str(kick / "K (5).WAV"))]
    assert (kick / "k.wav").read_bytes() == b"the user's own file"
    assert (kick / "k (3).wav").read_bytes() == b"appeared since the plan"
    assert sha(kick / "k (4).wav") == before[str(kit.path("b/k.wav"))]
    assert sha(kick / "K (5).WAV") == before[str(kit.path("c/K.WAV"))]
    assert_library_matches_disk(kit)

    undone = undo_batch(kit.lib, plan.batch_id)
    assert undone.state == "undone"
    assert disk(kit.root, dest) == {**before, str(kick / "k (3).wav"): sha(kick / "k (3).wav")}


def test_rename_leaves_a_file_that_already_carries_its_label(make_kit) -> None:
    kit = make_kit({"x/Kick - a.wav": ("Drums/Kick", 0.9, "predict"),
                    "x/b.wav": ("Drums/Kick", 0.9, "predict")})
    plan = plan_relabel(kit.lib, "kit", "rename", prefix_sep=" - ")
    assert [os.path.basename(op.dst) for op in plan.ops] == ["Kick - b.wav"]
    assert plan.skipped == {"already_named": 1}
    plan = plan_relabel(kit.lib, "kit", "rename", prefix_sep="_")
    assert [os.path.basename(op.dst) for op in plan.ops] == ["Kick_Kick - a.wav", "Kick_b.wav"]


def test_a_sidecar_never_overwrites_one_already_there(kit: Kit) -> None:
    dest = kit.tmp / "out"
    dest.mkdir()
    (dest / "labels.csv").write_text("mine\n")
    (dest / "labels-2.json").write_text("{}\n")
    plan = plan_relabel(kit.lib, "kit", "sidecar", dest)
    assert plan.ops[0].dst == str(dest / "labels-3.csv")
    apply_batch(kit.lib, plan.batch_id)
    assert sorted(os.listdir(dest)) == ["labels-2.json", "labels-3.csv", "labels-3.json",
                                        "labels.csv"]
    assert (dest / "labels.csv").read_text() == "mine\n"
    undo_batch(kit.lib, plan.batch_id)
    assert sorted(os.listdir(dest)) == ["labels-2.json", "labels.csv"]


# -- refusals ------------------------------------------------------------------------------

def test_refusals_say_why_and_store_nothing(kit: Kit, monkeypatch) -> None:
    inside = kit.root / "sorted"
    for mode in ("move", "copy", "hardlink", "symlink"):
        with pytest.raises(RelabelError, match=r"inside .* a folder being relabeled"):
            plan_relabel(kit.lib, "kit", mode, inside)
    with pytest.raises(RelabelError, match="inside"):  # the selected folder, precisely
        plan_relabel(kit.lib, "kit", "copy", kit.root / "kicks" / "out",
                     folders=[kit.root / "kicks"])
    with pytest.raises(RelabelError, match='no tree named "drums"'):
        plan_relabel(kit.lib, "drums", "copy", kit.tmp / "out")
    with pytest.raises(RelabelError, match="unknown relabel mode"):
        plan_relabel(kit.lib, "kit", "shuffle", kit.tmp / "out")
    with pytest.raises(RelabelError, match="needs a destination"):
        plan_relabel(kit.lib, "kit", "copy")
    with pytest.raises(RelabelError, match="takes no destination"):
        plan_relabel(kit.lib, "kit", "rename", kit.tmp / "out")
    (kit.tmp / "afile").write_text("x")
    with pytest.raises(RelabelError, match="is a file, not a folder"):
        plan_relabel(kit.lib, "kit", "copy", kit.tmp / "afile")
    with pytest.raises(RelabelError, match="not a folder"):
        plan_relabel(kit.lib, "kit", "copy", kit.tmp / "afile" / "sub")

    # A destination that cannot be written: the real write fails (as on a read-only drive).
    def read_only(*_a, **_k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(RelabelError, match="not writable: Read-only file system"):
        plan_relabel(kit.lib, "kit", "copy", kit.tmp / "out")
    monkeypatch.undo()
    if os.geteuid() != 0:  # root writes through permission bits
        locked = kit.tmp / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(RelabelError, match="not writable"):
            plan_relabel(kit.lib, "kit", "copy", locked / "out")
    assert list_batches(kit.lib) == []
    # Outside the selected folders the destination is fine, and a sidecar may go anywhere.
    plan_relabel(kit.lib, "kit", "copy", kit.root / "out", folders=[kit.root / "kicks"])
    plan_relabel(kit.lib, "kit", "sidecar", kit.root)


def test_apply_and_undo_refuse_the_wrong_state(kit: Kit) -> None:
    plan = plan_relabel(kit.lib, "kit", "rename")
    with pytest.raises(RelabelError, match="never applied"):
        undo_batch(kit.lib, plan.batch_id)
    apply_batch(kit.lib, plan.batch_id)
    with pytest.raises(RelabelError, match="is applied"):
        apply_batch(kit.lib, plan.batch_id)
    with pytest.raises(RelabelError, match="no relabel batch 99"):
        apply_batch(kit.lib, 99)
    undo_batch(kit.lib, plan.batch_id)
    with pytest.raises(RelabelError, match="is undone"):
        apply_batch(kit.lib, plan.batch_id)


# -- files that changed, and the user's hand after the batch --------------------------------

def test_files_changed_since_the_plan_are_skipped(kit: Kit) -> None:
    dest = kit.tmp / "out"
    plan = plan_relabel(kit.lib, "kit", "move", dest)
    with open(kit.path("kicks/k1.wav"), "ab") as fh:
        fh.write(b"edited")
    edited = sha(kit.path("kicks/k1.wav"))
    st = kit.path("kicks/k2.wav").stat()  # touched, same bytes: still moved
    os.utime(kit.path("kicks/k2.wav"), ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))
    kit.path("snares/s1.wav").unlink()

    report = apply_batch(kit.lib, plan.batch_id)

    assert report.state == "applied" and report.done == 3
    assert sorted((os.path.basename(p), why) for p, why in report.skipped) == [
        ("k1.wav", "changed since the plan"), ("s1.wav", "the file is gone since the plan")]
    assert op_states(kit.lib, plan.batch_id) == ["done", "skipped", "done", "skipped", "done"]
    assert sha(kit.path("kicks/k1.wav")) == edited
    assert (dest / TREE_TARGETS["kicks/k2.wav"]).exists()
    undo_batch(kit.lib, plan.batch_id)
    assert sha(kit.path("kicks/k1.wav")) == edited
    assert sha(kit.path("kicks/k2.wav")) == kit.content[kit.ids["kicks/k2.wav"]]
    assert not dest.exists()


@pytest.mark.parametrize("mode", ["move", "sidecar"])
def test_files_replaced_since_the_scan_are_left_out_of_the_plan(kit: Kit, write_audio,
                                                                  mode: str) -> None:
    """Trust review: a file replaced by other audio under the same name after the scan
    was moved by the label of the audio it no longer holds (a tone filed under Drums/Kick).
    It is left out now, counted as "changed"; a file only touched (same bytes) still goes."""
    replaced = kit.path("kicks/k1.wav")
    write_audio("kicks/k1.wav", seconds=0.7, sr=16_000, freq=880.0, seed=99)
    touched = kit.path("kicks/k2.wav")
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**10))

    plan = plan_relabel(kit.lib, "kit", mode, kit.tmp / "out")

    assert plan.skipped.get("changed") == 1, plan.skipped
    if mode == "move":
        srcs = {op.src for op in plan.ops}
        assert str(replaced) not in srcs and str(touched) in srcs
        assert plan.files == len(LABELED) - 1
    else:
        assert plan.files == len(LABELED) - 1


def test_undo_after_the_user_moved_deleted_changed_and_replaced_files(kit: Kit) -> None:
    dest = kit.tmp / "out"
    plan = plan_relabel(kit.lib, "kit", "move", dest)
    apply_batch(kit.lib, plan.batch_id)
    k1, k2, s1 = (dest / TREE_TARGETS[r] for r in ("kicks/k1.wav", "kicks/k2.wav",
                                                    "snares/s1.wav"))
    with open(k1, "ab") as fh:  # changed where it was moved to
        fh.write(b"edited")
    edited = sha(k1)
    k2.unlink()  # deleted
    elsewhere = kit.tmp / "elsewhere"
    elsewhere.mkdir()
    shutil.move(s1, elsewhere / "s1.wav")  # moved away
    kit.path("bass/b1.wav").write_bytes(b"a new file where b1 was")  # its old place taken
    (dest / "Bass" / "notes.txt").write_text("the user's own file")

    report = undo_batch(kit.lib, plan.batch_id)

    assert report.state == "undone"
    assert report.restored == 3  # k1 (modified), s2, b1 (under another name)
    assert report.modified == [str(kit.path("kicks/k1.wav"))]
    assert sorted(os.path.basename(p) for p, _why in report.missing) == ["k2.wav", "s1.wav"]
    # each line says the path once ("PATH: no longer there …"; it said it twice)
    assert all(why.startswith("no longer there") and p not in why for p, why in report.missing)
    restored_b1 = kit.path("bass/b1 (restored).wav")
    assert report.restored_as == [(str(kit.path("bass/b1.wav")), str(restored_b1))]
    assert "moved back although modified" in report.message
    # Nothing was lost or overwritten.
    assert sha(kit.path("kicks/k1.wav")) == edited
    assert sha(restored_b1) == kit.content[kit.ids["bass/b1.wav"]]
    assert kit.path("bass/b1.wav").read_bytes() == b"a new file where b1 was"
    assert sha(elsewhere / "s1.wav") == kit.content[kit.ids["snares/s1.wav"]]
    assert sha(kit.path("snares/s2.wav")) == kit.content[kit.ids["snares/s2.wav"]]
    assert (dest / "Bass" / "notes.txt").read_text() == "the user's own file"
    assert not (dest / "Drums").exists()  # emptied folders the batch made are removed
    paths = lib_paths(kit.lib)
    assert paths[kit.ids["bass/b1.wav"]] == str(restored_b1)
    assert paths[kit.ids["kicks/k1.wav"]] == str(kit.path("kicks/k1.wav"))
    assert paths[kit.ids["snares/s2.wav"]] == str(kit.path("snares/s2.wav"))
    assert paths[kit.ids["kicks/k2.wav"]] == str(k2)  # gone: left for the next scan to mark


def test_undo_of_a_copy_keeps_an_edited_copy_and_puts_back_a_lost_original(kit: Kit) -> None:
    dest = kit.tmp / "out"
    plan = plan_relabel(kit.lib, "kit", "copy", dest)
    apply_batch(kit.lib, plan.batch_id)
    k1_copy = dest / TREE_TARGETS["kicks/k1.wav"]
    with open(k1_copy, "ab") as fh:
        fh.write(b"edited")
    kit.path("kicks/k2.wav").unlink()  # the original is gone: the copy is the only one

    report = undo_batch(kit.lib, plan.batch_id)

    assert report.state == "undone" and report.removed == 3 and report.restored == 1
    assert report.kept == [(str(k1_copy), "modified since it was made; kept")]
    assert sha(kit.path("kicks/k2.wav")) == kit.content[kit.ids["kicks/k2.wav"]]
    assert [str(p) for p in dest.rglob("*") if p.is_file()] == [str(k1_copy)]
    assert_library_matches_disk(kit)


# -- the operating system says no ----------------------------------------------------------

def test_an_undo_refused_by_the_original_folder_names_that_folder(kit: Kit,
                                                                   monkeypatch) -> None:
    """Trust review: an undo whose original folder had become read-only said "no
    permission to write in DEST/Drums/Kick/kicks" (the folder the file sat in, which was
    fine): link(2) and rename(2) name both files and the error's first one is the source."""
    dest = kit.tmp / "out"
    plan = plan_relabel(kit.lib, "kit", "move", dest)
    apply_batch(kit.lib, plan.batch_id)

    def refused(src: str, dst: str) -> None:  # as os.link says it
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), src, None, dst)

    monkeypatch.setattr(relabel.disksteps, "_rename", refused)
    report = undo_batch(kit.lib, plan.batch_id)
    assert report.state == "failed"
    why = report.failed[0][1]
    assert why.startswith("no permission to write in " + str(kit.root)), why
    assert str(dest) not in why
    monkeypatch.undo()
    assert undo_batch(kit.lib, plan.batch_id).state == "undone"
    assert_library_matches_disk(kit)


def test_a_read_only_drive_stops_the_batch_and_undo_restores(kit: Kit, monkeypatch) -> None:
    dest = kit.tmp / "out"
    before, before_lib = disk(kit.root), lib_paths(kit.lib)
    plan = plan_relabel(kit.lib, "kit", "move", dest)
    real, calls = relabel.disksteps._rename, []

    def rename(src: str, dst: str) -> None:
        calls.append(src)
        if len(calls) == 3:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), dst)
        real(src, dst)

    monkeypatch.setattr(relabel.disksteps, "_rename", rename)
    report = apply_batch(kit.lib, plan.batch_id)

    assert report.state == "failed" and report.done == 2
    assert "read-only drive" in report.message and "stopped after 2 of 5" in report.message
    assert report.failed == [(str(kit.path("kicks/k2.wav")), report.failed[0][1])]
    assert op_states(kit.lib, plan.batch_id) == ["done", "done", "failed", "planned", "planned"]
    assert list_batches(kit.lib)[0]["state"] == "failed"
    assert not temps(kit.root, dest)
    assert_each_file_once(kit, dest)
    assert_library_matches_disk(kit)
    monkeypatch.undo()

    undone = undo_batch(kit.lib, plan.batch_id)
    assert undone.state == "undone" and undone.restored == 2
    assert disk(kit.root) == before and lib_paths(kit.lib) == before_lib
    assert not dest.exists()


def test_a_full_disk_stops_the_batch_leaves_no_partial_file_and_can_be_finished(
        kit: Kit, monkeypatch) -> None:
    dest = kit.tmp / "out"
    before = disk(kit.root)
    plan = plan_relabel(kit.lib, "kit", "copy", dest)
    real, calls = relabel.disksteps._copy, []

    def copy(src: str, dst: str, **kwargs) -> None:
        calls.append(dst)
        if len(calls) == 3:
            Path(dst).write_bytes(Path(src).read_bytes()[:100])  # half written, then full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)
        real(src, dst, **kwargs)

    monkeypatch.setattr(relabel.disksteps, "_copy", copy)
    report = apply_batch(kit.lib, plan.batch_id)

    assert report.state == "failed" and report.done == 2
    assert report.message.startswith(
        f"no space left on the drive of {dest / 'Drums/Kick/kicks'}")
    assert os.path.basename(calls[2]).startswith(".sampletree-")  # never the final name
    assert not temps(kit.root, dest)
    assert sorted(os.path.relpath(p, dest) for p in disk(dest)) == [
        TREE_TARGETS["bass/b1.wav"], TREE_TARGETS["kicks/k1.wav"]]
    monkeypatch.undo()

    # Space was freed: applying it again finishes the batch.
    again = apply_batch(kit.lib, plan.batch_id)
    assert again.state == "applied" and again.done == 3
    assert sorted(os.path.relpath(p, dest) for p in disk(dest)) == sorted(TREE_TARGETS.values())
    undo_batch(kit.lib, plan.batch_id)
    assert disk(kit.root) == before and not dest.exists()


def test_a_cross_drive_move_copies_verifies_then_deletes(kit: Kit, monkeypatch) -> None:
    dest = kit.tmp / "out"
    before, before_lib = disk(kit.root), lib_paths(kit.lib)
    plan = plan_relabel(kit.lib, "kit", "move", dest)
    real_rename, real_copy = relabel.disksteps._rename, relabel.disksteps._copy
    exdev: list[str] = []
    copies: list[tuple[str, str]] = []

    def rename(src: str, dst: str) -> None:
        if os.path.basename(src) == os.path.basename(target) and src not in exdev:
            exdev.append(src)  # once per direction
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
        real_rename(src, dst)

    def copy(src: str, dst: str, **kwargs) -> None:
        copies.append((src, dst))
        real_copy(src, dst, **kwargs)

    monkeypatch.setattr(relabel.disksteps, "_rename", rename)
    monkeypatch.setattr(relabel.disksteps, "_copy", copy)
    target = kit.path("kicks/k1.wav")
    report = apply_batch(kit.lib, plan.batch_id)

    moved = dest / TREE_TARGETS["kicks/k1.wav"]
    assert report.state == "applied" and report.done == 5
    assert copies == [(str(target), str(moved.parent / ".sampletree-1-2.part"))]
    assert not target.exists() and sha(moved) == before[str(target)]
    assert not temps(kit.root, dest)
    assert lib_paths(kit.lib)[kit.ids["kicks/k1.wav"]] == str(moved)

    target = moved  # and the same on the way back
    undone = undo_batch(kit.lib, plan.batch_id)
    assert undone.state == "undone" and len(copies) == 2 and len(exdev) == 2
    assert disk(kit.root) == before and lib_paths(kit.lib) == before_lib


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm")
def test_a_real_cross_drive_move(kit: Kit) -> None:
    if os.stat("/dev/shm").st_dev == os.stat(kit.tmp).st_dev:
        pytest.skip("/dev/shm is on the same drive as the temporary folder")
    before, before_lib = disk(kit.root), lib_paths(kit.lib)
    dest = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="sampletree-test-"))
    try:
        plan = plan_relabel(kit.lib, "kit", "move", dest)
        assert apply_batch(kit.lib, plan.batch_id).state == "applied"
        assert_each_file_once(kit, dest)
        assert_library_matches_disk(kit)
        assert not temps(kit.root, dest)
        assert undo_batch(kit.lib, plan.batch_id).state == "undone"
        assert disk(kit.root) == before and lib_paths(kit.lib) == before_lib
        assert os.listdir(dest) == []
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_a_hard_link_across_drives_fails_that_file_only(kit: Kit, monkeypatch) -> None:
    dest = kit.tmp / "out"
    plan = plan_relabel(kit.lib, "kit", "hardlink", dest)
    real = relabel.disksteps._hardlink

    def hardlink(src: str, dst: str) -> None:
        if src.endswith("k1.wav"):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
        real(src, dst)

    monkeypatch.setattr(relabel.disksteps, "_hardlink", hardlink)
    report = apply_batch(kit.lib, plan.batch_id)

    assert report.state == "applied" and report.done == 4
    assert len(report.failed) == 1 and "cannot cross drives" in report.failed[0][1]
    assert op_states(kit.lib, plan.batch_id) == ["done", "failed", "done", "done", "done"]
    assert not (dest / TREE_TARGETS["kicks/k1.wav"]).exists()
    assert undo_batch(kit.lib, plan.batch_id).removed == 4
    assert not dest.exists()


def test_cancel_stops_between_files_and_the_batch_can_be_finished_or_undone(kit: Kit) -> None:
    dest = kit.tmp / "out"
    before = disk(kit.root)
    plan = plan_relabel(kit.lib, "kit", "move", dest)
    token = CancelToken()

    def cancel_after_two(p: Progress) -> None:
        if p.done == 2:
            token.cancel()

    report = apply_batch(kit.lib, plan.batch_id, progress=cancel_after_two, cancel=token)
    assert report.cancelled and report.done == 2
    assert op_states(kit.lib, plan.batch_id) == ["done", "done", "planned", "planned", "planned"]
    assert_each_file_once(kit, dest)
    assert apply_batch(kit.lib, plan.batch_id).done == 3
    assert op_states(kit.lib, plan.batch_id) == ["done"] * 5
    assert undo_batch(kit.lib, plan.batch_id).restored == 5
    assert disk(kit.root) == before


# -- crashes at every point of a step (in process), then recover() ---------------------------

class Crash(BaseException):
    """The process dies here (nothing below it in the stack runs its error handling)."""


def _crash_after_link(real_rename, real_copy):
    def rename(src, dst):
        os.link(src, dst)
        raise Crash()
    return rename, real_copy


def _crash_mid_cross_drive_copy(real_rename, real_copy):
    def rename(src, dst):
        if not os.path.basename(src).startswith(".sampletree-"):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
        real_rename(src, dst)

    def copy(src, dst, **kwargs):
        real_copy(src, dst, **kwargs)
        raise Crash()
    return rename, copy


def _crash_before_deleting_the_original(real_rename, real_copy):
    def rename(src, dst):
        if not os.path.basename(src).startswith(".sampletree-"):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
        real_rename(src, dst)
        raise Crash()
    return rename, real_copy


def _crash_before_touching_anything(real_rename, real_copy):
    def rename(src, dst):
        raise Crash()
    return rename, real_copy


@pytest.mark.parametrize("crash", [_crash_after_link, _crash_mid_cross_drive_copy,
                                   _crash_before_deleting_the_original,
                                   _crash_before_touching_anything])
@pytest.mark.parametrize("during", ["apply", "undo"])
def test_recover_settles_a_step_cut_short(kit: Kit, monkeypatch, crash, during: str) -> None:
    dest = kit.tmp / "out"
    before, before_lib = disk(kit.root), lib_paths(kit.lib)
    plan = plan_relabel(kit.lib, "kit", "move", dest)
    if during == "undo":
        apply_batch(kit.lib, plan.batch_id)
    rename, copy = crash(relabel.disksteps._rename, relabel.disksteps._copy)
    monkeypatch.setattr(relabel.disksteps, "_rename", rename)
    monkeypatch.setattr(relabel.disksteps, "_copy", copy)
    with pytest.raises(Crash):
        (apply_batch if during == "apply" else undo_batch)(kit.lib, plan.batch_id)
    monkeypatch.undo()
    assert list_batches(kit.lib)[0]["state"] == ("applying" if during == "apply" else "undoing")
    assert "started" in op_states(kit.lib, plan.batch_id)

    messages = recover(kit.lib)

    assert len(messages) == 1 and f"batch {plan.batch_id} was interrupted" in messages[0]
    assert "started" not in op_states(kit.lib, plan.batch_id)
    assert not temps(kit.root, dest)
    assert_each_file_once(kit, dest)
    assert_library_matches_disk(kit)
    # The journal says where each file is.
    with kit.lib.reading() as conn:
        for src, dst, state in conn.execute(select(relabel_ops.c.src, relabel_ops.c.dst,
                                                   relabel_ops.c.state)):
            assert os.path.exists(dst if state == "done" else src), (src, state)
    assert recover(kit.lib) == []
    # And it can be finished, then undone.
    if during == "apply":
        assert list_batches(kit.lib)[0]["state"] in ("applied", "failed")
        if list_batches(kit.lib)[0]["state"] == "failed":
            assert apply_batch(kit.lib, plan.batch_id).state == "applied"
    else:
        assert list_batches(kit.lib)[0]["state"] == "failed"
    assert undo_batch(kit.lib, plan.batch_id).state == "undone"
    assert disk(kit.root) == before and lib_paths(kit.lib) == before_lib
    assert not dest.exists()


def test_recover_leaves_a_batch_another_process_is_running(kit: Kit) -> None:
    plan = plan_relabel(kit.lib, "kit", "rename")
    with kit.lib.transaction() as conn:
        conn.exec_driver_sql(f"UPDATE relabel_batches SET state = 'applying' "
                             f"WHERE id = {plan.batch_id}")
    with relabel.journal._exclusive(kit.lib):  # the other process holds the lock
        assert "another process" in recover(kit.lib)[0]
        with pytest.raises(JobBusy, match="busy: a relabel is running on this library"):
            apply_batch(kit.lib, plan.batch_id)
    assert "interrupted" in recover(kit.lib)[0]
    assert list_batches(kit.lib)[0]["state"] == "failed"


# -- kill -9 in the middle of a batch ----------------------------------------------------------

N_KILL = 200


@pytest.mark.timeout(120)
def test_kill_9_mid_batch_then_recover_loses_nothing(
        library: Library, library_path: Path, write_audio, untrained_model,
        tmp_path: Path) -> None:
    for i in range(N_KILL):
        write_audio(f"d{i % 7}/f{i:03}.wav", seconds=0.1, sr=8_000, seed=i, freq=100.0 + 7 * i)
    root, dest = tmp_path / "samples", tmp_path / "sorted"
    assert scan(library, [str(root)], untrained_model, options=INLINE).decoded == N_KILL
    known = library.known_samples()
    tid, node_ids = make_tree(library, "kit", ["Drums/Kick", "Drums/Snare", "Bass"])
    leaves = ["Drums/Kick", "Drums/Snare", "Bass", "Drums"]
    for i, k in enumerate(sorted(known.values(), key=lambda k: k.path)):
        label(library, tid, node_ids, k.id, leaves[i % 4], 0.9, "predict")
    content = {k.id: sha(k.path) for k in known.values()}
    kit = Kit(library, root, tmp_path, {}, content)
    original, original_lib = disk(root), lib_paths(library)
    library.close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))

    for kill_at, variant in ((20, "plain"), (60, "exdev"), (140, "plain")):
        with Library(library_path) as lib:
            plan = plan_relabel(lib, "kit", "move", dest)
        assert len(plan.ops) == N_KILL
        child = subprocess.Popen(
            [sys.executable, str(REPO / "tests/core/relabel_child.py"), str(library_path),
             str(plan.batch_id), variant, "0.004"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and child.poll() is None:
                with closing(sqlite3.connect(str(library_path), timeout=10)) as conn:
                    states = dict(conn.execute(
                        "SELECT state, count(*) FROM relabel_ops WHERE batch_id = ? "
                        "GROUP BY state", (plan.batch_id,)).fetchall())
                # Between two files; or, copying across drives, in the middle of one.
                if states.get("done", 0) >= kill_at and (
                        variant == "plain" or states.get("started")):
                    break
                time.sleep(0.002)
            assert child.poll() is None, child.communicate()
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == -signal.SIGKILL

        with Library(library_path) as lib:
            kit.lib = lib
            assert list_batches(lib)[-1]["state"] == "applying"
            messages = recover(lib)
            assert len(messages) == 1 and "interrupted" in messages[0]
            states = Counter(op_states(lib, plan.batch_id))
            assert set(states) <= {"done", "planned"} and kill_at <= states["done"] < N_KILL
            assert list_batches(lib)[-1]["state"] == "failed"
            # Every file exactly once, byte-identical, where the library says.
            assert not temps(root, dest)
            assert_each_file_once(kit, dest)
            assert_library_matches_disk(kit)
            with lib.reading() as conn:
                for src, dst, state in conn.execute(
                        select(relabel_ops.c.src, relabel_ops.c.dst, relabel_ops.c.state)
                        .where(relabel_ops.c.batch_id == plan.batch_id)):
                    assert os.path.isfile(dst if state == "done" else src)
                    assert not os.path.exists(src if state == "done" else dst)

            undone = undo_batch(lib, plan.batch_id)
            assert undone.state == "undone" and undone.restored == states["done"]
            assert disk(root) == original and lib_paths(lib) == original_lib
            assert not dest.exists()


# -- odd names, and sidecars after the fact ---------------------------------------------------

def test_names_that_are_not_utf8_or_very_long(library: Library, write_audio, untrained_model,
                                              tmp_path: Path) -> None:
    root, dest = tmp_path / "samples", tmp_path / "out"
    bad = str(root / "x" / os.fsdecode(b"caf\xe9.wav"))
    os.rename(write_audio("x/a.wav", seconds=0.2, sr=16_000), bad)
    long = write_audio("x/" + "L" * 236 + ".wav", seconds=0.2, sr=16_000, seed=1)
    scan(library, [str(root)], untrained_model, options=INLINE)
    known = library.known_samples()
    tid, node_ids = make_tree(library, "kit", ["Drums/Kick"])
    for k in known.values():
        label(library, tid, node_ids, k.id, "Drums/Kick", 0.9, "predict")
    kit = Kit(library, root, tmp_path, {}, {k.id: sha(k.path) for k in known.values()})
    before, before_lib = disk(root), lib_paths(library)

    plan = plan_relabel(library, "kit", "rename")
    assert [op.dst for op in plan.ops] == [os.path.join(os.path.dirname(bad), os.fsdecode(
        b"Kick - caf\xe9.wav"))]
    assert plan.skipped == {"name_too_long": 1}
    apply_batch(library, plan.batch_id)
    assert_library_matches_disk(kit)
    undo_batch(library, plan.batch_id)
    assert disk(root) == before and lib_paths(library) == before_lib

    plan = plan_relabel(library, "kit", "move", dest)  # a long name moves unchanged
    assert sorted(os.path.basename(op.dst) for op in plan.ops) == sorted(
        [os.path.basename(bad), long.name])
    apply_batch(library, plan.batch_id)
    assert_each_file_once(kit, dest)
    assert_library_matches_disk(kit)
    undo_batch(library, plan.batch_id)
    assert disk(root) == before and lib_paths(library) == before_lib

    plan = plan_relabel(library, "kit", "sidecar", dest)
    apply_batch(library, plan.batch_id)
    assert os.fsencode(bad) in (dest / "labels.csv").read_bytes()  # the raw bytes
    files = json.loads((dest / "labels.json").read_text(encoding="utf-8"))["files"]
    assert sorted(f["path"] for f in files) == sorted([bad, str(long)])
    assert [r["src"] for r in preview(library, plan.batch_id)] == sorted([bad, str(long)])
    assert undo_batch(library, plan.batch_id).removed == 2
    assert not dest.exists()


def test_an_edited_sidecar_is_kept_by_undo(kit: Kit) -> None:
    dest = kit.tmp / "out"
    plan = plan_relabel(kit.lib, "kit", "sidecar", dest)
    apply_batch(kit.lib, plan.batch_id)
    with open(dest / "labels.csv", "a") as fh:
        fh.write("my,own,row\n")
    report = undo_batch(kit.lib, plan.batch_id)
    assert report.removed == 1
    assert report.kept == [(str(dest / "labels.csv"), "changed since it was written; kept")]
    assert os.listdir(dest) == ["labels.csv"]


def test_recover_settles_a_sidecar_cut_short(kit: Kit, monkeypatch) -> None:
    dest = kit.tmp / "out"
    plan = plan_relabel(kit.lib, "kit", "sidecar", dest)
    real, calls = relabel.disksteps._rename, []

    def rename(src: str, dst: str) -> None:
        calls.append(dst)
        real(src, dst)
        if len(calls) == 1:
            raise Crash()  # labels.csv in place, labels.json still a temporary file

    monkeypatch.setattr(relabel.disksteps, "_rename", rename)
    with pytest.raises(Crash):
        apply_batch(kit.lib, plan.batch_id)
    monkeypatch.undo()
    assert sorted(os.listdir(dest)) == [".sampletree-1-1-json.part", "labels.csv"]
    assert "interrupted" in recover(kit.lib)[0]
    assert os.listdir(dest) == []  # half a sidecar is no sidecar
    assert op_states(kit.lib, plan.batch_id) == ["planned"]
    assert apply_batch(kit.lib, plan.batch_id).state == "applied"
    assert sorted(os.listdir(dest)) == ["labels.csv", "labels.json"]
    undo_batch(kit.lib, plan.batch_id)
    assert not dest.exists()


# -- issue #10: one job at a time, resuming, no "(2)" on a second run, empty destination,
#    the full drive named, undo marking what it could not restore -----------------------------

def make_many(library: Library, tmp_path: Path, write_audio, untrained_model, n: int) -> Kit:
    """``n`` small files in 7 folders, scanned, each labeled in tree "kit"."""
    for i in range(n):
        write_audio(f"d{i % 7}/f{i:03}.wav", seconds=0.1, sr=8_000, seed=i, freq=100.0 + 7 * i)
    root = tmp_path / "samples"
    assert scan(library, [str(root)], untrained_model, options=INLINE).decoded == n
    known = library.known_samples()
    tid, node_ids = make_tree(library, "kit", ["Drums/Kick", "Drums/Snare", "Bass"])
    leaves = ["Drums/Kick", "Drums/Snare", "Bass", "Drums"]
    for i, k in enumerate(sorted(known.values(), key=lambda k: k.path)):
        label(library, tid, node_ids, k.id, leaves[i % 4], 0.9, "predict")
    return Kit(library, root, tmp_path, {}, {k.id: sha(k.path) for k in known.values()})


def start_child(library_path: Path, batch_id: int, nap: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.Popen(
        [sys.executable, str(REPO / "tests/core/relabel_child.py"), str(library_path),
         str(batch_id), "plain", str(nap)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def wait_for_done(child: subprocess.Popen[bytes], library_path: Path, batch_id: int,
                  at_least: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        with closing(sqlite3.connect(str(library_path), timeout=10)) as conn:
            (done,) = conn.execute("SELECT count(*) FROM relabel_ops WHERE batch_id = ? AND "
                                   "state = 'done'", (batch_id,)).fetchone()
        if done >= at_least:
            return
        time.sleep(0.005)
    raise AssertionError(f"the child never got to {at_least} files: {child.communicate()}")


def assert_library_agrees_with_disk(lib: Library) -> None:
    """No sample ``ok`` at a path that is gone, none ``missing`` at a path that is there."""
    with lib.reading() as conn:
        rows = conn.execute(select(samples.c.path, samples.c.status)).all()
    ok_but_gone = [p for p, s in rows if s == "ok" and not os.path.exists(p)]
    missing_but_there = [p for p, s in rows if s == "missing" and os.path.exists(p)]
    assert (ok_but_gone, missing_but_there) == ([], [])


N_BUSY = 120


@pytest.mark.timeout(180)
def test_a_scan_while_a_relabel_moves_files_is_refused_and_the_library_stays_right(
        library: Library, library_path: Path, write_audio, untrained_model,
        tmp_path: Path) -> None:
    """Issue #10: a scan of the source folder 0.3 s into a relabel left files missing that
    were at their new path, and ok at paths that were gone. Now the scan is refused with a
    message naming the relabel, and the library ends right."""
    kit = make_many(library, tmp_path, write_audio, untrained_model, N_BUSY)
    dest = tmp_path / "sorted"
    plan = plan_relabel(library, "kit", "move", dest)
    child = start_child(library_path, plan.batch_id, 0.01)
    refused = 0
    try:
        wait_for_done(child, library_path, plan.batch_id, 5)
        while child.poll() is None:
            try:
                scan(library, [str(kit.root)], untrained_model, options=INLINE)
            except JobBusy as busy:
                assert f"busy: a relabel is running on this library (process {child.pid})" \
                    in str(busy)
                refused += 1
            else:  # only once the relabel is over (the child may still be exiting)
                assert list_batches(library)[-1]["state"] == "applied", \
                    "a scan ran beside the relabel"
                break
            time.sleep(0.05)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0 and out.strip() == b"finished", err
    assert refused >= 3
    assert op_states(library, plan.batch_id) == ["done"] * N_BUSY
    again = scan(library, [str(kit.root)], untrained_model, options=INLINE)
    assert (again.new, again.missing) == (0, 0)
    assert_library_agrees_with_disk(library)
    assert_each_file_once(kit, dest)
    assert_library_matches_disk(kit)
    assert not list(library_path.parent.glob("*.lock"))  # issue #15: no lock file left


def test_a_relabel_undo_or_recovery_while_a_scan_runs_is_refused(
        kit: Kit, untrained_model, library_path: Path) -> None:
    """And the other way round, two jobs in one process (the desktop app's threads)."""
    plan = plan_relabel(kit.lib, "kit", "move", kit.tmp / "out")
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow(_p: Progress) -> None:
        inside.set()
        release.wait(20)

    def run_scan() -> None:
        try:
            scan(kit.lib, [str(kit.root)], untrained_model,
                 options=INLINE, progress=slow)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=run_scan)
    t.start()
    try:
        assert inside.wait(20)
        with pytest.raises(JobBusy, match="busy: a scan is running on this library in this "
                                          "program; a relabel cannot start"):
            apply_batch(kit.lib, plan.batch_id)
        with pytest.raises(JobBusy, match="a scan is running"):
            undo_batch(kit.lib, plan.batch_id)
        with kit.lib.transaction() as conn:  # as if a relabel had been killed
            conn.exec_driver_sql(f"UPDATE relabel_batches SET state = 'applying' "
                                 f"WHERE id = {plan.batch_id}")
        assert recover(kit.lib) == [
            "1 interrupted relabel batch is left alone for now (busy: a scan is running on "
            "this library in this program; the recovery of an interrupted relabel cannot "
            "start until it has finished, try again then)"]
    finally:
        release.set()
        t.join()
    assert not errors
    assert "interrupted" in recover(kit.lib)[0]
    assert apply_batch(kit.lib, plan.batch_id).state == "applied"
    assert not list(library_path.parent.glob("*.lock"))


@pytest.mark.timeout(180)
def test_kill_9_then_the_same_relabel_again_never_renames_what_was_moved(
        library: Library, library_path: Path, write_audio, untrained_model,
        tmp_path: Path) -> None:
    """Issue #10: after a killed relabel, running the same relabel renamed 1,344 files
    already moved to ``name (2).ext``. A file already where the plan puts it is left."""
    kit = make_many(library, tmp_path, write_audio, untrained_model, N_BUSY)
    dest = tmp_path / "sorted"
    plan = plan_relabel(library, "kit", "move", dest)
    child = start_child(library_path, plan.batch_id, 0.01)
    try:
        wait_for_done(child, library_path, plan.batch_id, 30)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "interrupted" in recover(library)[0]
    moved = Counter(op_states(library, plan.batch_id))["done"]
    assert 30 <= moved < N_BUSY

    again = plan_relabel(library, "kit", "move", dest)

    assert again.skipped == {"already_there": moved}
    assert len(again.ops) == N_BUSY - moved
    assert apply_batch(library, again.batch_id).state == "applied"
    names = [os.path.basename(p) for p in disk(dest)]
    assert len(names) == N_BUSY and not [n for n in names if " (" in n]
    assert_each_file_once(kit, dest)
    assert_library_matches_disk(kit)
    # A third run finds nothing to do.
    third = plan_relabel(library, "kit", "move", dest)
    assert (third.ops, third.skipped) == ([], {"already_there": N_BUSY})


@pytest.mark.parametrize("mode", ["move", "copy", "hardlink", "symlink"])
def test_running_the_same_relabel_twice_changes_nothing_the_second_time(
        kit: Kit, mode: str) -> None:
    dest = kit.tmp / "sorted"
    assert apply_batch(kit.lib, plan_relabel(kit.lib, "kit", mode, dest).batch_id
                       ).state == "applied"
    after, after_lib = disk(kit.root, dest), lib_paths(kit.lib)

    again = plan_relabel(kit.lib, "kit", mode, dest)

    assert again.ops == [] and again.skipped == {"unlabeled": 3, "already_there": 5}
    assert apply_batch(kit.lib, again.batch_id).state == "applied"
    assert disk(kit.root, dest) == after and lib_paths(kit.lib) == after_lib


def test_a_file_relabeled_as_name_2_is_recognised_there_too(kit: Kit) -> None:
    """A name taken at the first run gave ``k1 (2).wav``: the second run leaves it too."""
    dest = kit.tmp / "sorted"
    (dest / "Drums/Kick/kicks").mkdir(parents=True)
    (dest / "Drums/Kick/kicks/k1.wav").write_bytes(b"someone else's file")
    apply_batch(kit.lib, plan_relabel(kit.lib, "kit", "copy", dest).batch_id)
    assert (dest / "Drums/Kick/kicks/k1 (2).wav").exists()
    again = plan_relabel(kit.lib, "kit", "copy", dest)
    assert again.ops == [] and again.skipped["already_there"] == 5


@pytest.mark.parametrize("mode", ["move", "copy", "hardlink", "symlink", "sidecar"])
@pytest.mark.parametrize("dest", ["", "   "])
def test_an_empty_destination_is_refused(kit: Kit, monkeypatch, mode: str, dest: str) -> None:
    """Issue #10: ``--dest ''`` moved 2,825 files into the current folder."""
    monkeypatch.chdir(kit.tmp)
    before = sorted(os.listdir(kit.tmp))
    with pytest.raises(RelabelError, match=f"the destination is empty; {mode} needs a "
                                           "destination folder"):
        plan_relabel(kit.lib, "kit", mode, dest)
    assert sorted(os.listdir(kit.tmp)) == before and list_batches(kit.lib) == []


@pytest.fixture
def small_drive(tmp_path: Path):
    """A 2 MiB tmpfs (a real drive that fills up); skipped where mounting is not allowed."""
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_destination_drive_is_named_not_the_source(kit: Kit, small_drive: Path) -> None:
    """Issue #10: the message said "no space left on the drive of SOURCE/drums/hats"."""
    dest = small_drive / "sorted"
    plan = plan_relabel(kit.lib, "kit", "move", dest)
    filler = small_drive / "filler"
    # Fill it to the last byte (unbuffered: nothing left over to write at close).
    with open(filler, "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 4096)
    before = disk(kit.root)

    report = apply_batch(kit.lib, plan.batch_id)

    assert report.state == "failed" and report.done == 0
    assert report.message.startswith(f"no space left on the drive of {dest / 'Bass'}: "
                                     "b1.wav was not moved")
    assert str(kit.root) not in report.message
    assert disk(kit.root) == before and not temps(dest)
    filler.unlink()
    assert apply_batch(kit.lib, plan.batch_id).state == "applied"
    assert_each_file_once(kit, dest)
    assert undo_batch(kit.lib, plan.batch_id).state == "undone"
    assert disk(kit.root) == before


@pytest.mark.parametrize("mode", ["move", "copy"])
def test_undo_marks_files_deleted_since_as_missing(kit: Kit, mode: str) -> None:
    """Issue #10: after undo, files the user had deleted stayed ``ok`` in the library."""
    dest = kit.tmp / "sorted"
    plan = plan_relabel(kit.lib, "kit", mode, dest)
    apply_batch(kit.lib, plan.batch_id)
    gone = dest / TREE_TARGETS["kicks/k1.wav"]
    gone.unlink()
    if mode == "copy":
        kit.path("kicks/k1.wav").unlink()  # the copy and the original: nothing left

    report = undo_batch(kit.lib, plan.batch_id)

    assert report.state == "undone" and report.restored + report.removed == 4
    assert [p for p, _why in report.missing] == [str(gone)]
    with kit.lib.reading() as conn:
        status = {int(i): (s, e) for i, s, e in conn.execute(
            select(samples.c.id, samples.c.status, samples.c.error))}
    sid = kit.ids["kicks/k1.wav"]
    assert status[sid][0] == "missing"
    assert f"relabel batch {plan.batch_id}" in status[sid][1]
    assert all(s == "ok" for i, (s, _e) in status.items() if i != sid)
    assert_library_agrees_with_disk(kit.lib)


def test_discarding_a_planned_batch_frees_its_number(kit: Kit) -> None:
    """Issue #15: a dry run used up a batch number and stayed "planned" for ever."""
    first = plan_relabel(kit.lib, "kit", "move", kit.tmp / "out")
    relabel.discard_batch(kit.lib, first.batch_id)
    assert list_batches(kit.lib) == []
    with kit.lib.reading() as conn:
        assert conn.execute(select(relabel_ops.c.id)).first() is None
    second = plan_relabel(kit.lib, "kit", "move", kit.tmp / "out")
    assert second.batch_id == first.batch_id
    apply_batch(kit.lib, second.batch_id)
    with pytest.raises(RelabelError, match="only a planned batch can be discarded"):
        relabel.discard_batch(kit.lib, second.batch_id)


# -- issue #15: the layout, keeping the folders that tell a multisample set apart -------------

STOPS = [f"Stop {i}" for i in range(1, 7)]
NOTES = ["066-F#.wav", "067-G.wav"]


def make_organ(library: Library, write_audio, untrained_model, tmp_path: Path) -> Kit:
    """Six organ stops in sibling folders, each with the same file names, labeled "Keys"."""
    for i, (stop, note) in enumerate((s, n) for s in STOPS for n in NOTES):
        write_audio(f"Organ/{stop}/{note}", seconds=0.1, sr=8_000, seed=i, freq=100.0 + 9 * i)
    root = tmp_path / "samples"
    assert scan(library, [str(root)], untrained_model, options=INLINE).decoded == 12
    known = library.known_samples()
    tid, node_ids = make_tree(library, "organ", ["Keys"])
    for k in known.values():
        label(library, tid, node_ids, k.id, "Keys", 0.87, "predict")
    return Kit(library, root, tmp_path, {}, {k.id: sha(k.path) for k in known.values()})


@pytest.mark.parametrize("mode", ["move", "copy"])
def test_a_multisample_set_keeps_its_folders_with_the_default_layout(
        library: Library, write_audio, untrained_model, tmp_path: Path, mode: str) -> None:
    """Issue #15: same-named files of 6 stops became ``Keys/066-F# (2).wav`` … ``(6).wav``."""
    kit = make_organ(library, write_audio, untrained_model, tmp_path)
    dest = tmp_path / "sorted"
    before = disk(kit.root)

    plan = plan_relabel(library, "organ", mode, dest)

    wanted = sorted(str(dest / "Keys" / "Organ" / s / n) for s in STOPS for n in NOTES)
    assert sorted(op.dst for op in plan.ops) == wanted  # no "(2)": every stop kept apart
    assert plan.layout == relabel.DEFAULT_LAYOUT == "{label}/{relfolder}/{name}"
    for op in plan.ops:  # each file under its own stop
        assert os.path.basename(os.path.dirname(op.src)) == os.path.basename(
            os.path.dirname(op.dst))
    assert apply_batch(library, plan.batch_id).state == "applied"
    assert sorted(disk(dest)) == wanted
    assert_each_file_once(kit, *([dest] if mode == "move" else []))
    # The same relabel again: everything is already in place.
    again = plan_relabel(library, "organ", mode, dest)
    assert again.ops == [] and again.skipped == {"already_there": 12}
    assert undo_batch(library, plan.batch_id).state == "undone"
    assert disk(kit.root) == before and not dest.exists()


def test_a_layout_with_every_kind_of_field(
        library: Library, write_audio, untrained_model, tmp_path: Path) -> None:
    kit = make_organ(library, write_audio, untrained_model, tmp_path)
    dest = tmp_path / "sorted"

    plan = plan_relabel(library, "organ", "copy", dest,
                        layout="{root}\\{leaf}/{ext}/{rate} {channels}ch {confidence}/"
                               "{relfolder}/{name} [{format}]")

    src = str(kit.root / "Organ/Stop 3/067-G.wav")
    (dst,) = [op.dst for op in plan.ops if op.src == src]
    # The extension is always kept at the end; {ext} has no dot; "\" separates folders too.
    assert dst == str(dest / "samples/Keys/wav/8000 1ch 87/Organ/Stop 3/067-G [WAV].wav")
    assert apply_batch(library, plan.batch_id).state == "applied"
    assert sha(dst) == sha(src)


def test_a_flat_layout_numbers_same_named_files_and_never_overwrites(
        library: Library, write_audio, untrained_model, tmp_path: Path) -> None:
    """The old behaviour, asked for: one folder per label, names numbered."""
    make_organ(library, write_audio, untrained_model, tmp_path)
    dest = tmp_path / "sorted"
    plan = plan_relabel(library, "organ", "copy", dest, layout="{label}/{name}")
    names = sorted(os.path.relpath(op.dst, dest) for op in plan.ops)
    assert names == sorted([f"Keys/{n}" for n in NOTES]
                           + [f"Keys/{n[:-4]} ({i}).wav" for n in NOTES for i in range(2, 7)])


@pytest.mark.parametrize(("layout", "says"), [
    ("{label}/{mood}/{name}", "field {mood} is unknown; valid fields: {label}, {leaf}, {root}, "
                             "{relfolder}, {name}, {ext}, {confidence}"),
    ("{name:>10}", "takes no format"),
    ("{label}/", "no file name part"),
    ("{label}/{relfolder}/ ", "no file name part"),
    ("../{name}", "would leave the destination"),
    ("{label}/../../{name}", "would leave the destination"),
    ("/etc/{name}", "cannot start with / or a drive"),
    ("C:\\x\\{name}", "cannot start with / or a drive"),
    ("{label}/{name", "not valid"),
    ("", "empty"),
])
def test_a_bad_layout_is_refused_in_one_line_and_nothing_is_stored(
        kit: Kit, layout: str, says: str) -> None:
    dest = kit.tmp / "sorted"
    with pytest.raises(RelabelError, match=None) as err:
        plan_relabel(kit.lib, "kit", "copy", dest, layout=layout)
    assert says in str(err.value) and "\n" not in str(err.value)
    assert list_batches(kit.lib) == [] and not dest.exists()


@pytest.mark.parametrize(("mode", "says"), [("rename", "rename"), ("sidecar", "sidecar")])
def test_rename_and_sidecar_take_no_layout(kit: Kit, mode: str, says: str) -> None:
    dest = None if mode == "rename" else kit.tmp / "out"
    with pytest.raises(RelabelError, match=f"{says}.*takes no layout"):
        plan_relabel(kit.lib, "kit", mode, dest, layout="{label}/{name}")
    assert list_batches(kit.lib) == []
    assert plan_relabel(kit.lib, "kit", mode, dest).layout is None


def test_layout_names_are_safe_on_windows_and_macos_too() -> None:
    from core.relabel.layout import parse_layout

    layout = parse_layout("{label}/{leaf}/{root}/{name}")
    parts = layout.render({"label": "Drums/Kick", "leaf": "a/b\\c", "root": "CON",
                           "name": 'x:y?"<z>| . '}, ".wav")
    # "/" in a plain field never makes a folder; a path field's does
    assert parts == ["Drums", "Kick", "a_b_c", "_CON", 'x_y___z__.wav']
    assert parse_layout("{relfolder}").render({"relfolder": ""}, ".wav") == []
    assert parse_layout("{label}/x/..{name}").render(
        {"label": "..", "name": "a"}, "") == ["_", "x", "..a"]


def test_a_moved_file_keeps_its_folder_when_its_label_changes(
        library: Library, write_audio, untrained_model, tmp_path: Path) -> None:
    """The folder a file came from is where it was before sampletree moved it."""
    kit = make_organ(library, write_audio, untrained_model, tmp_path)
    dest = tmp_path / "sorted"
    assert apply_batch(library, plan_relabel(library, "organ", "move", dest).batch_id
                       ).state == "applied"
    moved = str(dest / "Keys/Organ/Stop 2/066-F#.wav")
    sid = {p: i for i, p in lib_paths(library).items()}[moved]
    with library.transaction() as conn:  # the user relabels one file "Pads"
        tid = conn.execute(select(trees.c.id)).scalar_one()
        root = conn.execute(select(nodes.c.id).where(nodes.c.parent_id.is_(None))).scalar_one()
        pads = conn.execute(insert(nodes).values(tree_id=tid, parent_id=root, name="Pads",
                                                 position=9)).inserted_primary_key[0]
        conn.execute(insert(supports).values(tree_id=tid, node_id=pads, sample_id=sid,
                                             created_at=time.time()))

    again = plan_relabel(library, "organ", "move", dest)

    assert [op.dst for op in again.ops] == [str(dest / "Pads/Organ/Stop 2/066-F#.wav")]
    assert again.skipped == {"already_there": 11}
    apply_batch(library, again.batch_id)
    assert_library_matches_disk(kit)


def test_a_file_renamed_after_its_move_stays_put_when_the_relabel_runs_again(
        library: Library, write_audio, untrained_model, tmp_path: Path) -> None:
    """The name a rename batch gave a moved file is kept: the move run again changes
    nothing (it once moved ``Keys - 066-F#.wav`` back to ``066-F#.wav``)."""
    kit = make_organ(library, write_audio, untrained_model, tmp_path)
    dest = tmp_path / "sorted"
    apply_batch(library, plan_relabel(library, "organ", "move", dest).batch_id)
    renamed = plan_relabel(library, "organ", "rename")
    assert apply_batch(library, renamed.batch_id).state == "applied"
    after = disk(dest)
    assert str(dest / "Keys/Organ/Stop 1/Keys - 066-F#.wav") in after

    again = plan_relabel(library, "organ", "move", dest)

    assert again.ops == [] and again.skipped == {"already_there": 12}
    assert_library_matches_disk(kit)


@pytest.mark.parametrize(("label", "relfolder", "want"), [
    ("Drums/Clap", "Drums/Clap", ["Drums", "Clap", "c.wav"]),  # already sorted
    ("Drums/Kick", "kick/808", ["Drums", "Kick", "808", "c.wav"]),  # the leaf, any case
    ("Drums/Kick", "Kits/Kick", ["Drums", "Kick", "Kits", "Kick", "c.wav"]),  # not leading
    ("Keys/Organ", "Organ/Flute 8", ["Keys", "Organ", "Flute 8", "c.wav"]),
    ("Drums/Clap", "", ["Drums", "Clap", "c.wav"]),
])
def test_the_default_layout_does_not_repeat_the_label(label, relfolder, want) -> None:
    """Review of 2026-11-30: the demo library, already in label folders, was planned as
    Sorted/Drums/Clap/Drums/Clap/Clap Standard v97.wav."""
    from core.relabel.layout import parse_layout

    values = {"label": label, "relfolder": relfolder, "name": "c"}
    assert parse_layout(relabel.DEFAULT_LAYOUT).render(values, ".wav") == want
    # a layout that does not put the folder right after the label keeps it whole
    assert parse_layout("{label} set/{relfolder}/{name}").render(values, ".wav")[2:-1] == \
        [p for p in relfolder.split("/") if p]
