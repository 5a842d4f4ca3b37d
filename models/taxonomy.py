"""The class tree the network is trained on, and its fixed train / validation / test split.

``models/taxonomy.json`` (made by ``scripts/make_taxonomy.py``) puts every corpus class on
a path root → Hornbostel–Sachs class → family → instrument. Heights count from the
leaves: a leaf is height 0, its family 1, its H-S class 2, the root 3.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

SPLITS = ("train", "val", "test")


def bundled_taxonomy_path() -> Path:
    return Path(str(resources.files("models") / "taxonomy.json"))


@dataclass
class Taxonomy:
    classes: dict[str, dict[str, Any]]
    #: leaf → its ancestors from the parent up to the root (names are unique per level)
    paths: dict[str, list[str]]
    version: int = 0  # models/taxonomy.json's "version"

    @classmethod
    def load(cls, path: str | Path | None = None) -> Taxonomy:
        doc = json.loads(Path(path or bundled_taxonomy_path()).read_text(encoding="utf-8"))
        tx = cls.from_tree(doc["tree"], doc["classes"])
        tx.version = int(doc.get("version", 0))
        return tx

    @classmethod
    def from_tree(cls, tree: dict, classes: dict[str, dict[str, Any]]) -> Taxonomy:
        paths: dict[str, list[str]] = {}

        def walk(node: dict, ancestors: list[str]) -> None:
            kids = node.get("children") or []
            if not kids:
                paths[node["name"]] = list(reversed(ancestors))
            for kid in kids:
                walk(kid, [*ancestors, node["name"]])

        walk(tree, [])
        depth = {len(p) for p in paths.values()}
        if len(depth) != 1:
            raise ValueError(f"the taxonomy's leaves are not all at one depth: {sorted(depth)}")
        unknown = set(paths) ^ set(classes)
        if unknown:
            raise ValueError(f"tree and class list disagree on {sorted(unknown)[:5]}")
        return cls(classes, paths)

    @property
    def height(self) -> int:
        """Height of the root above the leaves."""
        return len(next(iter(self.paths.values())))

    def split_of(self, name: str) -> str:
        return str(self.classes[name]["split"])

    def names(self, split: str | None = None) -> list[str]:
        return sorted(n for n in self.classes if split is None or self.split_of(n) == split)

    def ancestor(self, leaf: str, h: int) -> str:
        """The node ``h`` levels above ``leaf`` (``h`` = 0 is the leaf itself)."""
        if h == 0:
            return leaf
        # Level names are qualified by their height so that equal names never collide.
        return f"{h}:{self.paths[leaf][h - 1]}"

    def lca_height(self, a: str, b: str) -> int:
        """Height of the lowest common ancestor of two leaves (0 when a == b)."""
        if a == b:
            return 0
        for h in range(1, self.height + 1):
            if self.ancestor(a, h) == self.ancestor(b, h):
                return h
        return self.height

    def shuffled(self, seed: int) -> Taxonomy:
        """A random tree of the same shape: the leaves dealt to the same slots at random.

        The paper's control: if a random grouping helps as much as the real one, the
        tree's meaning is not what helps.
        """
        leaves = sorted(self.paths)
        order = leaves[:]
        random.Random(seed).shuffle(order)
        paths = {new: self.paths[old] for old, new in zip(leaves, order, strict=True)}
        return Taxonomy(self.classes, paths, self.version)
