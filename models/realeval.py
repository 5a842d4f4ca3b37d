"""Few-shot evaluation on the real-sample validation set (``python -m models.realeval``).

Protocol (the one issue #11's held-out table uses): every class with at least
``min_files`` files takes part (the same classes at every K); for each K ∈ {1, 2, 4, 8} and
each of 5 fixed-seed episodes, K example (support) files a class are drawn, and every other
file of the class is a query. Supports come from as few independence groups as the class
allows, and queries from the *other* groups when any remain, so that one kit, patch, song
or piano is never on both sides. A query takes the class of the nearest prototype (mean of
the supports; squared Euclidean distance, as the app classifies). Reported per K: macro-F1
and accuracy over the queries (median, mean and standard deviation over the episodes),
per-class F1, and mistake severity: the height of the lowest common ancestor of truth and
prediction in the producer tree, over each episode's mistakes (1 = the same family, such as
Tonal/Keys; 2 = the same group, such as Drums; 3 = only the root), beside what a guess among
the wrong classes would give. The episodes depend only on the manifest and the seed, so
every embedder is scored on the same ones.

Embedders:

* ``mfcc`` — librosa MFCC (20 coefficients, 22.05 kHz) mean and standard deviation over the
  file (40 numbers), standardised over the set.
* ``NAME=path/to/weights.pt`` — a Sampletree model through ``load_model`` and the scanner's
  feature pipeline: 16 kHz mono, 1 s windows every 0.5 s, windows under -60 dBFS dropped
  (the loudest kept if none pass), one embedding per file = the mean of its windows.
* ``NAME=npz:path.npz`` — embeddings cached by ``scripts/teacher_embed.py`` (aisfx, musicnn),
  standardised over the set.
* ``NAME=concat:A,B`` — the standardised concatenation of embedders named before it.
* ``NAME=z:A`` — embedder A standardised (to check what standardising alone changes).

Standardising (z-score per dimension over all files of the set) uses no label.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.realset import DEFAULT_OUT, RealsetError, load_manifest

SHOTS = (1, 2, 4, 8)
EPISODES = 5
SEED = 2026


@dataclass(frozen=True)
class Episode:
    k: int
    index: int
    classes: tuple[str, ...]
    support: tuple[tuple[int, ...], ...]  # per class, file indices
    query: tuple[int, ...]  # file indices (their class is the file's label)


def eligible_classes(labels: Sequence[str], min_files: int) -> list[str]:
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    return sorted(c for c, n in counts.items() if n >= min_files)


def _files_by_group(labels: Sequence[str], groups: Sequence[str], classes: Sequence[str]
                    ) -> dict[str, dict[str, list[int]]]:
    """class → its independence groups → the indices of their files."""
    by_class: dict[str, dict[str, list[int]]] = {c: {} for c in classes}
    for i, (lab, grp) in enumerate(zip(labels, groups, strict=True)):
        if lab in by_class:
            by_class[lab].setdefault(grp, []).append(i)
    return by_class


def _shuffled(names: list[str], rng: np.random.Generator) -> list[str]:
    return [names[j] for j in rng.permutation(len(names))]


def sample_episodes(labels: Sequence[str], groups: Sequence[str], shots: Iterable[int] = SHOTS,
                    n_episodes: int = EPISODES, seed: int = SEED,
                    min_files: int | None = None) -> list[Episode]:
    """Fixed-seed episodes over the classes with at least ``min_files`` files.

    ``min_files`` defaults to max(shots) + 2, so the same classes take part at every K
    and each keeps at least two queries.
    """
    shots = tuple(shots)
    min_files = min_files if min_files is not None else max(shots) + 2
    classes = eligible_classes(labels, min_files)
    by_class = _files_by_group(labels, groups, classes)
    out: list[Episode] = []
    for k in shots:
        for e in range(n_episodes):
            rng = np.random.default_rng([seed, k, e])
            supports: list[tuple[int, ...]] = []
            queries: list[int] = []
            for c in classes:
                gmap = by_class[c]
                names = sorted(gmap)
                order = _shuffled(names, rng)
                pool: list[int] = []
                used: set[str] = set()
                for g in order:  # fewest groups that hold K files
                    if len(pool) >= k:
                        break
                    pool.extend(gmap[g])
                    used.add(g)
                sup = sorted(int(x) for x in rng.choice(pool, size=k, replace=False))
                others = [i for g in names if g not in used for i in gmap[g]]
                if not others:  # every group was needed: queries from the rest
                    taken = set(sup)
                    others = [i for g in names for i in gmap[g] if i not in taken]
                supports.append(tuple(sup))
                queries.extend(sorted(others))
            out.append(Episode(k, e, tuple(classes), tuple(supports), tuple(queries)))
    return out


def paired_episodes(labels: Sequence[str], groups: Sequence[str],
                    shots: Iterable[int] = SHOTS, n_episodes: int = EPISODES,
                    seed: int = SEED, min_files: int | None = None) -> list[Episode]:
    """Episodes whose queries are the same at every K (``--paired``).

    For each episode and class, the groups are shuffled once; the first ones that hold
    max(K) files are the support pool, the rest are the queries (every file of those
    groups). The K supports are the first K files of one shuffle of the pool, so K = 1's
    example is among K = 2's, and so on: only the number of examples changes from one K to
    the next, and a rise (or fall) with K is the examples' doing, not the queries'. A class
    whose groups cannot leave any file to query takes its queries from the pool's files
    that no K uses.
    """
    shots = tuple(sorted(set(shots)))
    top = shots[-1]
    min_files = min_files if min_files is not None else top + 2
    classes = eligible_classes(labels, min_files)
    by_class = _files_by_group(labels, groups, classes)
    per_k: dict[int, list[Episode]] = {k: [] for k in shots}
    for e in range(n_episodes):
        rng = np.random.default_rng([seed, 99, e])
        supports: dict[int, list[tuple[int, ...]]] = {k: [] for k in shots}
        queries: list[int] = []
        for c in classes:
            gmap = by_class[c]
            order = _shuffled(sorted(gmap), rng)
            pool: list[int] = []
            used = 0
            for g in order:
                if len(pool) >= top:
                    break
                pool.extend(gmap[g])
                used += 1
            picked = [int(x) for x in rng.permutation(pool)]
            rest = [i for g in order[used:] for i in gmap[g]]
            if not rest:
                rest = picked[top:]
            for k in shots:
                supports[k].append(tuple(sorted(picked[:k])))
            queries.extend(sorted(rest))
        for k in shots:
            per_k[k].append(Episode(k, e, tuple(classes), tuple(supports[k]), tuple(queries)))
    return [ep for k in shots for ep in per_k[k]]


def f1_scores(truth: Sequence[int], pred: Sequence[int], n_classes: int
              ) -> tuple[float, float, np.ndarray]:
    """(macro-F1, accuracy, per-class F1) for integer labels 0..n_classes-1.

    A class with no true and no predicted query scores F1 0 only if it had true queries;
    classes without true queries are left out of the macro mean.
    """
    t = np.asarray(truth)
    p = np.asarray(pred)
    f1 = np.zeros(n_classes)
    present = np.zeros(n_classes, dtype=bool)
    for c in range(n_classes):
        tp = int(np.sum((t == c) & (p == c)))
        fp = int(np.sum((t != c) & (p == c)))
        fn = int(np.sum((t == c) & (p != c)))
        present[c] = (t == c).any()
        f1[c] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    macro = float(f1[present].mean()) if present.any() else 0.0
    acc = float(np.mean(t == p)) if len(t) else 0.0
    return macro, acc, f1


def predict_episode(emb: np.ndarray, labels: Sequence[str], ep: Episode,
                    query_emb: np.ndarray | None = None) -> tuple[list[int], list[int]]:
    """(truth, prediction) of the episode's queries, as indices into ``ep.classes``: a query
    takes the class of the nearest prototype (the mean of the class's supports).
    ``query_emb``: the queries' rows from another embedding of the same files (the
    supports' stay ``emb``'s)."""
    protos = np.stack([emb[list(s)].mean(axis=0) for s in ep.support]).astype(np.float64)
    q = (emb if query_emb is None else query_emb)[list(ep.query)].astype(np.float64)
    d = (np.sum(q * q, axis=1)[:, None] - 2 * q @ protos.T + np.sum(protos * protos, axis=1)[None])
    idx = {c: i for i, c in enumerate(ep.classes)}
    return [idx[labels[i]] for i in ep.query], np.argmin(d, axis=1).tolist()


def score_episode(emb: np.ndarray, labels: Sequence[str], ep: Episode
                  ) -> tuple[float, float, np.ndarray]:
    truth, pred = predict_episode(emb, labels, ep)
    return f1_scores(truth, pred, len(ep.classes))


def lca_height(a: str, b: str, depth: int) -> int:
    """Height of the lowest common ancestor of two classes of the producer tree (paths such
    as ``Tonal/Keys/Piano``) in a tree ``depth`` levels deep: 1 = siblings under a family
    (Tonal/Keys), ``depth`` = nothing shared but the root. A shallower path counts as if its
    leaf went on down to the leaves' level (Drums/Tom and Drums/Cymbal meet 2 levels up)."""
    pa, pb = a.split("/"), b.split("/")
    shared = 0
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            break
        shared += 1
    return depth - shared if a != b else 0


