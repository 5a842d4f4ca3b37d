"""Built-in examples: what lets a bundled tree label a library before the user teaches it.

``resources/builtins/builtins.npz`` (made by ``python -m models.builtins``) holds, for each
bundled tree, 12–24 embeddings a node of corpus clips, made with one model. A tree made from
a bundled one (``create_tree(..., from_default=...)``) records where they come from
(``trees.builtins_from``) and, node by node, which bundled node's examples it carries
(``nodes.builtin``: renaming or moving the node keeps them; a node the user adds has none
until taught). ``trees.builtins_off`` switches them off for one tree.

Built-ins are used only when the library's embeddings come from the very model that made
them (same model id); otherwise they are ignored, and :func:`status` says so.

How they combine with the user's own examples is the classifier's rule (see
:mod:`core.classify`).
"""

from __future__ import annotations

import functools
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, select, update

from core.errors import TreeError
from core.library import Library
from core.paths import bundled
from core.schema import models, nodes, trees
from core.trees import Tree, _key, default_trees, load_default, read_tree

FORMAT = 1
#: The tree a fresh library gets (``ensure_default_tree``).
DEFAULT_TREE = "producer"


@dataclass(frozen=True)
class BuiltinSet:
    """One bundled tree's built-in examples."""

    tree: str
    model_id: str
    paths: tuple[str, ...]  # node paths as in the bundled tree, "/" joined
    node: np.ndarray  # (n,) index into paths
    emb: np.ndarray  # (n, dim) float32
    spread: float  # 95th percentile distance of a corpus clip to its node's nearest example
    temperature: float  # softmax scale the classifier uses while these are in use


def resource_path() -> Path:
    """Where the built-ins file is (inside the package, or PyInstaller's bundle)."""
    return bundled("builtins", "builtins.npz")


@functools.lru_cache(maxsize=4)
def _read(path: str, mtime_ns: int) -> dict[str, BuiltinSet]:
    try:
        data = np.load(path, allow_pickle=False)
        if int(data["format"]) != FORMAT:
            return {}
        model_id = str(data["model_id"])
        out = {}
        for name in (str(t) for t in data["trees"]):
            out[name] = BuiltinSet(
                name, model_id, tuple(str(p) for p in data[f"{name}/paths"]),
                data[f"{name}/node"].astype(np.int64), data[f"{name}/emb"].astype(np.float32),
                float(data[f"{name}/spread"]), float(data[f"{name}/temperature"]))
        return out
    except (OSError, KeyError, ValueError):
        return {}


def load_all(path: Path | None = None) -> dict[str, BuiltinSet]:
    """Every bundled tree's built-ins ({} when the file is missing or unreadable)."""
    path = path or resource_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _read(str(path), mtime)


def shipped_model_id(path: Path | None = None) -> str | None:
    """The model id the built-ins file was made with (None: no usable file)."""
    sets = load_all(path)
    return next(iter(sets.values())).model_id if sets else None


# -- trees and their built-ins -------------------------------------------------------------

@dataclass(frozen=True)
class TreeBuiltins:
    """What a tree's built-ins are, as stored in the library."""

    source: str | None  # bundled tree name, None: the tree has none
    off: bool
    node_paths: dict[int, str]  # node id → bundled node path


def tree_builtins(conn: Connection, tree: Tree) -> TreeBuiltins:
    row = conn.execute(select(trees.c.builtins_from, trees.c.builtins_off)
                       .where(trees.c.id == tree.id)).one()
    mapped = {int(r[0]): str(r[1]) for r in conn.execute(
        select(nodes.c.id, nodes.c.builtin).where(
            (nodes.c.tree_id == tree.id) & nodes.c.builtin.is_not(None)))}
    return TreeBuiltins(row[0], bool(row[1]), mapped)


def mark_from_default(conn: Connection, tree: Tree, default: str) -> None:
    """Record that ``tree`` was made from the bundled tree ``default``: every node whose
    path is a path of that tree carries its built-ins."""
    bundled = {_key(p): p for p in _bundled_paths(default)}
    rows = [{"nid": n, "b": bundled[_key(tree.path_str(n))]} for n in tree.walk()
            if _key(tree.path_str(n)) in bundled]
    conn.execute(update(trees).where(trees.c.id == tree.id)
                 .values(builtins_from=default, builtins_off=False))
    if rows:
        from sqlalchemy import bindparam

        conn.execute(update(nodes).where(nodes.c.id == bindparam("nid"))
                     .values(builtin=bindparam("b")), rows)


