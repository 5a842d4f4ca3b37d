"""Batch relabeling of folders: relabel (plan → preview → apply), undo, batches."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.common import EXIT_CANCELLED, EXIT_OK, open_library, printable
from core.errors import SampletreeError

MODES = ["move", "copy", "hardlink", "symlink", "rename", "sidecar"]


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("relabel", help="sort files into a folder per label (or rename, or a "
                                       "sidecar); prints the batch id for undo")
    r.add_argument("tree", metavar="NAME", nargs="?",
                   help="the tree whose labels to use (not with --resume)")
    r.add_argument("--mode", choices=MODES, help="required, except with --resume")
    r.add_argument("--dest", metavar="DIR", help="destination (not for --mode rename)")
    r.add_argument("--min-confidence", type=float, default=0.0,
                   help="only files labeled at least this confidently")
    r.add_argument("--node", action="append", dest="nodes", metavar="NODE/PATH",
                   help="only files labeled with this node or below (repeatable)")
    r.add_argument("--folder", action="append", dest="folders", metavar="DIR",
                   help="only files under this folder (repeatable)")
    r.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    r.add_argument("--resume", type=int, metavar="BATCH",
                   help="finish a batch that stopped part-way (interrupted, cancelled, disk "
                        "full): its remaining files, as planned")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_relabel, parser=r)

    u = sub.add_parser("undo", help="undo a relabel batch")
    u.add_argument("batch", type=int, metavar="BATCH")
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_undo)

    b = sub.add_parser("batches", help="relabel batches, newest first")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_batches)


def cmd_relabel(args: argparse.Namespace) -> int:
    from core.jobs import CancelToken
    from core.relabel import (
        SKIP_REASONS,
        apply_batch,
        discard_batch,
        plan_relabel,
        preview,
        unfinished_batches,
    )

    if args.resume is not None:
        given = [flag for flag, value in (("NAME", args.tree), ("--mode", args.mode),
                                          ("--dest", args.dest), ("--node", args.nodes),
                                          ("--folder", args.folders),
                                          ("--dry-run", args.dry_run or None))
                 if value is not None]
        if given:
            args.parser.error(f"--resume finishes a batch as it was planned; it takes no "
                              f"{', '.join(given)}")
        return _resume(args)
    if args.tree is None or args.mode is None:
        args.parser.error("give the tree NAME and --mode (or --resume BATCH)")
    with open_library(args, create=False) as lib:
        for b in unfinished_batches(lib):
            print(f"sampletree: note: batch {b['id']} stopped with {b['left']} files left; "
                  f"finish it with `sampletree relabel --resume {b['id']}` or undo it with "
                  f"`sampletree undo {b['id']}`", file=sys.stderr)
        plan = plan_relabel(lib, args.tree, args.mode, args.dest,
                            min_confidence=args.min_confidence, nodes=args.nodes,
                            folders=args.folders)
        rows = preview(lib, plan.batch_id)
        if args.dry_run:
            discard_batch(lib, plan.batch_id)  # a dry run stores nothing
        report = None if args.dry_run else apply_batch(lib, plan.batch_id, cancel=CancelToken())
    skipped = {SKIP_REASONS.get(k, k): n for k, n in plan.skipped.items() if n}
    if args.json:
        out: dict[str, Any] = {
            "batch": None if args.dry_run else plan.batch_id, "dry_run": args.dry_run,
            "files": plan.files,
            "skipped": skipped,
            "operations": [{k: printable(v) if k in {"src", "dst"} else v
                            for k, v in row.items()} for row in rows]}
        if report is not None:
            out["report"] = report.as_dict()
        print(json.dumps(out, indent=1, default=printable))
    else:
        for row in rows:
            print(f"{row.get('label') or '':<24} {printable(row['src'])}\n"
                  f"{'':<24} → {printable(row['dst'])}")
        if skipped:
            print("left alone: " + ", ".join(f"{n} {why}" for why, n in skipped.items()))
        if args.dry_run:
            print(f"dry run: {plan.files} files planned; nothing changed, nothing stored")
        else:
            print(f"batch {plan.batch_id}: {plan.files} files applied; undo with "
                  f"`sampletree undo {plan.batch_id}`")
        if report is not None:
            _print_report(report)
    if report is None:
        return EXIT_OK
    return _outcome(report)


def _resume(args: argparse.Namespace) -> int:
    from core.jobs import CancelToken
    from core.relabel import apply_batch

    with open_library(args, create=False) as lib:
        report = apply_batch(lib, args.resume, cancel=CancelToken())
    if args.json:
        print(json.dumps({"batch": args.resume, "report": report.as_dict()}, indent=1,
                         default=printable))
    else:
        print(f"batch {args.resume}: {report.message}; undo with "
              f"`sampletree undo {args.resume}`")
        _print_report(report)
    return _outcome(report)


def _print_report(report: Any) -> None:
    print(f"  {report.done} of {report.total} done, {len(report.skipped)} skipped, "
          f"{len(report.failed)} failed")
    _print_pairs("skipped", report.skipped)
    _print_pairs("failed", report.failed)
    _print_pairs("renamed (name taken since the plan)", report.renamed)


def _outcome(report: Any) -> int:
    if report.cancelled:
        return EXIT_CANCELLED
    if report.state == "failed":
        b = report.batch_id
        raise SampletreeError(f"batch {b} stopped: {report.message}; what was done can be "
                              f"undone with `sampletree undo {b}`, the rest done with "
                              f"`sampletree relabel --resume {b}`")
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    from core.jobs import CancelToken
    from core.relabel import undo_batch

    with open_library(args, create=False) as lib:
        report = undo_batch(lib, args.batch, cancel=CancelToken())
    if args.json:
        print(json.dumps(report.as_dict(), indent=1, default=printable))
    else:
        print(f"batch {args.batch}: {report.state}; {report.restored} files restored, "
              f"{report.removed} copies/links/sidecars removed")
        _print_pairs("changed since the batch (restored anyway)",
                     [(p, "") for p in report.modified])
        _print_pairs("kept", report.kept)
        _print_pairs("missing (now marked missing in the library)", report.missing)
        _print_pairs("restored under another name (original path taken)", report.restored_as)
        _print_pairs("failed", report.failed)
    if report.cancelled:
        return EXIT_CANCELLED
    if report.state == "failed":
        raise SampletreeError(f"undo of batch {args.batch} stopped: {report.message}; "
                              "run it again to finish")
    return EXIT_OK


def cmd_batches(args: argparse.Namespace) -> int:
    from core.relabel import list_batches

    with open_library(args, create=False) as lib:
        batches = list(reversed(list_batches(lib)))
    if args.json:
        print(json.dumps(batches, indent=1, default=printable))
        return EXIT_OK
    for b in batches:
        print(f"{b['id']:>5}  {b['state']:<11} {b['mode']:<8} {b.get('tree') or '':<16} "
              f"{b.get('files', '')} files  {printable(b.get('dest')) or ''}")
    return EXIT_OK


def _print_pairs(title: str, pairs: list[tuple[str, str]]) -> None:
    if not pairs:
        return
    print(f"  {title}:")
    for path, why in pairs[:50]:
        print(f"    {printable(path)}" + (f": {printable(why)}" if why else ""))
    if len(pairs) > 50:
        print(f"    … and {len(pairs) - 50} more")
