"""Few-shot classification over the library's embeddings.

Classes are the nodes that hold examples themselves: the user's own (supports) and, for a
tree made from a bundled one, the node's built-in examples (:mod:`core.builtins`). Each
class is a small mixture of prototypes ("components"): the mean of the user's examples on
the node, and each built-in example of the node. Per window: the probability of a
component is a softmax over the negative squared distances (scaled by a temperature), the
probability of a class the sum over its components; every class has the same prior (its
components' weights add up to 1). Per file: the mean of its windows' probabilities, each
window weighted by its level against the file's loudest window (:func:`window_weights`:
a window 20 dB down counts a tenth), so a one-shot's attack outweighs its quiet tail.

**How the user's examples and the built-ins combine** (:data:`USER_RULE`): in a tree that
uses built-ins, every class keeps its built-ins (weighing 1 together), and each of the
user's examples on a node the built-ins speak for (the node, a node above it or below it
has built-ins) is a component of its own that counts only in its **neighbourhood**: the
files (by their mean embedding) closer to it than :data:`NEIGHBOURHOOD` (0.65) times its
distance to the nearest built-in example of a conflicting class (one that is neither the
node, nor above nor below it); there it weighs 1 (as much as a node's built-ins
together), beyond it nothing. So a file near the user's examples follows them (a near twin
of an example takes the user's node even where the built-ins say otherwise; the examples
themselves always carry their node), and the built-ins keep labeling everything the
examples do not reach. The share 0.65 is the widest neighbourhood at which adding examples
makes no class worse on average than zero examples (by more than 0.005 F1) on the
real-sample validation set, where the earlier rule (the examples' mean as one more
component everywhere, weighing ``n / (n + 32)``) made Mallets and Electric Piano worse and
0.5 (where the triangle inequality makes the example the nearer of the two) left the
examples little reach (docs/eval/builtins.md). Examples on a node the built-ins do not
speak for (a custom node) keep that earlier rule: their mean weighs
``n / (n + USER_SHARE_PRIOR)`` everywhere. A tree without built-ins (switched off, or made
empty) works as before: one prototype a class, the mean of its examples. A label "rests
on built-ins only" when its best class has no example of the user's: the app and CLI mark
it (``◦``) so the user knows where to teach.

The reported node backs off from the best class towards the root until its probability
(the sum over the classes below it) reaches ``min_confidence``; a file farther from every
prototype than the bound is "unknown", and so is a pure tone, mains hum or near-silence.
Both come from the model's calibration (:mod:`core.calibration`, measured on the
real-sample set by ``scripts/calibrate.py``); a model without one falls back to the spread
of the examples (or built-ins) for the bound, and has no tone guard. Re-predicting is a few
matrix products over an in-memory copy of the embeddings (:class:`EmbeddingIndex`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select

from core import builtins as _builtins
from core import calibration as _calibration
from core.errors import SampletreeError, TreeError
from core.library import Library
from core.schema import library_settings, models, predictions, samples, supports, trees
from core.trees import Tree, load_tree


class ClassifyError(SampletreeError):
    """Classification cannot run (no embeddings, no supports, unknown tree…)."""


@dataclass(frozen=True)
class Thresholds:
    """``min_confidence``: back off above a node whose probability is lower.
    ``unknown_factor``: a file is unknown when its distance to the nearest class exceeds
    ``unknown_factor / 2`` times the model's calibrated bound (:mod:`core.calibration`: what
    95 % of files of taught classes reach on the real-sample set), or, for a model without
    a calibration, this many times the spread of the supports (95th percentile,
    leave-one-out) or of the built-ins.
    ``temperature``: softmax scale over squared distances. 2.0 is the scale at which the
    shipped network's probabilities are calibrated on classes it never saw (negative
    log-likelihood minimal on its validation classes, see models/MODEL_CARD.md); None
    derives it from the supports' spread (for other weights)."""

    min_confidence: float = 0.5
    unknown_factor: float = 2.0
    temperature: float | None = 2.0


_THRESHOLD_KEYS = ("min_confidence", "unknown_factor")


def stored_thresholds(lib: Library) -> Thresholds:
    """The library's label thresholds: what ``classify --min-confidence`` or the app's
    settings last stored (the defaults where nothing was). Every program that labels
    the library uses them, so the app and the commands never undo each other's labels."""
    from sqlalchemy.exc import OperationalError

    base = Thresholds()
    try:
        with lib.reading() as conn:
            rows = dict(conn.execute(select(library_settings.c.key, library_settings.c.value)
                                     .where(library_settings.c.key.in_(
                                         [f"labels.{k}" for k in _THRESHOLD_KEYS]))).all())
    except OperationalError:  # an older library read as it is (restore): the defaults
        return base
    kw: dict[str, float] = {}
    for k in _THRESHOLD_KEYS:
        raw = rows.get(f"labels.{k}")
        try:
            value = float(json.loads(raw)) if raw is not None else None
        except (TypeError, ValueError):
            value = None  # unreadable: the default
        if value is not None and np.isfinite(value):
            kw[k] = value
    if "min_confidence" in kw:
        kw["min_confidence"] = min(max(kw["min_confidence"], 0.0), 1.0)
    if "unknown_factor" in kw:
        kw["unknown_factor"] = max(kw["unknown_factor"], 0.1)
    return Thresholds(**{**base.__dict__, **kw})


def _put_setting(conn: Any, key: str, value: Any) -> None:
    """Set one of ``library_settings`` (JSON) inside the caller's transaction."""
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = sqlite_insert(library_settings).values(key=key, value=json.dumps(value))
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                            set_={"value": stmt.excluded.value}))


def store_thresholds(lib: Library, thresholds: Thresholds) -> None:
    """Make ``thresholds`` the library's (the defaults' values are stored as such too)."""
    with lib.transaction() as conn:
        for k in _THRESHOLD_KEYS:
            _put_setting(conn, f"labels.{k}", float(getattr(thresholds, k)))


