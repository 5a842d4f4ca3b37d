"""Choose the classifier's default thresholds on the real-sample validation set, through the
app's own code path (issue #11, item 6).

    python scripts/calibrate.py --model models/weights/sampletree.pt --out docs/eval/calibration

1. Scans the real set (``models/realset.py``; our own, never the held-out data) and a few
   probe files (pure sines, silence with mains hum) into a library in ``--work``, with the
   given weights, exactly as ``sampletree scan`` does.
2. Builds a tree from the set's labels ("Drums/Kick" → Drums › Kick) and, for the episodes of
   :mod:`models.realeval` (K example files a class, queries from other groups), classifies
   every file with :func:`core.classify.assemble` (no built-ins) + :func:`core.classify.predict`
   (what ``sampletree classify`` runs) for every point of a grid of thresholds.
3. Reports, per K and threshold set, what a user sees:

   * **leaf precision**: of the files shown with a class (a leaf, not backed off, not
     unknown), the share whose class is right;
   * **leaf coverage**: the share of files shown with a class;
   * **in-tree unknown**: the share of files of a taught class called "unknown";
   * **open-set unknown**: one class at a time is left untaught (its examples removed); the
     share of its files called "unknown" (mean over classes and episodes);
   * **probes**: the highest confidence any probe (sine, hum) gets, and how many are unknown.

4. Picks the defaults: among the grid points with in-tree unknown ≤ 5 % and leaf precision
   ≥ 85 % (both as the mean over K ∈ {2, 4, 8}), the one with the highest coverage, then the
   highest open-set unknown; if none reaches 85 %, the one with the highest precision ×
   coverage, said so in the report.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.classify import Thresholds, assemble, load_index, predict  # noqa: E402
from core.library import Library  # noqa: E402
from core.scanner import ScanOptions, scan  # noqa: E402
from core.trees import add_node, create_tree, list_trees, load_tree  # noqa: E402
from models.loading import load_model  # noqa: E402
from models.realeval import SEED, sample_episodes  # noqa: E402
from models.realset import DEFAULT_OUT, load_manifest  # noqa: E402

TEMPERATURES: tuple[float | None, ...] = (None, 0.5, 1.0, 2.0, 4.0, 8.0)
MIN_CONFIDENCE = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
UNKNOWN_FACTOR = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
SR = 44_100


def write_probes(folder: Path) -> list[Path]:
    """Sounds that are not instruments: pure sines and near-silence with mains hum."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(3 * SR) / SR
    rng = np.random.default_rng(0)
    out = []
    for f in (110.0, 440.0, 1000.0):
        out.append((f"sine-{int(f)}hz.wav", 0.5 * np.sin(2 * np.pi * f * t)))
    for f in (50.0, 60.0):
        hum = sum(a * np.sin(2 * np.pi * f * h * t) for h, a in ((1, 1.0), (2, 0.5), (3, 0.3)))
        out.append((f"hum-{int(f)}hz.wav", 0.006 * hum + 0.0005 * rng.standard_normal(len(t))))
    paths = []
    for name, y in out:
        p = folder / name
        if not p.exists():
            sf.write(str(p), y.astype(np.float32), SR, subtype="PCM_16")
        paths.append(p)
    return paths


def _scan(work: Path, set_dir: Path, probes: Path, weights: Path | None):
    model = load_model(weights, device="cpu")
    lib_path = work / "lib.sqlite"
    lib = Library(lib_path)
    t0 = time.perf_counter()
    scan(lib, [str(set_dir), str(probes)], model, options=ScanOptions())
    return lib, model, time.perf_counter() - t0


def _tree(lib: Library, labels: list[str]):
    name = "realset"
    if name not in list_trees(lib):
        create_tree(lib, name)
    for label in sorted(set(labels)):
        add_node(lib, name, label.split("/"), parents=True, exist_ok=True)
    return load_tree(lib, name)


def _sample_ids(lib: Library, paths: list[Path]) -> list[int]:
    from sqlalchemy import select

    from core.schema import samples
    with lib.reading() as conn:
        by_path = {r[0]: int(r[1]) for r in conn.execute(select(samples.c.path, samples.c.id))}
    missing = [p for p in paths if str(p) not in by_path]
    if missing:
        raise SystemExit(f"{len(missing)} files were not scanned (first: {missing[0]})")
    return [by_path[str(p)] for p in paths]