def mistake_severity(truth: Sequence[int], pred: Sequence[int], classes: Sequence[str]
                     ) -> float | None:
    """Mean LCA height over the episode's mistakes (None if it made none)."""
    depth = max(len(c.split("/")) for c in classes)
    h = [lca_height(classes[t], classes[p], depth) for t, p in zip(truth, pred, strict=True)
         if t != p]
    return float(np.mean(h)) if h else None


def chance_severity(truth: Sequence[int], classes: Sequence[str]) -> float:
    """The severity a guesser would get that, when wrong, names any other class alike."""
    depth = max(len(c.split("/")) for c in classes)
    return float(np.mean([np.mean([lca_height(classes[t], c, depth)
                                   for j, c in enumerate(classes) if j != t])
                          for t in truth]))


def evaluate(emb: np.ndarray, labels: Sequence[str], episodes: Sequence[Episode]
             ) -> dict[str, Any]:
    """Per K: macro-F1 and accuracy per episode, their median/mean/std, per-class F1 (mean)."""
    res: dict[str, Any] = {}
    for k in sorted({ep.k for ep in episodes}):
        eps = [ep for ep in episodes if ep.k == k]
        f1s, accs, per, sev, chance = [], [], [], [], []
        for ep in eps:
            truth, pred = predict_episode(emb, labels, ep)
            m, a, pc = f1_scores(truth, pred, len(ep.classes))
            f1s.append(m)
            accs.append(a)
            per.append(pc)
            h = mistake_severity(truth, pred, ep.classes)
            if h is not None:
                sev.append(h)
            chance.append(chance_severity(truth, ep.classes))
        res[str(k)] = {
            "f1": f1s, "acc": accs,
            "f1_median": float(np.median(f1s)), "f1_mean": float(np.mean(f1s)),
            "f1_std": float(np.std(f1s)),
            "acc_median": float(np.median(accs)), "acc_mean": float(np.mean(accs)),
            "acc_std": float(np.std(accs)),
            # mean LCA height over each episode's mistakes (lower is better), and what a
            # guesser that names any wrong class alike would get on the same queries
            "severity": sev,
            "severity_mean": float(np.mean(sev)) if sev else 0.0,
            "severity_std": float(np.std(sev)) if sev else 0.0,
            "severity_chance": float(np.mean(chance)),
            "per_class_f1": dict(zip(eps[0].classes, np.mean(per, axis=0).round(4).tolist(),
                                     strict=True)),
        }
    return res


