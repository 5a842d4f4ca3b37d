"""The library's tables and the ordered list of migrations that build them.

The schema version lives in SQLite's ``user_version``. Each migration moves the
database one version up inside the caller's transaction; a library newer than
:data:`SCHEMA_VERSION` is refused, never guessed at.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator


class FsPath(TypeDecorator[str]):
    """A file system path, stored losslessly.

    Paths that are valid UTF-8 are stored as TEXT; the rare name that is not (Linux
    allows any bytes) is stored as its raw bytes in a BLOB and decoded back with
    ``os.fsdecode``, so it round-trips exactly.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: object) -> str | bytes | None:
        if value is None:
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(value)
        return value

    def process_result_value(self, value: object, dialect: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return os.fsdecode(value)
        return str(value)


metadata = MetaData()

roots = Table(
    "roots", metadata,
    Column("id", Integer, primary_key=True),
    Column("path", FsPath, nullable=False, unique=True),
    Column("added_at", Float, nullable=False),
)

models = Table(
    "models", metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", String, nullable=False, unique=True),
    Column("name", String, nullable=False),
    Column("version", String, nullable=False),
    Column("sha256", String, nullable=False),
    Column("dim", Integer, nullable=False),
    Column("trained", Boolean, nullable=False),
    Column("features", Text, nullable=False),  # JSON of the feature parameters
)

samples = Table(
    "samples", metadata,
    Column("id", Integer, primary_key=True),
    Column("root_id", Integer, ForeignKey("roots.id", ondelete="SET NULL")),
    Column("path", FsPath, nullable=False, unique=True),
    Column("size", Integer, nullable=False),
    Column("mtime_ns", Integer, nullable=False),
    Column("content_hash", String),
    Column("duration_s", Float),
    Column("sample_rate", Integer),
    Column("channels", Integer),
    Column("format", String),
    Column("subtype", String),
    Column("status", String, nullable=False),  # ok | error | missing | pending
    Column("error", Text),
    Column("model_id", Integer, ForeignKey("models.id")),  # whose embeddings it holds
    Column("n_windows", Integer, nullable=False, server_default="0"),
    Column("scanned_at", Float),
)

windows = Table(
    "windows", metadata,
    Column("sample_id", Integer, ForeignKey("samples.id", ondelete="CASCADE"),
           primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("start_s", Float, nullable=False),
    Column("loudness_db", Float, nullable=False),
    Column("embedding", LargeBinary),  # float16, model's dim; NULL until embedded
    Column("model_id", Integer, ForeignKey("models.id")),
    sqlite_with_rowid=False,
)

scans = Table(
    "scans", metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("state", String, nullable=False),  # running | done | cancelled | failed
    Column("files_done", Integer, nullable=False, server_default="0"),
    Column("files_total", Integer, nullable=False, server_default="0"),
    Column("message", Text),
    # what the scan found, as JSON: found, new, changed, unchanged, moved, restored,
    # missing, failed (``sampletree status``; NULL for scans from before it was kept)
    Column("report", Text),
)

trees = Table(
    "trees", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("builtins_from", String),  # added by _builtins
    Column("builtins_off", Boolean, nullable=False, server_default="0"),  # added by _builtins
)

# Every tree has one root node (parent NULL, name ""), so that sibling names are unique
# through one constraint, top level included.
nodes = Table(
    "nodes", metadata,
    Column("id", Integer, primary_key=True),
    Column("tree_id", Integer, ForeignKey("trees.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Integer, ForeignKey("nodes.id", ondelete="CASCADE")),
    Column("name", String, nullable=False),
    Column("position", Integer, nullable=False, server_default="0"),
    Column("builtin", String),  # added by _builtins
    UniqueConstraint("tree_id", "parent_id", "name", name="uq_nodes_sibling_name"),
)

# One node per file per tree; ``window_idx`` NULL means the whole file is the example.
supports = Table(
    "supports", metadata,
    Column("id", Integer, primary_key=True),
    Column("tree_id", Integer, ForeignKey("trees.id", ondelete="CASCADE"), nullable=False),
    Column("node_id", Integer, ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False),
    Column("sample_id", Integer, ForeignKey("samples.id", ondelete="CASCADE"), nullable=False),
    Column("window_idx", Integer),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("tree_id", "sample_id", name="uq_supports_one_node_per_file"),
)

predictions = Table(
    "predictions", metadata,
    Column("tree_id", Integer, ForeignKey("trees.id", ondelete="CASCADE"), primary_key=True),
    Column("sample_id", Integer, ForeignKey("samples.id", ondelete="CASCADE"),
           primary_key=True),
    Column("leaf_id", Integer, ForeignKey("nodes.id", ondelete="CASCADE")),
    Column("node_id", Integer, ForeignKey("nodes.id", ondelete="CASCADE")),  # reported
    Column("leaf_confidence", Float, nullable=False),
    Column("confidence", Float, nullable=False),  # of the reported node
    Column("distance", Float, nullable=False),
    Column("backed_off", Boolean, nullable=False),
    Column("unknown", Boolean, nullable=False),
    sqlite_with_rowid=False,
)

relabel_batches = Table(
    "relabel_batches", metadata,
    Column("id", Integer, primary_key=True),
    Column("tree_id", Integer, ForeignKey("trees.id", ondelete="SET NULL")),
    Column("mode", String, nullable=False),
    Column("dest", FsPath),
    Column("options", Text, nullable=False),  # JSON
    # planned | applying | applied | cancelled | failed | undoing | undone
    Column("state", String, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("message", Text),
)

relabel_ops = Table(
    "relabel_ops", metadata,
    Column("id", Integer, primary_key=True),
    Column("batch_id", Integer, ForeignKey("relabel_batches.id", ondelete="CASCADE"),
           nullable=False),
    Column("seq", Integer, nullable=False),
    Column("sample_id", Integer, ForeignKey("samples.id", ondelete="SET NULL")),
    Column("src", FsPath, nullable=False),
    Column("dst", FsPath),
    Column("label", String),
    Column("confidence", Float),
    Column("size", Integer),
    Column("mtime_ns", Integer),
    Column("checksum", String),  # sha256 of the source before the step
    # planned | started | done | undone | skipped | failed
    Column("state", String, nullable=False),
    Column("message", Text),
)

# -- analysis (core/analysis): loop/one-shot, tempo, key, root note, loudness -------------
analysis = Table(
    "analysis", metadata,
    Column("sample_id", Integer, ForeignKey("samples.id", ondelete="CASCADE"),
           primary_key=True),
    Column("version", Integer, nullable=False),  # core.analysis.ANALYSIS_VERSION
    Column("kind", String),  # loop | oneshot
    Column("kind_confidence", Float),
    Column("kind_source", String),  # tag | name | audio
    Column("bpm", Float),
    Column("bpm_alt", Float),  # the half- or double-time reading
    Column("bpm_confidence", Float),
    Column("bpm_source", String),
    Column("bars", Float),
    Column("key", String),  # Am, F#
    Column("key_confidence", Float),
    Column("key_source", String),
    Column("root_midi", Integer),
    Column("root_confidence", Float),
    Column("root_source", String),
    Column("peak_db", Float),
    Column("lufs", Float),
    sqlite_with_rowid=False,
)


# Waveform thumbnails (core/thumbnail.py): one small envelope per decoded file.
peaks = Table(
    "peaks", metadata,
    Column("sample_id", Integer, ForeignKey("samples.id", ondelete="CASCADE"),
           primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

_V1_TABLES = (roots, models, samples, windows)
_V3_TABLES = (trees, nodes, supports, predictions, relabel_batches, relabel_ops)


def _v1(conn: Connection) -> None:
    """Roots, models, samples and their windows."""
    metadata.create_all(conn, tables=list(_V1_TABLES))


def _v2(conn: Connection) -> None:
    """A scan journal (for status and resume) and the indexes move detection uses."""
    metadata.create_all(conn, tables=[scans])
    # Plain DDL: an ``Index(...)`` built on ``samples``' columns would attach itself to the
    # shared Table, and every later ``create_all`` (v1 of the next library made in this
    # process) would create it too — and this step would then fail with "already exists".
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_samples_size_hash "
                      "ON samples (size, content_hash)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_samples_status ON samples (status)"))


def _v3(conn: Connection) -> None:
    """Class trees, supports, predictions, and the relabel journal."""
    metadata.create_all(conn, tables=list(_V3_TABLES))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_nodes_tree ON nodes (tree_id)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_supports_node ON supports (node_id)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_supports_sample ON supports (sample_id)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_relabel_ops_batch "
                      "ON relabel_ops (batch_id, seq)"))


# -- built-in examples (issue #12) ----------------------------------------------------------
# ``trees.builtins_from``: the bundled tree whose built-in examples the tree uses (NULL:
# none); ``trees.builtins_off``: the user switched them off. ``nodes.builtin``: the bundled
# node path whose built-ins the node carries (set when the tree is made from a bundled one,
# so renaming or moving the node keeps them; a node the user adds has none).

def _builtins(conn: Connection) -> None:
    """Built-in examples: which bundled tree a tree draws them from, and node by node.

    (``_v3`` creates the tables from today's definitions, which already hold these
    columns: only a library made before them gets them added here.)"""
    for table, column, decl in (("trees", "builtins_from", "TEXT"),
                                ("trees", "builtins_off", "BOOLEAN NOT NULL DEFAULT 0"),
                                ("nodes", "builtin", "TEXT")):
        have = {r[1] for r in conn.execute(text(f"PRAGMA table_info({table})"))}
        if column not in have:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {decl}"))


def _analysis(conn: Connection) -> None:
    """Tempo, key, root note, loop/one-shot and loudness per file (core/analysis). Filled
    by the next scan for every file, without re-embedding."""
    metadata.create_all(conn, tables=[analysis])
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_analysis_bpm ON analysis (bpm)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_analysis_key ON analysis (key)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_analysis_kind ON analysis (kind)"))


# -- duplicates (issue 14) ---------------------------------------------------------------
# One row per decoded file: ``audio_hash`` names its decoded audio exactly (the same hash
# means the same samples at the same rate and channel count, whatever the container or
# tags); ``signature`` is the compact fingerprint the near-duplicate check compares
# (core/dupsig.py). Written by the scan's decode stage; a library scanned before this
# table existed gets its rows on the next scan, without re-embedding.
dup_signatures = Table(
    "dup_signatures", metadata,
    Column("sample_id", Integer, ForeignKey("samples.id", ondelete="CASCADE"),
           primary_key=True),
    Column("audio_hash", String, nullable=False),
    Column("signature", LargeBinary),
)


def _dup_signatures(conn: Connection) -> None:
    """Decoded-audio hashes and near-duplicate signatures (``sampletree duplicates``)."""
    metadata.create_all(conn, tables=[dup_signatures])
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_dup_signatures_hash "
                      "ON dup_signatures (audio_hash)"))


def _peaks(conn: Connection) -> None:
    """Waveform thumbnails: an envelope per file, filled by the next scan (no re-embedding)."""
    metadata.create_all(conn, tables=[peaks])


# -- duplicates: per-file mean embeddings (issue 14) -------------------------------------
# The near-duplicate search compares each file's mean window embedding (float32, the
# model's dimensions). Kept here so that a search does not average every window again;
# a row holds while the file's record is the one it was computed from (same model, same
# ``samples.scanned_at``). Filled from the stored windows by the first search after a
# scan (core/dupstore.py), never by re-embedding.
dup_means = Table(
    "dup_means", metadata,
    Column("sample_id", Integer, ForeignKey("samples.id", ondelete="CASCADE"),
           primary_key=True),
    Column("model_id", Integer, nullable=False),
    Column("scanned_at", Float),
    Column("mean", LargeBinary, nullable=False),
)


def _dup_means(conn: Connection) -> None:
    """Mean embeddings per file for ``sampletree duplicates --near`` (filled at first use)."""
    metadata.create_all(conn, tables=[dup_means])


def _scan_report(conn: Connection) -> None:
    """What each scan found (``scans.report``), for ``sampletree status``. (``_v2``
    creates the table from today's definition: only an older library gets it here.)"""
    have = {r[1] for r in conn.execute(text("PRAGMA table_info(scans)"))}
    if "report" not in have:
        conn.execute(text("ALTER TABLE scans ADD COLUMN report TEXT"))


# -- folders a scan could not read (core/sources.py) --------------------------------------
# One row per folder the last scan of it could not read (or skipped as a link loop), with
# the reason: ``ls --problems`` and ``status`` show them until a scan reads the folder.
folder_problems = Table(
    "folder_problems", metadata,
    Column("path", FsPath, primary_key=True),
    Column("error", Text, nullable=False),
    Column("seen_at", Float, nullable=False),
)


def _folder_problems(conn: Connection) -> None:
    """Folders a scan could not read, kept until a scan reads them."""
    metadata.create_all(conn, tables=[folder_problems])


library_settings = Table(
    "library_settings", metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),  # JSON
)


def _library_settings(conn: Connection) -> None:
    """Settings that belong to the library, not to one program: the label thresholds the
    app and every command use (``core.classify.stored_thresholds``) and the tree labeled
    last (``core.classify.current_tree``)."""
    metadata.create_all(conn, tables=[library_settings])


#: Migration ``i`` (0-based) takes a database from version ``i`` to ``i + 1``.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _builtins, _analysis,
                                                  _dup_signatures, _peaks, _dup_means,
                                                  _scan_report, _folder_problems,
                                                  _library_settings]
SCHEMA_VERSION = len(MIGRATIONS)


def get_version(conn: Connection) -> int:
    return int(conn.execute(text("PRAGMA user_version")).scalar_one())


def set_version(conn: Connection, version: int) -> None:
    conn.execute(text(f"PRAGMA user_version = {int(version)}"))
