"""Reading and writing the duplicate fingerprints (``dup_signatures``, core/dupsig.py).

Kept apart from core/library.py: the scanner writes through :func:`write_fingerprints`
inside its own batch transaction, and :mod:`core.duplicates` reads through
:func:`read_fingerprints`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from core.library import Library
from core.schema import dup_signatures, samples

_CHUNK = 500


def sample_ids_without_fingerprints(lib: Library) -> set[int]:
    """Decoded files (status ok) that have no fingerprint yet: a library scanned before
    fingerprints existed. The scanner reads them again, without embedding them."""
    with lib.reading() as conn:
        return {int(i) for (i,) in conn.execute(
            select(samples.c.id)
            .outerjoin(dup_signatures, dup_signatures.c.sample_id == samples.c.id)
            .where(samples.c.status == "ok", dup_signatures.c.sample_id.is_(None)))}


def count_without_fingerprints(lib: Library) -> int:
    return len(sample_ids_without_fingerprints(lib))


def write_fingerprints(lib: Library,
                       rows: Sequence[tuple[str, str | None, bytes | None]]) -> None:
    """Store ``(path, audio_hash, signature)`` per file; a hash None drops the file's row
    (it no longer decodes). Files are found by path, so call it after the batch that
    wrote their records, in the same transaction."""
    if not rows:
        return
    with lib.transaction() as conn:
        paths = [r[0] for r in rows]
        ids: dict[str, int] = {}
        for a in range(0, len(paths), _CHUNK):
            ids.update((p, int(i)) for i, p in conn.execute(
                select(samples.c.id, samples.c.path)
                .where(samples.c.path.in_(paths[a:a + _CHUNK]))))
        drop = [ids[p] for p, h, _ in rows if h is None and p in ids]
        keep = {ids[p]: (h, s) for p, h, s in rows if h is not None and p in ids}
        gone = drop + list(keep)
        for a in range(0, len(gone), _CHUNK):
            conn.execute(dup_signatures.delete().where(
                dup_signatures.c.sample_id.in_(gone[a:a + _CHUNK])))
        if keep:
            conn.execute(dup_signatures.insert(), [
                {"sample_id": sid, "audio_hash": h, "signature": s}
                for sid, (h, s) in keep.items()])


def read_fingerprints(lib: Library) -> tuple[list[int], list[str], list[bytes | None]]:
    """(sample ids, audio hashes, signatures) of every file with a fingerprint whose
    status is ok."""
    with lib.reading() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        rows = raw.execute(
            "SELECT d.sample_id, d.audio_hash, d.signature FROM dup_signatures d "
            "JOIN samples s ON s.id = d.sample_id WHERE s.status = 'ok' "
            "ORDER BY d.sample_id").fetchall()
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
