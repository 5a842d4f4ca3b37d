"""Class trees stored in the library, their JSON files, and the bundled default trees.

A tree is a ``trees`` row and its ``nodes``; every tree has one hidden root node
(parent NULL, name ""), so the top level is an ordinary sibling list. Nodes are
addressed by their path of names, ``"Drums/Kick"`` or ``("Drums", "Kick")``; names are
the user's text, trimmed (and NFC-normalised), and sibling names are compared without
regard to case. Every function that writes runs in one library transaction, so a
failure (a :class:`~core.errors.TreeError`) leaves the library as it was.

Trees leave this module as plain :class:`Tree` / :class:`Node` objects, never as
SQLAlchemy rows. Supports (the example files on nodes) live in :mod:`core.supports`;
they reference node ids, so renaming or moving a node keeps its examples, and deleting
a node deletes the examples of its subtree.

The file format (``FORMAT`` / ``FORMAT_VERSION``)::

    {"format": "sampletree-tree", "version": 1, "name": "producer",
     "nodes": [{"name": "Drums", "children": [{"name": "Kick"}, {"name": "Snare"}]},
               {"name": "Bass"}]}

Version 2 adds where a tree's built-in examples come from (:mod:`core.builtins`): a top-level
``"builtins": {"from": "producer", "off": false}`` (the bundled tree, and whether they are
switched off) and, on each node that carries some, ``"builtin": "Drums/Kick"`` (the bundled
node's path). :func:`export_tree` writes version 2 only for a tree that has built-ins, so a
tree without them stays readable by a Sampletree that knows only version 1; both versions
import.

A tree file is untrusted input: it is size-limited, parsed without recursion, and
checked completely (:func:`validate_tree_json`) before anything is written.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
import time
import unicodedata
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Connection, CursorResult, bindparam, delete, func, insert, select, update

from core.errors import TreeError
from core.library import Library
from core.paths import display_path as _printable
from core.schema import nodes, predictions, relabel_batches, samples, supports, trees

FORMAT = "sampletree-tree"
FORMAT_VERSION = 2  # 2: "builtins" and a node's "builtin"; version 1 files still import
MAX_NAME_CHARS = 100
MAX_NODES = 10_000  # not counting the hidden root
MAX_DEPTH = 32  # top-level nodes have depth 1
MAX_FILE_BYTES = 5 * 1024 * 1024

_TOP_KEYS = frozenset({"format", "version", "name", "nodes", "description"})
_NODE_KEYS = frozenset({"name", "children"})
_TOP_KEYS_V2 = _TOP_KEYS | {"builtins"}
_NODE_KEYS_V2 = _NODE_KEYS | {"builtin"}
_CHUNK = 500  # ids per IN (...) list, well under SQLite's variable limit

#: What :func:`import_tree` reads: a path, an open file (bytes or text), or parsed JSON.
TreeSource = str | os.PathLike[str] | IO[bytes] | IO[str] | Mapping[str, Any]


# -- names and paths ---------------------------------------------------------------------

def _q(text: str) -> str:
    """A name quoted for a message; control and unprintable characters show as escapes
    (a lone surrogate would make printing the message itself fail)."""
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cs", "Zl", "Zp") else c
                   for c in json.dumps(text, ensure_ascii=False))



def _key(name: str) -> str:
    """The form in which names are compared (sibling names, tree names)."""
    return unicodedata.normalize("NFC", name).casefold()


def _name_problem(name: object) -> tuple[str, str | None]:
    """``(cleaned, None)`` for an acceptable name, else ``(text, what is wrong)``."""
    if not isinstance(name, str):
        return "", f"must be text, not {_type_name(name)}"
    text = unicodedata.normalize("NFC", name.strip())
    if not text:
        return text, "is empty"
    if "/" in text or "\\" in text:
        return text, f'{_q(text)} contains "/" or "\\" (they separate the levels of a path)'
    if text in (".", ".."):
        return text, 'cannot be "." or ".."'
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc" or ch in "\u2028\u2029":
            return text, f"{_q(text)} contains a control character (U+{ord(ch):04X})"
        if cat == "Cs":
            return text, f"{_q(text)} contains an invalid character (U+{ord(ch):04X})"
    if len(text) > MAX_NAME_CHARS:
        return text, (f"{_q(text[:40] + '…')} is {len(text)} characters long: longer than "
                      f"{MAX_NAME_CHARS} characters")
    return text, None


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def clean_name(name: object, what: str = "node name") -> str:
    """The name as stored (trimmed, NFC), or :class:`TreeError` saying what is wrong.

    A name is non-empty text of at most :data:`MAX_NAME_CHARS` characters, without
    "/", "\\" or control characters, and neither "." nor "..".
    """
    text, problem = _name_problem(name)
    if problem is not None:
        raise TreeError(f"the {what} {problem}")
    return text


def split_path(path: str | Sequence[str]) -> tuple[str, ...]:
    """A node path as a tuple of clean names; ``""`` / ``()`` is the root.

    A string is split on "/" (and "\\", which no name may hold); empty levels from
    leading, trailing or doubled separators are ignored.
    """
    if isinstance(path, str):
        parts: Sequence[object] = [p for p in path.replace("\\", "/").split("/") if p.strip()]
    elif isinstance(path, Sequence):
        parts = path
    else:
        raise TreeError(f"a node path must be text like \"Drums/Kick\", not {_type_name(path)}")
    return tuple(clean_name(p, "path level") for p in parts)


def _lenient_keys(path: str | Sequence[str]) -> tuple[str, ...] | None:
    """Comparison keys of a path for lookups (None when it cannot name any node)."""
    try:
        return tuple(_key(p) for p in split_path(path))
    except TreeError:
        return None


def _display(parts: Sequence[str]) -> str:
    return "/".join(parts)


# -- trees in memory ---------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    """One node of a tree. The hidden root has ``parent_id`` None and name ""."""

    id: int
    parent_id: int | None
    name: str
    position: int


#: a deleted node's row as kept for a restore: (id, parent id, name, position, built-in path)
_NodeRow = tuple[int, int | None, str, int, str | None]
#: a deleted example's row: (node id, sample id, window index, created at)
_SupportRow = tuple[int, int, int | None, float]


@dataclass(frozen=True)
class Removed:
    """What a deletion took with it: nodes (root excluded) and support examples.

    ``kept`` (from :func:`delete_node` and :func:`delete_tree`) holds the deleted rows, so
    that :func:`restore_node` or :func:`restore_tree` can put them back."""

    nodes: int
    supports: int
    kept: DeletedNode | DeletedTree | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DeletedNode:
    """The rows a :func:`delete_node` removed: the subtree's nodes, parents first, as
    (id, parent id, name, position, built-in path), and its examples as (node id, sample
    id, window index, created at). ``path`` is where the node was."""

    tree_id: int
    parent_id: int
    path: tuple[str, ...]
    nodes: tuple[_NodeRow, ...]
    supports: tuple[_SupportRow, ...]


@dataclass(frozen=True)
class DeletedTree:
    """The rows a :func:`delete_tree` removed: the tree's own row, every node (the root
    first) and example as in :class:`DeletedNode`, and the relabel batches that named it."""

    name: str
    created_at: float
    builtins_from: str | None
    builtins_off: bool
    batches: tuple[int, ...]
    nodes: tuple[_NodeRow, ...]
    supports: tuple[_SupportRow, ...]


@dataclass(frozen=True)
class Tree:
    """A class tree as plain Python objects.

    ``nodes`` holds every node, the hidden root included; ``children`` maps every node
    id to its children's ids in display order (leaves map to an empty list).
    """

    id: int
    name: str
    root_id: int
    nodes: dict[int, Node]
    children: dict[int, list[int]]

    def __len__(self) -> int:
        """The number of nodes, the hidden root excluded."""
        return len(self.nodes) - 1

    @property
    def root(self) -> Node:
        return self.nodes[self.root_id]

    def node(self, node_id: int) -> Node:
        """The node with this id, or :class:`TreeError`."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise TreeError(f"tree {_q(self.name)} has no node with id {node_id}") from None

    def path(self, node_id: int) -> tuple[str, ...]:
        """Names from the top level down to the node; the root's path is ``()``."""
        out: list[str] = []
        node = self.node(node_id)
        while node.parent_id is not None:
            out.append(node.name)
            node = self.nodes[node.parent_id]
        return tuple(reversed(out))

    def path_str(self, node_id: int) -> str:
        """The path joined with "/", e.g. ``"Drums/Kick"`` (the root: ``""``)."""
        return _display(self.path(node_id))

    def child(self, parent_id: int, name: str) -> Node | None:
        """The child of ``parent_id`` whose name equals ``name`` ignoring case."""
        key = _key(name.strip())
        for cid in self.children[parent_id]:
            if _key(self.nodes[cid].name) == key:
                return self.nodes[cid]
        return None

    def find(self, path: str | Sequence[str]) -> Node | None:
        """The node at ``path`` (names compared ignoring case), or None.

        ``""`` and ``()`` find the root.
        """
        keys = _lenient_keys(path)
        if keys is None:
            return None
        cur = self.root_id
        for key in keys:
            nxt = next((c for c in self.children[cur] if _key(self.nodes[c].name) == key), None)
            if nxt is None:
                return None
            cur = nxt
        return self.nodes[cur]

    def require(self, path: str | Sequence[str]) -> Node:
        """Like :meth:`find`, but an unknown path is a :class:`TreeError` with suggestions."""
        node = self.find(path)
        if node is None:
            raise self._no_node(split_path(path))
        return node

    def ancestors(self, node_id: int) -> list[int]:
        """Ids of the node's parent, grandparent, … (nearest first), the root excluded."""
        out: list[int] = []
        parent = self.node(node_id).parent_id
        while parent is not None and parent != self.root_id:
            out.append(parent)
            parent = self.nodes[parent].parent_id
        return out

    def descendants(self, node_id: int) -> list[int]:
        """Ids of every node below ``node_id`` in display (pre-)order, itself excluded."""
        self.node(node_id)
        out: list[int] = []
        stack = list(reversed(self.children[node_id]))
        while stack:
            nid = stack.pop()
            out.append(nid)
            stack.extend(reversed(self.children[nid]))
        return out

    def walk(self) -> list[int]:
        """Every node id but the root's, in display (pre-)order."""
        return self.descendants(self.root_id)

    def leaves(self) -> list[int]:
        """Ids of the nodes without children, in display order (never the root)."""
        return [n for n in self.walk() if not self.children[n]]

    def depth(self, node_id: int) -> int:
        """0 for the root, 1 for a top-level node, and so on."""
        return len(self.ancestors(node_id)) + (0 if node_id == self.root_id else 1)

    def height(self, node_id: int) -> int:
        """Levels in the subtree of ``node_id``: 1 for a leaf."""
        base = self.depth(node_id)
        return 1 + max((self.depth(d) - base for d in self.descendants(node_id)), default=0)

    def to_json(self, builtin: Mapping[int, str] | None = None) -> dict[str, Any]:
        """The tree in the file format (leaves have no ``"children"`` key); ``builtin``
        (node id → bundled node path) adds each node's ``"builtin"`` (version 2)."""
        top: list[dict[str, Any]] = []
        stack: list[tuple[int, list[dict[str, Any]]]] = [(self.root_id, top)]
        while stack:
            nid, into = stack.pop()
            for cid in self.children[nid]:
                entry: dict[str, Any] = {"name": self.nodes[cid].name}
                if builtin and cid in builtin:
                    entry["builtin"] = builtin[cid]
                into.append(entry)
                if self.children[cid]:
                    entry["children"] = []
                    stack.append((cid, entry["children"]))
        return {"format": FORMAT, "version": 2 if builtin else 1, "name": self.name,
                "nodes": top}

    def _no_node(self, parts: Sequence[str]) -> TreeError:
        wanted = _display(parts)
        by_key = {_key(self.path_str(n)): self.path_str(n) for n in self.walk()}
        hints: list[str] = []
        if parts:
            last = _key(parts[-1])
            hints = [p for k, p in by_key.items() if k.rsplit("/", 1)[-1] == last]
        hints += [by_key[k] for k in difflib.get_close_matches(_key(wanted), list(by_key), n=3)]
        hints = list(dict.fromkeys(hints))[:5]
        msg = f"no node {_q(wanted)} in tree {_q(self.name)}"
        return TreeError(msg + (f" (did you mean: {', '.join(hints)}?)" if hints else ""))


