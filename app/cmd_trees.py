"""Commands that edit class trees and their examples: tree …, label, unlabel."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.common import (
    EXIT_OK,
    JSON_HELP,
    check_window,
    command,
    count_int,
    open_library,
    shown,
    window_index,
)
from core.words import plural

_NAME = "the tree (`sampletree tree list`)"
_NODE = "a node of the tree, its path from the top level with '/': Drums/Kick"


def register(sub: argparse._SubParsersAction) -> None:
    t = command(sub, "tree", "create, edit, show, import and export class trees",
                description="Class trees: each node is a class (Drums › Kick); files given "
                            "as examples of a node teach it, and every file gets the most "
                            "likely node. `sampletree tree ACTION --help` explains each "
                            "action.",
                examples=("sampletree tree create mine --from producer",
                          "sampletree tree add mine Synth/Lead", "sampletree tree show mine"))
    ts = t.add_subparsers(dest="tree_command", metavar="ACTION", required=True)

    c = command(ts, "create", "a new tree, empty or from a bundled one",
                examples=("sampletree tree create mine",
                          "sampletree tree create mine --from producer"))
    c.add_argument("name", metavar="NAME", help="the new tree's name")
    c.add_argument("--from", dest="default", metavar="DEFAULT_TREE",
                   help="start from a bundled tree (see `tree defaults`)")
    c.set_defaults(func=_create)
    command(ts, "list", "the trees of the library",
            examples=("sampletree tree list",)).set_defaults(func=_list)
    command(ts, "defaults", "the bundled trees (for `tree create NAME --from`)",
            examples=("sampletree tree defaults",)).set_defaults(func=_defaults)
    a = command(ts, "add", "add a node (and any missing parents)",
                examples=("sampletree tree add mine Synth/Lead",))
    a.add_argument("name", metavar="NAME", help=_NAME)
    a.add_argument("path", metavar="NODE/PATH", help="the new node's path: Synth/Lead adds "
                                                     "Lead under Synth (and Synth if missing)")
    a.set_defaults(func=_add)
    s = command(ts, "show", "the tree with its examples and labeled files",
                description="The tree, each node with its examples and the files labeled "
                            "with it (unknown files are not counted).",
                examples=("sampletree tree show mine", "sampletree tree show mine --json"))
    s.add_argument("name", metavar="NAME", help=_NAME)
    s.add_argument("--json", action="store_true", help=JSON_HELP)
    s.set_defaults(func=_show)
    i = command(ts, "import", "import a tree from JSON (as `tree export` writes it)",
                examples=("sampletree tree import mine.json",
                          "sampletree tree import mine.json --name copy"))
    i.add_argument("file", metavar="FILE", help="a JSON file written by `tree export`")
    i.add_argument("--name", help="name it NAME instead of the name in the file")
    i.add_argument("--replace", action="store_true",
                   help="replace a tree of that name (examples on surviving nodes stay)")
    i.set_defaults(func=_import)
    e = command(ts, "export", "write a tree as JSON",
                examples=("sampletree tree export mine mine.json",))
    e.add_argument("name", metavar="NAME", help=_NAME)
    e.add_argument("file", metavar="FILE", help="the JSON file to write")
    e.set_defaults(func=_export)
    r = command(ts, "rename", "rename a node (or the tree, without NODE/PATH)",
                examples=("sampletree tree rename mine Drums/Kick Kicks   (a node)",
                          "sampletree tree rename mine ours               (the tree)"))
    r.usage = "%(prog)s [-h] NAME [NODE/PATH] NEW_NAME"
    r.add_argument("name", metavar="NAME", help=_NAME)
    r.add_argument("args", nargs="+", metavar="[NODE/PATH] NEW_NAME",
                   help="the node to rename and its new name; the new name alone renames "
                        "the tree")
    r.set_defaults(func=_rename, parser=r)
    m = command(ts, "move", "move a node under another ('' = top level)",
                examples=("sampletree tree move mine Synth/Bass ''",
                          "sampletree tree move mine Lead Synth --position 0"))
    m.add_argument("name", metavar="NAME", help=_NAME)
    m.add_argument("path", metavar="NODE/PATH", help=_NODE)
    m.add_argument("parent", metavar="NEW/PARENT", help="its new parent ('' = top level)")
    m.add_argument("--position", type=count_int, default=None, metavar="I",
                   help="its place among its new siblings, from 0 (default: last)")
    m.set_defaults(func=_move)
    o = command(ts, "reorder", "change a node's place among its siblings",
                examples=("sampletree tree reorder mine Drums/Snare 0",))
    o.add_argument("name", metavar="NAME", help=_NAME)
    o.add_argument("path", metavar="NODE/PATH", help=_NODE)
    o.add_argument("position", type=count_int, metavar="I",
                   help="its new place among its siblings, from 0")
    o.set_defaults(func=_reorder)
    d = command(ts, "rm", "delete a node and its subtree (or the tree, without a path)",
                examples=("sampletree tree rm mine Drums/Toms", "sampletree tree rm mine"),
                description="Deletes the node with everything below it and their examples "
                            "(your files are not touched). The library is backed up first; "
                            "`sampletree restore --from THAT-BACKUP --force` brings it back.")
    d.add_argument("name", metavar="NAME", help=_NAME)
    d.add_argument("path", nargs="?", metavar="NODE/PATH",
                   help="the node to delete with everything below it (default: the tree)")
    d.set_defaults(func=_rm)
    from app.cmd_builtins import register as register_builtins

    register_builtins(ts)

    lab = command(sub, "label", "make files examples of a node; labels update",
                  description="Make files examples of a node of a tree; every file's label "
                              "is predicted again at once.",
                  examples=("sampletree label mine Drums/Kick k1.wav k2.wav",
                            "sampletree label mine Keys loop.wav --window 2"))
    lab.add_argument("tree", metavar="NAME", help=_NAME)
    lab.add_argument("node", metavar="NODE/PATH", help=_NODE)
    lab.add_argument("files", nargs="+", metavar="FILE", help="files of the library")
    lab.add_argument("--window", type=window_index, default=None, metavar="I",
                     help="use only this window of the file as the example (its index: 0 "
                          "is the first, up to its number of windows - 1; `ls` shows how "
                          "many)")
    lab.set_defaults(func=_label, parser=lab)
    un = command(sub, "unlabel", "files stop being examples; labels update",
                 examples=("sampletree unlabel mine k2.wav",))
    un.add_argument("tree", metavar="NAME", help=_NAME)
    un.add_argument("files", nargs="+", metavar="FILE", help="files that are examples now")
    un.set_defaults(func=_unlabel)


def _refresh(lib: Any, tree: str, quiet: bool = False) -> None:
    """Every label follows an edit at once (when there is something to predict with).
    ``quiet``: say nothing when there is not (a new tree, a node added to an untaught one)."""
    from app.common import label_counts
    from core.classify import Classifier, ClassifyError
    from core.labeltext import summary

    try:
        r = Classifier(lib).refresh(tree)
    except ClassifyError as exc:
        if not quiet:
            print(f"labels not updated: {exc}", file=sys.stderr)
        return
    print(f"labels updated: {summary(label_counts(lib, tree))} ({plural(r.classes, 'class')}; "
          f"{r.seconds * 1000:.0f} ms)", file=sys.stderr)


def _create(args: argparse.Namespace) -> int:
    from core.trees import create_tree

    with open_library(args, create=True) as lib:
        tree = create_tree(lib, args.name, from_default=args.default)
        print(f"created tree {tree.name!r} with {plural(len(tree), 'node')}")
        _refresh(lib, args.name, quiet=True)  # a copy of a bundled tree labels at once
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from core.trees import list_trees

    with open_library(args, create=False) as lib:
        for name in list_trees(lib):
            print(name)
    return EXIT_OK


def _defaults(_args: argparse.Namespace) -> int:
    from core.trees import default_trees

    for name in default_trees():
        print(name)
    return EXIT_OK


def _add(args: argparse.Namespace) -> int:
    from core.trees import add_node, load_tree

    with open_library(args, create=False) as lib:
        node = add_node(lib, args.name, args.path)
        tree = load_tree(lib, args.name)
        path = tree.path_str(node.id)
        print(f"added {path}")
        _builtins_tip(lib, tree, path)
        _refresh(lib, args.name, quiet=True)
    return EXIT_OK


def _builtins_tip(lib: Any, tree: Any, path: str) -> None:
    """A node added to a tree of one's own where a bundled tree has built-in examples
    (``Drums/Kick``): say how to let them label it before it is taught."""
    import shlex

    from core.builtins import left_without, matching_default, tree_builtins

    with lib.reading() as conn:
        if tree_builtins(conn, tree).source is not None:
            return  # the tree has built-ins of its own (on or off): the user chose
    match = matching_default(lib, tree)
    if match is None or path not in match[1]:
        return
    source, paths = match
    where = (f"is a node of the bundled tree '{source}' too" if paths[path] == path else
             f"matches {paths[path]} of the bundled tree '{source}'")
    # classes that would get none lose files to those that do until taught: say which
    bare = left_without(tree, paths)
    named = ", ".join(bare[:3]) + (", …" if len(bare) > 3 else "")
    left = (f"; {plural(len(bare), 'class')} would not ({named}) and would lose "
            "files to those that do until you teach them" if bare else "")
    print(f"tip: {path} {where}, whose built-in "
          f"examples can label it before you teach it ({plural(len(paths), 'node')} of "
          f"'{tree.name}' would get them{left}): sampletree tree builtins "
          f"{shlex.quote(tree.name)} on --from {source}", file=sys.stderr)


def _show(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from core.schema import predictions, supports
    from core.trees import load_tree

    with open_library(args, create=False) as lib:
        tree = load_tree(lib, args.name)
        with lib.reading() as conn:
            n_sup = dict(conn.execute(select(supports.c.node_id, func.count())
                                      .where(supports.c.tree_id == tree.id)
                                      .group_by(supports.c.node_id)).all())
            n_lab = dict(conn.execute(select(predictions.c.node_id, func.count())
                                      .where((predictions.c.tree_id == tree.id)
                                             & ~predictions.c.unknown)
                                      .group_by(predictions.c.node_id)).all())
        from core.builtins import status

        _msg, active = status(lib, tree, None)  # the built-in examples the tree uses
        n_bi: dict[int, int] = {}
        if active is not None:
            for nid in active.node_ids.tolist():
                n_bi[nid] = n_bi.get(nid, 0) + 1
    if args.json:
        data = tree.to_json()

        def annotate(items: list[dict[str, Any]], parent: int) -> None:
            for item, nid in zip(items, tree.children[parent], strict=True):
                item["examples"] = n_sup.get(nid, 0)
                item["builtin_examples"] = n_bi.get(nid, 0)
                item["files"] = n_lab.get(nid, 0)
                annotate(item.get("children", []), nid)

        annotate(data["nodes"], tree.root_id)
        print(json.dumps(data, indent=1))
        return EXIT_OK
    print(tree.name)
    stack = [(nid, 1) for nid in reversed(tree.children[tree.root_id])]
    while stack:
        nid, depth = stack.pop()
        node = tree.nodes[nid]
        n_ex, n_files = n_sup.get(nid, 0), n_lab.get(nid, 0)
        counts = f"{n_ex} {'example' if n_ex == 1 else 'examples'}"
        if n_bi.get(nid):
            counts += f" (◦ {n_bi[nid]} built-in)"
        counts += f", {n_files} {'file' if n_files == 1 else 'files'}"
        print(f"{'  ' * depth}{node.name}  ({counts})")
        stack.extend((c, depth + 1) for c in reversed(tree.children[nid]))
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from core.trees import import_tree

    notes: list[str] = []
    with open_library(args, create=True) as lib:
        tree = import_tree(lib, args.file, name=args.name, replace=args.replace, notes=notes)
        print(f"imported tree {tree.name!r} with {plural(len(tree), 'node')}")
        for note in notes:
            print(note, file=sys.stderr)
        _refresh(lib, tree.name, quiet=True)  # one with built-in examples labels at once
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from core.trees import export_tree

    with open_library(args, create=False) as lib:
        export_tree(lib, args.name, args.file)
    print(f"wrote {args.file}")
    return EXIT_OK


def _rename(args: argparse.Namespace) -> int:
    from core.trees import load_tree, rename_node, rename_tree

    if len(args.args) > 2:
        args.parser.error("too many arguments: tree rename NAME [NODE/PATH] NEW_NAME")
    with open_library(args, create=False) as lib:
        if len(args.args) == 1:
            tree = rename_tree(lib, args.name, args.args[0])
            print(f"renamed tree {args.name!r} to {tree.name!r}")
        else:
            old = load_tree(lib, args.name)
            was = old.path_str(old.require(args.args[0]).id)
            node = rename_node(lib, args.name, args.args[0], args.args[1])
            print(f"renamed {was} to {load_tree(lib, args.name).path_str(node.id)}")
    return EXIT_OK


def _move(args: argparse.Namespace) -> int:
    from core.trees import load_tree, move_node

    with open_library(args, create=False) as lib:
        old = load_tree(lib, args.name)
        was = old.path_str(old.require(args.path).id)
        node = move_node(lib, args.name, args.path, args.parent, args.position)
        tree = load_tree(lib, args.name)
        under = (f"under {tree.path_str(node.parent_id)}"
                 if node.parent_id not in (None, tree.root_id) else "to the top level")
        print(f"moved {was} {under}: {tree.path_str(node.id)}"
              + (f" (position {node.position})" if args.position is not None else ""))
        _refresh(lib, args.name)
    return EXIT_OK


def _reorder(args: argparse.Namespace) -> int:
    from core.trees import load_tree, reorder_node

    with open_library(args, create=False) as lib:
        node = reorder_node(lib, args.name, args.path, args.position)
        print(f"{load_tree(lib, args.name).path_str(node.id)} is now at position "
              f"{node.position} among its siblings")
    return EXIT_OK


def _rm(args: argparse.Namespace) -> int:
    from core.backup import backup_before
    from core.trees import delete_node, delete_tree, load_tree

    with open_library(args, create=False) as lib:
        tree = load_tree(lib, args.name)  # a wrong name or path: refused before the backup
        if args.path:
            tree.require(args.path)
        kept = backup_before(lib, "tree-rm")
        if args.path:
            removed = delete_node(lib, args.name, args.path)
            _refresh(lib, args.name)
        else:
            removed = delete_tree(lib, args.name)
    print(f"deleted {plural(removed.nodes, 'node')} and {plural(removed.supports, 'example')}")
    if kept is not None:
        print(f"the library before this is backed up in {shown(str(kept))}; "
              f"`sampletree restore --from {shown(str(kept))} --force` brings it back "
              "(and drops what changed since)")
    else:
        print("no backup was made (SAMPLETREE_BACKUPS=0)", file=sys.stderr)
    return EXIT_OK


def _label(args: argparse.Namespace) -> int:
    from core.supports import label_files

    with open_library(args, create=False) as lib:
        if args.window is not None:
            for f in args.files:
                check_window(args, lib, f)
        did = label_files(lib, args.tree, args.node, args.files, window_idx=args.window)
        node = did.node_path
        if did.changed:
            moved = ", ".join(f"{n if did.changed > 1 else ''} from {p}".strip()
                              for p, n in did.moved.items())
            print(f"{plural(did.changed, 'example')} of {node}"
                  + (f" (moved {moved})" if moved else ""))
        if did.already:
            if len(did.already) == 1:
                print(f"{shown(did.already[0])} is already an example of {node}")
            else:
                print(f"{plural(len(did.already), 'file')} are already examples of {node}")
        if did.changed:  # nothing changed: the labels stand as they are
            _refresh(lib, args.tree)
    return EXIT_OK


def _unlabel(args: argparse.Namespace) -> int:
    from core.supports import unlabel_files
    from core.trees import load_tree

    with open_library(args, create=False) as lib:
        removed, not_examples = unlabel_files(lib, args.tree, args.files)
        if removed:
            print("removed " + ", ".join(f"{plural(n, 'example')} of {p}"
                                         for p, n in removed.items()))
        if not_examples:  # said, and like any no-op, not an error (exit 0)
            tree = load_tree(lib, args.tree).name
            what = (shown(not_examples[0]) + " is not an example" if len(not_examples) == 1
                    else f"{plural(len(not_examples), 'file')} are not examples")
            print(f"{what} in tree {tree!r}"
                  + ("" if removed else "; nothing changed"))
        if removed:  # nothing changed: the labels stand as they are
            _refresh(lib, args.tree)
    return EXIT_OK



