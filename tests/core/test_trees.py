"""Class trees: the in-memory Tree, every edit, tree files (good and hostile), defaults."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.errors import SampletreeError, TreeError
from core.library import Library, SampleRecord
from core.supports import add_supports, list_supports
from core.trees import (
    FORMAT,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    Node,
    Removed,
    Tree,
    add_node,
    clean_name,
    create_tree,
    default_trees,
    delete_node,
    delete_tree,
    export_tree,
    import_tree,
    list_trees,
    load_default,
    load_tree,
    move_node,
    rename_node,
    rename_tree,
    reorder_node,
    restore_node,
    restore_tree,
    split_path,
    tree_file_data,
    validate_tree_json,
)

# -- helpers ---------------------------------------------------------------------------------

SMALL = {
    "format": FORMAT, "version": 1, "name": "kit",
    "nodes": [
        {"name": "Drums", "children": [{"name": "Kick"}, {"name": "Snare"},
                                       {"name": "Hats", "children": [{"name": "Open"},
                                                                     {"name": "Closed"}]}]},
        {"name": "Bass"},
        {"name": "Keys", "children": []},
    ],
}


def doc(nodes: list[Any], **top: Any) -> dict[str, Any]:
    return {"format": FORMAT, "version": 1, "name": "t", "nodes": nodes, **top}


def chain(depth: int) -> list[dict[str, Any]]:
    """``depth`` nested single-child levels, built without recursion."""
    inner: list[Any] = []
    for i in range(depth, 0, -1):
        node: dict[str, Any] = {"name": f"L{i}"}
        if inner:
            node["children"] = inner
        inner = [node]
    return inner


def kit(library: Library) -> Tree:
    return import_tree(library, SMALL)


def paths(tree: Tree) -> list[str]:
    return [tree.path_str(n) for n in tree.walk()]


def positions_ok(tree: Tree) -> bool:
    return all([tree.nodes[c].position for c in kids] == list(range(len(kids)))
               for kids in tree.children.values())


def add_sample(library: Library, path: str, status: str = "ok") -> int:
    library.write_batch([SampleRecord(path=path, root_id=None, size=1, mtime_ns=1,
                                      status=status)])
    return library.known_samples()[path].id


def raises(words: str, func: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(TreeError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    message.encode("utf-8")  # printable: no lone surrogates
    for word in words.split("|"):
        assert word.lower() in message.lower(), message
    return message


# -- the Tree object -------------------------------------------------------------------------

def test_tree_navigation(library: Library) -> None:
    tree = kit(library)
    assert isinstance(tree, Tree) and len(tree) == 8
    root = tree.root
    assert (root.parent_id, root.name) == (None, "") and tree.path(root.id) == ()
    assert tree.path_str(root.id) == "" and tree.depth(root.id) == 0
    assert paths(tree) == ["Drums", "Drums/Kick", "Drums/Snare", "Drums/Hats",
                           "Drums/Hats/Open", "Drums/Hats/Closed", "Bass", "Keys"]
    open_ = tree.find("Drums/Hats/Open")
    assert isinstance(open_, Node) and open_.name == "Open"
    assert tree.path(open_.id) == ("Drums", "Hats", "Open")
    # Lookups ignore case, surrounding spaces, doubled or trailing separators, "\".
    for spelling in ("drums/HATS/open", " Drums / Hats / Open ", "/Drums//Hats/Open/",
                     "Drums\\Hats\\Open", ("drums", "hats", "open")):
        assert tree.find(spelling) == open_, spelling
    assert tree.find("") == root and tree.find(()) == root
    assert tree.find("Drums/Clap") is None and tree.find("Drums/Kick/Sub") is None
    assert tree.find("bad\x00name") is None
    hats, drums = tree.require("Drums/Hats"), tree.require("Drums")
    assert tree.ancestors(open_.id) == [hats.id, drums.id]
    assert tree.ancestors(drums.id) == [] and tree.ancestors(root.id) == []
    assert [tree.path_str(n) for n in tree.descendants(drums.id)] == [
        "Drums/Kick", "Drums/Snare", "Drums/Hats", "Drums/Hats/Open", "Drums/Hats/Closed"]
    assert tree.descendants(open_.id) == []
    assert [tree.path_str(n) for n in tree.leaves()] == [
        "Drums/Kick", "Drums/Snare", "Drums/Hats/Open", "Drums/Hats/Closed", "Bass", "Keys"]
    assert [tree.depth(n) for n in (drums.id, hats.id, open_.id)] == [1, 2, 3]
    assert tree.height(drums.id) == 3 and tree.height(open_.id) == 1
    assert tree.children[open_.id] == [] and positions_ok(tree)
    expected = json.loads(json.dumps(SMALL))
    expected["nodes"][2].pop("children")  # an empty children list is not written back
    assert tree.to_json() == expected
    raises("no node with id 999999", tree.path, 999_999)


def test_tree_objects_are_plain_and_frozen(library: Library) -> None:
    tree = kit(library)
    node = tree.require("Bass")
    with pytest.raises(AttributeError):
        node.name = "x"  # type: ignore[misc]
    assert all(type(n) is Node for n in tree.nodes.values())
    assert load_tree(library, "kit") == tree


def test_unknown_node_lists_close_matches(library: Library) -> None:
    tree = kit(library)
    raises('no node "Drums/Kik" in tree "kit"|did you mean: Drums/Kick', tree.require,
           "Drums/Kik")
    raises("did you mean: Drums/Hats/Open", tree.require, "Open")
    msg = raises('no node "Zzzz"', tree.require, "Zzzz")
    assert "did you mean" not in msg
    raises("did you mean: Drums/Snare", rename_node, library, "kit", "Drums/Snar", "x")


# -- trees in the library --------------------------------------------------------------------

def test_create_list_rename_delete_trees(library: Library) -> None:
    assert list_trees(library) == []
    raises('no tree named "x" (the library has no trees yet)', load_tree, library, "x")
    empty = create_tree(library, "  Mine ")
    assert (empty.name, len(empty), empty.walk()) == ("Mine", 0, [])
    create_tree(library, "beta")
    create_tree(library, "Alpha")
    assert list_trees(library) == ["Alpha", "beta", "Mine"]
    raises('a tree named "Mine" already exists', create_tree, library, "MINE")
    raises('no tree named "Mien"|did you mean: Mine', load_tree, library, "Mien")
    raises("trees: Alpha, beta, Mine", load_tree, library, "qqqqqqqq")
    assert load_tree(library, "mine").name == "Mine"  # case-insensitive lookup
    renamed = rename_tree(library, "mine", "Ours")
    assert renamed.id == empty.id and list_trees(library) == ["Alpha", "beta", "Ours"]
    assert rename_tree(library, "ours", "OURS").name == "OURS"  # a change of case only
    raises('a tree named "beta" already exists', rename_tree, library, "OURS", "Beta")
    raises("tree name is empty", rename_tree, library, "OURS", "  ")
    assert delete_tree(library, "alpha") == Removed(0, 0)
    assert list_trees(library) == ["beta", "OURS"]
    raises('no tree named "alpha"', delete_tree, library, "alpha")


def test_delete_tree_takes_nodes_and_supports(library: Library, tmp_path: Path) -> None:
    kit(library)
    sid = add_sample(library, str(tmp_path / "k.wav"))
    add_supports(library, "kit", "Drums/Kick", [sid])
    assert delete_tree(library, "kit") == Removed(8, 1)
    with library.reading() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM nodes").scalar_one() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM supports").scalar_one() == 0


def test_a_deleted_tree_comes_back_whole(library: Library, tmp_path: Path) -> None:
    from core.builtins import set_builtins

    create_tree(library, "mine", from_default="producer")
    set_builtins(library, "mine", False)
    before = tree_file_data(library, "mine")
    ids = [add_sample(library, str(tmp_path / f"{i}.wav")) for i in range(3)]
    add_supports(library, "mine", "Drums/Kick", ids[:2])
    add_supports(library, "mine", "Bass", ids[2:])
    taught = {(s.sample_id, s.node_path) for s in list_supports(library, "mine")}
    with library.transaction() as conn:
        conn.exec_driver_sql(
            "INSERT INTO relabel_batches (id, tree_id, mode, options, state, created_at) "
            "SELECT 7, id, 'copy', '{}', 'applied', 1.0 FROM trees WHERE name = 'mine'")
    n_nodes = len(load_tree(library, "mine"))
    gone = delete_tree(library, "mine")
    assert gone == Removed(n_nodes, 3) and gone.kept is not None
    with library.reading() as conn:
        assert conn.exec_driver_sql(
            "SELECT tree_id FROM relabel_batches WHERE id = 7").scalar_one() is None
    with library.transaction() as conn:
        conn.exec_driver_sql(f"DELETE FROM samples WHERE id = {ids[2]}")

    assert restore_tree(library, gone.kept) == Removed(n_nodes, 2)  # the file of one went
    tree = load_tree(library, "mine")
    assert tree_file_data(library, "mine") == before and positions_ok(tree)
    assert {(s.sample_id, s.node_path) for s in list_supports(library, "mine")} == (
        taught - {(ids[2], "Bass")})
    with library.reading() as conn:
        assert conn.exec_driver_sql(
            "SELECT tree_id FROM relabel_batches WHERE id = 7").scalar_one() == tree.id
        assert conn.exec_driver_sql(
            "SELECT builtins_off FROM trees WHERE name = 'mine'").scalar_one() == 1

    gone = delete_tree(library, "mine")
    create_tree(library, "MINE")
    raises('cannot bring back the tree "mine"|"MINE" was made since', restore_tree, library,
           gone.kept)
    assert list_trees(library) == ["MINE"]


@pytest.mark.parametrize("name", ["instruments", "producer"])
def test_create_from_each_default(library: Library, name: str) -> None:
    data = load_default(name)
    tree = create_tree(library, f"my {name}", from_default=name)
    assert tree.name == f"my {name}" and positions_ok(tree)
    assert {**tree.to_json(), "name": name} == {k: v for k, v in data.items()
                                                if k != "description"}
    assert load_tree(library, f"my {name}") == tree


def test_default_trees_content(library: Library) -> None:
    assert default_trees() == ["instruments", "producer"]
    for name in default_trees():
        validate_tree_json(load_default(name))
    inst = create_tree(library, "i", from_default="instruments")
    prod = create_tree(library, "p", from_default="producer")
    for path in ("Chordophones/Bowed/Violin", "Chordophones/Bowed/Double Bass",
                 "Chordophones/Plucked/Bass Guitar", "Chordophones/Struck/Piano",
                 "Aerophones/Brass/French Horn", "Aerophones/Woodwinds/Flutes/Flute",
                 "Aerophones/Woodwinds/Reeds/Saxophone", "Membranophones/Kick",
                 "Membranophones/Snare", "Membranophones/Tom", "Idiophones/Hi-hat",
                 "Idiophones/Cymbal", "Idiophones/Shaker", "Idiophones/Bell",
                 "Idiophones/Mallets", "Electrophones/Synth Lead", "Electrophones/Synth Pad",
                 "Electrophones/Synth Bass", "Voice/Vocals"):
        assert inst.find(path) is not None, path
    assert [inst.path_str(n) for n in inst.children[inst.root_id]] == [
        "Chordophones", "Aerophones", "Membranophones", "Idiophones", "Electrophones", "Voice"]
    assert [prod.path_str(n) for n in prod.children[prod.root_id]] == [
        "Drums", "Bass", "Guitar", "Keys", "Strings", "Pads", "Brass & Winds", "Vocals",
        "Synth", "FX", "Loops"]
    assert [prod.nodes[n].name for n in prod.children[prod.require("Drums").id]] == [
        "Kick", "Snare", "Clap", "Hi-hat", "Cymbal", "Tom", "Percussion"]
    for path in ("Keys/Piano", "Keys/Organ", "Keys/Electric Piano", "Synth/Lead",
                 "Synth/Pluck", "Loops/Drum Loop", "Loops/Music Loop", "Guitar/Electric Guitar"):
        assert prod.find(path) is not None, path
    raises("no bundled tree named \"instrument\"|did you mean: instruments",
           load_default, "instrument")
    raises("bundled trees: instruments, producer", load_default, "zzz")
    assert load_default("Producer")["name"] == "producer"


def test_default_trees_from_the_installed_package(tmp_path: Path) -> None:
    """Found through importlib.resources, not the working folder (run isolated elsewhere)."""
    code = ("import core.trees as t, json; "
            "print(json.dumps([t.default_trees(), t.__file__, "
            "len(t.load_default('instruments')['nodes'])]))")
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    if "No module named 'core'" in done.stderr:
        pytest.skip("sampletree is not installed in this interpreter")
    assert done.returncode == 0, done.stderr
    names, _where, n_top = json.loads(done.stdout)
    assert names == ["instruments", "producer"] and n_top == 6


# -- editing nodes ---------------------------------------------------------------------------

def test_add_node_creates_missing_parents(library: Library) -> None:
    create_tree(library, "t")
    node = add_node(library, "t", "Drums/Hats/ Open ")
    tree = load_tree(library, "t")
    assert node == tree.require("Drums/Hats/Open") and node.name == "Open"
    assert paths(tree) == ["Drums", "Drums/Hats", "Drums/Hats/Open"]
    add_node(library, "t", ("drums", "Kick"))  # an existing parent, any case
    assert paths(load_tree(library, "t"))[-1] == "Drums/Kick"
    raises('no node "Bass"', add_node, library, "t", "Bass/Sub", parents=False)
    assert add_node(library, "t", "Bass", parents=False).name == "Bass"
    raises('already has a node "Drums/Kick"', add_node, library, "t", "DRUMS/kick")
    assert add_node(library, "t", "drums/kick", exist_ok=True).name == "Kick"
    raises("the path of the node to add", add_node, library, "t", "")
    raises('no tree named "nope"', add_node, library, "nope", "A")


def test_add_node_at_a_position(library: Library) -> None:
    kit(library)
    add_node(library, "kit", "Drums/Clap", position=1)
    add_node(library, "kit", "Drums/Ride", position=99)
    add_node(library, "kit", "FX", position=0)
    tree = load_tree(library, "kit")
    assert [tree.nodes[n].name for n in tree.children[tree.require("Drums").id]] == [
        "Kick", "Clap", "Snare", "Hats", "Ride"]
    assert tree.nodes[tree.children[tree.root_id][0]].name == "FX" and positions_ok(tree)
    raises("position is a whole number", add_node, library, "kit", "X", position=-1)


def test_sibling_names_clash_ignoring_case(library: Library) -> None:
    kit(library)
    raises('tree "kit" already has a node "Drums/Kick"', add_node, library, "kit", "Drums/KICK")
    raises('tree "kit" already has a node "Bass"', add_node, library, "kit", "bass ")
    add_node(library, "kit", "Keys/bass")
    raises('top level of tree "kit" already has a node named "Bass"', move_node, library,
           "kit", "Keys/bass", "", 0)
    add_node(library, "kit", "Bass/Kick")  # the same name elsewhere is fine
    raises('"Drums" already has a node named "Snare"', rename_node, library, "kit",
           "Drums/Kick", "snare")
    raises('"Drums" already has a node named "Kick"', move_node, library, "kit",
           "Bass/Kick", "Drums")


BAD_NAMES = [
    ("", "is empty"), ("   ", "is empty"), ("a/b", 'contains "/"'), ("a\\b", 'contains "/" or'),
    (".", 'cannot be "." or ".."'), ("..", 'cannot be "." or ".."'),
    ("bell\x07", "control character (U+0007)"), ("two\nlines", "control character"),
    ("x" * 101, "longer than 100 characters"), (5, "must be text, not a number"),
    (None, "must be text, not null"),
]


@pytest.mark.parametrize(("bad", "words"), BAD_NAMES)
def test_every_edit_checks_names(library: Library, bad: Any, words: str) -> None:
    kit(library)
    raises(words, clean_name, bad)
    raises(words, rename_node, library, "kit", "Bass", bad)
    raises(words, create_tree, library, bad)
    raises(words, rename_tree, library, "kit", bad)
    if isinstance(bad, str) and bad.strip() and "/" not in bad and "\\" not in bad:
        raises(words, add_node, library, "kit", ["Drums", bad])
        raises(words, add_node, library, "kit", f"Drums/{bad}")
    assert load_tree(library, "kit").to_json()["nodes"][1] == {"name": "Bass"}


def test_names_are_trimmed_and_normalised(library: Library) -> None:
    create_tree(library, "t")
    assert add_node(library, "t", "  Caf\u0065\u0301  ").name == "Caf\u00e9"  # NFC
    assert load_tree(library, "t").find("CAFÉ") is not None
    assert clean_name("x" * 100) == "x" * 100
    assert clean_name(" 808 \U0001f941 ") == "808 \U0001f941"
    assert split_path("a / b /") == ("a", "b")
    raises("must be text", split_path, 5)


def test_depth_limit_applies_to_edits(library: Library) -> None:
    create_tree(library, "t")
    deep = [f"L{i}" for i in range(1, MAX_DEPTH + 1)]
    add_node(library, "t", deep)
    raises(f"at most {MAX_DEPTH} levels deep", add_node, library, "t", [*deep, "one more"])
    add_node(library, "t", "Other/Sub")
    raises(f"deeper than {MAX_DEPTH} levels", move_node, library, "t", "Other", deep)
    raises(f"deeper than {MAX_DEPTH} levels", move_node, library, "t", "Other/Sub", deep)
    move_node(library, "t", "Other/Sub", deep[:-1])  # a leaf fits exactly beside L32
    tree = load_tree(library, "t")
    assert tree.depth(tree.require([*deep[:-1], "Sub"]).id) == MAX_DEPTH


def test_rename_node_keeps_its_id_children_and_supports(library: Library,
                                                       tmp_path: Path) -> None:
    tree = kit(library)
    sid = add_sample(library, str(tmp_path / "o.wav"))
    add_supports(library, "kit", "Drums/Hats/Open", [sid])
    hats = tree.require("Drums/Hats")
    renamed = rename_node(library, "kit", "drums/hats", " Hi-hat ")
    assert (renamed.id, renamed.name, renamed.parent_id) == (hats.id, "Hi-hat", hats.parent_id)
    assert rename_node(library, "kit", "Drums/Hi-hat", "HI-HAT").name == "HI-HAT"  # case only
    after = load_tree(library, "kit")
    assert after.require("Drums/HI-HAT/Open").id == tree.require("Drums/Hats/Open").id
    assert [s.node_path for s in list_supports(library, "kit")] == ["Drums/HI-HAT/Open"]
    raises("the path of the node to rename", rename_node, library, "kit", "", "x")


def test_move_node_between_parents(library: Library, tmp_path: Path) -> None:
    tree = kit(library)
    sid = add_sample(library, str(tmp_path / "c.wav"))
    add_supports(library, "kit", "Drums/Hats/Closed", [sid])
    moved = move_node(library, "kit", "Drums/Hats", "Keys")
    after = load_tree(library, "kit")
    hats = after.require("Keys/Hats")
    assert moved == hats and hats.id == tree.require("Drums/Hats").id and hats.position == 0
    assert paths(after) == ["Drums", "Drums/Kick", "Drums/Snare", "Bass", "Keys", "Keys/Hats",
                            "Keys/Hats/Open", "Keys/Hats/Closed"]
    assert positions_ok(after)
    assert list_supports(library, "kit")[0].node_path == "Keys/Hats/Closed"
    move_node(library, "kit", "Keys/Hats/Closed", "", position=0)  # to the top level, first
    assert paths(load_tree(library, "kit"))[:2] == ["Closed", "Drums"]
    move_node(library, "kit", "Drums/Snare", "drums", position=0)  # same parent: reorder
    after = load_tree(library, "kit")
    assert [after.nodes[n].name for n in after.children[after.require("Drums").id]] == [
        "Snare", "Kick"] and positions_ok(after)
    move_node(library, "kit", "Closed", "Keys/Hats")  # last by default
    assert paths(load_tree(library, "kit"))[-1] == "Keys/Hats/Closed"


def test_move_node_refuses_itself_and_its_descendants(library: Library) -> None:
    kit(library)
    before = load_tree(library, "kit")
    raises('cannot move "Drums" under itself', move_node, library, "kit", "Drums", "Drums")
    raises('cannot move "Drums" under its own descendant "Drums/Hats/Open"', move_node,
           library, "kit", "Drums", "Drums/Hats/Open")
    raises('no node "Nowhere"', move_node, library, "kit", "Drums", "Nowhere")
    raises("the path of the node to move", move_node, library, "kit", "", "Drums")
    raises("position is a whole number", move_node, library, "kit", "Bass", "Drums", -2)
    assert load_tree(library, "kit") == before


def test_reorder_node(library: Library) -> None:
    kit(library)
    assert reorder_node(library, "kit", "Keys", 0).position == 0
    assert reorder_node(library, "kit", "Drums", 50).position == 2  # past the end: last
    tree = load_tree(library, "kit")
    assert [tree.nodes[n].name for n in tree.children[tree.root_id]] == ["Keys", "Bass",
                                                                         "Drums"]
    assert positions_ok(tree)
    reorder_node(library, "kit", "Drums/Hats/Closed", 0)
    assert paths(load_tree(library, "kit"))[-2:] == ["Drums/Hats/Closed", "Drums/Hats/Open"]
    raises("position is a whole number", reorder_node, library, "kit", "Keys", -1)
    raises("position is a whole number", reorder_node, library, "kit", "Keys", True)


def test_delete_node_takes_its_subtree_and_supports(library: Library, tmp_path: Path) -> None:
    kit(library)
    ids = [add_sample(library, str(tmp_path / f"{i}.wav")) for i in range(4)]
    add_supports(library, "kit", "Drums/Hats/Open", ids[:2])
    add_supports(library, "kit", "Drums/Hats", ids[2:3])
    add_supports(library, "kit", "Drums/Kick", ids[3:])
    assert delete_node(library, "kit", "drums/hats") == Removed(nodes=3, supports=3)
    tree = load_tree(library, "kit")
    assert paths(tree) == ["Drums", "Drums/Kick", "Drums/Snare", "Bass", "Keys"]
    assert positions_ok(tree)
    assert [s.sample_id for s in list_supports(library, "kit")] == [ids[3]]
    assert delete_node(library, "kit", "Drums") == Removed(nodes=3, supports=1)
    assert positions_ok(load_tree(library, "kit"))
    raises("the path of the node to delete", delete_node, library, "kit", "")
    raises('no node "Drums"', delete_node, library, "kit", "Drums")
    with library.reading() as conn:  # nothing orphaned
        assert conn.exec_driver_sql("SELECT count(*) FROM nodes").scalar_one() == 3


def test_a_deleted_node_comes_back_where_it_was_with_its_examples(
        library: Library, tmp_path: Path) -> None:
    kit(library)
    before = paths(load_tree(library, "kit"))
    ids = [add_sample(library, str(tmp_path / f"{i}.wav")) for i in range(5)]
    add_supports(library, "kit", "Drums/Hats/Open", ids[:2])
    add_supports(library, "kit", "Drums/Hats", ids[2:3])
    add_supports(library, "kit", "Drums/Kick", ids[3:4])
    taught = {(s.sample_id, s.node_path) for s in list_supports(library, "kit")}
    gone = delete_node(library, "kit", "Drums/Hats")
    assert gone.kept is not None and gone.kept.path == ("Drums", "Hats")
    assert restore_node(library, "kit", gone.kept) == Removed(nodes=3, supports=3)
    tree = load_tree(library, "kit")
    assert paths(tree) == before and positions_ok(tree)
    assert {(s.sample_id, s.node_path) for s in list_supports(library, "kit")} == taught

    # A whole branch, put back while its place moved: it goes back at its old position.
    gone = delete_node(library, "kit", "Drums")
    add_node(library, "kit", "FX", position=0)
    assert restore_node(library, "kit", gone.kept) == Removed(nodes=6, supports=4)
    assert [p for p in paths(load_tree(library, "kit")) if "/" not in p] == [
        "Drums", "FX", "Bass", "Keys"]

    # Examples of files gone from the library, or taught elsewhere since, stay out.
    gone = delete_node(library, "kit", "Drums/Hats")
    with library.transaction() as conn:
        conn.exec_driver_sql(f"DELETE FROM samples WHERE id = {ids[0]}")
    add_supports(library, "kit", "Bass", ids[1:2])
    assert restore_node(library, "kit", gone.kept) == Removed(nodes=3, supports=1)
    assert {(s.sample_id, s.node_path) for s in list_supports(library, "kit")} == {
        (ids[1], "Bass"), (ids[2], "Drums/Hats"), (ids[3], "Drums/Kick")}

    # Refused, with nothing changed, when the name was taken or the parent went.
    gone = delete_node(library, "kit", "Drums/Hats")
    add_node(library, "kit", "Drums/hats")
    raises('already has a node named "hats"', restore_node, library, "kit", gone.kept)
    delete_node(library, "kit", "Drums")
    raises('cannot bring back "Drums/Hats"|has been deleted since', restore_node, library,
           "kit", gone.kept)
    assert paths(load_tree(library, "kit")) == ["FX", "Bass", "Keys"]


# -- tree files ------------------------------------------------------------------------------

def test_export_import_round_trip(library: Library, tmp_path: Path) -> None:
    original = create_tree(library, "inst", from_default="instruments")
    add_node(library, "inst", "Idiophones/Mallets/Marimba ✓")
    file = tmp_path / "out" / "inst.json"
    file.parent.mkdir()
    export_tree(library, "INST", file)
    text = file.read_text(encoding="utf-8")
    assert "Marimba ✓" in text and text.endswith("}\n")  # UTF-8, not \u escapes
    assert [p.name for p in file.parent.iterdir()] == ["inst.json"]  # no temp file left
    again = import_tree(library, file, name="copy")
    assert again.id != original.id and again.name == "copy"
    assert {**again.to_json(), "name": "inst"} == load_tree(library, "inst").to_json()
    # Open files, text or binary, work as well as paths.
    buf = io.StringIO()
    export_tree(library, "copy", buf)
    raw = io.BytesIO()
    export_tree(library, "copy", raw)
    assert buf.getvalue().encode() == raw.getvalue()
    third = import_tree(library, io.BytesIO(raw.getvalue()), name="third")
    fourth = import_tree(library, io.StringIO(buf.getvalue()), name="fourth")
    assert third.to_json()["nodes"] == fourth.to_json()["nodes"] == again.to_json()["nodes"]
    # made from a bundled tree: version 2, with where its built-in examples come from
    data = json.loads(text)
    assert data["version"] == 2 and data["builtins"] == {"from": "instruments", "off": False}
    assert data == tree_file_data(library, "inst")
    assert {**data, "version": 1, "nodes": strip_builtin(data["nodes"])} == {
        **load_tree(library, "inst").to_json(), "builtins": data["builtins"]}


def strip_builtin(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (strip_builtin(v) if k == "children" else v) for k, v in item.items()
             if k != "builtin"} for item in items]


def test_import_reads_a_bom_and_uses_the_file_name(library: Library, tmp_path: Path) -> None:
    file = tmp_path / "kit.json"
    file.write_bytes(b"\xef\xbb\xbf" + json.dumps(SMALL).encode())
    assert import_tree(library, str(file)).name == "kit"


def test_import_refuses_an_existing_name_unless_replacing(library: Library,
                                                         tmp_path: Path) -> None:
    tree = kit(library)
    ids = [add_sample(library, str(tmp_path / f"{i}.wav")) for i in range(3)]
    add_supports(library, "kit", "Drums/Kick", ids[:1])
    add_supports(library, "kit", "Drums/Hats/Open", ids[1:2])
    add_supports(library, "kit", "Bass", ids[2:], window_idx=None)
    raises('a tree named "kit" already exists', import_tree, library, SMALL, name="KIT")
    new = doc([{"name": "drums", "children": [{"name": "KICK"}, {"name": "Clap"}]},
               {"name": "Bass"}], name="Kit")
    replaced = import_tree(library, new, replace=True)
    assert replaced.id == tree.id and replaced.name == "Kit" and list_trees(library) == ["Kit"]
    assert paths(replaced) == ["drums", "drums/KICK", "drums/Clap", "Bass"]
    # Examples whose node path survives (ignoring case) stay; the others went with it.
    kept = list_supports(library, "Kit")
    assert [(s.sample_id, s.node_path) for s in kept] == [(ids[0], "drums/KICK"),
                                                          (ids[2], "Bass")]


def test_import_is_all_or_nothing(library: Library) -> None:
    kit(library)
    before = load_tree(library, "kit")
    bad = doc([{"name": "A"}, {"name": "B", "children": [{"name": "ok"}, {"name": "x/y"}]}])
    raises("nodes[1].children[1] under \"B\"", import_tree, library, bad)
    raises("nodes[1].children[1]", import_tree, library, {**bad, "name": "kit"}, replace=True)
    assert list_trees(library) == ["kit"] and load_tree(library, "kit") == before
    with library.reading() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM nodes").scalar_one() == 9


def test_import_file_errors(library: Library, tmp_path: Path) -> None:
    raises("no such file", import_tree, library, tmp_path / "none.json")
    raises("is a folder", import_tree, library, tmp_path)
    kit(library)
    raises("cannot write", export_tree, library, "kit", tmp_path / "no" / "such" / "dir.json")


def test_limits_are_inclusive(library: Library) -> None:
    wide = doc([{"name": f"n{i}"} for i in range(MAX_NODES)], name="wide")
    t0 = time.perf_counter()
    tree = import_tree(library, wide)
    assert len(tree) == MAX_NODES and time.perf_counter() - t0 < 5
    tall = import_tree(library, doc(chain(MAX_DEPTH), name="tall"))
    assert max(tall.depth(n) for n in tall.walk()) == MAX_DEPTH
    raises(f"more than {MAX_NODES:,} nodes", add_node, library, "wide", "one more")


# -- hostile or broken tree files ------------------------------------------------------------

BAD_DOCS: list[tuple[str, Any, str]] = [
    ("not an object", [SMALL], "not a Sampletree tree file|a list"),
    ("wrong format", {**SMALL, "format": "other-tree"}, 'not a Sampletree tree file|"other-tree"'),
    ("no format", {k: v for k, v in SMALL.items() if k != "format"}, "format\" is missing"),
    ("newer version", {**SMALL, "version": 3}, "version 3|newer Sampletree"),
    ("version 0", {**SMALL, "version": 0}, "version 0|reads versions 1 to 2"),
    ("builtins in version 1", {**SMALL, "builtins": {"from": "producer"}},
     'unknown key "builtins"'),
    ("builtin in version 1", doc([{"name": "A", "builtin": "Drums"}]), 'unknown key "builtin"'),
    ("builtins not an object", {**SMALL, "version": 2, "builtins": "producer"},
     '"builtins" must be an object'),
    ("builtins without from", {**SMALL, "version": 2, "builtins": {"off": True}},
     'bundled tree named in "builtins" must be text'),
    ("builtins off as text", {**SMALL, "version": 2, "builtins": {"from": "p", "off": "no"}},
     '"off" must be true or false'),
    ("builtins unknown key", {**SMALL, "version": 2, "builtins": {"from": "p", "x": 1}},
     'unknown key "x" in the tree file\'s "builtins"'),
    ("builtin not a path", doc([{"name": "A", "builtin": 3}], version=2),
     'nodes[0]: "builtin" must be the path'),
    ("version as text", {**SMALL, "version": "1"}, '"version" must be a whole number'),
    ("no version", {k: v for k, v in SMALL.items() if k != "version"}, 'no "version"'),
    ("unknown top key", {**SMALL, "nodez": []}, 'unknown key "nodez"'),
    ("no tree name", {k: v for k, v in SMALL.items() if k != "name"}, 'has no "name"'),
    ("bad tree name", {**SMALL, "name": "a/b"}, 'tree file\'s name|contains "/"'),
    ("no nodes", {k: v for k, v in SMALL.items() if k != "nodes"}, 'no "nodes" list'),
    ("nodes not a list", {**SMALL, "nodes": {"name": "x"}}, "nodes must be a list"),
    ("node not an object", doc(["Kick"]), "node nodes[0] must be an object"),
    ("missing name", doc([{"name": "A", "children": [{"children": []}]}]),
     'node nodes[0].children[0] under "A" has no name'),
    ("empty name", doc([{"name": ""}]), "nodes[0]|name is empty"),
    ("blank name", doc([{"name": "  \t "}]), "nodes[0]|name is empty"),
    ("number name", doc([{"name": 808}]), "nodes[0]|must be text, not a number"),
    ("null name", doc([{"name": None}]), "must be text, not null"),
    ("slash", doc([{"name": "A", "children": [{"name": "B/C"}]}]),
     'nodes[0].children[0] under "A"|"B/C" contains "/"'),
    ("backslash", doc([{"name": "B\\C"}]), 'nodes[0]|contains "/" or "\\"'),
    ("dot", doc([{"name": "."}]), 'cannot be "." or ".."'),
    ("dot dot", doc([{"name": ".."}]), 'cannot be "." or ".."'),
    ("control", doc([{"name": "bell\x07"}]), "control character (U+0007)"),
    ("escape", doc([{"name": "a\x1b[31m"}]), "control character (U+001B)"),
    ("line separator", doc([{"name": "a\u2028b"}]), "control character (U+2028)"),
    ("lone surrogate", json.loads('{"format": "sampletree-tree", "version": 1, "name": "t",'
                                  ' "nodes": [{"name": "a\\ud800"}]}'),
     "invalid character (U+D800)"),
    ("too long", doc([{"name": "n" * 101}]), "101 characters long|longer than 100 characters"),
    ("duplicate", doc([{"name": "D", "children": [{"name": "Kick"}, {"name": "kick "}]}]),
     'duplicate node name at nodes[0].children[1]|"D" has both "Kick" and "kick"'),
    ("duplicate top", doc([{"name": "Bass"}, {"name": "BASS"}]),
     "duplicate|the top level has both"),
    ("unknown node key", doc([{"name": "A", "childs": []}]), 'unknown key "childs"'),
    ("children not a list", doc([{"name": "A", "children": {"name": "B"}}]),
     'nodes[0].children under "A" must be a list'),
    ("too many nodes", doc([{"name": f"n{i}"} for i in range(MAX_NODES + 1)]),
     "more than 10,000 nodes"),
    ("too many nested", doc([{"name": f"g{g}", "children": [{"name": f"n{i}"}
                                                             for i in range(1001)]}
                              for g in range(10)]), "more than 10,000 nodes"),
    ("too deep", doc(chain(MAX_DEPTH + 1)), "nested deeper than 32 levels|L1/L2/"),
]


@pytest.mark.parametrize(("data", "words"), [(d, w) for _n, d, w in BAD_DOCS],
                         ids=[n for n, _d, _w in BAD_DOCS])
def test_bad_tree_json_is_refused(library: Library, tmp_path: Path, data: Any,
                                  words: str) -> None:
    raises(words, validate_tree_json, data)
    raises(words, validate_tree_json, json.dumps(data))  # JSON text
    raises(words, validate_tree_json, json.dumps(data).encode())  # a file's bytes
    # The same through a file, and nothing reaches the library.
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    raises(words, import_tree, library, file)
    assert list_trees(library) == []


def test_python_objects_shared_or_cyclic_are_refused(library: Library) -> None:
    kick = {"name": "Kick"}
    shared = doc([{"name": "A", "children": [kick]}, {"name": "B", "children": [kick]}])
    raises("same node object appears twice|nodes[0].children[0]|nodes[1].children[0]",
           validate_tree_json, shared)
    loop: dict[str, Any] = {"name": "Loop", "children": []}
    loop["children"].append(loop)
    raises("appears twice|nodes[0] and at nodes[0].children[0]", validate_tree_json,
           doc([loop]))
    raises("appears twice", import_tree, library, doc([loop]))
    assert list_trees(library) == []


def test_a_very_deep_python_structure_needs_no_recursion() -> None:
    nodes = chain(200_000)
    t0 = time.perf_counter()
    raises("nested deeper than 32 levels", validate_tree_json, doc(nodes))
    assert time.perf_counter() - t0 < 1


def test_megabytes_of_nesting(library: Library, tmp_path: Path) -> None:
    """Several MB of nested nodes: a clear TreeError, fast, never a RecursionError."""
    levels = 120_000
    text = ('{"format": "sampletree-tree", "version": 1, "name": "deep", "nodes": '
            + '[{"name": "n", "children": ' * levels + "[]" + "}]" * levels + "}")
    assert 3_000_000 < len(text) < MAX_FILE_BYTES
    file = tmp_path / "deep.json"
    file.write_text(text, encoding="utf-8")
    t0 = time.perf_counter()
    msg = raises("nested too deeply|32 levels", import_tree, library, file)
    assert str(file) in msg and time.perf_counter() - t0 < 2
    raises("nested too deeply", validate_tree_json, text.encode())
    raises("nested too deeply", import_tree, library, io.BytesIO(("[" * 2_000_000).encode()))
    assert list_trees(library) == []


def test_file_over_5_mb(library: Library, tmp_path: Path) -> None:
    file = tmp_path / "big.json"
    body = json.dumps(SMALL)
    file.write_text(body + " " * (MAX_FILE_BYTES + 1 - len(body)), encoding="utf-8")
    raises("larger than 5 MB", import_tree, library, file)
    raises("larger than 5 MB", import_tree, library, io.BytesIO(b" " * (MAX_FILE_BYTES + 1)))
    raises("larger than 5 MB", validate_tree_json, file.read_bytes())
    file.write_text(body + " " * (MAX_FILE_BYTES - len(body)), encoding="utf-8")
    assert import_tree(library, file).name == "kit"  # exactly 5 MB is fine


@pytest.mark.parametrize(("content", "words"), [
    (b'{"format": "sampletree-tree", "version": 1,, }', "not valid JSON|line 1, column 44"),
    (b'{"format": "sampletree-tree",\n "nodes": [}', "not valid JSON|line 2"),
    (b"", "not valid JSON"),
    (b"1" * 5000, "not valid JSON"),
    ('{"name": "Caf\xe9"}'.encode("latin-1"), "not UTF-8 text|byte 0xe9 at offset 13"),
    (b"\xff\xfe{\x00}\x00", "not UTF-8 text"),
])
def test_unreadable_tree_files(library: Library, tmp_path: Path, content: bytes,
                               words: str) -> None:
    file = tmp_path / "t.json"
    file.write_bytes(content)
    raises(words, import_tree, library, file)
    raises(words.split("|")[0], import_tree, library, io.BytesIO(content))
    raises(words.split("|")[0], validate_tree_json, content)


def test_tree_error_is_a_sampletree_error() -> None:
    assert issubclass(TreeError, SampletreeError)


def test_export_of_a_tree_made_by_edits_validates(library: Library, tmp_path: Path) -> None:
    create_tree(library, "t")
    for path in ("B/x", "A", "B/y/z", "C"):
        add_node(library, "t", path)
    move_node(library, "t", "C", "B/y", 0)
    out = tmp_path / "out"
    out.mkdir()
    export_tree(library, "t", out / "t.json")
    export_tree(library, "t", out / "t.json")  # over an existing file, atomically
    data = json.loads((out / "t.json").read_text(encoding="utf-8"))
    validate_tree_json(data)
    assert data["nodes"] == [
        {"name": "B", "children": [{"name": "x"}, {"name": "y", "children": [
            {"name": "C"}, {"name": "z"}]}]},
        {"name": "A"}]
    assert os.listdir(out) == ["t.json"]
