"""Labeling benchmarks on a synthetic 100k-file library.

    python -m bench.classify [--files 100000] [--windows 3] [--dim 128] [--classes 24]
                             [--repeat 5] [--json PATH] [--builtins]

The library holds real rows (samples, windows with float16 embeddings, a tree, supports)
written straight into a fresh SQLite file; embeddings are clustered random vectors (one
cluster per class), so the work per file is the real one. Measures (targets: DESIGN.md):

- load the embeddings into memory (once per library open / after a scan);
- re-predict every file after a support change (prototypes, per-window softmax, per-file
  mean, back-off, unknown bound, and writing all predictions) — target ≤ 1 s;
- find similar, top 20 among all files — target ≤ 50 ms;
- suggest the 20 least certain files.

``--builtins``: the library is embedded "by" the shipped model (its id) and the tree is made
from the bundled producer tree, so its built-in examples (resources/builtins/, 503 of them)
are components beside the user's classes, as in a user's library; the user's 24 classes
are nodes added to it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def build_library(path: Path, n_files: int, n_windows: int, dim: int, n_classes: int,
                  seed: int = 0, builtins: bool = False) -> dict[str, Any]:
    """A library of ``n_files`` embedded files and a tree of ``n_classes`` leaves; with
    ``builtins``, embedded under the shipped model's id in a tree made from the producer
    tree (its built-in examples in use)."""
    from core import builtins as bi
    from core.library import Library
    from core.trees import add_node, create_tree

    rng = np.random.default_rng(seed)
    lib = Library(path)
    model_id = (bi.shipped_model_id() if builtins else None) or "bench-1-0"
    model = lib.ensure_model(model_id, name="bench", version="1", sha256="0", dim=dim,
                             trained=True, features={})
    centers = rng.standard_normal((n_classes, dim)).astype(np.float32) * 2.0
    truth = rng.integers(0, n_classes, n_files)
    t0 = time.perf_counter()
    with lib.transaction() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.executemany(
            "INSERT INTO samples (id, path, size, mtime_ns, status, model_id, n_windows, "
            "duration_s, scanned_at) VALUES (?, ?, 1000, 0, 'ok', ?, ?, 1.5, 0)",
            [(i + 1, f"/bench/{i // 1000:03d}/file{i:06d}.wav", model, n_windows)
             for i in range(n_files)])
        for a in range(0, n_files, 10_000):
            b = min(n_files, a + 10_000)
            emb = (centers[np.repeat(truth[a:b], n_windows)]
                   + rng.standard_normal(((b - a) * n_windows, dim)).astype(np.float32))
            blobs = emb.astype(np.float16)
            raw.executemany(
                "INSERT INTO windows (sample_id, idx, start_s, loudness_db, embedding, "
                "model_id) VALUES (?, ?, ?, -20, ?, ?)",
                [(a + k // n_windows + 1, k % n_windows, 0.5 * (k % n_windows),
                  blobs[k].tobytes(), model) for k in range(len(blobs))])
    build_s = time.perf_counter() - t0
    create_tree(lib, "bench", from_default="producer" if builtins else None)
    for c in range(n_classes):
        add_node(lib, "bench", f"Group {c // 6}/Class {c}")
    lib.close()
    return {"truth": truth, "build_s": build_s}


def add_supports_for(lib: Any, truth: np.ndarray, per_class: int, n_classes: int) -> None:
    from core.supports import add_supports

    for c in range(n_classes):
        ids = (np.flatnonzero(truth == c)[:per_class] + 1).tolist()
        add_supports(lib, "bench", f"Group {c // 6}/Class {c}", ids)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--windows", type=int, default=3, help="windows per file")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--classes", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--builtins", action="store_true",
                    help="the producer tree's built-in examples in use (see above)")
    args = ap.parse_args(argv)

    import torch

    from core.classify import Classifier, load_index
    from core.library import Library
    from core.supports import add_supports

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    work = Path(tempfile.mkdtemp(prefix="sampletree-bench-"))
    db = work / "library.sqlite"
    info = build_library(db, args.files, args.windows, args.dim, args.classes,
                         builtins=args.builtins)
    truth = info["truth"]
    lib = Library(db)
    add_supports_for(lib, truth, 4, args.classes)

    t0 = time.perf_counter()
    index = load_index(lib)
    load_s = time.perf_counter() - t0
    clf = Classifier(lib)
    clf._index = index  # the cache a GUI session holds

    repredict = []
    for r in range(args.repeat):
        # a support change, as a drag onto a node would make, then the re-prediction
        c = r % args.classes
        extra = int(np.flatnonzero(truth == c)[10 + r]) + 1
        add_supports(lib, "bench", f"Group {c // 6}/Class {c}", [extra])
        t0 = time.perf_counter()
        report = clf.refresh("bench")
        repredict.append(time.perf_counter() - t0)

    with lib.reading() as conn:
        from sqlalchemy import select

        from core.schema import predictions
        got = dict(conn.execute(select(predictions.c.sample_id, predictions.c.leaf_id)).all())
    tree_leaf = {}
    from core.trees import load_tree
    tree = load_tree(lib, "bench")
    for c in range(args.classes):
        tree_leaf[c] = tree.require(f"Group {c // 6}/Class {c}").id
    acc = float(np.mean([got[i + 1] == tree_leaf[int(t)] for i, t in enumerate(truth)]))

    rng = np.random.default_rng(1)
    queries = rng.integers(1, args.files + 1, 50)
    clf.similar(int(queries[0]), 20)  # warm
    sim = []
    for q in queries:
        t0 = time.perf_counter()
        clf.similar(int(q), 20)
        sim.append(time.perf_counter() - t0)
    sug = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        clf.suggest("bench", 20)
        sug.append(time.perf_counter() - t0)
    rss = None
    try:
        import psutil

        rss = psutil.Process().memory_info().rss
    except ImportError:
        pass
    lib.close()
    size = sum(p.stat().st_size for p in work.glob("library.sqlite*"))

    med = statistics.median
    res = {
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "torch_threads": torch.get_num_threads()},
        "files": args.files, "windows": args.files * args.windows, "dim": args.dim,
        "classes": args.classes, "build_s": info["build_s"], "load_index_s": load_s,
        "repredict_s": repredict, "repredict_median_s": med(repredict),
        "similar_top20_ms": [s * 1000 for s in sim], "similar_median_ms": med(sim) * 1000,
        "similar_p95_ms": float(np.quantile(sim, 0.95)) * 1000,
        "suggest_median_ms": med(sug) * 1000, "accuracy_on_clusters": acc,
        "unknown": report.unknown, "rss_bytes": rss, "library_bytes": size,
        "builtins": report.builtins,
    }
    rows = [
        ("library", f"{args.files:,} files, {args.files * args.windows:,} windows, "
                    f"{args.dim}-d, {args.classes} classes, built-ins {report.builtins}", ""),
        ("load embeddings into memory", f"{load_s:.2f} s", "once per open / after a scan"),
        ("re-predict all files after a support change",
         f"{med(repredict) * 1000:.0f} ms (median of {args.repeat})", "≤ 1 s"),
        ("find similar, top 20", f"{med(sim) * 1000:.1f} ms median, "
                                 f"{res['similar_p95_ms']:.1f} ms p95 (50 queries)", "≤ 50 ms"),
        ("suggest 20", f"{med(sug) * 1000:.0f} ms (median)", ""),
        ("accuracy on the synthetic clusters", f"{acc:.3f}", "sanity check"),
        ("process RSS with the index loaded", f"{(rss or 0) / 2**20:.0f} MiB", ""),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'what':<{w}}  {'measured':<44} target")
    for name, val, target in rows:
        print(f"{name:<{w}}  {val:<44} {target}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    shutil.rmtree(work)  # the library, its -wal/-shm and its .backups folder (clean-close mark)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