# -- reading trees from the library ------------------------------------------------------

def _tree_rows(conn: Connection) -> list[tuple[int, str]]:
    return [(int(r[0]), str(r[1])) for r in conn.execute(select(trees.c.id, trees.c.name))]


def _find_tree(conn: Connection, name: str) -> tuple[int, str] | None:
    """The tree called ``name``: exactly, else ignoring case (names are unique that way)."""
    if not isinstance(name, str):
        raise TreeError(f"a tree name must be text, not {_type_name(name)}")
    text = unicodedata.normalize("NFC", name.strip())
    row = conn.execute(select(trees.c.id, trees.c.name).where(trees.c.name == text)).first()
    if row is not None:
        return int(row[0]), str(row[1])
    key = _key(text)
    return next((r for r in _tree_rows(conn) if _key(r[1]) == key), None)


def _no_tree(conn: Connection, name: str) -> TreeError:
    names = sorted((n for _i, n in _tree_rows(conn)), key=_key)
    msg = f"no tree named {_q(str(name).strip())}"
    if not names:
        return TreeError(msg + " (the library has no trees yet)")
    by_key = {_key(n): n for n in names}
    close = [by_key[k] for k in difflib.get_close_matches(_key(str(name)), list(by_key), n=3)]
    if close:
        return TreeError(msg + f" (did you mean: {', '.join(close)}?)")
    shown = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
    return TreeError(msg + f" (trees: {shown})")