def _metrics(pred, rows: np.ndarray, truth_nodes: np.ndarray) -> dict[str, float]:
    shown_leaf = (~pred.unknown[rows]) & (~pred.backed_off[rows]) \
        & (pred.node_ids[rows] == pred.leaf_ids[rows])
    right = pred.leaf_ids[rows] == truth_nodes
    n = len(rows)
    return {"precision": float(right[shown_leaf].mean()) if shown_leaf.any() else float("nan"),
            "coverage": float(shown_leaf.mean()) if n else float("nan"),
            "unknown": float(pred.unknown[rows].mean()) if n else float("nan"),
            "accuracy": float(right.mean()) if n else float("nan")}


def calibrate(weights: Path | None, set_dir: Path, work: Path, shots=(1, 2, 4, 8),
              n_episodes: int = 5, seed: int = SEED, min_files: int | None = None,
              log=print) -> dict[str, Any]:
    manifest = load_manifest(set_dir)
    files = manifest["files"]
    labels = [f["label"] for f in files]
    groups = [f["group"] for f in files]
    work.mkdir(parents=True, exist_ok=True)
    probe_paths = write_probes(work / "probes")
    lib, model, scan_s = _scan(work, set_dir, work / "probes", weights)
    log(f"scanned {len(files)} files + {len(probe_paths)} probes in {scan_s:.0f} s "
        f"({model.info.model_id})")
    tree = _tree(lib, labels)
    node_of = {lab: tree.require(lab.split("/")).id for lab in set(labels)}
    index = load_index(lib)
    sids = _sample_ids(lib, [(set_dir / f["path"]).resolve() for f in files])
    row_of = np.array([index.row(s) for s in sids])
    probe_rows = np.array([index.row(s) for s in _sample_ids(lib, [p.resolve()
                                                                   for p in probe_paths])])
    min_files = min_files if min_files is not None else max(shots) + 2
    episodes = sample_episodes(labels, groups, shots, n_episodes, seed, min_files)
    grid = list(itertools.product(TEMPERATURES, MIN_CONFIDENCE, UNKNOWN_FACTOR))
    acc: dict[tuple, dict[int, list[dict[str, float]]]] = {g: {} for g in grid}
    for ep in episodes:
        support = {i for s in ep.support for i in s}
        rows_sup = [(sids[i], node_of[c], index.file_emb[row_of[i]])
                    for c, s in zip(ep.classes, ep.support, strict=True) for i in s]
        q = np.array(list(ep.query))
        q_rows = row_of[q]
        q_truth = np.array([node_of[labels[i]] for i in q])
        # per class: its files that are not this episode's examples (the open-set queries)
        untaught = {c: np.array([row_of[i] for i in range(len(files))
                                 if labels[i] == c and i not in support])
                    for c in ep.classes}
        for temp, conf, factor in grid:
            th = Thresholds(min_confidence=conf, unknown_factor=factor, temperature=temp)
            protos = assemble(tree, rows_sup, None, th)
            pred = predict(index, protos, th)
            m = _metrics(pred, q_rows, q_truth)
            m["probe_max_conf"] = float(pred.leaf_confidence[probe_rows].max())
            m["probe_unknown"] = float(pred.unknown[probe_rows].mean())
            # open set: each class in turn untaught
            opens = []
            for c in ep.classes:
                keep = [r for r in rows_sup if r[1] != node_of[c]]
                p2 = predict(index, assemble(tree, keep, None, th), th)
                opens.append(float(p2.unknown[untaught[c]].mean()))
            m["open_unknown"] = float(np.mean(opens))
            acc[(temp, conf, factor)].setdefault(ep.k, []).append(m)
    table = []
    warnings.simplefilter("ignore", RuntimeWarning)  # no leaf shown: precision is NaN
    for g, per_k in acc.items():
        entry: dict[str, Any] = {"temperature": g[0], "min_confidence": g[1],
                                 "unknown_factor": g[2], "by_k": {}}
        for k, ms in per_k.items():
            entry["by_k"][str(k)] = {key: float(np.nanmedian([m[key] for m in ms]))
                                     for key in ms[0]}
        head = [entry["by_k"][str(k)] for k in shots if k in (2, 4, 8)] or \
            list(entry["by_k"].values())
        for key in ("precision", "coverage", "unknown", "open_unknown", "probe_max_conf",
                    "probe_unknown", "accuracy"):
            entry[key] = float(np.nanmean([h[key] for h in head]))
        table.append(entry)
    ok = [e for e in table if e["unknown"] <= 0.05 and e["precision"] >= 0.85]
    if ok:
        best = max(ok, key=lambda e: (round(e["coverage"], 3), e["open_unknown"]))
        why = "highest coverage with leaf precision ≥ 85 % and in-tree unknown ≤ 5 %"
    else:
        cand = [e for e in table if e["unknown"] <= 0.05] or table
        best = max(cand, key=lambda e: (e["precision"] * e["coverage"], e["open_unknown"]))
        why = ("no grid point reaches 85 % leaf precision with ≤ 5 % in-tree unknown: the "
               "highest precision × coverage with in-tree unknown ≤ 5 %")
    return {"model": model.info.model_id, "set": manifest.get("digest", ""),
            "files": len(files), "shots": list(shots), "episodes": n_episodes,
            "grid": table, "best": best, "why": why, "scan_s": round(scan_s, 1),
            "classes": list(episodes[0].classes) if episodes else []}


