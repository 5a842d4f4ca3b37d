"""Built-in examples on the command line: `tree builtins NAME on|off`, and the labeled
summary a scan prints when it gave a fresh library the bundled producer tree."""

from __future__ import annotations

import argparse
from typing import Any

from app.common import EXIT_OK, command, open_library


def register(ts: argparse._SubParsersAction) -> None:
    """``tree builtins`` (``ts``: the ``tree`` command's subcommands)."""
    b = command(ts, "builtins", "switch a tree's built-in examples on or off",
                description="A tree made from a bundled one labels files with the built-in "
                            "examples that ship with Sampletree until you teach it; near "
                            "your own examples, yours decide. Labels that rest "
                            "on built-ins only are marked ◦. Off: only your examples count.",
                examples=("sampletree tree builtins producer off",
                          "sampletree tree builtins mine on --from producer"))
    b.add_argument("name", metavar="NAME", help="the tree (`sampletree tree list`)")
    b.add_argument("state", choices=["on", "off"], help="use them (on) or not (off)")
    b.add_argument("--from", dest="source", metavar="DEFAULT_TREE", default=None,
                   help="for a tree not made from a bundled one: whose built-ins to use "
                        "(nodes are matched by path, then by name)")
    b.set_defaults(func=_builtins)


def _builtins(args: argparse.Namespace) -> int:
    from app.cmd_trees import _refresh
    from core.builtins import set_builtins

    with open_library(args, create=False) as lib:
        source = set_builtins(lib, args.name, args.state == "on", args.source)
        print(f"built-in examples {args.state} for tree {args.name}"
              + (f" (from the bundled {source} tree)" if args.state == "on" else ""))
        _refresh(lib, args.name)
    return EXIT_OK


def default_tree_summary(library: Any, tree_name: str) -> list[str]:
    """Lines a scan prints after it labeled a fresh library with the bundled tree: files
    per top-level class, how many labels rest on built-ins only, and how to teach."""
    from sqlalchemy import func, select

    from core.schema import predictions
    from core.trees import load_tree

    tree = load_tree(library, tree_name)
    with library.reading() as conn:
        got = conn.execute(
            select(predictions.c.node_id, predictions.c.unknown, func.count())
            .where(predictions.c.tree_id == tree.id)
            .group_by(predictions.c.node_id, predictions.c.unknown)).all()
    tops = {n: 0 for n in tree.children[tree.root_id]}
    other = 0
    for node_id, unknown, n in got:
        if unknown or node_id is None or node_id == tree.root_id or node_id not in tree.nodes:
            other += int(n)
            continue
        anc = tree.ancestors(int(node_id))
        tops[anc[-1] if anc else int(node_id)] += int(n)
    parts = [f"{tree.nodes[t].name} {n}" for t, n in tops.items() if n]
    if other:
        parts.append(f"uncertain or unknown {other}")
    return [f"  labeled with the bundled tree '{tree_name}' (built-in examples, ◦): "
            + (", ".join(parts) or "nothing yet"),
            f"  teach it: drag files onto its nodes in the app, or `sampletree label "
            f"{tree_name} NODE FILE...`; `sampletree ls --tree {tree_name}` lists the labels"]


def give_fresh_library_a_tree(library: Any) -> str | None:
    """After a scan that embedded files: a library without any tree gets the bundled
    producer tree (None when it already had trees)."""
    from core.builtins import ensure_default_tree

    return ensure_default_tree(library)