def read_tree(conn: Connection, name: str) -> Tree:
    """The tree called ``name``, read through an open connection (inside a transaction)."""
    found = _find_tree(conn, name)
    if found is None:
        raise _no_tree(conn, name)
    return _read_tree_id(conn, *found)


def _read_tree_id(conn: Connection, tree_id: int, name: str) -> Tree:
    rows = conn.execute(
        select(nodes.c.id, nodes.c.parent_id, nodes.c.name, nodes.c.position)
        .where(nodes.c.tree_id == tree_id).order_by(nodes.c.position, nodes.c.id)).all()
    all_nodes = {int(r[0]): Node(int(r[0]), None if r[1] is None else int(r[1]), str(r[2]),
                                 int(r[3])) for r in rows}
    roots = [n.id for n in all_nodes.values() if n.parent_id is None]
    if len(roots) != 1:
        raise TreeError(f"tree {_q(name)} is damaged: it has {len(roots)} root nodes")
    children: dict[int, list[int]] = {nid: [] for nid in all_nodes}
    for node in all_nodes.values():  # already in (position, id) order
        if node.parent_id is not None:
            if node.parent_id not in children:
                raise TreeError(f"tree {_q(name)} is damaged: node {node.id} has no parent")
            children[node.parent_id].append(node.id)
    return Tree(tree_id, name, roots[0], all_nodes, children)


def list_trees(lib: Library) -> list[str]:
    """The names of the library's trees, sorted ignoring case."""
    with lib.reading() as conn:
        return sorted((n for _i, n in _tree_rows(conn)), key=_key)


def load_tree(lib: Library, name: str) -> Tree:
    """The tree called ``name`` (exact, else ignoring case), or :class:`TreeError`."""
    with lib.reading() as conn:
        return read_tree(conn, name)


# -- writing -----------------------------------------------------------------------------

def _node_path_arg(path: str | Sequence[str], what: str) -> tuple[str, ...]:
    parts = split_path(path)
    if not parts:
        raise TreeError(f"give the path of the node to {what}, e.g. \"Drums/Kick\"")
    return parts


def _renumber(conn: Connection, tree: Tree, ordered: Sequence[int]) -> None:
    """Store ``ordered`` as positions 0, 1, … (only the rows that change are written)."""
    changes = [{"nid": nid, "pos": pos} for pos, nid in enumerate(ordered)
               if nid not in tree.nodes or tree.nodes[nid].position != pos]
    if changes:
        conn.execute(update(nodes).where(nodes.c.id == bindparam("nid"))
                     .values(position=bindparam("pos")), changes)


def _insert_at(siblings: Sequence[int], node_id: int, position: int | None) -> list[int]:
    out = [s for s in siblings if s != node_id]
    out.insert(len(out) if position is None else min(position, len(out)), node_id)
    return out


def _check_position(position: int | None) -> None:
    if position is None:
        return
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise TreeError(f"a position is a whole number from 0 up, not {position!r}")


def _check_sibling_free(tree: Tree, parent_id: int, name: str, *, moving: int | None = None
                        ) -> None:
    clash = tree.child(parent_id, name)
    if clash is not None and clash.id != moving:
        where = (f"the top level of tree {_q(tree.name)}" if parent_id == tree.root_id
                 else _q(tree.path_str(parent_id)))
        raise TreeError(f"{where} already has a node named {_q(clash.name)} (names are "
                        "compared ignoring case)")


def _new_tree_row(conn: Connection, name: str) -> int:
    existing = _find_tree(conn, name)
    if existing is not None:
        raise TreeError(f"a tree named {_q(existing[1])} already exists")
    return _inserted_id(conn.execute(insert(trees).values(name=name, created_at=time.time())))