def _pct(x: float) -> str:
    return "—" if x != x else f"{100 * x:.0f} %"


def write_report(res: dict[str, Any], out: Path, current: Thresholds) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    b = res["best"]

    def find(t, c, f):
        return next(e for e in res["grid"] if e["temperature"] == t
                    and e["min_confidence"] == c and e["unknown_factor"] == f)

    lines = [f"Model `{res['model']}` on the real-sample validation set ({res['files']} files, "
             f"{len(res['classes'])} classes, {res['episodes']} episodes a K), through "
             "`core.classify` as `sampletree classify` runs it.", "",
             f"**Chosen** ({res['why']}): temperature "
             f"{b['temperature'] if b['temperature'] is not None else 'from the examples'}, "
             f"min confidence {b['min_confidence']}, unknown factor {b['unknown_factor']}.", ""]
    rows = [("chosen", b)]
    with contextlib.suppress(StopIteration):
        rows.append(("previous defaults", find(current.temperature, current.min_confidence,
                                               current.unknown_factor)))
    lines += ["| thresholds | K | leaf precision | leaf coverage | in-tree unknown | "
              "open-set unknown | accuracy (nearest class) | probes: max confidence | "
              "probes unknown |", "| --- |" + " --- |" * 8]
    for name, e in rows:
        for k in res["shots"]:
            m = e["by_k"][str(k)]
            lines.append(f"| {name} | {k} | {_pct(m['precision'])} | {_pct(m['coverage'])} | "
                         f"{_pct(m['unknown'])} | {_pct(m['open_unknown'])} | "
                         f"{_pct(m['accuracy'])} | {m['probe_max_conf']:.2f} | "
                         f"{_pct(m['probe_unknown'])} |")
    lines.append("")
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="weights (default: the shipped)")
    ap.add_argument("--set", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache/Sampletree/calibrate")
    ap.add_argument("--out", type=Path, default=None, help="write results.md/.json here")
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--min-files", type=int, default=None)
    args = ap.parse_args(argv)
    res = calibrate(args.model, args.set, args.work, tuple(args.shots), args.episodes,
                    min_files=args.min_files)
    b = res["best"]
    print(f"chosen: temperature {b['temperature']}, min confidence {b['min_confidence']}, "
          f"unknown factor {b['unknown_factor']} ({res['why']})")
    print(f"  leaf precision {_pct(b['precision'])}, coverage {_pct(b['coverage'])}, in-tree "
          f"unknown {_pct(b['unknown'])}, open-set unknown {_pct(b['open_unknown'])}, probes "
          f"max confidence {b['probe_max_conf']:.2f}")
    if args.out:
        write_report(res, args.out, Thresholds())
        print(f"wrote {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
