"""The class tree and its fixed split."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from models.taxonomy import Taxonomy, bundled_taxonomy_path

REPO = Path(__file__).resolve().parents[2]


def test_every_class_is_a_leaf_at_one_depth_and_in_one_split():
    tx = Taxonomy.load()
    assert len(tx.classes) >= 150
    assert tx.height == 3
    splits = {tx.split_of(c) for c in tx.classes}
    assert splits == {"train", "val", "test"}
    train, val, test = (set(tx.names(s)) for s in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(tx.classes)
    # about the paper's proportion (63 train : 24 test)
    assert 0.55 < len(train) / len(tx.classes) < 0.7
    assert 0.18 < len(test) / len(tx.classes) < 0.3


def test_every_test_class_has_a_relative_in_training():
    tx = Taxonomy.load()
    train = tx.names("train")
    for c in tx.names("test"):
        assert any(tx.lca_height(c, t) == 1 for t in train), c


def test_every_gm_program_and_drum_piece_is_a_class():
    tx = Taxonomy.load()
    programs = sorted(v["program"] for v in tx.classes.values() if "program" in v)
    assert programs == list(range(128))
    notes = sorted(n for v in tx.classes.values() for n in v.get("drum_notes", []))
    assert notes == list(range(35, 82))  # the whole GM percussion map


def test_lca_heights():
    tx = Taxonomy.load()
    assert tx.lca_height("Violin", "Violin") == 0
    assert tx.lca_height("Violin", "Cello") == 1  # bowed strings
    assert tx.lca_height("Violin", "Nylon Guitar") == 2  # chordophones
    assert tx.lca_height("Violin", "Kick") == 3  # only the root
    assert tx.ancestor("Kick", 1) == "1:Drum Kit"


def test_random_tree_keeps_the_shape_and_moves_the_leaves():
    tx = Taxonomy.load()
    rnd = tx.shuffled(3)
    shape = sorted(len([c for c in tx.paths if tx.paths[c][0] == f]) for f in
                   {p[0] for p in tx.paths.values()})
    rnd_shape = sorted(len([c for c in rnd.paths if rnd.paths[c][0] == f]) for f in
                       {p[0] for p in rnd.paths.values()})
    assert shape == rnd_shape
    moved = sum(tx.paths[c] != rnd.paths[c] for c in tx.paths)
    assert moved > len(tx.paths) // 2
    assert rnd.shuffled(3).paths != tx.shuffled(4).paths


def test_the_committed_taxonomy_is_what_the_script_makes(tmp_path, monkeypatch):
    before = bundled_taxonomy_path().read_text(encoding="utf-8")
    script = REPO / "scripts" / "make_taxonomy.py"
    src = script.read_text(encoding="utf-8").replace(
        'OUT = Path(__file__).resolve().parents[1] / "models" / "taxonomy.json"',
        f"OUT = Path({str(tmp_path / 't.json')!r})")
    (tmp_path / "make.py").write_text(src, encoding="utf-8")
    subprocess.run([sys.executable, str(tmp_path / "make.py")], check=True,
                   capture_output=True)
    assert json.loads((tmp_path / "t.json").read_text()) == json.loads(before)