def _inserted_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def create_tree(lib: Library, name: str, *, from_default: str | None = None) -> Tree:
    """A new tree called ``name``: empty, or a copy of the bundled tree ``from_default``
    (which keeps that tree's built-in examples, :mod:`core.builtins`).

    A name already taken (ignoring case) is a :class:`TreeError`.
    """
    name = clean_name(name, "tree name")
    spec = _parse_tree_data(load_default(from_default)) if from_default is not None else None
    with lib.transaction() as conn:
        tree_id = _new_tree_row(conn, name)
        _insert_nodes(conn, tree_id, spec.nodes if spec is not None else [])
        tree = _read_tree_id(conn, tree_id, name)
        if from_default is not None:  # it keeps the bundled tree's built-in examples
            from core.builtins import mark_from_default

            mark_from_default(conn, tree, load_default(from_default)["name"])
        return tree


def rename_tree(lib: Library, name: str, new_name: str) -> Tree:
    """Rename a tree (its nodes, examples and predictions stay)."""
    new_name = clean_name(new_name, "tree name")
    with lib.transaction() as conn:
        tree = read_tree(conn, name)
        other = _find_tree(conn, new_name)
        if other is not None and other[0] != tree.id:
            raise TreeError(f"a tree named {_q(other[1])} already exists")
        conn.execute(update(trees).where(trees.c.id == tree.id).values(name=new_name))
        return _read_tree_id(conn, tree.id, new_name)


def delete_tree(lib: Library, name: str) -> Removed:
    """Delete a tree with its nodes, examples and predictions; say how much went (and keep
    it for :func:`restore_tree`)."""
    with lib.transaction() as conn:
        tree = read_tree(conn, name)
        row = conn.execute(select(trees).where(trees.c.id == tree.id)).one()
        batches = tuple(r.id for r in conn.execute(
            select(relabel_batches.c.id).where(relabel_batches.c.tree_id == tree.id)))
        kept_nodes, kept_supports = _kept_rows(conn, tree,
                                               [tree.root_id, *tree.descendants(tree.root_id)])
        conn.execute(delete(supports).where(supports.c.tree_id == tree.id))
        conn.execute(delete(nodes).where(nodes.c.tree_id == tree.id))
        conn.execute(delete(trees).where(trees.c.id == tree.id))
        kept = DeletedTree(row.name, row.created_at, row.builtins_from, bool(row.builtins_off),
                           batches, kept_nodes, kept_supports)
        return Removed(len(tree), len(kept_supports), kept)


def restore_tree(lib: Library, kept: DeletedTree) -> Removed:
    """Put back a tree :func:`delete_tree` removed (its :attr:`Removed.kept`), with its
    nodes, built-in setting and the examples whose files are still in the library; the
    relabel batches made with it name it again. Refused, with nothing changed, when a tree
    of that name was made since."""
    with lib.transaction() as conn:
        taken = _find_tree(conn, kept.name)
        if taken is not None:
            raise TreeError(f"cannot bring back the tree {_q(kept.name)}: a tree named "
                            f"{_q(taken[1])} was made since")
        tree_id = _inserted_id(conn.execute(insert(trees).values(
            name=kept.name, created_at=kept.created_at, builtins_from=kept.builtins_from,
            builtins_off=kept.builtins_off)))
        _new_ids, n_back = _put_back(conn, tree_id, kept.nodes, kept.supports)
        if kept.batches:
            conn.execute(update(relabel_batches)
                         .where(relabel_batches.c.id.in_(kept.batches),
                                relabel_batches.c.tree_id.is_(None))
                         .values(tree_id=tree_id))
        return Removed(len(kept.nodes) - 1, n_back)


def add_node(lib: Library, tree_name: str, path: str | Sequence[str], *, parents: bool = True,
             exist_ok: bool = False, position: int | None = None) -> Node:
    """Add the node at ``path`` and return it.

    ``parents``: create missing parents too (else a missing parent is an error).
    ``exist_ok``: return an existing node instead of refusing. ``position``: index among
    its siblings (None or past the end: last).
    """
    parts = _node_path_arg(path, "add")
    _check_position(position)
    with lib.transaction() as conn:
        tree = read_tree(conn, tree_name)
        parent_id, existing = tree.root_id, 0
        for part in parts:
            hit = tree.child(parent_id, part)
            if hit is None:
                break
            parent_id, existing = hit.id, existing + 1
        if existing == len(parts):
            if exist_ok:
                return tree.nodes[parent_id]
            raise TreeError(f"tree {_q(tree.name)} already has a node "
                            f"{_q(tree.path_str(parent_id))}")
        if existing < len(parts) - 1 and not parents:
            raise tree._no_node(parts[:existing + 1])
        if len(parts) > MAX_DEPTH:
            raise TreeError(f"{_q(_display(parts))} is {len(parts)} levels deep: a tree can "
                            f"be at most {MAX_DEPTH} levels deep")
        new = len(parts) - existing
        if len(tree) + new > MAX_NODES:
            raise TreeError(f"tree {_q(tree.name)} would have more than {MAX_NODES:,} nodes")
        node_id = 0
        for i, part in enumerate(parts[existing:]):
            last = i == new - 1
            siblings = tree.children[parent_id] if i == 0 else []
            node_id = _inserted_id(conn.execute(insert(nodes).values(
                tree_id=tree.id, parent_id=parent_id, name=part, position=len(siblings))))
            if last and position is not None:
                _renumber(conn, tree, _insert_at(siblings, node_id, position))
            parent_id = node_id
        return _read_tree_id(conn, tree.id, tree.name).nodes[node_id]


def rename_node(lib: Library, tree_name: str, path: str | Sequence[str], new_name: str) -> Node:
    """Rename the node at ``path`` (its examples stay); returns the renamed node."""
    parts = _node_path_arg(path, "rename")
    name = clean_name(new_name)
    with lib.transaction() as conn:
        tree = read_tree(conn, tree_name)
        node = tree.require(parts)
        assert node.parent_id is not None  # a non-empty path is never the root
        _check_sibling_free(tree, node.parent_id, name, moving=node.id)
        conn.execute(update(nodes).where(nodes.c.id == node.id).values(name=name))
        return Node(node.id, node.parent_id, name, node.position)


