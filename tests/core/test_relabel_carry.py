"""core.relabel.carry on what it cannot read: the restore it follows never fails for it."""

from __future__ import annotations

from pathlib import Path

from core.library import Library
from core.relabel.carry import carry_journal


def test_an_unreadable_replaced_library_is_a_note(library: Library, tmp_path: Path) -> None:
    junk = tmp_path / "lib.sqlite.replaced-1"
    junk.write_bytes(b"not a database at all" * 100)
    for other in (junk, tmp_path / "nowhere.sqlite"):
        got = carry_journal(library, other)
        assert got.batches == [] and got.followed == 0 and got.note, other


def test_nothing_to_carry_from_the_same_journal(library: Library, tmp_path: Path) -> None:
    twin = tmp_path / "twin.sqlite"
    with library.reading() as conn:
        raw = conn.connection.dbapi_connection
        import sqlite3

        dst = sqlite3.connect(twin)
        raw.backup(dst)  # type: ignore[union-attr]
        dst.close()
    got = carry_journal(library, twin)
    assert got.batches == [] and got.followed == 0 and got.note is None