@functools.lru_cache(maxsize=8)
def _bundled_paths(default: str) -> tuple[str, ...]:
    """Every node path of the bundled tree ``default`` (read once: the files ship with the
    app; matching_default asks on each relabel of a tree of one's own)."""
    data = load_default(default)
    out: list[str] = []
    stack: list[tuple[dict[str, Any], str]] = [(n, "") for n in reversed(data["nodes"])]
    while stack:
        node, prefix = stack.pop()
        path = prefix + node["name"]
        out.append(path)
        stack.extend((c, path + "/") for c in reversed(node.get("children", [])))
    return tuple(out)


def match_nodes(tree: Tree, bundled: Sequence[str], mapped: dict[int, str] | None = None
                ) -> dict[int, str]:
    """Node id → the bundled node (path, as the bundled tree spells it) it stands for, for
    the nodes of ``tree`` not in ``mapped`` (already carrying one): first by path, any case
    (``drums/kick`` → ``Drums/Kick``); then, for the rest, by name alone where the name is
    one bundled node's and one such node's of the tree (``Tonal/Keys/Piano`` → ``Keys/Piano``,
    ``Instruments/Bass`` → the ``Bass`` group), never taking a bundled node another node
    already stands for."""
    mapped = mapped or {}
    by_path = {_key(p): p for p in bundled}
    free = [n for n in tree.walk() if n not in mapped]
    out: dict[int, str] = {}
    for n in free:
        hit = by_path.get(_key(tree.path_str(n)))
        if hit is not None:
            out[n] = hit
    taken = set(mapped.values()) | set(out.values())
    by_name: dict[str, list[str]] = {}
    for p in bundled:
        by_name.setdefault(_key(p.rsplit("/", 1)[-1]), []).append(p)
    mine: dict[str, list[int]] = {}
    for n in free:
        if n not in out:
            mine.setdefault(_key(tree.node(n).name), []).append(n)
    for name, ids in mine.items():
        cands = by_name.get(name, [])
        if len(ids) == 1 and len(cands) == 1 and cands[0] not in taken:
            out[ids[0]] = cands[0]
            taken.add(cands[0])
    return out


def set_builtins(lib: Library, tree_name: str, on: bool, source: str | None = None) -> str:
    """Switch a tree's built-ins on or off; returns the bundled tree they come from.

    Switching on a tree that never had any (made empty or imported) needs ``source``, the
    bundled tree whose nodes it matches (:func:`match_nodes`; a tree named like a bundled
    one matches that one); nodes already mapped keep their mapping.
    """
    with lib.transaction() as conn:
        tree = read_tree(conn, tree_name)
        current = tree_builtins(conn, tree)
        if not on:
            conn.execute(update(trees).where(trees.c.id == tree.id).values(builtins_off=True))
            return current.source or ""
        if source is None:
            source = current.source
        if source is None:
            by_key = {_key(n): n for n in default_trees()}
            source = by_key.get(_key(tree.name))
        if source is None:
            raise TreeError(f"tree {tree.name!r} was not made from a bundled tree: say whose "
                            f"built-ins it takes ({', '.join(default_trees())})")
        source = load_default(source)["name"]  # checks the name, normalises its case
        if current.source != source or not current.node_paths:
            # match the nodes that have no mapping yet (by path, then by name)
            from sqlalchemy import bindparam

            found = match_nodes(tree, _bundled_paths(source), current.node_paths)
            rows = [{"nid": n, "b": b} for n, b in found.items()]
            if rows:
                conn.execute(update(nodes).where(nodes.c.id == bindparam("nid"))
                             .values(builtin=bindparam("b")), rows)
        conn.execute(update(trees).where(trees.c.id == tree.id)
                     .values(builtins_from=source, builtins_off=False))
        return source


def _library_model_id(lib: Library) -> str | None:
    """The model id of the library's embeddings (the model that embedded the most files),
    None before anything is embedded: built-ins label only what their own model embedded."""
    from core.classify import current_model_key

    key = current_model_key(lib)
    if key is None:
        return None
    with lib.reading() as conn:
        return conn.execute(select(models.c.model_id).where(models.c.id == key)).scalar()