def move_node(lib: Library, tree_name: str, path: str | Sequence[str],
              new_parent_path: str | Sequence[str], position: int | None = None) -> Node:
    """Move the node at ``path`` (with its subtree and examples) under ``new_parent_path``.

    ``""`` is the top level. ``position``: index among the new siblings (None or past
    the end: last). Moving a node under itself or one of its descendants is refused.
    """
    parts = _node_path_arg(path, "move")
    split_path(new_parent_path)
    _check_position(position)
    with lib.transaction() as conn:
        tree = read_tree(conn, tree_name)
        node = tree.require(parts)
        target = tree.require(new_parent_path)
        assert node.parent_id is not None
        if target.id == node.id:
            raise TreeError(f"cannot move {_q(tree.path_str(node.id))} under itself")
        if target.id in set(tree.descendants(node.id)):
            raise TreeError(f"cannot move {_q(tree.path_str(node.id))} under its own "
                            f"descendant {_q(tree.path_str(target.id))}")
        _check_sibling_free(tree, target.id, node.name, moving=node.id)
        if tree.depth(target.id) + tree.height(node.id) > MAX_DEPTH:
            raise TreeError(f"moving {_q(tree.path_str(node.id))} there would make the tree "
                            f"deeper than {MAX_DEPTH} levels")
        if target.id != node.parent_id:
            conn.execute(update(nodes).where(nodes.c.id == node.id)
                         .values(parent_id=target.id))
            _renumber(conn, tree, [s for s in tree.children[node.parent_id] if s != node.id])
        order = _insert_at(tree.children[target.id], node.id, position)
        _renumber(conn, tree, order)
        return Node(node.id, target.id, node.name, order.index(node.id))


def reorder_node(lib: Library, tree_name: str, path: str | Sequence[str], position: int) -> Node:
    """Move the node at ``path`` to index ``position`` among its siblings (past the end:
    last)."""
    parts = _node_path_arg(path, "reorder")
    if position is None:
        raise TreeError("give the new position (0 is first)")
    _check_position(position)
    with lib.transaction() as conn:
        tree = read_tree(conn, tree_name)
        node = tree.require(parts)
        assert node.parent_id is not None
        order = _insert_at(tree.children[node.parent_id], node.id, position)
        _renumber(conn, tree, order)
        return Node(node.id, node.parent_id, node.name, order.index(node.id))


def delete_node(lib: Library, tree_name: str, path: str | Sequence[str]) -> Removed:
    """Delete the node at ``path``, its subtree, and their examples; say how much went."""
    parts = _node_path_arg(path, "delete")
    with lib.transaction() as conn:
        tree = read_tree(conn, tree_name)
        node = tree.require(parts)
        assert node.parent_id is not None
        doomed = [node.id, *tree.descendants(node.id)]
        kept_nodes, kept_supports = _kept_rows(conn, tree, doomed)
        for i in range(0, len(doomed), _CHUNK):
            conn.execute(delete(supports).where(supports.c.node_id.in_(doomed[i:i + _CHUNK])))
        # From the end of the pre-order list: descendants go before their ancestors, so
        # the foreign-key cascades stay shallow.
        for i in range(len(doomed), 0, -_CHUNK):
            conn.execute(delete(nodes).where(nodes.c.id.in_(doomed[max(0, i - _CHUNK):i])))
        _renumber(conn, tree, [s for s in tree.children[node.parent_id] if s != node.id])
        kept = DeletedNode(tree.id, node.parent_id, tuple(tree.path(node.id)), kept_nodes,
                           kept_supports)
        return Removed(len(doomed), len(kept_supports), kept)


def restore_node(lib: Library, tree_name: str, kept: DeletedNode) -> Removed:
    """Put back what :func:`delete_node` removed (its :attr:`Removed.kept`): the node where
    it was among its siblings, its subtree and its examples. Examples of files that are
    gone from the library, or that were taught elsewhere in the tree since, stay out (the
    count says how many came back). Refused, with nothing changed, when the parent is gone
    or a node of the same name took the place."""
    with lib.transaction() as conn:
        tree = read_tree(conn, tree_name)
        if tree.id != kept.tree_id:
            raise TreeError(f"tree {_q(tree.name)} is not the tree the node was deleted from")
        where = _display(kept.path)
        if kept.parent_id not in tree.nodes:
            raise TreeError(f"cannot bring back {_q(where)}: the node it was in has been "
                            "deleted since")
        top = kept.nodes[0]
        _check_sibling_free(tree, kept.parent_id, top[2])
        if len(tree) + len(kept.nodes) > MAX_NODES:
            raise TreeError(f"tree {_q(tree.name)} would have more than {MAX_NODES:,} nodes")
        new_id, n_back = _put_back(conn, tree.id, kept.nodes, kept.supports,
                                   top_position=len(tree.children[kept.parent_id]))
        _renumber(conn, tree, _insert_at(tree.children[kept.parent_id], new_id[top[0]],
                                         top[3]))
        return Removed(len(kept.nodes), n_back)


def _kept_rows(conn: Connection, tree: Tree, ids: Sequence[int]
               ) -> tuple[tuple[_NodeRow, ...], tuple[_SupportRow, ...]]:
    """The node rows ``ids`` (parents first) and their examples, as a deletion keeps them."""
    builtin = {r.id: r.builtin for i in range(0, len(ids), _CHUNK) for r in conn.execute(
        select(nodes.c.id, nodes.c.builtin).where(nodes.c.id.in_(ids[i:i + _CHUNK])))}
    kept_nodes = tuple((nid, tree.nodes[nid].parent_id, tree.nodes[nid].name,
                        tree.nodes[nid].position, builtin[nid]) for nid in ids)
    kept_supports = tuple(
        (r.node_id, r.sample_id, r.window_idx, r.created_at)
        for i in range(0, len(ids), _CHUNK) for r in conn.execute(
            select(supports.c.node_id, supports.c.sample_id, supports.c.window_idx,
                   supports.c.created_at)
            .where(supports.c.node_id.in_(ids[i:i + _CHUNK])).order_by(supports.c.id)))
    return kept_nodes, kept_supports


