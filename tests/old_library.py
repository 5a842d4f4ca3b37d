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
