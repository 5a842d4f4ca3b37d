"""Commands that read labels: classify, explain, similar, suggest."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.common import (
    EXIT_OK,
    JSON_HELP,
    check_window,
    command,
    fraction,
    label_counts,
    open_library,
    positive_float,
    positive_int,
    printable,
    sample_id_for,
    shown,
    window_index,
)
from core.words import plural


def register(sub: argparse._SubParsersAction) -> None:
    c = command(sub, "classify", "label every file with a tree (re-predicts)",
                description="Label every file with a tree, from its examples, and print each "
                            "file's confidence and label: Drums/Kick (a class), ~ Drums (the "
                            "class was uncertain: the deepest certain group), uncertain (not "
                            "even a top-level group is), unknown (far from every class). The "
                            "counts, unlabeled files (no prediction) included, go to stderr.",
                examples=("sampletree classify mine",
                          "sampletree classify mine --min-confidence 0.7 --json"))
    c.add_argument("tree", metavar="NAME", help="the tree (`sampletree tree list`)")
    c.add_argument("--json", action="store_true", help="a JSON array, one record per file")
    c.add_argument("--min-confidence", type=fraction, default=None, metavar="X",
                   help="back off to the group above a class less certain than this, 0 to 1; "
                        "kept with the library, so the app and every later command label "
                        "with it too (default 0.5)")
    c.add_argument("--unknown-factor", type=positive_float, default=None, metavar="F",
                   help="how far a file may lie from every class before it is unknown, "
                        "above 0: 2 is the network's calibrated bound, 3 reaches 1.5x as far; "
                        "kept with the library like --min-confidence (default 2)")
    c.set_defaults(func=cmd_classify)

    e = command(sub, "explain", "why a file got its label",
                description="Why a file got its label, as `ls` and `classify` show it: "
                            "the path from the top of the tree down to its class, each "
                            "node with its probability (the label is the deepest node "
                            "certain enough) and its distance to the file (to the node's "
                            "nearest prototype; smaller is closer), then the nearest "
                            "examples. Distances are plain, as `similar` gives them, in "
                            "text and in --json.",
                examples=("sampletree explain mine ~/Samples/kicks/k9.wav",))
    e.add_argument("tree", metavar="NAME", help="the tree (`sampletree tree list`)")
    e.add_argument("file", metavar="FILE", help="a file of the library")
    e.add_argument("--json", action="store_true", help=JSON_HELP)
    e.set_defaults(func=cmd_explain)

    s = command(sub, "similar", "the files that sound most like FILE",
                description="The files that sound most like FILE, closest first, with their "
                            "distance (smaller is closer; 0 is the same sound). Each file is "
                            "listed once (with --window, by its nearest window); exact "
                            "duplicates (files of the very same audio, as `duplicates` "
                            "finds them) are listed once, with their copies named below "
                            "(`copies` in --json), and copies of FILE itself are left out "
                            "and named on stderr. Files missing from disk are not listed.",
                examples=("sampletree similar ~/Samples/kicks/k1.wav -k 10",
                          "sampletree similar ~/Samples/loop.wav --window 3"))
    s.add_argument("file", metavar="FILE", help="a file of the library")
    s.add_argument("-k", type=positive_int, default=20, metavar="N",
                   help="how many files, 1 or more (20)")
    s.add_argument("--window", type=window_index, default=None, metavar="I",
                   help="search by one window of FILE (its index: 0 is the first, up to "
                        "its number of windows - 1; `ls` shows how many), among all windows")
    s.add_argument("--json", action="store_true", help=JSON_HELP)
    s.set_defaults(func=cmd_similar, parser=s)

    g = command(sub, "suggest", "the files whose labels are least certain",
                description="The files whose labels are least certain, least first: giving "
                            "them as examples teaches the tree most.",
                examples=("sampletree suggest mine -n 5",))
    g.add_argument("tree", metavar="NAME", help="the tree (`sampletree tree list`)")
    g.add_argument("-n", type=positive_int, default=20, metavar="N",
                   help="how many files, 1 or more (20)")
    g.add_argument("--json", action="store_true", help=JSON_HELP)
    g.set_defaults(func=cmd_suggest)


def _thresholds(args: argparse.Namespace, lib: Any):  # -> Thresholds | None
    """The library's thresholds with the command's options on top; None: no option given."""
    from core.classify import Thresholds, stored_thresholds

    t = stored_thresholds(lib)
    kw: dict[str, Any] = {}
    if getattr(args, "min_confidence", None) is not None:
        kw["min_confidence"] = args.min_confidence
    if getattr(args, "unknown_factor", None) is not None:
        kw["unknown_factor"] = args.unknown_factor
    return Thresholds(**{**t.__dict__, **kw}) if kw else None


def _builtin_words(report: Any) -> str:
    """How the tree's built-in examples took part, for the summary line."""
    return {"on": f" and built-in examples, {plural(report.builtin_only_files, 'label')} on "
                  "built-ins only (◦)",
            "stale": "; built-in examples not used: they belong to another network"}.get(
        report.builtins, "")