def _put_back(conn: Connection, tree_id: int, kept_nodes: Sequence[_NodeRow],
              kept_supports: Sequence[_SupportRow], *, top_position: int | None = None
              ) -> tuple[dict[int, int], int]:
    """Insert kept node rows under new ids (a parent not among them is an existing node)
    and the examples of files still in the library and not taught elsewhere in the tree;
    ``top_position`` overrides the first node's. Returns (old id → new id, how many
    examples came back)."""
    new_id: dict[int, int] = {}
    for nid, parent, name, position, builtin in kept_nodes:
        new_id[nid] = _inserted_id(conn.execute(insert(nodes).values(
            tree_id=tree_id, parent_id=None if parent is None else new_id.get(parent, parent),
            name=name, builtin=builtin,
            position=top_position if nid == kept_nodes[0][0] and top_position is not None
            else position)))
    taught = {r.sample_id for r in conn.execute(
        select(supports.c.sample_id).where(supports.c.tree_id == tree_id))}
    wanted = sorted({s[1] for s in kept_supports} - taught)
    present = {r.id for i in range(0, len(wanted), _CHUNK) for r in conn.execute(
        select(samples.c.id).where(samples.c.id.in_(wanted[i:i + _CHUNK])))}
    back = [{"tree_id": tree_id, "node_id": new_id[nid], "sample_id": sid,
             "window_idx": widx, "created_at": created}
            for nid, sid, widx, created in kept_supports if sid in present]
    if back:
        conn.execute(insert(supports), back)
    return new_id, len(back)


# -- the file format ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    """A checked tree file: nodes as (parent index or -1, name, position), parents first;
    version 2's built-ins: ``builtins`` (bundled tree, off) and ``builtin`` (node index →
    bundled node path)."""

    name: str
    nodes: list[tuple[int, str, int]]
    builtins: tuple[str, bool] | None = None
    builtin: dict[int, str] | None = None


def _parse_tree_data(data: object) -> _Spec:
    """Check parsed JSON (or equivalent Python objects) completely, without recursion."""
    if not isinstance(data, Mapping):
        raise TreeError(f"not a Sampletree tree file: it holds {_type_name(data)}, "
                        f"expected an object with \"format\": {_q(FORMAT)}")
    fmt = data.get("format")
    if fmt != FORMAT:
        shown = "missing" if "format" not in data else json.dumps(fmt, default=str)[:60]
        raise TreeError(f"not a Sampletree tree file: \"format\" is {shown}, expected "
                        f"{_q(FORMAT)}")
    if "version" not in data:
        raise TreeError("the tree file has no \"version\"")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise TreeError(f"the tree file's \"version\" must be a whole number, not "
                        f"{_type_name(version)}")
    if not 1 <= version <= FORMAT_VERSION:
        newer = " (it was written by a newer Sampletree)" if version > FORMAT_VERSION else ""
        raise TreeError(f"unsupported tree file version {version}{newer}; this Sampletree "
                        f"reads versions 1 to {FORMAT_VERSION}")
    top_keys, node_keys = (_TOP_KEYS, _NODE_KEYS) if version == 1 else (_TOP_KEYS_V2,
                                                                         _NODE_KEYS_V2)
    extra = sorted(str(k) for k in data if k not in top_keys)
    if extra:
        raise TreeError(f"unknown key {_q(extra[0])} in the tree file (known: "
                        f"{', '.join(sorted(top_keys))})")
    builtins = _parse_builtins(data["builtins"]) if "builtins" in data else None
    builtin: dict[int, str] = {}
    if "name" not in data:
        raise TreeError("the tree file has no \"name\"")
    name = clean_name(data["name"], "tree file's name")
    if "nodes" not in data:
        raise TreeError("the tree file has no \"nodes\" list")

    out: list[tuple[int, str, int]] = []
    seen: dict[int, str] = {}  # id() of every node object met → where

    def once(obj: object, where: str) -> None:
        first = seen.setdefault(id(obj), where)
        if first != where:
            raise TreeError(f"the same node object appears twice in the tree, at {first} and "
                            f"at {where} (a node can have only one place)")

    # Breadth first: a queue of sibling lists, so parents are emitted before children.
    queue: deque[tuple[object, int, tuple[str, ...], str]] = deque(
        [(data["nodes"], -1, (), "nodes")])
    while queue:
        items, parent_idx, parent_path, where = queue.popleft()
        under = f" under {_q(_display(parent_path))}" if parent_path else ""
        if not isinstance(items, list):
            raise TreeError(f"{where}{under} must be a list of nodes, not {_type_name(items)}")
        depth = len(parent_path) + 1
        if items and depth > MAX_DEPTH:
            raise TreeError(f"the tree is nested deeper than {MAX_DEPTH} levels (at "
                            f"{_q(_display(parent_path))})")
        names: dict[str, str] = {}
        for pos, item in enumerate(items):
            at = f"{where}[{pos}]"
            if not isinstance(item, Mapping):
                raise TreeError(f"node {at}{under} must be an object like "
                                f"{{\"name\": \"Kick\"}}, not {_type_name(item)}")
            once(item, at)
            unknown = sorted(str(k) for k in item if k not in node_keys)
            if unknown:
                raise TreeError(f"node {at}{under} has an unknown key {_q(unknown[0])} "
                                "(a node has \"name\" and optionally \"children\""
                                + (" and \"builtin\")" if version > 1 else ")"))
            if "name" not in item:
                raise TreeError(f"node {at}{under} has no name")
            text, problem = _name_problem(item["name"])
            if problem is not None:
                raise TreeError(f"node {at}{under}: the name {problem}")
            clash = names.get(_key(text))
            if clash is not None:
                place = _q(_display(parent_path)) if parent_path else "the top level"
                raise TreeError(f"duplicate node name at {at}: {place} has both {_q(clash)} "
                                f"and {_q(text)} (names are compared ignoring case)")
            names[_key(text)] = text
            if len(out) >= MAX_NODES:
                raise TreeError(f"the tree has more than {MAX_NODES:,} nodes")
            out.append((parent_idx, text, pos))
            if "builtin" in item:
                mapped = item["builtin"]
                if not isinstance(mapped, str) or not _lenient_keys(mapped):
                    raise TreeError(f"node {at}{under}: \"builtin\" must be the path of a "
                                    f"bundled tree's node, like \"Drums/Kick\", not "
                                    f"{json.dumps(mapped, default=str)[:60]}")
                builtin[len(out) - 1] = "/".join(split_path(mapped))
            kids = item.get("children")
            if kids is not None:
                queue.append((kids, len(out) - 1, (*parent_path, text), f"{at}.children"))
    return _Spec(name, out, builtins, builtin)


def _parse_builtins(value: object) -> tuple[str, bool]:
    """A version 2 file's ``"builtins": {"from": "producer", "off": false}``."""
    if not isinstance(value, Mapping):
        raise TreeError(f"the tree file's \"builtins\" must be an object like "
                        f"{{\"from\": \"producer\", \"off\": false}}, not {_type_name(value)}")
    extra = sorted(str(k) for k in value if k not in ("from", "off"))
    if extra:
        raise TreeError(f"unknown key {_q(extra[0])} in the tree file's \"builtins\" (known: "
                        "from, off)")
    source = clean_name(value.get("from"), "bundled tree named in \"builtins\"")
    off = value.get("off", False)
    if not isinstance(off, bool):
        raise TreeError(f"the tree file's \"builtins\": \"off\" must be true or false, not "
                        f"{_type_name(off)}")
    return source, off


