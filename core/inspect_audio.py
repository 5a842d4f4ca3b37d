"""What the inspector shows of one file: its waveform and its label second by second."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audio import _READ_BLOCK, _describe_sndfile_error, open_sound, probe
from core.classify import Classifier, _class_probs, _nearest, build_prototypes, load_tree_nodes
from core.errors import AudioError
from core.jobs import CancelToken


@dataclass
class Peaks:
    """Min and max of the mono mix per column; enough to draw a waveform at any width."""

    mins: np.ndarray  # float32 (columns,)
    maxs: np.ndarray
    duration_s: float
    sample_rate: int
    channels: int


def waveform_peaks(path: str | Path, columns: int = 1000,
                   cancel: CancelToken | None = None) -> Peaks:
    """Read the file once, block by block (memory stays flat for hour-long files)."""
    path = Path(path)
    info = probe(path)
    columns = max(1, min(columns, info.frames))
    edges = np.linspace(0, info.frames, columns + 1).astype(np.int64)
    mins = np.zeros(columns, np.float32)
    maxs = np.zeros(columns, np.float32)
    try:
        with open_sound(path) as snd:
            pos = 0
            col = 0
            while col < columns:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                block = snd.read(_READ_BLOCK, dtype="float32", always_2d=True)
                if not len(block):
                    break
                mono = np.nan_to_num(block.mean(axis=1))
                end = pos + len(mono)
                # columns touched by this block
                first = col
                last = int(np.searchsorted(edges, end, side="left"))
                for c in range(first, min(last, columns)):
                    a, b = max(edges[c], pos) - pos, min(edges[c + 1], end) - pos
                    if b > a:
                        seg = mono[a:b]
                        lo, hi = float(seg.min()), float(seg.max())
                        if edges[c] < pos:  # column started in the previous block
                            lo, hi = min(lo, mins[c]), max(hi, maxs[c])
                        mins[c], maxs[c] = lo, hi
                col = max(col, int(np.searchsorted(edges, end, side="right")) - 1)
                pos = end
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(_describe_sndfile_error(path, exc)) from None
    return Peaks(mins, maxs, info.duration_s, info.sample_rate, info.channels)


@dataclass(frozen=True)
class Span:
    """A stretch of consecutive windows with the same best class."""

    start_s: float
    end_s: float
    node: str  # class path, "" when unsure
    confidence: float


def window_timeline(classifier: Classifier, tree_name: str, sample_id: int,
                    window_s: float = 1.0) -> list[Span]:
    """The file's best class per window, consecutive equal windows merged."""
    from sqlalchemy import select

    from core.schema import windows

    index = classifier.index()
    r = index.row(sample_id)
    if r is None:
        return []
    tree = load_tree_nodes(classifier.lib, tree_name)
    protos = build_prototypes(classifier.lib, index, tree, classifier.thresholds)
    a, b = int(index.offsets[r]), int(index.offsets[r + 1])
    emb = index.win_emb[a:b]
    # components: the user's and the built-in examples; an example's neighbourhood is
    # judged on the whole file, as the file's label is
    p = _class_probs(emb, protos, gate=(index.file_emb[r:r + 1], np.zeros(len(emb), int)))
    near = _nearest(emb, protos)
    best = p.argmax(axis=1)
    conf = p[np.arange(len(best)), best]
    with classifier.lib.reading() as conn:
        starts = dict(conn.execute(select(windows.c.idx, windows.c.start_s).where(
            (windows.c.sample_id == sample_id) & (windows.c.model_id == index.model_key))).all())
    spans: list[Span] = []
    for k in range(len(best)):
        idx = int(index.win_idx[a + k])
        start = float(starts.get(idx, idx * 0.5))
        unsure = conf[k] < classifier.thresholds.min_confidence or near[k] > protos.radius
        node = "" if unsure else tree.path_str(int(protos.class_ids[best[k]]))
        end = start + window_s
        if spans and spans[-1].node == node and start <= spans[-1].end_s + 1e-6:
            last = spans[-1]
            spans[-1] = Span(last.start_s, end, node, max(last.confidence, float(conf[k])))
            continue
        if spans and start < spans[-1].end_s:  # overlapping windows: split the overlap
            mid = (start + spans[-1].end_s) / 2
            spans[-1] = Span(spans[-1].start_s, mid, spans[-1].node, spans[-1].confidence)
            start = mid
        spans.append(Span(start, end, node, float(conf[k])))
    return spans
