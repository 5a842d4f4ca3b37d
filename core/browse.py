"""The library as a table: one snapshot of every file, sorted and filtered in memory.

What the desktop app's library table shows, kept here (no Qt) so that it can be tested
and measured without a window. A :class:`Rows` snapshot holds columns as arrays; sort
keys are ranked once per snapshot, so sorting or filtering 100,000 rows is a few
milliseconds of numpy, and a label refresh replaces only the label columns.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.labeltext import BUILTIN_MARK, UNCERTAIN, UNKNOWN, label_text
from core.library import Library
from core.paths import display_path, one_line
from core.trees import Tree, load_tree

#: the library table's columns, in the order a producer uses them (what a file is, its
#: label and how sure, then the details); the desktop app shows them in this order
COLUMNS: tuple[str, ...] = ("name", "label", "confidence", "duration",
                            # core/analysis: what a browser shows beside the name
                            "type", "bpm", "key",
                            "format", "folder", "status",
                            # levels (core/analysis) and the header's bit depth, rate, channels
                            "lufs", "peak", "bits", "rate", "channels")
#: numeric columns (sorted by value, unknown first when ascending)
NUMERIC = ("confidence", "duration", "bpm", "lufs", "peak", "bits", "rate", "channels")
#: the label column's value for a file with no prediction (shown as "unlabeled")
UNLABELED = ""
# The words of the other states are shared with the command line (core/labeltext.py);
# UNCERTAIN: nothing in the tree is certain enough, not even a top-level class (see ``leaf``)


@dataclass
class Rows:
    """Every file of the library, column by column (arrays aligned by row)."""

    ids: np.ndarray  # int64 sample ids
    path: np.ndarray  # object: full path (str, may hold surrogates)
    name: np.ndarray  # object: file name, printable
    folder: np.ndarray  # object: parent folder, printable
    format: np.ndarray  # object
    status: np.ndarray  # object: ok / error / missing / pending
    error: np.ndarray  # object: the reason a file could not be read, or ""
    duration: np.ndarray  # float64 seconds, nan when unknown
    label: np.ndarray  # object: reported node path ("" none, "unknown")
    leaf: np.ndarray  # object: best class path ("" none)
    confidence: np.ndarray  # float64, nan when unlabeled
    backed_off: np.ndarray  # bool
    support: np.ndarray  # bool: the user's own example in this tree
    tree: str | None = None
    #: bool: the label rests on built-in examples only (None: no such label)
    builtin: np.ndarray | None = None
    # core/analysis columns (None: not loaded, as in a labels-only snapshot)
    type: np.ndarray | None = None  # object: "loop" / "oneshot" / ""
    bpm: np.ndarray | None = None  # float64, nan when unknown
    bpm_alt: np.ndarray | None = None  # float64
    key: np.ndarray | None = None  # object: "Am" / ""
    root: np.ndarray | None = None  # int64 MIDI root note, -1 when none
    lufs: np.ndarray | None = None  # float64
    peak: np.ndarray | None = None  # float64 dBFS
    bits: np.ndarray | None = None  # float64 (nan: lossy or unknown)
    rate: np.ndarray | None = None  # float64 Hz
    channels: np.ndarray | None = None  # float64
    sources: np.ndarray | None = None  # object: "tempo from the name; key from the audio"
    _rank: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _hay: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self) -> dict[int, int]:
        """sample id → row."""
        return {int(s): i for i, s in enumerate(self.ids.tolist())}

    def rank(self, column: str) -> np.ndarray:
        """Sort key of every row for ``column`` (ties broken by name, then path)."""
        if column not in self._rank:
            if column == "key":  # Camelot order: compatible keys sit together
                key = self._camelot_rank()
                order = np.lexsort((self._text_rank("path"), self._text_rank("name"), key))
            elif column in NUMERIC:
                values = self.column(column)
                key = np.where(np.isnan(values), -np.inf, values)
                order = np.lexsort((self._text_rank("path"), self._text_rank("name"), key))
            else:
                order = np.lexsort((self._text_rank("path"), self._text_rank("name"),
                                    self._text_rank(column)))
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            self._rank[column] = rank
        return self._rank[column]

    def missing(self, column: str) -> np.ndarray | None:
        """Rows with no value in ``column`` (no tempo, key, type, level, label…), or None
        for a column every row has."""
        name = f"missing:{column}"
        if name not in self._rank:
            if column in NUMERIC:
                got = np.isnan(self.column(column))
            elif column == "key":
                got = (self.column("key") == "") & (self.column("root") < 0)
            elif column in ("type", "label"):
                got = self.column(column) == ""
            else:
                return None
            self._rank[name] = np.asarray(got, dtype=bool)
        return self._rank[name]

    def column(self, name: str) -> np.ndarray:
        """An analysis column, or one of unknowns when this snapshot has none."""
        values = getattr(self, name)
        if values is not None:
            return values
        if name in NUMERIC:
            return np.full(len(self), np.nan)
        if name == "root":
            return np.full(len(self), -1, dtype=np.int64)
        return np.full(len(self), "", dtype=object)

    def _camelot_rank(self) -> np.ndarray:
        from core.analysis.keys import note_name
        from core.analysis.query import camelot_rank

        keys, roots = self.column("key"), self.column("root")
        shown = [k or (note_name(int(r))[:-1] if r >= 0 else "")
                 for k, r in zip(keys.tolist(), roots.tolist(), strict=True)]
        ranks = {k: camelot_rank(k) for k in set(shown)}
        return np.array([ranks[k][0] * 2 + ranks[k][1] for k in shown], dtype=np.int64)

    def _text_rank(self, column: str) -> np.ndarray:
        key = f"text:{column}"
        if key not in self._rank:
            values = self.column(column)
            lowered = np.array([display_path(v).casefold() for v in values.tolist()], dtype=str)
            if column == "label":  # unlabeled last when ascending
                lowered = np.where(lowered == "", "\uffff", lowered)
            _uniq, inverse = np.unique(lowered, return_inverse=True)
            self._rank[key] = inverse.astype(np.int64)
        return self._rank[key]

    def haystack(self) -> np.ndarray:
        """What the search box matches against: name, folder and label, case-folded."""
        if self._hay is None:
            self._hay = np.array([f"{n}\n{f}\n{lab}\n{fmt}".casefold() for n, f, lab, fmt in
                                  zip(self.name.tolist(), self.folder.tolist(),
                                      self.label.tolist(), self.format.tolist(), strict=True)],
                                 dtype=object)
        return self._hay

    def with_labels(self, labels: Rows) -> Rows:
        """This snapshot with the label columns of ``labels`` (same files or a subset)."""
        where = labels.row_of()
        take = np.array([where.get(int(s), -1) for s in self.ids.tolist()], dtype=np.int64)
        have = take >= 0

        def pick(col: np.ndarray, empty: Any) -> np.ndarray:
            out = np.full(len(self), empty, dtype=col.dtype)
            out[have] = col[take[have]]
            return out

        return replace(self, label=pick(labels.label, UNLABELED), leaf=pick(labels.leaf, UNLABELED),
                       confidence=pick(labels.confidence, np.nan),
                       backed_off=pick(labels.backed_off, False),
                       support=pick(labels.support, False), tree=labels.tree,
                       builtin=None if labels.builtin is None else pick(labels.builtin, False),
                       _rank={k: v for k, v in self._rank.items()
                              if k not in ("label", "confidence", "text:label",
                                           "missing:label", "missing:confidence")},
                       _hay=None)


def display_label(rows: Rows, r: int, sep: str = " › ") -> str:
    """Row ``r``'s label in the words of :mod:`core.labeltext` (``~ Drums``, ``uncertain``,
    ``unknown``, ``unlabeled``); "" when no tree is shown."""
    if rows.tree is None:
        return ""
    label = rows.label[r]
    text = label_text("" if label == UNCERTAIN else label, backed_off=bool(rows.backed_off[r]),
                      unknown=label == UNKNOWN, predicted=label != UNLABELED, sep=sep)
    if rows.builtin is not None and rows.builtin[r] and label not in (UNCERTAIN, UNKNOWN,
                                                                      UNLABELED):
        text += f" {BUILTIN_MARK}"  # rests on built-in examples only: teach it here
    return text


@dataclass(frozen=True)
class Filter:
    """What the table shows. Empty fields filter nothing.

    ``text``: every word must occur in the name, folder, label or format; ``label``: a
    node path — files labeled there or below (``"unknown"``, or ``""`` with
    ``unlabeled`` for files without a label); ``folder``: files under this folder.
    """

    text: str = ""
    label: str | None = None
    unlabeled: bool = False
    folder: str | None = None
    formats: tuple[str, ...] = ()
    min_confidence: float | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    status: tuple[str, ...] = ()
    supports_only: bool = False
    #: tempo, key, loop/one-shot, loudness (core.analysis.query.AnalysisFilter)
    analysis: Any = None
    #: only these files (a "similar sounds" view: the file searched from, then its nearest,
    #: closest first; sorting by SIMILARITY keeps that order)
    ids: tuple[int, ...] | None = None


#: the sort of a "similar sounds" view: the order of ``Filter.ids``
SIMILARITY = "similarity"


def select_rows(rows: Rows, flt: Filter, sort: str = "name", descending: bool = False
                ) -> np.ndarray:
    """Row numbers of ``rows`` that pass ``flt``, in ``sort`` order."""
    keep = np.ones(len(rows), dtype=bool)
    words = flt.text.casefold().split()
    if words:
        hay = rows.haystack()
        keep &= np.fromiter((all(w in h for w in words) for h in hay.tolist()), bool, len(rows))
    if flt.unlabeled:
        keep &= rows.label == UNLABELED
    elif flt.label:
        want = flt.label.strip("/")
        keep &= np.fromiter(((lab == want or lab.startswith(want + "/")) for lab in
                             rows.label.tolist()), bool, len(rows))
    if flt.folder:
        top = display_path(os.path.normpath(flt.folder))
        keep &= np.fromiter(((f == top or f.startswith(top + os.sep)) for f in
                             rows.folder.tolist()), bool, len(rows))
    if flt.formats:
        keep &= np.isin(rows.format, list(flt.formats))
    if flt.status:
        keep &= np.isin(rows.status, list(flt.status))
    if flt.min_confidence is not None:
        keep &= np.nan_to_num(rows.confidence, nan=-1.0) >= flt.min_confidence
    if flt.min_duration is not None:
        keep &= np.nan_to_num(rows.duration, nan=-1.0) >= flt.min_duration
    if flt.max_duration is not None:
        keep &= np.nan_to_num(rows.duration, nan=np.inf) <= flt.max_duration
    if flt.supports_only:
        keep &= rows.support
    if flt.analysis is not None and flt.analysis.active:
        from core.analysis.query import mask

        keep &= mask(flt.analysis, bpm=rows.column("bpm"), bpm_alt=rows.column("bpm_alt"),
                     key=rows.column("key"), root=rows.column("root"),
                     kind=rows.column("type"), lufs=rows.column("lufs"))
    if flt.ids is not None:
        keep &= np.isin(rows.ids, np.asarray(flt.ids, dtype=np.int64))
    idx = np.flatnonzero(keep)
    if sort == SIMILARITY and flt.ids is not None:
        place = {sid: i for i, sid in enumerate(flt.ids)}
        order = np.fromiter((place[int(s)] for s in rows.ids[idx]), np.int64, len(idx))
        idx = idx[np.argsort(order, kind="stable")]
        return idx[::-1].copy() if descending else idx
    sort = sort if sort in COLUMNS else "name"
    key = rows.rank(sort)[idx]
    idx = idx[np.argsort(-key if descending else key, kind="stable")]
    missing = rows.missing(sort)
    if missing is not None:  # no tempo, key, level or label: last both ways, as `ls --sort`
        idx = idx[np.argsort(missing[idx], kind="stable")]
    return idx


# -- loading ---------------------------------------------------------------------------------

def _raw(lib: Library) -> sqlite3.Connection:
    raw = lib.conn.connection.dbapi_connection
    assert raw is not None
    return raw  # type: ignore[return-value]


def load_rows(lib: Library, tree_name: str | None = None) -> Rows:
    """Every file of the library, with its label in ``tree_name`` (None: no labels)."""
    with lib.reading():
        got = _raw(lib).execute(
            "SELECT id, path, format, status, coalesce(error, ''), duration_s FROM samples "
            "ORDER BY id").fetchall()
        more = _raw(lib).execute(
            "SELECT s.id, coalesce(a.kind, ''), a.bpm, a.bpm_alt, coalesce(a.key, ''), "
            "coalesce(a.root_midi, -1), a.lufs, a.peak_db, s.subtype, s.sample_rate, "
            "s.channels, a.kind_source, a.bpm_source, a.key_source, a.root_source "
            "FROM samples s LEFT JOIN analysis a ON a.sample_id = s.id "
            "ORDER BY s.id").fetchall()
    n = len(got)
    ids = np.fromiter((r[0] for r in got), np.int64, n)
    path = np.empty(n, dtype=object)
    path[:] = [r[1] for r in got]
    names, folders = [], []
    for p in path.tolist():
        head, tail = os.path.split(p)
        names.append(one_line(display_path(tail)))  # a newline would split the row
        folders.append(display_path(head))
    rows = Rows(
        ids=ids, path=path, name=_objects(names), folder=_objects(folders),
        format=_objects([(r[2] or "").lower() for r in got]),
        status=_objects([r[3] for r in got]), error=_objects([r[4] for r in got]),
        duration=np.array([np.nan if r[5] is None else r[5] for r in got], dtype=np.float64),
        label=np.full(n, UNLABELED, dtype=object), leaf=np.full(n, UNLABELED, dtype=object),
        confidence=np.full(n, np.nan), backed_off=np.zeros(n, bool), support=np.zeros(n, bool),
        **_analysis_columns(more))
    if tree_name is not None:
        rows = rows.with_labels(load_labels(lib, tree_name))
    return rows


def _analysis_columns(got: list[tuple[Any, ...]]) -> dict[str, np.ndarray]:
    from core.analysis.level import bit_depth

    def num(i: int) -> np.ndarray:
        return np.array([np.nan if r[i] is None else float(r[i]) for r in got], np.float64)

    bits = {st: bit_depth(st) for st in {r[8] for r in got}}
    return {"type": _objects([r[1] for r in got]), "bpm": num(2), "bpm_alt": num(3),
            "key": _objects([r[4] for r in got]),
            "root": np.fromiter((r[5] for r in got), np.int64, len(got)),
            "lufs": num(6), "peak": num(7),
            "bits": np.array([np.nan if bits[r[8]] is None else bits[r[8]] for r in got]),
            "rate": num(9), "channels": num(10),
            "sources": _objects([_sources(r[11:15]) for r in got])}


_SOURCE_WORDS = {"tag": "the file's tags", "name": "its name", "audio": "the audio"}


def _sources(src: tuple[Any, ...]) -> str:
    """Where each analysis value came from, in words (the inspector's tooltip)."""
    parts = [f"{what} from {_SOURCE_WORDS[s]}"
             for what, s in zip(("type", "tempo", "key", "root note"), src, strict=True)
             if s in _SOURCE_WORDS]
    return "; ".join(parts)


def sources_of(text: str) -> dict[str, str]:
    """:func:`_sources`' words read back: ``{"tempo": "name", "key": "audio", …}`` (type,
    tempo, key, root note → tag, name, audio)."""
    words = {v: k for k, v in _SOURCE_WORDS.items()}
    out: dict[str, str] = {}
    for part in (text or "").split("; "):
        what, _sep, where = part.partition(" from ")
        if where in words:
            out[what] = words[where]
    return out


def empty_rows() -> Rows:
    """A snapshot of no files (before the library is read)."""
    e = np.empty(0, dtype=object)
    return Rows(ids=np.zeros(0, np.int64), path=e, name=e, folder=e, format=e, status=e,
                error=e, duration=np.zeros(0), label=e, leaf=e, confidence=np.zeros(0),
                backed_off=np.zeros(0, bool), support=np.zeros(0, bool))


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def load_labels(lib: Library, tree_name: str) -> Rows:
    """Only the label columns of ``tree_name`` (other columns empty): after a refresh."""
    tree = load_tree(lib, tree_name)
    paths = _node_paths(tree)
    with lib.reading():
        raw = _raw(lib)
        got = raw.execute(
            "SELECT sample_id, node_id, leaf_id, confidence, backed_off, unknown "
            "FROM predictions WHERE tree_id = ? ORDER BY sample_id", (tree.id,)).fetchall()
        sup_rows = raw.execute(
            "SELECT sample_id, node_id FROM supports WHERE tree_id = ?", (tree.id,)).fetchall()
    sup = {r[0] for r in sup_rows}
    taught = {r[1] for r in sup_rows}
    n = len(got)
    ids = np.fromiter((r[0] for r in got), np.int64, n)
    label = _objects([UNKNOWN if r[5] else paths.get(r[1], UNCERTAIN) for r in got])
    leaf = _objects([paths.get(r[2], UNLABELED) for r in got])
    conf = np.array([r[3] for r in got], dtype=np.float64)
    backed = np.array([bool(r[4]) for r in got], dtype=bool)
    support = np.array([r[0] in sup for r in got], dtype=bool)
    builtin = np.array([r[0] not in sup and r[2] is not None and r[2] not in taught
                        and not r[5] for r in got], dtype=bool)
    empty = np.empty(n, dtype=object)
    return Rows(ids=ids, path=empty, name=empty, folder=empty, format=empty, status=empty,
                error=empty, duration=np.full(n, np.nan), label=label, leaf=leaf,
                confidence=conf, backed_off=backed, support=support, tree=tree.name,
                builtin=builtin)


def _node_paths(tree: Tree) -> dict[int, str]:
    return {nid: tree.path_str(nid) for nid in tree.walk() if nid != tree.root_id}


def node_counts(lib: Library, tree_name: str) -> dict[int, tuple[int, int]]:
    """Per node id: (examples on the node itself, files labeled at or below it)."""
    tree = load_tree(lib, tree_name)
    with lib.reading():
        raw = _raw(lib)
        sup = dict(raw.execute("SELECT node_id, count(*) FROM supports WHERE tree_id = ? "
                               "GROUP BY node_id", (tree.id,)).fetchall())
        own = dict(raw.execute("SELECT node_id, count(*) FROM predictions WHERE tree_id = ? "
                               "AND unknown = 0 GROUP BY node_id", (tree.id,)).fetchall())
    below: dict[int, int] = {}
    for nid, n in own.items():
        if nid == tree.root_id or nid not in tree.nodes:
            continue
        for anc in [nid, *tree.ancestors(nid)]:
            below[anc] = below.get(anc, 0) + n
    return {nid: (int(sup.get(nid, 0)), int(below.get(nid, 0)))
            for nid in tree.walk() if nid != tree.root_id}