def validate_tree_json(data: object) -> None:
    """Raise :class:`TreeError` (saying which node and what is wrong) unless ``data`` is
    a valid tree file.

    ``data`` is the file's content (``bytes``: size, UTF-8 and JSON are checked too;
    ``str``: JSON text) or already-parsed JSON / equivalent Python objects (the same
    object appearing twice, even as a cycle, is refused).
    """
    if isinstance(data, bytes | bytearray | memoryview):
        data = _parse_json(bytes(data), "the tree file")
    elif isinstance(data, str):
        data = _parse_json(data, "the tree text")
    _parse_tree_data(data)


def _read_tree_file(file: str | os.PathLike[str] | IO[bytes] | IO[str]) -> object:
    """Read and parse a tree file (a path or an open file), at most the size limit."""
    if isinstance(file, str | os.PathLike):
        label = _printable(file)
        try:
            with open(file, "rb") as fh:
                raw: bytes | str = fh.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            raise TreeError(f"no such file: {label}") from None
        except IsADirectoryError:
            raise TreeError(f"{label} is a folder, not a tree file") from None
        except OSError as exc:
            raise TreeError(f"cannot read {label}: {exc.strerror or exc}") from None
    else:
        name = getattr(file, "name", None)
        label = _printable(name) if isinstance(name, str) else "the tree file"
        try:
            raw = file.read(MAX_FILE_BYTES + 1)
        except UnicodeDecodeError:
            raise TreeError(f"{label} is not UTF-8 text") from None
        except OSError as exc:
            raise TreeError(f"cannot read {label}: {exc.strerror or exc}") from None
    return _parse_json(raw, label)


def _parse_json(raw: bytes | str, label: str) -> object:
    """JSON from a tree file's content, with its size and encoding checked first."""
    if len(raw) > MAX_FILE_BYTES:
        raise TreeError(f"{label} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: too "
                        f"big for a tree file (a tree has at most {MAX_NODES:,} nodes)")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TreeError(f"{label} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                            f"offset {exc.start})") from None
    else:
        text = raw
    try:
        return json.loads(text)
    except RecursionError:
        raise TreeError(f"{label} is nested too deeply to be a tree file (a tree has at "
                        f"most {MAX_DEPTH} levels)") from None
    except json.JSONDecodeError as exc:
        raise TreeError(f"{label} is not valid JSON: {exc.msg} (line {exc.lineno}, column "
                        f"{exc.colno})") from None
    except ValueError as exc:  # e.g. an integer with too many digits
        raise TreeError(f"{label} is not valid JSON: {exc}") from None


def _insert_nodes(conn: Connection, tree_id: int, spec_nodes: Sequence[tuple[int, str, int]]
                  ) -> dict[tuple[str, ...], int]:
    """Insert the root and ``spec_nodes`` in one statement; map key paths → node ids.

    Ids are assigned here (the write lock is held), so one executemany does it all and
    every parent row precedes its children's.
    """
    base = int(conn.execute(select(func.coalesce(func.max(nodes.c.id), 0))).scalar_one()) + 1
    rows: list[dict[str, Any]] = [
        {"id": base, "tree_id": tree_id, "parent_id": None, "name": "", "position": 0}]
    keys: list[tuple[str, ...]] = []
    by_key: dict[tuple[str, ...], int] = {(): base}
    for i, (parent_idx, name, pos) in enumerate(spec_nodes):
        key = (*(keys[parent_idx] if parent_idx >= 0 else ()), _key(name))
        keys.append(key)
        by_key[key] = base + 1 + i
        rows.append({"id": base + 1 + i, "tree_id": tree_id, "name": name, "position": pos,
                     "parent_id": base if parent_idx < 0 else base + 1 + parent_idx})
    conn.execute(insert(nodes), rows)
    return by_key


