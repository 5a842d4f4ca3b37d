"""Commands that read labels: classify, explain, similar, suggest."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.common import EXIT_OK, label_counts, open_library, printable, sample_id_for


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("classify", help="label every file with a tree (re-predicts)")
    c.add_argument("tree", metavar="NAME")
    c.add_argument("--json", action="store_true", help="a JSON array, one record per file")
    c.add_argument("--min-confidence", type=float, default=None,
                   help="back off above nodes less certain than this (default 0.5)")
    c.add_argument("--unknown-factor", type=float, default=None,
                   help="unknown beyond this many times the supports' spread (default 2)")
    c.set_defaults(func=cmd_classify)

    e = sub.add_parser("explain", help="why a file got its label")
    e.add_argument("tree", metavar="NAME")
    e.add_argument("file", metavar="FILE")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_explain)

    s = sub.add_parser("similar", help="the files that sound most like FILE")
    s.add_argument("file", metavar="FILE")
    s.add_argument("-k", type=int, default=20, help="how many (20)")
    s.add_argument("--window", type=int, default=None,
                   help="search by one window of FILE (index), among all windows")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_similar)

    g = sub.add_parser("suggest", help="the files whose labels are least certain")
    g.add_argument("tree", metavar="NAME")
    g.add_argument("-n", type=int, default=20, help="how many (20)")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=cmd_suggest)


def _thresholds(args: argparse.Namespace):  # -> Thresholds
    from core.classify import Thresholds

    t = Thresholds()
    kw: dict[str, Any] = {}
    if getattr(args, "min_confidence", None) is not None:
        kw["min_confidence"] = args.min_confidence
    if getattr(args, "unknown_factor", None) is not None:
        kw["unknown_factor"] = args.unknown_factor
    return Thresholds(**{**t.__dict__, **kw})


def cmd_classify(args: argparse.Namespace) -> int:
    from core.classify import Classifier, file_labels
    from core.labeltext import record_state, record_text, summary

    with open_library(args, create=False) as lib:
        report = Classifier(lib, _thresholds(args)).refresh(args.tree)
        rows = file_labels(lib, args.tree)
        counts = label_counts(lib, args.tree)
    if args.json:
        print(json.dumps([{**{k: (printable(v) if k == "path" else v) for k, v in r.items()},
                           "state": record_state(r)} for r in rows], indent=1))
        return EXIT_OK
    for r in rows:
        print(f"{r['confidence']:5.2f}  {record_text(r):<28} {printable(r['path'])}")
    print(f"{summary(counts)} "
          f"(tree {args.tree}; {report.classes} classes from {report.supports} examples; "
          f"{report.seconds * 1000:.0f} ms)", file=sys.stderr)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from core.classify import Classifier
    from core.labeltext import label_text

    with open_library(args, create=False) as lib:
        exp = Classifier(lib).explain(args.tree, sample_id_for(lib, args.file))
    if args.json:
        print(json.dumps(exp, indent=1, default=printable))
        return EXIT_OK
    p = exp["prediction"]
    if p:
        state = label_text(p["node"], backed_off=p["backed_off"], unknown=p["unknown"])
        print(f"Label: {state} (confidence {p['confidence']:.2f}; best leaf {p['leaf']} at "
              f"{p['leaf_confidence']:.2f}{', backed off' if p['backed_off'] else ''})")
    else:
        print("Label: unlabeled (no prediction for this file)")
    print(f"Distance to each prototype on the path (unknown beyond "
          f"{exp['unknown_radius'] ** 0.5:.3f}):")
    for step in exp["path"]:
        print(f"  {step['distance'] ** 0.5:8.3f}  {step['node']}")
    print("Nearest examples:")
    for s in exp["nearest_supports"]:
        print(f"  {s['distance'] ** 0.5:8.3f}  {s['node']:<24} {printable(s['path'])}")
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    from core.classify import Classifier

    with open_library(args, create=False) as lib:
        hits = Classifier(lib).similar(sample_id_for(lib, args.file), args.k,
                                       window_idx=args.window)
        paths = lib.paths_of([h[0] for h in hits])
    rows = [{"path": printable(paths.get(s)), "window": w, "distance": round(d ** 0.5, 4)}
            for s, w, d in hits]
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    for r in rows:
        where = f" @window {r['window']}" if r["window"] is not None else ""
        print(f"{r['distance']:8.3f}  {r['path']}{where}")
    return EXIT_OK


def cmd_suggest(args: argparse.Namespace) -> int:
    from core.classify import Classifier

    with open_library(args, create=False) as lib:
        hits = Classifier(lib).suggest(args.tree, args.n)
        paths = lib.paths_of([s for s, _c in hits])
    rows = [{"path": printable(paths.get(s)), "confidence": round(c, 4)} for s, c in hits]
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    for r in rows:
        print(f"{r['confidence']:5.2f}  {r['path']}")
    return EXIT_OK
