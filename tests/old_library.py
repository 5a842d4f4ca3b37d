"""Library files as an older release left them, for the migration tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def as_before(library_path: Path, migration: Callable[..., None], *undo: str) -> None:
    """Roll a library file back to how the release before ``migration`` left it: run the
    ``undo`` SQL (drop what the migration added) and set the schema version before it."""
    import sqlite3

    from core.schema import MIGRATIONS

    with sqlite3.connect(str(library_path)) as conn:
        for statement in undo:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {MIGRATIONS.index(migration)}")


def old_source_plan(dirs, existing):  # -> core.sources.SourcePlan
    """What scans did before sources were resolved (every folder its own source, by its
    absolute path, links and subfolders included): patch it over
    ``core.sources.plan_sources`` to make a library as an older release did."""
    import os

    from core import sources

    walk = [os.path.abspath(d) for d in dirs]
    return sources.SourcePlan(walk=walk, source_of={w: w for w in walk},
                              new=[w for w in walk if w not in set(existing)])