def import_tree(lib: Library, file: TreeSource, *, name: str | None = None,
                replace: bool = False, notes: list[str] | None = None) -> Tree:
    """Import a tree file (a path, an open file, or already-parsed JSON) as one tree.

    ``name`` overrides the file's name. A tree of that name (ignoring case) is refused
    unless ``replace``; then its nodes are replaced, and its examples (and built-in
    examples) whose node path still exists (ignoring case) are kept on the new node — the
    others go. All or nothing: any problem leaves the library untouched.

    A version 2 file's built-ins (where they come from, on or off, each node's bundled
    node) are restored when this Sampletree bundles that tree; when it does not, the tree
    comes without them and ``notes`` (when given) gets a line saying so.
    """
    data = file if isinstance(file, Mapping) else _read_tree_file(file)
    spec = _parse_tree_data(data)
    tree_name = clean_name(name, "tree name") if name is not None else spec.name
    source: str | None = None
    if spec.builtins is not None:
        by_key = {_key(n): n for n in default_trees()}
        source = by_key.get(_key(spec.builtins[0]))
        if source is None and notes is not None:
            notes.append(f"imported without built-in examples: the file's come from the "
                         f"bundled tree {_q(spec.builtins[0])}, which this Sampletree does "
                         f"not have (bundled trees: {', '.join(default_trees())})")
    with lib.transaction() as conn:
        existing = _find_tree(conn, tree_name)
        kept: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        if existing is not None and not replace:
            raise TreeError(f"a tree named {_q(existing[1])} already exists; import it under "
                            "another name or replace it")
        builtin_of: dict[tuple[str, ...], str] = {}
        if existing is not None:
            old = _read_tree_id(conn, *existing)
            for row in conn.execute(select(supports).where(supports.c.tree_id == old.id)
                                    ).mappings():
                key = tuple(_key(p) for p in old.path(row["node_id"]))
                kept.append((key, {k: row[k] for k in ("sample_id", "window_idx",
                                                        "created_at")}))
            # nodes that survive keep their built-in examples too (core.builtins)
            for nid, builtin in conn.execute(select(nodes.c.id, nodes.c.builtin).where(
                    (nodes.c.tree_id == old.id) & nodes.c.builtin.is_not(None))):
                builtin_of[tuple(_key(p) for p in old.path(int(nid)))] = str(builtin)
            conn.execute(delete(supports).where(supports.c.tree_id == old.id))
            conn.execute(delete(predictions).where(predictions.c.tree_id == old.id))
            conn.execute(delete(nodes).where(nodes.c.tree_id == old.id))
            conn.execute(update(trees).where(trees.c.id == old.id).values(name=tree_name))
            tree_id = old.id
        else:
            tree_id = _new_tree_row(conn, tree_name)
        by_key = _insert_nodes(conn, tree_id, spec.nodes)
        again = [{**values, "tree_id": tree_id, "node_id": by_key[key]}
                 for key, values in kept if key in by_key and key]
        if again:
            conn.execute(insert(supports), again)
        if source is not None:  # the file says where its built-ins come from: as it says
            assert spec.builtins is not None
            builtin_of = _file_builtins(spec, source)
            conn.execute(update(trees).where(trees.c.id == tree_id).values(
                builtins_from=source, builtins_off=spec.builtins[1]))
        marks = [{"nid": by_key[key], "b": b} for key, b in builtin_of.items() if key in by_key]
        if marks:
            conn.execute(update(nodes).where(nodes.c.id == bindparam("nid"))
                         .values(builtin=bindparam("b")), marks)
        return _read_tree_id(conn, tree_id, tree_name)


def _file_builtins(spec: _Spec, source: str) -> dict[tuple[str, ...], str]:
    """Key path of each node of a version 2 file → its bundled node, as the bundled tree
    ``source`` spells it (nodes naming a path that tree does not have are left without)."""
    from core.builtins import _bundled_paths

    bundled = {_key(p): p for p in _bundled_paths(source)}
    keys: list[tuple[str, ...]] = []
    out: dict[tuple[str, ...], str] = {}
    for i, (parent_idx, name, _pos) in enumerate(spec.nodes):
        keys.append((*(keys[parent_idx] if parent_idx >= 0 else ()), _key(name)))
        path = (spec.builtin or {}).get(i)
        if path is not None and _key(path) in bundled:
            out[keys[-1]] = bundled[_key(path)]
    return out


def tree_file_data(lib: Library, name: str) -> dict[str, Any]:
    """The tree called ``name`` as :func:`export_tree` writes it: with where its built-in
    examples come from (version 2) when it has any, else as version 1."""
    from core.builtins import tree_builtins

    with lib.reading() as conn:
        tree = read_tree(conn, name)
        tb = tree_builtins(conn, tree)
    if tb.source is None:
        return tree.to_json()
    data = tree.to_json(builtin=tb.node_paths)
    data["version"] = 2
    data["builtins"] = {"from": tb.source, "off": tb.off}
    return data


def export_tree(lib: Library, name: str, file: str | os.PathLike[str] | IO[str] | IO[bytes]
                ) -> None:
    """Write the tree as a UTF-8 JSON file (to a path, atomically, or to an open file)."""
    text = json.dumps(tree_file_data(lib, name), indent=2, ensure_ascii=False) + "\n"
    if not isinstance(file, str | os.PathLike):
        try:
            cast(IO[str], file).write(text)
        except TypeError:  # a binary file refuses str before writing anything
            cast(IO[bytes], file).write(text.encode("utf-8"))
        return
    path = Path(file)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise TreeError(f"cannot write {_printable(path)}: {exc.strerror or exc}") from None


# -- bundled default trees ---------------------------------------------------------------

def _defaults_dir() -> Any:
    return resources.files("resources").joinpath("trees")


def _default_files() -> Iterator[tuple[str, Any]]:
    for entry in _defaults_dir().iterdir():
        if entry.name.endswith(".json") and entry.is_file():
            yield entry.name[:-len(".json")], entry


def default_trees() -> list[str]:
    """Names of the trees bundled with Sampletree (``resources/trees/*.json``)."""
    return sorted(name for name, _entry in _default_files())


def load_default(name: str) -> dict[str, Any]:
    """The bundled tree ``name`` as checked file-format data."""
    files = dict(_default_files())
    entry = files.get(name)
    if entry is None:
        by_key = {_key(n): n for n in files}
        entry = files.get(by_key.get(_key(str(name)), ""))
    if entry is None:
        close = difflib.get_close_matches(str(name), sorted(files), n=3)
        hint = f"did you mean: {', '.join(close)}?" if close else \
            f"bundled trees: {', '.join(sorted(files))}"
        raise TreeError(f"no bundled tree named {_q(str(name))} ({hint})")
    data = json.loads(entry.read_text(encoding="utf-8"))
    _parse_tree_data(data)
    assert isinstance(data, dict)
    return data
