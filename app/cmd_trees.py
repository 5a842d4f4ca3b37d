"""Commands that edit class trees and their examples: tree …, label, unlabel."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.common import EXIT_OK, open_library


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("tree", help="create, edit, show, import and export class trees")
    ts = t.add_subparsers(dest="tree_command", metavar="ACTION", required=True)

    c = ts.add_parser("create", help="a new tree, empty or from a bundled one")
    c.add_argument("name", metavar="NAME")
    c.add_argument("--from", dest="default", metavar="DEFAULT_TREE",
                   help="start from a bundled tree (see `tree defaults`)")
    c.set_defaults(func=_create)
    ts.add_parser("list", help="the trees of the library").set_defaults(func=_list)
    ts.add_parser("defaults", help="the bundled trees").set_defaults(func=_defaults)
    a = ts.add_parser("add", help="add a node (and any missing parents)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("path", metavar="NODE/PATH")
    a.set_defaults(func=_add)
    s = ts.add_parser("show", help="the tree with its examples and labeled files")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_show)
    i = ts.add_parser("import", help="import a tree from JSON")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--name", help="name it NAME instead of the name in the file")
    i.add_argument("--replace", action="store_true",
                   help="replace a tree of that name (examples on surviving nodes stay)")
    i.set_defaults(func=_import)
    e = ts.add_parser("export", help="write a tree as JSON")
    e.add_argument("name", metavar="NAME")
    e.add_argument("file", metavar="FILE")
    e.set_defaults(func=_export)
    r = ts.add_parser("rename", help="rename a node (or the tree, without NODE/PATH)")
    r.add_argument("name", metavar="NAME")
    r.add_argument("args", nargs="+", metavar="[NODE/PATH] NEW_NAME")
    r.set_defaults(func=_rename)
    m = ts.add_parser("move", help="move a node under another ('' = top level)")
    m.add_argument("name", metavar="NAME")
    m.add_argument("path", metavar="NODE/PATH")
    m.add_argument("parent", metavar="NEW/PARENT")
    m.add_argument("--position", type=int, default=None, help="place among its new siblings")
    m.set_defaults(func=_move)
    o = ts.add_parser("reorder", help="change a node's place among its siblings")
    o.add_argument("name", metavar="NAME")
    o.add_argument("path", metavar="NODE/PATH")
    o.add_argument("position", type=int)
    o.set_defaults(func=_reorder)
    d = ts.add_parser("rm", help="delete a node and its subtree (or the tree, without a path)")
    d.add_argument("name", metavar="NAME")
    d.add_argument("path", nargs="?", metavar="NODE/PATH")
    d.set_defaults(func=_rm)

    lab = sub.add_parser("label", help="make files examples of a node; labels update")
    lab.add_argument("tree", metavar="NAME")
    lab.add_argument("node", metavar="NODE/PATH")
    lab.add_argument("files", nargs="+", metavar="FILE")
    lab.add_argument("--window", type=int, default=None,
                     help="use only this window (index) of the file as the example")
    lab.set_defaults(func=_label)
    un = sub.add_parser("unlabel", help="files stop being examples; labels update")
    un.add_argument("tree", metavar="NAME")
    un.add_argument("files", nargs="+", metavar="FILE")
    un.set_defaults(func=_unlabel)


def _refresh(lib: Any, tree: str) -> None:
    """Every label follows an edit at once (when there is something to predict with)."""
    from app.common import label_counts
    from core.classify import Classifier, ClassifyError
    from core.labeltext import summary

    try:
        r = Classifier(lib).refresh(tree)
    except ClassifyError as exc:
        print(f"labels not updated: {exc}", file=sys.stderr)
        return
    print(f"labels updated: {summary(label_counts(lib, tree))} ({r.classes} classes; "
          f"{r.seconds * 1000:.0f} ms)", file=sys.stderr)


def _create(args: argparse.Namespace) -> int:
    from core.trees import create_tree

    with open_library(args, create=True) as lib:
        tree = create_tree(lib, args.name, from_default=args.default)
    print(f"created tree {tree.name!r} with {len(tree)} nodes")
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
        print(f"added {load_tree(lib, args.name).path_str(node.id)}")
    return EXIT_OK


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
    if args.json:
        data = tree.to_json()

        def annotate(items: list[dict[str, Any]], parent: int) -> None:
            for item, nid in zip(items, tree.children[parent], strict=True):
                item["examples"] = n_sup.get(nid, 0)
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
        counts = f"{n_sup.get(nid, 0)} examples, {n_lab.get(nid, 0)} files"
        print(f"{'  ' * depth}{node.name}  ({counts})")
        stack.extend((c, depth + 1) for c in reversed(tree.children[nid]))
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from core.trees import import_tree

    with open_library(args, create=True) as lib:
        tree = import_tree(lib, args.file, name=args.name, replace=args.replace)
    print(f"imported tree {tree.name!r} with {len(tree)} nodes")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from core.trees import export_tree

    with open_library(args, create=False) as lib:
        export_tree(lib, args.name, args.file)
    print(f"wrote {args.file}")
    return EXIT_OK


def _rename(args: argparse.Namespace) -> int:
    from core.errors import SampletreeError
    from core.trees import rename_node, rename_tree

    with open_library(args, create=False) as lib:
        if len(args.args) == 1:
            rename_tree(lib, args.name, args.args[0])
        elif len(args.args) == 2:
            rename_node(lib, args.name, args.args[0], args.args[1])
        else:
            raise SampletreeError("usage: tree rename NAME [NODE/PATH] NEW_NAME")
    return EXIT_OK


def _move(args: argparse.Namespace) -> int:
    from core.trees import move_node

    with open_library(args, create=False) as lib:
        move_node(lib, args.name, args.path, args.parent, args.position)
        _refresh(lib, args.name)
    return EXIT_OK


def _reorder(args: argparse.Namespace) -> int:
    from core.trees import reorder_node

    with open_library(args, create=False) as lib:
        reorder_node(lib, args.name, args.path, args.position)
    return EXIT_OK


def _rm(args: argparse.Namespace) -> int:
    from core.trees import delete_node, delete_tree

    with open_library(args, create=False) as lib:
        if args.path:
            removed = delete_node(lib, args.name, args.path)
            _refresh(lib, args.name)
        else:
            removed = delete_tree(lib, args.name)
    print(f"deleted {removed.nodes} nodes and {removed.supports} examples")
    return EXIT_OK


def _label(args: argparse.Namespace) -> int:
    from core.supports import add_supports

    with open_library(args, create=False) as lib:
        n = add_supports(lib, args.tree, args.node, args.files, window_idx=args.window)
        print(f"{n} example{'s' if n != 1 else ''} of {args.node}")
        _refresh(lib, args.tree)
    return EXIT_OK


def _unlabel(args: argparse.Namespace) -> int:
    from core.supports import remove_supports

    with open_library(args, create=False) as lib:
        n = remove_supports(lib, args.tree, args.files)
        print(f"removed {n} example{'s' if n != 1 else ''}")
        _refresh(lib, args.tree)
    return EXIT_OK