def cmd_classify(args: argparse.Namespace) -> int:
    from core.classify import Classifier, Thresholds, file_labels, store_thresholds
    from core.labeltext import record_state, record_text, summary

    with open_library(args, create=False) as lib:
        chosen = _thresholds(args, lib)
        if chosen is not None:
            # kept with the library: the app and the next `label` must not undo it
            store_thresholds(lib, chosen)
            default = Thresholds()
            print(f"this library now labels with min confidence {chosen.min_confidence:g} and "
                  f"unknown factor {chosen.unknown_factor:g}: every tree, every command and "
                  f"the app (the defaults: {default.min_confidence:g} and "
                  f"{default.unknown_factor:g})", file=sys.stderr)
        report = Classifier(lib).refresh(args.tree)
        rows = file_labels(lib, args.tree)
        counts = label_counts(lib, args.tree)
    if args.json:
        print(json.dumps([{**{k: (printable(v) if k == "path" else v) for k, v in r.items()},
                           "state": record_state(r)} for r in rows], indent=1))
        return EXIT_OK
    for r in rows:
        conf = "    —" if r["unknown"] else f"{r['confidence']:5.2f}"  # no class fits
        print(f"{conf}  {record_text(r):<28} {shown(r['path'])}")
    print(f"{summary(counts)} "
          f"(tree {args.tree}; {plural(report.classes, 'class')} from "
          f"{plural(report.supports, 'example')}"
          f"{_builtin_words(report)}; {report.seconds * 1000:.0f} ms)", file=sys.stderr)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from core.classify import Classifier
    from core.labeltext import record_text

    with open_library(args, create=False) as lib:
        exp = Classifier(lib).explain(args.tree, sample_id_for(lib, args.file,
                                                                embedded="explain"))
    if args.json:
        print(json.dumps(exp, indent=1, default=printable))
        return EXIT_OK
    p = exp["prediction"]
    if p is None:
        print("Label: unlabeled (no prediction for this file)")
    elif p["support"]:
        print(f"Label: {record_text(p)} (an example you gave: labeled as you said)")
    else:
        print(f"Label: {record_text(p)} (confidence {p['confidence']:.2f}; best class "
              f"{p['leaf']} at {p['leaf_confidence']:.2f}"
              f"{', backed off' if p['backed_off'] and p['node'] else ''})")
    print(f"Path to the best class (the label is the deepest node of probability "
          f"{exp['min_confidence']:.2f} or more; distance to the node's nearest prototype, "
          "smaller is closer):")
    print("   prob  distance  node")
    for step in exp["path"]:
        d = "       —" if step["distance"] is None else f"{step['distance']:8.3f}"
        print(f"  {step['probability']:5.2f}  {d}  {step['node']}"
              + ("  ← label" if step["label"] else ""))
    if p and not p["support"] and not p["unknown"] and not p["node"]:
        print(f"  no node reaches {exp['min_confidence']:.2f}: uncertain")
    far = exp["distance"] > exp["unknown_distance"]
    print(f"Nearest prototype: {exp['distance']:.3f} (unknown beyond "
          f"{exp['unknown_distance']:.3f}{': so unknown' if far else ''})")
    if exp.get("tone_distance") is not None and exp["tone_distance"] < exp["tone_reach"]:
        print(f"Not musical material: {exp['tone_distance']:.3f} from a reference pure tone, "
              f"hum or near-silence (within {exp['tone_reach']:.3f}), so unknown")
    if exp["nearest_supports"]:
        print("Nearest examples:")
    for s in exp["nearest_supports"]:
        print(f"  {s['distance']:8.3f}  {s['node']:<24} {shown(s['path'])}")
    if exp.get("nearest_builtins"):
        print("Nearest built-in examples (◦):")
        for s in exp["nearest_builtins"]:
            print(f"  {s['distance']:8.3f}  {s['node']}")
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    from core.classify import Classifier
    from core.duplicates import similar_distinct

    with open_library(args, create=False) as lib:
        query = sample_id_for(lib, args.file, embedded="compare")
        if args.window is not None:
            check_window(args, lib, args.file)
        # files of the same audio listed once, files missing from disk not offered
        hits, copies = similar_distinct(lib, Classifier(lib), query, args.k,
                                        window_idx=args.window)
        paths = lib.paths_of(sorted({c for cs in copies.values() for c in cs}
                                    | {h[0] for h in hits}))
    rows = [{"path": printable(paths.get(s)), "window": w, "distance": round(d ** 0.5, 4),
             "copies": [printable(paths.get(c)) for c in copies[s]]}
            for s, w, d in hits]
    if copies[query]:  # the query's own copies are the query again: named, not listed
        print(f"{plural(len(copies[query]), 'exact copy', 'exact copies')} of "
              f"{shown(args.file)} (the same audio) left out: "
              + ", ".join(shown(paths.get(c)) for c in copies[query]), file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    print(f"{'distance':>8}  file (closest first: smaller is closer)")
    for r in rows:
        where = f" @window {r['window']}" if r["window"] is not None else ""
        print(f"{r['distance']:8.3f}  {shown(r['path'])}{where}")
        if r["copies"]:
            print(f"{'':8}  and {plural(len(r['copies']), 'exact copy', 'exact copies')}: "
                  + ", ".join(shown(c) for c in r["copies"]))
    return EXIT_OK


def cmd_suggest(args: argparse.Namespace) -> int:
    from core.classify import Classifier, file_labels

    with open_library(args, create=False) as lib:
        hits = Classifier(lib).suggest(args.tree, args.n)
        paths = lib.paths_of([s for s, _c in hits])
        guess = {r["path"]: r["leaf"] for r in file_labels(lib, args.tree)}
    # the confidence is the best class's (what makes a file worth teaching), which a
    # label that backed off to a group does not show
    rows = [{"path": printable(paths.get(s)), "best_class": guess.get(paths.get(s)) or None,
             "confidence": round(c, 4)} for s, c in hits]
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    print("best class?            its confidence  file (least certain first: label these next)")
    for r in rows:
        print(f"{(r['best_class'] or '—') + '?':<22} {r['confidence'] * 100:13.0f} %  "
              f"{shown(r['path'])}")
    return EXIT_OK