_CURRENT_TREE = "trees.current"


def current_tree(lib: Library) -> str | None:
    """The tree labeled last at someone's request (``classify``, ``label``, a tree edit,
    the app), if it still exists: what ``ls`` shows when the library has several trees."""
    from sqlalchemy.exc import OperationalError

    try:
        with lib.reading() as conn:
            raw = conn.execute(select(library_settings.c.value).where(
                library_settings.c.key == _CURRENT_TREE)).scalar()
            if raw is None:
                return None
            name = json.loads(raw)
            found = conn.execute(select(trees.c.name).where(trees.c.name == name)).scalar()
    except (OperationalError, ValueError, TypeError):
        return None
    return None if found is None else str(found)


# -- embeddings in memory ----------------------------------------------------------------

@dataclass
class EmbeddingIndex:
    """Every embedded file of one model: per-window and per-file (mean) embeddings."""

    model_key: int
    sample_ids: np.ndarray  # (N,) sorted
    file_emb: np.ndarray  # (N, D) float32
    win_emb: np.ndarray  # (W, D) float32, windows of file i at offsets[i]:offsets[i+1]
    win_idx: np.ndarray  # (W,) window index within its file
    offsets: np.ndarray  # (N + 1,)
    signature: tuple[Any, ...] = ()
    #: (W,) each window's weight in its file's label (:func:`window_weights`); None: equal
    win_weight: np.ndarray | None = None
    #: the files' distance to the model's reference tones (:meth:`tone_distance`), kept
    #: because it does not change with the tree or its examples
    _tone: tuple[bytes, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def tone_distance(self, tone_emb: np.ndarray) -> np.ndarray:
        """(N,) each file's distance to its nearest reference tone (computed once per set
        of references: ~0.1 s for 100,000 files, on every re-prediction before)."""
        key = np.ascontiguousarray(tone_emb).tobytes()
        if self._tone is None or self._tone[0] != key:
            self._tone = (key, _calibration.nearest_distance(self.file_emb, tone_emb))
        return self._tone[1]

    def weights(self, a: int = 0, b: int | None = None) -> np.ndarray:
        """The weights of windows ``a:b`` (all by default); ones where none were given."""
        if self.win_weight is not None:
            return self.win_weight[a:b]
        return np.ones(len(self.win_emb[a:b]), np.float32)

    @property
    def n_files(self) -> int:
        return len(self.sample_ids)

    def row(self, sample_id: int) -> int | None:
        i = int(np.searchsorted(self.sample_ids, sample_id))
        if i < len(self.sample_ids) and self.sample_ids[i] == sample_id:
            return i
        return None

    def window(self, sample_id: int, window_idx: int) -> np.ndarray | None:
        r = self.row(sample_id)
        if r is None:
            return None
        a, b = self.offsets[r], self.offsets[r + 1]
        hit = np.nonzero(self.win_idx[a:b] == window_idx)[0]
        return None if not len(hit) else self.win_emb[a + hit[0]]


def window_weights(loudness_db: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(W,) float32 weight of each window in its file's label: its amplitude relative to
    the file's loudest window, 10^((dB − loudest dB) / 20), so 1 for the loudest and 0.1
    for a window 20 dB down.

    Why: the embedding of a one-shot's quiet tail (a decaying partial, room noise) says
    little about the instrument, and a file of one attack and four tail windows was
    labeled by its tail. Weighting by level, chosen on the real-sample validation set
    (docs/eval/pooling.md), raised macro-F1 at every K for both shipped networks (v2:
    0.312 → 0.327 mean over K = 1–8, v1: 0.269 → 0.278), where a loop's windows, about
    equally loud, keep about equal weights."""
    loud = np.asarray(loudness_db, np.float32)
    if not len(loud):
        return np.zeros(0, np.float32)
    n_win = np.diff(offsets)
    top = np.repeat(np.maximum.reduceat(loud, offsets[:-1]), n_win)
    return np.power(np.float32(10.0), (loud - top) / np.float32(20.0)).astype(np.float32)


def current_model_key(lib: Library) -> int | None:
    """The model that embedded the most files (normally the only one)."""
    with lib.reading() as conn:
        row = conn.execute(
            select(samples.c.model_id, func.count()).where(samples.c.model_id.is_not(None))
            .group_by(samples.c.model_id)
            .order_by(func.count().desc(), samples.c.model_id.desc()).limit(1)).first()
    return None if row is None else int(row[0])


def _signature(lib: Library, model_key: int) -> tuple[Any, ...]:
    """Changes when a scan adds, rewrites or drops embedded files of the model."""
    with lib.reading() as conn:
        return tuple(conn.execute(
            select(func.count(), func.max(samples.c.scanned_at), func.max(samples.c.id),
                   func.sum(samples.c.n_windows))
            .select_from(samples).where(samples.c.model_id == model_key)).one())


def load_index(lib: Library, model_key: int | None = None) -> EmbeddingIndex:
    """Read every embedding of ``model_key`` (default: :func:`current_model_key`)."""
    model_key = model_key if model_key is not None else current_model_key(lib)
    if model_key is None:
        raise ClassifyError("no file in the library has embeddings yet: scan with a trained "
                            "model first")
    sig = _signature(lib, model_key)
    ids, idx, mat, loud = lib.window_embeddings(model_key)
    if not len(ids):
        raise ClassifyError("no file in the library has embeddings yet")
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    offsets = np.r_[starts, len(ids)].astype(np.int64)
    counts = np.diff(offsets).astype(np.float32)
    file_emb = np.empty((len(starts), mat.shape[1]), np.float32)
    # Chunks of files: one reduceat over 300,000 windows holds the GIL for ~0.3 s, long
    # enough to freeze the desktop app's UI thread while this runs in the background.
    for a in range(0, len(starts), 4096):
        b = min(a + 4096, len(starts))
        lo, hi = int(offsets[a]), int(offsets[b])
        file_emb[a:b] = np.add.reduceat(mat[lo:hi], starts[a:b] - lo, axis=0)
    file_emb /= counts[:, None]
    return EmbeddingIndex(model_key, ids[starts], file_emb.astype(np.float32), mat, idx,
                          offsets, sig, window_weights(loud, offsets))


# -- trees and prototypes -------------------------------------------------------------------

def load_tree_nodes(lib: Library, tree_name: str) -> Tree:
    """The tree (name matched as :func:`core.trees.load_tree` does), or a ClassifyError."""
    try:
        return load_tree(lib, tree_name)
    except TreeError as exc:
        raise ClassifyError(str(exc)) from None


def _up(tree: Tree, node_id: int) -> list[int]:
    """The node and its ancestors, nearest first, without the hidden root."""
    return [node_id, *tree.ancestors(node_id)] if node_id != tree.root_id else []


def _path(tree: Tree, node_id: int | None) -> str:
    return "" if node_id is None else tree.path_str(node_id)


#: In a tree that uses built-ins, on a node no built-in speaks for (and under the "mixture"
#: rule everywhere), a node's user prototype (the mean of the user's n examples there) weighs
#: n / (n + USER_SHARE_PRIOR), beside the built-ins (a node's weigh 1 together). 0 would
#: make the user's examples replace the built-ins on their node. 32: the mixture's value
#: with the fewest classes made worse on the real-sample validation set
#: (docs/eval/builtins.md).
USER_SHARE_PRIOR = 32.0

#: How the user's examples combine with the built-ins on a node the built-ins speak for:
#: "neighbourhood" (each example counts within NEIGHBOURHOOD times its distance to the
#: nearest conflicting built-in, see the module docstring) or "mixture" (the examples' mean
#: everywhere, weighing n / (n + USER_SHARE_PRIOR); the rule before, kept for
#: scripts/eval_builtins.py).
USER_RULE = "neighbourhood"
#: The neighbourhood's radius as a share of the distance to the nearest conflicting built-in.
#: 0.5 is where the triangle inequality guarantees the example is the nearer of the two; 0.65,
#: chosen on the real-sample validation set (docs/eval/builtins.md, "A wider neighbourhood"),
#: raises macro-F1 with 1–8 examples a class by 0.015–0.047 over 0.5 with no class worse than
#: with zero examples by more than 0.005; 0.7 leaves Electric Piano 0.013–0.017 worse.
NEIGHBOURHOOD = 0.65


@dataclass
class Prototypes:
    """Classes (nodes with examples of their own), their components, every node's subtree
    prototype, and the calibration."""

    tree: Tree
    class_ids: np.ndarray  # (L,) node ids of the classes
    class_proto: np.ndarray  # (L, D) mean of each class's components
    node_proto: dict[int, np.ndarray]
    support_rows: list[tuple[int, int, np.ndarray]]  # (sample_id, node_id, embedding)
    temperature: float
    radius: float  # squared distance beyond which a file is unknown
    skipped: list[int] = field(default_factory=list)  # supports without embeddings
    comp_proto: np.ndarray | None = None  # (C, D); None: one component a class
    comp_class: np.ndarray | None = None  # (C,) index into class_ids
    comp_logw: np.ndarray | None = None  # (C,) log weight
    builtin_only: frozenset[int] = frozenset()  # classes without a user example
    comp_builtin: np.ndarray | None = None  # (C,) bool: a built-in example
    builtins: str = "none"  # core.builtins.status message
    comp_radius: np.ndarray | None = None  # (C,) squared distance a component reaches (inf)
    tone_emb: np.ndarray | None = None  # the model's references of non-musical sounds
    tone_reach: float = 0.0  # distance: nearer one of them is "not musical material"
    calibrated: bool = False  # the unknown bound comes from the model's calibration

    def components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.comp_proto is None:
            n = len(self.class_ids)
            return self.class_proto, np.arange(n), np.zeros(n, np.float32)
        assert self.comp_class is not None and self.comp_logw is not None
        return self.comp_proto, self.comp_class, self.comp_logw


def _support_rows(lib: Library, tree_id: int) -> list[tuple[int, int, int | None]]:
    with lib.reading() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(supports.c.sample_id, supports.c.node_id, supports.c.window_idx)
            .where(supports.c.tree_id == tree_id).order_by(supports.c.id))]


def build_prototypes(lib: Library, index: EmbeddingIndex, tree: Tree,
                     thresholds: Thresholds = Thresholds(), *,
                     use_builtins: bool = True) -> Prototypes:
    rows: list[tuple[int, int, np.ndarray]] = []
    skipped: list[int] = []
    for sample_id, node_id, window_idx in _support_rows(lib, tree.id):
        emb = (index.window(sample_id, window_idx) if window_idx is not None
               else (None if (r := index.row(sample_id)) is None else index.file_emb[r]))
        if emb is None:
            skipped.append(sample_id)  # missing file, or not embedded by this model
        else:
            rows.append((sample_id, node_id, emb))
    message, active = (_builtins.status(lib, tree, index.model_key) if use_builtins
                       else ("off", None))
    protos = assemble(tree, rows, active, thresholds,
                      calibration=_calibration.for_model(_model_id(lib, index.model_key)))
    protos.skipped = skipped
    protos.builtins = message
    return protos


def _model_id(lib: Library, model_key: int) -> str | None:
    with lib.reading() as conn:
        return conn.execute(select(models.c.model_id).where(models.c.id == model_key)).scalar()


def assemble(tree: Tree, rows: list[tuple[int, int, np.ndarray]],
             active: _builtins.Active | None, thresholds: Thresholds = Thresholds(),
             user_share_prior: float | None = None, user_rule: str | None = None, *,
             calibration: _calibration.Calibration | None = None) -> Prototypes:
    """Prototypes from the user's examples ``rows`` (sample id, node id, embedding) and the
    tree's built-ins in use (``active``, or None). No database: the evaluation calls it.
    ``user_rule`` / ``user_share_prior``: :data:`USER_RULE` / :data:`USER_SHARE_PRIOR`.
    ``calibration``: the model's (:mod:`core.calibration`), None for the fallback bound."""
    prior = USER_SHARE_PRIOR if user_share_prior is None else user_share_prior
    rule = user_rule or USER_RULE
    if rule not in ("neighbourhood", "mixture"):
        raise ValueError(f"unknown user rule {rule!r}")
    if not rows and active is None:
        raise ClassifyError(f"tree {tree.name!r} has no examples yet: label a few files "
                            "(sampletree label TREE NODE FILE...)")
    by_node: dict[int, list[np.ndarray]] = {}
    for _sid, node_id, emb in rows:
        by_node.setdefault(node_id, []).append(emb)
    built: dict[int, np.ndarray] = {}
    if active is not None:
        for node_id in np.unique(active.node_ids):
            built[int(node_id)] = active.emb[active.node_ids == node_id]
    class_ids = np.array(sorted(set(by_node) | set(built)), dtype=np.int64)
    comp, comp_class, comp_w = [], [], []
    comp_bi: list[bool] = []
    comp_r: list[float] = []
    for ci, node_id in enumerate(class_ids.tolist()):
        user = by_node.get(node_id)
        bi = built.get(node_id)
        local = (user is not None and active is not None and rule == "neighbourhood"
                 and any(_related(tree, node_id, b) for b in built))
        share = 0.0 if user is None else (1.0 if active is None else
                                          len(user) / (len(user) + prior))
        if local:
            assert user is not None
            rival = np.concatenate([e for b, e in built.items()
                                    if not _related(tree, node_id, b)] or
                                   [np.empty((0, active.emb.shape[1]), np.float32)])
            for e in user:  # each example on its own, within its neighbourhood
                reach = (np.inf if not len(rival) else
                         NEIGHBOURHOOD ** 2 * float(((rival - e) ** 2).sum(1).min()))
                comp.append(e)
                comp_class.append(ci)
                comp_w.append(1.0)
                comp_bi.append(False)
                comp_r.append(reach)
            share = 0.0  # the node keeps its built-ins
        elif user is not None:
            comp.append(np.mean(user, axis=0))
            comp_class.append(ci)
            comp_w.append(share)
            comp_bi.append(False)
            comp_r.append(np.inf)
        if bi is not None and share < 1.0:  # share 1 (prior 0): the user's replace them
            comp.extend(bi)
            comp_class.extend([ci] * len(bi))
            comp_w.extend([1.0 / len(bi)] * len(bi))
            comp_bi.extend([True] * len(bi))
            comp_r.extend([np.inf] * len(bi))
    comp_proto = np.stack(comp).astype(np.float32)
    comp_cls = np.array(comp_class, dtype=np.int64)
    comp_logw = np.log(np.array(comp_w, dtype=np.float64)).astype(np.float32)
    class_proto = np.stack([comp_proto[comp_cls == ci].mean(axis=0)
                            for ci in range(len(class_ids))]).astype(np.float32)
    subtree: dict[int, list[np.ndarray]] = {}
    for ci, node_id in enumerate(class_ids.tolist()):
        for anc in _up(tree, node_id):
            subtree.setdefault(anc, []).extend(comp_proto[comp_cls == ci])
    node_proto = {n: np.mean(e, axis=0).astype(np.float32) for n, e in subtree.items()}

    # Calibration from the user's examples: the spread of each class around its prototype
    # (leave-one-out, so a single support does not sit at distance 0 from itself).
    loo: list[float] = []
    for embs in by_node.values():
        if len(embs) >= 2:
            stack = np.stack(embs)
            total = stack.sum(axis=0)
            for e in stack:
                others = (total - e) / (len(stack) - 1)
                loo.append(float(np.sum((e - others) ** 2)))
    if len(class_proto) >= 2:
        d = ((class_proto[:, None, :] - class_proto[None, :, :]) ** 2).sum(-1)
        between = float(np.median(d[np.triu_indices(len(class_proto), 1)]))
    else:
        between = 0.0
    spread = (float(np.median(loo)) if loo else
              (active.spread ** 2 if active is not None else (between / 4 if between else 1.0)))
    temperature = thresholds.temperature or max(spread, 1e-6)
    if active is not None and thresholds.temperature is not None:
        temperature = active.temperature  # chosen with the built-ins (models/builtins.py)
    # The bound is set on distances (not squared): unknown_factor times the 95th percentile
    # of how far an example lies from the rest of its class (the built-ins' own figure
    # when they are in use: the larger of the two).
    base = (float(np.quantile(np.sqrt(loo), 0.95)) if len(loo) >= 2 else
            (float(np.sqrt(between)) if between and active is None else
             (0.0 if active is not None else np.inf)))
    if active is not None:
        base = max(base, active.spread)
    radius = (base * thresholds.unknown_factor) ** 2
    calibrated = False
    if calibration is not None:
        bound = (calibration.unknown_distance_builtins if active is not None
                 else calibration.unknown_distance)
        if np.isfinite(bound) and bound > 0:
            radius = (bound * thresholds.unknown_factor / _calibration.REFERENCE_FACTOR) ** 2
            calibrated = True
    simple = active is None
    return Prototypes(tree, class_ids, class_proto, node_proto, rows, temperature, radius,
                      [], None if simple else comp_proto, None if simple else comp_cls,
                      None if simple else comp_logw,
                      frozenset(int(n) for n in class_ids if int(n) not in by_node),
                      None if simple else np.array(comp_bi, dtype=bool),
                      comp_radius=None if simple or np.isinf(comp_r).all()
                      else np.array(comp_r, dtype=np.float32),
                      tone_emb=None if calibration is None else calibration.tone_emb,
                      tone_reach=0.0 if calibration is None else calibration.tone_reach,
                      calibrated=calibrated)


def _related(tree: Tree, a: int, b: int) -> bool:
    """``a`` and ``b`` do not contradict each other: the same node, or one above the other."""
    return a == b or a in tree.ancestors(b) or b in tree.ancestors(a)


# -- prediction ---------------------------------------------------------------------------------

@dataclass
class Prediction:
    """Per file of the index: arrays aligned with ``index.sample_ids``."""

    sample_ids: np.ndarray
    leaf_ids: np.ndarray  # node id of the best class
    node_ids: np.ndarray  # reported node (root id when nothing is certain)
    leaf_confidence: np.ndarray
    confidence: np.ndarray
    distance: np.ndarray  # squared distance from the file to its nearest class prototype
    backed_off: np.ndarray
    unknown: np.ndarray
    class_probs: np.ndarray  # (N, L) per-file class probabilities


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :]
    return np.maximum(d, 0.0, out=d)


#: Windows a block: (rows × components) floats stay in the CPU's cache. 2,048 rather than
#: 16,384 cut the softmax over 300,000 windows × 503 components from 0.55 to 0.37 s here.
_CHUNK_ROWS = 2_048


def _class_probs(x: np.ndarray, protos: Prototypes,
                 gate: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(rows, L) class probabilities of each row of ``x`` (a softmax over components).

    The softmax of -‖x − c‖²/T + log w does not change when every logit of a row moves by
    the same amount, so ‖x‖² is left out: one matrix product and in-place steps a block
    (3.7× faster than the plain formula with ~240 components). A component with a finite
    ``comp_radius`` counts only for rows within that squared distance of it; with ``gate``
    = (file embeddings, the file of each row), for the rows whose *file* (the mean of its
    windows, what an example is) lies within it: a copy of an example is in its
    neighbourhood with all its windows, even where one window alone strays outside."""
    comp, comp_cls, logw = protos.components()
    g0 = len(comp)  # components from g0 on count only within their radius
    if protos.comp_radius is not None and not np.isinf(protos.comp_radius).all():
        gated = np.isfinite(protos.comp_radius)
        order = np.r_[np.flatnonzero(~gated), np.flatnonzero(gated)]  # gated ones last
        comp, comp_cls, logw = comp[order], comp_cls[order], logw[order]
        g0 = int((~gated).sum())
        g_reach = protos.comp_radius[order][g0:]
    n_cls = len(protos.class_ids)
    one_hot = None
    if len(comp) != n_cls or not np.array_equal(comp_cls, np.arange(n_cls)):
        one_hot = np.zeros((len(comp), n_cls), np.float32)
        one_hot[np.arange(len(comp)), comp_cls] = 1.0
    comp = np.ascontiguousarray(comp, dtype=np.float32)
    cc = (comp * comp).sum(1)
    bias = (logw - cc / protos.temperature).astype(np.float32)
    scale = np.float32(2.0 / protos.temperature)
    out = np.empty((len(x), n_cls), np.float32)
    for a in range(0, len(x), _CHUNK_ROWS):
        xb = x[a:a + _CHUNK_ROWS]
        logits = xb @ comp.T
        if g0 < len(comp):
            # beyond the radius: ‖x‖² − 2x·c + ‖c‖² > r², i.e. x·c < (‖x‖² + ‖c‖² − r²) / 2
            if gate is None:
                far = logits[:, g0:] < 0.5 * ((xb * xb).sum(1)[:, None] + (cc[g0:] - g_reach))
            else:
                fb = gate[0][gate[1][a:a + _CHUNK_ROWS]]
                far = (fb @ comp[g0:].T) < 0.5 * ((fb * fb).sum(1)[:, None]
                                                  + (cc[g0:] - g_reach))
        logits *= scale
        logits += bias
        if g0 < len(comp):
            np.putmask(logits[:, g0:], far, -np.inf)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        if one_hot is not None:
            logits = logits @ one_hot  # summed per class; their total is the row's total
        logits /= logits.sum(axis=1, keepdims=True)
        out[a:a + _CHUNK_ROWS] = logits
    return out


def _file_class_probs(index: EmbeddingIndex, protos: Prototypes, r: int) -> np.ndarray:
    """(L,) class probabilities of the file at row ``r``: the weighted mean over its
    windows, as :func:`predict` makes them."""
    a, b = int(index.offsets[r]), int(index.offsets[r + 1])
    win_p = _class_probs(index.win_emb[a:b], protos,
                         gate=(index.file_emb[r:r + 1], np.zeros(b - a, dtype=np.int64)))
    w = index.weights(a, b)
    return (w @ win_p) / w.sum()


def _nearest(x: np.ndarray, protos: Prototypes) -> np.ndarray:
    """Squared distance of each row of ``x`` to its nearest component."""
    comp = np.ascontiguousarray(protos.components()[0], dtype=np.float32)
    cc = (comp * comp).sum(1)
    out = np.empty(len(x), np.float32)
    for a in range(0, len(x), _CHUNK_ROWS):
        xb = x[a:a + _CHUNK_ROWS]
        part = xb @ comp.T
        part *= -2.0
        part += cc
        out[a:a + _CHUNK_ROWS] = part.min(axis=1) + (xb * xb).sum(1)
    return np.maximum(out, 0.0, out=out)


def predict(index: EmbeddingIndex, protos: Prototypes,
            thresholds: Thresholds = Thresholds()) -> Prediction:
    tree = protos.tree
    n_win = np.diff(index.offsets)
    win_file = np.repeat(np.arange(len(n_win)), n_win)
    win_p = _class_probs(index.win_emb, protos, gate=(index.file_emb, win_file))
    # each window by its level (window_weights); the loudest weighs 1, so total ≥ 1
    w = index.weights()
    win_p *= w[:, None]
    total = np.add.reduceat(w, index.offsets[:-1])[:, None]
    probs = np.add.reduceat(win_p, index.offsets[:-1], axis=0) / total  # (N, L)
    best = probs.argmax(axis=1)
    leaf_conf = probs[np.arange(len(best)), best]
    leaf_ids = protos.class_ids[best]

    # Probability of a node = sum over the classes in its subtree.
    node_list = sorted(protos.node_proto)
    col = {n: i for i, n in enumerate(node_list)}
    member = np.zeros((len(protos.class_ids), len(node_list)), dtype=np.float32)
    for li, cid in enumerate(protos.class_ids):
        for anc in _up(tree, int(cid)):
            member[li, col[anc]] = 1.0
    node_p = probs @ member  # (N, nodes)

    node_ids = np.full(len(best), tree.root_id, dtype=np.int64)
    conf = np.zeros(len(best), dtype=np.float32)
    backed = np.zeros(len(best), dtype=bool)
    for li, cid in enumerate(protos.class_ids):
        rows = np.flatnonzero(best == li)
        if not len(rows):
            continue
        undecided = np.ones(len(rows), dtype=bool)
        for depth, anc in enumerate(_up(tree, int(cid))):
            p = node_p[rows, col[anc]]
            take = undecided & (p >= thresholds.min_confidence)
            node_ids[rows[take]] = anc
            conf[rows[take]] = p[take]
            backed[rows[take]] = depth > 0
            undecided &= ~take
        # Nothing on the path is certain: report the root, with the top class's share.
        conf[rows[undecided]] = node_p[rows[undecided], col[_up(tree, int(cid))[-1]]]
        backed[rows[undecided]] = True

    dist = _nearest(index.file_emb, protos)
    unknown = dist > protos.radius
    if protos.tone_emb is not None and protos.tone_reach > 0:
        # a pure tone, mains hum or near silence: not musical material, unless an example
        # (the user's or a built-in) lies as near to it as the tones' reach: a user who
        # teaches sine subs gets them labeled, and a flute note that close to a flute keeps
        # its label
        tone = index.tone_distance(protos.tone_emb)
        reach2 = protos.tone_reach * protos.tone_reach
        unknown |= (tone < protos.tone_reach) & (dist >= reach2)

    # Supports are labeled by the user: their prediction is their node.
    for sample_id, node_id, _emb in protos.support_rows:
        r = index.row(sample_id)
        if r is not None:
            node_ids[r] = leaf_ids[r] = node_id
            conf[r] = leaf_conf[r] = 1.0
            backed[r] = unknown[r] = False
    return Prediction(index.sample_ids, leaf_ids, node_ids, leaf_conf.astype(np.float32),
                      conf, dist.astype(np.float32), backed, unknown, probs)


def store_predictions(lib: Library, tree: Tree, pred: Prediction, *,
                      current: bool = False) -> None:
    """Replace the tree's stored predictions, in one transaction; ``current``: the tree
    becomes the library's :func:`current_tree` too."""
    rows = list(zip(
        [tree.id] * len(pred.sample_ids), pred.sample_ids.tolist(),
        pred.leaf_ids.tolist(), pred.node_ids.tolist(), pred.leaf_confidence.tolist(),
        pred.confidence.tolist(), pred.distance.tolist(), pred.backed_off.tolist(),
        pred.unknown.tolist(), strict=True))
    with lib.transaction() as conn:
        if current:
            _put_setting(conn, _CURRENT_TREE, tree.name)
        conn.execute(delete(predictions).where(predictions.c.tree_id == tree.id))
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.executemany(
            "INSERT INTO predictions (tree_id, sample_id, leaf_id, node_id, leaf_confidence, "
            "confidence, distance, backed_off, unknown) VALUES (?,?,?,?,?,?,?,?,?)", rows)


@dataclass
class ClassifyReport:
    tree: str
    files: int
    classes: int
    supports: int
    supports_skipped: int
    unknown: int
    backed_off: int
    seconds: float
    temperature: float
    radius: float
    builtins: str = "none"  # core.builtins.status: on, off, none, stale, missing
    builtin_only_files: int = 0  # labels resting on built-ins only


class Classifier:
    """Keeps the library's embeddings in memory; re-predicting a tree is then cheap.

    The cache is checked against a cheap signature of the library (count and last scan
    time of embedded files) and reloaded when a scan changed it.
    """

    def __init__(self, lib: Library, thresholds: Thresholds | None = None) -> None:
        """``thresholds``: these instead of the library's own (:func:`stored_thresholds`,
        read afresh for every question); for evaluations, never for what is stored."""
        self.lib = lib
        self._thresholds = thresholds
        self._index: EmbeddingIndex | None = None
        self._revision: tuple[int, int] | None = None

    @property
    def thresholds(self) -> Thresholds:
        return self._thresholds if self._thresholds is not None else stored_thresholds(self.lib)

    def index(self) -> EmbeddingIndex:
        """The in-memory embeddings; re-checked only when the library changed at all."""
        revision = self.lib.revision()
        if self._index is not None and revision == self._revision:
            return self._index
        key = current_model_key(self.lib)
        if (self._index is None or key != self._index.model_key
                or (key is not None and _signature(self.lib, key) != self._index.signature)):
            self._index = load_index(self.lib, key)
        self._revision = revision
        return self._index

    def refresh(self, tree_name: str, *, current: bool = True) -> ClassifyReport:
        """Re-predict every file for ``tree_name`` and store the result; ``current``: at
        someone's request, so it becomes the library's :func:`current_tree`."""
        t0 = time.perf_counter()
        index = self.index()
        tree = load_tree_nodes(self.lib, tree_name)
        th = self.thresholds
        protos = build_prototypes(self.lib, index, tree, th)
        pred = predict(index, protos, th)
        store_predictions(self.lib, tree, pred, current=current)
        on_builtins = np.isin(pred.leaf_ids, list(protos.builtin_only)) & ~pred.unknown
        return ClassifyReport(
            tree_name, index.n_files, len(protos.class_ids), len(protos.support_rows),
            len(protos.skipped), int(pred.unknown.sum()),
            int((pred.backed_off & ~pred.unknown).sum()), time.perf_counter() - t0,
            protos.temperature, protos.radius, protos.builtins, int(on_builtins.sum()))

    def refresh_all(self) -> list[ClassifyReport]:
        """Re-predict every tree that has examples, its own or built-in (after a scan)."""
        with self.lib.reading() as conn:
            names = [r[0] for r in conn.execute(
                select(trees.c.name).where(
                    trees.c.id.in_(select(supports.c.tree_id))
                    | (trees.c.builtins_from.is_not(None) & ~trees.c.builtins_off))
                .order_by(trees.c.name))]
        reports = []
        for name in names:
            try:
                reports.append(self.refresh(name, current=False))
            except ClassifyError:
                continue  # e.g. every example of that tree is missing: it keeps its old labels
        return reports

    # -- questions about one file ---------------------------------------------------------

    def _row(self, sample_id: int) -> tuple[EmbeddingIndex, int]:
        index = self.index()
        r = index.row(sample_id)
        if r is None:
            raise ClassifyError("this file has no embeddings (not scanned with the current "
                                "model, or unreadable)")
        return index, r

    def similar(self, sample_id: int, k: int = 20, *, window_idx: int | None = None,
                same_audio: Mapping[int, int] | None = None, skip: Collection[int] = ()
                ) -> list[tuple[int, int | None, float]]:
        """The ``k`` nearest files, each once, itself excluded. With ``window_idx``: by
        that window of the file, among every window of the others; each file is then
        listed once, by its nearest window.

        ``same_audio`` (sample id → group, :func:`core.duplicates.exact_groups`): files
        holding the very same audio. Those of the query's group are left out (they are
        the query again), and of each other group only the nearest file is listed.
        ``skip``: files never listed (the command line's: those missing from disk).

        Returns (sample_id, window index or None, squared distance), nearest first.
        """
        index, r = self._row(sample_id)
        if window_idx is None:
            q, pool = index.file_emb[r], index.file_emb
        else:
            q = index.window(sample_id, window_idx)
            if q is None:
                raise ClassifyError(f"this file has no window {window_idx}")
            pool = index.win_emb
        d = (pool * pool).sum(1) - 2.0 * (pool @ q) + float(q @ q)
        if window_idx is not None:  # each file by its nearest window
            d = np.minimum.reduceat(d, index.offsets[:-1])
        groups = same_audio or {}
        d[r] = np.inf
        if len(skip):
            d[np.isin(index.sample_ids, list(skip))] = np.inf
        mine = groups.get(sample_id)
        if mine is not None:
            d[np.isin(index.sample_ids, [s for s, g in groups.items() if g == mine])] = np.inf
        # copies are left out after the cut: ask for as many more as could be dropped
        want = min(int(np.isfinite(d).sum()), k + sum(1 for s in groups if s != sample_id))
        if want <= 0 or k <= 0:
            return []
        top = np.argpartition(d, want - 1)[:want]
        top = top[np.lexsort((index.sample_ids[top], d[top]))]  # ties: the older file
        out: list[tuple[int, int | None, float]] = []
        seen: set[int] = set()
        for i in top:
            if not np.isfinite(d[i]):
                break
            sid = int(index.sample_ids[i])
            group = groups.get(sid)
            if group is not None:
                if group in seen:
                    continue
                seen.add(group)
            win = None
            if window_idx is not None:
                a, b = index.offsets[i], index.offsets[i + 1]
                dw = ((index.win_emb[a:b] - q) ** 2).sum(1)
                win = int(index.win_idx[a + int(np.argmin(dw))])
            out.append((sid, win, float(max(d[i], 0.0))))
            if len(out) == k:
                break
        return out

    def explain(self, tree_name: str, sample_id: int, n_supports: int = 5) -> dict[str, Any]:
        """Why a file got its label: the path from the top of the tree down to the class
        its label comes from (the stored prediction's best class, as ``ls`` and
        ``classify`` show it), with each node's probability (what the label backs off
        by) and the distance to the node's nearest prototype; the nearest supports and
        built-ins. Every distance is plain (not squared), as ``similar`` gives them."""
        index, r = self._row(sample_id)
        tree = load_tree_nodes(self.lib, tree_name)
        protos = build_prototypes(self.lib, index, tree, self.thresholds)
        f = index.file_emb[r]
        probs = _file_class_probs(index, protos, r)
        with self.lib.reading() as conn:
            stored = conn.execute(select(predictions).where(
                (predictions.c.tree_id == tree.id)
                & (predictions.c.sample_id == sample_id))).mappings().first()
        support = any(sid == sample_id for sid, _n, _e in protos.support_rows)
        leaf = (int(stored["leaf_id"]) if stored is not None and stored["leaf_id"] in tree.nodes
                else int(protos.class_ids[int(np.argmax(probs))]))
        shown = None if stored is None or stored["unknown"] else stored["node_id"]
        comp, comp_cls, _w = protos.components()
        d_comp = np.sqrt(np.maximum(((comp - f) ** 2).sum(1), 0.0))
        path = []
        for node in reversed(_up(tree, leaf)):
            under = np.array([node in _up(tree, int(c)) for c in protos.class_ids])
            near = d_comp[under[comp_cls]]
            path.append({"node": _path(tree, node), "probability": float(probs[under].sum()),
                         "distance": float(near.min()) if len(near) else None,
                         "label": node == shown})
        sup = sorted(((float(np.sqrt(((e - f) ** 2).sum())), sid, nid) for sid, nid, e in
                      protos.support_rows if sid != sample_id))[:n_supports]
        with self.lib.reading() as conn:
            paths = dict(conn.execute(select(samples.c.id, samples.c.path)
                                      .where(samples.c.id.in_([s for _d, s, _n in sup]))).all())
        return {
            "prediction": None if stored is None else {
                "node": _path(tree, stored["node_id"]), "leaf": _path(tree, stored["leaf_id"]),
                "confidence": stored["confidence"], "leaf_confidence": stored["leaf_confidence"],
                "backed_off": bool(stored["backed_off"]), "unknown": bool(stored["unknown"]),
                "support": support,
                "builtin": (not support and leaf in protos.builtin_only
                            and not stored["unknown"]),
            },
            "path": path,
            "min_confidence": self.thresholds.min_confidence,
            # the nearest prototype of any class: a file farther than unknown_distance is
            # unknown
            "distance": float(d_comp.min()),
            "unknown_distance": float(np.sqrt(protos.radius)),
            # a pure tone, hum or near-silence: within tone_reach of one of the model's
            # reference sounds (core.calibration); None without a calibration
            "tone_distance": None if protos.tone_emb is None else float(
                _calibration.nearest_distance(f[None, :], protos.tone_emb)[0]),
            "tone_reach": protos.tone_reach if protos.tone_emb is not None else None,
            "example_spread": _example_spread(protos),
            "nearest_supports": [{"path": paths.get(s), "node": _path(tree, n), "distance": d}
                                 for d, s, n in sup],
            "nearest_builtins": _nearest_builtins(protos, f),
        }

    def suggest(self, tree_name: str, n: int = 20) -> list[tuple[int, float]]:
        """Files to label next: the least certain predictions that are not examples yet."""
        tree = load_tree_nodes(self.lib, tree_name)
        with self.lib.reading() as conn:
            rows = conn.execute(
                select(predictions.c.sample_id, predictions.c.leaf_confidence)
                .join(samples, samples.c.id == predictions.c.sample_id)
                .where((predictions.c.tree_id == tree.id) & (samples.c.status == "ok")
                       & predictions.c.sample_id.not_in(
                           select(supports.c.sample_id).where(supports.c.tree_id == tree.id)))
                .order_by(predictions.c.leaf_confidence, predictions.c.sample_id)
                .limit(n)).all()
        return [(int(s), float(c)) for s, c in rows]


def _nearest_builtins(protos: Prototypes, f: np.ndarray, n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` built-in examples nearest the file: their node and distance."""
    if protos.comp_proto is None or protos.comp_builtin is None or protos.comp_class is None:
        return []
    rows = np.flatnonzero(protos.comp_builtin)
    d = np.sqrt(np.maximum(((protos.comp_proto[rows] - f) ** 2).sum(1), 0.0))
    order = np.argsort(d)[:n]
    return [{"node": _path(protos.tree, int(protos.class_ids[protos.comp_class[rows[i]]])),
             "distance": float(d[i])} for i in order]


def _example_spread(protos: Prototypes) -> float | None:
    """Median distance (not squared) between two examples of the same class: how far apart
    sounds the user put together are. None when no class has two examples."""
    by_node: dict[int, list[np.ndarray]] = {}
    for _sid, node_id, emb in protos.support_rows:
        by_node.setdefault(node_id, []).append(emb)
    dists: list[np.ndarray] = []
    for embs in by_node.values():
        if len(embs) >= 2:
            e = np.stack(embs).astype(np.float64)
            d = ((e[:, None, :] - e[None, :, :]) ** 2).sum(-1)
            dists.append(np.sqrt(np.maximum(d[np.triu_indices(len(e), 1)], 0.0)))
    return float(np.median(np.concatenate(dists))) if dists else None


def file_labels(lib: Library, tree_name: str) -> list[dict[str, Any]]:
    """The stored label of every file for a tree, by path (supports included).

    Each record: path, node (reported node path, "" when nothing is certain), leaf,
    confidence, leaf_confidence, backed_off, unknown, support (the user's own example),
    builtin (the label rests on built-in examples only: its best class has no example of
    the user's).
    """
    tree = load_tree_nodes(lib, tree_name)
    with lib.reading() as conn:
        taught: set[int] = set()
        support_ids: set[int] = set()
        for sid, nid in conn.execute(select(supports.c.sample_id, supports.c.node_id)
                                     .where(supports.c.tree_id == tree.id)):
            support_ids.add(sid)
            taught.add(nid)
        rows = conn.execute(
            select(samples.c.id, samples.c.path, predictions.c.node_id, predictions.c.leaf_id,
                   predictions.c.confidence, predictions.c.leaf_confidence,
                   predictions.c.backed_off, predictions.c.unknown)
            .join(predictions, (predictions.c.sample_id == samples.c.id)
                  & (predictions.c.tree_id == tree.id))
            .order_by(samples.c.path)).all()
    return [{
        "path": r[1], "node": _path(tree, r[2]), "leaf": _path(tree, r[3]),
        "confidence": round(float(r[4]), 4), "leaf_confidence": round(float(r[5]), 4),
        "backed_off": bool(r[6]), "unknown": bool(r[7]), "support": r[0] in support_ids,
        "builtin": r[0] not in support_ids and r[3] is not None and r[3] not in taught
        and not r[7],
    } for r in rows]