# -- embedders --------------------------------------------------------------------------------


def standardize(x: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=0, keepdims=True)
    sd = x.std(axis=0, keepdims=True)
    return ((x - mu) / np.where(sd > 1e-8, sd, 1.0)).astype(np.float32)


def mfcc_embed(paths: Sequence[Path]) -> np.ndarray:
    import librosa  # evaluation only; slow first call (numba)
    import soundfile as sf
    import soxr

    out = []
    for p in paths:
        y, sr = sf.read(str(p), dtype="float32", always_2d=True)
        y = soxr.resample(y.mean(axis=1), sr, 22050) if sr != 22050 else y.mean(axis=1)
        m = librosa.feature.mfcc(y=y, sr=22050, n_mfcc=20)
        out.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    return standardize(np.stack(out).astype(np.float32))


def scanner_windows(path: Path, sample_rate: int = 16_000, window_s: float = 1.0,
                    hop_s: float = 0.5, gate_db: float = -60.0) -> np.ndarray:
    """The scanner's windows of a (short) file: mono, resampled, tiled, gated.

    The same as ``core.audio.load_windows`` with default ``WindowParams`` for a file that
    fits in one segment (a test checks it); repeated here because models/ does not import
    core/.
    """
    import soundfile as sf
    import soxr

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    mono = y.mean(axis=1)
    if sr != sample_rate:
        mono = soxr.resample(mono, sr, sample_rate, quality="HQ").astype(np.float32)
    win, hop = round(sample_rate * window_s), max(1, round(sample_rate * hop_s))
    n = max(1, round(len(y) * sample_rate / sr))
    if n <= win:
        starts = np.zeros(1, dtype=np.int64)
    else:
        starts = np.arange(0, n - win + 1, hop, dtype=np.int64)
        if starts[-1] + win < n:
            starts = np.append(starts, n - win)
    padded = np.concatenate([mono, np.zeros(win, dtype=np.float32)])
    idx = np.clip(starts[:, None] + np.arange(win)[None, :], 0, len(padded) - 1)
    idx[idx >= len(mono)] = len(padded) - 1
    w = padded[idx].astype(np.float32)
    loud = 10.0 * np.log10(np.mean(np.square(w, dtype=np.float64), axis=1) + 1e-12)
    keep = loud > gate_db
    if not keep.any():
        keep[int(np.argmax(loud))] = True
    return np.ascontiguousarray(w[keep])