def matching_default(lib: Library, tree: Tree) -> tuple[str, dict[str, str]] | None:
    """For a tree of the user's own (made empty or imported): the bundled tree whose
    built-in examples :func:`set_builtins` would give it, and, for each of its nodes that
    would get some, the bundled node they come from (path → bundled path, matched as
    :func:`match_nodes` does); None when no node would get any, or when the built-ins could
    not label this library (another model embedded it).

    A producer who builds "Drums/Kick" (or "Tonal/Keys/Piano") by hand gets the same
    examples a copy of the producer tree has, once they switch the built-ins on: the app and
    ``tree add`` offer it. The bundled tree that covers the most nodes wins (ties: the one
    that matches more of them by path, then by name)."""
    model_id = _library_model_id(lib)
    if model_id is None:
        return None
    sets = load_all()
    best: tuple[tuple[int, int], str, dict[str, str]] | None = None
    leaves = set(tree.leaves())
    for name in sorted(n for n in sets if sets[n].model_id == model_id):
        taught = {sets[name].paths[i] for i in np.unique(sets[name].node)}
        # a leaf at a bundled group takes the group's built-ins (_examples_of)
        groups = {t.rsplit("/", j)[0] for t in taught for j in range(1, t.count("/") + 1)}
        hits = {tree.path_str(n): b for n, b in match_nodes(tree, _bundled_paths(name)).items()
                if b in taught or (n in leaves and b in groups)}
        score = (len(hits), sum(1 for m, b in hits.items() if _key(m) == _key(b)))
        if hits and (best is None or score > best[0]):
            best = (score, name, dict(sorted(hits.items())))
    return None if best is None else (best[1], best[2])


def _examples_of(bset: BuiltinSet, index: dict[str, int], path: str, *, leaf: bool,
                 claimed: set[str]) -> np.ndarray:
    """Rows of ``bset`` a node mapped to the bundled node ``path`` uses: that node's own
    examples; for a leaf of the user's tree at a bundled *group* (which has none of its own:
    a "Bass" leaf where the bundled tree has Bass/Electric Bass, Bass/Synth Bass…), the
    examples of the group's descendants that no other node of the tree carries (``claimed``).
    Without that, the neighbours' built-ins pull such a leaf's files away."""
    i = index.get(path)
    if i is not None:
        own = np.flatnonzero(bset.node == i)
        if len(own) or not leaf:
            return own
    elif not leaf:
        return np.empty(0, dtype=np.int64)
    prefix = path + "/"
    below = [j for j, p in enumerate(bset.paths) if p.startswith(prefix) and p not in claimed]
    return np.flatnonzero(np.isin(bset.node, below))


def left_without(tree: Tree, matched: Container[str]) -> list[str]:
    """The tree's classes (leaf paths) not among ``matched`` (``matching_default``'s paths):
    switching the built-ins on leaves them none, so they lose files to the classes that
    get some until they are taught (the CLI's tip and the app's toggle say which)."""
    return [path for path in map(tree.path_str, tree.leaves()) if path not in matched]


@dataclass(frozen=True)
class Active:
    """The built-ins a tree uses now: per node id, its examples (rows of ``emb``)."""

    node_ids: np.ndarray  # (n,) node id of each example
    emb: np.ndarray  # (n, dim)
    spread: float
    temperature: float = 2.0


def status(lib: Library, tree: Tree, model_key: int | None) -> tuple[str, Active | None]:
    """(what to say, the built-ins in use or None).

    The message is one of "on", "off", "none" (the tree has no bundled source), "stale"
    (made by another model than the library's embeddings), "missing" (no built-ins file).
    """
    with lib.reading() as conn:
        tb = tree_builtins(conn, tree)
        model_id = None if model_key is None else conn.execute(
            select(models.c.model_id).where(models.c.id == model_key)).scalar()
    if tb.source is None:
        return "none", None
    if tb.off:
        return "off", None
    sets = load_all()
    bset = sets.get(tb.source)
    if bset is None:
        return "missing", None
    if model_id is not None and bset.model_id != model_id:
        return "stale", None
    mapped = {n: p for n, p in tb.node_paths.items() if n in tree.nodes}
    claimed = set(mapped.values())
    index = {p: i for i, p in enumerate(bset.paths)}
    ids, rows = [], []
    for node_id, path in mapped.items():
        hit = _examples_of(bset, index, path, leaf=not tree.children[node_id], claimed=claimed)
        ids.extend([node_id] * len(hit))
        rows.extend(hit.tolist())
    if not rows:
        return "on", None
    return "on", Active(np.array(ids, dtype=np.int64), bset.emb[rows], bset.spread,
                        bset.temperature)


def ensure_default_tree(lib: Library) -> str | None:
    """A library without any tree, whose files are embedded by the model the built-ins
    were made with, gets the bundled :data:`DEFAULT_TREE` (with its built-ins); returns
    its name, or None when nothing was made (trees already there, or built-ins that could
    not label these embeddings)."""
    from core.trees import create_tree, list_trees

    if list_trees(lib):
        return None
    model_id = _library_model_id(lib)
    if model_id is None:
        return None
    sets = load_all()
    if DEFAULT_TREE not in sets or sets[DEFAULT_TREE].model_id != model_id:
        return None
    try:
        create_tree(lib, DEFAULT_TREE, from_default=DEFAULT_TREE)
    except TreeError:
        return None  # made meanwhile by another process
    return DEFAULT_TREE