def sampletree_embed(paths: Sequence[Path], weights: Path, batch: int = 256,
                     cache: dict[tuple[int, float], list[np.ndarray]] | None = None
                     ) -> np.ndarray:
    """Per-file mean of the model's window embeddings; ``cache`` keeps the decoded windows
    between models with the same feature rate and window."""
    import torch

    from models.loading import load_model

    model = load_model(weights, device="cpu")
    fp = model.info.features
    key = (fp.sample_rate, fp.window_s)
    cache = cache if cache is not None else {}
    if key not in cache:
        cache[key] = [scanner_windows(p, fp.sample_rate, fp.window_s) for p in paths]
    # batches across files (a call per file costs ~100× more on a busy CPU), then the mean
    # of each file's rows
    per_file = cache[key]
    allw = np.concatenate(per_file)
    emb = np.concatenate([model.embed_audio(torch.from_numpy(allw[i:i + batch])).numpy()
                          for i in range(0, len(allw), batch)])
    bounds = np.cumsum([0] + [len(w) for w in per_file])
    rows = [emb[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)]
    return np.stack(rows).astype(np.float32)


def load_npz(path: Path, rel_paths: Sequence[str]) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
        keys = [str(x) for x in data["paths"]]
        emb = data["emb"].astype(np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise RealsetError(f"{path}: not an embeddings cache ({exc})") from None
    pos = {k: i for i, k in enumerate(keys)}
    missing = [p for p in rel_paths if p not in pos]
    if missing:
        raise RealsetError(f"{path} lacks {len(missing)} files of the set (first: {missing[0]}); "
                           "re-run scripts/teacher_embed.py on this manifest")
    return standardize(emb[[pos[p] for p in rel_paths]])


def manifest_digest(files: Sequence[dict]) -> str:
    h = hashlib.sha1()
    for f in files:
        h.update(f"{f['path']}\t{f['sha1']}\n".encode())
    return h.hexdigest()[:12]


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def write_report(out: Path, results: dict[str, Any], meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1)
                                      + "\n", encoding="utf-8")
    shots = meta["shots"]
    lines = [f"Real-sample validation set `{meta['manifest']}` ({meta['files']} files, "
             f"{len(meta['classes'])} classes with ≥ {meta['min_files']} files; "
             f"{meta['episodes']} episodes a K, seed {meta['seed']}).", ""]

    def table(title: str, key: str, spread: bool) -> None:
        lines.append(f"| {title} | " + " | ".join(f"K={k}" for k in shots) + " |")
        lines.append("| --- |" + " --- |" * len(shots))
        for name, r in results.items():
            cells = []
            for k in shots:
                s = r["scores"][str(k)]
                cells.append(f"{_fmt(s[key + '_mean'])} ± {_fmt(s[key + '_std'])}" if spread
                             else _fmt(s[key + "_median"]))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")

    table("macro-F1, median of episodes", "f1", False)
    table("macro-F1, mean ± std", "f1", True)
    table("accuracy, median", "acc", False)
    if all("severity_mean" in r["scores"][str(k)] for r in results.values() for k in shots):
        table("mistake severity (LCA height, lower is better), mean ± std", "severity", True)
        first = next(iter(results.values()))["scores"]
        lines[-1:-1] = ["| a guess among the wrong classes | " + " | ".join(
            _fmt(first[str(k)]["severity_chance"]) for k in shots) + " |"]
    k_mid = 4 if 4 in shots else shots[-1]
    lines.append(f"Per-class F1 at K={k_mid} (mean over episodes):")
    lines.append("")
    lines.append("| class | " + " | ".join(results) + " |")
    lines.append("| --- |" + " --- |" * len(results))
    for c in meta["classes"]:
        lines.append(f"| {c} | " + " | ".join(
            _fmt(r["scores"][str(k_mid)]["per_class_f1"][c]) for r in results.values()) + " |")
    lines.append("")
    lines.append("| embedder | seconds to embed the set |")
    lines.append("| --- | --- |")
    for name, r in results.items():
        lines.append(f"| {name} | {r['embed_s']:.1f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(set_dir: Path, specs: Sequence[str], out: Path | None, shots: Sequence[int] = SHOTS,
        n_episodes: int = EPISODES, seed: int = SEED, min_files: int | None = None,
        log: Callable[[str], None] = print, paired: bool = False) -> dict[str, Any]:
    manifest = load_manifest(set_dir)
    files = manifest["files"]
    rel = [f["path"] for f in files]
    paths = [set_dir / p for p in rel]
    labels = [f["label"] for f in files]
    groups = [f["group"] for f in files]
    min_files = min_files if min_files is not None else max(shots) + 2
    make = paired_episodes if paired else sample_episodes
    episodes = make(labels, groups, shots, n_episodes, seed, min_files)
    classes = list(episodes[0].classes) if episodes else []
    log(f"{len(files)} files; {len(classes)} classes with ≥ {min_files} files; "
        f"{len(episodes)} episodes")
    embs: dict[str, np.ndarray] = {}
    windows: dict[tuple[int, float], list[np.ndarray]] = {}
    results: dict[str, Any] = {}
    for spec in specs:
        name, _, what = spec.partition("=")
        if not what:
            what = name
        t0 = time.perf_counter()
        if what == "mfcc":
            e = mfcc_embed(paths)
        elif what.startswith("npz:"):
            e = load_npz(Path(what[4:]), rel)
        elif what.startswith("concat:"):
            parts = what[7:].split(",")
            unknown = [p for p in parts if p not in embs]
            if unknown:
                raise RealsetError(f"concat: {', '.join(unknown)} must be named before {name}")
            e = np.concatenate([standardize(embs[p]) for p in parts], axis=1)
        elif what.startswith("z:"):
            if what[2:] not in embs:
                raise RealsetError(f"z: {what[2:]} must be named before {name}")
            e = standardize(embs[what[2:]])
        elif what.endswith(".pt"):
            e = sampletree_embed(paths, Path(what), cache=windows)
        else:
            raise RealsetError(f"unknown embedder {spec!r}: use mfcc, NAME=weights.pt, "
                               "NAME=npz:FILE, NAME=concat:A,B or NAME=z:A")
        dt = time.perf_counter() - t0
        embs[name] = e
        scores = evaluate(e, labels, episodes)
        results[name] = {"spec": spec, "dim": int(e.shape[1]), "embed_s": round(dt, 1),
                         "scores": scores}
        log(f"{name:16s} " + "  ".join(
            f"K={k}: {scores[str(k)]['f1_median']:.3f}" for k in shots) + f"  ({dt:.0f} s)")
    meta = {"manifest": manifest_digest(files), "files": len(files), "classes": classes,
            "min_files": min_files, "shots": list(shots), "episodes": n_episodes, "seed": seed,
            "paired": paired,
            "queries_per_k": {str(k): len(next(ep.query for ep in episodes if ep.k == k))
                              for k in shots} if episodes else {}}
    if out is not None:
        write_report(out, results, meta)
        log(f"wrote {out / 'results.md'}")
    return {"meta": meta, "results": results}


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.realeval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("embedders", nargs="+",
                    help="mfcc | NAME=weights.pt | NAME=npz:FILE | NAME=concat:A,B | NAME=z:A")
    ap.add_argument("--set", type=Path, default=DEFAULT_OUT, help="the built real set")
    ap.add_argument("--out", type=Path, default=None, help="write results.md/.json here")
    ap.add_argument("--shots", type=int, nargs="+", default=list(SHOTS))
    ap.add_argument("--episodes", type=int, default=EPISODES)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--min-files", type=int, default=None,
                    help="classes need this many files (default: max K + 2)")
    ap.add_argument("--paired", action="store_true",
                    help="the same queries at every K (supports nested: K=1's example is "
                         "among K=2's): a rise with K is the examples' doing")
    args = ap.parse_args(list(argv) if argv is not None else None)
    from models.loading import ModelError

    try:
        run(args.set, args.embedders, args.out, tuple(args.shots), args.episodes, args.seed,
            args.min_files, paired=args.paired)
    except (RealsetError, ModelError) as exc:
        print(f"sampletree: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
